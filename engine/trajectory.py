"""Put root-relative joints back in the world: root path in the camera frame, ground plane, world frame, root modes.

Root path: for every frame, find the camera-frame translation t of the pelvis that makes the root-relative 3D joints
X_j project onto the detected 2D joints u_j through a pinhole camera (focal f, principal point at the image
centre). With x_j = (u_j - c) / f the normalised image point, X_j + t must lie on its viewing ray:

    t_x - x_j t_z = x_j Z_j - X_j,      t_y - y_j t_z = y_j Z_j - Y_j

two linear equations per joint, solved by confidence-weighted least squares. This is the 2D root position (t_x,
t_y follow the root's image position) and the apparent body size (t_z follows how large the skeleton looks) in one
step, using every visible joint instead of one root point and one height.

Focal length: the user's if known (pixels), else the one of DEFAULT_FOV_DEG horizontal field of view across the
image's longer side (55 deg, between a phone's main camera (~65-70 deg) and the Human3.6M cameras (~47 deg)).
A wrong focal scales depth motion but barely moves side-to-side motion (t_x = x t_z with t_z proportional to f).

World frame: Blender's convention, Z up, mm. The ground is the plane through the lowest ankle positions of the clip
(each frame's lower ankle, trimmed, fitted by least squares, pulled toward the trunk's mean up direction when the
feet alone cannot fix it, e.g. someone standing still), lowered by ANKLE_HEIGHT_MM so the soles, not the ankle
joints, are on Z = 0. The performer faces -Y at the first frame and the pelvis starts above the origin.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InputError
from .skeleton import JOINT_INDEX
from .types import Keypoints2D

__all__ = [
    "ANKLE_HEIGHT_MM",
    "DEFAULT_FOV_DEG",
    "ROOT_MODES",
    "default_focal_px",
    "estimate_root_camera",
    "fit_world_frame",
    "to_world",
    "apply_root_mode",
]

DEFAULT_FOV_DEG = 55.0
ANKLE_HEIGHT_MM = 70.0  # ankle joint above the sole for an adult (~0.04 x stature)
ROOT_MODES = ("on", "in_place", "in_place_vertical")
_MIN_DEPTH_MM = 300.0  # a pelvis closer than this to the camera means a failed solve
_PELVIS, _THORAX = JOINT_INDEX["pelvis"], JOINT_INDEX["thorax"]
_L_ANKLE, _R_ANKLE = JOINT_INDEX["l_ankle"], JOINT_INDEX["r_ankle"]
_LEGS = tuple(tuple(JOINT_INDEX[f"{s}_{n}"] for n in ("hip", "knee", "ankle")) for s in "lr")
_LATERAL = ((JOINT_INDEX["l_hip"], JOINT_INDEX["r_hip"]), (JOINT_INDEX["l_shoulder"], JOINT_INDEX["r_shoulder"]))


def default_focal_px(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> float:
    """Focal length in pixels for a horizontal field of view `fov_deg` across the longer image side."""
    return 0.5 * max(int(width), int(height)) / math.tan(math.radians(fov_deg) / 2.0)


def estimate_root_camera(
    joints_rel: np.ndarray,
    kp: Keypoints2D,
    *,
    focal_px: float | None = None,
    centre_px: tuple[float, float] | None = None,
    min_conf: float = 0.3,
) -> np.ndarray:
    """(T, 17, 3) root-relative camera-frame joints (mm) + their 2D keypoints -> (T, 3) pelvis in the camera frame.

    centre_px: principal point (default: the image centre). Frames with fewer than two usable joints
    (confidence >= min_conf) are interpolated from their neighbours.
    """
    rel = np.asarray(joints_rel, dtype=np.float64)
    if rel.shape[0] != kp.num_frames:
        raise InputError(
            f"2D keypoints ({kp.source or 'keypoints'}) have {kp.num_frames} frames but the pose has {rel.shape[0]}"
        )
    f = default_focal_px(kp.width, kp.height) if focal_px is None else float(focal_px)
    if not math.isfinite(f) or f <= 0:
        raise InputError(f"focal length must be a positive number of pixels, got {focal_px!r}")
    centre = np.array([kp.width / 2.0, kp.height / 2.0] if centre_px is None else centre_px, dtype=np.float64)
    xy = (kp.xy.astype(np.float64) - centre) / f  # (T, 17, 2) normalised image coordinates
    w = np.where(np.isfinite(xy).all(-1) & np.isfinite(rel).all(-1) & (kp.conf >= min_conf), kp.conf, 0.0)
    if kp.gaps is not None:
        w[kp.gaps] = 0.0
    xy = np.nan_to_num(xy)
    relz = np.nan_to_num(rel)
    # per joint: A = [[1, 0, -x], [0, 1, -y]], b = [x Z - X, y Z - Y]; normal equations summed over joints
    T = rel.shape[0]
    A = np.zeros((T, 17, 2, 3))
    A[..., 0, 0] = 1.0
    A[..., 1, 1] = 1.0
    A[..., 0, 2] = -xy[..., 0]
    A[..., 1, 2] = -xy[..., 1]
    b = xy * relz[..., 2:3] - relz[..., :2]  # (T, 17, 2)
    AtA = np.einsum("tj,tjki,tjkl->til", w, A, A)
    Atb = np.einsum("tj,tjki,tjk->ti", w, A, b)
    usable = (w > 0).sum(axis=1) >= 2
    root = np.full((T, 3), np.nan)
    if usable.any():
        root[usable] = np.linalg.solve(AtA[usable] + 1e-9 * np.eye(3), Atb[usable])
    root[root[:, 2] < _MIN_DEPTH_MM] = np.nan
    good = np.isfinite(root).all(axis=1)
    if not good.any():
        raise InputError(
            f"cannot place the performer: no frame of {kp.source or 'the 2D keypoints'} has two joints with "
            f"confidence >= {min_conf}"
        )
    t = np.arange(T)
    for k in range(3):
        root[:, k] = np.interp(t, t[good], root[good, k])
    return root


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _body_up(j: np.ndarray) -> np.ndarray:
    """Mean up direction of the body: straight legs (hip above ankle) where there are any, else the trunk."""
    trunk = _unit(j[:, _THORAX] - j[:, _PELVIS])
    total = 0.25 * trunk.sum(axis=0)
    for hip, knee, ankle in _LEGS:
        thigh, shin = _unit(j[:, hip] - j[:, knee]), _unit(j[:, knee] - j[:, ankle])
        straight = np.clip(((thigh * shin).sum(-1) - 0.95) / 0.05, 0.0, 1.0)  # 1 for a straight knee
        total = total + (straight[:, None] * _unit(j[:, hip] - j[:, ankle])).sum(axis=0)
    return _unit(total)


def fit_world_frame(joints_cam: np.ndarray, *, fps: float, prior_weight_mm: float = 60.0) -> np.ndarray:
    """(T, 17, 3) absolute camera-frame joints (mm) -> 4x4 world_from_camera (Z up, soles on Z = 0, facing -Y).

    prior_weight_mm: how strongly the trunk's mean direction holds the up axis where the foot points do not fix
    the plane (variance added across the prior, as mm of spread).
    """
    j = np.asarray(joints_cam, dtype=np.float64)
    up0 = _body_up(j)
    ankles = j[:, [_L_ANKLE, _R_ANKLE]]  # (T, 2, 3)
    lower = np.argmin(ankles @ up0, axis=1)
    feet = ankles[np.arange(len(j)), lower]  # (T, 3) each frame's lower ankle
    up = up0
    keep = np.ones(len(feet), dtype=bool)
    prior = prior_weight_mm**2 * (np.eye(3) - np.outer(up0, up0))
    for _ in range(3):  # trimmed fit: drop the swing-foot frames above the plane, refit
        pts = feet[keep] - feet[keep].mean(axis=0)
        cov = pts.T @ pts / max(len(pts), 1)
        vals, vecs = np.linalg.eigh(cov + prior)
        up = vecs[:, 0] * np.sign(vecs[:, 0] @ up0)
        heights = (feet - feet[keep].mean(axis=0)) @ up
        keep = heights <= np.percentile(heights, 60)
    ground = np.percentile(feet @ up, 20) - ANKLE_HEIGHT_MM
    # heading from the first 0.2 s: body left (hips, shoulders) x up = forward
    n0 = max(1, min(len(j), int(round(0.2 * fps))))
    lateral = sum(j[:n0, a] - j[:n0, b] for a, b in _LATERAL).mean(axis=0)
    lateral = lateral - (lateral @ up) * up
    if np.linalg.norm(lateral) < 1e-6:  # no usable heading: face the camera
        lateral = np.cross(up, np.array([0.0, 0.0, 1.0]))
    forward = _unit(np.cross(_unit(lateral), up))
    ez, ey = up, -forward
    ex = np.cross(ey, ez)
    R = np.stack([ex, ey, ez])  # rows: world axes in camera coordinates
    origin = j[0, _PELVIS] - ((j[0, _PELVIS] @ up) - ground) * up  # ground point below the first pelvis
    M = np.eye(4)
    M[:3, :3] = R
    M[:3, 3] = -R @ origin
    return M


def to_world(points_cam: np.ndarray, world_from_camera: np.ndarray) -> np.ndarray:
    """Apply a 4x4 world_from_camera to (..., 3) camera-frame points."""
    p = np.asarray(points_cam, dtype=np.float64)
    return p @ world_from_camera[:3, :3].T + world_from_camera[:3, 3]


def apply_root_mode(joints_world: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Root motion "on" (as is), "in_place" (pelvis held above the origin at its median height) or
    "in_place_vertical" (pelvis held above the origin, its height kept). Returns (joints, offset (T, 3)), the
    offset already added to every joint (add it to anything else expressed in the same frame).
    """
    if mode not in ROOT_MODES:
        raise InputError(f"root_motion must be one of {ROOT_MODES}, got {mode!r}")
    j = np.asarray(joints_world, dtype=np.float64)
    offset = np.zeros((j.shape[0], 3))
    if mode != "on":
        offset[:, :2] = -j[:, _PELVIS, :2]
    if mode == "in_place":
        offset[:, 2] = np.median(j[:, _PELVIS, 2]) - j[:, _PELVIS, 2]
    return j + offset[:, None, :], offset
