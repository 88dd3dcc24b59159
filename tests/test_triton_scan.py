"""engine/triton_scan.py's kernels under Triton's CPU interpreter: the stride scan against the model's own torch
scan paths, the deformable conv against engine/deform_conv.py's reference. Skipped where triton is not installed
(the usual case: the CPU suite and Blender have none)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from engine import triton_scan
from engine.config import SasMambaConfig
from engine.deform_conv import deform_conv2d_depthwise
from engine.model import SasMamba, StrideSSM

if not torch.cuda.is_available():  # the interpreter is chosen when triton is first imported, so before that
    os.environ.setdefault("TRITON_INTERPRET", "1")
pytest.importorskip("triton", reason="triton not installed (GPU machine, or pip install --target ... triton)")


@pytest.mark.parametrize(("atomic", "prefetch"), [(True, 1), (False, 1), (True, 0), (True, 2)])
def test_stride_scan_matches_time_major(triton_device, atomic, prefetch):
    """Odd T and J, 48 channels in blocks of 32 (a partial block), against the CPU inference path's scan."""
    torch.manual_seed(0)
    cfg = SasMambaConfig(dim=24, depth=1, frames=9)
    module = StrideSSM(cfg).eval()
    b, t, j, di, n, r = 2, 5, 7, cfg.d_inner, cfg.d_state, cfg.dt_rank
    xa, xc = torch.randn(b, t, j, di), torch.randn(b, t, j, di)
    proj_a, proj_c = torch.randn(b, t, j, 2, r + 2 * n), torch.randn(b, t, j, 2, r + 2 * n)
    A = -torch.exp(module.A_log.float()).view(4, di, n).transpose(1, 2).contiguous()
    with torch.no_grad():
        ref = module._stride_scan_time_major(xa, xc, proj_a, proj_c, A)
        dev = triton_device
        y = triton_scan.stride_scan(*(v.to(dev) for v in (xa, xc, proj_a, proj_c, A)),
                                    module.dt_proj_weight.transpose(1, 2).to(dev),
                                    module.dt_proj_bias.view(4, di).to(dev), module.D.view(4, di).to(dev),
                                    atomic=atomic, block_d=32, prefetch=prefetch).cpu()
    assert float((y - ref).abs().max() / ref.abs().max()) < 1e-5


def _deform_case(offsets: str, b: int = 2, h: int = 5, w: int = 7, c: int = 48, k: int = 3, seed: int = 0):
    """x (b, H, W, c) as a channel slice of a wider tensor (as in_proj's output is read), offsets (b, H, W, 2 k^2)
    as a permuted view of an NCHW tensor (as offset_conv's may be), weight, bias."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, h, w, 2 * c, generator=g)[..., :c]
    shape = (b, 2 * k * k, h, w)
    if offsets == "integer":  # whole-cell shifts: bilinear weights 0 and 1, neighbours on and past the edges
        off = torch.randint(-3, 4, shape, generator=g).float()
    else:
        off = torch.randn(shape, generator=g) * 2.5
    if offsets == "far":  # far outside the grid, both ways, some beyond any integer conversion
        far = torch.tensor([1e4, -1e4, 3.5e9, -1e12, 3e38, 250.5])
        off.view(-1)[torch.randperm(off.numel(), generator=g)[:60]] = far.repeat(10)
    weight, bias = torch.randn(c, 1, k, k, generator=g), torch.randn(c, generator=g)
    return x, off.permute(0, 2, 3, 1), weight, bias


def _deform_reference(x, off, weight, bias):
    return deform_conv2d_depthwise(x.permute(0, 3, 1, 2), off.permute(0, 3, 1, 2), weight, bias).permute(0, 2, 3, 1)


@pytest.mark.parametrize(("offsets", "shape", "settings"), [
    ("fraction", {}, {"block_c": 32}),  # 48 channels in blocks of 32: a partial channel block
    ("integer", {}, {"block_c": 32}),
    ("far", {}, {}),
    ("fraction", {"b": 1, "h": 3, "w": 1, "c": 5}, {}),  # one joint, 5 channels
    ("fraction", {"h": 9, "w": 4, "k": 5, "c": 24}, {"block_p": 8, "unroll": 3}),  # 5 x 5 taps, unrolled loop
])
def test_deform_conv_matches_reference(triton_device, offsets, shape, settings):
    x, off, weight, bias = _deform_case(offsets, **shape)
    ref = _deform_reference(x, off, weight, bias)
    dev = triton_device
    y = triton_scan.deform_conv_depthwise(x.to(dev), off.to(dev), weight.to(dev), bias.to(dev), **settings).cpu()
    assert y.shape == ref.shape and y.is_contiguous()
    assert float((y - ref).abs().max() / ref.abs().max()) < 1e-5


def test_deform_conv_silu_no_bias_and_bf16(triton_device):
    """silu folded in; no bias; bf16 inputs (as under autocast) give bf16 within its rounding of an fp32 result."""
    x, off, weight, _ = _deform_case("fraction", seed=1)
    dev = triton_device
    ref = F.silu(_deform_reference(x, off, weight, None))
    y = triton_scan.deform_conv_depthwise(x.to(dev), off.to(dev), weight.to(dev), None, silu=True).cpu()
    assert float((y - ref).abs().max() / ref.abs().max()) < 1e-5
    xb, offb = x.to(torch.bfloat16), off.to(torch.bfloat16)
    ref = F.silu(_deform_reference(xb.float(), offb.float(), weight, None))
    y = triton_scan.deform_conv_depthwise(xb.to(dev), offb.to(dev), weight.to(dev), None, silu=True).cpu()
    assert y.dtype == torch.bfloat16
    assert float((y.float() - ref).abs().max() / ref.abs().max()) < 2**-7


def test_model_forward_matches_reference_scan(triton_device, monkeypatch):
    """A whole (tiny) model: the Triton inference path (the Triton scan and deformable conv) against the
    differentiable path with the reference loop; then with the module's own deformable conv (the bench's A/B)."""
    monkeypatch.delenv("SASMAMBA_TRITON_DEFORM", raising=False)  # the default: on
    calls = []
    kernel = triton_scan.deform_conv_depthwise
    monkeypatch.setattr(triton_scan, "deform_conv_depthwise", lambda *a, **kw: calls.append(1) or kernel(*a, **kw))
    torch.manual_seed(0)
    model = SasMamba("sasmamba-tiny").eval()
    for block in model.modules():  # learned offsets are not zero: make the sampling points fractional
        if isinstance(block, StrideSSM):
            torch.nn.init.normal_(block.offset_conv.weight, std=0.2)
    x = torch.randn(1, 9, 17, 2)
    with torch.no_grad():
        model.set_scan_backend("reference")
        ref = model(x)
        model.set_scan_backend("triton")
        model.to(triton_device)
        y = model(x.to(triton_device))
        assert len(calls) == 2 * model.cfg.depth
        model.set_deform_impl("gather")
        y_own = model(x.to(triton_device))
        assert len(calls) == 2 * model.cfg.depth
    for out in (y, y_own):
        assert float((out.cpu() - ref).abs().max() / ref.abs().max()) < 1e-5


def test_deform_kernel_failure_falls_back(triton_device, monkeypatch, caplog):
    """A deformable conv kernel that fails at run time is switched off with one warning, the scan kernel kept;
    asked for by name (scan backend "triton"), the error is raised."""
    monkeypatch.delenv("SASMAMBA_TRITON_DEFORM", raising=False)
    monkeypatch.setattr(triton_scan, "_failure", [])
    monkeypatch.setattr(triton_scan, "_deform_failure", [])

    def broken(*args, **kwargs):
        raise RuntimeError("no ptxas")

    torch.manual_seed(0)
    module = StrideSSM(SasMambaConfig(dim=16, depth=1, frames=9)).eval().to(triton_device)
    x = torch.randn(1, 5, 17, 16, device=triton_device)
    with torch.no_grad():
        ref = module.forward_triton_inference(x)
        monkeypatch.setattr(triton_scan, "deform_conv_depthwise", broken)
        module.scan_backend = "triton"
        with pytest.raises(RuntimeError, match="no ptxas"):
            module.forward_triton_inference(x)
        module.scan_backend = "auto"
        y = module.forward_triton_inference(x)
        module.forward_triton_inference(x)
    assert float((y - ref).abs().max() / ref.abs().max()) < 1e-5
    assert not triton_scan.deform_enabled() and triton_scan.enabled()
    assert [r.getMessage() for r in caplog.records] == [
        "Triton deformable conv disabled, using the model's own: RuntimeError: no ptxas"]

