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

`triton` is imported only inside functions: the CPU test suite and Blender have no triton.
"""

from __future__ import annotations

import functools
import os

import torch

LOG2E = 1.4426950408889634  # exp(x) = exp2(x log2 e): A is pre-scaled so each step is one exp2


# the kernel's settings when a caller passes none; scripts/bench_gpu_scan.py sets the fastest it measured
DEFAULTS = {"atomic": True, "block_d": 32, "num_warps": 1, "prefetch": True}


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


@functools.lru_cache(maxsize=1)
def _kernel():
    """Built on first use so that importing this module never needs triton."""
    import triton
    import triton.language as tl

    @triton.jit
    def stride_scan_kernel(xa_ptr, xc_ptr, pa_ptr, pc_ptr, a_ptr, dtw_ptr, dtb_ptr, d_ptr, out_ptr,
                           T, J, d, out_dir_stride,
                           N: tl.constexpr, N_PAD: tl.constexpr, R: tl.constexpr, R_PAD: tl.constexpr,
                           BLOCK_D: tl.constexpr, HAS_D: tl.constexpr, ATOMIC: tl.constexpr,
                           PREFETCH: tl.constexpr):
        bi = tl.program_id(0)
        cb = tl.program_id(1)
        k = tl.program_id(2)
        length = T * J
        row = R + 2 * N
        c = cb * BLOCK_D + tl.arange(0, BLOCK_D)
        cmask = c < d
        ns = tl.arange(0, N_PAD)
        nmask = ns < N
        rs = tl.arange(0, R_PAD)
        rmask = rs < R
        # padded states get A = 0 and B = C = 0: they stay zero and add nothing
        a = tl.load(a_ptr + k * N * d + ns[:, None] * d + c[None, :], mask=nmask[:, None] & cmask[None, :],
                    other=0.0) * 1.4426950408889634
        dtw = tl.load(dtw_ptr + k * R * d + rs[:, None] * d + c[None, :], mask=rmask[:, None] & cmask[None, :],
                      other=0.0)
        dtb = tl.load(dtb_ptr + k * d + c, mask=cmask, other=0.0)
        if HAS_D:
            dd = tl.load(d_ptr + k * d + c, mask=cmask, other=0.0)
        else:
            dd = tl.zeros((BLOCK_D,), tl.float32)
        joint = k % 2  # directions 1 and 3 walk the grid joint-major over xc, 0 and 2 frame-major over xa
        rev = k // 2  # directions 2 and 3 walk it backwards; their rows are the second of each pair
        if joint == 1:
            u_base = xc_ptr + bi.to(tl.int64) * length * d + c
            x_base = pc_ptr + bi.to(tl.int64) * length * 2 * row + rev * row
        else:
            u_base = xa_ptr + bi.to(tl.int64) * length * d + c
            x_base = pa_ptr + bi.to(tl.int64) * length * 2 * row + rev * row
        if ATOMIC:
            o_base = out_ptr + bi.to(tl.int64) * length * d + c
        else:
            o_base = out_ptr + k.to(tl.int64) * out_dir_stride + bi.to(tl.int64) * length * d + c
        h = tl.zeros((N_PAD, BLOCK_D), tl.float32)
        # PREFETCH: the next step's loads are issued before this step's arithmetic (they never depend on the
        # state), so their latency hides behind it instead of stalling every step
        m = rev * (length - 1)
        pos = m + joint * (m // T + (m % T) * J - m)  # grid position t J + j of step 0
        u = tl.load(u_base + pos * d, mask=cmask, other=0.0).to(tl.float32)
        xr = tl.load(x_base + pos * 2 * row + rs, mask=rmask, other=0.0).to(tl.float32)
        bv = tl.load(x_base + pos * 2 * row + R + ns, mask=nmask, other=0.0).to(tl.float32)
        cv = tl.load(x_base + pos * 2 * row + R + N + ns, mask=nmask, other=0.0).to(tl.float32)
        for step in range(0, length):
            if PREFETCH:
                nxt = tl.minimum(step + 1, length - 1)
                m_n = nxt + rev * (length - 1 - 2 * nxt)
                pos_n = m_n + joint * (m_n // T + (m_n % T) * J - m_n)
                u_n = tl.load(u_base + pos_n * d, mask=cmask, other=0.0).to(tl.float32)
                xr_n = tl.load(x_base + pos_n * 2 * row + rs, mask=rmask, other=0.0).to(tl.float32)
                bv_n = tl.load(x_base + pos_n * 2 * row + R + ns, mask=nmask, other=0.0).to(tl.float32)
                cv_n = tl.load(x_base + pos_n * 2 * row + R + N + ns, mask=nmask, other=0.0).to(tl.float32)
            else:
                m = step + rev * (length - 1 - 2 * step)
                pos = m + joint * (m // T + (m % T) * J - m)
                u = tl.load(u_base + pos * d, mask=cmask, other=0.0).to(tl.float32)
                xr = tl.load(x_base + pos * 2 * row + rs, mask=rmask, other=0.0).to(tl.float32)
                bv = tl.load(x_base + pos * 2 * row + R + ns, mask=nmask, other=0.0).to(tl.float32)
                cv = tl.load(x_base + pos * 2 * row + R + N + ns, mask=nmask, other=0.0).to(tl.float32)
            dt = tl.sum(dtw * xr[:, None], axis=0) + dtb
            # torch's softplus (threshold 20), written so exp never overflows
            delta = tl.where(dt > 20.0, dt, tl.maximum(dt, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(dt))))
            h = tl.exp2(delta[None, :] * a) * h + (delta * u)[None, :] * bv[:, None]
            y = tl.sum(h * cv[:, None], axis=0) + dd * u
            if ATOMIC:
                # relaxed: the sum needs no ordering, and the default acq_rel puts a fence around every step's add
                tl.atomic_add(o_base + pos * d, y, mask=cmask, sem="relaxed")
            else:
                tl.store(o_base + pos * d, y, mask=cmask)
            if PREFETCH:
                pos, u, xr, bv, cv = pos_n, u_n, xr_n, bv_n, cv_n

    return stride_scan_kernel


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


@torch.no_grad()
def stride_scan(xa: torch.Tensor, xc: torch.Tensor, proj_a: torch.Tensor, proj_c: torch.Tensor, A: torch.Tensor,
                dt_w: torch.Tensor, dt_bias: torch.Tensor, D: torch.Tensor | None = None, *, atomic: bool | None = None,
                block_d: int | None = None, num_warps: int | None = None,
                prefetch: bool | None = None) -> torch.Tensor:
    """engine/native.py's `stride_scan` on torch tensors: xa, xc (b, T, J, d); proj_a, proj_c (b, T, J, 2, R + 2N)
    (float32 or bfloat16); A (4, N, d); dt_w (4, R, d); dt_bias, D (4, d) -> float32 (b, T, J, d).

    `atomic`: the four directions add into one grid (True) or fill four grids summed afterwards (False). Settings
    left None come from DEFAULTS."""
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
                    ATOMIC=atomic, PREFETCH=prefetch, num_warps=num_warps)
    return out if atomic else out.sum(0)
