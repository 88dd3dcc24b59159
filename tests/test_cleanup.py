"""Clean-up on real Human3.6M motion: bone lengths, root trajectory, world frame, foot contact, presets, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from engine import bones, contact, h36m, metrics, trajectory
from engine.cleanup import PRESETS, clean_pose
from engine.errors import InputError
from engine.skeleton import FEET
from engine.types import Keypoints2D, Pose3D

FPS = h36m.FPS


@pytest.fixture(scope="module")
def walking(h36m_dir) -> dict:
    """S9/Walking 1, first 12 s, seen by camera 0: world GT, camera GT, exact 2D."""
    world = h36m.load_poses(["S9"])["S9/Walking 1"][:600].astype(np.float64)
    cam = h36m.load_cameras()["S9"][0]
    cam_pts = cam.world_to_camera(world)
    return {"world": world, "cam": cam, "cam_pts": cam_pts, "rel": cam_pts - cam_pts[:, :1], "uv": cam.project(world)}


def _kp(uv: np.ndarray, cam: h36m.Camera) -> Keypoints2D:
    return Keypoints2D(xy=uv, conf=np.full(uv.shape[:2], 0.9), fps=FPS, width=cam.width, height=cam.height)


def _lifter_like_noise(rel: np.ndarray, seed: int = 0) -> np.ndarray:
    """Slow per-joint bias (1 Hz low-passed, 25 mm rms) + white jitter (4 mm rms, 8 mm in depth), pelvis at 0."""
    from engine.smoothing import butterworth_zero_phase

    rng = np.random.default_rng(seed)
    slow = butterworth_zero_phase(rng.standard_normal((len(rel) + 200, 17, 3)), FPS, 1.0)[100:-100]
    noisy = rel + slow * (25.0 / slow.std()) + rng.standard_normal(rel.shape) * np.array([4.0, 4.0, 8.0])
    return noisy - noisy[:, :1]


def _back_to_camera_rel(out: Pose3D) -> np.ndarray:
    inv = np.linalg.inv(np.array(out.meta["cleanup"]["world_from_camera"]))
    cam = out.joints_mm @ inv[:3, :3].T + inv[:3, 3]
    return cam - cam[:, :1]


# ---- bone lengths -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["projection", "chain"])
def test_bone_lengths_exact_after_reimposition(walking, method: str) -> None:
    noisy = _lifter_like_noise(walking["rel"][:200])
    target = bones.median_bone_lengths(noisy)
    fixed = bones.impose_bone_lengths(noisy, target, method=method)
    np.testing.assert_allclose(bones.bone_lengths(fixed), np.broadcast_to(target, (200, 16)), atol=1e-6)
    np.testing.assert_array_equal(fixed[:, 0], noisy[:, 0])  # the pelvis stays


def test_chain_keeps_every_bone_direction(walking) -> None:
    noisy = _lifter_like_noise(walking["rel"][:100])
    fixed = bones.impose_bone_lengths(noisy, bones.REFERENCE_BONE_LENGTHS_MM, method="chain")
    for child, parent in ((3, 2), (13, 12), (10, 9)):
        before = noisy[:, child] - noisy[:, parent]
        after = fixed[:, child] - fixed[:, parent]
        cos = (before * after).sum(-1) / np.linalg.norm(before, axis=-1) / np.linalg.norm(after, axis=-1)
        assert cos.min() > 1 - 1e-9


def test_projection_moves_joints_less_than_chain(walking) -> None:
    gt = walking["rel"][:300]
    noisy = _lifter_like_noise(gt, seed=1)
    lengths = bones.median_bone_lengths(gt)
    chain = metrics.mpjpe(bones.impose_bone_lengths(noisy, lengths, method="chain"), gt)
    projection = metrics.mpjpe(bones.impose_bone_lengths(noisy, lengths), gt)
    print(f"MPJPE noisy {metrics.mpjpe(noisy, gt):.2f}, projection {projection:.2f}, chain {chain:.2f}")
    assert projection < chain


def test_lengths_for_height() -> None:
    lengths = bones.lengths_for_height(1800.0)
    assert bones.stature_mm(lengths) == pytest.approx(1800.0)
    ratio = lengths / bones.REFERENCE_BONE_LENGTHS_MM
    np.testing.assert_allclose(ratio, ratio[0])  # same proportions
    with pytest.raises(ValueError, match="height"):
        bones.lengths_for_height(0.0)


# ---- trajectory and world frame ---------------------------------------------------------------------------------


def test_root_path_recovered_from_projected_ground_truth(walking) -> None:
    cam = walking["cam"]
    root = trajectory.estimate_root_camera(
        walking["rel"], _kp(walking["uv"], cam), focal_px=float(cam.f[0]), centre_px=tuple(cam.c)
    )
    err = np.linalg.norm(root - walking["cam_pts"][:, 0], axis=-1)
    depth = walking["cam_pts"][:, 0, 2]
    print(f"root path error, known camera: mean {err.mean():.1f} mm, max {err.max():.1f} mm, depth {depth.mean():.0f}")
    assert err.mean() < 0.02 * depth.mean()  # lens distortion is the only thing the pinhole leaves out
    # default field of view: depth is off by the focal ratio, side-to-side motion barely moves
    default = trajectory.estimate_root_camera(walking["rel"], _kp(walking["uv"], cam), centre_px=tuple(cam.c))
    ratio = trajectory.default_focal_px(cam.width, cam.height) / cam.f[0]
    np.testing.assert_allclose(np.median(default[:, 2] / root[:, 2]), ratio, rtol=0.03)


def test_world_frame_z_up_feet_on_ground_facing_minus_y(walking) -> None:
    cam = walking["cam"]
    M = trajectory.fit_world_frame(walking["cam_pts"], fps=FPS)
    world = trajectory.to_world(walking["cam_pts"], M)
    true_up_in_cam = cam.R[:, 2]  # world Z axis seen from the camera
    angle = np.degrees(np.arccos(np.clip(M[2, :3] @ true_up_in_cam, -1, 1)))
    assert angle < 2.0, f"ground plane off by {angle:.2f} deg"
    lowest = world[:, list(FEET), 2].min(axis=1)
    assert np.percentile(lowest, 20) == pytest.approx(trajectory.ANKLE_HEIGHT_MM, abs=1.0)
    assert lowest.min() > 0  # no ankle below the floor
    np.testing.assert_allclose(world[0, 0, :2], 0.0, atol=1e-6)  # pelvis starts above the origin
    left = world[0, [4, 11], :2].mean(0) - world[0, [1, 14], :2].mean(0)  # body's left, horizontal
    forward = np.array([left[1], -left[0]])  # left x up
    assert forward[1] < -0.9 * np.linalg.norm(forward)  # facing -Y
    # heights match the real floor up to the ankle-height convention
    gt_offset = np.median(world[:, 10, 2] - walking["world"][:, 10, 2])
    np.testing.assert_allclose(world[:, 10, 2] - walking["world"][:, 10, 2], gt_offset, atol=25.0)


# ---- foot contact -----------------------------------------------------------------------------------------------


def test_contact_on_h36m_walking(walking) -> None:
    world = walking["world"]  # the real floor; ankles rest ~40-60 mm above it in this data
    weight = contact.detect_contact(world, FPS, ankle_height_mm=50.0)
    planted = weight >= 0.5
    for foot in range(2):
        runs = contact._runs(planted[:, foot])
        assert 6 <= len(runs) <= 20, f"foot {foot}: {len(runs)} steps in 12 s of walking"
        assert 0.2 < planted[:, foot].mean() < 0.7
        assert all(b - a >= 0.12 * FPS for a, b in contact._runs(weight[:, foot] > 0))  # minimum run
    assert (planted[:, 0] != planted[:, 1]).mean() > 0.4  # feet alternate
    # planted ankles hardly move; swinging ones do
    step = np.linalg.norm(np.diff(world[:, list(FEET), :2], axis=0), axis=-1)
    assert contact.foot_skating_mm(world, weight) < 3.0 < step[~planted[1:]].mean()
    # eased: weights take values between 0 and 1 at the ends of each contact, never jump 0 -> 1
    assert np.abs(np.diff(weight, axis=0)).max() < 0.6
    targets = contact.foot_targets(world, weight)
    for foot in range(2):
        a, b = contact._runs(weight[:, foot] >= 0.999)[1]
        assert np.ptp(targets[a:b, foot], axis=0).max() == 0.0  # locked inside a contact
        free = weight[:, foot] == 0
        np.testing.assert_array_equal(targets[free, foot], world[free][:, FEET[foot]])


def test_pin_feet_reaches_targets_keeping_leg_lengths(walking) -> None:
    world = walking["world"][:300]
    weight = contact.detect_contact(world, FPS, ankle_height_mm=50.0)
    targets = contact.foot_targets(world, weight)
    pinned = contact.pin_feet(world, weight, targets)
    full = weight >= 0.999
    for foot, ankle in enumerate(FEET):  # exact where the leg can reach; out of reach, pulled in along the leg
        miss = np.linalg.norm(pinned[full[:, foot], ankle] - targets[full[:, foot], foot], axis=-1)
        assert np.median(miss) < 1e-6 and miss.max() < 10.0
    np.testing.assert_allclose(bones.bone_lengths(pinned), bones.bone_lengths(world), atol=1e-6)
    assert contact.foot_skating_mm(pinned, weight) < 0.5 * contact.foot_skating_mm(world, weight)
    assert contact.foot_skating_mm(pinned, weight, threshold=0.999) < 0.1  # out-of-reach frames only


# ---- clean_pose end to end --------------------------------------------------------------------------------------


def test_film_preset_halves_acceleration_error_mpjpe_within_1mm(walking) -> None:
    gt = walking["rel"]
    noisy = _lifter_like_noise(gt, seed=2)
    kp = _kp(walking["uv"] + np.random.default_rng(3).normal(0, 3.0, walking["uv"].shape), walking["cam"])
    out = clean_pose(Pose3D(noisy, fps=FPS, source="S9/Walking 1"), kp, focal_px=float(walking["cam"].f[0]))
    cleaned = _back_to_camera_rel(out)
    before = metrics.accel_error(noisy, gt), metrics.mpjpe(noisy, gt)
    after = metrics.accel_error(cleaned, gt), metrics.mpjpe(cleaned, gt)
    print(f"film: accel {before[0]:.2f} -> {after[0]:.2f} mm/frame^2, MPJPE {before[1]:.1f} -> {after[1]:.1f} mm")
    assert after[0] <= 0.5 * before[0] and after[1] <= before[1] + 1.0
    assert out.space == "world" and out.contact.shape == (len(gt), 2) and out.foot_targets_mm.shape == (len(gt), 2, 3)
    assert 0 <= out.contact.min() and out.contact.max() <= 1 and out.contact.max() == 1
    assert np.ptp(bones.bone_lengths(out.joints_mm), axis=0).max() < 1e-3  # one length per bone, pinned legs too
    assert out.meta["cleanup"]["root_source"] == "keypoints"


def test_root_modes(walking) -> None:
    pose, kp = Pose3D(walking["rel"][:250], fps=FPS), _kp(walking["uv"][:250], walking["cam"])
    outs = {mode: clean_pose(pose, kp, root_motion=mode) for mode in trajectory.ROOT_MODES}
    on, in_place, vertical = outs["on"], outs["in_place"], outs["in_place_vertical"]
    walked = np.linalg.norm(on.joints_mm[-1, 0, :2] - on.joints_mm[0, 0, :2])
    truth = np.linalg.norm(walking["world"][249, 0, :2] - walking["world"][0, 0, :2])
    assert truth > 800 and abs(walked - truth) < 0.25 * truth, (walked, truth)
    np.testing.assert_allclose(in_place.joints_mm[:, 0, :2], 0.0, atol=1e-3)
    assert np.ptp(in_place.joints_mm[:, 0, 2]) < 1e-3
    np.testing.assert_allclose(vertical.joints_mm[:, 0, :2], 0.0, atol=1e-3)
    np.testing.assert_allclose(vertical.joints_mm[:, 0, 2], on.joints_mm[:, 0, 2], atol=1e-3)
    for out in outs.values():  # targets move with the body: same ankle-to-target offsets in every mode
        offsets = out.foot_targets_mm - out.joints_mm[:, list(FEET)]
        np.testing.assert_allclose(offsets, on.foot_targets_mm - on.joints_mm[:, list(FEET)], atol=1e-3)
        np.testing.assert_array_equal(out.contact, on.contact)


def test_without_keypoints_the_lower_foot_rests_on_the_ground(walking) -> None:
    out = clean_pose(Pose3D(walking["rel"][:200], fps=30.0), None, preset="responsive")
    assert out.meta["cleanup"]["root_source"] == "none"
    lowest = out.joints_mm[:, list(FEET), 2].min(axis=1)
    assert np.abs(lowest - trajectory.ANKLE_HEIGHT_MM).max() < 40.0
    assert np.ptp(out.joints_mm[:, 0, :2], axis=0).max() < 1e-6  # no horizontal root path to invent


def test_performer_height_scales_the_skeleton(walking) -> None:
    out = clean_pose(Pose3D(walking["rel"][:100], fps=FPS), _kp(walking["uv"][:100], walking["cam"]),
                     performer_height_mm=1500.0)
    lengths = bones.bone_lengths(out.joints_mm).mean(axis=0)
    assert bones.stature_mm(lengths) == pytest.approx(1500.0, rel=1e-4)


def test_none_preset_leaves_the_pose_alone(walking) -> None:
    rel = _lifter_like_noise(walking["rel"][:120])
    out = clean_pose(Pose3D(rel, fps=FPS), _kp(walking["uv"][:120], walking["cam"]), preset="none")
    np.testing.assert_allclose(_back_to_camera_rel(out), rel, atol=1e-2)
    assert PRESETS["none"].joint_filter == "none"


# ---- bad input --------------------------------------------------------------------------------------------------


def test_bad_input_gives_clear_errors(walking) -> None:
    rel = walking["rel"][:100].copy()
    with pytest.raises(InputError, match="1 frame"):
        clean_pose(Pose3D(rel[:1], fps=FPS))
    with pytest.raises(ValueError, match="fps"):
        Pose3D(rel, fps=0.0)
    long_gap = rel.copy()
    long_gap[20:60, 13] = np.nan
    with pytest.raises(InputError, match="l_wrist is NaN on frames 20-59"):
        clean_pose(Pose3D(long_gap, fps=FPS, source="clip.mp4"))
    all_nan = rel.copy()
    all_nan[:, 5] = np.nan
    with pytest.raises(InputError, match="l_knee is NaN on every frame"):
        clean_pose(Pose3D(all_nan, fps=FPS))
    with pytest.raises(InputError, match="preset"):
        clean_pose(Pose3D(rel, fps=FPS), preset="cinematic")
    with pytest.raises(InputError, match="root_motion"):
        clean_pose(Pose3D(rel, fps=FPS), root_motion="off")
    with pytest.raises(InputError, match="frames"):
        clean_pose(Pose3D(rel, fps=FPS), _kp(walking["uv"][:50], walking["cam"]))
    with pytest.raises(InputError, match="camera-space"):
        clean_pose(Pose3D(rel, fps=FPS, space="world"))
    with pytest.raises(InputError, match="focal"):
        clean_pose(Pose3D(rel, fps=FPS), focal_px=0.0)


def test_short_nan_runs_are_bridged(walking) -> None:
    rel = walking["rel"][:100].copy()
    rel[40:45, 16] = np.nan
    out = clean_pose(Pose3D(rel, fps=FPS), _kp(walking["uv"][:100], walking["cam"]))
    assert np.isfinite(out.joints_mm).all()


def test_two_frame_clip_is_cleaned(walking) -> None:
    out = clean_pose(Pose3D(walking["rel"][:2], fps=FPS), _kp(walking["uv"][:2], walking["cam"]))
    assert out.num_frames == 2 and np.isfinite(out.joints_mm).all()
