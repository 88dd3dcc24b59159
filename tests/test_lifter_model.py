"""SasMamba model pieces: fast paths against their references, torch against numpy, gradients, counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine import numpy_runtime as npr
from engine.config import CONFIGS
from engine.deform_conv import (
    DeformableDepthwiseConv,
    DepthwiseDeformConvFunction,
    deform_conv2d_depthwise,
    deform_conv2d_depthwise_fused,
    deform_conv2d_depthwise_inference,
)
from engine.info import mac_counts, parameter_counts
from engine.model import SasMamba, stride_anchor, stride_anchor_index
from engine.scan import selective_scan_blocked, selective_scan_chunked, selective_scan_reference
from engine.weights import state_dict_arrays

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def scan_inputs(b=2, g=4, d=6, n=5, length=150, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(b, g * d, length, generator=gen, dtype=dtype)
    delta = torch.randn(b, g * d, length, generator=gen, dtype=dtype) - 1
    A = -torch.rand(g * d, n, generator=gen, dtype=dtype) * 4 - 0.1
    B = torch.randn(b, g, n, length, generator=gen, dtype=dtype)
    C = torch.randn(b, g, n, length, generator=gen, dtype=dtype)
    D = torch.randn(g * d, generator=gen, dtype=dtype)
    bias = torch.randn(g * d, generator=gen, dtype=dtype) * 0.5
    return u, delta, A, B, C, D, bias


def test_chunked_scan_equals_reference_forward_and_backward():
    inputs = [t.float().requires_grad_() for t in scan_inputs()]
    ref = selective_scan_reference(*inputs, delta_softplus=True)
    grads_ref = torch.autograd.grad(ref.square().sum(), inputs)
    for chunk in (1, 16, 64, 200):  # 150 steps: ragged, exact and longer-than-sequence chunks
        fast = selective_scan_chunked(*inputs, delta_softplus=True, chunk=chunk)
        assert torch.allclose(fast, ref, atol=1e-5, rtol=1e-5), chunk
        grads = torch.autograd.grad(fast.square().sum(), inputs)
        for g_fast, g_ref in zip(grads, grads_ref, strict=True):
            scale = g_ref.abs().max().clamp(min=1)
            assert ((g_fast - g_ref).abs().max() / scale) < 1e-5, chunk


def test_blocked_scan_equals_reference():
    inputs = [t.float() for t in scan_inputs(b=3, length=97, seed=1)]
    ref = selective_scan_reference(*inputs, delta_softplus=True)
    for block in (1, 5, 32, 200):
        fast = selective_scan_blocked(*inputs, delta_softplus=True, block=block)
        assert torch.allclose(fast, ref, atol=1e-5, rtol=1e-5), block


def test_numpy_scan_equals_reference():
    u, delta, A, B, C, D, bias = (t.float() for t in scan_inputs(seed=2))
    ref = selective_scan_reference(u, delta, A, B, C, D, bias, True).numpy()
    b, gd, length = u.shape
    g, n = B.shape[1], B.shape[2]
    d = gd // g
    dl = F.softplus(delta + bias[:, None]).numpy()
    as_np = lambda t: t.reshape(b, g, -1, length).permute(3, 0, 1, 2).contiguous().numpy()  # noqa: E731  (L, b, K, d|n)
    y = npr.selective_scan(as_np(u), as_np(torch.from_numpy(dl)), A.reshape(g, d, n).transpose(1, 2).numpy(),
                           as_np(B), as_np(C), D.reshape(g, d).numpy(), block=7)
    np.testing.assert_allclose(y.transpose(1, 2, 3, 0).reshape(b, gd, length), ref, atol=1e-5, rtol=1e-5)


def test_deform_conv_zero_offsets_is_depthwise_conv_and_paths_agree():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 11, 17, generator=gen)
    weight = torch.randn(6, 1, 3, 3, generator=gen)
    bias = torch.randn(6, generator=gen)
    zero = torch.zeros(2, 18, 11, 17)
    plain = F.conv2d(x, weight, bias, padding=1, groups=6)
    assert torch.allclose(deform_conv2d_depthwise(x, zero, weight, bias), plain, atol=1e-5)
    assert torch.allclose(deform_conv2d_depthwise_inference(x, zero, weight, bias), plain, atol=1e-5)
    to_np = lambda t: t.permute(0, 2, 3, 1).numpy()  # noqa: E731  channels-last
    np.testing.assert_allclose(npr.deform_conv_depthwise(to_np(x), to_np(zero), weight.numpy(), bias.numpy()),
                               to_np(plain), atol=1e-5)
    offset = torch.randn(2, 18, 11, 17, generator=gen) * 3  # many taps land outside the grid
    ref = deform_conv2d_depthwise(x, offset, weight, bias)
    assert torch.allclose(deform_conv2d_depthwise_inference(x, offset, weight, bias), ref, atol=1e-5)
    np.testing.assert_allclose(npr.deform_conv_depthwise(to_np(x), to_np(offset), weight.numpy(), bias.numpy()),
                               to_np(ref), atol=1e-5)


def test_fused_deform_conv_gradients_are_exact():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    offset = (torch.randn(2, 18, 5, 4, generator=gen, dtype=torch.float64) * 1.5).requires_grad_()  # some outside
    weight = torch.randn(3, 1, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(DepthwiseDeformConvFunction.apply, (x, offset, weight, bias))
    assert torch.autograd.gradcheck(DepthwiseDeformConvFunction.apply, (x, offset, weight, None), fast_mode=True)
    x5 = torch.randn(1, 2, 4, 3, generator=gen, dtype=torch.float64, requires_grad=True)  # a 5x5 kernel
    offset5 = (torch.randn(1, 50, 4, 3, generator=gen, dtype=torch.float64) * 0.7).requires_grad_()
    weight5 = torch.randn(2, 1, 5, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(DepthwiseDeformConvFunction.apply, (x5, offset5, weight5, None), fast_mode=True)


def test_fused_deform_conv_equals_gather_on_model_shapes():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(1, 128, 243, 17, generator=gen, requires_grad=True)  # sasmamba-s: d_inner 128, 243 x 17
    offset = (torch.randn(1, 18, 243, 17, generator=gen) * 2).requires_grad_()
    weight = torch.randn(128, 1, 3, 3, generator=gen, requires_grad=True)
    bias = torch.randn(128, generator=gen, requires_grad=True)
    grad_out = torch.randn(1, 128, 243, 17, generator=gen)
    ref = deform_conv2d_depthwise(x, offset, weight, bias)
    fused = deform_conv2d_depthwise_fused(x, offset, weight, bias)
    assert (fused - ref).abs().max() < 1e-5 * ref.abs().max()
    inputs = (x, offset, weight, bias)
    for g_fused, g_ref in zip(torch.autograd.grad(fused, inputs, grad_out), torch.autograd.grad(ref, inputs, grad_out),
                              strict=True):
        assert (g_fused - g_ref).abs().max() < 1e-5 * g_ref.abs().max()


def test_stride_anchor_slices_equal_the_index_form():
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(2, 5, 7, 17, dtype=dtype, requires_grad=True)
        grad_out = torch.randn(2, 5, 7, 17, dtype=dtype)
        by_index = x + x[..., stride_anchor_index(17, 2)] + x[..., stride_anchor_index(17, 3)]
        by_slice = x + stride_anchor(x, 2) + stride_anchor(x, 3)
        assert torch.equal(by_slice, by_index)  # bit-identical forward
        (g_index,), (g_slice,) = (torch.autograd.grad(y, x, grad_out) for y in (by_index, by_slice))
        torch.testing.assert_close(g_slice, g_index, rtol=1e-6 if dtype == torch.float32 else 1e-12, atol=0)
    for joints in (1, 2, 3, 6, 16):
        x = torch.randn(3, joints)
        for stride in (2, 3):
            assert torch.equal(stride_anchor(x, stride), x[..., stride_anchor_index(joints, stride)])


def test_deform_implementations_agree_in_the_model():
    model = perturbed_model("sasmamba-tiny")
    model.set_scan_backend("chunked")  # the differentiable path everywhere
    x = torch.randn(2, model.cfg.frames, 17, 2, generator=torch.Generator().manual_seed(5)) * 0.4
    results = {}
    for impl in ("gather", "fused"):
        model.set_deform_impl(impl)
        model.zero_grad()
        out = model(x)
        out.square().mean().backward()
        results[impl] = (out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()})
    (out_g, grads_g), (out_f, grads_f) = results["gather"], results["fused"]
    assert (out_f - out_g).abs().max() < 1e-5 * out_g.abs().max()
    for name, g in grads_g.items():
        assert (grads_f[name] - g).abs().max() <= 1e-4 * g.abs().max(), name
    with pytest.raises(ValueError, match="unknown deformable conv"):
        model.set_deform_impl("cudnn")
    with pytest.raises(ValueError, match="unknown deformable conv"):  # set directly on a layer, too
        model.spatial_blocks[0].ssm.conv.impl = "cudnn"
    assert {m.impl for m in model.modules() if isinstance(m, DeformableDepthwiseConv)} == {"fused"}


def perturbed_model(name: str, seed: int = 0) -> SasMamba:
    """A freshly initialised model with every parameter nudged, so zero-initialised offsets and embeddings matter."""
    torch.manual_seed(seed)
    model = SasMamba(name).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.mark.parametrize("name,batch", [("sasmamba-tiny", 3), ("sasmamba-xs", 2), ("sasmamba-s", 1)])
def test_numpy_runtime_equals_torch(name, batch, native_impl):
    model = perturbed_model(name)
    net = npr.NumpySasMamba(state_dict_arrays(model), model.cfg.to_dict(), threads=2)
    x = torch.randn(batch, model.cfg.frames, 17, 2, generator=torch.Generator().manual_seed(1)) * 0.4
    with torch.no_grad():
        expected = model(x).numpy()
    got = net.forward(x.numpy(), batch=2)
    rel = np.abs(got - expected).max() / np.abs(expected).max()
    assert rel < 1e-4, rel
    if name != "sasmamba-s":  # the differentiable paths (training) give the same forward as the inference paths
        model.set_scan_backend("chunked")
        out = model(x.clone().requires_grad_()).detach().numpy()
        assert np.abs(out - expected).max() / np.abs(expected).max() < 1e-4


def test_numpy_runtime_workers_get_one_blas_thread_each_and_it_is_restored():
    from engine.blas_threads import _openblas_controls, one_blas_thread

    controls = _openblas_controls()  # numpy's bundled OpenBLAS (what the pinned numpy wheel ships)
    assert controls is not None
    set_threads, get_threads = controls
    set_threads(2)
    with one_blas_thread() as switched:
        assert switched and get_threads() == 1
    assert get_threads() == 2


def stride_ssm_as_written_first(ssm, x: torch.Tensor) -> torch.Tensor:
    """StrideSSM's differentiable forward as first written (anchors by index, einsums, the four directions summed
    one by one, the loop scan): the obvious reference for the rewritten, faster one."""
    b, t, j, _ = x.shape
    di, n, r, k = ssm.cfg.d_inner, ssm.cfg.d_state, ssm.cfg.dt_rank, ssm.cfg.directions
    length = t * j
    xi, z = ssm.in_proj(x).chunk(2, dim=-1)
    xi = xi.permute(0, 3, 1, 2)
    xc = F.silu(deform_conv2d_depthwise(xi, ssm.offset_conv(xi), ssm.conv.weight, ssm.conv.bias))
    xa = xc + xc[..., stride_anchor_index(j, 2)] + xc[..., stride_anchor_index(j, 3)]
    frame_major, joint_major = xa.reshape(b, di, length), xc.transpose(2, 3).reshape(b, di, length)
    xs = torch.stack([frame_major, joint_major, frame_major.flip(-1), joint_major.flip(-1)], dim=1)
    x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, ssm.x_proj_weight)
    dt, B, C = torch.split(x_dbl, [r, n, n], dim=2)
    dt = torch.einsum("bkrl,kdr->bkdl", dt, ssm.dt_proj_weight)
    y = selective_scan_reference(xs.reshape(b, k * di, length), dt.reshape(b, k * di, length),
                                 -torch.exp(ssm.A_log), B, C, ssm.D, ssm.dt_proj_bias.reshape(-1), True)
    y = y.view(b, k, di, length)
    unjoint = lambda v: v.view(b, di, j, t).transpose(2, 3).reshape(b, di, length)  # noqa: E731
    y = y[:, 0] + y[:, 2].flip(-1) + unjoint(y[:, 1]) + unjoint(y[:, 3].flip(-1))
    y = y.transpose(1, 2).reshape(b, t, j, di)
    return ssm.out_proj(ssm.out_norm(y) * F.silu(z))


@pytest.mark.parametrize("deform_impl", ["gather", "fused"])
def test_stride_ssm_equals_its_first_written_form(deform_impl):
    model = perturbed_model("sasmamba-tiny")
    model.set_deform_impl(deform_impl)
    ssm = model.spatial_blocks[0].ssm
    ssm.scan_backend = "reference"
    x = torch.randn(2, model.cfg.frames, 17, model.cfg.dim, generator=torch.Generator().manual_seed(6),
                    requires_grad=True)
    grad_out = torch.randn(2, model.cfg.frames, 17, model.cfg.dim, generator=torch.Generator().manual_seed(7))
    inputs = [x, *ssm.parameters()]
    ref = stride_ssm_as_written_first(ssm, x)
    out = ssm(x)
    assert (out - ref).abs().max() < 1e-5 * ref.abs().max()
    for g, g_ref in zip(torch.autograd.grad(out, inputs, grad_out), torch.autograd.grad(ref, inputs, grad_out),
                        strict=True):
        assert (g - g_ref).abs().max() <= 1e-5 * g_ref.abs().max()


def test_gradients_reach_every_parameter():
    model = perturbed_model("sasmamba-xs")  # eval(): drop-path off, so no branch is skipped at random
    x = torch.randn(2, model.cfg.frames, 17, 2) * 0.4
    model(x).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max() > 0, name


def test_counts_match_modules_and_paper():
    for name in ("sasmamba-s", "sasmamba-xs"):
        model = SasMamba(name)
        leaf = sum(p.numel() for m in model.modules() if not list(m.children()) for p in m.parameters(False))
        counts = parameter_counts(CONFIGS[name])
        assert counts["thop_style"] == leaf
        assert counts["true"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    small = parameter_counts(CONFIGS["sasmamba-s"])
    assert small == {"thop_style": 637_751, "true": 951_351}
    assert abs(small["thop_style"] / 0.638e6 - 1) < 0.02
    macs = mac_counts(CONFIGS["sasmamba-s"])
    assert 2.4e9 < macs["thop_style_per_window"] < 2.7e9  # thop's 2.60G (twice the paper's 1.3G) incl. norms
    assert macs["thop_style_per_frame"] == pytest.approx(macs["thop_style_per_window"] / 243)
