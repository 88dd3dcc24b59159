"""SasMamba's four-direction stride scan as one Triton kernel, for CUDA inference (no autograd).

The same computation as engine/native/scan.c's `stride_scan` (engine/native.py documents the arguments): the four
scan orders over the (T, J) grid are read in place from xa / xc and their projection rows, dt_proj, softplus and
D u are folded in, and the directions are summed on the grid in float32. Nothing of size L x d x N is ever
written to memory, unlike mamba-ssm's path, which needs the four reordered copies of the input, delta, B and C.

Mapping: one program per (batch row, block of channels, direction), its N x BLOCK_D states in registers, walking
the L = T J steps in order. The directions' outputs are either added atomically into one float32 grid
(`atomic=True`) or written to four grids summed afterwards; which is faster is for the GPU bench to say.
Triton's default layout puts a (N, BLOCK_D) tile's channels across a warp's 32 lanes first, so with
BLOCK_D = 32 * num_warps each thread holds all N states of its channel and <C, h> is an in-thread sum; a wider
warp count than that splits N across warps and costs a shared-memory reduction every step. Small blocks give more
programs (the scan is latency bound: 4,131 dependent steps), so BLOCK_D 32 / 1 warp is the default.

The kernel is in engine/triton_kernels.py, imported on first use: this module imports without triton (the CPU test
suite and Blender have none).
"""

from __future__ import annotations

import functools
import os

import torch

# the kernel's settings when a caller passes none; scripts/bench_gpu_scan.py sets the fastest it measured
DEFAULTS = {"atomic": True, "block_d": 32, "num_warps": 1, "prefetch": 1}


def interpreted() -> bool:
    """Triton's CPU interpreter is on: the Triton path then also takes CPU tensors (tests, smoke runs)."""
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def enabled() -> bool:
    """The Triton scan is opt-in (SASMAMBA_TRITON=1) until GPU numbers show it beats mamba-ssm."""
    return os.environ.get("SASMAMBA_TRITON", "") == "1" and available()


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """True when triton imports (GPU machine, or the interpreter under TRITON_INTERPRET=1)."""
    try:
        import triton  # noqa: F401
    except Exception:
        return False
    return True


def _kernel():
    """engine/triton_kernels.py, imported on first use so that importing this module never needs triton."""
    from .triton_kernels import stride_scan_kernel

    return stride_scan_kernel


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


@torch.no_grad()
def stride_scan(xa: torch.Tensor, xc: torch.Tensor, proj_a: torch.Tensor, proj_c: torch.Tensor, A: torch.Tensor,
                dt_w: torch.Tensor, dt_bias: torch.Tensor, D: torch.Tensor | None = None, *, atomic: bool | None = None,
                block_d: int | None = None, num_warps: int | None = None,
                prefetch: int | None = None) -> torch.Tensor:
    """engine/native.py's `stride_scan` on torch tensors: xa, xc (b, T, J, d); proj_a, proj_c (b, T, J, 2, R + 2N)
    (float32 or bfloat16); A (4, N, d); dt_w (4, R, d); dt_bias, D (4, d) -> float32 (b, T, J, d).

    `atomic`: the four directions add into one grid (True) or fill four grids summed afterwards (False);
    `prefetch`: how many steps ahead the loads are issued (0, 1 or 2). Settings left None come from DEFAULTS."""
    atomic = DEFAULTS["atomic"] if atomic is None else atomic
    block_d = DEFAULTS["block_d"] if block_d is None else block_d
    num_warps = DEFAULTS["num_warps"] if num_warps is None else num_warps
    prefetch = DEFAULTS["prefetch"] if prefetch is None else prefetch
    b, t, j, d = xa.shape
    k, n, _ = A.shape
    rank = dt_w.shape[1]
    if k != 4 or xc.shape != xa.shape or proj_a.shape != (b, t, j, 2, rank + 2 * n) or proj_c.shape != proj_a.shape:
        raise ValueError(f"stride_scan: shapes xa {tuple(xa.shape)} xc {tuple(xc.shape)} proj_a "
                         f"{tuple(proj_a.shape)} proj_c {tuple(proj_c.shape)} A {tuple(A.shape)} do not fit")
    if proj_a.dtype != proj_c.dtype or xa.dtype != xc.dtype:
        raise ValueError("stride_scan: xa/xc and proj_a/proj_c must share a dtype")
    xa, xc, proj_a, proj_c = (v.contiguous() for v in (xa, xc, proj_a, proj_c))
    A, dt_w, dt_bias = (v.float().contiguous() for v in (A, dt_w, dt_bias))
    Dk = D.float().contiguous() if D is not None else dt_bias  # any float32 pointer; unread without D
    if atomic:
        out = torch.zeros(b, t, j, d, device=xa.device, dtype=torch.float32)
        out_dir_stride = 0
    else:
        out = torch.empty(4, b, t, j, d, device=xa.device, dtype=torch.float32)
        out_dir_stride = b * t * j * d
    block = min(block_d, _pow2(d))
    grid = (b, -(-d // block), 4)
    _kernel()[grid](xa, xc, proj_a, proj_c, A, dt_w, dt_bias, Dk, out, t, j, d, out_dir_stride,
                    N=n, N_PAD=_pow2(n), R=rank, R_PAD=_pow2(rank), BLOCK_D=block, HAS_D=D is not None,
                    ATOMIC=atomic, PREFETCH=int(prefetch), num_warps=num_warps)
    return out if atomic else out.sum(0)
