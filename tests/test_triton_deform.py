"""engine/triton_deform.py, the deformable conv implementation "triton" (Triton forward and backward), under Triton's
CPU interpreter: values and all four gradients against autograd through engine/deform_conv.py's reference, and a
tiny model's gradients with it against the reference implementation. Skipped where triton is not installed."""

from __future__ import annotations

import os

import pytest
import torch

from engine.deform_conv import DeformableDepthwiseConv, deform_conv2d_depthwise
from engine.model import SasMamba

if not torch.cuda.is_available():  # the interpreter is chosen when triton is first imported, so before that
    os.environ.setdefault("TRITON_INTERPRET", "1")
pytest.importorskip("triton", reason="triton not installed (GPU machine, or pip install --target ... triton)")

from engine.triton_deform import deform_conv2d_depthwise_triton, deform_conv_depthwise_backward  # noqa: E402


def _case(offsets: str, b: int = 2, h: int = 7, w: int = 5, c: int = 6, k: int = 3, seed: int = 0):
    """NCHW x as a permuted channel slice of a wider channels-last tensor (the model's in_proj output), offsets
    (b, 2 k^2, H, W), weight, bias."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, h, w, 2 * c, generator=g)[..., :c].permute(0, 3, 1, 2)
    shape = (b, 2 * k * k, h, w)
    if offsets == "integer":  # whole-cell shifts: bilinear weights exactly 0 and 1, neighbours on and past edges
        off = torch.randint(-3, 4, shape, generator=g).float()
    else:
        off = torch.randn(shape, generator=g) * 2.5  # about a third of the taps reach outside a 7 x 5 grid
    if offsets == "far":  # far outside both ways, some beyond any integer conversion
        far = torch.tensor([1e4, -1e4, 3.5e9, -1e12, 3e38, 250.5])
        off.view(-1)[torch.randperm(off.numel(), generator=g)[:30]] = far.repeat(5)
    return x, off, torch.randn(c, 1, k, k, generator=g), torch.randn(c, generator=g)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().cpu(), b.detach()
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize(("offsets", "shape"), [
    ("fraction", {}),
    ("integer", {}),
    ("far", {}),
    ("fraction", {"c": 40}),  # 40 channels: two channel blocks, so the offsets' gradients add atomically
    ("fraction", {"b": 1, "h": 4, "w": 3, "c": 3, "k": 5}),  # 5 x 5 taps, most sampling points outside
])
def test_values_and_gradients_match_reference(triton_device, offsets, shape):
    x, off, weight, bias = _case(offsets, **shape)
    grad_out = torch.randn(x.shape, generator=torch.Generator().manual_seed(9))
    inputs = [v.clone().requires_grad_() for v in (x, off, weight, bias)]
    ref = deform_conv2d_depthwise(*inputs)
    grads_ref = torch.autograd.grad(ref, inputs, grad_out)
    inputs_dev = [v.detach().to(triton_device).requires_grad_() for v in (x, off, weight, bias)]
    y = deform_conv2d_depthwise_triton(*inputs_dev)
    grads = torch.autograd.grad(y, inputs_dev, grad_out.to(triton_device))
    assert y.shape == ref.shape and _rel(y, ref) < 1e-5
    for name, g, g_ref in zip(("x", "offset", "weight", "bias"), grads, grads_ref, strict=True):
        assert g.shape == g_ref.shape and g.dtype == g_ref.dtype, name
        assert _rel(g, g_ref) < 1e-5, name


def test_partial_blocks_and_strided_grad(triton_device):
    """A position block and a channel block that end past the grid (35 positions in blocks of 8, 6 channels in a
    block of 8), a grad_out that is not channels-last, no bias."""
    x, off, weight, _ = _case("fraction", seed=2)
    xl, offl = x.permute(0, 2, 3, 1).to(triton_device), off.permute(0, 2, 3, 1).to(triton_device)
    grad_out = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))  # NCHW contiguous
    inputs = [v.clone().requires_grad_() for v in (x, off, weight)]
    grads_ref = torch.autograd.grad(deform_conv2d_depthwise(*inputs, None), inputs, grad_out)
    gx, goff, gw, gb = deform_conv_depthwise_backward(xl, offl, weight.to(triton_device),
                                                      grad_out.to(triton_device).permute(0, 2, 3, 1))
    for g, g_ref in zip((gx.permute(0, 3, 1, 2), goff.permute(0, 3, 1, 2), gw), grads_ref, strict=True):
        assert _rel(g, g_ref) < 1e-5
    assert _rel(gb, grad_out.sum((0, 2, 3))) < 1e-5


def test_bf16_inputs_give_their_dtypes(triton_device):
    """As under autocast: bf16 x and offsets, fp32 weights; values and gradients are the fp32 computation on the
    bf16 values, rounded to each input's dtype."""
    x, off, weight, bias = _case("fraction", seed=4)
    xb, offb = x.to(torch.bfloat16), off.to(torch.bfloat16)
    conv = DeformableDepthwiseConv(6).to(triton_device)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    conv.impl = "triton"
    inputs = [v.to(triton_device).requires_grad_() for v in (xb, offb)]
    y = conv(*inputs)
    assert y.dtype == torch.bfloat16
    grads = torch.autograd.grad(y.float().sum(), [*inputs, conv.weight, conv.bias])
    assert [g.dtype for g in grads] == [torch.bfloat16, torch.bfloat16, torch.float32, torch.float32]
    inputs_ref = [v.float().requires_grad_() for v in (xb, offb)]
    ref = deform_conv2d_depthwise(*inputs_ref, weight.requires_grad_(), bias.requires_grad_())
    grads_ref = torch.autograd.grad(ref.sum(), [*inputs_ref, weight, bias])
    assert _rel(y.float(), ref) < 2**-7
    for g, g_ref in zip(grads, grads_ref, strict=True):
        assert _rel(g.float(), g_ref) < 2**-7


def test_model_gradients_match_reference(triton_device):
    """A tiny model trained with "triton" gets the same loss gradients for every parameter as with "gather"
    (autograd through the reference)."""
    torch.manual_seed(0)
    model = SasMamba("sasmamba-tiny")
    model.eval()  # no drop path
    with torch.no_grad():  # learned offsets are not zero: sampling points between grid points and outside it
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.set_scan_backend("chunked")
    x = torch.randn(1, 5, 17, 2, generator=torch.Generator().manual_seed(5)) * 0.4  # 5 of 9 frames: interpreter time
    results = {}
    for impl in ("gather", "triton"):
        model.set_deform_impl(impl)
        model.to(triton_device if impl == "triton" else "cpu")
        model.zero_grad()
        out = model(x.to(next(model.parameters()).device))
        out.square().mean().backward()
        results[impl] = (out.detach().cpu(), {n: p.grad.cpu() for n, p in model.named_parameters()})
    (out_ref, grads_ref), (out, grads) = results["gather"], results["triton"]
    assert _rel(out, out_ref) < 1e-5
    for name, g in grads_ref.items():
        assert float((grads[name] - g).abs().max()) <= 1e-4 * float(g.abs().max()), name
