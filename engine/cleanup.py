"""Clean-up between lifting and retargeting: smooth, fix bone lengths, place in the world, find foot contacts.

    clean_pose(pose, kp) -> Pose3D(space="world")

Order of the steps, and why:
1. Bridge short NaN runs (longer ones are an error: clean-up cannot invent a second of motion).
2. Smooth the root-relative joints (preset filter). Before bone lengths, because a low-pass shortens fast-moving
   limbs a little; re-imposing afterwards puts the length back.
3. Re-impose one length per bone (median over the clip, or scaled to the performer's height).
4. Root path in the camera frame from the 2D keypoints (trajectory.estimate_root_camera), smoothed harder than the
   joints (depth from apparent size is the noisiest thing we estimate).
5. World frame from the ground plane under the feet (Z up, soles on Z = 0, facing -Y at frame 0).
6. Foot contacts, locked targets, and (film, responsive) two-bone IK that pins the ankles to them.
7. Root mode: on, in place, or in place keeping the vertical motion.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from . import bones, contact, smoothing, trajectory
from .errors import InputError
from .skeleton import FEET, JOINT_NAMES
from .types import Keypoints2D, Pose3D

__all__ = ["Preset", "PRESETS", "clean_pose", "smooth_joints"]

Filter = Literal["butterworth", "one_euro", "none"]


@dataclass(frozen=True)
class Preset:
    """Clean-up settings. Cut-offs in Hz; for One Euro, `*_cutoff_hz` is min_cutoff and beta (joints) and
    root_beta (root path) are in Hz per mm/s."""

    name: str
    joint_filter: Filter
    joint_cutoff_hz: float
    root_cutoff_hz: float
    depth_cutoff_hz: float = 0.0  # the root's distance from the camera (0: same as root_cutoff_hz)
    beta: float = 0.0
    root_beta: float = 0.0
    fix_bone_lengths: bool = True
    pin_feet: bool = True


PRESETS: dict[str, Preset] = {
    # zero-phase 4th-order Butterworth, 6 Hz joints (Pose2Sim 6 Hz, FreeMoCap 7 Hz), 2.5 Hz root path across the
    # image, 0.5 Hz toward the camera (depth from apparent size wobbles with every error in limb length)
    "film": Preset("film", "butterworth", 6.0, 2.5, depth_cutoff_hz=0.5),
    # forward-backward One Euro (min_cutoff 1 Hz, d_cutoff 1 Hz): still holds, sharp fast moves
    "responsive": Preset("responsive", "one_euro", 1.0, 0.5, depth_cutoff_hz=0.3, beta=0.01),
    # no smoothing, no length or foot fixes: only placed in the world
    "none": Preset("none", "none", 0.0, 0.0, fix_bone_lengths=False, pin_feet=False),
}
_MAX_NAN_RUN_S = 0.2  # bridge NaN runs up to this long (at least 10 frames, the 2D stage's own gap limit)
_DEFAULT_DEPTH_MM = 4000.0  # where the performer stands when there are no 2D keypoints to place them


def smooth_joints(
    x: np.ndarray, fps: float, preset: Preset, cutoff_hz: float | None = None, *, root: bool = False
) -> np.ndarray:
    """Apply a preset's filter to a (T, ...) array along time: at its joint cut-off, its root cut-off (root=True),
    or `cutoff_hz` when given."""
    cutoff = cutoff_hz if cutoff_hz else preset.root_cutoff_hz if root else preset.joint_cutoff_hz
    if preset.joint_filter == "butterworth":
        return smoothing.butterworth_zero_phase(x, fps, cutoff, order=4)
    if preset.joint_filter == "one_euro":
        beta = preset.root_beta if root else preset.beta
        return smoothing.one_euro_forward_backward(x, fps, min_cutoff=cutoff, beta=beta, d_cutoff=1.0)
    return np.asarray(x, dtype=np.float64).copy()


def _bridge_nan_runs(joints: np.ndarray, fps: float, source: str) -> np.ndarray:
    bad = np.isnan(joints).any(axis=-1)  # (T, 17)
    if not bad.any():
        return joints
    limit = max(10, int(round(_MAX_NAN_RUN_S * fps)))
    for j in range(joints.shape[1]):
        if bad[:, j].all():
            raise InputError(f"{source}: joint {JOINT_NAMES[j]} is NaN on every frame; nothing to clean up")
        for a, b in contact._runs(bad[:, j]):
            if b - a > limit:
                raise InputError(
                    f"{source}: joint {JOINT_NAMES[j]} is NaN on frames {a}-{b - 1} ({b - a} frames, more than "
                    f"{limit}); cut the clip there or fill the gap before clean-up"
                )
    return smoothing.bridge_nan_gaps(joints)[0]


def _ground_lowest_foot(world: np.ndarray, fps: float, preset: Preset) -> np.ndarray:
    """Without a root path: lift or lower each frame so its lower ankle rests on the ground (no jumps possible)."""
    lowest = world[:, list(FEET), 2].min(axis=1)
    shift = trajectory.ANKLE_HEIGHT_MM - lowest
    shift = smooth_joints(shift, fps, preset, root=True) if preset.joint_filter != "none" else shift
    return world + np.stack([np.zeros_like(shift), np.zeros_like(shift), shift], axis=-1)[:, None, :]


def clean_pose(
    pose: Pose3D,
    kp: Keypoints2D | None = None,
    *,
    preset: str | Preset = "film",
    root_motion: str = "on",
    focal_px: float | None = None,
    performer_height_mm: float | None = None,
) -> Pose3D:
    """Root-relative camera-space lifter output (+ its 2D keypoints) -> world-space Pose3D ready for retargeting.

    Returns space="world" (Z up, soles on Z = 0, mm, facing -Y at frame 0) with contact (T, 2) and
    foot_targets_mm (T, 2, 3) (left, right) filled, root_camera_mm the estimated pelvis path in the camera frame,
    and meta["cleanup"] recording the preset, focal length, bone lengths and the 4x4 world_from_camera.
    preset: "film" | "responsive" | "none", or a Preset of one's own.
    Without kp the root path cannot be estimated: the pelvis stays above the origin and each frame is lowered
    onto its lower foot (pose.root_camera_mm is used instead when the pose carries one).
    """
    source = pose.source or "pose"
    if not isinstance(preset, Preset) and preset not in PRESETS:
        raise InputError(f"unknown clean-up preset {preset!r}; choose one of {tuple(PRESETS)}")
    if root_motion not in trajectory.ROOT_MODES:
        raise InputError(f"root_motion must be one of {trajectory.ROOT_MODES}, got {root_motion!r}")
    if pose.space != "camera":
        raise InputError(f"{source}: clean_pose expects the lifter's camera-space pose, got space={pose.space!r}")
    if pose.num_frames < 2:
        raise InputError(f"{source}: a clip of {pose.num_frames} frame(s) cannot be cleaned up; at least 2 needed")
    if focal_px is not None and not (math.isfinite(focal_px) and focal_px > 0):
        raise InputError(f"focal length must be a positive number of pixels, got {focal_px!r}")
    settings = preset if isinstance(preset, Preset) else PRESETS[preset]
    fps = pose.fps
    joints = _bridge_nan_runs(pose.joints_mm.astype(np.float64), fps, source)
    rel = joints - joints[:, :1]

    # 2-3: smoothing, then one length per bone
    measured = bones.median_bone_lengths(rel)
    if performer_height_mm is not None:
        lengths = bones.lengths_for_height(performer_height_mm, reference=measured)
    else:
        lengths = measured
    if settings.joint_filter != "none":
        rel = smooth_joints(rel, fps, settings)
        rel -= rel[:, :1]
    if settings.fix_bone_lengths:
        rel = bones.impose_bone_lengths(rel, lengths)
    else:
        rel = rel * (float(lengths[0] / measured[0]))  # only a height: scale uniformly

    # 4: root path in the camera frame
    if kp is not None:
        focal = trajectory.default_focal_px(kp.width, kp.height) if focal_px is None else float(focal_px)
        root = trajectory.estimate_root_camera(rel, kp, focal_px=focal)
        root_source = "keypoints"
    elif pose.root_camera_mm is not None:
        focal, root, root_source = focal_px, pose.root_camera_mm.astype(np.float64), "pose"
    else:
        focal, root_source = focal_px, "none"
        root = np.tile([0.0, 0.0, _DEFAULT_DEPTH_MM], (pose.num_frames, 1))
    if settings.joint_filter != "none" and root_source != "none":
        depth = settings.depth_cutoff_hz or settings.root_cutoff_hz
        across = smooth_joints(root[:, :2], fps, settings, root=True)
        root = np.concatenate([across, smooth_joints(root[:, 2:], fps, settings, depth, root=True)], axis=1)

    # 5: world frame from the ground under the feet
    cam = rel + root[:, None, :]
    world_from_camera = trajectory.fit_world_frame(cam, fps=fps)
    world = trajectory.to_world(cam, world_from_camera)
    if root_source == "none":
        world = _ground_lowest_foot(world, fps, settings)

    # 6: contacts, locked targets, pinned ankles
    weights = contact.detect_contact(world, fps)
    targets = contact.foot_targets(world, weights)
    if settings.pin_feet:
        world = contact.pin_feet(world, weights, targets)

    # 7: root mode
    world, offset = trajectory.apply_root_mode(world, root_motion)
    targets = targets + offset[:, None, :]

    meta = dict(pose.meta)
    meta["cleanup"] = {
        "preset": asdict(settings),
        "root_motion": root_motion,
        "root_source": root_source,
        "focal_px": focal,
        "bone_lengths_mm": [round(float(v), 2) for v in lengths],
        "world_from_camera": world_from_camera.tolist(),
    }
    return Pose3D(
        joints_mm=world,
        fps=fps,
        space="world",
        root_camera_mm=root,
        contact=weights,
        foot_targets_mm=targets,
        source=pose.source,
        meta=meta,
    )
