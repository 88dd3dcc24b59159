"""Ship a chosen training checkpoint as the extension's weights, with the metadata and reports that quote it.

    PYTHONPATH=. python scripts/ship_weights.py --checkpoint runs/NAME/last.pt --log runs/NAME/log.jsonl \
        --eval runs/eval_NAME/h36m_eval.json --recipe-key epochs_66_80 --recipe '{"gpus": 2, ...}' \
        --status "interim: ..." --eval-device "cuda: one NVIDIA H200 ..." [--training-data-note TEXT] \
        [--weights engine/weights/sasmamba-s_h36m.npz] [--reports reports] [--readme README.md | --no-readme]

In order: the current weights' metadata is the starting point; the validation history keeps its epochs before the
log's first and takes the log's from there up to the checkpoint's epoch; the recipe gains `--recipe-key`; the test
figures are the evaluation's S9/S11 averages. The checkpoint is exported to a temporary file, scored on the
regression subset with the torch and numpy runtimes (they must agree), and only then written over `--weights` with
that figure. reports/h36m_eval.json and h36m.md are rewritten from the evaluation (params and MACs kept from the
previous report), and the bench tables re-rendered without rerunning a benchmark (`python -m benchmarks
--carried-only`). Every input is checked before anything is written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.errors import InputError  # noqa: E402
from engine.evaluate import regression_subset_p1, write_markdown  # noqa: E402
from engine.weights import (  # noqa: E402
    export_checkpoint,
    load_model_state,
    load_weights,
    save_weights,
    shipped_weights_path,
)

VAL_KEYS = ("val_p1_mm", "val_p1_depth_only_mm")
# the raw weights' scores beside the average's (absent from runs with --no-val-raw) and the virtual people's
RAW_KEYS = ("val_p1_raw_mm", "val_p1_depth_only_raw_mm")
VIRTUAL_KEYS = ("val_p1_virtual_subject_mm", "val_p1_virtual_subject_depth_only_mm")
# what engine.evaluate.write_markdown and the bench tables read from an evaluation
EVAL_KEYS = ("average", "per_action", "sequences", "subjects", "cameras", "frames_per_sequence", "frames_scored",
             "flip_tta", "noise_model")
BACKENDS_AGREE_MM = 1e-3


def read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} {path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{what} {path} is not a JSON object")
    return data


def read_log(path: Path) -> dict[int, dict]:
    """Epoch -> the training log's record of it; a later line wins, as a resumed run re-logs an epoch."""
    if not path.is_file():
        raise InputError(f"training log {path} does not exist")
    records: dict[int, dict] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"training log {path}, line {n}: not JSON ({exc})") from exc
        if isinstance(record, dict) and "epoch" in record:
            records[int(record["epoch"])] = record
    if not records:
        raise InputError(f"training log {path} records no epoch")
    return records


def read_checkpoint(path: Path) -> dict:
    """What the training checkpoint says of itself (config, epoch, step, ...); InputError for anything else."""
    if path.suffix == ".npz":
        raise InputError(f"{path} is already a weights file: pass the training checkpoint (.pt) it came from")
    try:
        return load_model_state(path)[1]
    except InputError:
        raise
    except Exception as exc:  # torch.load's errors for a file that is no pickle say little about what was wrong
        raise InputError(f"{path} is not a training checkpoint of `python -m engine train`: {exc}") from exc


def check_eval(evaluation: dict, path: Path, checkpoint: dict) -> None:
    """The evaluation must be complete and of this checkpoint: an eval of the other A/B arm, or of best.pt where
    last.pt is shipped, would put another model's S9/S11 figures beside these weights."""
    missing = [k for k in EVAL_KEYS if k not in evaluation]
    if missing:
        raise InputError(f"evaluation {path} lacks {', '.join(missing)}: not an `engine evaluate` h36m_eval.json")
    if "config" in evaluation and evaluation["config"] != checkpoint["config"]:
        raise InputError(f"evaluation {path} scored another model config than the checkpoint's")
    stride = evaluation.get("window_stride")
    if stride is not None and stride != checkpoint["config"]["frames"]:
        raise InputError(f"evaluation {path} used windows every {stride} frames: the shipped figures are scored "
                         "as the paper tiles them, without overlap (`engine evaluate` without --stride)")
    step = (evaluation.get("training") or {}).get("step")
    if step is not None and step != checkpoint["step"]:
        raise InputError(f"evaluation {path} scored the checkpoint of step {step}; this one is step "
                         f"{checkpoint['step']}")


def history_entry(record: dict) -> dict:
    missing = [k for k in VAL_KEYS if k not in record]
    if missing:
        raise InputError(f"training log: epoch {record['epoch']} has no {', '.join(missing)}")
    keys = VAL_KEYS + tuple(k for k in RAW_KEYS + VIRTUAL_KEYS if k in record)
    return {"epoch": record["epoch"], **{k: round(record[k], 2) for k in keys}}


def validation_history(old: list[dict], log: dict[int, dict], epoch: int) -> list[dict]:
    """The old history before the log's first epoch, then the log's epochs up to the checkpoint's."""
    if epoch not in log:
        raise InputError(f"training log has no record of epoch {epoch}, the checkpoint's (it has epochs "
                         f"{min(log)}-{max(log)})")
    first = min(log)
    return [h for h in old if h["epoch"] < first] + [history_entry(log[e]) for e in sorted(log) if e <= epoch]


def training_data(previous: str, note: str | None) -> str:
    """`previous` with `note` appended once: a run repeated over its own output replaces the note it added."""
    note = (note or "").strip().removeprefix(";").strip()
    if not note:
        return previous
    return previous.replace(f"; {note}", "") + f"; {note}"


def new_metadata(old: dict, history: list[dict], evaluation: dict, args: argparse.Namespace) -> dict:
    """The entries export_checkpoint's own metadata (config, epochs, checkpoint) does not cover."""
    last = history[-1]
    validation = {"epoch": last["epoch"], "history": history,
                  **{k: last[k] for k in ("val_p1_mm", "val_p1_depth_only_mm", VIRTUAL_KEYS[1]) if k in last}}
    old_test = old.get("test") or {}
    h36m = {k: round(v, 2) for k, v in evaluation["average"].items()}
    if "selection" in (old_test.get("h36m") or {}):
        h36m["selection"] = old_test["h36m"]["selection"]
    test = {"h36m": h36m, **{k: old_test[k] for k in ("regression_subset",) if k in old_test}}
    return {"status": args.status, "training_data": training_data(old.get("training_data") or "",
                                                                 args.training_data_note),
            "recipe": {**(old.get("recipe") or {}), args.recipe_key: args.recipe}, "validation": validation,
            "test": test}


def regression_p1(weights: Path) -> float:
    """The regression subset's full-3D P1 (mm) through the torch runtime, checked against the numpy one's."""
    from engine.lifter import Lifter

    scores = {}
    for backend in ("torch", "numpy"):
        lifter = Lifter.load(weights=weights, backend=backend)
        scores[backend] = regression_subset_p1(lifter.predict_normalized, lifter.config.frames)
    if not math.isfinite(scores["torch"]) or abs(scores["torch"] - scores["numpy"]) > BACKENDS_AGREE_MM:
        raise RuntimeError(f"the runtimes disagree on the exported weights' regression P1: {scores} (mm); "
                           f"{weights} was not shipped")
    return scores["torch"]


def export(checkpoint: Path, weights: Path, metadata: dict) -> dict:
    """Checkpoint -> `weights` with `metadata` and its regression figure; the final file is written once, after the
    figure is known, so a failed check leaves the previous weights in place. Returns the file's metadata."""
    with tempfile.TemporaryDirectory() as tmp:
        staged = export_checkpoint(checkpoint, Path(tmp) / weights.name, metadata)
        figure = regression_p1(staged)
        arrays, meta = load_weights(staged)
    meta["test"]["regression_p1_mm"] = round(figure, 3)
    # save_weights stamps the format and licence of the code that writes; copies read back must not override them
    meta.pop("format", None)
    meta.pop("licence", None)
    save_weights(arrays, meta, weights)
    return load_weights(weights)[1]


def shown(path: Path) -> str:
    """The path as reports name it: relative to the checkout where it is inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_eval_report(evaluation: dict, previous: dict, weights: Path, meta: dict, reports: Path,
                      device: str) -> None:
    """reports/h36m_eval.json and h36m.md for the shipped file. Params and MACs are kept from the previous report:
    the GPU's evaluation does not count them, and the shipped config does not change between sessions."""
    report = {**evaluation, "checkpoint": shown(weights), "training": meta, "device": device,
              **{k: previous[k] for k in ("params", "macs_per_frame") if k in previous}}
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "h36m_eval.json").write_text(json.dumps(report, indent=1))
    write_markdown(report, reports / "h36m.md")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True, help="the chosen run's last.pt or best.pt")
    ap.add_argument("--log", type=Path, required=True, help="that run's log.jsonl")
    ap.add_argument("--eval", type=Path, required=True, help="`python -m engine evaluate`'s h36m_eval.json of it")
    ap.add_argument("--recipe-key", required=True, help="the recipe entry's name, e.g. epochs_55_65")
    ap.add_argument("--recipe", required=True, help="the recipe entry, a JSON object")
    ap.add_argument("--status", required=True, help="the weights' status line (interim: ...)")
    ap.add_argument("--training-data-note", help="appended once to the training data sentence")
    ap.add_argument("--eval-device", required=True, help="what reports/h36m_eval.json says of the device")
    ap.add_argument("--weights", type=Path, default=shipped_weights_path("sasmamba-s"))
    ap.add_argument("--reports", type=Path, default=ROOT / "reports")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--no-readme", action="store_true", help="skip the bench tables and the README section")
    args = ap.parse_args(argv)
    try:
        args.recipe = json.loads(args.recipe)
    except json.JSONDecodeError as exc:
        raise InputError(f"--recipe is not JSON: {exc}") from exc
    if not isinstance(args.recipe, dict):
        raise InputError("--recipe must be a JSON object")
    return args


def check_bench_paths(args: argparse.Namespace) -> None:
    """The bench tables read the checkout's reports and shipped weights: refreshing them after writing elsewhere
    would mix the new reports with the old ones."""
    from benchmarks.__main__ import REPORTS

    if args.weights.resolve() != shipped_weights_path("sasmamba-s") or args.reports.resolve() != REPORTS.resolve():
        raise InputError(f"the bench tables describe {shown(shipped_weights_path('sasmamba-s'))} and "
                         f"{shown(REPORTS)}: pass --no-readme when writing elsewhere")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.no_readme:
        check_bench_paths(args)
    checkpoint = read_checkpoint(args.checkpoint)
    log = read_log(args.log)
    evaluation = read_json(args.eval, "evaluation")
    check_eval(evaluation, args.eval, checkpoint)
    _, old = load_weights(args.weights)
    previous_path = args.reports / "h36m_eval.json"
    previous = read_json(previous_path, "previous report") if previous_path.exists() else {}
    history = validation_history((old.get("validation") or {}).get("history") or [], log, checkpoint["epoch"])

    meta = export(args.checkpoint, args.weights, new_metadata(old, history, evaluation, args))
    write_eval_report(evaluation, previous, args.weights, meta, args.reports, args.eval_device)
    if not args.no_readme:
        from benchmarks.__main__ import refresh_carried

        refresh_carried(args.readme)
    avg = meta["test"]["h36m"]
    print(f"shipped {shown(args.weights)}: epoch {meta['epochs']} (history {history[0]['epoch']}-"
          f"{history[-1]['epoch']}), regression P1 {meta['test']['regression_p1_mm']} mm; S9/S11 P1 depth only "
          f"{avg.get('p1_depth_only')}, full {avg.get('p1_full')}, noisy {avg.get('p1_noisy')} mm; wrote "
          f"{shown(args.reports / 'h36m_eval.json')}" + ("" if args.no_readme else ", bench tables and README"))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as exc:
        sys.exit(f"ship_weights: {exc}")
