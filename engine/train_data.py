"""Training clips from Human3.6M and batches synthesised on the training device.

World-frame clips stay on the GPU; each batch projects them through a camera (one of the subject's four real
cameras with full distortion, or a random virtual pinhole camera), then applies flips and detector-like noise.
Nothing is precomputed per camera, so the lifter never sees only H36M's four camera placements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import h36m
from .bone_aug import augment_bones
from .skeleton import FLIP_PERM

VALIDATION_SUBJECT = "S8"  # its second takes ("S8/Walking 1" ...) are held out for checkpoint selection


def is_validation_key(key: str) -> bool:
    return key.startswith(VALIDATION_SUBJECT + "/") and key[-1].isdigit()


def clip_starts(length: int, frames: int, stride: int) -> list[int]:
    """Window starts at `stride`, plus one flush with the end so the tail is covered."""
    if length < frames:
        return []
    starts = list(range(0, length - frames + 1, stride))
    if starts[-1] != length - frames:
        starts.append(length - frames)
    return starts


@dataclass
class ClipSet:
    world: torch.Tensor  # (N, T, 17, 3) mm, world frame Z up
    subject: torch.Tensor  # (N,) index into CameraBank rows
    keys: list[str]


@dataclass
class CameraBank:
    """Every subject's 4 real cameras as tensors: R (S, 4, 3, 3), T (S, 4, 3), f, c (S, 4, 2), k (S, 4, 3),
    p (S, 4, 2), wh (S, 4, 2)."""

    subjects: list[str]
    R: torch.Tensor
    T: torch.Tensor
    f: torch.Tensor
    c: torch.Tensor
    k: torch.Tensor
    p: torch.Tensor
    wh: torch.Tensor

    @classmethod
    def load(cls, device: torch.device | str = "cpu") -> CameraBank:
        cams = h36m.load_cameras()
        subjects = sorted(cams)

        def stack(attr: str) -> torch.Tensor:
            return torch.tensor(np.array([[getattr(c, attr) for c in cams[s]] for s in subjects]),
                                dtype=torch.float32, device=device)

        wh = torch.tensor([[[c.width, c.height] for c in cams[s]] for s in subjects], dtype=torch.float32,
                          device=device)
        return cls(subjects, stack("R"), stack("T"), stack("f"), stack("c"), stack("k"), stack("p"), wh)


def build_clips(subjects, frames: int, stride: int, *, validation: bool | None = None,
                device: torch.device | str = "cpu", bank: CameraBank | None = None) -> ClipSet:
    """Clips of `frames` at `stride` from the given subjects. validation=True keeps only held-out takes,
    False drops them, None keeps everything."""
    bank = bank or CameraBank.load()
    clips, subject_idx, keys = [], [], []
    for key, seq in h36m.load_poses(subjects).items():
        if validation is not None and is_validation_key(key) != validation:
            continue
        for start in clip_starts(len(seq), frames, stride):
            clips.append(seq[start:start + frames])
            subject_idx.append(bank.subjects.index(h36m.subject_of(key)))
            keys.append(f"{key}@{start}")
    if not clips:
        raise ValueError(f"no clips of {frames} frames for subjects {subjects}")
    world = torch.tensor(np.stack(clips), dtype=torch.float32, device=device)
    return ClipSet(world, torch.tensor(subject_idx, device=device), keys)


def project_distorted(cam_pts: torch.Tensor, f, c, k, p) -> torch.Tensor:
    """(B, T, J, 3) camera mm -> (B, T, J, 2) pixels, H36M distortion; camera params (B, ...)."""
    x = cam_pts[..., :2] / cam_pts[..., 2:3]
    r2 = (x * x).sum(-1, keepdim=True)
    k = k[:, None, None, :]
    p = p[:, None, None, :]
    radial = 1 + k[..., 0:1] * r2 + k[..., 1:2] * r2**2 + k[..., 2:3] * r2**3
    tan = p[..., 0:1] * x[..., 1:2] + p[..., 1:2] * x[..., 0:1]
    xd = x * (radial + tan) + p.flip(-1) * r2
    return xd * f[:, None, None, :] + c[:, None, None, :]


def virtual_cameras(world: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Random pinhole cameras around each clip: any yaw, 2.5-7 m away, 0.3-2.5 m high, roll +-10 deg,
    horizontal field of view 35-85 deg, square / landscape / portrait images. Returns R, centre, f, c, wh."""
    b, dev = world.shape[0], world.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, *shape, generator=gen, device=dev)

    root = world[:, :, 0]  # (B, T, 3)
    centre_of_motion = root.mean(1)
    yaw = uniform(0, 2 * math.pi)
    dist = uniform(2500, 7000)
    height = uniform(300, 2500)
    cam_pos = torch.stack([centre_of_motion[:, 0] + dist * torch.cos(yaw),
                           centre_of_motion[:, 1] + dist * torch.sin(yaw), height], dim=-1)
    look_at = centre_of_motion + torch.stack([torch.zeros_like(yaw), torch.zeros_like(yaw), uniform(-300, 300)], -1)
    forward = torch.nn.functional.normalize(look_at - cam_pos, dim=-1)
    up = torch.tensor([0.0, 0.0, 1.0], device=dev).expand_as(forward)
    right = torch.nn.functional.normalize(torch.cross(forward, up, dim=-1), dim=-1)
    down = torch.cross(forward, right, dim=-1)
    roll = uniform(-math.radians(10), math.radians(10))[:, None]
    right, down = right * torch.cos(roll) + down * torch.sin(roll), down * torch.cos(roll) - right * torch.sin(roll)
    R = torch.stack([right, down, forward], dim=1)  # (B, 3, 3) world -> camera rows
    # push the camera back along its axis until every joint of the clip is at least 1.5 m in front of it
    depth = torch.einsum("bij,btkj->btki", R, world - cam_pos[:, None, None])[..., 2]
    cam_pos = cam_pos - forward * (1500 - depth.amin(dim=(1, 2))).clamp(min=0)[:, None]

    aspect = torch.tensor([1.0, 0.5625, 1.7778], device=dev)[torch.randint(0, 3, (b,), generator=gen, device=dev)]
    wh = torch.stack([torch.full_like(aspect, 1000.0), 1000.0 * aspect], -1)
    fov = uniform(math.radians(35), math.radians(85))
    fx = 500.0 / torch.tan(fov / 2)
    f = torch.stack([fx, fx], -1)
    c = wh / 2 + uniform(-20, 20, 2)
    return R, cam_pos, f, c, wh


@dataclass
class NoiseModel:
    """Detector-like corruption of 2D joints, in fractions of the performer's 2D height per frame:
    white jitter (sigma up to `white`), slow drift (a 9-frame moving average of noise, up to `drift`),
    outliers (prob `outlier_p` per joint-frame, sigma `outlier`), and joints held at their last value for
    1-10 frames (prob `hold_p` per joint-frame start), which is what gap filling leaves behind."""

    white: float = 0.02
    drift: float = 0.02
    outlier_p: float = 0.002
    outlier: float = 0.1
    hold_p: float = 0.003

    def describe(self) -> str:
        return (f"white jitter U(0,{self.white}) x 2D height, drift U(0,{self.drift}) x height (9-frame smoothed), "
                f"outliers p={self.outlier_p} sigma={self.outlier} x height, holds p={self.hold_p} for 1-10 frames")

    def apply(self, xy: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, t, j, _ = xy.shape
        dev = xy.device
        body = (xy[..., 1].amax(-1) - xy[..., 1].amin(-1)).clamp(min=1e-3)[..., None, None]  # (B, T, 1, 1)

        def rand(*shape):
            return torch.rand(*shape, generator=gen, device=dev)

        def randn(*shape):
            return torch.randn(*shape, generator=gen, device=dev)

        out = xy + randn(b, t, j, 2) * rand(b, 1, 1, 1) * self.white * body
        drift = torch.nn.functional.avg_pool1d(randn(b, j * 2, t + 8), 9, stride=1).view(b, j, 2, t)
        out = out + drift.permute(0, 3, 1, 2) * 3.0 * rand(b, 1, 1, 1) * self.drift * body
        outliers = rand(b, t, j, 1) < self.outlier_p
        out = out + outliers * randn(b, t, j, 2) * self.outlier * body
        # holds: a joint keeps its value from the frame before the run
        start = rand(b, t, j) < self.hold_p
        length = torch.randint(1, 11, (b, t, j), generator=gen, device=dev)
        end = torch.where(start, torch.arange(t, device=dev)[None, :, None] + length, torch.zeros_like(length))
        held = torch.cummax(end, dim=1).values > torch.arange(t, device=dev)[None, :, None]
        frame = torch.arange(t, device=dev)[None, :, None].expand(b, t, j)
        last_good = torch.cummax(torch.where(held, torch.zeros_like(frame), frame), dim=1).values
        return torch.gather(out, 1, last_good[..., None].expand(b, t, j, 2))


@dataclass
class BatchCameras:
    """The camera each clip of a batch is seen through: R (B, 3, 3) world -> camera rows, centre (B, 3) world mm,
    f, c (B, 2) pixels, k (B, 3), p (B, 2) distortion (zero for virtual cameras), wh (B, 2) image size."""

    R: torch.Tensor
    centre: torch.Tensor
    f: torch.Tensor
    c: torch.Tensor
    k: torch.Tensor
    p: torch.Tensor
    wh: torch.Tensor

    def camera(self, b: int) -> h36m.Camera:
        """Clip b's camera as an h36m.Camera (float64), what the exact-mm scoring takes. Virtual images may be
        562.5 pixels high, so width and height stay floats."""
        def arr(t: torch.Tensor) -> np.ndarray:
            return t[b].double().cpu().numpy()

        width, height = (float(v) for v in self.wh[b])
        return h36m.Camera("batch", arr(self.R), arr(self.centre), arr(self.f), arr(self.c), arr(self.k),
                           arr(self.p), width, height)


def pick_cameras(world: torch.Tensor, subject: torch.Tensor, cam_index: torch.Tensor, bank: CameraBank,
                 gen: torch.Generator, virtual_p: float = 0.5) -> BatchCameras:
    """Each clip's real camera `cam_index` of its subject, replaced with probability `virtual_p` by a random
    virtual pinhole camera."""
    b, dev = world.shape[0], world.device
    R, centre = bank.R[subject, cam_index], bank.T[subject, cam_index]
    f, c, k, p, wh = (bank.f[subject, cam_index], bank.c[subject, cam_index], bank.k[subject, cam_index],
                      bank.p[subject, cam_index], bank.wh[subject, cam_index])
    virtual = torch.rand(b, generator=gen, device=dev) < virtual_p
    if virtual_p > 0:  # not virtual.any(): that waits for the GPU every batch
        vR, vcentre, vf, vc, vwh = virtual_cameras(world, gen)
        pick = virtual[:, None]
        R = torch.where(pick[..., None], vR, R)
        centre, f, c, wh = (torch.where(pick, a, r) for a, r in ((vcentre, centre), (vf, f), (vc, c), (vwh, wh)))
        k, p = k * ~pick, p * ~pick  # virtual cameras are ideal pinholes
    return BatchCameras(R, centre, f, c, k, p, wh)


def render_batch(world: torch.Tensor, cams: BatchCameras, gen: torch.Generator, *, flip_p: float = 0.5,
                 noise_p: float = 0.5, noise: NoiseModel | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """World clips (B, T, 17, 3) seen through `cams` -> normalised 2D inputs (B, T, 17, 2) and root-relative 2.5D
    targets (B, T, 17, 3), with detector-like noise (share `noise_p`) and horizontal flips (share `flip_p`)."""
    b, dev = world.shape[0], world.device
    f, wh = cams.f, cams.wh
    cam = torch.einsum("bij,btkj->btki", cams.R, world - cams.centre[:, None, None])  # (B, T, J, 3) camera mm
    uv = project_distorted(cam, f, cams.c, cams.k, cams.p)  # (B, T, J, 2) pixels
    w = wh[:, 0, None, None, None]
    xy = uv / w * 2 - torch.stack([torch.ones_like(wh[:, 0]), wh[:, 1] / wh[:, 0]], -1)[:, None, None]
    z_root = cam[:, :, :1, 2]
    z = (cam[..., 2] - z_root) * f[:, 0, None, None] / z_root / w[..., 0] * 2
    target = torch.cat([xy - xy[:, :, :1], z[..., None]], dim=-1)

    inputs = xy
    if noise_p > 0:
        noisy = (noise or NoiseModel()).apply(xy, gen)
        inputs = torch.where((torch.rand(b, generator=gen, device=dev) < noise_p)[:, None, None, None], noisy, xy)
    flip = torch.rand(b, generator=gen, device=dev) < flip_p
    if flip_p > 0:  # not flip.any(): that waits for the GPU every batch
        sign = torch.tensor([-1.0, 1.0], device=dev)
        inputs = torch.where(flip[:, None, None, None], inputs[:, :, FLIP_PERM] * sign, inputs)
        sign3 = torch.tensor([-1.0, 1.0, 1.0], device=dev)
        target = torch.where(flip[:, None, None, None], target[:, :, FLIP_PERM] * sign3, target)
    return inputs, target


def make_batch(world: torch.Tensor, subject: torch.Tensor, cam_index: torch.Tensor, bank: CameraBank,
               gen: torch.Generator, *, virtual_p: float = 0.5, flip_p: float = 0.5, noise_p: float = 0.5,
               noise: NoiseModel | None = None, bone_aug_p: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """World clips (B, T, 17, 3) -> normalised 2D inputs (B, T, 17, 2) and root-relative 2.5D targets (B, T, 17, 3).
    Bone-length augmentation (share `bone_aug_p`, engine/bone_aug.py), `pick_cameras`, then `render_batch`, drawing
    from `gen` in that order (bone_aug_p=0 draws nothing)."""
    world = augment_bones(world, gen, bone_aug_p)  # before the cameras: virtual ones frame the re-proportioned body
    cams = pick_cameras(world, subject, cam_index, bank, gen, virtual_p)
    return render_batch(world, cams, gen, flip_p=flip_p, noise_p=noise_p, noise=noise)
