"""Joint positions (Pose3D, world, Z up, mm) -> bone rotations on any humanoid rig.

Read this first: every driven bone gets a world rotation R(t) = F(joints_t) F(rig_rest)^T R_rest, where F builds an
orthonormal frame from an aim vector and a side/pole hint, evaluated once on the performer's joints at frame t and
once on the same joints read off the rig's own rest pose. Whatever roll the bone has and whether the rig stands in A
or T pose, the rest pose maps to itself and the aim lands exactly on the performer's direction.

Glossary: J (T, 17, 3) performer joints, metres; rj (17, 3) the rig's joints at rest; D a world delta rotation
(T, 3, 3) so that a bone's posed world rotation is D @ rest; W posed world rotations; e1, e2 unit directions of
the upper and lower limb segments; L1, L2 the rig's limb segment lengths.
"""

from __future__ import annotations

import numpy as np

from .animation import RigAnimation
from .errors import InputError
from .fk import rig_joints
from .quat import frame_from, make_continuous, mat_to_quat, normalize, quat_conj, quat_mul, quat_to_mat, slerp_identity
from .rig import Rig
from .rig_map import RigMap

SIN_STRAIGHT, SIN_BENT = np.sin(np.radians(2.0)), np.sin(np.radians(12.0))


class _Posed:
    """Lazy forward kinematics while solving: bones not yet driven follow their parent at rest offset."""

    def __init__(self, rig: Rig, frames: int, root: int) -> None:
        self.rig, self.frames, self.root = rig, frames, root
        self.delta: dict[int, np.ndarray] = {}
        self.root_head: np.ndarray | None = None
        self._world: dict[int, np.ndarray] = {}
        self._head: dict[int, np.ndarray] = {}

    def drive(self, bone: int, delta: np.ndarray) -> None:
        self.delta[bone] = delta
        self._world.clear()
        self._head.clear()

    def world(self, b: int) -> np.ndarray:
        if b not in self._world:
            rig = self.rig
            p = int(rig.parents[b])
            if b in self.delta:
                w = self.delta[b] @ rig.rest[b]
            elif p < 0:
                w = np.broadcast_to(rig.rest[b], (self.frames, 3, 3))
            else:
                w = self.world(p) @ (rig.rest[p].T @ rig.rest[b])
            self._world[b] = w
        return self._world[b]

    def head(self, b: int) -> np.ndarray:
        if b not in self._head:
            rig = self.rig
            p = int(rig.parents[b])
            if b == self.root and self.root_head is not None:
                h = self.root_head
            elif p < 0:
                h = np.broadcast_to(rig.heads[b], (self.frames, 3))
            else:
                off = rig.rest[p].T @ (rig.heads[b] - rig.heads[p])
                h = self.head(p) + np.einsum("tij,j->ti", self.world(p), off)
            self._head[b] = h
        return self._head[b]


def _delta(aim: np.ndarray, hint: np.ndarray, aim0: np.ndarray, hint0: np.ndarray) -> np.ndarray:
    """F(pose) @ F(rest)^T for frames built from (aim, hint)."""
    return frame_from(aim, hint) @ frame_from(aim0, hint0).T


def _spread(d_from: np.ndarray, d_to: np.ndarray, n: int) -> list[np.ndarray]:
    """n rotations stepping evenly from d_from (excluded) to d_to (included) along the shortest arc."""
    qa, qb = mat_to_quat(d_from), mat_to_quat(d_to)
    rel = quat_mul(quat_conj(qa), qb)
    return [quat_to_mat(quat_mul(qa, slerp_identity(rel, (i + 1) / n))) for i in range(n)]


def _blend(d_from: np.ndarray, d_to: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-frame shortest-arc blend of two rotation sequences, weight w (T,) towards d_to."""
    qa, qb = mat_to_quat(d_from), mat_to_quat(d_to)
    rel = quat_mul(quat_conj(qa), qb)
    return quat_to_mat(quat_mul(qa, slerp_identity(rel, np.asarray(w))))


def _pole(e1: np.ndarray, u: np.ndarray, fallback: np.ndarray, straight: float = SIN_STRAIGHT,
          bent: float = SIN_BENT) -> np.ndarray:
    """Unit direction, perpendicular to the limb line u, towards which the middle joint bends.

    From the performer's upper segment e1 where the limb is bent; eased into `fallback` (the anatomical bend
    direction) as it straightens, where e1 carries no bend plane.
    """
    raw = e1 - np.sum(e1 * u, axis=-1, keepdims=True) * u
    m = np.linalg.norm(raw, axis=-1, keepdims=True)
    fb = normalize(fallback - np.sum(fallback * u, axis=-1, keepdims=True) * u)
    w = np.clip((m - straight) / (bent - straight), 0.0, 1.0)
    return normalize(w * raw / np.maximum(m, 1e-12) + (1 - w) * fb)


def two_bone_ik(root: np.ndarray, target: np.ndarray, pole: np.ndarray, l1: float, l2: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Middle and end joint positions of a two-segment limb reaching for `target` (law of cosines).

    pole: unit vectors perpendicular to (target - root), the side the middle joint goes. Targets out of reach are
    approached along the same line as far as the limb goes.
    """
    v = target - root
    d = np.linalg.norm(v, axis=-1, keepdims=True)
    u = v / np.maximum(d, 1e-12)
    d = np.clip(d, abs(l1 - l2) + 1e-6, (l1 + l2) * (1 - 1e-7))
    cos_a = np.clip((l1 * l1 + d * d - l2 * l2) / (2 * l1 * d), -1.0, 1.0)
    mid = root + l1 * (cos_a * u + np.sqrt(1 - cos_a**2) * pole)
    return mid, root + d * u


def _rest_bend(rig: Rig, a: np.ndarray, m: np.ndarray, e: np.ndarray, bend_fwd: np.ndarray, lower: int
               ) -> np.ndarray:
    """The direction a limb (root a, middle m, end e) of the rig bends towards when straight at rest.

    Blender's convention is to bend about the lower bone's local X: where the rig's X lies within 35 degrees of the
    anatomical hinge we trust it (it knows the rig's palm and knee orientation), else the anatomical `bend_fwd`.
    """
    u0 = normalize(e - a)
    hinge = normalize(np.cross(_pole(normalize(m - a), u0, bend_fwd), u0))
    x_axis = rig.rest[lower][:, 0]
    x_axis = normalize(x_axis - np.dot(x_axis, u0) * u0)
    cos = float(np.dot(x_axis, hinge))
    if abs(cos) < np.cos(np.radians(35.0)):
        return bend_fwd
    return np.cross(u0, np.sign(cos) * x_axis)  # the pole whose hinge cross(pole, u0) is that axis


def _side_forward(side: np.ndarray, up: np.ndarray) -> np.ndarray:
    return normalize(np.cross(side, up))  # character left x up = forward (-Y for a rig facing -Y)


def _yaw(fwd: np.ndarray, fwd0: np.ndarray) -> np.ndarray:
    """Rotations about Z taking the ground projection of fwd0 to that of fwd."""
    a = np.arctan2(fwd[..., 1], fwd[..., 0]) - np.arctan2(fwd0[1], fwd0[0])
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1], out[..., 2, 2] = c, -s, s, c, 1.0
    return out


def leg_length(joints: np.ndarray) -> float:
    """Median over frames of hip-knee-ankle length, both legs averaged. joints (..., 17, 3)."""
    j = joints.reshape(-1, 17, 3)
    legs = [np.linalg.norm(j[:, k] - j[:, h], axis=-1) + np.linalg.norm(j[:, a] - j[:, k], axis=-1)
            for h, k, a in ((1, 2, 3), (4, 5, 6))]
    return float(np.median((legs[0] + legs[1]) / 2))


def retarget_pose(pose, rig: Rig, rig_map: RigMap, *, pin_feet: bool = True) -> RigAnimation:
    """Bone rotations on `rig` that reproduce the performer's limb directions (see the module docstring).

    pose: a Pose3D in space "world" (Z up, mm, feet on Z = 0). The world is scaled by the rig's leg length over
    the performer's for the root path and the pinned feet; `meta["scale"]` says by how much, and
    `meta["effector_targets"]` (T, 4, 3) holds where the IK sent the (left, right) wrists and (left, right) ankles.
    """
    if getattr(pose, "space", None) != "world":
        raise InputError(f"retargeting needs a Pose3D in world space (Z up, mm), got space {pose.space!r}")
    rig_map.validate(rig)
    if not np.allclose(rig.world, np.eye(3)):
        # solve upright in the scene's axes, then bring the root path back into armature space
        anim = retarget_pose(pose, rig.aligned(), rig_map, pin_feet=pin_feet)
        inv = np.linalg.inv(rig.world)
        anim.root_location = anim.root_location @ inv.T
        anim.meta["effector_targets"] = anim.meta["effector_targets"] @ inv.T
        return anim
    J = pose.joints_mm.astype(np.float64) / 1000.0
    if not np.all(np.isfinite(J)):
        raise InputError("the pose has missing (NaN) joints: fill gaps before retargeting")
    t = J.shape[0]
    ix, bones = rig.index, rig_map.bones
    rj = rig_joints(rig, rig_map, rig.heads, rig.tails)

    # world (performer, m) -> rig armature space: scale by leg length, lift so grounded ankles sit at rest height
    perf_leg = leg_length(J)
    ratio = leg_length(rj) / perf_leg
    perf_ground = float(np.percentile(np.minimum(J[:, 3, 2], J[:, 6, 2]), 5))
    shift = np.array([0.0, 0.0, (rj[3, 2] + rj[6, 2]) / 2 - ratio * perf_ground])

    def to_rig(p: np.ndarray) -> np.ndarray:
        return p * ratio + shift

    root = ix[bones["hips"][0]]
    posed = _Posed(rig, t, root)

    # hips: x across the hip joints, up towards the spine
    hip_side, hip_side0 = J[:, 4] - J[:, 1], rj[4] - rj[1]
    hip_up, hip_up0 = J[:, 7] - J[:, 0], rj[7] - rj[0]
    d_hips = _delta(hip_side, hip_up, hip_side0, hip_up0)
    for b in bones["hips"]:
        posed.drive(ix[b], d_hips)
    # root: put the rig's hip-joint midpoint where the performer's is
    mid_off0 = (rj[1] + rj[4]) / 2 - rj[0]
    posed.root_head = to_rig((J[:, 1] + J[:, 4]) / 2) - np.einsum("tij,j->ti", d_hips, mid_off0)
    posed.drive(root, d_hips)

    # chest, spread over the spine chain; neck and head the same way
    sh_side, sh_side0 = J[:, 11] - J[:, 14], rj[11] - rj[14]
    chest_up, chest_up0 = J[:, 8] - J[:, 7], rj[8] - rj[7]
    d_chest = _delta(chest_up, sh_side, chest_up0, sh_side0)
    for b, d in zip(bones["spine"], _spread(d_hips, d_chest, len(bones["spine"])), strict=True):
        posed.drive(ix[b], d)
    d_neck = _delta(J[:, 9] - J[:, 8], sh_side, rj[9] - rj[8], sh_side0)
    neck = bones.get("neck", [])
    for b, d in zip(neck, _spread(d_chest, d_neck, len(neck)) if neck else [], strict=True):
        posed.drive(ix[b], d)
    d_head = _delta(J[:, 10] - J[:, 9], sh_side, rj[10] - rj[9], sh_side0)
    for b in bones["head"]:
        posed.drive(ix[b], d_head)

    fwd_chest0 = _side_forward(sh_side0, chest_up0)
    fwd_hips, fwd_hips0 = _side_forward(hip_side, hip_up), _side_forward(hip_side0, hip_up0)
    if pose.contact is not None:
        ground = pose.contact.astype(np.float64)
    else:  # no contact flags: an ankle near its lowest height (within 6% of leg length) is on the ground
        lift = (J[:, [6, 3], 2] - perf_ground) / perf_leg
        ground = np.clip((0.18 - lift) / 0.12, 0.0, 1.0)
    contact = pose.contact if (pin_feet and pose.contact is not None and pose.foot_targets_mm is not None) else None

    targets: dict[str, np.ndarray] = {}
    for side, (js, je, jw), (jh, jk, ja), foot in (("L", (11, 12, 13), (4, 5, 6), 0),
                                                    ("R", (14, 15, 16), (1, 2, 3), 1)):
        clav = bones.get(f"shoulder.{side}", [])
        if clav:
            d_clav = _delta(J[:, js] - J[:, 8], chest_up, rj[js] - rj[8], chest_up0)
            for b in clav:
                posed.drive(ix[b], d_clav)
        # arms bend with the forearm forward (elbow pole backwards); legs with the shin back (knee pole forwards)
        for upper, lower, (a, m, e), body, bend_fwd0, pin in (
                ("upper_arm", "forearm", (js, je, jw), d_chest, -fwd_chest0, None),
                ("thigh", "shin", (jh, jk, ja), d_hips, fwd_hips0, foot if contact is not None else None)):
            # straight limbs keep the rest pose's bend direction, carried by the chest (arms) or hips (legs)
            fb0 = _rest_bend(rig, rj[a], rj[m], rj[e], bend_fwd0, ix[bones[f"{lower}.{side}"][0]])
            u0 = normalize(rj[e] - rj[a])
            hinge0 = np.cross(_pole(normalize(rj[m] - rj[a]), u0, fb0), u0)
            l1 = float(np.linalg.norm(rj[m] - rj[a]))
            l2 = float(np.linalg.norm(rj[e] - rj[m]))
            start = posed.head(ix[bones[f"{upper}.{side}"][0]])
            e1, e2 = normalize(J[:, m] - J[:, a]), normalize(J[:, e] - J[:, m])
            target = start + l1 * e1 + l2 * e2  # the performer's directions at the rig's lengths
            if pin is not None:
                pinned = pose.foot_targets_mm[:, pin].astype(np.float64) / 1000
                c = pose.contact[:, pin, None].astype(np.float64) * np.all(np.isfinite(pinned), axis=1, keepdims=True)
                target = target + c * (to_rig(np.nan_to_num(pinned)) - target)
            u = normalize(target - start)
            fallback = np.einsum("tij,j->ti", body, fb0)
            # the knee/elbow goes exactly where the performer's is; the twist reference eases into the fallback
            mid, end = two_bone_ik(start, target, _pole(e1, u, fallback, 1e-9, 1e-8), l1, l2)
            pole = _pole(e1, u, fallback)
            targets[f"{side}:{upper}"] = target
            hinge = np.cross(pole, u)
            d_up = _delta(mid - start, hinge, rj[m] - rj[a], hinge0)
            d_low = _delta(end - mid, hinge, rj[e] - rj[m], hinge0)
            for b in bones[f"{upper}.{side}"]:
                posed.drive(ix[b], d_up)
            for b in bones[f"{lower}.{side}"]:
                posed.drive(ix[b], d_low)
        # feet: level (turned with the hips' heading) on the ground, carried by the shin in the air
        level = _yaw(fwd_hips, fwd_hips0)
        for b in bones.get(f"foot.{side}", []):
            posed.drive(ix[b], _blend(d_low, level, ground[:, foot]))

    # world -> parent-local rotations for every mapped bone (unmapped ones between keep their rest offsets)
    effectors = np.stack([targets[k] for k in ("L:upper_arm", "R:upper_arm", "L:thigh", "R:thigh")], axis=1)
    names = list(dict.fromkeys(rig_map.all_bones()))
    quats = np.empty((t, len(names), 4))
    for k, name in enumerate(names):
        b = ix[name]
        p = int(rig.parents[b])
        w = posed.world(b)
        parent_w = np.broadcast_to(rig.rest[b], w.shape) if p < 0 else posed.world(p) @ (rig.rest[p].T @ rig.rest[b])
        quats[:, k] = mat_to_quat(np.swapaxes(parent_w, -1, -2) @ w)
    quats = make_continuous(quats)
    return RigAnimation(fps=float(pose.fps), bone_names=names, rotations=quats, root_location=posed.head(root).copy(),
                        root_bone=rig.names[root], meta={"scale": ratio, "ground_shift": float(shift[2]),
                                                         "rig": rig.name, "map": rig_map.name,
                                                         "effector_targets": effectors})
