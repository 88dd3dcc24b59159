"""Pose error metrics in millimetres, as the lifting literature defines them. Inputs (T, J, 3) or (N, T, J, 3)."""

from __future__ import annotations

import numpy as np


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """P1: mean per-joint position error."""
    return float(np.mean(np.linalg.norm(np.asarray(pred, np.float64) - gt, axis=-1)))


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame similarity alignment (scale, rotation, translation) of pred onto gt; shapes (..., J, 3)."""
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    mu_p = pred.mean(axis=-2, keepdims=True)
    mu_g = gt.mean(axis=-2, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    norm_p = np.sqrt(np.sum(p0**2, axis=(-2, -1), keepdims=True))
    norm_g = np.sqrt(np.sum(g0**2, axis=(-2, -1), keepdims=True))
    p0, g0 = p0 / norm_p, g0 / norm_g
    h = np.swapaxes(p0, -1, -2) @ g0
    u, s, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, -1, -2)
    r = v @ np.swapaxes(u, -1, -2)
    # fix reflections so r is a proper rotation
    det = np.sign(np.linalg.det(r))[..., None]
    v[..., :, -1] *= det
    s[..., -1] *= det[..., 0]
    r = v @ np.swapaxes(u, -1, -2)
    scale = (s.sum(axis=-1)[..., None, None]) * norm_g / norm_p
    return scale * (pred - mu_p) @ np.swapaxes(r, -1, -2) + mu_g


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """P2: MPJPE after per-frame Procrustes alignment."""
    return mpjpe(procrustes_align(pred, gt), gt)


def velocity_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """MPJVE: mean per-joint velocity error, mm per frame."""
    return mpjpe(np.diff(pred, axis=-3), np.diff(gt, axis=-3))


def accel_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint acceleration error, mm per frame^2."""
    return mpjpe(np.diff(pred, n=2, axis=-3), np.diff(gt, n=2, axis=-3))
