"""Rotation helpers, vectorised over leading axes. Quaternions are (w, x, y, z); matrices act on column vectors."""

from __future__ import annotations

import numpy as np


def mat_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z), w >= 0 (Shepperd's method)."""
    m = np.asarray(m, dtype=np.float64)
    shape = m.shape[:-2]
    m = m.reshape(-1, 3, 3)
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    # the largest of 4w^2, 4x^2, 4y^2, 4z^2 decides which formula is numerically safe
    cands = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    best = np.argmax(cands, axis=1)
    q = np.empty((m.shape[0], 4))
    i = best == 0
    s = np.sqrt(np.maximum(1.0 + tr[i], 1e-12)) * 2
    q[i] = np.stack([0.25 * s, (m[i, 2, 1] - m[i, 1, 2]) / s, (m[i, 0, 2] - m[i, 2, 0]) / s,
                     (m[i, 1, 0] - m[i, 0, 1]) / s], axis=1)
    i = best == 1
    s = np.sqrt(np.maximum(1.0 + m[i, 0, 0] - m[i, 1, 1] - m[i, 2, 2], 1e-12)) * 2
    q[i] = np.stack([(m[i, 2, 1] - m[i, 1, 2]) / s, 0.25 * s, (m[i, 0, 1] + m[i, 1, 0]) / s,
                     (m[i, 0, 2] + m[i, 2, 0]) / s], axis=1)
    i = best == 2
    s = np.sqrt(np.maximum(1.0 + m[i, 1, 1] - m[i, 0, 0] - m[i, 2, 2], 1e-12)) * 2
    q[i] = np.stack([(m[i, 0, 2] - m[i, 2, 0]) / s, (m[i, 0, 1] + m[i, 1, 0]) / s, 0.25 * s,
                     (m[i, 1, 2] + m[i, 2, 1]) / s], axis=1)
    i = best == 3
    s = np.sqrt(np.maximum(1.0 + m[i, 2, 2] - m[i, 0, 0] - m[i, 1, 1], 1e-12)) * 2
    q[i] = np.stack([(m[i, 1, 0] - m[i, 0, 1]) / s, (m[i, 0, 2] + m[i, 2, 0]) / s,
                     (m[i, 1, 2] + m[i, 2, 1]) / s, 0.25 * s], axis=1)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q.reshape(*shape, 4)


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z), normalised here -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return m.reshape(*q.shape[:-1], 3, 3)


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def quat_conj(q: np.ndarray) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def slerp_identity(q: np.ndarray, f: float) -> np.ndarray:
    """q**f: the fraction f of rotation q along its shortest arc (f = 0 identity, f = 1 q)."""
    q = np.where(np.asarray(q)[..., :1] < 0, -q, q)
    w = np.clip(q[..., 0], -1.0, 1.0)
    half = np.arccos(w)
    s = np.sin(half)
    axis = np.where(s[..., None] > 1e-9, q[..., 1:] / np.maximum(s, 1e-12)[..., None], 0.0)
    return np.concatenate([np.cos(f * half)[..., None], axis * np.sin(f * half)[..., None]], axis=-1)


def make_continuous(q: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 (time) so consecutive quaternions are on the same hemisphere (no 360-degree spins)."""
    q = np.array(q, dtype=np.float64)
    if q.shape[0] < 2:
        return q
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)
    q[1:] *= flips[..., None]
    return q


def frame_from(aim: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3) with columns [x, y, z]: y along `aim`, x towards `hint` (made orthogonal)."""
    y = aim / np.maximum(np.linalg.norm(aim, axis=-1, keepdims=True), 1e-12)
    x = hint - np.sum(hint * y, axis=-1, keepdims=True) * y
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


def normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
