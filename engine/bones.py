"""One length per bone: measure it (median over the clip, or from a performer's height) and re-impose it.

Lifters let bone lengths breathe from frame to frame (a shin that is 5 % longer on one frame than the next), which
a rig cannot follow and which shows as pumping limbs.

Two ways to re-impose, both exact at the end:
- "chain": walk the tree from the pelvis, child = parent + direction * length. Obvious, but every correction
  carries down the chain, so noise at the shoulder lands on the wrist too (MPJPE rises by 3-5 mm on noisy input).
- "projection" (default): move both ends of each wrong bone half-way along the bone (pelvis fixed), sweep the
  tree until the lengths agree (Gauss-Seidel, as position-based dynamics does), then one "chain" pass to make
  them exact. Each step keeps its bone's direction and spreads the fix over the limb: the nearest pose with the
  right lengths, which lowers MPJPE on noisy input instead of raising it.
"""

from __future__ import annotations

import math

import numpy as np

from .skeleton import BONES, NUM_JOINTS, PARENTS

__all__ = [
    "REFERENCE_BONE_LENGTHS_MM",
    "bone_lengths",
    "median_bone_lengths",
    "lengths_for_height",
    "stature_mm",
    "impose_bone_lengths",
]

# Mean median bone lengths of the Human3.6M training subjects (S1 S5 S6 S7 S8), in BONES order, mm.
REFERENCE_BONE_LENGTHS_MM = np.array(
    [135.5, 451.7, 447.0, 135.5, 451.7, 447.0, 241.5, 255.5, 117.1, 115.0, 150.5, 282.0, 249.9, 150.5, 282.0, 249.9],
    dtype=np.float64,
)
# Standing height over the straight chain ankle-knee-hip-pelvis-spine-thorax-neck-head: the ankle joint sits
# ~40-70 mm above the sole and the head joint below the crown; together about 6 % of the chain.
STATURE_PER_CHAIN = 1.06
# bone indices (into BONES) of the vertical chain: knee-ankle, hip-knee, spine, thorax, neck, head
_CHAIN = (2, 1, 6, 7, 8, 9)
# left/right bone pairs (indices into BONES), for symmetric lengths
_MIRROR_PAIRS = ((0, 3), (1, 4), (2, 5), (10, 13), (11, 14), (12, 15))


def _depth(j: int) -> int:
    depth = 0
    while PARENTS[j] >= 0:
        j, depth = int(PARENTS[j]), depth + 1
    return depth


# joints in an order where every parent comes before its children
_TOPO = tuple(sorted(range(1, NUM_JOINTS), key=_depth))


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) -> (T, 16) length of every bone (BONES order), NaN where a joint is NaN."""
    j = np.asarray(joints, dtype=np.float64)
    child = np.array([c for c, _ in BONES])
    parent = np.array([p for _, p in BONES])
    return np.linalg.norm(j[:, child] - j[:, parent], axis=-1)


def median_bone_lengths(joints: np.ndarray, *, symmetric: bool = True) -> np.ndarray:
    """(T, 17, 3) -> (16,) median length of each bone over the clip; symmetric averages left and right."""
    lengths = np.nanmedian(bone_lengths(joints), axis=0)
    if np.isnan(lengths).any():
        raise ValueError("median_bone_lengths: some bone has no finite length in any frame")
    if symmetric:
        lengths = lengths.copy()
        for a, b in _MIRROR_PAIRS:
            lengths[a] = lengths[b] = 0.5 * (lengths[a] + lengths[b])
    return lengths


def stature_mm(lengths: np.ndarray) -> float:
    """Approximate standing height for a set of bone lengths (the straight vertical chain, see STATURE_PER_CHAIN)."""
    lengths = np.asarray(lengths, dtype=np.float64)
    return float(STATURE_PER_CHAIN * lengths[list(_CHAIN)].sum())


def lengths_for_height(height_mm: float, reference: np.ndarray | None = None) -> np.ndarray:
    """Bone lengths (16,) for a performer `height_mm` tall, in the proportions of `reference` (default H36M mean)."""
    height = float(height_mm)
    if not math.isfinite(height) or not 500.0 <= height <= 2800.0:
        raise ValueError(f"performer height must be between 500 and 2800 mm, got {height_mm!r}")
    ref = REFERENCE_BONE_LENGTHS_MM if reference is None else np.asarray(reference, dtype=np.float64)
    return ref * (height / stature_mm(ref))


def impose_bone_lengths(
    joints: np.ndarray, lengths: np.ndarray, *, method: str = "projection", sweeps: int = 30
) -> np.ndarray:
    """Re-impose `lengths` (16,) on every frame of (T, 17, 3), keeping the pelvis fixed (see the module notes).

    A bone of zero length on some frame (coincident joints) takes its direction from the nearest frame where it
    has one; a bone that never has one points along +Y (a harmless fallback; it only happens on broken input).
    NaN joints stay NaN.
    """
    j = np.asarray(joints, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"impose_bone_lengths: joints must be (T, 17, 3), got {j.shape}")
    if lengths.shape != (len(BONES),) or not np.all(np.isfinite(lengths)) or (lengths <= 0).any():
        raise ValueError(f"impose_bone_lengths: lengths must be 16 finite positive values, got {lengths!r}")
    if method not in ("projection", "chain"):
        raise ValueError(f"impose_bone_lengths: method must be 'projection' or 'chain', got {method!r}")
    if method == "projection":
        j = _project_lengths(j, lengths, sweeps)
    return _chain_lengths(j, lengths)


def _project_lengths(j: np.ndarray, lengths: np.ndarray, sweeps: int) -> np.ndarray:
    out = j.copy()
    for _ in range(int(sweeps)):
        for b, (child, parent) in enumerate(BONES):
            vec = out[:, child] - out[:, parent]
            norm = np.linalg.norm(vec, axis=-1, keepdims=True)
            fix = np.where(norm > 1e-6, (norm - lengths[b]) * vec / np.maximum(norm, 1e-9), 0.0)
            if PARENTS[parent] < 0:  # the pelvis stays put: the child takes the whole fix
                out[:, child] -= fix
            else:
                out[:, child] -= 0.5 * fix
                out[:, parent] += 0.5 * fix
    return out


def _chain_lengths(j: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    out = j.copy()
    bone_of_child = {c: b for b, (c, _) in enumerate(BONES)}
    t = np.arange(j.shape[0])
    for child in _TOPO:
        parent = int(PARENTS[child])
        vec = j[:, child] - j[:, parent]
        norm = np.linalg.norm(vec, axis=-1)
        missing = np.isnan(norm)
        good = norm > 1e-6
        direction = np.zeros_like(vec)
        direction[good] = vec[good] / norm[good, None]
        if not good.all():
            if good.any():  # borrow the nearest good frame's direction
                nearest = np.searchsorted(t[good], t, side="left").clip(0, good.sum() - 1)
                direction[~good] = direction[good][nearest[~good]]
            else:
                direction[:] = (0.0, 1.0, 0.0)
            direction[missing] = np.nan
        out[:, child] = out[:, parent] + direction * lengths[bone_of_child[child]]
    return out
