"""Foot contact: when each foot is planted, where it is locked, and two-bone IK that pins the ankles there.

A foot is in contact on a frame when its ankle is within `height_tol_mm` of its resting height above the ground
and moves slower than `speed_mm_s`, for at least `min_run_s`; short breaks inside a contact are closed first so
noise does not split one step into two. The flag is eased in and out (smoothstep over `ease_s`) so IK blends in
instead of popping. Per-foot arrays use FEET order: (left, right).
"""

from __future__ import annotations

import numpy as np

from .skeleton import FEET, JOINT_INDEX
from .trajectory import ANKLE_HEIGHT_MM

__all__ = ["detect_contact", "foot_targets", "pin_feet", "foot_skating_mm"]

_LEGS = ((JOINT_INDEX["l_hip"], JOINT_INDEX["l_knee"], FEET[0]), (JOINT_INDEX["r_hip"], JOINT_INDEX["r_knee"], FEET[1]))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def detect_contact(
    joints_world: np.ndarray,
    fps: float,
    *,
    ankle_height_mm: float = ANKLE_HEIGHT_MM,
    height_tol_mm: float = 50.0,
    speed_mm_s: float = 500.0,
    min_run_s: float = 0.12,
    bridge_s: float = 0.06,
    ease_s: float = 0.1,
) -> np.ndarray:
    """(T, 17, 3) world joints (Z up, soles on Z = 0, mm) -> (T, 2) contact weight in [0, 1], (left, right)."""
    j = np.asarray(joints_world, dtype=np.float64)
    if fps <= 0 or not np.isfinite(fps):
        raise ValueError(f"detect_contact: fps must be > 0, got {fps!r}")
    ankles = j[:, list(FEET)]  # (T, 2, 3)
    T = len(j)
    speed = np.linalg.norm(np.gradient(ankles, axis=0), axis=-1) * fps if T > 1 else np.zeros((T, 2))
    raw = (ankles[..., 2] - ankle_height_mm < height_tol_mm) & (speed < speed_mm_s)
    min_run = max(1, int(round(min_run_s * fps)))
    bridge = int(round(bridge_s * fps))
    ease = max(1, int(round(ease_s * fps)))
    weight = np.zeros((T, 2))
    for foot in range(2):
        flags = raw[:, foot].copy()
        for a, b in _runs(~flags):  # close short breaks between two contacts
            if a > 0 and b < T and b - a <= bridge:
                flags[a:b] = True
        for a, b in _runs(flags):
            if b - a < min_run:
                continue
            k = np.arange(b - a)
            ease_in = _smoothstep((k + 1) / (ease + 1)) if a > 0 else 1.0  # a clip starts or ends planted
            ease_out = _smoothstep((b - a - k) / (ease + 1)) if b < T else 1.0
            weight[a:b, foot] = np.minimum(ease_in, ease_out)
    return weight


def foot_targets(joints_world: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """(T, 2, 3) ankle targets: during each contact the median ankle position of the run's fully planted frames
    (locked), elsewhere the ankle itself, so `lerp(ankle, target, contact)` is continuous."""
    j = np.asarray(joints_world, dtype=np.float64)
    targets = j[:, list(FEET)].copy()
    for foot in range(2):
        w = contact[:, foot]
        for a, b in _runs(w > 0):
            planted = np.arange(a, b)[w[a:b] >= 0.999]
            frames = planted if len(planted) else np.arange(a, b)
            targets[a:b, foot] = np.median(targets[frames, foot], axis=0)
    return targets


def pin_feet(joints: np.ndarray, contact: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Move each ankle to lerp(ankle, target, contact) by analytic two-bone IK (hip fixed, thigh and shin lengths
    and the knee's bending plane kept). Targets out of reach are pulled in along the hip-target line."""
    j = np.asarray(joints, dtype=np.float64).copy()
    for foot, (hip, knee, ankle) in enumerate(_LEGS):
        w = contact[:, foot]
        idx = np.flatnonzero(w > 0)
        if not len(idx):
            continue
        H, K, A = j[idx, hip], j[idx, knee], j[idx, ankle]
        goal = A + w[idx, None] * (targets[idx, foot] - A)
        l1 = np.linalg.norm(K - H, axis=-1)
        l2 = np.linalg.norm(A - K, axis=-1)
        to_goal = goal - H
        d = np.linalg.norm(to_goal, axis=-1)
        axis = to_goal / np.maximum(d, 1e-9)[:, None]
        d = np.clip(d, np.abs(l1 - l2) + 1e-3, l1 + l2 - 1e-3)
        # knee: distance a along the hip-goal axis, h off it, toward where the knee bends now
        a = (l1**2 - l2**2 + d**2) / (2 * d)
        h = np.sqrt(np.maximum(l1**2 - a**2, 0.0))
        bend = (K - H) - ((K - H) * axis).sum(-1, keepdims=True) * axis
        bend_norm = np.linalg.norm(bend, axis=-1, keepdims=True)
        fallback = np.cross(axis, np.array([1.0, 0.0, 0.0]))  # a straight leg: bend forward-ish
        bend = np.where(bend_norm > 1e-6, bend / np.maximum(bend_norm, 1e-9), fallback)
        bend /= np.maximum(np.linalg.norm(bend, axis=-1, keepdims=True), 1e-9)
        j[idx, knee] = H + a[:, None] * axis + h[:, None] * bend
        j[idx, ankle] = H + d[:, None] * axis
    return j


def foot_skating_mm(joints_world: np.ndarray, contact: np.ndarray, threshold: float = 0.5) -> float:
    """Mean horizontal ankle motion (mm per frame) over consecutive frames both in contact (weight >= threshold)."""
    ankles = np.asarray(joints_world, dtype=np.float64)[:, list(FEET), :2]
    step = np.linalg.norm(np.diff(ankles, axis=0), axis=-1)  # (T-1, 2)
    both = (contact[1:] >= threshold) & (contact[:-1] >= threshold)
    return float(step[both].mean()) if both.any() else 0.0
