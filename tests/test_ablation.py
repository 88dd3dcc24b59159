"""Robustness validation (noisy 2D, virtual cameras), `engine validate`, and the augmentation ablation script on CPU."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import torch

from engine.paths import PROJECT_ROOT
from engine.train import Trainer, parse_args
from engine.train_data import CameraBank, pick_cameras, render_batch
from engine.validation import _score_corrupted, p1_errors, validation_clips

ENV_1_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT_ROOT)}
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
    assert list(robust) == ["val_p1_mm", "val_p1_depth_only_mm", "val_p1_noisy_mm", "val_p1_virtual_mm",
                            "val_p1_virtual_subject_mm", "val_p1_virtual_subject_depth_only_mm"]
    assert all(math.isfinite(v) and v > 0 for v in robust.values())
    assert {k: robust[k] for k in default} == default
    assert trainer.validate(robustness=True) == robust  # same corruption every time
    assert robust["val_p1_noisy_mm"] != robust["val_p1_mm"] != robust["val_p1_virtual_mm"]

    # each clip's corruption is its own: scoring the clips in two shares (two ranks) sums to scoring them at once
    model, val, bank = trainer.model.eval(), trainer.val, trainer.bank
    with torch.no_grad():
        for kind in ("virtual", "subject"):
            whole = _score_corrupted(model, val, bank, torch.arange(3), False, kind=kind)
            parts = [_score_corrupted(model, val, bank, torch.arange(r, 3, 2), False, kind=kind) for r in (0, 1)]
            assert all(abs(whole[i] - parts[0][i] - parts[1][i]) < 1e-6 * whole[i] for i in range(3)), kind


def test_ablation_script_on_cpu_fine_tunes_each_variant_from_the_checkpoint_and_scores_all(tmp_path, h36m_dir):
    start = Trainer(parse_args([*TINY, "--out", str(tmp_path / "start")]))
    start.step, start.epoch = 5, 3  # --run-steps counts from the checkpoint's step, not from 0
    start.save("start.pt")
    out = tmp_path / "out"
    env = {**ENV_1_THREAD, "ABLATE_DEVICE": "cpu", "PYTHON": sys.executable, "VAL_ARGS": "--val-max-clips 3",
           "OUT": str(out)}
    cmd = ["bash", "scripts/gpu_ablate.sh", str(tmp_path / "start" / "start.pt"), "2", str(tmp_path / "runs"),
           "--config", "sasmamba-tiny", "--train-subjects", "S8", "--stride", "2000", "--batch", "2"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["ablate_log.txt", "ablation.json"]
    data = json.loads((out / "ablation.json").read_text())
    assert list(data["variants"]) == ["start", "all", "no_flip", "no_noise", "no_virtual"]
    for name, entry in data["variants"].items():
        assert all(math.isfinite(entry[k]) for k in ("val_p1_mm", "val_p1_noisy_mm", "val_p1_virtual_mm",
                                                     "val_p1_virtual_subject_depth_only_mm")), name
        assert entry["steps"] == (0 if name == "start" else 2)
    assert data["variants"]["all"]["step"] == 7 and data["card"] == "cpu"
    assert data["train_args"] == " ".join(["--seed", "0", "--batch", "16", "--lr", "7e-4", *cmd[5:]])  # as run
    for name in ("all", "no_noise"):  # no validation epoch in the runs: scored afterwards only
        assert not (tmp_path / "runs" / name / "best.pt").exists()
    state = torch.load(tmp_path / "runs" / "no_noise" / "last.pt", weights_only=False)
    assert state["args"]["noise_p"] == 0 and state["args"]["flip_p"] == 0.5 and state["opt"]["state"]
    assert "| no_virtual |" in run.stdout

    report = tmp_path / "ablation.md"
    md = subprocess.run([sys.executable, "scripts/ablation_report.py", "markdown", str(out / "ablation.json"), "-o",
                         str(report)], capture_output=True, text=True, env=ENV_1_THREAD, cwd=PROJECT_ROOT, timeout=60)
    assert md.returncode == 0, md.stderr
    text = report.read_text()
    assert ("| variant | GT-2D P1 | depth only | noisy-2D P1 | virtual-camera P1 | virtual-subject P1 | "
            "virtual-subject depth only | noisy - GT | virtual - GT | subject - GT depth only | steps |" in text)
    run_all = data["variants"]["all"]
    row = next(line for line in text.splitlines() if line.startswith("| all |")).split(" | ")
    assert row[7] == f"{run_all['val_p1_noisy_mm'] - run_all['val_p1_mm']:.1f}"  # the noisy-2D gap, in mm
    assert "not what it buys from scratch" in " ".join(text.split())
