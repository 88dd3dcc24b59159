"""On the GPU machine: check our kernels against the reference ones and time the model.

- our deformable depthwise convs ("gather" and "fused", engine/deform_conv.py; "triton", engine/triton_deform.py,
  also from bf16 inputs as under autocast) against torchvision's, values and gradients, and each one's forward +
  backward time at sasmamba-s training shapes;
- our chunked scan and the sequential reference against mamba-ssm's CUDA selective_scan_fn; the Triton scan with
  a backward (engine/triton_selective_scan.py, `--scan-impl triton`) against both, values and gradients, and its
  forward + backward time and peak memory beside mamba-ssm's at training shapes;
- a full sasmamba-s forward with the cuda scan against the torch scan;
- the stride-anchor add, index form against the strided slices the model uses, and StrideSSM's projections,
  einsums against the b K matmuls it uses (forward + backward time);
- a bf16 training step at batch 16 with each deformable conv implementation, the model's gradients under each
  against torchvision's (fp32), and `recommended_deform_impl`, the fastest (pass it to `python -m engine train
  --deform-impl`); bf16 inference with each;
- training step time (bf16 autocast) at batch 4-64 with the default implementation and the recommended
  training batch: the smallest batch that reaches 80% of the best clips per second;
- inference throughput, fp32 and bf16, batch 1 to 1024 windows.
Writes JSON to the path given (default $OUT/gpu_check.json) after every section, so a crash or a timeout keeps
what was measured; a failed section leaves `error_<section>` with its message.

Usage: python scripts/check_gpu.py [OUTPUT] [--quick | --choose-impl] [--device cpu --config sasmamba-tiny]
(`--quick`: kernel agreement only; `--choose-impl`: only what picks the training deformable conv and scan,
a minute or two; `--device cpu`: a smoke run of the script itself, figures meaningless).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
import traceback

import torch

from engine.deform_conv import deform_conv2d_depthwise, deform_conv2d_depthwise_fused
from engine.model import SasMamba, stride_anchor, stride_anchor_index
from engine.scan import selective_scan_chunked, selective_scan_reference
from engine.train import lifting_loss
from engine.triton_deform import deform_conv2d_depthwise_triton

DEFORM_TIMED = ("torchvision", "gather", "fused", "triton")
GRAD_AGREEMENT = 1e-3  # fp32 model gradients, largest difference relative to each parameter's largest gradient
# (or 3 x the difference between two runs of torchvision itself, where that is larger)
# "triton" from bf16 inputs (it reads them as they are, the others cast them up first) against torchvision on the
# same values in fp32, relative to the largest value: bf16 rounding of the results is 2^-8, so 1e-2 passes rounding
# and catches a wrong bf16 read
BF16_AGREEMENT = 1e-2
SIZES = {"cuda": {"train": 16, "sweep": (4, 8, 16, 32, 64), "infer": (1, 64, 256, 1024), "layer": 16},
         # the CPU smoke run: small enough to finish in a minute or two; fp32 (the CPU inference path runs in fp32)
         "cpu": {"train": 2, "sweep": (2, 4), "infer": (1, 4), "layer": 1}}


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, repeat: int, dev: torch.device) -> float:
    fn()
    sync(dev)
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync(dev)
    return (time.perf_counter() - t) / repeat


def peak_gb(dev: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 1e9 if dev.type == "cuda" else None


def reset_peak(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


def error_text(exc: BaseException) -> str:
    """What the report records of a failed section or measurement (capped: a CUDA error can be pages long)."""
    return f"{type(exc).__name__}: {exc}"[:2000]


class Check:
    """The report, written to disk after every section; a section that raises records its error and the script
    goes on."""

    def __init__(self, out: str, report: dict) -> None:
        self.out, self.report = out, report

    def write(self) -> None:
        with open(self.out, "w") as fh:
            json.dump(self.report, fh, indent=1)

    def section(self, name: str, fn) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - record it, keep the other sections
            traceback.print_exc()
            self.report[f"error_{name}"] = error_text(exc)
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            self.write()


def torchvision_deform():
    from torchvision.ops import deform_conv2d

    return lambda x, offset, weight, bias: deform_conv2d(x, offset, weight, bias, padding=weight.shape[-1] // 2)


def check_deform_conv(report: dict, dev: torch.device) -> None:
    tv = torchvision_deform()
    x = torch.randn(4, 128, 243, 17, device=dev)
    offset = torch.randn(4, 18, 243, 17, device=dev) * 2.0
    weight = torch.randn(128, 1, 3, 3, device=dev)
    bias = torch.randn(128, device=dev)
    ref = tv(x, offset, weight, bias)
    report["deform_conv_max_abs_diff"] = float((deform_conv2d_depthwise(x, offset, weight, bias) - ref).abs().max())
    report["deform_conv_fused_max_abs_diff"] = float(
        (deform_conv2d_depthwise_fused(x, offset, weight, bias) - ref).abs().max())
    inputs = [t.clone().requires_grad_() for t in (x, offset, weight, bias)]
    grad_out = torch.randn_like(ref)
    grads_ref = torch.autograd.grad(tv(*inputs), inputs, grad_out)
    for name, fn in (("gather", deform_conv2d_depthwise), ("fused", deform_conv2d_depthwise_fused),
                     ("triton", deform_conv2d_depthwise_triton)):
        try:
            if name == "triton":
                report["deform_conv_triton_max_abs_diff"] = float((fn(x, offset, weight, bias) - ref).abs().max())
            grads = torch.autograd.grad(fn(*inputs), inputs, grad_out)
            for arg, g, g_ref in zip(("x", "offset", "weight", "bias"), grads, grads_ref, strict=True):
                report[f"deform_conv_{name}_grad_{arg}_max_rel_diff"] = max_rel(g, g_ref)
        except Exception as exc:  # noqa: BLE001 - e.g. triton missing or failing to compile: recorded, not fatal
            report[f"error_deform_conv_{name}"] = error_text(exc)
    try:
        check_deform_conv_triton_bf16(report, tv, x, offset, weight, bias, grad_out)
    except Exception as exc:  # noqa: BLE001
        report["error_deform_conv_triton_bf16"] = error_text(exc)


def check_deform_conv_triton_bf16(report: dict, tv, x, offset, weight, bias, grad_out) -> None:
    """"triton" from bf16 x and offsets (what it gets under autocast) against torchvision on the same values in
    fp32: `deform_conv_triton_bf16_max_rel_diff`, the largest over the value and the four gradients."""
    xb, offb, gb = x.bfloat16(), offset.bfloat16(), grad_out.bfloat16()  # the reference gets the same values
    inputs = [xb.float().requires_grad_(), offb.float().requires_grad_(), weight.clone().requires_grad_(),
              bias.clone().requires_grad_()]
    ref = tv(*inputs)
    grads_ref = torch.autograd.grad(ref, inputs, gb.float())
    inputs_b = [xb.requires_grad_(), offb.requires_grad_(), weight.clone().requires_grad_(),
                bias.clone().requires_grad_()]
    out = deform_conv2d_depthwise_triton(*inputs_b)
    grads = torch.autograd.grad(out, inputs_b, gb)
    report["deform_conv_triton_bf16_max_rel_diff"] = max(
        max_rel(out, ref), *(max_rel(g, g_ref) for g, g_ref in zip(grads, grads_ref, strict=True)))


def time_deform_conv(report: dict, dev: torch.device, batch: int) -> None:
    """Forward + backward of one layer at training shapes (fp32: every implementation computes in fp32)."""
    x = torch.randn(batch, 128, 243, 17, device=dev, requires_grad=True)
    offset = (torch.randn(batch, 18, 243, 17, device=dev) * 2.0).requires_grad_()
    weight = torch.randn(128, 1, 3, 3, device=dev, requires_grad=True)
    bias = torch.randn(128, device=dev, requires_grad=True)
    fns = {"gather": deform_conv2d_depthwise, "fused": deform_conv2d_depthwise_fused,
           "triton": deform_conv2d_depthwise_triton}
    for impl in DEFORM_TIMED:
        try:
            fn = torchvision_deform() if impl == "torchvision" else fns[impl]
            reset_peak(dev)
            sec = timed(lambda fn=fn: fn(x, offset, weight, bias).square().sum().backward(), 5, dev)
            report[f"deform_fwd_bwd_ms_batch{batch}_{impl}"] = 1e3 * sec
            report[f"deform_fwd_bwd_peak_gb_batch{batch}_{impl}"] = peak_gb(dev)
        except Exception as exc:  # noqa: BLE001
            report[f"error_deform_fwd_bwd_{impl}"] = error_text(exc)


def check_scan(report: dict, dev: torch.device) -> None:
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


def scan_inputs(dev: torch.device, b: int, g: int, d: int, n: int, length: int, dtype=torch.float32) -> list:
    """Leaf inputs of a selective scan as StrideSSM gives them (u, delta, B, C in `dtype`, as under autocast)."""
    vals = [torch.randn(b, g * d, length, device=dev), torch.randn(b, g * d, length, device=dev) * 0.5 - 1,
            -torch.exp(torch.randn(g * d, n, device=dev)), torch.randn(b, g, n, length, device=dev),
            torch.randn(b, g, n, length, device=dev), torch.randn(g * d, device=dev), torch.randn(g * d, device=dev)]
    return [(v.to(dtype) if i in (0, 1, 3, 4) else v).requires_grad_() for i, v in enumerate(vals)]


def scan_grads(fn, inputs: list, dy: torch.Tensor) -> list:
    y = fn(*inputs[:5], inputs[5], delta_bias=inputs[6], delta_softplus=True)
    return [y, *torch.autograd.grad(y, inputs, dy.to(y.dtype))]


def check_triton_train_scan(report: dict, dev: torch.device) -> None:
    """engine/triton_selective_scan.py (scan backend "triton-train"): values and all 7 gradients against the
    reference loop's autograd (fp32), and against mamba-ssm's where it imports; each comparison recorded on its
    own (`scan_triton_train_vs_<other>_max_rel`: {y, u, delta, A, B, C, D, delta_bias}), failures as errors."""
    from engine.triton_selective_scan import selective_scan_fn as triton_fn

    names = ("y", "u", "delta", "A", "B", "C", "D", "delta_bias")
    inputs = scan_inputs(dev, 2, 4, 32, 16, 1000)
    dy = torch.randn(2, 128, 1000, device=dev)
    got = scan_grads(triton_fn, inputs, dy)
    others = {"reference": selective_scan_reference}
    if dev.type == "cuda":
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

        others["mamba_ssm"] = selective_scan_fn
    for other, fn in others.items():
        try:
            ref = scan_grads(fn, inputs, dy)
            report[f"scan_triton_train_vs_{other}_max_rel"] = {
                name: max_rel(a, r) for name, a, r in zip(names, got, ref, strict=True)}
        except Exception as exc:  # noqa: BLE001 - e.g. mamba-ssm not built: the other comparison still counts
            report[f"error_scan_triton_train_vs_{other}"] = error_text(exc)


def time_triton_train_scan(report: dict, dev: torch.device) -> None:
    """Forward + backward of one StrideSSM scan at sasmamba-s training shapes (batch 16, 4 x 128 channels,
    L = 243 x 17, N = 16, bf16 u, delta, B, C as under autocast): the Triton scan beside mamba-ssm's, with peak
    memory (the Triton forward keeps every state for its backward). The CPU smoke run uses tiny shapes."""
    from engine.triton_selective_scan import selective_scan_fn as triton_fn

    fns = {"triton_train": triton_fn}
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

        fns["mamba_ssm"] = selective_scan_fn
    except Exception as exc:  # noqa: BLE001
        report["error_scan_fwd_bwd_mamba_ssm"] = error_text(exc)
    b, d, length = (16, 128, 243 * 17) if dev.type == "cuda" else (1, 4, 100)
    inputs = scan_inputs(dev, b, 4, d, 16, length, torch.bfloat16 if dev.type == "cuda" else torch.float32)
    dy = torch.randn(b, 4 * d, length, device=dev)
    for name, fn in fns.items():
        try:
            reset_peak(dev)
            sec = timed(lambda fn=fn: scan_grads(fn, inputs, dy), 5, dev)
            report[f"scan_fwd_bwd_ms_batch{b}_{name}"] = 1e3 * sec
            report[f"scan_fwd_bwd_peak_gb_batch{b}_{name}"] = peak_gb(dev)
        except Exception as exc:  # noqa: BLE001 - recorded; the other scan is still timed
            report[f"error_scan_fwd_bwd_{name}"] = error_text(exc)


def check_model_scan(report: dict, model: SasMamba, dev: torch.device) -> None:
    model.eval()
    inp = torch.randn(2, model.cfg.frames, 17, 2, device=dev)
    try:
        with torch.no_grad():
            model.set_scan_backend("cuda")
            a = model(inp)
            model.set_scan_backend("torch")
            bt = model(inp)
        report["model_cuda_vs_torch_max_abs"] = float((a - bt).abs().max())
    finally:
        model.set_scan_backend("auto")


def time_anchor(report: dict, dev: torch.device, batch: int) -> None:
    """The stride-anchor add at training shapes in bf16: index form (backward = index_put) against slices."""
    x = torch.randn(batch, 128, 243, 17, device=dev, dtype=torch.bfloat16, requires_grad=True)
    a2, a3 = stride_anchor_index(17, 2).to(dev), stride_anchor_index(17, 3).to(dev)
    forms = {"index": lambda: x + x[..., a2] + x[..., a3],
             "slices": lambda: x + stride_anchor(x, 2) + stride_anchor(x, 3)}
    report["anchor_slices_equal_index"] = bool(torch.equal(forms["index"](), forms["slices"]()))
    for name, form in forms.items():
        report[f"anchor_add_fwd_bwd_ms_batch{batch}_{name}"] = 1e3 * timed(
            lambda form=form: form().sum().backward(), 10, dev)


def bf16(dev: torch.device) -> torch.autocast:
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")


def time_projections(report: dict, dev: torch.device, batch: int) -> None:
    """StrideSSM's x_proj + dt_proj at training shapes under bf16 autocast: the einsums the model first used
    against the b K matmuls it uses now (forward + backward, weight gradients included)."""
    k, di, r, n, length = 4, 128, 4, 16, 243 * 17
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32  # what the model's xs is under bf16(dev)
    xs = torch.randn(batch, k, di, length, device=dev, dtype=dtype, requires_grad=True)
    w_x = torch.randn(k, r + 2 * n, di, device=dev, requires_grad=True)
    w_dt = torch.randn(k, di, r, device=dev, requires_grad=True)

    def einsums():
        x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, w_x)
        return x_dbl[:, :, r:], torch.einsum("bkrl,kdr->bkdl", x_dbl[:, :, :r], w_dt)

    def matmuls():
        x_dbl = w_x @ xs
        return x_dbl[:, :, r:], w_dt @ x_dbl[:, :, :r]

    with bf16(dev):
        (bc_e, dt_e), (bc_m, dt_m) = einsums(), matmuls()
        report["ssm_proj_matmul_vs_einsum_max_rel_diff"] = max(max_rel(bc_m, bc_e), max_rel(dt_m, dt_e))
        for name, form in (("einsum", einsums), ("matmul", matmuls)):
            def run(form=form):
                bc, dt = form()
                (bc.float().sum() + dt.float().sum()).backward()
            report[f"ssm_proj_fwd_bwd_ms_batch{batch}_{name}"] = 1e3 * timed(run, 10, dev)


def make_step(model: SasMamba, opt, dev: torch.device, batch: int):
    xb = torch.randn(batch, model.cfg.frames, 17, 2, device=dev)
    yb = torch.randn(batch, model.cfg.frames, 17, 3, device=dev)

    def step():
        with bf16(dev):
            pred = model(xb)
        loss, _ = lifting_loss(pred.float(), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def compare_model_grads(report: dict, model: SasMamba, dev: torch.device) -> None:
    """One fp32 forward + backward per implementation (eval: no drop-path), gradients against torchvision's.
    The offset convs are nudged off zero first, so sampling points fall between grid points. TF32 is off while
    comparing: with cuDNN's default TF32 convs, on an H200, gather and fused each differed from torchvision by 5%
    and from each other by 3.5%, though they agree to 1e-6 on CPU: the comparison measured rounding, not the
    implementations. Torchvision run twice gives the floor that the others are judged against."""
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    model.eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "offset_conv" in name:
                p.add_(torch.randn_like(p) * 0.05)
    x = torch.randn(2, model.cfg.frames, 17, 2, device=dev)
    y = torch.randn(2, model.cfg.frames, 17, 3, device=dev)
    grads = {}
    for impl in (*DEFORM_TIMED, "torchvision_repeat"):
        try:
            model.set_deform_impl(impl.removesuffix("_repeat"))
            model.zero_grad()
            loss, _ = lifting_loss(model(x), y)
            loss.backward()
            grads[impl] = {n: p.grad.clone() for n, p in model.named_parameters()}
        except Exception as exc:  # noqa: BLE001
            report[f"error_model_grads_{impl}"] = error_text(exc)
    model.zero_grad()
    model.set_deform_impl("auto")
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    pairs = (("torchvision_repeat", "torchvision"), ("gather", "torchvision"), ("fused", "torchvision"),
             ("fused", "gather"), ("triton", "torchvision"), ("triton", "fused"))
    for impl, ref in pairs:
        if impl in grads and ref in grads:
            report[f"model_grad_max_rel_diff_{impl}_vs_{ref}"] = max(
                max_rel(grads[impl][n], g) for n, g in grads[ref].items())


def time_train_by_deform_impl(report: dict, model: SasMamba, dev: torch.device) -> None:
    batch = SIZES[dev.type]["train"]
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    step = make_step(model, opt, dev, batch)
    infer_batch = SIZES[dev.type]["infer"][-2]
    xi = torch.randn(infer_batch, model.cfg.frames, 17, 2, device=dev)
    seconds = {}
    for impl in DEFORM_TIMED:
        if impl == "torchvision":
            try:
                torchvision_deform()
            except ImportError as exc:  # no torchvision: neither timing would use it
                report[f"error_deform_{impl}"] = error_text(exc)
                continue
        key = f"train_step_s_batch{batch}_bf16_deform_{impl}"
        try:
            model.set_deform_impl(impl)
            model.train()
            reset_peak(dev)
            seconds[impl] = report[key] = timed(step, 10, dev)
            report[f"train_peak_gb_batch{batch}_bf16_deform_{impl}"] = peak_gb(dev)
        except Exception as exc:  # noqa: BLE001
            report[f"error_{key}"] = error_text(exc)
        key = f"infer_frames_per_s_batch{infer_batch}_bf16_deform_{impl}"
        try:
            model.eval()
            with torch.no_grad(), bf16(dev):
                report[key] = infer_batch * model.cfg.frames / timed(lambda: model(xi), 5, dev)
        except Exception as exc:  # noqa: BLE001
            report[f"error_{key}"] = error_text(exc)
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    model.set_deform_impl("auto")
    model.train()
    floor = report.get("model_grad_max_rel_diff_torchvision_repeat_vs_torchvision", 0.0)
    agree = [impl for impl in seconds if deform_impl_agrees(report, impl, "torchvision" in seconds, floor)]
    if agree:
        report["recommended_deform_impl"] = min(agree, key=seconds.get)


def time_train_by_scan_impl(report: dict, model: SasMamba, dev: torch.device) -> None:
    """The training scan, after the deformable conv is chosen: mamba-ssm's kernel against engine/
    triton_selective_scan.py ("triton-train"). Model gradients of the two in fp32 (TF32 off, eval: no drop-path)
    first, then a bf16 training step each with the recommended deformable conv; `recommended_scan_impl` (what
    scripts/gpu_train.sh passes as --scan-impl) is "triton" only where its scan-level values and gradients matched
    mamba-ssm's (check_triton_train_scan), its model gradients did too, and its step was faster; else "auto"."""
    impls = {"mamba-ssm": "cuda", "triton": "triton-train"}
    model.set_deform_impl(report.get("recommended_deform_impl", "auto"))
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    model.eval()
    x = torch.randn(2, model.cfg.frames, 17, 2, device=dev)
    y = torch.randn(2, model.cfg.frames, 17, 3, device=dev)
    grads = {}
    for impl, backend in impls.items():
        try:
            model.set_scan_backend(backend)
            model.zero_grad()
            lifting_loss(model(x), y)[0].backward()
            grads[impl] = {n: p.grad.clone() for n, p in model.named_parameters()}
        except Exception as exc:  # noqa: BLE001
            report[f"error_model_grads_scan_{impl}"] = error_text(exc)
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    if len(grads) == 2:
        report["model_grad_max_rel_diff_scan_triton_vs_mamba_ssm"] = max(
            max_rel(grads["triton"][n], g) for n, g in grads["mamba-ssm"].items())
    batch = SIZES[dev.type]["train"]
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    step = make_step(model, opt, dev, batch)
    seconds = {}
    for impl, backend in impls.items():
        key = f"train_step_s_batch{batch}_bf16_scan_{impl}"
        try:
            model.set_scan_backend(backend)
            reset_peak(dev)
            seconds[impl] = report[key] = timed(step, 10, dev)
            report[f"train_peak_gb_batch{batch}_bf16_scan_{impl}"] = peak_gb(dev)
        except Exception as exc:  # noqa: BLE001
            report[f"error_{key}"] = error_text(exc)
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    model.set_scan_backend("auto")
    model.set_deform_impl("auto")
    scan_level = report.get("scan_triton_train_vs_mamba_ssm_max_rel") or {}
    agrees = (bool(scan_level) and max(scan_level.values()) < GRAD_AGREEMENT
              and report.get("model_grad_max_rel_diff_scan_triton_vs_mamba_ssm", float("inf")) < GRAD_AGREEMENT)
    faster = "triton" in seconds and seconds["triton"] < seconds.get("mamba-ssm", float("inf"))
    report["recommended_scan_impl"] = "triton" if agrees and faster else "auto"


def deform_impl_agrees(report: dict, impl: str, have_torchvision: bool, floor: float) -> bool:
    """May `impl` be recommended for training? Only if its fp32 model gradients matched torchvision's (torchvision
    itself always may). Without torchvision the older implementations are named unchecked, but "triton" (new, and
    unmeasured on a GPU before this script) must match "fused" (exact on CPU, gradchecked) instead; and it must
    also pass the bf16 check, as training feeds it bf16. A check that failed or did not run counts as
    disagreement."""
    if impl == "torchvision":
        return True
    ref = "torchvision" if have_torchvision else "fused" if impl == "triton" else None
    if ref is not None and not (report.get(f"model_grad_max_rel_diff_{impl}_vs_{ref}", float("inf"))
                                < max(GRAD_AGREEMENT, 3 * floor)):
        return False
    return impl != "triton" or report.get("deform_conv_triton_bf16_max_rel_diff", float("inf")) < BF16_AGREEMENT


def time_train_batches(report: dict, model: SasMamba, dev: torch.device) -> None:
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    clips_per_s = {}
    report["train_batch_sweep_deform_impl"] = "auto"
    for batch in SIZES[dev.type]["sweep"]:
        step = make_step(model, opt, dev, batch)
        reset_peak(dev)
        sec = timed(step, 10, dev)
        report[f"train_step_s_batch{batch}_bf16"] = sec
        report[f"train_peak_gb_batch{batch}_bf16"] = peak_gb(dev)
        clips_per_s[batch] = batch / sec
    best = max(clips_per_s.values())
    report["recommended_batch"] = min(b for b, v in clips_per_s.items() if v >= 0.8 * best)


def time_inference(report: dict, model: SasMamba, dev: torch.device) -> None:
    model.eval()
    for dtype in (torch.float32, torch.bfloat16):
        for batch in SIZES[dev.type]["infer"]:
            xi = torch.randn(batch, model.cfg.frames, 17, 2, device=dev)
            on = dtype == torch.bfloat16 and dev.type == "cuda"
            with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=on):
                sec = timed(lambda xi=xi: model(xi), 5, dev)
            name = "fp32" if dtype == torch.float32 else "bf16"
            report[f"infer_frames_per_s_batch{batch}_{name}"] = batch * model.cfg.frames / sec


def run_checks() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("output", nargs="?", default=os.path.join(os.environ.get("OUT", "."), "gpu_check.json"))
    ap.add_argument("--quick", action="store_true", help="kernel agreement only, no timings")
    ap.add_argument("--choose-impl", action="store_true",
                    help="only what picks the training deformable conv and scan (agreement, gradients, step "
                         "time per implementation): the short check before training on a machine of several GPUs")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--config", default="sasmamba-s")
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.manual_seed(0)
    check = Check(args.output, {"card": "cpu (smoke run)", "torch": torch.__version__, "config": args.config})
    report = check.report
    if dev.type == "cuda":
        check.section("card", lambda: report.update(card=torch.cuda.get_device_name(0)))
    check.section("deform_conv", lambda: check_deform_conv(report, dev))
    check.section("scan", lambda: check_scan(report, dev))
    check.section("triton_train_scan", lambda: check_triton_train_scan(report, dev))
    if not args.quick:
        if not args.choose_impl:
            check.section("triton_train_scan_time", lambda: time_triton_train_scan(report, dev))
        layer_batch = SIZES[dev.type]["layer"]
        if not args.choose_impl:
            check.section("deform_time", lambda: time_deform_conv(report, dev, layer_batch))
            check.section("anchor", lambda: time_anchor(report, dev, layer_batch))
            check.section("projections", lambda: time_projections(report, dev, layer_batch))
        models = []
        check.section("model", lambda: models.append(SasMamba(args.config).to(dev)))
        sections = (("model_scan", check_model_scan), ("model_grads", compare_model_grads),
                    ("train_by_deform_impl", time_train_by_deform_impl),
                    ("train_by_scan_impl", time_train_by_scan_impl), ("train_batches", time_train_batches),
                    ("inference", time_inference))
        if args.choose_impl:
            sections = tuple(sec for sec in sections
                             if sec[0] in ("model_grads", "train_by_deform_impl", "train_by_scan_impl"))
        for name, fn in sections if models else ():
            check.section(name, functools.partial(fn, report, models[0], dev))
    print(json.dumps(report, indent=1))
    print(f"wrote {args.output}")


def main() -> None:
    """Exit status 0 whatever failed (errors are in the JSON): training is chained after this script with &&."""
    try:
        run_checks()
    except Exception:  # noqa: BLE001 - e.g. an unwritable output path; say so, don't stop the chain
        traceback.print_exc()


if __name__ == "__main__":
    main()
