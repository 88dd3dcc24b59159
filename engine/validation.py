"""Validation P1 (mm) on the held-out S8 takes, for checkpoint selection and augmentation ablations.

Always: `val_p1_mm` (full 3D) and `val_p1_depth_only_mm` (ground-truth x, y; predicted depth), ground-truth 2D
from the 4 real cameras. With `robustness=True` also, on the same clips and camera slots:
- `val_p1_noisy_mm`: the real cameras' 2D corrupted by the training noise model on every clip (noise_p=1);
- `val_p1_virtual_mm`: clean 2D from random virtual cameras (virtual_p=1), scored in that camera's frame.
With `virtual_subjects=True` (or `robustness`) also, on the same clips and the real cameras, clean 2D:
- `val_p1_virtual_subject_mm` / `val_p1_virtual_subject_depth_only_mm`: the clips re-proportioned as one of 8
  fixed virtual people (engine/bone_aug.virtual_subjects: bone lengths around the training people's mean),
  person (clip x 4 + slot) mod 8. The held-out takes are of a training subject, so plain validation cannot see
  a lifter that has memorised the training people's bone lengths; the test subjects S9/S11 are new people, and
  this score stands in for them without touching them.
All draw their corruption from a generator seeded per (clip, camera slot), so every run, machine size and batch
split sees the same inputs. Each rank scores its share of the clips; the sums are all-reduced.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from . import bone_aug, h36m
from .representation import to_camera_mm_exact
from .train_data import VALIDATION_SUBJECT, CameraBank, ClipSet, build_clips, make_batch, pick_cameras, render_batch

CHUNK = 64  # clips per forward pass
SEEDS = {"noisy": 1, "virtual": 2, "subject": 3}  # per kind of corruption (_score_corrupted)


def validation_clips(frames: int, *, stride: int = 0, max_clips: int = 0, subjects=(VALIDATION_SUBJECT,),
                     device: torch.device | str = "cpu", bank: CameraBank | None = None) -> ClipSet:
    """The held-out clips (only S8's second takes are held out, so `subjects` matters only if it lacks S8);
    stride defaults to the clip length; `max_clips` keeps the first ones (smoke runs)."""
    val = build_clips(list(subjects), frames, stride or frames, validation=True, device=device, bank=bank)
    if max_clips:
        keep = torch.arange(min(max_clips, len(val.keys)), device=val.world.device)
        val.world, val.subject = val.world[keep], val.subject[keep]
        val.keys = val.keys[: len(keep)]
    return val


def p1_errors(pred: np.ndarray, target: np.ndarray, world: np.ndarray, camera: h36m.Camera) -> tuple[float, float]:
    """One clip's P1 in mm, full 3D and depth only (target's x, y), in `camera`'s frame with the root's true
    pixels and depth: root-relative 2.5D (T, 17, 3) -> exact camera mm against the ground truth."""
    cam_pts = camera.world_to_camera(world)
    uv = camera.project(world)
    gt = cam_pts - cam_pts[:, :1]
    full = to_camera_mm_exact(pred, uv[:, 0], cam_pts[:, 0, 2], camera)
    depth_only = np.concatenate([target[..., :2], pred[..., 2:]], -1)
    depth = to_camera_mm_exact(depth_only, uv[:, 0], cam_pts[:, 0, 2], camera)
    return float(np.linalg.norm(full - gt, axis=-1).mean()), float(np.linalg.norm(depth - gt, axis=-1).mean())


def _forward(model: torch.nn.Module, x: torch.Tensor, bf16: bool) -> torch.Tensor:
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        return model(x).float()


def _score_real(model, val: ClipSet, bank: CameraBank, mine: torch.Tensor, bf16: bool) -> list[float]:
    """[sum full, sum depth only, count] over this rank's clips x the 4 real cameras, clean ground-truth 2D."""
    cams = h36m.load_cameras()
    errors_full, errors_depth = [], []
    gen = torch.Generator(device=val.world.device).manual_seed(0)
    for cam_i in range(4):
        for s in range(0, len(mine), CHUNK):
            world, subj = val.world[mine[s:s + CHUNK]], val.subject[mine[s:s + CHUNK]]
            x, y = make_batch(world, subj, torch.full_like(subj, cam_i), bank, gen, virtual_p=0, flip_p=0,
                              noise_p=0)
            pred = _forward(model, x, bf16)
            for b in range(len(world)):
                camera = cams[bank.subjects[int(subj[b])]][cam_i]
                full, depth = p1_errors(pred[b].cpu().numpy(), y[b].cpu().numpy(), world[b].cpu().numpy(), camera)
                errors_full.append(full)
                errors_depth.append(depth)
    return [sum(errors_full), sum(errors_depth), len(errors_full)]


def _score_corrupted(model, val: ClipSet, bank: CameraBank, mine: torch.Tensor, bf16: bool, *,
                     kind: str) -> list[float]:
    """[sum full, sum depth only, count]: noisy 2D from the real cameras ("noisy"), clean 2D from virtual ones
    ("virtual"), or clean 2D of virtual people from the real cameras ("subject")."""
    seed = SEEDS[kind]
    people = bone_aug.virtual_subjects()[1].to(val.world) if kind == "subject" else None
    gen = torch.Generator(device=val.world.device)
    errors_full, errors_depth = [], []
    for cam_i in range(4):
        for s in range(0, len(mine), CHUNK):
            idx = mine[s:s + CHUNK]
            xs, ys, worlds, cameras = [], [], [], []
            # one clip at a time so its corruption depends only on (clip, camera slot), not on the batch it is in
            for clip in idx.tolist():
                gen.manual_seed(seed * 100_000_000 + clip * 4 + cam_i)
                world, subj = val.world[clip:clip + 1], val.subject[clip:clip + 1]
                if people is not None:
                    person = (clip * 4 + cam_i) % len(people)
                    world = bone_aug.as_person(world, people[person:person + 1])
                cams = pick_cameras(world, subj, torch.full_like(subj, cam_i), bank, gen, float(kind == "virtual"))
                x, y = render_batch(world, cams, gen, flip_p=0, noise_p=1.0 if kind == "noisy" else 0.0)
                xs.append(x)
                ys.append(y)
                worlds.append(world[0])
                cameras.append(cams.camera(0))
            pred = _forward(model, torch.cat(xs), bf16)
            for b in range(len(idx)):
                full, depth = p1_errors(pred[b].cpu().numpy(), ys[b][0].cpu().numpy(), worlds[b].cpu().numpy(),
                                        cameras[b])
                errors_full.append(full)
                errors_depth.append(depth)
    return [sum(errors_full), sum(errors_depth), len(errors_full)]


@torch.no_grad()
def validate(model: torch.nn.Module, val: ClipSet, bank: CameraBank, *, bf16: bool = False,
             robustness: bool = False, virtual_subjects: bool = False) -> dict[str, float]:
    """P1 in mm over the validation clips x 4 camera slots; sharded over ranks when torch.distributed is up.
    `robustness` adds the noisy-2D, virtual-camera and virtual-subject scores, `virtual_subjects` the last alone."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)
    was_training = model.training
    model.eval()
    mine = torch.arange(rank, len(val.keys), world, device=val.world.device)  # this rank's share
    kinds = (["noisy", "virtual"] if robustness else []) + (["subject"] if robustness or virtual_subjects else [])
    sums = _score_real(model, val, bank, mine, bf16)
    for kind in kinds:
        sums += _score_corrupted(model, val, bank, mine, bf16, kind=kind)
    model.train(was_training)
    totals = torch.tensor(sums, dtype=torch.float64, device=val.world.device)
    if world > 1:
        dist.all_reduce(totals)
    metrics = {"val_p1_mm": float(totals[0] / totals[2]), "val_p1_depth_only_mm": float(totals[1] / totals[2])}
    for i, kind in enumerate(kinds, start=1):
        full, depth, count = totals[3 * i:3 * i + 3].tolist()
        if kind == "subject":
            metrics["val_p1_virtual_subject_mm"] = full / count
            metrics["val_p1_virtual_subject_depth_only_mm"] = depth / count
        else:
            metrics[f"val_p1_{kind}_mm"] = full / count
    return metrics
