"""engine/triton_selective_scan.py (the scan backend "triton-train") under Triton's CPU interpreter: values and
every gradient against autograd through engine/scan.py's reference loop, and a tiny model's gradients. Skipped
where triton is not installed (the usual case: the CPU suite and Blender have none)."""

from __future__ import annotations

import os

import pytest
import torch

from engine import triton_selective_scan
from engine.model import SasMamba
from engine.scan import selective_scan, selective_scan_reference

if not torch.cuda.is_available():  # the interpreter is chosen when triton is first imported, so before that
    os.environ.setdefault("TRITON_INTERPRET", "1")
pytest.importorskip("triton", reason="triton not installed (GPU machine, or pip install --target ... triton)")

NAMES = ("u", "delta", "A", "B", "C", "D", "delta_bias")


def make_inputs(b=2, dch=8, g=2, n=4, length=37, with_d=True, with_bias=True, seed=0) -> list:
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(b, dch, length, generator=gen)
    delta = torch.randn(b, dch, length, generator=gen) * 0.5
    A = -torch.rand(dch, n, generator=gen) - 0.5  # negative, as -exp(A_log)
    B, C = torch.randn(b, g, n, length, generator=gen), torch.randn(b, g, n, length, generator=gen)
    D = torch.randn(dch, generator=gen) if with_d else None
    bias = torch.randn(dch, generator=gen) * 0.3 if with_bias else None
    return [u, delta, A, B, C, D, bias]


def rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float((a.float() - ref.float()).abs().max() / ref.float().abs().max().clamp(min=1e-12))


def values_and_grads(fn, inputs: list, dy: torch.Tensor, softplus: bool, device: str) -> tuple:
    leaves = [None if v is None else v.to(device).requires_grad_() for v in inputs]
    y = fn(*leaves, delta_softplus=softplus)
    present = [v for v in leaves if v is not None]
    grads = iter(torch.autograd.grad(y, present, dy.to(device=device, dtype=y.dtype)))
    return y.detach().cpu(), [None if v is None else next(grads).cpu() for v in leaves]


@pytest.mark.parametrize(("softplus", "with_d", "with_bias"),
                         [(True, True, True), (False, False, False), (True, False, True), (False, True, False)])
def test_values_and_grads_match_reference(triton_device, softplus, with_d, with_bias):
    inputs = make_inputs(with_d=with_d, with_bias=with_bias)
    dy = torch.randn(2, 8, 37)
    y_ref, g_ref = values_and_grads(selective_scan_reference, inputs, dy, softplus, "cpu")
    y, grads = values_and_grads(triton_selective_scan.selective_scan_fn, inputs, dy, softplus, triton_device)
    assert rel(y, y_ref) < 1e-5
    for name, gr, ref in zip(NAMES, grads, g_ref, strict=True):
        assert (gr is None) == (ref is None), name
        if ref is not None:
            assert gr.dtype == ref.dtype and rel(gr, ref) < 1e-4, name


@pytest.mark.parametrize("block_d", [2, 4])
def test_several_blocks_per_group_and_partial_blocks(triton_device, monkeypatch, block_d):
    """12 channels in 2 groups of 6: blocks of 2 (three programs share each group's B and C, whose gradient partial
    sums are then added) and blocks of 4 (the second block half masked); N = 3 pads to 4 states."""
    monkeypatch.setitem(triton_selective_scan.DEFAULTS, "block_d", block_d)
    inputs = make_inputs(dch=12, n=3, length=21, seed=1)
    dy = torch.randn(2, 12, 21)
    y_ref, g_ref = values_and_grads(selective_scan_reference, inputs, dy, True, "cpu")
    y, grads = values_and_grads(triton_selective_scan.selective_scan_fn, inputs, dy, True, triton_device)
    assert rel(y, y_ref) < 1e-5
    for name, gr, ref in zip(NAMES, grads, g_ref, strict=True):
        assert rel(gr, ref) < 1e-4, name


def test_bf16_inputs(triton_device):
    """bf16 u, delta, B, C: output and their gradients in bf16, within bf16 rounding of the float32 reference on
    the same (rounded) values."""
    inputs = make_inputs()
    for i in (0, 1, 3, 4):
        inputs[i] = inputs[i].bfloat16()
    dy = torch.randn(2, 8, 37)
    y_ref, g_ref = values_and_grads(selective_scan_reference, [v.float() for v in inputs], dy, True, "cpu")
    y, grads = values_and_grads(triton_selective_scan.selective_scan_fn, inputs, dy, True, triton_device)
    assert y.dtype == torch.bfloat16 and rel(y, y_ref) < 1e-2
    for name, gr, ref, given in zip(NAMES, grads, g_ref, inputs, strict=True):
        assert gr.dtype == given.dtype and rel(gr, ref) < 2e-2, name


def test_dispatcher_and_no_grad(triton_device):
    """selective_scan(backend="triton-train") is the same function; without grad no states are kept."""
    u, delta, A, B, C, D, bias = (v.to(triton_device) for v in make_inputs())
    ref = selective_scan_reference(u.cpu(), delta.cpu(), A.cpu(), B.cpu(), C.cpu(), D.cpu(), bias.cpu())
    with torch.no_grad():
        y = selective_scan(u, delta, A, B, C, D, bias, delta_softplus=True, backend="triton-train")
    assert rel(y.cpu(), ref) < 1e-5


def test_tiny_model_grads_match_torch_scan(triton_device):
    """Every parameter's loss gradient of a tiny SasMamba with the scan backend "triton-train" against the chunked
    torch scan; without grad the backend leaves inference on the default paths (same output)."""
    torch.manual_seed(0)
    model = SasMamba("sasmamba-tiny").eval()  # eval: no drop path, so both passes see the same network
    x, target = torch.randn(1, 4, 17, 2), torch.randn(1, 4, 17, 3)  # 4 of 9 frames: short interpreted scans

    def grads(backend: str) -> dict:
        model.set_scan_backend(backend)
        model.zero_grad()
        (model(x.to(triton_device)) - target.to(triton_device)).square().mean().backward()
        return {name: p.grad.detach().cpu().clone() for name, p in model.named_parameters()}

    model.to("cpu")
    ref = grads("chunked")
    model.to(triton_device)
    got = grads("triton-train")
    assert ref.keys() == got.keys()
    for name in ref:
        assert rel(got[name], ref[name]) < 1e-4, name
    with torch.no_grad():
        y = model(x.to(triton_device))
        model.set_scan_backend("auto")
        assert torch.equal(y, model(x.to(triton_device)))
