"""2D clean-up: confidence threshold, Hampel outliers, short gaps filled, long gaps bridged and marked."""

from __future__ import annotations

import numpy as np
import pytest

from engine.clean2d import CleanReport, clean_keypoints, hampel_outliers
from engine.errors import InputError
from engine.keypoint_io import load_keypoints
from engine.types import Keypoints2D


def smooth_clip(frames: int = 120, fps: float = 30.0) -> Keypoints2D:
    """Every joint moves on its own slow sine: smooth like real motion, so interpolation has a known answer."""
    t = np.arange(frames)[:, None, None] / fps
    rng = np.random.default_rng(1)
    base = rng.uniform(200, 800, size=(1, 17, 2))
    freq = rng.uniform(0.2, 1.0, size=(1, 17, 2))
    xy = base + 40.0 * np.sin(2 * np.pi * freq * t)
    return Keypoints2D(xy=xy, conf=np.full((frames, 17), 0.9), fps=fps, width=1000, height=1000, source="synthetic")


def test_clean_input_passes_through(media_dir):
    kp = load_keypoints(media_dir / "pose_squats.full.json", fps=5.0, width=720, height=1280)
    out, report = clean_keypoints(kp)
    assert isinstance(report, CleanReport)
    assert (report.frames, report.detection_rate, report.long_gaps, report.warnings) == (65, 1.0, [], [])
    assert report.mean_conf == pytest.approx(1.0)
    assert np.isfinite(out.xy).all() and not out.gaps.any()
    # squats at 5 fps jump a lot between frames; still almost every point is kept as it was
    assert np.median(np.linalg.norm(out.xy - kp.xy, axis=-1)) == 0.0
    assert report.outliers < 0.01 * kp.xy.size
    assert out.meta["clean"]["report"]["frames"] == 65


def test_spike_is_rejected_and_replaced():
    kp = smooth_clip()
    xy = kp.xy.copy()
    xy[50, 3] += (150.0, -90.0)  # a detector glitch on the right ankle
    out, report = clean_keypoints(kp.replace(xy=xy))
    assert report.outliers >= 1 and report.gaps_filled >= 1
    assert np.linalg.norm(out.xy[50, 3] - kp.xy[50, 3]) < 1.0
    untouched = np.ones(17, bool)
    untouched[3] = False
    np.testing.assert_allclose(out.xy[:, untouched], kp.xy[:, untouched], atol=1e-3)


def test_still_pose_noise_is_not_an_outlier():
    values = 300.0 + np.random.default_rng(2).normal(0, 0.3, 200)
    assert not hampel_outliers(values, np.ones(200, bool), window=7, sigmas=3.0, floor=2.0).any()
    values[100] += 40
    assert np.flatnonzero(hampel_outliers(values, np.ones(200, bool), window=7, sigmas=3.0, floor=2.0)) == [100]


def test_low_confidence_and_short_gaps_are_filled():
    kp = smooth_clip()
    conf = kp.conf.copy()
    conf[40:48, 13] = 0.2  # 8 frames of an unsure left wrist
    xy = kp.xy.copy()
    xy[60:66, :] = np.nan  # 6 frames with no person
    conf[60:66, :] = 0.0
    out, report = clean_keypoints(kp.replace(xy=xy, conf=conf), min_conf=0.5, max_gap=10)
    assert report.gaps_filled == 1 + 17
    assert np.isfinite(out.xy).all() and not out.gaps.any()
    assert np.abs(out.xy[40:48, 13] - kp.xy[40:48, 13]).max() < 1.0
    assert np.abs(out.xy[60:66] - kp.xy[60:66]).max() < 1.0
    assert np.all(out.conf[40:48, 13] == 0.5) and np.all(out.conf[60:66] == 0.5)
    assert report.detection_rate == pytest.approx(114 / 120)
    # a stricter threshold drops the same points again, a looser one keeps the unsure wrist as detected
    _, loose = clean_keypoints(kp.replace(xy=xy, conf=conf), min_conf=0.1)
    assert loose.gaps_filled == 17


def test_long_gap_is_bridged_and_marked():
    kp = smooth_clip()
    xy, conf = kp.xy.copy(), kp.conf.copy()
    xy[30:55] = np.nan
    conf[30:55] = 0.0
    xy[0:3, 5] = np.nan  # short gap at the start: held
    conf[0:3, 5] = 0.0
    out, report = clean_keypoints(kp.replace(xy=xy, conf=conf), max_gap=10)
    assert report.long_gaps == [(30, 55)]
    assert np.flatnonzero(out.gaps).tolist() == list(range(30, 55))
    assert np.isfinite(out.xy).all() and np.all(out.conf[30:55] == 0.0)
    np.testing.assert_allclose(out.xy[0:3, 5], np.repeat(kp.xy[3:4, 5], 3, axis=0), atol=1e-4)
    assert any("longer than 10" in w for w in report.warnings)


def test_never_seen_joint_and_nothing_seen():
    kp = smooth_clip(30)
    conf = kp.conf.copy()
    conf[:, 6] = 0.1  # left ankle out of the frame the whole clip
    out, report = clean_keypoints(kp.replace(conf=conf))
    assert any("l_ankle never seen" in w for w in report.warnings)
    assert np.isnan(out.xy[:, 6]).all() and np.isfinite(np.delete(out.xy, 6, axis=1)).all()
    assert not out.gaps.any()
    with pytest.raises(InputError, match="synthetic: no joint reaches confidence"):
        clean_keypoints(kp.replace(conf=np.zeros_like(conf)))
    with pytest.raises(ValueError, match="odd"):
        clean_keypoints(kp, hampel_window=6)
