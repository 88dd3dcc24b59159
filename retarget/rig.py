"""`Rig`: an armature's rest pose as numpy arrays (armature space, metres, Blender conventions, Z up).

Each bone has a head, a tail and a rest orientation (3x3, columns = the bone's local X, Y, Z axes in armature space,
Y along the bone, as Blender's `Bone.matrix_local`). Bones are stored parents first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError


def roll_to_matrix(head: np.ndarray, tail: np.ndarray, roll: float) -> np.ndarray:
    """Blender's rest orientation of a bone from head, tail and roll (same maths as vec_roll_to_mat3)."""
    v = np.asarray(tail, dtype=np.float64) - np.asarray(head, dtype=np.float64)
    x, y, z = v / np.linalg.norm(v)
    theta, theta_alt = 1.0 + y, x * x + z * z
    if theta > 6.1e-3 or theta_alt > 2.5e-4**2:
        if theta <= 6.1e-3:
            theta = theta_alt * 0.5 + theta_alt * theta_alt * 0.125
        b = np.array([[1 - x * x / theta, x, -x * z / theta],
                      [-x, y, -z],
                      [-x * z / theta, z, 1 - z * z / theta]])
    else:  # pointing straight down -Y
        b = np.diag([-1.0, -1.0, 1.0])
    n = np.array([x, y, z])
    c, s = np.cos(roll), np.sin(roll)
    k = np.array([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]])
    r = np.eye(3) * c + s * k + (1 - c) * np.outer(n, n)
    return r @ b


def matrix_to_roll(head: np.ndarray, tail: np.ndarray, rest: np.ndarray) -> float:
    """The roll that gives `rest` for this head/tail (inverse of roll_to_matrix)."""
    zero = roll_to_matrix(head, tail, 0.0)
    d = zero.T @ rest  # rotation about local Y by the roll
    return float(np.arctan2(d[0, 2], d[0, 0]))


@dataclass
class Rig:
    """Rest pose of an armature.

    names: bone names, parents first; parents: (B,) index of each bone's parent, -1 for roots;
    heads, tails: (B, 3) metres in armature space; rest: (B, 3, 3) rest orientations; rolls: (B,) radians.
    world: (3, 3) rotation times uniform scale from armature space to the scene's axes (Blender's object
    rotation/scale, e.g. a Y-up FBX rig turned upright by its object): the solver works in the scene's Z up.
    """

    names: list[str]
    parents: np.ndarray
    heads: np.ndarray
    tails: np.ndarray
    rest: np.ndarray
    rolls: np.ndarray
    name: str = ""
    meta: dict = field(default_factory=dict)
    world: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        n = len(self.names)
        self.world = np.asarray(self.world, dtype=np.float64).reshape(3, 3)
        scale = np.linalg.svd(self.world, compute_uv=False)
        if np.linalg.det(self.world) <= 0 or scale.max() / scale.min() > 1 + 1e-4:
            raise InputError(f"rig {self.name!r}: object transform must be a rotation times a uniform scale")
        self.parents = np.asarray(self.parents, dtype=np.int64).reshape(n)
        self.heads = np.asarray(self.heads, dtype=np.float64).reshape(n, 3)
        self.tails = np.asarray(self.tails, dtype=np.float64).reshape(n, 3)
        self.rest = np.asarray(self.rest, dtype=np.float64).reshape(n, 3, 3)
        self.rolls = np.asarray(self.rolls, dtype=np.float64).reshape(n)
        if len(set(self.names)) != n:
            raise InputError(f"rig {self.name!r}: duplicate bone names")
        for i, p in enumerate(self.parents):
            if p >= i:
                raise InputError(f"rig {self.name!r}: bone {self.names[i]!r} comes before its parent")
        lengths = np.linalg.norm(self.tails - self.heads, axis=1)
        zero = [self.names[i] for i in np.flatnonzero(lengths < 1e-5)]
        if zero:
            raise InputError(f"rig {self.name!r}: zero-length bones (head == tail): {', '.join(zero)}")
        self.index = {b: i for i, b in enumerate(self.names)}

    @classmethod
    def from_bones(cls, bones: list[dict], *, name: str = "") -> Rig:
        """Build from dicts with name, parent (name or None), head, tail and roll or rest (3x3); any order."""
        by_name = {b["name"]: b for b in bones}
        order: list[str] = []
        seen: set[str] = set()

        def visit(bname: str, trail: tuple[str, ...] = ()) -> None:
            if bname in seen:
                return
            if bname in trail:
                raise InputError(f"rig {name!r}: parent cycle through {bname!r}")
            parent = by_name[bname].get("parent") or None
            if parent is not None:
                if parent not in by_name:
                    raise InputError(f"rig {name!r}: bone {bname!r} has unknown parent {parent!r}")
                visit(parent, trail + (bname,))
            seen.add(bname)
            order.append(bname)

        for b in bones:
            visit(b["name"])
        idx = {b: i for i, b in enumerate(order)}
        heads = np.array([by_name[b]["head"] for b in order], dtype=np.float64)
        tails = np.array([by_name[b]["tail"] for b in order], dtype=np.float64)
        short = [b for b, h, t in zip(order, heads, tails, strict=True) if np.linalg.norm(t - h) < 1e-5]
        if short:
            raise InputError(f"rig {name!r}: zero-length bones (head == tail): {', '.join(short)}")
        rest, rolls = [], []
        for b, h, t in zip(order, heads, tails, strict=True):
            if by_name[b].get("rest") is not None:
                m = np.asarray(by_name[b]["rest"], dtype=np.float64)
                rest.append(m)
                rolls.append(by_name[b].get("roll", matrix_to_roll(h, t, m)))
            else:
                roll = float(by_name[b].get("roll", 0.0))
                rest.append(roll_to_matrix(h, t, roll))
                rolls.append(roll)
        parents = [idx[by_name[b]["parent"]] if by_name[b].get("parent") else -1 for b in order]
        return cls(order, parents, heads, tails, np.array(rest), np.array(rolls), name=name)

    @classmethod
    def from_mpfb_json(cls, path: str | Path) -> Rig:
        """A MakeHuman MPFB2 rig JSON (bone -> head/tail default_position, parent, roll)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read MPFB rig JSON ({exc})") from exc
        data = data.get("bones", data)
        try:
            bones = [{"name": k, "parent": v.get("parent") or None, "head": v["head"]["default_position"],
                      "tail": v["tail"]["default_position"], "roll": float(v.get("roll", 0.0))}
                     for k, v in data.items()]
        except (KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{path}: not an MPFB rig JSON (missing {exc})") from exc
        return cls.from_bones(bones, name=path.stem)

    @classmethod
    def from_bvh(cls, path: str | Path, *, scale: float = 1.0) -> Rig:
        """The hierarchy of a BVH file (Y up, as written by most tools) as a Z-up rig; `scale` converts to metres.

        BVH joints have no rest orientation of their own, so every bone's rest is the identity, which is exactly
        how BVH channels are meant: rotations relative to world-aligned joint frames.
        """
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError(f"{path}: cannot read BVH ({exc})") from exc
        tokens = re.findall(r"[{}]|[^\s{}]+", text.split("MOTION")[0])
        out: list[dict] = []

        def to_z_up(values: list[str]) -> np.ndarray:
            x, y, z = (float(v) * scale for v in values)
            return np.array([x, -z, y])

        def joint(i: int, parent: dict | None) -> int:
            # tokens[i] is ROOT/JOINT, tokens[i + 1] the name, tokens[i + 2] "{"
            bone = {"name": tokens[i + 1], "parent": parent["name"] if parent else None, "rest": np.eye(3)}
            out.append(bone)
            i += 3
            while tokens[i] != "}":
                if tokens[i] == "OFFSET":
                    off = to_z_up(tokens[i + 1:i + 4])
                    bone["head"] = (parent["head"] if parent else np.zeros(3)) + off
                    i += 4
                elif tokens[i] == "CHANNELS":
                    i += 2 + int(tokens[i + 1])
                elif tokens[i] == "JOINT":
                    i = joint(i, bone)
                elif tokens[i] == "End":  # End Site { OFFSET x y z }
                    bone["end"] = bone["head"] + to_z_up(tokens[i + 4:i + 7])
                    i += 8
                else:
                    i += 1
            return i + 1

        try:
            i = tokens.index("ROOT")
            joint(i, None)
        except (ValueError, IndexError, KeyError) as exc:
            raise InputError(f"{path}: cannot parse the BVH hierarchy ({exc})") from exc
        for bone in out:
            kids = [b["head"] for b in out if b["parent"] == bone["name"]]
            if kids:
                tail = np.mean(kids, axis=0)
            else:
                tail = bone.get("end", bone["head"])
            if np.linalg.norm(tail - bone["head"]) < 1e-5:  # coincident children: a short stub along +Z
                tail = bone["head"] + np.array([0.0, 0.0, 0.01])
            bone["tail"] = tail
        return cls.from_bones(out, name=path.stem)

    def scaled(self, factor: float) -> Rig:
        """The same rig uniformly scaled (heads and tails), rest orientations unchanged."""
        return Rig(list(self.names), self.parents.copy(), self.heads * factor, self.tails * factor, self.rest.copy(),
                   self.rolls.copy(), name=self.name, meta=dict(self.meta), world=self.world.copy())

    def aligned(self) -> Rig:
        """The rig expressed in the scene's axes (heads, tails and rests through `world`), `world` the identity.

        Local bone rotations are the same in both, which is why the solver may work here."""
        scale = float(np.cbrt(np.linalg.det(self.world)))
        rot = self.world / scale
        return Rig(list(self.names), self.parents.copy(), self.heads @ self.world.T, self.tails @ self.world.T,
                   rot @ self.rest, self.rolls.copy(), name=self.name, meta=dict(self.meta))

    def children(self, i: int) -> list[int]:
        return [int(c) for c in np.flatnonzero(self.parents == i)]

    def chain_to_root(self, i: int) -> list[int]:
        out = []
        while i >= 0:
            out.append(i)
            i = int(self.parents[i])
        return out
