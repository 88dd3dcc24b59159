"""On the GPU machine: check our kernels against the reference ones and time the model.

- our pure-PyTorch deformable depthwise conv against torchvision.ops.deform_conv2d (must agree to 1e-5);
- our chunked scan and the sequential reference against mamba-ssm's CUDA selective_scan_fn;
- a full sasmamba-s forward with the cuda scan against the torch scan;
- training step time (bf16 autocast) at batch 16-128 and the recommended training batch: the smallest batch that
  reaches 80% of the best clips per second (the small model is launch-bound at batch 16, so larger batches are
  nearly free);
- inference throughput, fp32 and bf16, batch 1 to 1024 windows.
Writes JSON to the path given (default $OUT/gpu_check.json).
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

from engine.deform_conv import deform_conv2d_depthwise
from engine.model import SasMamba
from engine.scan import selective_scan_chunked, selective_scan_reference
from engine.train import lifting_loss


def timed(fn, repeat: int) -> float:
    fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeat


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv  # kernel agreement only, no timings
    out = args[0] if args else os.path.join(os.environ.get("OUT", "."), "gpu_check.json")
    dev = torch.device("cuda")
    torch.manual_seed(0)
    report = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__}

    from torchvision.ops import deform_conv2d

    x = torch.randn(4, 128, 243, 17, device=dev)
    offset = torch.randn(4, 18, 243, 17, device=dev) * 2.0
    weight = torch.randn(128, 1, 3, 3, device=dev)
    bias = torch.randn(128, device=dev)
    ours = deform_conv2d_depthwise(x, offset, weight, bias)
    ref = deform_conv2d(x, offset, weight, bias, padding=1)
    report["deform_conv_max_abs_diff"] = float((ours - ref).abs().max())

    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    b, g, d, n, length = 2, 4, 32, 16, 1000
    u = torch.randn(b, g * d, length, device=dev)
    delta = torch.randn(b, g * d, length, device=dev) * 0.5 - 1
    A = -torch.exp(torch.randn(g * d, n, device=dev))
    Bm, Cm = torch.randn(b, g, n, length, device=dev), torch.randn(b, g, n, length, device=dev)
    D, db = torch.randn(g * d, device=dev), torch.randn(g * d, device=dev)
    y_cuda = selective_scan_fn(u, delta, A, Bm, Cm, D, delta_bias=db, delta_softplus=True)
    y_ref = selective_scan_reference(u, delta, A, Bm, Cm, D, db, True)
    y_chunk = selective_scan_chunked(u, delta, A, Bm, Cm, D, db, True)
    report["scan_cuda_vs_reference_max_abs"] = float((y_cuda - y_ref).abs().max())
    report["scan_chunked_vs_reference_max_abs"] = float((y_chunk - y_ref).abs().max())

    if quick:
        print(json.dumps(report, indent=1))
        with open(out, "w") as fh:
            json.dump(report, fh, indent=1)
        return
    model = SasMamba("sasmamba-s").to(dev).eval()
    inp = torch.randn(2, 243, 17, 2, device=dev)
    with torch.no_grad():
        model.set_scan_backend("cuda")
        a = model(inp)
        model.set_scan_backend("torch")
        bt = model(inp)
    report["model_cuda_vs_torch_max_abs"] = float((a - bt).abs().max())
    model.set_scan_backend("auto")

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    xb = yb = None

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            pred = model(xb)
        loss, _ = lifting_loss(pred.float(), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    clips_per_s = {}
    for batch in (16, 32, 64, 128):
        xb, yb = torch.randn(batch, 243, 17, 2, device=dev), torch.randn(batch, 243, 17, 3, device=dev)
        torch.cuda.reset_peak_memory_stats()
        sec = timed(step, 10)
        report[f"train_step_s_batch{batch}_bf16"] = sec
        report[f"train_peak_gb_batch{batch}_bf16"] = torch.cuda.max_memory_allocated() / 1e9
        clips_per_s[batch] = batch / sec
    best = max(clips_per_s.values())
    report["recommended_batch"] = min(b for b, v in clips_per_s.items() if v >= 0.8 * best)
    model.eval()
    for dtype in (torch.float32, torch.bfloat16):
        for batch in (1, 64, 256, 1024):
            xi = torch.randn(batch, 243, 17, 2, device=dev)
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
                sec = timed(lambda xi=xi: model(xi), 5)
            name = "fp32" if dtype == torch.float32 else "bf16"
            report[f"infer_frames_per_s_batch{batch}_{name}"] = batch * 243 / sec
    print(json.dumps(report, indent=1))
    with open(out, "w") as fh:
        json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
