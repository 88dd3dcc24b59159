"""A synthetic performer made by our own code: the demo's default clip, free of any licensed footage.

A procedural walk with arm swing and a two-handed wave, as 17 Human3.6M joints in world millimetres (Z up),
then projected through a virtual pinhole camera to `Keypoints2D`. Nothing here is fitted to data: bone lengths
are round numbers close to an adult's, and the gait is a sum of sines at the step frequency.
"""

from __future__ import annotations

import numpy as np

from .types import Keypoints2D, Pose3D

# bone lengths, mm
HIP_HALF_WIDTH = 110.0
THIGH, SHIN = 440.0, 430.0
PELVIS_TO_SPINE, SPINE_TO_THORAX, THORAX_TO_NECK, NECK_TO_HEAD = 230.0, 250.0, 110.0, 120.0
SHOULDER_HALF_WIDTH = 170.0
UPPER_ARM, FOREARM = 280.0, 250.0


def _rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(angle.shape + (3, 3))
    m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1], m[..., 2, 2] = c, -s, s, c, 1.0
    return m


def _limb(root: np.ndarray, swing: np.ndarray, bend: np.ndarray, l1: float, l2: float, down: float = -1.0):
    """Two-bone chain hanging along `down`*Z, swung by `swing` about the body's side axis (X), the second bone bent
    further by `bend`. Returns (middle, end) in the body frame: X right, Y forward, Z up."""
    d1 = np.stack([np.zeros_like(swing), np.sin(swing), down * np.cos(swing)], -1)
    a2 = swing + bend
    d2 = np.stack([np.zeros_like(a2), np.sin(a2), down * np.cos(a2)], -1)
    middle = root + l1 * d1
    return middle, middle + l2 * d2


def walk_world(frames: int = 150, fps: float = 30.0, *, step_hz: float = 0.9, speed_mm_s: float = 600.0) -> np.ndarray:
    """(frames, 17, 3) world joints, mm, Z up: walking along +Y, waving both arms overhead in the middle third."""
    t = np.arange(frames) / fps
    phase = 2 * np.pi * step_hz * t
    # body frame: facing +Y, Z up, so the performer's right is +X
    pelvis = np.stack([np.zeros_like(t), np.zeros_like(t), 930.0 + 25.0 * np.cos(2 * phase)], -1)
    joints = np.zeros((frames, 17, 3))
    joints[:, 0] = pelvis
    leg_swing = 0.38 * np.sin(phase)
    for side, (hip, knee, ankle), sign in (("r", (1, 2, 3), 1.0), ("l", (4, 5, 6), -1.0)):
        swing = leg_swing * (1.0 if side == "r" else -1.0)
        # the knee bends most while the leg swings forward (rising half of the swing)
        bend = -0.25 - 0.55 * np.clip(np.cos(phase + (0 if side == "r" else np.pi)), 0, None)
        hip_pos = pelvis + np.array([sign * HIP_HALF_WIDTH, 0.0, 0.0])
        knee_pos, ankle_pos = _limb(hip_pos, swing, bend, THIGH, SHIN)
        joints[:, hip], joints[:, knee], joints[:, ankle] = hip_pos, knee_pos, ankle_pos
    lean = 0.06
    up = np.array([0.0, np.sin(lean), np.cos(lean)])
    joints[:, 7] = pelvis + PELVIS_TO_SPINE * up
    joints[:, 8] = joints[:, 7] + SPINE_TO_THORAX * up
    joints[:, 9] = joints[:, 8] + THORAX_TO_NECK * up + np.array([0.0, 30.0, 0.0])
    joints[:, 10] = joints[:, 9] + NECK_TO_HEAD * up
    # arms swing against the legs, then wave overhead between 1/3 and 2/3 of the clip
    wave = np.clip(np.sin(np.pi * (t / t[-1] - 1 / 3) * 3), 0, None) if frames > 1 else np.zeros_like(t)
    wave = np.where((t / max(t[-1], 1e-9) > 1 / 3) & (t / max(t[-1], 1e-9) < 2 / 3), wave, 0.0)
    for (shoulder, elbow, wrist), sign, arm_sign in (((14, 15, 16), 1.0, 1.0), ((11, 12, 13), -1.0, -1.0)):
        shoulder_pos = joints[:, 8] + np.array([sign * SHOULDER_HALF_WIDTH, 0.0, -20.0])
        swing = arm_sign * 0.35 * np.sin(phase) * (1 - wave) + wave * 2.6
        bend = 0.35 * (1 - wave) + wave * (0.5 + 0.4 * np.sin(4 * phase))
        elbow_pos, wrist_pos = _limb(shoulder_pos, swing, bend, UPPER_ARM, FOREARM)
        joints[:, shoulder], joints[:, elbow], joints[:, wrist] = shoulder_pos, elbow_pos, wrist_pos
    # walk forward, turning gently, and drop the feet onto the floor
    heading = 0.35 * np.sin(2 * np.pi * t / max(t[-1], 1e-9))
    travel_y = np.cumsum(np.cos(heading)) * speed_mm_s / fps
    travel_x = -np.cumsum(np.sin(heading)) * speed_mm_s / fps
    rotated = np.einsum("tij,tkj->tki", _rot_z(heading), joints - joints[:, :1] * np.array([1, 1, 0]))
    rotated += np.stack([travel_x, travel_y, np.zeros_like(t)], -1)[:, None]
    rotated[..., 2] -= rotated[:, [3, 6], 2].min() - 80.0  # ankles ~8 cm above the floor at their lowest
    return rotated.astype(np.float32)


def project(world_mm: np.ndarray, *, width: int = 1000, height: int = 1000, focal_px: float = 1150.0,
            camera_mm: tuple[float, float, float] = (3500.0, 4500.0, 1400.0)) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection from a camera at `camera_mm` looking at the performer's mean position.

    Returns (xy (T,17,2) px, camera-frame joints (T,17,3) mm with x right, y down, z away)."""
    centre = world_mm.reshape(-1, 3).mean(0)
    cam = np.asarray(camera_mm, dtype=np.float64) + np.array([centre[0], centre[1], 0.0])
    forward = centre - cam
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])  # world -> camera
    p_cam = (world_mm - cam) @ rot.T
    xy = focal_px * p_cam[..., :2] / p_cam[..., 2:3] + np.array([width / 2, height / 2])
    return xy.astype(np.float32), p_cam.astype(np.float32)


def synthetic_performer(frames: int = 150, fps: float = 30.0, *, noise_px: float = 1.0,
                        seed: int = 0) -> tuple[Keypoints2D, Pose3D]:
    """The demo clip: (2D keypoints as a detector would give them, world ground truth for comparison)."""
    world = walk_world(frames, fps)
    xy, _ = project(world)
    rng = np.random.default_rng(seed)
    xy = xy + rng.normal(0.0, noise_px, xy.shape).astype(np.float32)
    conf = np.full(xy.shape[:2], 0.95, dtype=np.float32)
    kp = Keypoints2D(xy=xy, conf=conf, fps=fps, width=1000, height=1000, source="synthetic:walk-wave")
    return kp, Pose3D(joints_mm=world, fps=fps, space="world", source="synthetic:walk-wave")
