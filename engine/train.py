"""`python -m engine train`: train SasMamba on Human3.6M, on CPU (smoke runs) or GPUs under torchrun (DDP).

One process per GPU; batches are synthesised on the device (engine/train_data.py). Checkpoints (model, optimiser,
epoch, step, place in the epoch) go to OUT/last.pt every epoch and every few minutes, OUT/best.pt on the best
validation P1 (held-out S8 takes, never S9/S11), and a JSON line per epoch to OUT/log.jsonl. `--resume` continues
from a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist

from . import h36m
from .deform_conv import DEFORM_IMPLS
from .model import SasMamba, get_config
from .train_data import CameraBank, build_clips, make_batch
from .validation import validate, validation_clips

# --scan-impl -> SasMamba.set_scan_backend: "auto" is the model's default (mamba-ssm where it imports)
SCAN_IMPLS = {"auto": "auto", "mamba-ssm": "cuda", "triton": "triton-train"}


def mpjpe_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(pred - target, dim=-1).mean()


def scale_normalized_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE after the per-frame scale that best fits pred to target."""
    scale = (pred * target).sum(dim=(-2, -1), keepdim=True) / (pred * pred).sum(dim=(-2, -1), keepdim=True).clamp(
        min=1e-8)
    return mpjpe_loss(scale * pred, target)


def velocity_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return mpjpe_loss(pred.diff(dim=1), target.diff(dim=1))


def lifting_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The recipe's loss: MPJPE + 0.5 scale-normalised MPJPE + 20 velocity, in normalised units."""
    parts = {"mpjpe": mpjpe_loss(pred, target), "n_mpjpe": scale_normalized_mpjpe(pred, target),
             "velocity": velocity_loss(pred, target)}
    total = parts["mpjpe"] + 0.5 * parts["n_mpjpe"] + 20.0 * parts["velocity"]
    return total, {k: float(v.detach()) for k, v in parts.items()}


def cooldown_factor(epochs_left: float, cooldown_epochs: float) -> float:
    """Learning-rate multiplier for a linear cool-down: 1 until the last `cooldown_epochs`, then down to 0 at the end
    (0 = off).

    Annealing removes the weight noise that the moving average only smooths, noise that grows with the rate: from
    7e-5 it bought little (docs/training.md, session 10); at 3e-4 that noise costs about 0.6 mm of validation
    (session 11), which is what a cool-down from there is for."""
    if cooldown_epochs <= 0:
        return 1.0
    return min(1.0, max(0.0, epochs_left / cooldown_epochs))


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m engine train", description=__doc__)
    ap.add_argument("--config", default="sasmamba-s")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=16, help="clips per process per step")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--lr-decay", type=float, default=0.99, help="multiplier per epoch")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="keep an exponential moving average of the weights with this decay per step (e.g. 0.998): "
                         "validation, best.pt and exported weights then use the average")
    ap.add_argument("--warmup-steps", type=int, default=0,
                    help="ramp the learning rate up linearly over this run's first steps: for a fresh optimiser "
                         "on trained weights (--init-weights), whose first Adam steps are otherwise full-size")
    ap.add_argument("--cooldown-epochs", type=float, default=0.0,
                    help="scale the learning rate down linearly to zero over the last N epochs before --epochs, "
                         "step by step: annealing a long run's weights at its end (docs/training.md)")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--stride", type=int, default=81, help="training clip stride in frames")
    ap.add_argument("--virtual-p", type=float, default=0.5, help="share of clips seen by a virtual camera")
    ap.add_argument("--noise-p", type=float, default=0.5, help="share of clips with detector-like 2D noise")
    ap.add_argument("--flip-p", type=float, default=0.5)
    ap.add_argument("--bone-aug", type=float, default=0.0,
                    help="share of clips re-proportioned (global size and per-bone-group lengths, engine/bone_aug.py) "
                         "before projection: new people's bone lengths")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    ap.add_argument("--deform-impl", default="auto", choices=DEFORM_IMPLS,
                    help="deformable conv implementation (same result; speed differs, see scripts/check_gpu.py)")
    ap.add_argument("--scan-impl", default="auto", choices=tuple(SCAN_IMPLS),
                    help="training's selective scan: auto (mamba-ssm's CUDA kernel where it imports, else torch's), "
                         "mamba-ssm (that kernel by name, at validation too), or triton (engine/"
                         "triton_selective_scan.py: no mamba-ssm build needed; validation keeps the auto paths)")
    ap.add_argument("--max-steps", type=int, default=0,
                    help="stop once the step count, the checkpoint's steps included, reaches this (smoke tests)")
    ap.add_argument("--run-steps", type=int, default=0,
                    help="stop after this many steps of this run, whatever step the checkpoint was at (ablations)")
    ap.add_argument("--time-limit", type=float, default=0, help="minutes; stop cleanly and checkpoint")
    ap.add_argument("--save-every", type=float, default=4.0, help="minutes between mid-epoch checkpoints")
    ap.add_argument("--resume", type=Path, help="training checkpoint (.pt) to continue from")
    ap.add_argument("--init-weights", type=Path,
                    help="start from shipped weights (.npz, e.g. engine/weights/sasmamba-s_h36m.npz) or a training "
                         "checkpoint (.pt): model only, fresh optimiser, epoch (and a .pt's place in it) from the file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-subjects", default=",".join(h36m.TRAIN_SUBJECTS))
    ap.add_argument("--val-stride", type=int, default=0, help="validation clip stride (default: clip length)")
    ap.add_argument("--val-max-clips", type=int, default=0)
    ap.add_argument("--val-robustness", action="store_true",
                    help="validation also scores noisy 2D, virtual cameras and virtual subjects (4x the time; see "
                         "engine/validation.py)")
    ap.add_argument("--val-virtual-subjects", action="store_true",
                    help="validation also scores the held-out takes re-proportioned as 8 fixed virtual people "
                         "(val_p1_virtual_subject_mm, ..._depth_only_mm: 2x the time), the stand-in for new subjects")
    ap.add_argument("--no-val-raw", action="store_true",
                    help="with --ema, validate the average alone, not the raw weights as well (one validation "
                         "pass an epoch fewer; docs/training.md: the average has scored better after every epoch)")
    ap.add_argument("--no-val", action="store_true",
                    help="no validation at epoch ends (short ablation runs, scored afterwards by `engine validate`)")
    return ap.parse_args(argv)


class Trainer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        local = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(args.seed)
        self.cfg = get_config(args.config)
        self.model = SasMamba(self.cfg).to(self.device)
        self.model.set_deform_impl(args.deform_impl)
        self.model.set_scan_backend(SCAN_IMPLS[args.scan_impl])
        device_ids = [local] if self.device.type == "cuda" else None
        self.ddp = (torch.nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
                    if self.distributed else self.model)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        self.bank = CameraBank.load(self.device)
        subjects = args.train_subjects.split(",")
        self.train = build_clips(subjects, self.cfg.frames, args.stride, validation=False, device=self.device,
                                 bank=self.bank)
        self.val = validation_clips(self.cfg.frames, stride=args.val_stride, max_clips=args.val_max_clips,
                                    subjects=subjects, device=self.device, bank=self.bank)
        self.epoch, self.step, self.best = 0, 0, math.inf
        self.epoch_samples = 0  # training samples (clip x camera slot) of the current epoch already seen
        self.gpu_seconds = 0.0
        self.args.out.mkdir(parents=True, exist_ok=True)
        resumed_ema = None
        if args.resume and args.resume.exists():
            resumed_ema = self.load(args.resume)
        elif args.init_weights:
            self.load_weights(args.init_weights)
        self.start_step = self.step  # --run-steps counts from here
        # the average starts from the weights as loaded (a resumed checkpoint's own average, when it kept one);
        # validation scores it, and it is what best.pt and the exported weights stand for
        self.ema = None
        if args.ema:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(args.ema))
            if resumed_ema is not None:
                self.ema.module.load_state_dict(resumed_ema)
                self.ema.n_averaged.fill_(1)  # at 0 the first update would copy the weights over the average

    # one epoch = every training clip through each of its subject's 4 camera slots (real or virtual), in one
    # order shared by all ranks: global step i takes the next world x batch entries, rank r its r-th share, so the
    # samples an epoch has consumed do not depend on the number of GPUs (a run resumes on another machine size)
    def epoch_order(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.args.seed * 1000 + self.epoch)
        return torch.randperm(len(self.train.keys) * 4, generator=g)

    def steps_per_epoch(self) -> int:
        return len(self.train.keys) * 4 // (self.world * self.args.batch)

    def run(self) -> None:
        args = self.args
        start = time.time()
        last_save = time.time()
        batch_gen = torch.Generator(device=self.device).manual_seed(args.seed * 7919 + self.rank + 13 * self.epoch)
        stop = False
        while self.epoch < args.epochs and not stop:
            epoch_lr = args.lr * args.lr_decay**self.epoch
            order = self.epoch_order()
            nb = self.steps_per_epoch()
            per_step = self.world * args.batch
            skip = min(self.epoch_samples // per_step, nb)  # resumed mid-epoch
            self.model.train()
            t_epoch, losses = time.time(), []
            for i in range(skip, nb):
                first = i * per_step + self.rank * args.batch
                idx = order[first:first + args.batch].to(self.device)
                clip, cam = idx // 4, idx % 4
                warm = min(1.0, (self.step - self.start_step + 1) / args.warmup_steps) if args.warmup_steps else 1.0
                cool = cooldown_factor(args.epochs - (self.epoch + i / nb), args.cooldown_epochs)
                for g in self.opt.param_groups:
                    g["lr"] = epoch_lr * warm * cool
                x, y = make_batch(self.train.world[clip], self.train.subject[clip], cam, self.bank, batch_gen,
                                  virtual_p=args.virtual_p, flip_p=args.flip_p, noise_p=args.noise_p,
                                  bone_aug_p=args.bone_aug)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=args.bf16):
                    pred = self.ddp(x)
                loss, _ = lifting_loss(pred.float(), y)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                self.opt.step()
                if self.ema is not None:
                    self.ema.update_parameters(self.model)
                self.step += 1
                self.epoch_samples = (i + 1) * per_step
                losses.append(loss.detach())  # no .item() here: it would wait for the GPU every step
                if self.rank == 0 and self.step % 100 == 0:
                    print(f"epoch {self.epoch} step {self.step} loss {torch.stack(losses[-100:]).mean():.5f} "
                          f"{(time.time() - t_epoch) / (i + 1 - skip):.3f}s/step", flush=True)
                if (args.max_steps and self.step >= args.max_steps
                        or args.run_steps and self.step - self.start_step >= args.run_steps
                        or self.step % 20 == 0 and self.asked_to_stop(start)):
                    stop = True
                    break
                if (time.time() - last_save) / 60 > args.save_every:
                    self.save("last.pt")
                    last_save = time.time()
            self.gpu_seconds += (time.time() - t_epoch) * self.world
            if stop and i < nb - 1:
                self.save("last.pt")
                break
            self.epoch += 1
            self.epoch_samples = 0
            metrics = {} if args.no_val else self.validate(robustness=args.val_robustness,
                                                           virtual_subjects=args.val_virtual_subjects)
            if metrics and self.ema is not None and not args.no_val_raw:  # so a log shows what the average buys
                raw = validate(self.model, self.val, self.bank, bf16=args.bf16)
                metrics.update({f"{k.removesuffix('_mm')}_raw_mm": v for k, v in raw.items()})
            train_loss = float(torch.stack(losses).mean()) if losses else None
            record = {"epoch": self.epoch, "step": self.step, "train_loss": train_loss,
                      "lr": self.opt.param_groups[0]["lr"], "epoch_seconds": time.time() - t_epoch,
                      "gpu_minutes_total": self.gpu_seconds / 60, "world_size": self.world,
                      **({"val_of_ema": args.ema} if self.ema is not None and metrics else {}), **metrics}
            if self.rank == 0:
                print(json.dumps(record), flush=True)
                with open(args.out / "log.jsonl", "a") as fh:
                    fh.write(json.dumps(record) + "\n")
                if metrics and metrics["val_p1_mm"] < self.best:
                    self.best = metrics["val_p1_mm"]
                    self.save("best.pt")
            self.save("last.pt")
            last_save = time.time()
        if self.distributed:
            # every rank done (rank 0 may still be writing checkpoints) before the group goes: a rank that tore its
            # gloo group down while the other still used it aborted now and then on a busy 2-core CI box
            dist.barrier()
            dist.destroy_process_group()

    def asked_to_stop(self, start: float) -> bool:
        """A STOP file in the run folder (ends a background run cleanly, checkpoint kept, without a signal) or the
        time limit. Decided once for all ranks: each reads its own clock and the file at its own moment, and a rank
        that stopped alone would leave the others waiting in the next step's all-reduce."""
        args = self.args
        wanted = (args.out / "STOP").exists() or bool(args.time_limit and (time.time() - start) / 60 > args.time_limit)
        if not self.distributed:
            return wanted
        flag = torch.tensor([float(wanted)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def validate(self, robustness: bool = False, virtual_subjects: bool = False) -> dict:
        """P1 in mm on held-out training-subject takes, ground-truth 2D from the 4 real cameras, exact mm; with
        `robustness`, also with noisy 2D, from virtual cameras and of virtual subjects; with `virtual_subjects`,
        the last alone (engine/validation.py)."""
        model = self.ema.module if self.ema is not None else self.model
        return validate(model, self.val, self.bank, bf16=self.args.bf16, robustness=robustness,
                        virtual_subjects=virtual_subjects)

    def save(self, name: str) -> None:
        if self.rank != 0:
            return
        state = {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "epoch": self.epoch,
                 "step": self.step, "best": self.best, "config": self.cfg.to_dict(), "args": vars(self.args),
                 "gpu_seconds": self.gpu_seconds, "epoch_samples": self.epoch_samples, "world": self.world,
                 "start_step": self.start_step}
        if self.ema is not None:
            state["ema"] = self.ema.module.state_dict()
        if name == "best.pt":  # for export and evaluation; resuming uses last.pt. Also keeps it small to bring back
            del state["opt"]
        tmp = self.args.out / (name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.args.out / name)

    def load_weights(self, path: Path) -> None:
        """Model only, fresh optimiser; the epoch (and a .pt checkpoint's step and place in the epoch) from the file."""
        from .weights import load_model_state

        state, info = load_model_state(path)
        if get_config(info["config"]) != self.cfg:
            raise ValueError(f"{path} holds a {info['config']} model, not {self.cfg.to_dict()}")
        self.model.load_state_dict(state)
        self.epoch = info["epoch"]
        self.step = info["step"] if info["step"] is not None else self.epoch * self.steps_per_epoch()
        self.epoch_samples = info["epoch_samples"]
        self.gpu_seconds = info["gpu_seconds"]
        if self.rank == 0:
            print(f"initialised from {path}: epoch {self.epoch} step {self.step}", flush=True)

    def load(self, path: Path) -> dict | None:
        """Everything a run needs to continue; returns the checkpoint's moving average, if it kept one."""
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        if "opt" in state:
            self.opt.load_state_dict(state["opt"])
        self.epoch, self.step = state.get("epoch", 0), state.get("step", 0)
        if "epoch_samples" in state:
            self.epoch_samples = state["epoch_samples"]
        else:  # checkpoints before epoch_samples was recorded: one process, steps of args.batch
            per_step = state["args"]["batch"]
            self.epoch_samples = max(0, self.step - self.epoch * (len(self.train.keys) * 4 // per_step)) * per_step
        self.best = state.get("best", math.inf)
        self.gpu_seconds = state.get("gpu_seconds", 0.0)
        if self.rank == 0:
            print(f"resumed from {path}: epoch {self.epoch} step {self.step} best {self.best:.2f} mm", flush=True)
        return state.get("ema")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    Trainer(args).run()
    return 0
