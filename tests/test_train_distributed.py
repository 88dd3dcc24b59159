"""Training under torchrun (two CPU processes, gloo): sharded validation and resuming on another machine size."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import torch

from engine.evaluate import load_predictor
from engine.paths import PROJECT_ROOT
from engine.train import Trainer, parse_args
from engine.validation import validate
from engine.weights import export_checkpoint, load_weights

ENV_1_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT_ROOT)}
TINY = ["--config", "sasmamba-tiny", "--train-subjects", "S8", "--stride", "2000", "--batch", "2",
        "--val-max-clips", "3"]


def torchrun(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "engine",
           "train", *TINY, *args]
    run = subprocess.run(cmd, capture_output=True, text=True, env=ENV_1_THREAD, cwd=PROJECT_ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]


def test_two_process_epoch_validates_like_one_process_and_resumes_on_one(tmp_path, h36m_dir):
    out = tmp_path / "ddp"
    torchrun(["--epochs", "1", "--out", str(out)])
    record = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert record["world_size"] == 2 and record["epoch"] == 1
    state = torch.load(out / "last.pt", weights_only=False)
    assert state["epoch_samples"] == 0 and state["world"] == 2

    # each process scores its share of the validation clips; the reduced mean equals one process scoring all
    one = Trainer(parse_args([*TINY, "--out", str(tmp_path / "one"), "--resume", str(out / "last.pt")]))
    metrics = one.validate()
    assert abs(metrics["val_p1_mm"] - record["val_p1_mm"]) < 1e-6 * record["val_p1_mm"]
    assert abs(metrics["val_p1_depth_only_mm"] - record["val_p1_depth_only_mm"]) < 1e-6 * record["val_p1_mm"]

    # stopped mid-epoch on 2 processes: one process carries on from the same place in the epoch's sample order
    mid = tmp_path / "mid"
    torchrun(["--epochs", "1", "--max-steps", "5", "--out", str(mid)])
    assert torch.load(mid / "last.pt", weights_only=False)["epoch_samples"] == 5 * 2 * 2
    resumed = Trainer(parse_args([*TINY, "--out", str(mid), "--resume", str(mid / "last.pt"), "--max-steps", "6"]))
    assert resumed.steps_per_epoch() in (2 * record["step"], 2 * record["step"] + 1)  # steps of 2, not 2 x 2
    resumed.run()
    state = torch.load(mid / "last.pt", weights_only=False)
    assert (state["step"], state["epoch_samples"], state["world"]) == (6, 5 * 2 * 2 + 2, 1)


def test_stop_file_stops_every_process_at_the_same_step(tmp_path, h36m_dir):
    """A STOP file ends a background run at the next check (every 20 steps), decided once for all processes: a
    process stopping alone would leave the other waiting in its next all-reduce."""
    out = tmp_path / "stop"
    out.mkdir()
    (out / "STOP").touch()
    torchrun(["--epochs", "10", "--max-steps", "60", "--out", str(out)])
    state = torch.load(out / "last.pt", weights_only=False)
    assert state["step"] == 20 and state["world"] == 2


def test_warmup_ramps_the_learning_rate_from_this_runs_first_step(tmp_path, h36m_dir):
    run = Trainer(parse_args([*TINY, "--out", str(tmp_path / "w"), "--lr", "1e-3", "--lr-decay", "0.5",
                              "--warmup-steps", "10", "--max-steps", "3"]))
    run.run()
    assert abs(run.opt.param_groups[0]["lr"] - 1e-3 * 3 / 10) < 1e-12  # epoch 0: no decay yet, 3 of 10 steps
    # a later run from that checkpoint counts its warm-up from its own first step
    more = Trainer(parse_args([*TINY, "--out", str(tmp_path / "w"), "--lr", "1e-3", "--lr-decay", "0.5",
                               "--warmup-steps", "4", "--run-steps", "2", "--resume", str(tmp_path / "w" / "last.pt")]))
    more.run()
    assert more.step == 5 and abs(more.opt.param_groups[0]["lr"] - 1e-3 * 2 / 4) < 1e-12


def test_moving_average_is_validated_checkpointed_resumed_and_exported(tmp_path, h36m_dir):
    out = tmp_path / "ema"
    run = Trainer(parse_args([*TINY, "--out", str(out), "--ema", "0.5", "--epochs", "1"]))
    run.run()
    record = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert record["val_of_ema"] == 0.5 and record["val_p1_raw_mm"] != record["val_p1_mm"]
    assert record["val_p1_depth_only_raw_mm"] != record["val_p1_depth_only_mm"]
    state = torch.load(out / "last.pt", weights_only=False)
    model, ema = state["model"], state["ema"]
    assert model.keys() == ema.keys() and any(not torch.equal(model[k], ema[k]) for k in model)
    # validation scores the average
    metrics = run.validate()
    run.model.load_state_dict(ema)
    assert validate(run.model, run.val, run.bank) == metrics
    # a resumed run carries on from the saved average, not from a fresh copy of the weights
    more = Trainer(parse_args([*TINY, "--out", str(out), "--ema", "0.5", "--resume", str(out / "last.pt"),
                               "--run-steps", "1"]))
    assert all(torch.equal(v, ema[k]) for k, v in more.ema.module.state_dict().items())
    more.run()  # one step: average = 0.5 saved average + 0.5 new weights
    new = more.model.state_dict()
    for k, v in more.ema.module.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, 0.5 * ema[k] + 0.5 * new[k], atol=1e-6), k
    # the exported weights are the average
    saved = torch.load(out / "last.pt", weights_only=False)["ema"]
    arrays, _ = load_weights(export_checkpoint(out / "last.pt", tmp_path / "ema.npz"))
    assert all(np.array_equal(arrays[k], saved[k].numpy()) for k in saved)
    # and so is what `engine evaluate --checkpoint last.pt` scores
    predict, _, _ = load_predictor(out / "last.pt", "torch", "cpu")
    more.model.load_state_dict(saved)
    more.model.eval()
    x = torch.randn(1, more.cfg.frames, 17, 2)
    with torch.no_grad():
        assert np.allclose(predict(x.numpy()), more.model(x).numpy(), atol=1e-6)


def test_best_checkpoint_leaves_the_optimiser_to_last(tmp_path, h36m_dir):
    out = tmp_path / "b"
    Trainer(parse_args([*TINY, "--out", str(out), "--epochs", "1"])).run()
    best, last = (torch.load(out / name, weights_only=False) for name in ("best.pt", "last.pt"))
    assert "opt" not in best and last["opt"]["state"]
    assert all(torch.equal(best["model"][k], v) for k, v in last["model"].items())  # one epoch: the same weights


def test_no_val_raw_validates_the_moving_average_alone(tmp_path, h36m_dir):
    out = tmp_path / "avg_only"
    run = Trainer(parse_args([*TINY, "--out", str(out), "--ema", "0.5", "--epochs", "1", "--no-val-raw"]))
    run.run()
    record = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert record["val_of_ema"] == 0.5 and record["val_p1_mm"] == run.validate()["val_p1_mm"]
    assert not any(k.endswith("_raw_mm") for k in record)
    assert (out / "best.pt").exists()  # the checkpoint choice still runs on the average's score


def test_cooldown_anneals_the_learning_rate_to_zero_at_the_last_epoch(tmp_path, h36m_dir):
    out = tmp_path / "cool"
    run = Trainer(parse_args([*TINY, "--out", str(out), "--lr", "1e-3", "--lr-decay", "1.0", "--epochs", "2",
                              "--cooldown-epochs", "1", "--no-val"]))
    nb = run.steps_per_epoch()
    run.run()
    # the first epoch runs at the full rate; the second's last step at 1/nb of it, the linear ramp's last point
    assert run.epoch == 2 and abs(run.opt.param_groups[0]["lr"] - 1e-3 / nb) < 1e-12
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert records[0]["lr"] == 1e-3
