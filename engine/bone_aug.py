"""Bone-length augmentation: new people's proportions from the training subjects' motion.

Human3.6M trains on five people. From 2D alone a bone's depth extent is sqrt(L^2 - projected^2), so a lifter that
has memorised those five people's bone lengths L mis-estimates depth on anyone else (validation on the training
subjects' held-out takes scores 6.5-8.6 mm better than S9/S11, depth only). Here every clip can be
re-proportioned before it is projected: a global size factor times one factor per symmetric bone group, applied
by forward kinematics from the pelvis, so each bone keeps its direction on every frame, the root keeps its
trajectory, and the lengths stay constant in time (the same factors for all frames of a clip).

Ranges come from the training subjects only (S1 S5 S6 S7 S8, median lengths from poses3d_17j.npz): their
statures span 0.97-1.05 of the mean, and after dividing out stature the groups span about +-3 % (thigh, shin,
upper arm, forearm, upper spine, head) and +-8 to +-12 % (hip width, shoulder width, lower spine, neck). The
ranges below are about twice that spread, so the five people sit well inside what the lifter sees.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .bones import REFERENCE_BONE_LENGTHS_MM
from .skeleton import BONES, NUM_JOINTS, PARENTS

SIZE_RANGE = (0.9, 1.1)
# group -> (bone indices into skeleton.BONES, (low, high) factor on top of the global size)
BONE_GROUPS: dict[str, tuple[tuple[int, ...], tuple[float, float]]] = {
    "hip_width": ((0, 3), (0.85, 1.15)),
    "thigh": ((1, 4), (0.93, 1.07)),
    "shin": ((2, 5), (0.93, 1.07)),
    "lower_spine": ((6,), (0.85, 1.15)),
    "upper_spine": ((7,), (0.93, 1.07)),
    "neck": ((8,), (0.85, 1.15)),
    "head": ((9,), (0.93, 1.07)),
    "shoulder_width": ((10, 13), (0.85, 1.15)),
    "upper_arm": ((11, 14), (0.93, 1.07)),
    "forearm": ((12, 15), (0.93, 1.07)),
}
_LIMBS = ("thigh", "shin", "upper_arm", "forearm")
_WIDTHS = ("hip_width", "shoulder_width")


def _group_matrix() -> torch.Tensor:
    """(G, 16): which bones each group scales."""
    m = torch.zeros(len(BONE_GROUPS), len(BONES))
    for g, (bones, _) in enumerate(BONE_GROUPS.values()):
        m[g, list(bones)] = 1.0
    return m


def _ancestor_matrix() -> torch.Tensor:
    """(17, 16): entry [j, i] is 1 when bone i lies on the path from the pelvis to joint j, so a joint's offset
    from the pelvis is this row times the bone vectors."""
    m = torch.zeros(NUM_JOINTS, len(BONES))
    child_bone = {c: i for i, (c, _) in enumerate(BONES)}
    for j in range(NUM_JOINTS):
        k = j
        while PARENTS[k] >= 0:
            m[j, child_bone[k]] = 1.0
            k = int(PARENTS[k])
    return m


def _difference_matrix() -> torch.Tensor:
    """(16, 17): row i times the joints is bone i's vector (child - parent)."""
    m = torch.zeros(len(BONES), NUM_JOINTS)
    for i, (c, p) in enumerate(BONES):
        m[i, c], m[i, p] = 1.0, -1.0
    return m


@lru_cache(maxsize=8)
def _constants(device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The tables on the training device, made once: a host-to-GPU copy every step would be a sync point."""
    ranges = [r for _, r in BONE_GROUPS.values()]
    return {"groups": _group_matrix().to(device, dtype), "ancestors": _ancestor_matrix().to(device, dtype),
            "differences": _difference_matrix().to(device, dtype),
            "children": torch.tensor([c for c, _ in BONES], device=device),
            "parents": torch.tensor([p for _, p in BONES], device=device),
            "lo": torch.tensor([r[0] for r in ranges], device=device, dtype=dtype),
            "hi": torch.tensor([r[1] for r in ranges], device=device, dtype=dtype)}


def factors_from_groups(size: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Global size (B,) and group factors (B, G) in BONE_GROUPS order -> per-bone factors (B, 16)."""
    per_bone = groups @ _constants(groups.device, groups.dtype)["groups"]  # each bone is in exactly one group
    return size[:, None] * per_bone


def random_factors(b: int, gen: torch.Generator, p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, 16) per-bone factors: with probability `p` per clip a random person (size and groups uniform in their
    ranges), else all ones. Draws from `gen` whatever the outcome, so the stream does not depend on it."""
    const = _constants(torch.device(device), torch.float32)
    apply = torch.rand(b, generator=gen, device=device) < p
    size = SIZE_RANGE[0] + (SIZE_RANGE[1] - SIZE_RANGE[0]) * torch.rand(b, generator=gen, device=device)
    groups = const["lo"] + (const["hi"] - const["lo"]) * torch.rand(b, len(BONE_GROUPS), generator=gen, device=device)
    factors = factors_from_groups(size, groups)
    return torch.where(apply[:, None], factors, torch.ones_like(factors))


def rescale_bones(world: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """(B, T, 17, 3) joints, (B, 16) per-bone factors -> the same motion with every bone `factors` times as long:
    forward kinematics from the pelvis, each bone's direction and the pelvis trajectory unchanged."""
    const = _constants(world.device, world.dtype)
    # joint j's offset from the pelvis = sum over the bones above it of factor x bone vector, and bone vectors are
    # differences of joints: one (17, 17) matrix per clip, 4x faster on CPU than gathering the bones first
    per_clip = const["ancestors"] @ (factors.to(world)[:, :, None] * const["differences"])
    return world[:, :, :1] + torch.einsum("bjk,btkd->btjd", per_clip, world)


def augment_bones(world: torch.Tensor, gen: torch.Generator, p: float) -> torch.Tensor:
    """Training batches: each clip re-proportioned with probability `p` (see random_factors). p == 0 returns
    `world` itself and draws nothing, so the rest of the batch sees the generator as before."""
    if p <= 0:
        return world
    return rescale_bones(world, random_factors(world.shape[0], gen, p, world.device))


def clip_bone_lengths(world: torch.Tensor) -> torch.Tensor:
    """(B, T, 17, 3) -> (B, 16) each clip's median bone lengths (BONES order)."""
    const = _constants(world.device, world.dtype)
    return (world[:, :, const["children"]] - world[:, :, const["parents"]]).norm(dim=-1).median(dim=1).values


def virtual_subjects(n: int = 8, seed: int = 0) -> tuple[list[str], torch.Tensor]:
    """A fixed set of `n` (>= 4) people for validation: names and bone lengths (n, 16) in mm, the training
    subjects' mean (bones.REFERENCE_BONE_LENGTHS_MM) times factors from the augmentation's ranges. Absolute lengths,
    not factors on the validation clip's own person: S8 already has the widest hips and shoulders and the longest
    lower spine of the training people, and factors on top of that would score people wider than anyone in H36M.
    Four span the ranges' corners (a small short-limbed person, a tall long-limbed one, narrow with a long trunk,
    broad with a short trunk); the rest are seeded random draws, so every run and machine scores the same people."""
    if n < 4:
        raise ValueError(f"virtual_subjects: n must be at least 4, got {n}")
    lo = {g: r[0] for g, (_, r) in BONE_GROUPS.items()}
    hi = {g: r[1] for g, (_, r) in BONE_GROUPS.items()}
    designed = {
        "short_limbed": (SIZE_RANGE[0], {g: lo[g] for g in _LIMBS}),
        "long_limbed": (SIZE_RANGE[1], {g: hi[g] for g in _LIMBS}),
        "narrow_long_trunk": (1.0, {**{g: lo[g] for g in _WIDTHS}, "lower_spine": hi["lower_spine"],
                                     "upper_spine": hi["upper_spine"]}),
        "broad_short_trunk": (1.0, {**{g: hi[g] for g in _WIDTHS}, "lower_spine": lo["lower_spine"],
                                     "upper_spine": lo["upper_spine"]}),
    }
    names = list(designed)
    size = torch.tensor([s for s, _ in designed.values()])
    groups = torch.tensor([[g.get(name, 1.0) for name in BONE_GROUPS] for _, g in designed.values()])
    fixed = factors_from_groups(size, groups)
    drawn = random_factors(n - 4, torch.Generator().manual_seed(seed), 1.0)
    names += [f"random_{i}" for i in range(n - 4)]
    mean = torch.tensor(REFERENCE_BONE_LENGTHS_MM, dtype=torch.float32)
    return names, torch.cat([fixed, drawn]) * mean


def as_person(world: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, 17, 3) clips re-proportioned to bone lengths (B, 16) mm: each clip's motion, those bones."""
    return rescale_bones(world, lengths.to(world) / clip_bone_lengths(world))


def describe() -> str:
    """The ranges, for logs and reports."""
    groups = ", ".join(f"{g} U{r}" for g, (_, r) in BONE_GROUPS.items())
    return f"size U{SIZE_RANGE} x per-group ({groups}), symmetric left/right"


def as_person_np(world: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """as_person for one (T, 17, 3) numpy sequence and (16,) lengths; float64."""
    out = as_person(torch.from_numpy(np.asarray(world, dtype=np.float64))[None],
                    torch.as_tensor(np.asarray(lengths, dtype=np.float64))[None])
    return out[0].numpy()
