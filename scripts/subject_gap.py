"""Per-subject P1 of a weights file: do new people (S9/S11) score worse than the training people, and does the
virtual-subject validation (engine/bone_aug.py, engine/validation.py) see the same gap without touching them?

    SASMAMBA_TORCH_THREADS=2 python scripts/subject_gap.py [--weights engine/weights/sasmamba-s_h36m.npz]
        [--cameras 0,2] [--frames 486] [--json reports/subject_gap.json]

Rows: every subject (its training and held-out takes alike), S8's held-out takes alone (what validation scores),
and those held-out takes re-proportioned as each of the 8 virtual people. Clean ground-truth 2D, no flip, the
first `--frames` frames of each sequence through `--cameras` (engine.evaluate.evaluate). The proxy measures the
right thing when its rows sit above `S8 held-out` by about as much as S9/S11 sit above the training subjects.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import bone_aug, h36m  # noqa: E402
from engine.evaluate import evaluate, load_predictor  # noqa: E402
from engine.train_data import VALIDATION_SUBJECT, is_validation_key  # noqa: E402

SUBJECTS = (*h36m.TRAIN_SUBJECTS, *h36m.TEST_SUBJECTS)


def score_rows(predict, frames: int, *, subjects=SUBJECTS, virtual: bool = True, cameras=(0, 2),
               frames_per_sequence: int = 486) -> dict[str, dict]:
    """Row name -> {p1_depth_only, p1_full, p2_full, sequences, frames_scored}."""
    common = {"flip": False, "cameras": tuple(cameras), "frames_per_sequence": frames_per_sequence, "noisy": False}
    rows = {}

    def add(name: str, **kwargs) -> None:
        t0 = time.time()
        result = evaluate(predict, frames, **common, **kwargs)
        rows[name] = {**result["average"], "sequences": result["sequences"], "frames_scored": result["frames_scored"]}
        print(f"{name}: depth only {rows[name]['p1_depth_only']:.2f} mm, full {rows[name]['p1_full']:.2f} mm "
              f"({time.time() - t0:.0f} s)", flush=True)

    for subject in subjects:
        add(subject, subjects=(subject,))
    held_out = {k: v for k, v in h36m.load_poses([VALIDATION_SUBJECT]).items() if is_validation_key(k)}
    add(f"{VALIDATION_SUBJECT} held-out", subjects=(VALIDATION_SUBJECT,), poses=held_out)
    if virtual:
        names, lengths = bone_aug.virtual_subjects()
        for name, person in zip(names, lengths.numpy(), strict=True):
            # cut before rescaling: the same frames as the plain row, and less work
            poses = {k: bone_aug.as_person_np(v[:frames_per_sequence or None], person).astype("float32")
                     for k, v in held_out.items()}
            add(f"virtual {name}", subjects=(VALIDATION_SUBJECT,), poses=poses)
    return rows


def summary(rows: dict[str, dict]) -> dict[str, float]:
    """Means over groups of rows (depth only, mm), and the two gaps the proxy is meant to track."""
    def mean(names) -> float:
        names = [n for n in names if n in rows]
        return sum(rows[n]["p1_depth_only"] for n in names) / len(names) if names else float("nan")

    out = {"train_subjects": mean(h36m.TRAIN_SUBJECTS), "test_subjects": mean(h36m.TEST_SUBJECTS),
           "held_out": mean([f"{VALIDATION_SUBJECT} held-out"]),
           "virtual_subjects": mean([n for n in rows if n.startswith("virtual ")])}
    out["test_minus_train"] = out["test_subjects"] - out["train_subjects"]
    out["virtual_minus_held_out"] = out["virtual_subjects"] - out["held_out"]
    return out


def table(rows: dict[str, dict], means: dict[str, float]) -> str:
    lines = ["| rows | P1 depth only | P1 full | P2 full | sequences | frames |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['p1_depth_only']:.2f} | {r['p1_full']:.2f} | {r['p2_full']:.2f} | "
                     f"{r['sequences']} | {r['frames_scored']} |")
    lines.append("")
    lines += [f"- {k.replace('_', ' ')}: {v:.2f} mm (depth only)" for k, v in means.items()]
    return "\n".join(lines)


def weights_identity(path: Path, meta: dict) -> dict:
    """Which weights were scored: the shipped file is replaced every training session, so its path alone does not
    say; the epoch and step from its metadata (or the checkpoint's) do. Paths inside the repository are relative."""
    path = path.resolve()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    checkpoint = meta.get("checkpoint") or {}  # shipped weights record their step there
    return {"weights": str(shown), "weights_epoch": meta.get("epochs", meta.get("epoch")),
            "weights_step": checkpoint.get("step", meta.get("step"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=ROOT / "engine" / "weights" / "sasmamba-s_h36m.npz",
                    help="shipped weights (.npz) or a training checkpoint (.pt)")
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--subjects", default=",".join(SUBJECTS))
    ap.add_argument("--no-virtual", action="store_true", help="skip the virtual-subject rows")
    ap.add_argument("--cameras", default="0,2")
    ap.add_argument("--frames", type=int, default=486, help="first frames of each sequence (0: all)")
    ap.add_argument("--json", type=Path, default=ROOT / "reports" / "subject_gap.json")
    args = ap.parse_args(argv)
    t0 = time.time()
    predict, cfg, meta = load_predictor(args.weights, args.backend, args.device)
    rows = score_rows(predict, cfg.frames, subjects=tuple(args.subjects.split(",")), virtual=not args.no_virtual,
                      cameras=tuple(int(c) for c in args.cameras.split(",")), frames_per_sequence=args.frames)
    means = summary(rows)
    print(table(rows, means))
    result = {**weights_identity(args.weights, meta), "cameras": args.cameras, "frames_per_sequence": args.frames,
              "flip_tta": False, "backend": args.backend, "device": args.device, "bone_aug": bone_aug.describe(),
              "seconds": round(time.time() - t0, 1), "rows": rows, "summary": means}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
