"""mamba-ssm's `selective_scan_fn` in Triton, with a backward: the scan backend "triton-train" (engine/scan.py).

Why: training's scan was mamba-ssm's CUDA kernel, which has to be compiled from source on every fresh GPU machine
(2.3 minutes of a 4-GPU session) and took ~29% of a training step (backward 24%, forward 5%). Triton compiles in
seconds and needs no build step. Unmeasured on a GPU so far (scripts/check_gpu.py compares and times it).

Semantics, for real inputs: u, delta (b, Dch, L) float32 or bfloat16; A (Dch, N) float32; B, C (b, G, N, L)
shared by the Dch / G channels of each group; D, delta_bias (Dch,) or None -> y (b, Dch, L) in u's dtype:
    delta_t = softplus(delta_t + delta_bias) (if delta_softplus), h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,
    y_t = <C_t, h_t> + D u_t.
Everything is computed in float32; gradients are handed back in the inputs' dtypes.

The forward keeps every state h_t (b, L, N, Dch) float32 when a gradient is needed, so the backward walks time
backwards reading h_{t-1} instead of recomputing the scan. The simplest correct design, paid for in memory:
b x 512 x 4131 x 16 x 4 bytes = 135 MB per window per StrideSSM call at sasmamba-s, so 10 calls (depth 5) keep
~22 GB at batch 16 and ~43 GB at batch 32: fine on an 80 GB card, not at batch 64. (Keeping every CHUNK-th state
and recomputing within the chunk would cut that by CHUNK; not done yet.)

The kernels are in engine/triton_ssm_kernels.py, imported on first use: this module imports without triton.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import triton_scan

# channels per program (None: 32, or the group's channels' power of two when fewer) and warps. Untuned: one warp
# of 32 channels, each lane holding all N states of its channel as the inference kernel does (triton_scan.py)
DEFAULTS = {"block_d": None, "num_warps": 1}


def check_usable(u: torch.Tensor) -> None:
    """Raise a RuntimeError saying why the Triton selective scan cannot run on u here."""
    if not triton_scan.available():
        raise RuntimeError("scan backend 'triton-train' asked for, but triton does not import here")
    if not u.is_cuda and not triton_scan.interpreted():
        raise RuntimeError("scan backend 'triton-train' needs CUDA tensors (or Triton's CPU interpreter, "
                           f"TRITON_INTERPRET=1); got a tensor on {u.device}")


def _kernels():
    from . import triton_ssm_kernels

    return triton_ssm_kernels


def _launch_shape(u: torch.Tensor, A: torch.Tensor, B: torch.Tensor, block_d: int | None,
                  num_warps: int | None) -> tuple:
    b, dch, length = u.shape
    g, n = B.shape[1], A.shape[1]
    if dch % g or A.shape != (dch, n) or B.shape != (b, g, n, length):
        raise ValueError(f"selective scan: u {tuple(u.shape)}, A {tuple(A.shape)}, B {tuple(B.shape)} do not fit")
    block_d, num_warps = triton_scan._settings(DEFAULTS, block_d=block_d, num_warps=num_warps)
    dg = dch // g
    block = min(block_d or 32, triton_scan._pow2(dg))
    return (b, g * -(-dg // block)), block, num_warps, dg


@torch.no_grad()
def selective_scan_forward(u, delta, A, B, C, D=None, delta_bias=None, delta_softplus=False, *,
                           store_states: bool = False, block_d: int | None = None,
                           num_warps: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """y (b, Dch, L) in u's dtype and, with `store_states`, every state (b, L, N, Dch) float32 (else None).
    Inputs as the module docstring says, contiguous."""
    grid, block, num_warps, dg = _launch_shape(u, A, B, block_d, num_warps)
    b, dch, length = u.shape
    n = A.shape[1]
    y = torch.empty_like(u)
    states = torch.empty(b, length, n, dch, device=u.device, dtype=torch.float32) if store_states else None
    _kernels().selective_scan_fwd_kernel[grid](
        u, delta, A, B, C, A if D is None else D, A if delta_bias is None else delta_bias, y,
        y if states is None else states,  # any pointer; unwritten without STORE_STATES
        dch, length, B.shape[1], dg, N=n, N_PAD=triton_scan._pow2(n), BLOCK_D=block, HAS_D=D is not None,
        HAS_BIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus), STORE_STATES=store_states,
        num_warps=num_warps)
    return y, states


@torch.no_grad()
def selective_scan_backward(u, delta, A, B, C, D, delta_bias, delta_softplus, states, dy, *,
                            block_d: int | None = None, num_warps: int | None = None) -> tuple:
    """Float32 gradients (du, d delta, dA, dB, dC, dD or None, d delta_bias or None) from the forward's states.

    d B and d C sum over the channels of a group, which several programs share: each program writes its own
    partial sums (b, G, blocks, 2, N, L), added up here, rather than adding atomically into one buffer. That
    keeps the gradients deterministic (bit-identical reruns) and costs only blocks-per-group (4 at sasmamba-s)
    times the size of B and C. The per-channel sums over L (dA, dD, d delta_bias) are per batch row, summed here."""
    grid, block, num_warps, dg = _launch_shape(u, A, B, block_d, num_warps)
    b, dch, length = u.shape
    g, n = B.shape[1], A.shape[1]
    dy = dy.contiguous()
    f32 = {"device": u.device, "dtype": torch.float32}
    du, ddelta = torch.empty(b, dch, length, **f32), torch.empty(b, dch, length, **f32)
    dbc = torch.empty(b, g, grid[1] // g, 2, n, length, **f32)
    da, ddb = torch.empty(b, dch, n, **f32), torch.empty(b, 2, dch, **f32)
    _kernels().selective_scan_bwd_kernel[grid](
        u, delta, A, B, C, A if D is None else D, A if delta_bias is None else delta_bias, states, dy,
        du, ddelta, dbc, da, ddb, dch, length, g, dg, N=n, N_PAD=triton_scan._pow2(n), BLOCK_D=block,
        HAS_D=D is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus), num_warps=num_warps)
    dbc = dbc.sum(2)
    ddb = ddb.sum(0)
    return (du, ddelta, da.sum(0), dbc[:, :, 0], dbc[:, :, 1], None if D is None else ddb[0],
            None if delta_bias is None else ddb[1])


class TritonSelectiveScanFn(torch.autograd.Function):
    """`selective_scan_fn`'s autograd: saves the inputs and the forward's states (see the module docstring)."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, delta_bias, delta_softplus):
        u, delta, B, C = (v.contiguous() for v in (u, delta, B, C))
        A32 = A.float().contiguous()
        D32 = None if D is None else D.float().contiguous()
        bias32 = None if delta_bias is None else delta_bias.float().contiguous()
        store = any(ctx.needs_input_grad)
        y, states = selective_scan_forward(u, delta, A32, B, C, D32, bias32, delta_softplus, store_states=store)
        if store:
            ctx.save_for_backward(u, delta, A32, B, C, D32, bias32, states)
            ctx.delta_softplus = delta_softplus
            ctx.dtypes = tuple(None if v is None else v.dtype for v in (u, delta, A, B, C, D, delta_bias))
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        u, delta, A, B, C, D, bias, states = ctx.saved_tensors
        grads = selective_scan_backward(u, delta, A, B, C, D, bias, ctx.delta_softplus, states, dy)
        grads = tuple(None if gr is None else gr.to(dtype) for gr, dtype in zip(grads, ctx.dtypes, strict=True))
        return (*grads, None)


def selective_scan_fn(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                      D: torch.Tensor | None = None, delta_bias: torch.Tensor | None = None,
                      delta_softplus: bool = False) -> torch.Tensor:
    """mamba-ssm's `selective_scan_fn` (real inputs, no z, no last state) through the Triton kernels."""
    check_usable(u)
    return TritonSelectiveScanFn.apply(u, delta, A, B, C, D, delta_bias, delta_softplus)
