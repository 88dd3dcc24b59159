"""Forward kinematics (posed bone frames and joint positions) and the 17 H36M joints read off a rig."""

from __future__ import annotations

import numpy as np

from .animation import RigAnimation
from .quat import quat_to_mat
from .rig import Rig
from .rig_map import RigMap


def pose_bones(rig: Rig, anim: RigAnimation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World (armature-space) rotation (T, B, 3, 3), head (T, B, 3) and tail (T, B, 3) of every rig bone.

    Blender's rule: posed = parent_posed @ (rest_parent^-1 @ rest) @ basis; bones the animation does not list keep
    their rest relative to the parent. The root bone's head is `anim.root_location`, through its location channel.
    """
    t = anim.num_frames
    n = len(rig.names)
    world = np.empty((t, n, 3, 3))
    heads = np.empty((t, n, 3))
    local = {b: quat_to_mat(anim.rotations[:, i]) for i, b in enumerate(anim.bone_names)}
    root = rig.index[anim.root_bone]
    for b in range(n):
        rr = rig.rest[b]
        p = int(rig.parents[b])
        basis = local.get(rig.names[b])
        if p < 0:
            world[:, b] = rr if basis is None else rr @ basis
            heads[:, b] = rig.heads[b]
        else:
            rel = rig.rest[p].T @ rr
            world[:, b] = world[:, p] @ rel if basis is None else world[:, p] @ rel @ basis
            offset = rig.rest[p].T @ (rig.heads[b] - rig.heads[p])
            heads[:, b] = heads[:, p] + np.einsum("tij,j->ti", world[:, p], offset)
        if b == root:
            # location channel: local to the bone's rest frame, carried by the parent's pose
            loc_local = (anim.root_location - rig.heads[b]) @ rr  # rr^T @ (p - head)
            carrier = world[:, b] @ (basis.transpose(0, 2, 1) if basis is not None else np.eye(3))
            heads[:, b] = heads[:, b] + np.einsum("tij,tj->ti", carrier, loc_local)
    lengths = np.linalg.norm(rig.tails - rig.heads, axis=1)
    tails = heads + world[..., :, 1] * lengths[None, :, None]
    return world, heads, tails


def _arc_midpoint(points: np.ndarray) -> np.ndarray:
    """(..., K, 3) polyline -> (..., 3) the point halfway along it."""
    seg = np.linalg.norm(np.diff(points, axis=-2), axis=-1)  # (..., K-1)
    cum = np.concatenate([np.zeros(seg.shape[:-1] + (1,)), np.cumsum(seg, axis=-1)], axis=-1)
    half = cum[..., -1:] * 0.5
    k = np.clip(np.sum(cum[..., 1:] < half, axis=-1), 0, seg.shape[-1] - 1)  # segment holding the midpoint
    k_ = k[..., None, None]
    a = np.take_along_axis(points, k_.repeat(3, -1), axis=-2)[..., 0, :]
    b = np.take_along_axis(points, (k_ + 1).repeat(3, -1), axis=-2)[..., 0, :]
    ca = np.take_along_axis(cum, k[..., None], axis=-1)
    sl = np.take_along_axis(seg, k[..., None], axis=-1)
    f = np.clip((half - ca) / np.maximum(sl, 1e-12), 0.0, 1.0)
    return a + f * (b - a)


def rig_joints(rig: Rig, rig_map: RigMap, heads: np.ndarray, tails: np.ndarray) -> np.ndarray:
    """The 17 H36M joints on a rig, (..., 17, 3), from bone heads/tails (..., B, 3) (rest or posed)."""
    m = rig_map.bones
    ix = rig.index

    def head(slot: str, k: int = 0) -> np.ndarray:
        return heads[..., ix[m[slot][k]], :]

    def tail(slot: str, k: int = -1) -> np.ndarray:
        return tails[..., ix[m[slot][k]], :]

    def end(slot: str, nxt: str) -> np.ndarray:
        return head(nxt) if m.get(nxt) else tail(slot)

    j = [None] * 17
    j[0] = head("hips")
    j[1], j[2], j[3] = head("thigh.R"), head("shin.R"), end("shin.R", "foot.R")
    j[4], j[5], j[6] = head("thigh.L"), head("shin.L"), end("shin.L", "foot.L")
    j[8] = head("neck") if m.get("neck") else tail("spine")
    spine_pts = [j[0]] + [heads[..., ix[b], :] for b in m["spine"]] + [j[8]]
    j[7] = _arc_midpoint(np.stack(spine_pts, axis=-2))
    j[9], j[10] = head("head"), tail("head")
    j[11], j[12], j[13] = head("upper_arm.L"), head("forearm.L"), end("forearm.L", "hand.L")
    j[14], j[15], j[16] = head("upper_arm.R"), head("forearm.R"), end("forearm.R", "hand.R")
    return np.stack(j, axis=-2)
