"""Robustness validation: noisy 2D and virtual cameras."""

from __future__ import annotations

import math

import torch

from engine.train import Trainer, parse_args
from engine.train_data import CameraBank, pick_cameras, render_batch
from engine.validation import _score_corrupted, p1_errors, validation_clips

TINY = ["--config", "sasmamba-tiny", "--train-subjects", "S8", "--stride", "2000", "--batch", "2",
        "--val-max-clips", "3"]


def test_true_targets_score_zero_through_virtual_and_real_cameras(h36m_dir):
    # the exact-mm conversion of a clip's own 2.5D target, in the camera it was rendered through, is the ground truth
    bank = CameraBank.load()
    val = validation_clips(9, max_clips=3, bank=bank)
    gen = torch.Generator().manual_seed(3)
    for virtual in (1.0, 0.0):
        cams = pick_cameras(val.world, val.subject, torch.full_like(val.subject, 2), bank, gen, virtual)
        _, target = render_batch(val.world, cams, gen, flip_p=0, noise_p=1.0)  # noise touches inputs only
        for b in range(3):
            full, depth = p1_errors(target[b].numpy(), target[b].numpy(), val.world[b].numpy(), cams.camera(b))
            assert full < 0.05 and depth < 0.05, (virtual, full, depth)
    assert cams.camera(0).width == bank.wh[val.subject[0], 2, 0]


def test_robustness_validation_adds_two_fixed_scores_and_leaves_the_default_ones(tmp_path, h36m_dir, torch_one_thread):
    trainer = Trainer(parse_args([*TINY, "--out", str(tmp_path)]))
    default = trainer.validate()
    robust = trainer.validate(robustness=True)
    assert list(robust) == ["val_p1_mm", "val_p1_depth_only_mm", "val_p1_noisy_mm", "val_p1_virtual_mm"]
    assert all(math.isfinite(v) and v > 0 for v in robust.values())
    assert {k: robust[k] for k in default} == default
    assert trainer.validate(robustness=True) == robust  # same corruption every time
    assert robust["val_p1_noisy_mm"] != robust["val_p1_mm"] != robust["val_p1_virtual_mm"]

    # each clip's corruption is its own: scoring the clips in two shares (two ranks) sums to scoring them at once
    model, val, bank = trainer.model.eval(), trainer.val, trainer.bank
    with torch.no_grad():
        whole = _score_corrupted(model, val, bank, torch.arange(3), False, virtual=True)
        parts = [_score_corrupted(model, val, bank, torch.arange(r, 3, 2), False, virtual=True) for r in (0, 1)]
    assert abs(whole[0] - parts[0][0] - parts[1][0]) < 1e-6 * whole[0] and whole[1] == parts[0][1] + parts[1][1]
