"""BVH writer (pure Python + numpy): hierarchy from a `Rig`, channels from a `RigAnimation`.

BVH is Y up with world-aligned joint frames; rigs are Z up with a rest orientation per bone. A bone's BVH rotation
is its pose rotation seen in world-aligned axes, rest @ basis @ rest^T, then turned from Z up to Y up.
Blender imports the file back with its default axes (forward -Z, up Y).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from .animation import RigAnimation
from .errors import InputError
from .quat import quat_to_mat
from .rig import Rig

# Z up (x, y, z) -> Y up (x, z, -y)
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
_AXIS = {"X": "Xrotation", "Y": "Yrotation", "Z": "Zrotation"}


def _fmt(v: np.ndarray) -> str:
    return " ".join(f"{x:.6f}" for x in v)


def write_bvh(path: str | Path, rig: Rig, anim: RigAnimation, *, fps: float | None = None, order: str = "ZXY") -> None:
    """Write `anim` on `rig` as BVH (metres, Y up), every rig bone a joint, `order` the Euler channel order.

    The rig's root joint and `anim.root_bone` carry position channels: absolute for the root, relative to the
    parent joint (the BVH meaning) for a root bone below another bone.
    """
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise InputError(f"BVH rotation order must be a permutation of XYZ, got {order!r}")
    roots = [i for i in range(len(rig.names)) if rig.parents[i] < 0]
    if len(roots) != 1:
        raise InputError(f"rig {rig.name!r} has {len(roots)} root bones; BVH needs exactly one")
    c = Z_UP_TO_Y_UP
    t = anim.num_frames
    root_bone = rig.index[anim.root_bone]
    anim_index = {b: k for k, b in enumerate(anim.bone_names)}
    lines = ["HIERARCHY"]
    motion_cols: list[np.ndarray] = []
    rot_channels = " ".join(_AXIS[a] for a in order)

    def emit(b: int, depth: int) -> None:
        pad = "  " * depth
        p = int(rig.parents[b])
        offset = rig.heads[b] if p < 0 else rig.heads[b] - rig.heads[p]
        lines.append(f"{pad}{'ROOT' if p < 0 else 'JOINT'} {rig.names[b]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {_fmt(c @ offset)}")
        if p < 0 or b == root_bone:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {rot_channels}")
            if b == root_bone:
                pos = anim.root_location if p < 0 else anim.root_location - rig.heads[p]
            else:
                pos = np.broadcast_to(rig.heads[b], (t, 3))
            motion_cols.append(pos @ c.T)
        else:
            lines.append(f"{pad}  CHANNELS 3 {rot_channels}")
        k = anim_index.get(rig.names[b])
        if k is None:
            motion_cols.append(np.zeros((t, 3)))
        else:
            rr = rig.rest[b]
            m = c @ rr @ quat_to_mat(anim.rotations[:, k]) @ rr.T @ c.T
            motion_cols.append(Rotation.from_matrix(m).as_euler(order, degrees=True))
        kids = rig.children(b)
        for ch in kids:
            emit(ch, depth + 1)
        if not kids:
            tip = rig.tails[b] - rig.heads[b]
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {_fmt(c @ tip)}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(roots[0], 0)
    rate = float(fps if fps is not None else anim.fps)
    if not rate > 0:
        raise InputError(f"BVH frame rate must be > 0, got {rate}")
    lines += ["MOTION", f"Frames: {t}", f"Frame Time: {1.0 / rate:.8f}"]
    motion = np.concatenate(motion_cols, axis=1)
    body = "\n".join(" ".join(f"{x:.5f}" for x in row) for row in motion)
    Path(path).write_text("\n".join(lines) + "\n" + body + "\n")
