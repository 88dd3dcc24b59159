"""Bone-length augmentation (engine/bone_aug.py) in training batches, and the virtual-subject validation score."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from engine import bone_aug
from engine.skeleton import BONES, FLIP_PERM
from engine.train import Trainer, parse_args
from engine.train_data import CameraBank, build_clips, make_batch

TINY = ["--config", "sasmamba-tiny", "--train-subjects", "S8", "--stride", "2000", "--batch", "2",
        "--val-max-clips", "3"]
_CHILD = [c for c, _ in BONES]
_PARENT = [p for _, p in BONES]


def _clips(frames: int = 27, n: int = 6):
    bank = CameraBank.load()
    clips = build_clips(["S1", "S8"], frames, 2000, validation=False, bank=bank)
    keep = torch.linspace(0, len(clips.keys) - 1, n).long()
    return clips.world[keep].double(), clips.subject[keep], bank


def _bones(world: torch.Tensor) -> torch.Tensor:
    return world[:, :, _CHILD] - world[:, :, _PARENT]


def test_rescaled_bones_are_factor_times_original_constant_in_time_with_directions_and_root_kept(h36m_dir):
    world, _, _ = _clips()
    factors = bone_aug.random_factors(len(world), torch.Generator().manual_seed(5), 1.0).double()
    assert not torch.allclose(factors, torch.ones_like(factors))
    out = bone_aug.rescale_bones(world, factors)
    before, after = _bones(world), _bones(out)
    len_before, len_after = before.norm(dim=-1), after.norm(dim=-1)
    assert torch.allclose(len_after, len_before * factors[:, None], atol=1e-6)
    # the data's own lengths are constant up to int16 rounding (std 0.4 mm); so are the new ones, times the factor
    assert (len_after.std(dim=1) < 0.6 * factors).all()
    cos = (before * after).sum(-1) / (len_before * len_after)
    assert (cos > 1 - 1e-9).all()
    assert torch.equal(out[:, :, 0], world[:, :, 0])
    # symmetric people: a left bone and its mirror get the same factor, so flips keep them valid
    mirror = {b: next(i for i, (c, _) in enumerate(BONES) if c == FLIP_PERM[child]) for b, (child, _) in
              enumerate(BONES)}
    assert torch.equal(factors, factors[:, [mirror[b] for b in range(len(BONES))]])
    # a virtual person: the clips' motion with that person's bone lengths, whoever performed them
    person = bone_aug.virtual_subjects()[1][1:2].double()
    moved = bone_aug.as_person(world, person.expand(len(world), -1))
    assert torch.allclose(_bones(moved).norm(dim=-1).median(dim=1).values, person.expand(len(world), -1), atol=0.5)


def test_factors_stay_in_their_ranges_and_p_picks_the_share_of_clips():
    gen = torch.Generator().manual_seed(0)
    factors = bone_aug.random_factors(4000, gen, 0.5)
    changed = (factors != 1).any(-1)
    assert abs(float(changed.float().mean()) - 0.5) < 0.05
    lo = bone_aug.SIZE_RANGE[0] * min(r[0] for _, r in bone_aug.BONE_GROUPS.values())
    hi = bone_aug.SIZE_RANGE[1] * max(r[1] for _, r in bone_aug.BONE_GROUPS.values())
    assert factors.min() >= lo and factors.max() <= hi
    names, people = bone_aug.virtual_subjects()
    assert len(names) == 8 and people.shape == (8, 16) and names[:2] == ["short_limbed", "long_limbed"]
    assert torch.equal(people, bone_aug.virtual_subjects()[1])  # fixed people
    thigh = bone_aug.BONE_GROUPS["thigh"][0][0]
    assert people[0, thigh] == people[:, thigh].min() and people[1, thigh] == people[:, thigh].max()


def test_zero_share_leaves_batches_and_the_generator_as_before(h36m_dir):
    world, subject, bank = _clips()
    world = world.float()
    cam = torch.arange(len(world)) % 4
    a_gen, b_gen = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    a = make_batch(world, subject, cam, bank, a_gen)
    b = make_batch(world, subject, cam, bank, b_gen, bone_aug_p=0.0)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert torch.equal(a_gen.get_state(), b_gen.get_state())
    c = make_batch(world, subject, cam, bank, torch.Generator().manual_seed(9), bone_aug_p=1.0)
    assert not torch.equal(a[1], c[1])


def test_virtual_subject_validation_runs_on_a_tiny_model_and_is_deterministic(tmp_path, h36m_dir, torch_one_thread):
    trainer = Trainer(parse_args([*TINY, "--out", str(tmp_path), "--bone-aug", "0.5", "--max-steps", "1",
                                  "--no-val"]))
    plain = trainer.validate()
    scores = trainer.validate(virtual_subjects=True)
    assert list(scores) == [*plain, "val_p1_virtual_subject_mm", "val_p1_virtual_subject_depth_only_mm"]
    assert {k: scores[k] for k in plain} == plain
    assert all(math.isfinite(v) and v > 0 for v in scores.values())
    assert scores["val_p1_virtual_subject_mm"] != scores["val_p1_mm"]
    assert trainer.validate(virtual_subjects=True) == scores
    trainer.run()  # one training step through the augmentation; the flag is kept with the checkpoint
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    assert state["args"]["bone_aug"] == 0.5 and state["step"] == 1


def test_subject_gap_rows_cover_subjects_held_out_takes_and_virtual_people(h36m_dir):
    import numpy as np

    from scripts.subject_gap import score_rows, summary

    def flat(x: np.ndarray) -> np.ndarray:  # a lifter that predicts no depth: every row's error is the depth
        return np.concatenate([x - x[:, :, :1], np.zeros_like(x[..., :1])], -1)

    rows = score_rows(flat, 27, subjects=("S9",), cameras=(0,), frames_per_sequence=27)
    names = bone_aug.virtual_subjects()[0]
    assert list(rows) == ["S9", "S8 held-out", *(f"virtual {n}" for n in names)]
    assert all(math.isfinite(r["p1_depth_only"]) and "p1_noisy" not in r for r in rows.values())
    assert rows["S8 held-out"]["sequences"] == rows["virtual short_limbed"]["sequences"]
    # a short-limbed person's depth extents are shorter: a depthless guess is off by less
    assert rows["virtual short_limbed"]["p1_depth_only"] < rows["S8 held-out"]["p1_depth_only"]
    means = summary(rows)
    assert math.isnan(means["train_subjects"]) and means["test_subjects"] == rows["S9"]["p1_depth_only"]


def test_subject_gap_names_the_weights_it_scored_by_epoch_and_step():
    from engine.weights import load_weights, shipped_weights_path
    from scripts.subject_gap import ROOT, weights_identity

    path = shipped_weights_path()
    meta = load_weights(path)[1]
    shown = weights_identity(path, meta)  # the shipped file changes every session: its epoch says which it was
    assert shown == {"weights": str(path.resolve().relative_to(ROOT)), "weights_epoch": meta["epochs"],
                     "weights_step": meta["checkpoint"]["step"]}
    assert weights_identity(Path("/elsewhere/last.pt"), {"epoch": 3, "step": 40}) == {
        "weights": "/elsewhere/last.pt", "weights_epoch": 3, "weights_step": 40}
