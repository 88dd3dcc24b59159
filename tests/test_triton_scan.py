"""engine/triton_scan.py's kernel under Triton's CPU interpreter, against the model's own torch scan paths. Skipped
where triton is not installed (the usual case: the CPU suite and Blender have none)."""

from __future__ import annotations

import os

import pytest
import torch

from engine import triton_scan
from engine.config import SasMambaConfig
from engine.model import SasMamba, StrideSSM

if not torch.cuda.is_available():  # the interpreter is chosen when triton is first imported, so before that
    os.environ.setdefault("TRITON_INTERPRET", "1")
pytest.importorskip("triton", reason="triton not installed (GPU machine, or pip install --target ... triton)")


@pytest.fixture()
def interpreted():
    """CUDA where there is one, else Triton's interpreter on CPU tensors."""
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("no CUDA and TRITON_INTERPRET is not 1 (triton was imported before this module)")
    yield "cuda" if torch.cuda.is_available() else "cpu"


@pytest.mark.parametrize(("atomic", "prefetch"), [(True, 1), (False, 1), (True, 0), (True, 2)])
def test_stride_scan_matches_time_major(interpreted, atomic, prefetch):
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
        dev = interpreted
        y = triton_scan.stride_scan(*(v.to(dev) for v in (xa, xc, proj_a, proj_c, A)),
                                    module.dt_proj_weight.transpose(1, 2).to(dev),
                                    module.dt_proj_bias.view(4, di).to(dev), module.D.view(4, di).to(dev),
                                    atomic=atomic, block_d=32, prefetch=prefetch).cpu()
    assert float((y - ref).abs().max() / ref.abs().max()) < 1e-5


def test_model_forward_matches_reference_scan(interpreted):
    """A whole (tiny) model: the Triton inference path against the differentiable path with the reference loop."""
    torch.manual_seed(0)
    model = SasMamba("sasmamba-tiny").eval()
    x = torch.randn(1, 9, 17, 2)
    with torch.no_grad():
        model.set_scan_backend("reference")
        ref = model(x)
        model.set_scan_backend("triton")
        model.to(interpreted)
        y = model(x.to(interpreted))
    assert float((y.cpu() - ref).abs().max() / ref.abs().max()) < 1e-5

