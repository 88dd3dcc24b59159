"""MediaPipe detection on the real clips in ../shared/media, and the BlazePose -> Human3.6M mapping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.blazepose import BLAZEPOSE_TO_COCO, coco17_to_h36m
from engine.detect import detect_image, detect_video
from engine.errors import Cancelled
from engine.skeleton import JOINT_INDEX
from engine.types import Keypoints2D

# Measured on this 2-core x86_64 machine (mediapipe 0.10.21, complexity 1, tracking): our 33 landmarks vs the
# tfjs BlazePose-full reference output of pose_squats.mp4 (720x1280): median 3.6 px, 90th percentile 6.9 px.
SQUATS_MEDIAN_BOUND_PX = 6.0
SQUATS_P90_BOUND_PX = 12.0


@pytest.fixture(scope="session")
def pose1(media_dir: Path) -> tuple[Keypoints2D, list[tuple[int, int | None]]]:
    calls: list[tuple[int, int | None]] = []
    kp = detect_video(media_dir / "pose_1.mp4", progress=lambda done, total: calls.append((done, total)))
    return kp, calls


@pytest.fixture(scope="session")
def squats(media_dir: Path) -> Keypoints2D:
    return detect_video(media_dir / "pose_squats.mp4")


def test_pose1_detected_in_95_percent_of_frames(pose1):
    kp, _ = pose1
    assert (kp.num_frames, kp.width, kp.height, kp.fps) == (120, 576, 576, 30.0)
    detected = np.isfinite(kp.landmarks33[:, 0, 0])
    assert detected.mean() >= 0.95
    assert kp.meta["fps_source"] == "container" and kp.meta["rotation"] == 0
    # the 17 joints are inside the frame, confident, and the skeleton is upright (head above pelvis, feet below)
    xy = kp.xy[detected]
    assert np.nanmedian(kp.conf[detected]) > 0.8
    assert np.all((xy[..., 0] > -20) & (xy[..., 0] < 596))
    head, pelvis, ankles = JOINT_INDEX["head"], JOINT_INDEX["pelvis"], [JOINT_INDEX["l_ankle"], JOINT_INDEX["r_ankle"]]
    assert np.all(xy[:, head, 1] < xy[:, pelvis, 1]) and np.all(xy[:, ankles, 1] > xy[:, None, pelvis, 1])


def test_progress_reports_every_frame_against_header_total(pose1):
    kp, calls = pose1
    assert [done for done, _ in calls] == list(range(1, kp.num_frames + 1))
    assert {total for _, total in calls} == {120}


def test_pose1_agrees_with_its_reference_keypoints(pose1, media_dir):
    # pose_1.json holds the COCO-17 subset (tfjs output) in pixels
    kp, _ = pose1
    ref = json.loads((media_dir / "pose_1.json").read_text())
    from engine.blazepose import COCO_NAMES

    ref_xy = np.array([[[f[n]["x"], f[n]["y"]] for n in COCO_NAMES] for f in ref])
    err = np.linalg.norm(kp.landmarks33[:, BLAZEPOSE_TO_COCO, :2] - ref_xy, axis=-1)
    assert np.nanmedian(err) < 8.0  # measured 3.6 px on a 576x576 clip


def test_squats_agree_with_blazepose_reference(squats, media_dir):
    ref = np.array(json.loads((media_dir / "pose_squats.full.json").read_text()))  # (65, 33, 3) pixels
    assert (squats.num_frames, squats.width, squats.height, squats.fps) == (65, 720, 1280, 5.0)
    err = np.linalg.norm(squats.landmarks33[..., :2] - ref[..., :2], axis=-1)
    assert np.isfinite(err).all()
    assert np.median(err) < SQUATS_MEDIAN_BOUND_PX
    assert np.percentile(err, 90) < SQUATS_P90_BOUND_PX
    # the same mapping applied to the reference gives the same 17 joints
    ref_lm = np.concatenate([ref[..., :2], np.zeros_like(ref[..., :1]), np.ones_like(ref[..., :1])], axis=-1)
    from engine.blazepose import blazepose_to_h36m

    ref17, _ = blazepose_to_h36m(ref_lm)
    assert np.median(np.linalg.norm(squats.xy - ref17, axis=-1)) < SQUATS_MEDIAN_BOUND_PX


def test_still_image_gives_one_confident_frame(media_dir):
    kp = detect_image(media_dir / "pose.jpg")
    assert (kp.num_frames, kp.width, kp.height) == (1, 1000, 667)
    assert kp.xy.shape == (1, 17, 2) and kp.landmarks33.shape == (1, 33, 4)
    assert (kp.conf[0] > 0.5).sum() >= 15
    inside = (kp.xy[0, :, 0] >= 0) & (kp.xy[0, :, 0] < 1000) & (kp.xy[0, :, 1] >= 0) & (kp.xy[0, :, 1] < 667)
    assert inside.all()
    assert kp.xy[0, JOINT_INDEX["head"], 1] < kp.xy[0, JOINT_INDEX["thorax"], 1] < kp.xy[0, JOINT_INDEX["pelvis"], 1]


def test_cancel_stops_detection_and_raises(media_dir):
    done: list[int] = []
    with pytest.raises(Cancelled, match="pose_1.mp4"):
        detect_video(media_dir / "pose_1.mp4", progress=lambda d, t: done.append(d), cancel=lambda: len(done) >= 3)
    assert done == [1, 2, 3]


def test_mapping_matches_human36m_proportions(h36m_dir, media_dir):
    """The mapping applied to BlazePose's own 3D world landmarks gives Human3.6M's proportions (see blazepose.py)."""
    world = np.array(json.loads((media_dir / "pose_squats_3d.full.json").read_text())) * 1000.0  # (65, 33, 3) mm
    ours, _ = coco17_to_h36m(world[:, BLAZEPOSE_TO_COCO], np.ones((world.shape[0], 17)))
    data = np.load(h36m_dir / "poses3d_17j.npz")
    h36m = np.concatenate([data[k][::20] for k in list(data.keys())[:20]]).astype(np.float64)

    def ratios(p: np.ndarray) -> np.ndarray:
        torso = np.linalg.norm(p[:, 8] - p[:, 0], axis=-1)
        pairs = [(1, 4), (8, 9), (9, 10), (0, 7)]  # hip width, neck, head, pelvis-spine
        return np.array([np.median(np.linalg.norm(p[:, a] - p[:, b], axis=-1) / torso) for a, b in pairs])

    ref, got = ratios(h36m), ratios(ours)
    assert np.all(np.abs(got / ref - 1) < 0.25), (got, ref)
    # without the corrections the hips would be a third too narrow and the neck far too long
    plain_hips = np.median(np.linalg.norm(world[:, 23] - world[:, 24], axis=-1) /
                           np.linalg.norm((world[:, 11] + world[:, 12] - world[:, 23] - world[:, 24]) / 2, axis=-1))
    assert abs(plain_hips / ref[0] - 1) > 0.25


def test_cli_writes_cache_and_preview(media_dir, tmp_path, capsys):
    import cv2

    from engine.__main__ import main as engine_main
    from engine.keypoint_io import load_keypoints

    out, sheet = tmp_path / "squats.kp.json", tmp_path / "sheet.png"
    assert engine_main(["detect", str(media_dir / "pose_squats.mp4"), "-o", str(out), "--preview", str(sheet)]) == 0
    kp = load_keypoints(out)
    assert (kp.num_frames, kp.fps, kp.width, kp.height) == (65, 5.0, 720, 1280)
    assert kp.landmarks33 is not None and kp.meta["fps_source"] == "container"
    image = cv2.imread(str(sheet))
    assert image is not None and image.shape[1] == 4 * 240 and image.shape[0] >= 3 * 400  # 12 tiles, 4 a row
    printed = capsys.readouterr()
    assert "65 frames, 100.0% detected" in printed.out and "65/65" in printed.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png", "squats.kp.json"]
