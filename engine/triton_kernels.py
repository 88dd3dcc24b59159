"""The Triton kernels behind engine/triton_scan.py: the stride scan and the depthwise deformable conv. Imports triton
at module level: only triton_scan imports this, and only once triton is known to be there (the CPU test suite and
Blender have none).

See triton_scan.py for what they compute and how programs map onto the work."""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _load_step(step, length, rev, joint, T, J, u_base, x_base, d, row, rs, ns, rmask, nmask, cmask,
               R: tl.constexpr, N: tl.constexpr):
    """Grid position of scan step `step` (clamped to the last) and what the step reads there: u, dt_low, B, C."""
    step = tl.minimum(step, length - 1)
    m = step + rev * (length - 1 - 2 * step)
    pos = m + joint * (m // T + (m % T) * J - m)  # t J + j: frame-major m itself, joint-major j T + t -> t J + j
    xrow = x_base + pos * 2 * row
    u = tl.load(u_base + pos * d, mask=cmask, other=0.0).to(tl.float32)
    xr = tl.load(xrow + rs, mask=rmask, other=0.0).to(tl.float32)
    bv = tl.load(xrow + R + ns, mask=nmask, other=0.0).to(tl.float32)
    cv = tl.load(xrow + R + N + ns, mask=nmask, other=0.0).to(tl.float32)
    return pos, u, xr, bv, cv


@triton.jit
def stride_scan_kernel(xa_ptr, xc_ptr, pa_ptr, pc_ptr, a_ptr, dtw_ptr, dtb_ptr, d_ptr, out_ptr,
                       T, J, d, out_dir_stride,
                       N: tl.constexpr, N_PAD: tl.constexpr, R: tl.constexpr, R_PAD: tl.constexpr,
                       BLOCK_D: tl.constexpr, HAS_D: tl.constexpr, ATOMIC: tl.constexpr, PREFETCH: tl.constexpr):
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
    # padded states get A = 0 and B = C = 0: they stay zero and add nothing. A is scaled by log2(e) so that each
    # step's exp(delta A) is one exp2
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
    # PREFETCH = p > 0: step s + p's loads are issued before step s's arithmetic (they never depend on the state),
    # so their latency hides behind p steps of work instead of stalling every step
    pos, u, xr, bv, cv = _load_step(0, length, rev, joint, T, J, u_base, x_base, d, row, rs, ns, rmask, nmask,
                                    cmask, R, N)
    if PREFETCH >= 2:
        pos1, u1, xr1, bv1, cv1 = _load_step(1, length, rev, joint, T, J, u_base, x_base, d, row, rs, ns, rmask,
                                             nmask, cmask, R, N)
    for step in range(0, length):
        if PREFETCH == 0:
            pos, u, xr, bv, cv = _load_step(step, length, rev, joint, T, J, u_base, x_base, d, row, rs, ns, rmask,
                                            nmask, cmask, R, N)
        else:
            pos_n, u_n, xr_n, bv_n, cv_n = _load_step(step + PREFETCH, length, rev, joint, T, J, u_base, x_base, d,
                                                      row, rs, ns, rmask, nmask, cmask, R, N)
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
        if PREFETCH == 1:
            pos, u, xr, bv, cv = pos_n, u_n, xr_n, bv_n, cv_n
        elif PREFETCH >= 2:
            pos, u, xr, bv, cv = pos1, u1, xr1, bv1, cv1
            pos1, u1, xr1, bv1, cv1 = pos_n, u_n, xr_n, bv_n, cv_n


@triton.jit
def _deform_program(x_ptr, off_ptr, H, W, C, xs_b, os_b, os_h, os_w, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """This program's tile of the deformable conv, the same for the forward and the backward: its window bi, grid
    positions p (BLOCK_P,) and channels c (BLOCK_C,) with their masks, the positions' rows h and columns w, and
    the window's input and the positions' offsets."""
    bi = tl.program_id(0)
    p = tl.program_id(1) * BLOCK_P + tl.arange(0, BLOCK_P)
    c = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    h = p // W
    w = p % W
    x_base = x_ptr + bi.to(tl.int64) * xs_b
    off_base = off_ptr + bi.to(tl.int64) * os_b + h * os_h + w * os_w
    return bi, p, c, p < H * W, c < C, h, w, x_base, off_base


@triton.jit
def _tap_point(off_base, os_c, pmask, h, w, t, K: tl.constexpr):
    """Tap t's sampling point for positions (h, w), torchvision's offset layout ((dy, dx) per tap): the top-left
    neighbour (y0, x0) and the bilinear fractions (ly, lx). One function for the forward and the backward, so both
    find the same point with the same rounding."""
    py = (h + (t // K - K // 2)).to(tl.float32) + tl.load(off_base + 2 * t * os_c, mask=pmask,
                                                             other=0.0).to(tl.float32)
    px = (w + (t % K - K // 2)).to(tl.float32) + tl.load(off_base + (2 * t + 1) * os_c, mask=pmask,
                                                             other=0.0).to(tl.float32)
    fy = tl.floor(py)
    fx = tl.floor(px)
    # far outside (or not finite): no neighbour inside, and no integer overflow in the conversion; ly, lx are NaN
    # for a non-finite offset, which then reaches the output as in the reference
    y0 = tl.where(tl.abs(fy) < 1e9, fy, -2.0).to(tl.int32)
    x0 = tl.where(tl.abs(fx) < 1e9, fx, -2.0).to(tl.int32)
    return y0, x0, py - fy, px - fx


@triton.jit
def deform_conv_kernel(x_ptr, off_ptr, w_ptr, b_ptr, out_ptr, H, W, C, xs_b, xs_h, xs_w, os_b, os_h, os_w, os_c,
                       K: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr, HAS_BIAS: tl.constexpr,
                       SILU: tl.constexpr, UNROLL: tl.constexpr):
    bi, p, c, pmask, cmask, h, w, x_base, off_base = _deform_program(x_ptr, off_ptr, H, W, C, xs_b, os_b, os_h,
                                                                     os_w, BLOCK_P, BLOCK_C)
    if HAS_BIAS:
        acc = tl.zeros((BLOCK_P, BLOCK_C), tl.float32) + tl.load(b_ptr + c, mask=cmask, other=0.0)[None, :]
    else:
        acc = tl.zeros((BLOCK_P, BLOCK_C), tl.float32)
    # UNROLL taps at a time: unrolling all 9 lets every gather be in flight at once but (ptxas, sm_90, 32 x 128
    # tiles) needs 255 registers and spills; a rolled loop needs 72-142
    for t in tl.range(0, K * K, loop_unroll_factor=UNROLL):
        # the tap's sampling point is shared by every channel: found once per position, then the 4 neighbour rows
        # are read as whole channel vectors (coalesced), as in engine/native/deform.c
        y0, x0, ly, lx = _tap_point(off_base, os_c, pmask, h, w, t, K)
        s = tl.zeros((BLOCK_P, BLOCK_C), tl.float32)
        for corner in tl.static_range(4):
            yy = y0 + corner // 2
            xx = x0 + corner % 2
            cw = (ly if corner // 2 == 1 else 1.0 - ly) * (lx if corner % 2 == 1 else 1.0 - lx)
            inside = pmask & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
            v = tl.load(x_base + (yy * xs_h + xx * xs_w)[:, None] + c[None, :], mask=inside[:, None] & cmask[None, :],
                        other=0.0).to(tl.float32)
            s += v * cw[:, None]
        acc += s * tl.load(w_ptr + c * (K * K) + t, mask=cmask, other=0.0)[None, :]
    if SILU:
        acc = acc * tl.sigmoid(acc)
    out = out_ptr + (bi.to(tl.int64) * H * W + p)[:, None] * C + c[None, :]
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=pmask[:, None] & cmask[None, :])


@triton.jit
def deform_conv_bwd_kernel(x_ptr, off_ptr, w_ptr, g_ptr, gx_ptr, goff_ptr, part_ptr, H, W, C,
                           xs_b, xs_h, xs_w, os_b, os_h, os_w, os_c, gs_b, gs_h, gs_w,
                           K: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr,
                           OFF_ATOMIC: tl.constexpr):
    """deform_conv_kernel's backward (silu not folded in), same program mapping: one program per (window, BLOCK_P
    grid positions, BLOCK_C channels). Inputs as the forward's, plus g: d loss / d out (b, H, W, C), unit channel
    stride. Writes, all float32:
      gx (b, H, W, C) contiguous, zeroed by the caller: d loss / d x, scattered to each tap's 4 bilinear
        neighbours with atomic adds (neighbouring positions' taps land on the same input points);
      goff (b, H, W, 2 K*K) contiguous: d loss / d offset, (dy, dx) per tap as the forward reads them; a sum
        over channels, so with several channel blocks (OFF_ATOMIC) they add atomically into a zeroed buffer;
      part (b, programs along axis 1, K*K + 1, C): this program's sums over its positions of g x sample (row t:
        d loss / d weight[:, t]) and of g (row K*K: d loss / d bias), summed over programs by the caller. Plain
        stores instead of atomics: every program would add into the same K*K * C addresses (thousands of programs
        contending on one cache line each)."""
    bi, p, c, pmask, cmask, h, w, x_base, off_base = _deform_program(x_ptr, off_ptr, H, W, C, xs_b, os_b, os_h,
                                                                     os_w, BLOCK_P, BLOCK_C)
    pb = tl.program_id(1)
    gx_base = gx_ptr + bi.to(tl.int64) * H * W * C
    goff_base = goff_ptr + (bi.to(tl.int64) * H * W + p) * (2 * K * K)
    part_base = part_ptr + (bi.to(tl.int64) * tl.num_programs(1) + pb) * (K * K + 1) * C
    # masked positions and channels read g = 0, so they add nothing to any sum below
    g = tl.load(g_ptr + bi.to(tl.int64) * gs_b + (h * gs_h + w * gs_w)[:, None] + c[None, :],
                mask=pmask[:, None] & cmask[None, :], other=0.0).to(tl.float32)
    for t in tl.range(0, K * K, loop_unroll_factor=1):  # rolled, as the forward's default
        y0, x0, ly, lx = _tap_point(off_base, os_c, pmask, h, w, t, K)  # the forward's point, by the same code
        g_sample = g * tl.load(w_ptr + c * (K * K) + t, mask=cmask, other=0.0)[None, :]  # d loss / d sample
        sample = tl.zeros((BLOCK_P, BLOCK_C), tl.float32)
        g_py = tl.zeros((BLOCK_P,), tl.float32)
        g_px = tl.zeros((BLOCK_P,), tl.float32)
        # rolled too: unrolled (static_range, as the forward does) the 4 corners' tiles and 64-bit atomic addresses
        # are live at once and ptxas (sm_90) spills at every tile shape tried; rolled, 8 x 128 with 8 warps fits in
        # 156 registers
        for corner in tl.range(0, 4, loop_unroll_factor=1):
            cy = corner // 2
            cx = corner % 2
            yy = y0 + cy
            xx = x0 + cx
            wy = tl.where(cy == 1, ly, 1.0 - ly)
            wx = tl.where(cx == 1, lx, 1.0 - lx)
            inside = pmask & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
            m = inside[:, None] & cmask[None, :]
            # read even where the corner's weight is 0 (an integer offset): its weight's derivative is not
            v = tl.load(x_base + (yy * xs_h + xx * xs_w)[:, None] + c[None, :], mask=m, other=0.0).to(tl.float32)
            sample += v * (wy * wx)[:, None]
            # the corner weight wy wx is shared by every channel: its gradient is one sum over the channel block,
            # then chained through d(wy wx)/dpy = +-wx and d(wy wx)/dpx = +-wy (floor's derivative is 0)
            g_cw = tl.sum(g_sample * v, axis=1)
            g_py += g_cw * tl.where(cy == 1, wx, -wx)
            g_px += g_cw * tl.where(cx == 1, wy, -wy)
            # relaxed: a plain sum, no ordering against other memory needed
            tl.atomic_add(gx_base + (yy * W + xx)[:, None] * C + c[None, :], g_sample * (wy * wx)[:, None], mask=m,
                          sem="relaxed")
        if OFF_ATOMIC:
            tl.atomic_add(goff_base + 2 * t, g_py, mask=pmask, sem="relaxed")
            tl.atomic_add(goff_base + 2 * t + 1, g_px, mask=pmask, sem="relaxed")
        else:
            tl.store(goff_base + 2 * t, g_py, mask=pmask)
            tl.store(goff_base + 2 * t + 1, g_px, mask=pmask)
        tl.store(part_base + t * C + c, tl.sum(g * sample, axis=0), mask=cmask)
    tl.store(part_base + K * K * C + c, tl.sum(g, axis=0), mask=cmask)
