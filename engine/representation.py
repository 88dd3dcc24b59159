"""The lifter's input and output units ("2.5D", as the MotionBERT / SasMamba family uses them).

Input: pixels normalised by the image width, `uv / w * 2 - [1, h / w]`.
Output: root-relative joints in the same units. x, y are the image position of each joint relative to the
root's; z is the joint's depth relative to the root, expressed in pixels at the root's depth:
    z_px = (Z - Z_root) * f_x / Z_root          (then / w * 2 like x and y)
so all three axes share one scale and nothing depends on the camera's intrinsics: what suits unknown videos.

Millimetres, two ways:
- exact (scoring on Human3.6M, `to_camera_mm_exact`): with the root's true depth and the camera's intrinsics,
  Z = Z_root (1 + z_px / f_x) and X, Y = undistort(u, v) * Z. Applied to ground-truth (u, v, z) it returns the
  ground-truth camera-frame joints (to undistortion precision, < 1e-3 mm).
- weak perspective (user videos, `to_mm_weak`): one mm-per-unit scale for the whole clip, from bone lengths.
These functions are numpy only: the numpy runtime and the Lifter use them without torch.
"""

from __future__ import annotations

import numpy as np

from .skeleton import BONES


def normalize_2d(uv: np.ndarray, width: float, height: float) -> np.ndarray:
    """(..., 2) pixels -> width-normalised units: x in [-1, 1], y in [-h/w, h/w]."""
    return np.asarray(uv, dtype=np.float32) / width * 2 - np.array([1, height / width], dtype=np.float32)


def denormalize_2d(xy: np.ndarray, width: float, height: float) -> np.ndarray:
    return (np.asarray(xy, dtype=np.float32) + np.array([1, height / width], dtype=np.float32)) * width / 2


def targets_from_camera(joints_cam_mm: np.ndarray, uv_px: np.ndarray, fx: float, width: float,
                        height: float) -> np.ndarray:
    """Ground-truth camera-frame joints (..., 17, 3) and their pixels (..., 17, 2) -> root-relative 2.5D targets."""
    joints = np.asarray(joints_cam_mm, dtype=np.float64)
    uv_n = normalize_2d(uv_px, width, height).astype(np.float64)
    z_root = joints[..., :1, 2]
    z = (joints[..., 2] - z_root) * fx / z_root / width * 2
    xy = uv_n - uv_n[..., :1, :]
    return np.concatenate([xy, z[..., None]], axis=-1).astype(np.float32)


def undistort_normalized(uv_px: np.ndarray, f: np.ndarray, c: np.ndarray, k: np.ndarray, p: np.ndarray,
                         iterations: int = 20) -> np.ndarray:
    """Invert the H36M distortion: distorted pixels -> ideal normalised image coordinates X/Z, Y/Z."""
    xd = (np.asarray(uv_px, dtype=np.float64) - c) / f
    x = xd.copy()
    k1, k2, k3 = k
    p1, p2 = p
    for _ in range(iterations):
        r2 = np.sum(x * x, axis=-1, keepdims=True)
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        tan = p1 * x[..., 1:2] + p2 * x[..., 0:1]
        x = (xd - np.array([p2, p1]) * r2) / (radial + tan)
    return x


def to_camera_mm_exact(pred: np.ndarray, root_uv_px: np.ndarray, root_depth_mm: np.ndarray, camera) -> np.ndarray:
    """Root-relative 2.5D (..., T, 17, 3) + the root's pixels (..., T, 2) and true depth (..., T) -> camera mm,
    root-relative. `camera` has f, c, k, p, width, height (engine.h36m.Camera)."""
    pred = np.asarray(pred, dtype=np.float64)
    w = camera.width
    uv_n = pred[..., :2] + normalize_2d(root_uv_px, w, camera.height)[..., None, :].astype(np.float64)
    uv_px = denormalize_2d(uv_n, w, camera.height).astype(np.float64)
    z_px = pred[..., 2] * w / 2
    depth = np.asarray(root_depth_mm, dtype=np.float64)[..., None] * (1 + z_px / camera.f[0])
    ray = undistort_normalized(uv_px, camera.f, camera.c, camera.k, camera.p)
    joints = np.concatenate([ray * depth[..., None], depth[..., None]], axis=-1)
    return joints - joints[..., :1, :]


def bone_length_sum(joints: np.ndarray) -> np.ndarray:
    """Sum of the 16 bone lengths per frame, (..., 17, 3) -> (...)."""
    child = np.array([c for c, _ in BONES])
    parent = np.array([p for _, p in BONES])
    return np.linalg.norm(joints[..., child, :] - joints[..., parent, :], axis=-1).sum(axis=-1)


# Sum of the 16 bone lengths of the mean Human3.6M training performer (S1, S5-S8), in mm.
MEAN_BONE_LENGTH_SUM_MM = 4166.0


def to_mm_weak(pred: np.ndarray, bone_length_sum_mm: float = MEAN_BONE_LENGTH_SUM_MM) -> tuple[np.ndarray, float]:
    """Root-relative 2.5D (T, 17, 3) -> root-relative mm with one scale for the clip (weak perspective).

    The scale makes the clip's median skeleton size equal `bone_length_sum_mm` (the mean H36M performer unless
    the user gives their own). Returns the joints and the mm-per-unit scale.
    """
    pred = np.asarray(pred, dtype=np.float64)
    size = float(np.median(bone_length_sum(pred)))
    if not np.isfinite(size) or size <= 0:
        raise ValueError("cannot scale a lifted clip whose skeleton has zero size")
    scale = bone_length_sum_mm / size
    return (pred * scale).astype(np.float32), scale
