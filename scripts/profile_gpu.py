"""Profile sasmamba-s to find what makes it slow on the GPU.

1. per-module wall time (forward hooks with cuda synchronize; inclusive, so nested modules double count);
2. torch.profiler over two bf16 training steps (fwd + lifting_loss + backward + AdamW), by op and by input shape;
3. forward time with the "cuda" scan backend against the "torch" one (cuda only).

Usage: python scripts/profile_gpu.py [OUTPUT] [--device cpu]   (default $OUT/profile.txt or ./profile.txt, cuda,
batch 16). `--device cpu` is a smoke run: batch 1, fp32 (the CPU inference path runs in fp32), no backward
(CPU backward takes minutes).
"""

from __future__ import annotations

import argparse
import os
import time
import traceback
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from engine.model import SasMamba
from engine.train import lifting_loss

LINES: list[str] = []


def emit(text: str = "") -> None:
    print(text, flush=True)
    LINES.append(text)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def module_times(model, x, device: str) -> None:
    by_class: dict[str, float] = defaultdict(float)
    by_name: dict[str, float] = defaultdict(float)
    starts: dict[int, float] = {}
    names = {id(m): n for n, m in model.named_modules()}
    handles = []

    def pre(mod, _inp):
        sync(device)
        starts[id(mod)] = time.perf_counter()

    def post(mod, _inp, _out):
        sync(device)
        dt = time.perf_counter() - starts.pop(id(mod))
        by_class[type(mod).__name__] += dt
        by_name[names[id(mod)] or "<root>"] += dt

    for mod in model.modules():
        handles += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    runs = 3
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
        model(x)  # warm-up (its time is discarded below)
        by_class.clear()
        by_name.clear()
        for _ in range(runs):
            model(x)
    for h in handles:
        h.remove()
    emit(f"INCLUSIVE wall ms per forward (mean of {runs}; nested modules double count), by module class:")
    for k, v in sorted(by_class.items(), key=lambda kv: -kv[1]):
        emit(f"  {k:<28s} {1e3 * v / runs:10.3f}")
    emit("INCLUSIVE wall ms per forward, by qualified module name (top 25):")
    for k, v in sorted(by_name.items(), key=lambda kv: -kv[1])[:25]:
        emit(f"  {k:<40s} {1e3 * v / runs:10.3f}")


def train_profile(model, x, target, device: str, backward: bool) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        with torch.set_grad_enabled(backward), torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            pred = model(x)
        loss, _ = lifting_loss(pred.float(), target)
        if backward:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)

    model.train()
    step()  # warm-up
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=acts, record_shapes=True) as prof:
        for _ in range(2):
            step()
    sort = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    emit(f"profiler: 2 training steps (backward={backward}), sorted by {sort}:")
    emit(prof.key_averages().table(sort_by=sort, row_limit=40))
    emit("profiler grouped by input shape (top 25):")
    emit(prof.key_averages(group_by_input_shape=True).table(sort_by=sort, row_limit=25))


def backend_times(model, x) -> None:
    model.eval()
    for backend in ("cuda", "torch"):
        model.set_scan_backend(backend)
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            model(x)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(10):
                model(x)
            torch.cuda.synchronize()
        ms = 1e3 * (time.perf_counter() - t0) / 10
        emit(f"forward, scan backend {backend!r}: {ms:.3f} ms/batch ({x.shape[0] * x.shape[1] / ms * 1e3:.0f} "
             "frames/s)")
    model.set_scan_backend("auto")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("output", nargs="?", default=os.path.join(os.environ.get("OUT", "."), "profile.txt"))
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = ap.parse_args()
    device, batch = args.device, (16 if args.device == "cuda" else 1)
    torch.manual_seed(0)
    model = SasMamba("sasmamba-s").to(device)
    frames, joints = model.cfg.frames, model.cfg.joints
    x = torch.randn(batch, frames, joints, 2, device=device)
    target = torch.randn(batch, frames, joints, 3, device=device)
    emit(f"device={device} batch={batch} frames={frames} joints={joints} torch={torch.__version__} "
         f"params={sum(p.numel() for p in model.parameters())}")
    if device == "cuda":
        emit(f"gpu={torch.cuda.get_device_name()}")
    sections = [("1. per-module attribution", lambda: (model.eval(), module_times(model, x, device))),
                ("2. torch.profiler training steps", lambda: train_profile(model, x, target, device, device == "cuda"))]
    if device == "cuda":
        sections.append(("3. scan backend comparison", lambda: backend_times(model, x)))
    for title, fn in sections:
        emit(f"\n===== {title} =====")
        try:
            fn()
        except Exception:  # noqa: BLE001 - keep the other sections
            emit(traceback.format_exc())
    with open(args.output, "w") as f:
        f.write("\n".join(LINES) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
