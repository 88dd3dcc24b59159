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
warp count than that splits N across warps and costs a shared-memory reduction every step. The block width is
chosen per call from the batch (`block_d_for`), one warp each.

It is the default scan for CUDA inference without grad (the model's scan backend "auto") whenever triton imports;
SASMAMBA_TRITON=0 opts out (mamba-ssm's scan then, else the torch scan). Training keeps mamba-ssm (autograd).

The kernel is in engine/triton_kernels.py, imported on first use: this module imports without triton (the CPU test
suite and Blender have none).
"""

from __future__ import annotations

import functools
import logging
import math
import os

import torch

# the kernel's settings when a caller passes none; block_d None: `block_d_for` picks it per call
DEFAULTS = {"atomic": True, "block_d": None, "num_warps": 1, "prefetch": 1}
BLOCK_D_CHOICES = (32, 64, 128)
log = logging.getLogger(__name__)
TARGET_PROGRAMS = 1024


def interpreted() -> bool:
    """Triton's CPU interpreter is on: the Triton path then also takes CPU tensors (tests, smoke runs)."""
    return os.environ.get("TRITON_INTERPRET", "") == "1"


_failure: list[str] = []  # why the kernel failed at run time in this process, if it did


def enabled() -> bool:
    """The Triton scan is used for CUDA inference unless SASMAMBA_TRITON=0, triton does not import, or the kernel
    already failed in this process (`disable`)."""
    return os.environ.get("SASMAMBA_TRITON", "").strip() != "0" and available() and not _failure


def disable(reason: str) -> None:
    """Stop using the kernel for the rest of the process: triton imported but could not compile or launch it (no
    working compiler, an unsupported card); the model's other CUDA scan still runs."""
    if not _failure:
        log.warning("Triton stride scan disabled, using the other CUDA scan: %s", reason)
        _failure.append(reason)


def version() -> str | None:
    """triton's version, None when it does not import."""
    if not available():
        return None
    import triton

    return str(triton.__version__)


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


def block_d_for(batch: int, d: int) -> int:
    """Channels per program for a (batch, d channels) scan: the kernel launches batch * ceil(d / block_d) * 4
    programs, and the block among BLOCK_D_CHOICES whose count lies nearest TARGET_PROGRAMS (in ratio; ties to the
    smaller block) wins.

    Why ~1024: each program walks 4,131 dependent steps, so the scan is latency bound and wants enough programs to
    fill the card once, not many waves of them. Measured on an H200 (session 5, sasmamba-s, d_inner 128, bf16):
    batch 64: 32 channels (1,024 programs) 2.37 ms, 64 channels 2.88, 128 channels 3.04; batch 256: 128 channels
    (1,024 programs) 4.42 ms, 32 channels (4,096) 6.17, 64 channels (2,048) 6.70. Other batches are interpolated
    by this rule, not measured; pass `block_d` to override."""
    cap = _pow2(d)
    choices = [c for c in BLOCK_D_CHOICES if c <= cap] or [cap]
    return min(choices, key=lambda c: (abs(math.log2(max(batch, 1) * -(-d // c) * 4 / TARGET_PROGRAMS)), c))


@torch.no_grad()
def stride_scan(xa: torch.Tensor, xc: torch.Tensor, proj_a: torch.Tensor, proj_c: torch.Tensor, A: torch.Tensor,
                dt_w: torch.Tensor, dt_bias: torch.Tensor, D: torch.Tensor | None = None, *, atomic: bool | None = None,
                block_d: int | None = None, num_warps: int | None = None,
                prefetch: int | None = None) -> torch.Tensor:
    """engine/native.py's `stride_scan` on torch tensors: xa, xc (b, T, J, d); proj_a, proj_c (b, T, J, 2, R + 2N)
    (float32 or bfloat16); A (4, N, d); dt_w (4, R, d); dt_bias, D (4, d) -> float32 (b, T, J, d).

    `atomic`: the four directions add into one grid (True) or fill four grids summed afterwards (False);
    `prefetch`: how many steps ahead the loads are issued (0, 1 or 2); `block_d`: channels per program (None:
    `block_d_for(b, d)`). Settings left None come from DEFAULTS."""
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
    block = min(block_d or block_d_for(b, d), _pow2(d))
    grid = (b, -(-d // block), 4)
    _kernel()[grid](xa, xc, proj_a, proj_c, A, dt_w, dt_bias, Dk, out, t, j, d, out_dir_stride,
                    N=n, N_PAD=_pow2(n), R=rank, R_PAD=_pow2(rank), BLOCK_D=block, HAS_D=D is not None,
                    ATOMIC=atomic, PREFETCH=int(prefetch), num_warps=num_warps)
    return out if atomic else out.sum(0)
