"""The shipped weights load torch-free and keep scoring what was recorded when they were exported."""

import pytest

from engine.evaluate import regression_subset_p1
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
