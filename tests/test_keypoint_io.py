"""Keypoint files: our cache and every foreign format round-trip; malformed files give InputError, never a crash."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.blazepose import BLAZEPOSE_NAMES, BLAZEPOSE_TO_COCO, COCO_NAMES, blazepose_to_h36m
from engine.errors import InputError
from engine.keypoint_io import (
    EXPORT_FORMATS,
    atomic_write_bytes,
    export_keypoints,
    load_keypoints,
    save_keypoints,
)
from engine.types import Keypoints2D


@pytest.fixture(scope="module")
def squats_ref(media_dir: Path) -> Keypoints2D:
    """The reference BlazePose output of pose_squats.mp4, with a missing frame and gap marks added."""
    kp = load_keypoints(media_dir / "pose_squats.full.json", fps=5.0, width=720, height=1280)
    lm = kp.landmarks33.copy()
    lm[:, :, 3] = np.linspace(0.3, 1.0, 33)[None, :]  # varied visibilities, so confidences are exercised
    lm[7] = np.nan  # a frame with nobody
    xy, conf = blazepose_to_h36m(lm)
    conf = np.where(np.isfinite(xy).all(-1), conf, 0.0)
    gaps = np.zeros(kp.num_frames, bool)
    gaps[7] = True
    return kp.replace(xy=xy, conf=conf, landmarks33=lm, gaps=gaps, meta={"note": "test", "n": 3})


def test_reference_files_load_with_the_shared_mapping(media_dir):
    ref = np.array(json.loads((media_dir / "pose_squats.full.json").read_text()))
    kp = load_keypoints(media_dir / "pose_squats.full.json", fps=5.0, width=720, height=1280)
    assert (kp.num_frames, kp.fps, kp.width, kp.height, kp.meta["warnings"]) == (65, 5.0, 720, 1280, [])
    np.testing.assert_allclose(kp.landmarks33[..., :3], ref, atol=1e-3)
    named = load_keypoints(media_dir / "pose_1.json")  # COCO-named points, pixels, no size or fps in the file
    assert named.num_frames == 120 and np.isfinite(named.xy).all() and (named.conf == 1).all()
    assert any("assumed 30 fps" in w for w in named.meta["warnings"])
    assert any("image size" in w for w in named.meta["warnings"])
    first = json.loads((media_dir / "pose_1.json").read_text())[0]
    np.testing.assert_allclose(named.landmarks33[0, BLAZEPOSE_NAMES.index("left_knee"), :2],
                               [first["left_knee"]["x"], first["left_knee"]["y"]], atol=1e-3)


def test_own_format_round_trip(squats_ref, tmp_path):
    path = tmp_path / "clip.kp.json"
    save_keypoints(squats_ref, path)
    back = load_keypoints(path)
    np.testing.assert_allclose(back.xy, squats_ref.xy, atol=0.006, equal_nan=True)
    np.testing.assert_allclose(back.conf, squats_ref.conf, atol=6e-5)
    np.testing.assert_allclose(back.landmarks33, squats_ref.landmarks33, atol=0.006, equal_nan=True)
    assert (back.fps, back.width, back.height, back.source) == (5.0, 720, 1280, squats_ref.source)
    assert np.array_equal(back.gaps, squats_ref.gaps) and back.meta == squats_ref.meta
    assert [p.name for p in tmp_path.iterdir()] == ["clip.kp.json"]  # no temporary file left


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_foreign_formats_round_trip(squats_ref, tmp_path, fmt):
    suffix = {"coco": ".json", "openpose": "", "mediapipe-json": ".json", "mediapipe-csv": ".csv"}[fmt]
    path = tmp_path / f"out{suffix}"
    export_keypoints(squats_ref, path, fmt)
    back = load_keypoints(path, fps=5.0, width=720, height=1280)
    assert back.num_frames == squats_ref.num_frames and back.meta["warnings"] == []
    np.testing.assert_allclose(back.xy, squats_ref.xy, atol=0.01, equal_nan=True)
    np.testing.assert_allclose(back.conf, squats_ref.conf, atol=1e-3)
    keep = BLAZEPOSE_TO_COCO if fmt in ("coco", "openpose") else np.arange(33)
    np.testing.assert_allclose(back.landmarks33[:, keep, :2], squats_ref.landmarks33[:, keep, :2], atol=0.01,
                               equal_nan=True)


def test_coco_ground_truth_mmpose_and_long_csv(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.uniform(50, 400, size=(3, 17, 2))
    gt = {"images": [{"id": 10 + t, "width": 640, "height": 480} for t in range(3)],
          "annotations": [{"image_id": 10 + t, "keypoints": np.concatenate([pts[t], np.full((17, 1), 2)], 1)
                           .ravel().tolist()} for t in range(3)]}
    gt["annotations"][1]["keypoints"][2] = 0  # frame 1: nose unlabelled
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    kp = load_keypoints(tmp_path / "gt.json", fps=25)
    assert (kp.num_frames, kp.width, kp.height) == (3, 640, 480)
    assert kp.conf[1, 9] == 0 and kp.conf[0, 9] == 1  # neck/nose needs the nose
    mm = [{"frame_id": t, "instances": [{"keypoints": pts[t].tolist(), "keypoint_scores": [0.9] * 17}]}
          for t in range(3)]
    (tmp_path / "mm.json").write_text(json.dumps(mm))
    kp2 = load_keypoints(tmp_path / "mm.json", fps=25, width=640, height=480)
    np.testing.assert_allclose(kp2.xy[[0, 2]], kp.xy[[0, 2]], atol=1e-6)
    assert np.isnan(kp.xy[1, 9]).all() and np.isfinite(kp2.xy[1, 9]).all()
    with (tmp_path / "long.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "landmark", "x", "y", "z", "visibility"])
        for t in range(3):
            for name, (x, y) in zip(COCO_NAMES, pts[t], strict=True):
                w.writerow([t, name, x / 640, y / 480, 0.0, 0.9])  # normalized, as MediaPipe gives them
    with pytest.raises(InputError, match="normalized"):
        load_keypoints(tmp_path / "long.csv")
    kp3 = load_keypoints(tmp_path / "long.csv", fps=25, width=640, height=480)
    np.testing.assert_allclose(kp3.xy, kp2.xy, atol=1e-3)


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "keep.kp.json"
    path.write_text("old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # fails while writing
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.kp.json"]


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(InputError, match="nope.json: file not found"):
        load_keypoints(tmp_path / "nope.json")
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(InputError, match="empty_folder: not a keypoint file"):
        load_keypoints(tmp_path / "empty_folder")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=40) | st.dictionaries(
        st.sampled_from(["format", "version", "joints", "xy", "conf", "fps", "width", "height", "frames", "people",
                         "annotations", "images", "keypoints", "image_id", "instances", "x", "y", "nose",
                         "pose_keypoints_2d", "landmarks33", "gaps", "meta"]) | st.text(max_size=6),
        children, max_size=8),
    max_leaves=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=json_values)
def test_malformed_json_gives_input_error(tmp_path, doc):
    path = tmp_path / "any.json"
    path.write_text(json.dumps(doc))
    try:
        kp = load_keypoints(path)
    except InputError as exc:
        assert "any.json" in str(exc)
    else:
        assert isinstance(kp, Keypoints2D) and kp.num_frames > 0


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_files_give_input_error(squats_ref, tmp_path, data):
    fmt = data.draw(st.sampled_from(["ours", "mediapipe-csv", "coco"]))
    path = tmp_path / ("c.kp.json" if fmt == "ours" else "c.csv" if fmt == "mediapipe-csv" else "c.json")
    short = squats_ref.replace(xy=squats_ref.xy[:3], conf=squats_ref.conf[:3],
                               landmarks33=squats_ref.landmarks33[:3], gaps=squats_ref.gaps[:3])
    save_keypoints(short, path) if fmt == "ours" else export_keypoints(short, path, fmt)
    raw = bytearray(path.read_bytes())
    cut = data.draw(st.integers(0, len(raw)))
    edits = data.draw(st.lists(st.tuples(st.integers(0, max(0, cut - 1)), st.integers(0, 255)), max_size=6))
    raw = raw[:cut]
    for at, byte in edits:
        if at < len(raw):
            raw[at] = byte
    path.write_bytes(bytes(raw))
    try:
        kp = load_keypoints(path, fps=5.0, width=720, height=1280)
    except InputError as exc:
        assert path.name in str(exc)
    else:
        assert isinstance(kp, Keypoints2D)
