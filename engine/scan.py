"""Mamba-1 selective scan: a sequential reference, an exact chunked fast path, and mamba-ssm's CUDA kernel.

Symbols follow the Mamba paper. For every channel d and state n:
    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t
    y_t = <C_t, h_t> + D * u_t
Layout is the one `mamba_ssm.ops.selective_scan_interface.selective_scan_fn` takes:
    u, delta (b, g*d, l); A (g*d, n); B, C (b, g, n, l) shared by the d channels of a group; D, delta_bias (g*d,).
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from . import triton_scan, triton_selective_scan


def _prepare_delta(delta: torch.Tensor, delta_bias: torch.Tensor | None, delta_softplus: bool) -> torch.Tensor:
    delta = delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    return F.softplus(delta) if delta_softplus else delta


def selective_scan_reference(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True) -> torch.Tensor:
    """The obvious time-major loop, fp32. Slow; the yardstick every other path is tested against."""
    b, gd, length = u.shape
    g, n = B.shape[1], A.shape[1]
    d = gd // g
    dtype = u.dtype
    u, A, B, C = u.float(), A.float(), B.float(), C.float()
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    B = B.repeat_interleave(d, dim=1)  # (b, g*d, n, l)
    C = C.repeat_interleave(d, dim=1)
    h = u.new_zeros(b, gd, n)
    ys = []
    for t in range(length):
        h = torch.exp(delta[:, :, t, None] * A) * h + (delta[:, :, t] * u[:, :, t])[..., None] * B[..., t]
        ys.append((h * C[..., t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + D.float()[:, None] * u
    return y.to(dtype)


def selective_scan_chunked(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True, chunk=64) -> torch.Tensor:
    """Exact scan in chunks: a short sequential loop runs every chunk at once from a zero state, then the
    chunk-boundary states are carried across chunks and added back with their within-chunk decay.

    Every exponent is <= 0 (delta >= 0, A < 0), so nothing overflows; the result equals the reference up to
    float rounding. Python-level steps: chunk + l / chunk instead of l.
    """
    b, gd, length = u.shape
    g, n = B.shape[1], A.shape[1]
    d = gd // g
    dtype = u.dtype
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    u = u.float()
    c = max(1, min(chunk, length))
    pad = (-length) % c
    if pad:  # delta = 0 on the padding: the state passes through unchanged and nothing is added
        u, delta = F.pad(u, (0, pad)), F.pad(delta, (0, pad))
        B, C = F.pad(B, (0, pad)), F.pad(C, (0, pad))
    nc = (length + pad) // c
    dl = delta.view(b, g, d, nc, c)
    du = (delta * u).view(b, g, d, nc, c)
    Bc = B.float().view(b, g, n, nc, c).permute(0, 1, 3, 4, 2)[:, :, None]  # (b, g, 1, nc, c, n)
    Cc = C.float().view(b, g, n, nc, c).permute(0, 1, 3, 4, 2)[:, :, None]
    Ag = A.float().view(1, g, d, 1, 1, n)

    dA = torch.exp(dl[..., None] * Ag)  # (b, g, d, nc, c, n)
    dBu = du[..., None] * Bc  # (b, g, d, nc, c, n)
    h = u.new_zeros(b, g, d, nc, n)
    y_local, h_last = [], None
    for i in range(c):
        h = dA[:, :, :, :, i] * h + dBu[:, :, :, :, i]
        y_local.append((h * Cc[:, :, :, :, i]).sum(-1))
    h_last = h  # (b, g, d, nc, n): each chunk's final state from a zero start
    y = torch.stack(y_local, dim=-1)  # (b, g, d, nc, c)

    decay = torch.exp(torch.cumsum(dl, dim=-1)[..., None] * Ag)  # (b, g, d, nc, c, n), within-chunk decay
    carry = u.new_zeros(b, g, d, n)
    carries = []
    for k in range(nc):
        carries.append(carry)
        carry = decay[:, :, :, k, -1] * carry + h_last[:, :, :, k]
    h_in = torch.stack(carries, dim=3)  # (b, g, d, nc, n): state entering each chunk
    y = y + (decay * h_in[:, :, :, :, None] * Cc).sum(-1)

    y = y.reshape(b, gd, nc * c)[..., :length]
    if D is not None:
        y = y + D.float()[:, None] * u[..., :length]
    return y.to(dtype)


@torch.no_grad()
def selective_scan_time_major(u, delta, A, B, C, D=None, block=4) -> torch.Tensor:
    """The reference recurrence for CPU inference (no autograd), time-major with the batch and groups after time:
    u, delta (l, b, g, d) contiguous, delta already softplus'd; A (g, n, d); B, C (l, b, g, n); D (g, d)
    -> y (l, b, g, d).

    Exponentials and input terms are computed `block` steps at a time, then each step is one fused multiply-add
    on the (b, g, n, d) state. The scan is bound by memory passes, not arithmetic: time-major inputs make every
    block a contiguous slice, and a small block keeps its (block, b, g, n, d) buffers in L2 cache (a block of 32
    at batch 4 spills them and runs ~1.5x slower). Results equal the reference to float rounding
    (engine/numpy_runtime.py runs the same loop in numpy).
    """
    length, b, g, d = u.shape
    n = A.shape[1]
    blk = max(1, min(block, length))
    decay = u.new_empty(blk, b, g, n, d)
    states = u.new_empty(2, blk, b, g, n, d)  # two blocks' states, used in turn: no copy of the carried state
    y = u.new_empty(length, b, g, 1, d)
    du = (delta * u)[:, :, :, None, :]
    dl = delta[:, :, :, None, :]
    Bt, Ct = B[..., None], C.reshape(length, b * g, 1, n)
    prev = u.new_zeros(b, g, n, d)
    for i, s in enumerate(range(0, length, blk)):
        e = min(length, s + blk)
        a, hs = decay[:e - s], states[i % 2, :e - s]
        torch.mul(dl[s:e], A, out=a).exp_()  # exp(delta_t A)
        torch.mul(du[s:e], Bt[s:e], out=hs)  # delta_t B_t u_t
        for a_t, h_t in zip(a.unbind(0), hs.unbind(0), strict=True):
            h_t.addcmul_(a_t, prev)  # h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t
            prev = h_t
        torch.bmm(Ct[s:e].reshape(-1, 1, n), hs.view(-1, n, d), out=y[s:e].view(-1, 1, d))  # <C_t, h_t>
    y = y.view(length, b, g, d)
    return y.addcmul_(D, u) if D is not None else y


@torch.no_grad()
def selective_scan_blocked(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True,
                           block=4) -> torch.Tensor:
    """`selective_scan_time_major` behind the mamba-ssm layout (tests hold it to the reference)."""
    b, gd, length = u.shape
    g, n = B.shape[1], A.shape[1]
    d = gd // g
    dtype = u.dtype
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    ut = u.float().view(b, g, d, length).permute(3, 0, 1, 2)  # (l, b, g, d)
    dt = delta.view(b, g, d, length).permute(3, 0, 1, 2)
    Bt = B.float().permute(3, 0, 1, 2)  # (l, b, g, n)
    Ct = C.float().permute(3, 0, 1, 2)
    At = A.float().view(g, d, n).transpose(1, 2)  # (g, n, d)
    Dt = None if D is None else D.float().view(g, d)
    y = selective_scan_time_major(ut.contiguous(), dt.contiguous(), At, Bt.contiguous(), Ct.contiguous(), Dt,
                                  block=block)
    return y.permute(1, 2, 3, 0).reshape(b, gd, length).to(dtype)


def _needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


@lru_cache(maxsize=1)
def cuda_scan_available() -> bool:
    """True when mamba-ssm's CUDA selective scan imports (GPU machine only; never imported at module level)."""
    if not torch.cuda.is_available():
        return False
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # noqa: F401
    except Exception:
        return False
    return True


def gpu_scan_path() -> str | None:
    """The scan SasMamba's CUDA inference (no grad, scan backend "auto") runs here: "triton" (engine/triton_scan.py,
    unless SASMAMBA_TRITON=0), "mamba-ssm", "torch" (the chunked scan on the GPU), or None without CUDA."""
    if not torch.cuda.is_available():
        return None
    if triton_scan.enabled():
        return "triton"
    return "mamba-ssm" if cuda_scan_available() else "torch"


def selective_scan(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=True, backend="auto") -> torch.Tensor:
    """Dispatch: 'cuda' (mamba-ssm, tensors on CUDA), 'triton-train' (engine/triton_selective_scan.py: the same
    scan in Triton with a backward, for training; CUDA tensors, or CPU under TRITON_INTERPRET=1), 'torch' (chunked;
    blocked sequential for CPU inference), 'chunked', 'blocked', 'reference' (loop), 'auto'. (StrideSSM's 'triton'
    backend never reaches this dispatcher for inference: engine/triton_scan.py replaces the whole four-direction
    scan; with grad it falls back to 'auto'.)"""
    if backend == "triton":
        backend = "auto"
    if backend == "triton-train":
        return triton_selective_scan.selective_scan_fn(u, delta, A, B, C, D, delta_bias, delta_softplus)
    if backend == "auto":
        backend = "cuda" if u.is_cuda and cuda_scan_available() else "torch"
    if backend == "cuda":
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

        return selective_scan_fn(
            u.contiguous(), delta.contiguous(), A.contiguous(), B.contiguous(), C.contiguous(),
            D=None if D is None else D.float(), delta_bias=None if delta_bias is None else delta_bias.float(),
            delta_softplus=delta_softplus,
        )
    if backend == "torch":
        backend = "chunked" if u.is_cuda or _needs_grad(u, delta, A, B, C, D, delta_bias) else "blocked"
    if backend == "chunked":
        return selective_scan_chunked(u, delta, A, B, C, D, delta_bias, delta_softplus)
    if backend == "blocked":
        return selective_scan_blocked(u, delta, A, B, C, D, delta_bias, delta_softplus)
    if backend == "reference":
        return selective_scan_reference(u, delta, A, B, C, D, delta_bias, delta_softplus)
    raise ValueError(f"unknown scan backend {backend!r}; use auto, cuda, triton-train, torch or reference")
