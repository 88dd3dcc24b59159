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

`deform_conv_depthwise` is the model's depthwise deformable conv for the same path (engine/native/deform.c's
design): one program per (window, block of grid positions, block of channels), each tap's sampling point found once
per position and its 4 neighbour rows read as channel vectors; the input is read channels-last where in_proj leaves
it and the offsets in whatever layout offset_conv gives, so no permuted copy is made, and silu can be folded in.
It is the default wherever the scan runs (SASMAMBA_TRITON_DEFORM=0 brings torchvision's back: `deform_enabled`).

The kernels are in engine/triton_kernels.py, imported on first use: this module imports without triton (the CPU test
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
# the deformable conv's: grid positions and channels per program (block_c None: the channels' power of two, at most
# 128), warps, taps unrolled. Chosen by ptxas for sm_90 at 128 bf16 channels: 72 registers, no spills (32 positions:
# 142; all 9 taps unrolled: 109 at 16 positions, 255 and spills at 32); on a GPU only these were timed so far (an
# H200, bench --quick), scripts/bench_gpu_scan.py without --quick times other shapes beside them
DEFORM_DEFAULTS = {"block_p": 16, "block_c": None, "num_warps": 4, "unroll": 1}
BLOCK_D_CHOICES = (32, 64, 128)
log = logging.getLogger(__name__)
TARGET_PROGRAMS = 1024


def interpreted() -> bool:
    """Triton's CPU interpreter is on: the Triton path then also takes CPU tensors (tests, smoke runs)."""
    return os.environ.get("TRITON_INTERPRET", "") == "1"


_failure: list[str] = []  # why the scan kernel failed at run time in this process, if it did
_deform_failure: list[str] = []  # the same for the deformable conv kernel, which can fail on its own


def enabled() -> bool:
    """The Triton scan is used for CUDA inference unless SASMAMBA_TRITON=0, triton does not import, or the kernel
    already failed in this process (`disable`)."""
    return os.environ.get("SASMAMBA_TRITON", "").strip() != "0" and available() and not _failure


def deform_enabled() -> bool:
    """The Triton deformable conv runs wherever the scan is `enabled`, unless SASMAMBA_TRITON_DEFORM=0 or its own
    kernel already failed in this process (for inference here, and for CUDA training under the conv's "auto":
    engine/deform_conv.resolve_auto). The default since the H200 run of 2026-11-27
    (reports/gpu_scan_h200_s6.json): equal to torchvision's to bf16 rounding, 22-29x faster alone, and the only
    one of the two whose forward replays correctly from a CUDA graph."""
    return os.environ.get("SASMAMBA_TRITON_DEFORM", "").strip() != "0" and enabled() and not _deform_failure


def disable(reason: str | Exception, kernel: str = "scan") -> None:
    """Stop using a kernel ("scan" or "deform") for the rest of the process: triton imported but could not compile
    or launch it (no working compiler, an unsupported card; `reason` the message or the exception raised); the
    model's other CUDA scan, or its own deformable conv (torchvision's), still runs."""
    if isinstance(reason, Exception):
        reason = f"{type(reason).__name__}: {reason}"
    failures, fallback = (_failure, "stride scan disabled, using the other CUDA scan") if kernel == "scan" else (
        _deform_failure, "deformable conv disabled, using the model's own")
    if not failures:
        log.warning("Triton %s: %s", fallback, reason)
        failures.append(reason)


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


def _kernels():
    """engine/triton_kernels.py, imported on first use so that importing this module never needs triton."""
    from . import triton_kernels

    return triton_kernels


def _settings(defaults: dict, **given) -> tuple:
    """The given kernel settings in order, each one left None taken from `defaults`."""
    return tuple(defaults[name] if value is None else value for name, value in given.items())


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
    atomic, block_d, num_warps, prefetch = _settings(DEFAULTS, atomic=atomic, block_d=block_d, num_warps=num_warps,
                                                     prefetch=prefetch)
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
    _kernels().stride_scan_kernel[grid](xa, xc, proj_a, proj_c, A, dt_w, dt_bias, Dk, out, t, j, d, out_dir_stride,
                                        N=n, N_PAD=_pow2(n), R=rank, R_PAD=_pow2(rank), BLOCK_D=block,
                                        HAS_D=D is not None, ATOMIC=atomic, PREFETCH=int(prefetch),
                                        num_warps=num_warps)
    return out if atomic else out.sum(0)


@torch.no_grad()
def deform_conv_depthwise(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                          *, silu: bool = False, block_p: int | None = None, block_c: int | None = None,
                          num_warps: int | None = None, unroll: int | None = None) -> torch.Tensor:
    """engine/deform_conv.py's `deform_conv2d_depthwise` channels-last, forward only: x (b, H, W, c) with unit
    channel stride (a channel slice of a wider tensor, such as in_proj's output, is read in place); offset
    (b, H, W, 2 k*k), any strides (offset_conv's output permuted, no copy); weight (c, 1, k, k); bias (c,) or None
    -> (b, H, W, c) contiguous in x's dtype, computed in float32 (as torchvision does under autocast). `silu`
    applies silu to the result before it is rounded. `block_p` grid positions and `block_c` channels a program,
    `unroll` taps unrolled (1: a rolled loop); settings left None come from DEFORM_DEFAULTS."""
    block_p, block_c, num_warps, unroll = _settings(DEFORM_DEFAULTS, block_p=block_p, block_c=block_c,
                                                    num_warps=num_warps, unroll=unroll)
    b, height, width, c = x.shape
    k = weight.shape[-1]
    if offset.shape != (b, height, width, 2 * k * k) or weight.shape != (c, 1, k, k) or k % 2 == 0:
        raise ValueError(f"deform_conv_depthwise: shapes x {tuple(x.shape)} offset {tuple(offset.shape)} weight "
                         f"{tuple(weight.shape)} do not fit")
    if x.stride(3) != 1:
        x = x.contiguous()
    weight = weight.float().contiguous()
    bias_k = bias.float().contiguous() if bias is not None else weight  # any float32 pointer; unread without bias
    out = torch.empty(b, height, width, c, device=x.device, dtype=x.dtype)
    block_c = min(block_c or 128, _pow2(c))
    grid = (b, -(-height * width // block_p), -(-c // block_c))
    _kernels().deform_conv_kernel[grid](x, offset, weight, bias_k, out, height, width, c, *x.stride()[:3],
                                        *offset.stride(), K=k, BLOCK_P=block_p, BLOCK_C=block_c,
                                        HAS_BIAS=bias is not None, SILU=silu, UNROLL=unroll,
                                        num_warps=num_warps)
    return out
