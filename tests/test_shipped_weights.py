"""The shipped weights load torch-free and keep scoring what was recorded when they were exported."""

import json

import pytest

from engine.evaluate import main as evaluate_main
from engine.evaluate import regression_subset_p1, training_summary
from engine.lifter import Lifter
from engine.weights import load_weights, shipped_weights_path


def test_shipped_weights_metadata_names_data_licence_and_scores():
    arrays, meta = load_weights(shipped_weights_path("sasmamba-s"))
    assert meta["config_name"] == "sasmamba-s"
    assert "non-commercial" in meta["licence"]
    assert "Human3.6M" in meta["training_data"]
    assert "regression_p1_mm" in meta["test"]
    assert sum(a.size for a in arrays.values()) > 900_000


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_shipped_weights_p1_within_2mm_of_recorded(h36m_dir, backend):
    lifter = Lifter.load(backend=backend)
    recorded = lifter.metadata["test"]["regression_p1_mm"]
    p1 = regression_subset_p1(lifter.predict_normalized, lifter.config.frames)
    assert abs(p1 - recorded) <= 2.0, (p1, recorded)


def test_evaluate_scores_overlapping_windows_on_request_and_says_so(h36m_dir, tmp_path):
    """`engine evaluate --stride` scores the Lifter's own overlapping windows; the default stays the paper's tiling."""
    common = ["--checkpoint", str(shipped_weights_path("sasmamba-s")), "--max-sequences", "1", "--cameras", "0",
              "--frames-per-sequence", "400", "--no-flip", "--backend", "numpy"]
    results = {}
    for stride in (0, 81):
        out = tmp_path / str(stride)
        assert evaluate_main([*common, "--out", str(out), *(["--stride", str(stride)] if stride else [])]) == 0
        results[stride] = (json.loads((out / "h36m_eval.json").read_text()), (out / "h36m.md").read_text())
    (tiled, tiled_md), (overlap, overlap_md) = results[0], results[81]
    assert tiled["window_stride"] == 243 and "Windows every" not in tiled_md
    assert overlap["window_stride"] == 81 and "Windows every 81 frames" in overlap_md
    a, b = tiled["average"]["p1_depth_only"], overlap["average"]["p1_depth_only"]
    assert a != b and abs(a - b) < 3.0  # frames 81-399 now also come from the window starting at 81


def test_report_of_a_training_checkpoint_says_how_far_it_trained():
    summary = training_summary({"epoch": 161, "step": 44882, "best": 19.67, "gpu_seconds": 27714.0})
    assert summary == "training checkpoint; 161 epochs; 462 GPU-minutes"
    _, meta = load_weights(shipped_weights_path("sasmamba-s"))
    assert training_summary(meta).startswith(meta["status"])
