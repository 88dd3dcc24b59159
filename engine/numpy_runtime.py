"""The SasMamba forward pass in numpy alone: what lifts inside a stock Blender, where torch is not installed.

It reads the same weight file as the torch backends (engine/weights.py) and follows engine/model.py step by step;
tests hold the two equal. Nothing on this path imports torch.

Layout: activations are channels-last, (b, T, J, C). The scan is the compiled one where it is built for this
platform (engine/native.py: a C library loaded with ctypes, which reads the activations in place); otherwise it
runs here, time-major with batch and directions after time, u, delta (L, b, K, d), B, C (L, b, K, N): each step
updates one contiguous (b, K, N, d) state, with the exponentials and input terms of `block` steps computed at once
(the same recurrence as engine/scan.py's reference). Everything is float32.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import native
from .blas_threads import one_blas_thread

F32 = np.float32


# ----------------------------------------------------------------------------------------------- elementwise pieces
def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """A new array; the only full-size temporary is the result itself (the variance's squares are summed by einsum)."""
    xc = x - x.mean(-1, keepdims=True)
    scale = np.einsum("...c,...c->...", xc, xc)[..., None]
    scale *= F32(1 / x.shape[-1])
    scale += F32(eps)
    np.sqrt(scale, out=scale)
    np.reciprocal(scale, out=scale)
    xc *= scale
    xc *= weight
    xc += bias
    return xc


def silu(x: np.ndarray) -> np.ndarray:
    return x / (F32(1) + np.exp(-x))


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x), and x itself above 20 as torch does (np.logaddexp is several times slower)."""
    out = np.exp(np.minimum(x, F32(20)))
    np.log1p(out, out=out)
    return np.where(x > 20, x, out)


def linear(x: np.ndarray, weight_t: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """x (..., in) @ weight_t (in, out) as one 2D product (numpy would otherwise loop over stacked matrices)."""
    out = x.reshape(-1, x.shape[-1]) @ weight_t
    if bias is not None:
        out += bias
    return out.reshape(x.shape[:-1] + (weight_t.shape[1],))


def erf(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7): numpy has no erf and Blender ships no scipy.
    In place where it can: two temporaries besides `out` (which must not be x)."""
    a = np.abs(x, out=out)
    t = a * F32(0.3275911)
    t += F32(1)
    np.reciprocal(t, out=t)
    poly = t * F32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += F32(c)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    a *= poly
    np.subtract(F32(1), a, out=a)
    return np.copysign(a, x, out=a)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as torch.nn.GELU(): 0.5 x (1 + erf(x / sqrt 2))."""
    out = erf(x * F32(1 / math.sqrt(2)), out=np.empty_like(x))
    out += F32(1)
    out *= x
    out *= F32(0.5)
    return out


def stride_anchor_sum(joints: int) -> np.ndarray:
    """(J, J) float32 with row j summing joint j and its stride-2 and stride-3 anchors (stride * floor(j / stride)):
    the anchor add x + x[anchor2] + x[anchor3] along the joint axis as one product (engine/model.py uses it too)."""
    out = np.eye(joints, dtype=F32)
    rows = np.arange(joints)
    for stride in (2, 3):
        out[rows, rows // stride * stride] += 1
    return out


def block_diagonal(blocks: np.ndarray) -> np.ndarray:
    """(K, r, c) -> (K r, K c) with the blocks on the diagonal."""
    k, r, c = blocks.shape
    out = np.zeros((k * r, k * c), F32)
    for i in range(k):
        out[i * r:(i + 1) * r, i * c:(i + 1) * c] = blocks[i]
    return out


# ------------------------------------------------------------------------------------------------------- the scan
def selective_scan(u: np.ndarray, delta: np.ndarray, A: np.ndarray, B: np.ndarray, C: np.ndarray,
                   D: np.ndarray | None = None, block: int = 8) -> np.ndarray:
    """Mamba-1 selective scan, time-major. u, delta (L, b, K, d) with delta already softplus'd; A (K, N, d) < 0;
    B, C (L, b, K, N); D (K, d) or None. Returns y (L, b, K, d):
        h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,   y_t = <C_t, h_t> + D u_t
    The loop is bound by passes over memory: time-major inputs make each block of steps a contiguous slice, and
    `block` steps of (b, K, N, d) buffers stay in L2 cache. einsum forms the outer product and the <C, h>
    contraction faster than broadcasting ufuncs or matmul on such small stacks."""
    length, b, k, d = u.shape
    n = A.shape[1]
    blk = max(1, min(block, length))
    decay = np.empty((blk, b, k, n, d), F32)
    states = np.empty((2, blk, b, k, n, d), F32)  # two blocks' states, used in turn: the carried state stays put
    y = np.empty((length, b, k, d), F32)
    du = delta * u
    dl = delta[:, :, :, None, :]
    h = np.zeros((b, k, n, d), F32)
    for i, s in enumerate(range(0, length, blk)):
        e = min(length, s + blk)
        a, hs = decay[:e - s], states[i % 2, :e - s]
        np.multiply(dl[s:e], A, out=a)
        np.exp(a, out=a)  # exp(delta_t A)
        np.einsum("mbkd,mbkn->mbknd", du[s:e], B[s:e], out=hs)  # delta_t B_t u_t
        for t in range(e - s):
            at, ht = a[t], hs[t]
            np.multiply(at, h, out=at)
            np.add(ht, at, out=ht)
            h = ht
        np.einsum("mbknd,mbkn->mbkd", hs, C[s:e], out=y[s:e])  # <C_t, h_t>
    if D is not None:
        y += D * u
    return y


# ------------------------------------------------------------------------------------------------ the convolutions
def conv3x3_dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """torch Conv2d(c_in -> c_out, k, padding=k//2) on channels-last x (b, H, W, c_in) -> (b, H, W, c_out)."""
    b, height, width, c = x.shape
    c_out, _, k, _ = weight.shape
    p = k // 2
    # every tap's product at every input point in one matrix product, then shifted sums: no im2col copy
    per_tap = linear(x, weight.transpose(1, 2, 3, 0).reshape(c, k * k * c_out)).reshape(b, height, width, k * k,
                                                                                      c_out)
    out = np.empty((b, height, width, c_out), F32)
    out[:] = bias
    for ky in range(k):
        for kx in range(k):
            dy, dx = ky - p, kx - p  # output (t, j) reads input (t + dy, j + dx)
            out[:, max(0, -dy):height - max(0, dy), max(0, -dx):width - max(0, dx)] += per_tap[
                :, max(0, dy):height - max(0, -dy), max(0, dx):width - max(0, -dx), ky * k + kx]
    return out


def deform_conv_depthwise(x: np.ndarray, offset: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                          rows_per_chunk: int = 32) -> np.ndarray:
    """engine/deform_conv.py in channels-last numpy: x (b, H, W, c), offset (b, H, W, 2 k*k) in torchvision's
    layout (channel 2i = shift along H, 2i + 1 along W, tap i = ky * k + kx), weight (c, 1, k, k), bias (c,).
    Bilinear taps; neighbours outside the grid read zero (they index an appended zero row).

    Each output point sums k*k taps x 4 bilinear corners. Rows of x are scaled by every tap's per-channel weight
    once, so an output row is one weighted sum of 4 k*k gathered rows: one gather and one einsum per chunk of
    output rows (small enough to stay in cache) instead of a gather, a product and a sum per tap and corner."""
    b, height, width, c = x.shape
    k = weight.shape[-1]
    taps, hw = k * k, height * width
    scaled = np.empty((b * hw * taps + 1, c), F32)  # row (point, tap): x[point] * weight[:, tap]; last row zero
    np.multiply(x.reshape(b * hw, 1, c), weight.reshape(c, taps).T, out=scaled[:-1].reshape(b * hw, taps, c))
    scaled[-1] = 0
    zero_row = b * hw * taps
    ky, kx = np.divmod(np.arange(taps), k)
    py = np.arange(height, dtype=F32)[:, None, None] + (ky - k // 2).astype(F32) + offset[..., 0::2]  # (b, H, W, taps)
    px = np.arange(width, dtype=F32)[None, :, None] + (kx - k // 2).astype(F32) + offset[..., 1::2]
    y0, x0 = np.floor(py), np.floor(px)
    ly, lx = py - y0, px - x0
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
    first_row = (np.arange(b) * hw)[:, None, None, None]
    index = np.empty((b, height, width, taps, 4), np.int64)
    weights = np.empty((b, height, width, taps, 4), F32)
    corners = ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx), (1, 0, ly * (1 - lx)), (1, 1, ly * lx))
    for corner, (dy, dx, w) in enumerate(corners):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
        index[..., corner] = np.where(inside, (first_row + yy * width + xx) * taps + np.arange(taps), zero_row)
        weights[..., corner] = w
    index = index.reshape(b * hw, taps * 4)
    weights = weights.reshape(b * hw, taps * 4)
    out = np.empty((b * hw, c), F32)
    for s in range(0, b * hw, rows_per_chunk):
        e = min(b * hw, s + rows_per_chunk)
        np.einsum("pm,pmc->pc", weights[s:e], scaled.take(index[s:e], axis=0), out=out[s:e])
    out += bias
    return out.reshape(b, height, width, c)


# --------------------------------------------------------------------------------------------------------- the model
class NumpySasMamba:
    """SasMamba forward from a state_dict's arrays (names as in engine/model.py) and its config fields."""

    def __init__(self, arrays: dict[str, np.ndarray], config: dict, *, threads: int | None = None,
                 scan_block: int = 8) -> None:
        self.cfg = dict(config)
        self.p = {name: np.ascontiguousarray(value, dtype=F32) for name, value in arrays.items()}
        self.dim = int(config["dim"])
        self.depth = int(config["depth"])
        self.frames = int(config["frames"])
        self.joints = int(config["joints"])
        self.d_inner = int(config.get("expand", 2)) * self.dim
        self.d_state = int(config["d_state"])
        self.dt_rank = math.ceil(self.dim / 16)
        self.threads = max(1, threads if threads is not None else min(4, os.cpu_count() or 1))
        self.scan_block = scan_block
        self._check_arrays()
        self.anchor_sum = stride_anchor_sum(self.joints)
        self._ssm_cache: dict[str, dict] = {}

    def _check_arrays(self) -> None:
        needed = ["joint_embed.weight", "spatial_pos", "temporal_pos", "head.weight"]
        for kind in ("spatial", "temporal"):
            for i in range(self.depth):
                needed.append(f"{kind}_blocks.{i}.ssm.A_log")
        missing = [n for n in needed if n not in self.p]
        if missing:
            raise ValueError(f"weights lack {', '.join(missing[:4])}... for config {self.cfg}")
        if self.p["temporal_pos"].shape != (self.frames, self.dim):
            raise ValueError(f"temporal_pos has shape {self.p['temporal_pos'].shape}, config says "
                             f"({self.frames}, {self.dim})")

    def _ssm_params(self, prefix: str) -> dict:
        """Per-block scan parameters in the runtime's layouts, computed once."""
        if prefix not in self._ssm_cache:
            p, k, di, n = self.p, 4, self.d_inner, self.d_state
            x_proj = p[prefix + "x_proj_weight"]  # (K, R + 2N, d)
            self._ssm_cache[prefix] = {
                "A": (-np.exp(p[prefix + "A_log"])).reshape(k, di, n).transpose(0, 2, 1).copy(),  # (K, N, d)
                "D_a": p[prefix + "D"].reshape(k, di)[0::2].sum(0),  # directions 0 and 2 read xa
                "D_c": p[prefix + "D"].reshape(k, di)[1::2].sum(0),  # directions 1 and 3 read xc
                "dt_bias": p[prefix + "dt_proj_bias"].reshape(k * di),
                "x_proj_a": np.concatenate([x_proj[0], x_proj[2]]).T.copy(),  # (d, 2 (R + 2N))
                "x_proj_c": np.concatenate([x_proj[1], x_proj[3]]).T.copy(),
                "dt_proj_blocks": block_diagonal(p[prefix + "dt_proj_weight"].transpose(0, 2, 1)),  # (K R, K d)
                "in_proj_t": p[prefix + "in_proj.weight"].T.copy(),
                "out_proj_t": p[prefix + "out_proj.weight"].T.copy(),
                # the compiled scan's layouts (engine/native.py)
                "dt_w": p[prefix + "dt_proj_weight"].transpose(0, 2, 1).copy(),  # (K, R, d)
                "dt_bias_k": p[prefix + "dt_proj_bias"].reshape(k, di),
                "D_k": p[prefix + "D"].reshape(k, di),
            }
        return self._ssm_cache[prefix]

    def _ssm(self, x: np.ndarray, prefix: str) -> np.ndarray:
        p, q = self.p, self._ssm_params(prefix)
        b, t, j, _ = x.shape
        di = self.d_inner
        xz = linear(x, q["in_proj_t"])  # (b, T, J, 2 di)
        xi, z = xz[..., :di], silu(xz[..., di:])
        offset = conv3x3_dense(xi, p[prefix + "offset_conv.weight"], p[prefix + "offset_conv.bias"])
        use_native = native.available()  # engine/native/'s C kernels
        if use_native:
            xc = native.deform_conv_depthwise(np.ascontiguousarray(xi), offset, p[prefix + "conv.weight"],
                                              p[prefix + "conv.bias"])
        else:
            xc = deform_conv_depthwise(xi, offset, p[prefix + "conv.weight"], p[prefix + "conv.bias"])
        xc = silu(xc)
        xa = self.anchor_sum @ xc  # xc plus its stride-2/3 group anchors, per joint
        proj_a = linear(xa, q["x_proj_a"]).reshape(b, t, j, 2, -1)  # directions 0 and 2
        proj_c = linear(xc, q["x_proj_c"]).reshape(b, t, j, 2, -1)  # directions 1 and 3
        if use_native:  # the compiled scan: no reordered copies, directions summed on the grid
            ys = native.stride_scan(xa, xc, proj_a, proj_c, q["A"], q["dt_w"], q["dt_bias_k"], q["D_k"])
        else:
            ys = self._stride_scan_time_major(xa, xc, proj_a, proj_c, q)
        y = layer_norm(ys, p[prefix + "out_norm.weight"], p[prefix + "out_norm.bias"], 1e-5)
        y *= z
        return linear(y, q["out_proj_t"])

    def _stride_scan_time_major(self, xa: np.ndarray, xc: np.ndarray, proj_a: np.ndarray, proj_c: np.ndarray,
                                q: dict) -> np.ndarray:
        """The four scan orders, time-major (L, b, K, .): frame-major t0j0 t0j1 ..., joint-major j0t0 j0t1 ...,
        and both reversed, through `selective_scan`; summed back on the (b, T, J, di) grid. Projections of the
        reversed orders come from the forward-order activations (one product per order), and D u is added after
        mapping back, as (D_0 + D_2) xa + (D_1 + D_3) xc."""
        b, t, j, di = xa.shape
        n, r = self.d_state, self.dt_rank
        length = t * j
        u = np.empty((length, b, 4, di), F32)
        u[:, :, 0].reshape(t, j, b, di)[:] = xa.transpose(1, 2, 0, 3)
        u[:, :, 1].reshape(j, t, b, di)[:] = xc.transpose(2, 1, 0, 3)
        u[:, :, 2] = u[::-1, :, 0]
        u[:, :, 3] = u[::-1, :, 1]
        x_dbl = np.empty((length, b, 4, r + 2 * n), F32)
        x_dbl[:, :, 0].reshape(t, j, b, -1)[:] = proj_a[..., 0, :].transpose(1, 2, 0, 3)
        x_dbl[:, :, 2].reshape(t, j, b, -1)[:] = proj_a[:, ::-1, ::-1, 1, :].transpose(1, 2, 0, 3)
        x_dbl[:, :, 1].reshape(j, t, b, -1)[:] = proj_c[..., 0, :].transpose(2, 1, 0, 3)
        x_dbl[:, :, 3].reshape(j, t, b, -1)[:] = proj_c[:, ::-1, ::-1, 1, :].transpose(2, 1, 0, 3)
        # dt_proj of all four directions as one product with a block-diagonal (K R, K di) weight
        dt = linear(x_dbl[..., :r].reshape(length * b, 4 * r), q["dt_proj_blocks"], q["dt_bias"])
        delta = softplus(dt).reshape(length, b, 4, di)
        B = np.ascontiguousarray(x_dbl[..., r:r + n])
        C = np.ascontiguousarray(x_dbl[..., r + n:])
        y = selective_scan(u, delta, q["A"], B, C, block=self.scan_block)  # (L, b, K, di)

        ys = (y[:, :, 0] + y[::-1, :, 2]).reshape(t, j, b, di).transpose(2, 0, 1, 3)
        ys = ys + (y[:, :, 1] + y[::-1, :, 3]).reshape(j, t, b, di).transpose(2, 1, 0, 3)
        ys += q["D_a"] * xa
        ys += q["D_c"] * xc
        return ys

    def _block(self, x: np.ndarray, prefix: str) -> np.ndarray:
        p = self.p
        x = self._ssm(layer_norm(x, p[prefix + "norm1.weight"], p[prefix + "norm1.bias"], 1e-6), prefix + "ssm.") + x
        h = layer_norm(x, p[prefix + "norm2.weight"], p[prefix + "norm2.bias"], 1e-6)
        h = gelu(linear(h, p[prefix + "mlp.fc1.weight"].T, p[prefix + "mlp.fc1.bias"]))
        out = linear(h, p[prefix + "mlp.fc2.weight"].T, p[prefix + "mlp.fc2.bias"])
        out += x
        return out

    def _forward_one(self, x: np.ndarray) -> np.ndarray:
        p = self.p
        t = x.shape[1]
        h = linear(x, p["joint_embed.weight"].T, p["joint_embed.bias"]) + p["spatial_pos"]  # (b, T, J, C)
        for i in range(self.depth):
            h = layer_norm(self._block(h, f"spatial_blocks.{i}."), p["spatial_norm.weight"], p["spatial_norm.bias"],
                           1e-6)
            if i == 0:
                h = h + p["temporal_pos"][:t, None, :]
            h = layer_norm(self._block(h, f"temporal_blocks.{i}."), p["temporal_norm.weight"],
                           p["temporal_norm.bias"], 1e-6)
        h = layer_norm(h, p["head_norm.weight"], p["head_norm.bias"], 1e-5)
        return linear(h, p["head.weight"].T, p["head.bias"])  # (b, T, J, 3)

    def forward(self, x: np.ndarray, batch: int = 4) -> np.ndarray:
        """(n, T <= frames, 17, 2) normalised 2D -> (n, T, 17, 3) root-relative 2.5D. Windows go through in
        groups of `batch`, groups spread over `threads` threads (numpy releases the GIL inside its loops)."""
        x = np.asarray(x, dtype=F32)
        if x.ndim != 4 or x.shape[2:] != (self.joints, 2) or not 1 <= x.shape[1] <= self.frames:
            raise ValueError(f"numpy runtime takes (n, T <= {self.frames}, {self.joints}, 2), got {x.shape}")
        groups = [x[i:i + batch] for i in range(0, len(x), batch)]
        if self.threads == 1 or len(groups) == 1:
            outs = [self._forward_one(g) for g in groups]
        else:  # one BLAS thread each: the workers' products then run side by side, not in turn
            with one_blas_thread(), ThreadPoolExecutor(self.threads) as pool:
                outs = list(pool.map(self._forward_one, groups))
        return np.concatenate(outs) if outs else np.zeros(x.shape[:3] + (3,), F32)

    __call__ = forward
