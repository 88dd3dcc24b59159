"""`make bench` / `python -m benchmarks [--only a,b] [--quick]`: run the benchmarks, write reports/bench.{json,md}.

Each benchmark module has `run(quick) -> dict` and writes its own detailed report under reports/; this collects
their headline figures, with the machine and versions, into one file a user (and the README) can read.
GPU figures are not measured here (no GPU on this machine): they are carried from reports/gpu_check.json, written
by scripts/check_gpu.py on the GPU machine, with the card named.

`python -m benchmarks --carried-only` runs no benchmark: it re-reads what other runs measured (GPU figures, the
S9/S11 evaluation, the shipped weights' status) into the committed reports/bench.json, redraws
reports/accuracy.png and reports/pipeline.png (the shipped weights on the real clip) and rewrites bench.md and the
README section, keeping the date and machine of the run that measured the rest (scripts/ship_weights.py calls it
after a new export).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from importlib import import_module
from pathlib import Path

from engine.paths import PROJECT_ROOT

from .common import machine, now, versions
from .readme_table import update_readme

BENCHMARKS = ("lifter", "detect", "cleanup", "retarget", "pipeline", "pictures")
REPORTS = PROJECT_ROOT / "reports"


def gpu_figures() -> dict | None:
    path = REPORTS / "gpu_check.json"
    return json.loads(path.read_text()) if path.exists() else None


def accuracy_figures() -> dict | None:
    path = REPORTS / "h36m_eval.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    subset = (f"S9/S11: {data.get('sequences')} sequences, cameras {data.get('cameras')}, "
              f"{data.get('frames_per_sequence')} frames each ({data.get('frames_scored')} scored)")
    return {"average": data.get("average"), "checkpoint": data.get("checkpoint"), "training": data.get("training"),
            "subset": subset}


def model_figures() -> dict:
    """Parameter counts of the shipped config and the shipped weights' status (interim or final)."""
    from engine.config import get_config
    from engine.info import parameter_counts
    from engine.weights import load_weights, shipped_weights_path

    counts = parameter_counts(get_config("sasmamba-s"))
    path = shipped_weights_path("sasmamba-s")
    meta = load_weights(path)[1] if path.is_file() else {}
    return {"config": "sasmamba-s", "params_thop_style": counts["thop_style"], "params_true": counts["true"],
            "weights": path.name if path.is_file() else None, "status": meta.get("status", "no shipped weights")}


def flatten(prefix: str, value, out: list[tuple[str, object]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif not isinstance(value, list) or len(value) <= 8:
        out.append((prefix, value))


def write_markdown(report: dict) -> None:
    m = report["machine"]
    lines = ["# Benchmarks", "", f"Machine: {m['cpu']}, {m['cores']} cores (load {m['load_avg_1min']}), "
             f"Python {m['python']}; generated {report['date']} by `make bench`.", ""]
    for name, result in report["benchmarks"].items():
        lines += [f"## {name}", ""]
        if "error" in result:
            lines += [f"failed: `{result['error']}`", ""]
            continue
        rows: list[tuple[str, object]] = []
        flatten("", result.get("headline", result), rows)
        lines += ["| figure | value |", "|---|---|"]
        for key, value in rows:
            if key in ("machine", "date") or key.startswith("machine."):
                continue
            shown = f"{value:.4g}" if isinstance(value, float) else value
            lines.append(f"| {key} | {shown} |")
        lines.append("")
    if report.get("gpu"):
        lines += ["## GPU (carried from reports/gpu_check.json, measured on the GPU machine)", "",
                  "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in report["gpu"].items()]
        lines.append("")
    lifter_gpu = (report["benchmarks"].get("lifter") or {}).get("gpu") or {}
    triton = {k: v for k, v in lifter_gpu.items() if "triton" in k}
    if triton:  # the headline's rate and card come from here, and the older runs stay visible beside it
        triton_rows: list[tuple[str, object]] = []
        flatten("", triton, triton_rows)
        lines += ["## GPU, Triton scan (carried from reports/gpu_scan_*.json, plain forwards)", "",
                  "| figure | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in triton_rows]
        lines.append("")
    h36m = REPORTS / "h36m.md"
    if h36m.exists():  # the accuracy table as `python -m engine evaluate` wrote it
        lines += ["## Accuracy (Human3.6M, copied from reports/h36m.md)", ""]
        lines += [ln.replace("# ", "### ", 1) if ln.startswith("# ") else ln for ln in h36m.read_text().splitlines()]
        lines.append("")
    (REPORTS / "bench.md").write_text("\n".join(lines) + "\n")


def write_reports(report: dict, readme: Path | None = None) -> bool:
    """Re-read the figures carried from other runs into `report`, then write bench.json, bench.md and the README's
    measured section; True when the README changed."""
    report["gpu"] = gpu_figures()
    report["accuracy"] = accuracy_figures()
    report["model"] = model_figures()
    (REPORTS / "bench.json").write_text(json.dumps(report, indent=1, default=str))
    write_markdown(report)
    return update_readme(report, readme or PROJECT_ROOT / "README.md")


def refresh_carried(readme: Path | None = None) -> bool:
    """The committed bench.json with only its carried figures re-read (no benchmark runs; its date and machine stay
    those of the run that measured the rest), both pictures redrawn; True when the README changed."""
    from . import lifter
    from .pictures import accuracy_picture, pipeline_picture

    path = REPORTS / "bench.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `make bench` once before refreshing it")
    report = json.loads(path.read_text())
    lifter_result = report["benchmarks"].get("lifter")
    if lifter_result and "error" not in lifter_result:
        lifter_result["gpu"] = lifter.gpu_figures()
        lifter_result["headline"].update(lifter.gpu_headline(lifter_result["gpu"]))
    source = REPORTS / "h36m_eval.json"
    pictures = report["benchmarks"].get("pictures")
    if source.exists():
        drawn = accuracy_picture(out=REPORTS / "accuracy.png", source=source)
        if pictures and "error" not in pictures:  # as `pictures.run` records it; a "why" said the source was missing
            pictures.pop("why", None)
            pictures["headline"].pop("why", None)
            pictures.update(drawn)
            pictures["headline"]["accuracy_png"] = drawn["accuracy_png"]
    # the pipeline picture shows the shipped weights' output on the real clip: a new export must redraw it too (its
    # stage timings stay those of the run that measured them)
    drawn = pipeline_picture(out=REPORTS / "pipeline.png")
    if pictures and "error" not in pictures:
        pictures.update({k: drawn[k] for k in ("pipeline_png", "frame", "frames")})
    return write_reports(report, readme)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    ap.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    ap.add_argument("--carried-only", action="store_true",
                    help="run nothing: re-read the GPU, accuracy and model figures into reports/bench.json, redraw "
                         "reports/accuracy.png, rewrite bench.md and the README section")
    args = ap.parse_args(argv)
    if args.carried_only:
        if args.only or args.quick:
            ap.error("--carried-only runs no benchmark: it takes neither --only nor --quick")
        changed = refresh_carried()
        print(f"refreshed {REPORTS / 'bench.json'} and {REPORTS / 'bench.md'}"
              + ("; README.md measured section updated" if changed else ""))
        return 0
    chosen = [b for b in BENCHMARKS if not args.only or b in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - set(BENCHMARKS)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    REPORTS.mkdir(exist_ok=True)
    path = REPORTS / "bench.json"
    report = json.loads(path.read_text()) if path.exists() and args.only else {"benchmarks": {}}
    report.update({"machine": machine(), "versions": versions(), "date": now(), "quick": args.quick})
    failed = 0
    for name in chosen:
        print(f"== {name}", flush=True)
        start = time.time()
        try:
            result = import_module(f"benchmarks.{name}").run(quick=args.quick)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
            failed += 1
        result["seconds"] = round(time.time() - start, 1)
        report["benchmarks"][name] = result
    changed = write_reports(report)
    print(f"wrote {path} and {REPORTS / 'bench.md'}" + ("; README.md measured section updated" if changed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
