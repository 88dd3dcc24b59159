"""Augmentation ablation results (scripts/gpu_ablate.sh): gather them into ablation.json, or write reports/ablation.md.

    python scripts/ablation_report.py collect --rundir RUNDIR --start START --steps N --json OUT/ablation.json ...
    python scripts/ablation_report.py markdown ablation.json [-o reports/ablation.md]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# must match gpu_ablate.sh's flags; bone_aug adds an augmentation rather than removing one (not run by default)
VARIANT_FLAGS = {"all": "", "no_flip": "--flip-p 0", "no_noise": "--noise-p 0", "no_virtual": "--virtual-p 0",
                 "bone_aug": "--bone-aug 0.5"}
COLUMNS = (("val_p1_mm", "GT-2D P1"), ("val_p1_depth_only_mm", "depth only"), ("val_p1_noisy_mm", "noisy-2D P1"),
           ("val_p1_virtual_mm", "virtual-camera P1"), ("val_p1_virtual_subject_mm", "virtual-subject P1"),
           ("val_p1_virtual_subject_depth_only_mm", "virtual-subject depth only"))
# (title, condition, its baseline): what each condition costs over clean ground-truth 2D of the real people
GAPS = (("noisy - GT", "val_p1_noisy_mm", "val_p1_mm"), ("virtual - GT", "val_p1_virtual_mm", "val_p1_mm"),
        ("subject - GT depth only", "val_p1_virtual_subject_depth_only_mm", "val_p1_depth_only_mm"))

PROTOCOL = """\
Protocol: short fine-tunes from one checkpoint ({start}, epoch {epoch}), one per variant, each {steps} steps
(`{train_args}`, fresh optimiser), the same seed and so the same clips in the same order; only the augmentation
switched off differs (`all` keeps horizontal flips, detector-like 2D noise and virtual cameras at 0.5 each). Every
run and the start itself are scored on the held-out S8 takes (4 camera slots each, mm, root-relative): with
ground-truth 2D from the real cameras (full 3D and depth only), with that 2D corrupted by the training noise model
on every clip, with clean 2D from random virtual cameras, and with the clips re-proportioned as 8 fixed virtual
people (engine/bone_aug.py; the stand-in for new subjects) (fixed seeds: every checkpoint sees the same inputs).
This measures what each augmentation trades between these conditions over a short fine-tune of an already trained
model, not what it buys from scratch: a from-scratch ablation would need a full training run per variant. Card:
{card}."""


def _fmt(value) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


def markdown_table(data: dict) -> str:
    """Variant rows: the P1 columns (mm), the robustness gaps, steps and wall seconds of the fine-tune."""
    head = ("| variant | " + " | ".join(title for _, title in COLUMNS) + " | "
            + " | ".join(title for title, _, _ in GAPS) + " | steps | seconds |")
    rows = [head, "|" + "---|" * (len(COLUMNS) + len(GAPS) + 3)]
    for name, r in data["variants"].items():
        cells = [_fmt(r.get(key)) for key, _ in COLUMNS]
        for _, key, base in GAPS:
            both = isinstance(r.get(key), (int, float)) and isinstance(r.get(base), (int, float))
            cells.append(_fmt(r[key] - r[base]) if both else "-")
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {r.get('steps', '-')} | {_fmt(r.get('seconds'))} |")
    return "\n".join(rows)


def markdown_report(data: dict) -> str:
    start = data["variants"].get("start", {})
    notes = "".join(f"- {note}\n" for note in data.get("notes", []))
    return ("# Augmentation ablation\n\n" + markdown_table(data) + "\n\nP1 in mm on validation (lower is better); "
            "`start` is the checkpoint every run began from; the gap columns are each condition's P1 minus the "
            "GT-2D P1 (the virtual subjects' depth-only P1 minus the real people's).\n\n"
            + PROTOCOL.format(start=Path(data["start_checkpoint"]).name, epoch=start.get("epoch", "?"),
                              steps=data["steps"], card=data["card"], train_args=data.get("train_args", "?")) + "\n"
            + (f"\n## Reading\n\n{notes}" if notes else ""))


def collect(args: argparse.Namespace) -> dict:
    import torch

    from engine.weights import load_model_state

    scores = {}
    for path in sorted(args.rundir.glob("val_*.json")):
        scores.update(json.loads(path.read_text()))
    _, start_info = load_model_state(args.start)
    variants = {"start": {**scores.get("start", {"error": "validation failed"}), "steps": 0}}
    for name in args.variants.split():
        run = args.rundir / name
        entry = {"flags": VARIANT_FLAGS.get(name, "?")}
        if (run / "last.pt").is_file():
            state = torch.load(run / "last.pt", map_location="cpu", weights_only=False)
            entry["steps"] = state["step"] - state.get("start_step", 0)
            entry["train_seconds"] = round(state["gpu_seconds"] - start_info["gpu_seconds"], 1)
        else:
            entry["error"] = "training failed: see ablate_log.txt"
        if (run / "seconds").is_file():
            entry["seconds"] = float((run / "seconds").read_text())
        entry.update(scores.get(name, {} if "error" in entry else {"error": "validation failed"}))
        variants[name] = entry
    card = "cpu"
    if args.device != "cpu" and torch.cuda.is_available():
        card = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return {"start_checkpoint": str(args.start), "steps": args.steps, "card": card, "deform_impl": args.deform_impl,
            "train_args": args.train_args,
            "variants": variants}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="RUNDIR's runs and val_*.json -> ablation.json, and print the table")
    c.add_argument("--rundir", type=Path, required=True)
    c.add_argument("--start", type=Path, required=True)
    c.add_argument("--steps", type=int, required=True)
    c.add_argument("--variants", default=" ".join(VARIANT_FLAGS))
    c.add_argument("--deform-impl", default="auto")
    c.add_argument("--device", default="cuda")
    c.add_argument("--train-args", default="?", help="the arguments every variant was trained with, to quote")
    c.add_argument("--json", type=Path, required=True)
    m = sub.add_parser("markdown", help="ablation.json -> reports/ablation.md")
    m.add_argument("json", type=Path)
    m.add_argument("-o", "--out", type=Path, default=ROOT / "reports" / "ablation.md")
    args = ap.parse_args(argv)
    if args.command == "collect":
        data = collect(args)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=1) + "\n")
        print(markdown_table(data))
    else:
        data = json.loads(args.json.read_text())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown_report(data))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
