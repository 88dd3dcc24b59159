"""`python -m engine validate WEIGHTS [WEIGHTS ...]`: validation P1 (mm) of checkpoints (.pt) or weights (.npz).

One process, on CUDA when there is one, else CPU. Prints (and with --json writes) one JSON object: name ->
{val_p1_mm, val_p1_depth_only_mm, val_p1_noisy_mm, val_p1_virtual_mm, val_p1_virtual_subject_mm,
val_p1_virtual_subject_depth_only_mm, epoch, step, weights, clips, val_seconds}; `--gt-only` keeps the first two
(the metrics training logs each epoch by default). See engine/validation.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from .deform_conv import DEFORM_IMPLS
from .model import SasMamba, get_config
from .train_data import CameraBank
from .validation import validate, validation_clips
from .weights import load_model_state


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m engine validate", description=__doc__)
    ap.add_argument("weights", type=Path, nargs="+", help="training checkpoints (.pt) or weights files (.npz)")
    ap.add_argument("--names", help="comma-separated names for the results (default: the paths)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--gt-only", action="store_true", help="only the ground-truth 2D metrics (a quarter of the time)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    ap.add_argument("--deform-impl", default="auto", choices=DEFORM_IMPLS)
    ap.add_argument("--device", default="", help="cuda, cpu, ... (default: cuda when available)")
    ap.add_argument("--val-stride", type=int, default=0, help="validation clip stride (default: clip length)")
    ap.add_argument("--val-max-clips", type=int, default=0)
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    names = args.names.split(",") if args.names else [str(p) for p in args.weights]
    if len(names) != len(args.weights):
        raise SystemExit(f"--names gives {len(names)} names for {len(args.weights)} weights files")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    bank = CameraBank.load(device)
    clips = {}  # by clip length: configs of other frame counts need their own clips
    results = {}
    for name, path in zip(names, args.weights, strict=True):
        start = time.time()
        state, info = load_model_state(path)
        cfg = get_config(info["config"])
        model = SasMamba(cfg).to(device)
        model.load_state_dict(state)
        model.set_deform_impl(args.deform_impl)
        if cfg.frames not in clips:
            clips[cfg.frames] = validation_clips(cfg.frames, stride=args.val_stride, max_clips=args.val_max_clips,
                                                 device=device, bank=bank)
        metrics = validate(model, clips[cfg.frames], bank, bf16=args.bf16, robustness=not args.gt_only)
        results[name] = {**metrics, "epoch": info["epoch"], "step": info["step"], "weights": str(path),
                         "clips": len(clips[cfg.frames].keys), "val_seconds": round(time.time() - start, 1)}
        print(f"{name}: " + " ".join(f"{k} {v:.2f}" for k, v in metrics.items()), flush=True)
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0
