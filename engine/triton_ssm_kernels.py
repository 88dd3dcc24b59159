"""The Triton kernels behind engine/triton_selective_scan.py: mamba-ssm's selective scan, forward and backward.
Imports triton at module level: only triton_selective_scan imports this, and only once triton is known to be there.

Layout (mamba-ssm's): u, delta (b, Dch, L); A (Dch, N); B, C (b, G, N, L), each shared by the DG = Dch / G
channels of its group. One program per (batch row, group, block of BLOCK_D channels of that group), its
(N_PAD, BLOCK_D) states in registers, walking the L steps in order (the forward) or backwards (the backward).
A block never straddles two groups, so every program reads one B and C row per step."""

from __future__ import annotations

import triton
import triton.language as tl

LOG2E = tl.constexpr(1.4426950408889634)


@triton.jit
def _softplus(x):
    # torch's softplus (threshold 20), written so exp never overflows
    return tl.where(x > 20.0, x, tl.maximum(x, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(x))))


@triton.jit
def _program_tile(a_ptr, DG, N: tl.constexpr, N_PAD: tl.constexpr, BLOCK_D: tl.constexpr):
    """This program's (N_PAD, BLOCK_D) tile, the same for the forward and the backward: its group g, its block
    index within the group, its channels c (BLOCK_D,) and their mask, the state indices ns (N_PAD,) and their
    mask, the tile's mask, and A on the tile (padded states and channels get A = 0)."""
    nblk = tl.cdiv(DG, BLOCK_D)
    pid = tl.program_id(1)
    g = pid // nblk
    blk = pid % nblk
    cg = blk * BLOCK_D + tl.arange(0, BLOCK_D)
    cmask = cg < DG
    c = g * DG + cg
    ns = tl.arange(0, N_PAD)
    nmask = ns < N
    m2 = nmask[:, None] & cmask[None, :]
    A = tl.load(a_ptr + c[None, :] * N + ns[:, None], mask=m2, other=0.0)
    return g, blk, c, cmask, ns, nmask, m2, A


@triton.jit
def _channel_params(bias_ptr, d_ptr, c, cmask, HAS_BIAS: tl.constexpr, HAS_D: tl.constexpr, BLOCK_D: tl.constexpr):
    """delta_bias and D of the program's channels (zeros where not given)."""
    if HAS_BIAS:
        bias = tl.load(bias_ptr + c, mask=cmask, other=0.0)
    else:
        bias = tl.zeros((BLOCK_D,), tl.float32)
    if HAS_D:
        dd = tl.load(d_ptr + c, mask=cmask, other=0.0)
    else:
        dd = tl.zeros((BLOCK_D,), tl.float32)
    return bias, dd


@triton.jit
def _load_step(t, row, bc_base, ns, cmask, nmask, L, u_ptr, dl_ptr, b_ptr, c_ptr, bias,
               SOFTPLUS: tl.constexpr):
    """Step t's inputs: u (BLOCK_D,), delta before and after softplus (BLOCK_D,), B_t, C_t (N_PAD,)."""
    u = tl.load(u_ptr + row + t, mask=cmask, other=0.0).to(tl.float32)
    raw = tl.load(dl_ptr + row + t, mask=cmask, other=0.0).to(tl.float32) + bias
    if SOFTPLUS:
        dt = _softplus(raw)
    else:
        dt = raw
    bv = tl.load(b_ptr + bc_base + ns * L + t, mask=nmask, other=0.0).to(tl.float32)
    cv = tl.load(c_ptr + bc_base + ns * L + t, mask=nmask, other=0.0).to(tl.float32)
    return u, raw, dt, bv, cv


@triton.jit
def selective_scan_fwd_kernel(u_ptr, dl_ptr, a_ptr, b_ptr, c_ptr, d_ptr, bias_ptr, y_ptr, h_ptr, Dch, L, G, DG,
                              N: tl.constexpr, N_PAD: tl.constexpr, BLOCK_D: tl.constexpr, HAS_D: tl.constexpr,
                              HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, STORE_STATES: tl.constexpr):
    """y (b, Dch, L) in y's dtype; with STORE_STATES every state h_t into h (b, L, N, Dch) float32, channels
    innermost so that a program's (N, BLOCK_D) tile is N contiguous runs (coalesced on a GPU)."""
    bi = tl.program_id(0).to(tl.int64)
    g, blk, c, cmask, ns, nmask, m2, A = _program_tile(a_ptr, DG, N, N_PAD, BLOCK_D)
    # padded states and channels get A = 0 and B = C = u = 0: they stay zero and add nothing
    a = A * LOG2E  # exp(delta A) as one exp2
    bias, dd = _channel_params(bias_ptr, d_ptr, c, cmask, HAS_BIAS, HAS_D, BLOCK_D)
    row = (bi * Dch + c) * L
    bc_base = (bi * G + g) * N * L
    h_base = h_ptr + bi * L * N * Dch + ns[:, None] * Dch + c[None, :]
    h = tl.zeros((N_PAD, BLOCK_D), tl.float32)
    for t in range(0, L):
        u, raw, dt, bv, cv = _load_step(t, row, bc_base, ns, cmask, nmask, L, u_ptr, dl_ptr, b_ptr, c_ptr, bias,
                                        SOFTPLUS)
        h = tl.exp2(dt[None, :] * a) * h + (dt * u)[None, :] * bv[:, None]
        y = tl.sum(h * cv[:, None], axis=0) + dd * u
        tl.store(y_ptr + row + t, y.to(y_ptr.dtype.element_ty), mask=cmask)
        if STORE_STATES:
            tl.store(h_base + t * N * Dch, h, mask=m2)


@triton.jit
def selective_scan_bwd_kernel(u_ptr, dl_ptr, a_ptr, b_ptr, c_ptr, d_ptr, bias_ptr, h_ptr, dy_ptr,
                              du_ptr, ddl_ptr, dbc_ptr, da_ptr, ddb_ptr, Dch, L, G, DG,
                              N: tl.constexpr, N_PAD: tl.constexpr, BLOCK_D: tl.constexpr, HAS_D: tl.constexpr,
                              HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """The reverse-time recurrence, same programs as the forward, from the forward's stored states h and
    dy (b, Dch, L). Writes, all float32:
      du, ddl (b, Dch, L): d loss / d u, d loss / d delta (before softplus and bias; also d delta_bias per step);
      dbc (b, G, blocks per group, 2, N, L): this program's sums over its channels of d loss / d B_t and / d C_t,
        summed over the blocks by the caller;
      da (b, Dch, N), ddb (b, 2, Dch): sums over L of d loss / d A, / d D and / d delta_bias, summed over b by
        the caller."""
    bi = tl.program_id(0).to(tl.int64)
    g, blk, c, cmask, ns, nmask, m2, A = _program_tile(a_ptr, DG, N, N_PAD, BLOCK_D)
    bias, dd = _channel_params(bias_ptr, d_ptr, c, cmask, HAS_BIAS, HAS_D, BLOCK_D)
    row = (bi * Dch + c) * L
    bc_base = (bi * G + g) * N * L
    h_base = h_ptr + bi * L * N * Dch + ns[:, None] * Dch + c[None, :]
    dbc_base = dbc_ptr + ((bi * G + g) * tl.cdiv(DG, BLOCK_D) + blk) * 2 * N * L + ns * L
    dh = tl.zeros((N_PAD, BLOCK_D), tl.float32)  # d loss / d h_t, through every later step
    decay_next = tl.zeros((N_PAD, BLOCK_D), tl.float32)  # exp(delta_{t+1} A); unused while dh is 0
    grad_a = tl.zeros((N_PAD, BLOCK_D), tl.float32)
    grad_d = tl.zeros((BLOCK_D,), tl.float32)
    grad_bias = tl.zeros((BLOCK_D,), tl.float32)
    h_cur = tl.load(h_base + (L - 1) * N * Dch, mask=m2, other=0.0)
    for s in range(0, L):
        t = L - 1 - s
        u, raw, dt, bv, cv = _load_step(t, row, bc_base, ns, cmask, nmask, L, u_ptr, dl_ptr, b_ptr, c_ptr, bias,
                                        SOFTPLUS)
        dy = tl.load(dy_ptr + row + t, mask=cmask, other=0.0).to(tl.float32)
        h_prev = tl.load(h_base + (t - 1) * N * Dch, mask=m2 & (t > 0), other=0.0)  # h_{-1} = 0
        decay = tl.exp2(dt[None, :] * A * LOG2E)
        dh = dh * decay_next + dy[None, :] * cv[:, None]
        dh_decay_h = dh * decay * h_prev
        grad_dt = tl.sum(dh_decay_h * A + dh * bv[:, None] * u[None, :], axis=0)
        grad_a += dh_decay_h * dt[None, :]
        grad_u = tl.sum(dh * bv[:, None], axis=0) * dt + dd * dy
        if SOFTPLUS:  # torch's softplus gradient: 1 above the threshold, sigmoid below
            grad_dt = grad_dt * tl.where(raw > 20.0, 1.0, tl.sigmoid(raw))
        tl.store(du_ptr + row + t, grad_u, mask=cmask)
        tl.store(ddl_ptr + row + t, grad_dt, mask=cmask)
        tl.store(dbc_base + t, tl.sum(dh * (dt * u)[None, :], axis=1), mask=nmask)  # d B_t
        tl.store(dbc_base + N * L + t, tl.sum(h_cur * dy[None, :], axis=1), mask=nmask)  # d C_t
        grad_d += dy * u
        grad_bias += grad_dt
        decay_next = decay
        h_cur = h_prev
    tl.store(da_ptr + (bi * Dch + c[None, :]) * N + ns[:, None], grad_a, mask=m2)
    tl.store(ddb_ptr + bi * 2 * Dch + c, grad_d, mask=cmask)
    tl.store(ddb_ptr + bi * 2 * Dch + Dch + c, grad_bias, mask=cmask)
