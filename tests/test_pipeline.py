"""The bpy-free pipeline orchestration and the synthetic demo performer."""

from __future__ import annotations

import numpy as np
import pytest

from engine import pipeline
from engine.errors import Cancelled, InputError
from engine.skeleton import BONES
from engine.synthetic import synthetic_performer


def test_synthetic_performer_is_a_plausible_walk_seen_by_the_camera():
    kp, truth = synthetic_performer(frames=150, fps=30.0)
    assert kp.xy.shape == (150, 17, 2) and truth.joints_mm.shape == (150, 17, 3) and truth.space == "world"
    assert np.all((kp.xy > 0) & (kp.xy < 1000))  # the performer stays in the 1000x1000 frame
    lengths = np.stack([np.linalg.norm(truth.joints_mm[:, c] - truth.joints_mm[:, p], axis=-1) for c, p in BONES], 1)
    assert np.ptp(lengths, axis=0).max() < 1.0  # rigid bones, mm
    assert truth.joints_mm[:, [3, 6], 2].min() == pytest.approx(80.0, abs=1.0)  # ankles above the floor
    travel = np.linalg.norm(truth.joints_mm[-1, 0, :2] - truth.joints_mm[0, 0, :2])
    assert 2000 < travel < 4000  # walks ~3 m
    # the performer's right is on its right: facing +Y at the start, r_hip has the larger X
    assert truth.joints_mm[0, 1, 0] > truth.joints_mm[0, 4, 0]
    wrist_height = truth.joints_mm[:, 16, 2]
    assert wrist_height[75] > truth.joints_mm[75, 10, 2] > wrist_height[10]  # waves overhead mid-clip


def test_bad_sources_are_input_errors_naming_the_file(tmp_path):
    with pytest.raises(InputError, match="nothing.mp4: no such file"):
        pipeline.load_source(tmp_path / "nothing.mp4")
    odd = tmp_path / "clip.xyz"
    odd.write_text("?")
    with pytest.raises(InputError, match="clip.xyz: not a video"):
        pipeline.load_source(odd)


def test_cancel_before_start_raises_cancelled():
    kp, _ = synthetic_performer(frames=10)
    with pytest.raises(Cancelled):
        pipeline.run_pipeline(kp, cancel=lambda: True)


def test_clip_names():
    assert pipeline.clip_name("/a/pose_1.mp4") == "pose_1"
    assert pipeline.clip_name("demo.kp.json") == "demo"
    assert pipeline.clip_name("take.v2.MOV") == "take.v2"


def test_keypoints_are_cached_per_clip(media_dir, tmp_path):
    calls: list[float] = []
    kp, hit = pipeline.load_source(media_dir / "pose_1.mp4", cache_dir=tmp_path,
                                   progress=lambda stage, f: calls.append(f))
    assert not hit and kp.num_frames == 120 and calls
    cached = list(tmp_path.iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("pose_1-") and cached[0].name.endswith(".kp.json")
    again, hit = pipeline.load_source(media_dir / "pose_1.mp4", cache_dir=tmp_path)
    assert hit and np.allclose(again.xy, kp.xy, equal_nan=True, atol=0.01)
