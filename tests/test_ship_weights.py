"""scripts/ship_weights.py: a training checkpoint to the shipped weights and the reports that quote them; and the
bench tables re-rendered from what other runs carried (`python -m benchmarks --carried-only`)."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_distributed import TINY

from engine.errors import InputError
from engine.paths import PROJECT_ROOT
from engine.train import Trainer, parse_args
from engine.weights import load_weights, shipped_weights_path

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
import ship_weights  # noqa: E402

NOTE = "from epoch 64 each clip re-proportioned (test)"
RECIPE = {"gpus": 2, "bone_aug": 1.0}


@pytest.fixture(scope="module")
def shipped_meta() -> dict:
    return load_weights(shipped_weights_path("sasmamba-s"))[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, h36m_dir, shipped_meta) -> tuple:
    """A tiny two-step checkpoint, relabelled as the epoch the shipped history ends at so the log can continue it."""
    out = tmp_path_factory.mktemp("tiny")
    Trainer(parse_args([*TINY, "--out", str(out), "--max-steps", "2"])).run()
    state = torch.load(out / "last.pt", weights_only=False)
    state["epoch"] = shipped_meta["validation"]["epoch"]
    torch.save(state, out / "last.pt")
    return out / "last.pt", state


def _log_line(epoch: int, base: float) -> str:
    keys = ship_weights.VAL_KEYS + ship_weights.RAW_KEYS + ship_weights.VIRTUAL_KEYS
    return json.dumps({"epoch": epoch, "step": 10 * epoch, **{k: base + i / 10 + 0.004 for i, k in enumerate(keys)}})


@pytest.fixture()
def inputs(tmp_path, checkpoint, shipped_meta) -> dict:
    """Current weights, reports, a two-epoch log and an evaluation of the checkpoint, all in tmp_path."""
    pt, state = checkpoint
    weights = tmp_path / "weights" / "current.npz"
    weights.parent.mkdir()
    shutil.copy(shipped_weights_path("sasmamba-s"), weights)
    reports = tmp_path / "reports"
    reports.mkdir()
    shutil.copy(PROJECT_ROOT / "reports" / "h36m_eval.json", reports)
    evaluation = json.loads((reports / "h36m_eval.json").read_text())
    evaluation.update({"average": {k: v + 1.23456 for k, v in evaluation["average"].items()},
                       "config": state["config"], "checkpoint": str(pt), "device": "cuda",
                       "training": {"epoch": state["epoch"], "step": state["step"]},
                       "window_stride": state["config"]["frames"]})  # tiled, as the shipped figures are scored
    for key in ("params", "macs_per_frame"):  # `engine evaluate` does not write these
        evaluation.pop(key)
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    last = shipped_meta["validation"]["epoch"]
    (tmp_path / "log.jsonl").write_text(_log_line(last - 1, 30.0) + "\n" + _log_line(last, 20.0) + "\n")
    argv = ["--checkpoint", str(pt), "--log", str(tmp_path / "log.jsonl"), "--eval", str(tmp_path / "eval.json"),
            "--recipe-key", "epochs_test", "--recipe", json.dumps(RECIPE), "--status", "interim: test",
            "--training-data-note", NOTE, "--eval-device", "cuda: test card", "--weights", str(weights),
            "--reports", str(reports), "--no-readme"]
    return {"argv": argv, "weights": weights, "reports": reports, "evaluation": evaluation, "state": state,
            "last": last}


def test_ships_the_checkpoint_with_its_metadata_and_reports(inputs, shipped_meta) -> None:
    for _ in range(2):  # a repeated run over its own output must not stack its note
        assert ship_weights.main(inputs["argv"]) == 0
    arrays, meta = load_weights(inputs["weights"])
    state = inputs["state"]
    model = state.get("ema", state["model"])
    assert arrays.keys() == {k.removeprefix("module.") for k in model}
    assert all(np.array_equal(arrays[k.removeprefix("module.")], v.float().numpy()) for k, v in model.items())
    assert meta["config"] == state["config"] and meta["epochs"] == inputs["last"]
    assert meta["format"] == shipped_meta["format"] and meta["licence"] == shipped_meta["licence"]
    assert meta["status"] == "interim: test"
    assert meta["recipe"] == {**shipped_meta["recipe"], "epochs_test": RECIPE}
    assert meta["training_data"].count(NOTE) == 1 and meta["training_data"].endswith("; " + NOTE)
    assert meta["training_data"].startswith(shipped_meta["training_data"])

    last = inputs["last"]
    history = meta["validation"]["history"]
    assert history[:-2] == [h for h in shipped_meta["validation"]["history"] if h["epoch"] < last - 1]
    assert [h["epoch"] for h in history[-2:]] == [last - 1, last]
    assert history[-1] == {"epoch": last, "val_p1_mm": 20.0, "val_p1_depth_only_mm": 20.1, "val_p1_raw_mm": 20.2,
                           "val_p1_depth_only_raw_mm": 20.3, "val_p1_virtual_subject_mm": 20.4,
                           "val_p1_virtual_subject_depth_only_mm": 20.5}
    assert meta["validation"] == {"epoch": last, "history": history, "val_p1_mm": 20.0, "val_p1_depth_only_mm": 20.1,
                                  "val_p1_virtual_subject_depth_only_mm": 20.5}

    test = meta["test"]
    average = inputs["evaluation"]["average"]
    assert test["h36m"] == {**{k: round(v, 2) for k, v in average.items()},
                            "selection": shipped_meta["test"]["h36m"]["selection"]}
    assert test["regression_subset"] == shipped_meta["test"]["regression_subset"]
    assert math.isfinite(test["regression_p1_mm"])

    report = json.loads((inputs["reports"] / "h36m_eval.json").read_text())
    previous = json.loads((PROJECT_ROOT / "reports" / "h36m_eval.json").read_text())
    assert report["checkpoint"] == str(inputs["weights"]) and report["training"] == meta
    assert report["params"] == previous["params"] and report["macs_per_frame"] == previous["macs_per_frame"]
    assert report["device"] == "cuda: test card" and report["average"] == average
    markdown = (inputs["reports"] / "h36m.md").read_text()
    assert str(inputs["weights"]) in markdown and previous["params"] in markdown


def test_bad_input_is_refused_before_anything_is_written(inputs, tmp_path) -> None:
    before = inputs["weights"].read_bytes()
    reports = {p.name: p.read_bytes() for p in inputs["reports"].iterdir()}

    def refused(match: str, **changes: str) -> None:
        argv = list(inputs["argv"])
        for flag, value in changes.items():
            argv[argv.index(f"--{flag.replace('_', '-')}") + 1] = value
        with pytest.raises(InputError, match=match):
            ship_weights.main(argv)
        assert inputs["weights"].read_bytes() == before
        assert {p.name: p.read_bytes() for p in inputs["reports"].iterdir()} == reports

    refused("evaluation .*missing.json does not exist", eval=str(tmp_path / "missing.json"))
    (tmp_path / "empty.jsonl").write_text("\n")
    refused("records no epoch", log=str(tmp_path / "empty.jsonl"))
    refused("not a training checkpoint", checkpoint=str(tmp_path / "log.jsonl"))
    refused("training log .* does not exist", log=str(tmp_path / "absent.jsonl"))
    (tmp_path / "short.jsonl").write_text(_log_line(3, 30.0) + "\n")
    refused("no record of epoch", log=str(tmp_path / "short.jsonl"))
    last = inputs["last"]
    (tmp_path / "unscored.jsonl").write_text(json.dumps({"epoch": last, "step": 10 * last, "val_p1_mm": 20.0}))
    refused("epoch .* has no val_p1_depth_only_mm", log=str(tmp_path / "unscored.jsonl"))
    (tmp_path / "overlapping.json").write_text(json.dumps({**inputs["evaluation"], "window_stride": 81}))
    refused("windows every 81 frames", eval=str(tmp_path / "overlapping.json"))


def test_a_log_without_the_raw_weights_scores_ships(inputs) -> None:
    """`engine train --no-val-raw` logs the moving average's scores alone: the history keeps what the log has."""
    log = Path(inputs["argv"][inputs["argv"].index("--log") + 1])
    records = [json.loads(line) for line in log.read_text().splitlines()]
    log.write_text("\n".join(json.dumps({k: v for k, v in r.items() if "_raw_" not in k}) for r in records) + "\n")
    assert ship_weights.main(inputs["argv"]) == 0
    _, meta = load_weights(inputs["weights"])
    assert meta["validation"]["history"][-1] == {"epoch": inputs["last"], "val_p1_mm": 20.0,
                                                 "val_p1_depth_only_mm": 20.1, "val_p1_virtual_subject_mm": 20.4,
                                                 "val_p1_virtual_subject_depth_only_mm": 20.5}


def test_carried_only_refresh_rewrites_the_readme_section_from_bench_json(tmp_path, monkeypatch) -> None:
    import benchmarks.__main__ as bench
    import benchmarks.lifter as bench_lifter
    from benchmarks.readme_table import END, START, render

    reports = tmp_path / "reports"
    shutil.copytree(PROJECT_ROOT / "reports", reports)
    monkeypatch.setattr(bench, "REPORTS", reports)
    monkeypatch.setattr(bench, "PROJECT_ROOT", tmp_path)  # the README it rewrites
    monkeypatch.setattr(bench_lifter, "PROJECT_ROOT", tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## Measured\n\n{START}\nstale\n{END}\n\n## Licences\n")
    # a new evaluation and GPU figure, as a shipped export and a GPU session leave them
    evaluation = json.loads((reports / "h36m_eval.json").read_text())
    evaluation["average"]["p1_noisy"] = 12.345
    (reports / "h36m_eval.json").write_text(json.dumps(evaluation))
    (reports / "accuracy.png").unlink()
    (reports / "pipeline.png").unlink()
    (reports / "gpu_scan_test.json").write_text(json.dumps({
        "device": "Card Z (test)", "batches": [64], "model_triton_deform": "triton",
        "model_batch64_triton": {"frames_per_s": 9e6}}))
    bench_json = json.loads((reports / "bench.json").read_text())

    assert bench.main(["--carried-only"]) == 0
    report = json.loads((reports / "bench.json").read_text())
    assert report["date"] == bench_json["date"] and report["machine"] == bench_json["machine"]
    assert report["benchmarks"]["detect"] == bench_json["benchmarks"]["detect"]  # nothing was rerun
    assert report["accuracy"]["average"]["p1_noisy"] == 12.345
    lifter = report["benchmarks"]["lifter"]
    assert lifter["gpu"]["triton_card"] == "Card Z"
    assert (lifter["headline"]["gpu_frames_per_s"], lifter["headline"]["gpu_card"]) == (9_000_000, "Card Z")
    assert lifter["headline"]["numpy_frames_per_s"] == bench_json["benchmarks"]["lifter"]["headline"][
        "numpy_frames_per_s"]
    section = readme.read_text().split(START, 1)[1].split(END, 1)[0].strip("\n")
    assert section == render(report) and "12.3 mm" in section
    assert readme.read_text().startswith("# Title\n") and readme.read_text().endswith("## Licences\n")
    for picture in ("accuracy.png", "pipeline.png"):  # both redrawn from the shipped weights' figures and output
        assert (reports / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["benchmarks"]["pictures"]["stage_seconds"] == bench_json["benchmarks"]["pictures"]["stage_seconds"]
    assert "Card Z" in (reports / "bench.md").read_text()
