"""The CUDA inference choices that can be checked without a GPU: the Triton block-size rule, the SASMAMBA_TRITON
switch and its run-time fallback, and backend discovery on a CPU-only machine (with or without triton importable).
The CUDA paths themselves need a device: scripts/bench_gpu_scan.py runs them against mamba-ssm there."""

from __future__ import annotations

import pytest
import torch

from engine import triton_scan
from engine.info import gpu_scan
from engine.lifter import Lifter, available_backends, pick_backend
from engine.scan import gpu_scan_path

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine's answers")


@pytest.mark.parametrize(("batch", "d", "block"), [
    (64, 128, 32),  # 1,024 programs: the H200's fastest at batch 64
    (256, 128, 128),  # 1,024 programs: the H200's fastest at batch 256
    (128, 128, 64),
    (1, 128, 32),  # too few programs whatever the block: the smallest keeps the most
    (4096, 128, 128),  # more than ~1024 whatever the block: the widest keeps the fewest
    (64, 24, 32),  # blocks wider than the channels' power of two are not offered
    (64, 8, 8),
])
def test_block_d_for(batch, d, block):
    assert triton_scan.block_d_for(batch, d) == block


def test_triton_switch(monkeypatch):
    monkeypatch.delenv("SASMAMBA_TRITON", raising=False)
    assert triton_scan.enabled() == triton_scan.available()  # on by default wherever triton imports
    monkeypatch.setenv("SASMAMBA_TRITON", "0")
    assert not triton_scan.enabled()


def test_triton_disabled_after_a_runtime_failure(monkeypatch, caplog):
    """A kernel that imported but failed to compile or launch is not tried again in this process."""
    monkeypatch.delenv("SASMAMBA_TRITON", raising=False)
    monkeypatch.setattr(triton_scan, "_failure", [])
    monkeypatch.setattr(triton_scan, "available", lambda: True)
    assert triton_scan.enabled()
    triton_scan.disable(RuntimeError("no ptxas"))  # an exception is logged as its type and message
    triton_scan.disable("a second failure is not logged again")
    assert not triton_scan.enabled()
    assert [r.getMessage() for r in caplog.records] == [
        "Triton stride scan disabled, using the other CUDA scan: RuntimeError: no ptxas"]


@no_cuda
def test_backends_without_cuda():
    assert gpu_scan_path() is None and gpu_scan() == "no CUDA"
    assert available_backends() == ["torch", "numpy"]
    assert pick_backend() == "torch"
    with pytest.raises(RuntimeError, match="needs torch with CUDA and triton or mamba-ssm"):
        pick_backend("cuda")


@no_cuda
def test_precision_checked():
    with pytest.raises(ValueError, match="needs a CUDA device"):
        Lifter.load(backend="torch", precision="bf16")
    with pytest.raises(ValueError, match="unknown precision"):
        Lifter.load(precision="fp16")


def test_triton_deform_conv_is_default_with_opt_out(monkeypatch):
    """The Triton deformable conv runs wherever the Triton scan does unless SASMAMBA_TRITON_DEFORM=0, and never
    where the scan kernel is off."""
    monkeypatch.setattr(triton_scan, "_failure", [])
    monkeypatch.setattr(triton_scan, "_deform_failure", [])
    monkeypatch.setattr(triton_scan, "available", lambda: True)
    monkeypatch.delenv("SASMAMBA_TRITON", raising=False)
    monkeypatch.delenv("SASMAMBA_TRITON_DEFORM", raising=False)
    assert triton_scan.enabled() and triton_scan.deform_enabled()
    monkeypatch.setenv("SASMAMBA_TRITON_DEFORM", "0")
    assert triton_scan.enabled() and not triton_scan.deform_enabled()
    monkeypatch.setenv("SASMAMBA_TRITON_DEFORM", "1")
    assert triton_scan.deform_enabled()
    monkeypatch.setenv("SASMAMBA_TRITON", "0")
    assert not triton_scan.deform_enabled()


def test_triton_deform_impl_is_selectable_and_auto_trains_with_it(monkeypatch):
    """The training CLI takes --deform-impl triton; "auto" resolves to it for CUDA training wherever the Triton
    conv is enabled (measured on an H100: equal gradients, a third off a step), to torchvision's kernel for CUDA
    inference outside the Triton path and where the Triton conv is off, and never to it on CPU."""
    from engine.deform_conv import _torchvision_deform, resolve_auto
    from engine.train import parse_args

    assert parse_args(["--out", "run", "--deform-impl", "triton"]).deform_impl == "triton"
    assert parse_args(["--out", "run"]).deform_impl == "auto"
    monkeypatch.setattr(triton_scan, "_failure", [])
    monkeypatch.setattr(triton_scan, "_deform_failure", [])
    monkeypatch.setattr(triton_scan, "available", lambda: True)
    monkeypatch.delenv("SASMAMBA_TRITON", raising=False)
    monkeypatch.delenv("SASMAMBA_TRITON_DEFORM", raising=False)
    cuda_own = "torchvision" if _torchvision_deform() is not None else "gather"
    assert resolve_auto(cuda=True, autograd=True) == "triton"
    assert resolve_auto(cuda=True, autograd=False) == cuda_own
    assert resolve_auto(cuda=False, autograd=True) == "gather"
    assert resolve_auto(cuda=False, autograd=False) == "inference"
    monkeypatch.setenv("SASMAMBA_TRITON_DEFORM", "0")
    assert resolve_auto(cuda=True, autograd=True) == cuda_own
    monkeypatch.delenv("SASMAMBA_TRITON_DEFORM")
    triton_scan.disable("a kernel that failed to compile", kernel="deform")
    assert resolve_auto(cuda=True, autograd=True) == cuda_own


def test_triton_deform_impl_says_why_it_cannot_run(monkeypatch):
    """On a CPU tensor without Triton's interpreter, or where triton does not import: a clear error, no fallback."""
    from engine.deform_conv import DeformableDepthwiseConv

    conv = DeformableDepthwiseConv(4)
    conv.impl = "triton"
    x, offset = torch.randn(1, 4, 5, 3), torch.zeros(1, 18, 5, 3)
    monkeypatch.setattr(triton_scan, "available", lambda: True)
    monkeypatch.setattr(triton_scan, "interpreted", lambda: False)
    with pytest.raises(RuntimeError, match="needs CUDA tensors"):
        conv(x, offset)
    monkeypatch.setattr(triton_scan, "available", lambda: False)
    with pytest.raises(RuntimeError, match="triton does not import"):
        conv(x, offset)


def test_triton_scan_impl_is_selectable_but_not_auto():
    """The training CLI takes --scan-impl triton (the scan backend "triton-train"); the default stays "auto"."""
    from engine.train import SCAN_IMPLS, parse_args

    assert parse_args(["--out", "run", "--scan-impl", "triton"]).scan_impl == "triton"
    assert parse_args(["--out", "run"]).scan_impl == "auto"
    assert SCAN_IMPLS == {"auto": "auto", "mamba-ssm": "cuda", "triton": "triton-train"}
    with pytest.raises(SystemExit):
        parse_args(["--out", "run", "--scan-impl", "fast"])


def test_triton_train_scan_says_why_it_cannot_run(monkeypatch):
    """The "triton-train" scan backend on a CPU tensor without the interpreter, or without triton: a clear error."""
    from engine.scan import selective_scan

    u = torch.randn(1, 4, 5)
    B = torch.randn(1, 2, 3, 5)
    monkeypatch.setattr(triton_scan, "available", lambda: True)
    monkeypatch.setattr(triton_scan, "interpreted", lambda: False)
    with pytest.raises(RuntimeError, match="needs CUDA tensors"):
        selective_scan(u, u, -torch.ones(4, 3), B, B, backend="triton-train")
    monkeypatch.setattr(triton_scan, "available", lambda: False)
    with pytest.raises(RuntimeError, match="triton does not import"):
        selective_scan(u, u, -torch.ones(4, 3), B, B, backend="triton-train")
