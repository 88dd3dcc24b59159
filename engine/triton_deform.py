"""The Triton depthwise deformable conv with a backward, for training (the deformable conv implementation "triton").

Forward: engine/triton_scan.py's `deform_conv_depthwise` (the inference kernel, silu not folded in). Backward:
engine/triton_kernels.py's `deform_conv_bwd_kernel`, one pass over the same (window, positions, channels) programs
that finds each tap's sampling point again (nothing of size b x taps x H x W x c is kept from the forward) and
produces all four gradients: the input's by atomic scatter into a float32 grid, the offsets' as per-position sums
over channels, the weight's and bias's as per-program partial sums added up here. Everything is computed in
float32 and handed back in the inputs' dtypes.

Why: torchvision's backward runs one small GEMV per channel group (thousands per step), about 30% of a bf16
training step on an H100 (docs/training.md). Unmeasured on a GPU so far: scripts/check_gpu.py compares it with
torchvision and times it, and recommends it for training only where its gradients agree and it is fastest.

Imports without triton (the kernels are fetched on first use through triton_scan).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from . import triton_scan

# grid positions and channels per backward program (block_c None: the channels' power of two, at most 128), warps.
# Chosen by ptxas alone (sm_90, bf16, 128 channels; never timed): 8 x 128 with 8 warps, 156 registers and no spills;
# 4 x 128 with 4 warps 96 registers (but twice the partial sums to add up); the forward's 16 x 128 with 4 warps
# needs 255 and spills, as do 32-position blocks
BACKWARD_DEFAULTS = {"block_p": 8, "block_c": None, "num_warps": 8}


def check_usable(x: torch.Tensor) -> None:
    """Raise a RuntimeError saying why the Triton conv cannot run on x here (no triton; a CPU tensor without the
    interpreter)."""
    if not triton_scan.available():
        raise RuntimeError("deformable conv implementation 'triton' asked for, but triton does not import here")
    if not x.is_cuda and not triton_scan.interpreted():
        raise RuntimeError("deformable conv implementation 'triton' needs CUDA tensors (or Triton's CPU "
                           f"interpreter, TRITON_INTERPRET=1); got a tensor on {x.device}")


@torch.no_grad()
def deform_conv_depthwise_backward(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                                   grad_out: torch.Tensor, *, block_p: int | None = None,
                                   block_c: int | None = None, num_warps: int | None = None
                                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of `triton_scan.deform_conv_depthwise` (silu=False), channels-last: x (b, H, W, c) with unit
    channel stride, offset (b, H, W, 2 k*k) any strides, weight (c, 1, k, k), grad_out (b, H, W, c) any strides
    -> (grad_x (b, H, W, c) in x's dtype, grad_offset (b, H, W, 2 k*k) in offset's dtype, grad_weight
    (c, 1, k, k) in weight's dtype, grad_bias (c,) float32)."""
    block_p, block_c, num_warps = triton_scan._settings(BACKWARD_DEFAULTS, block_p=block_p, block_c=block_c,
                                                        num_warps=num_warps)
    b, height, width, c = x.shape
    k = weight.shape[-1]
    taps = k * k
    if offset.shape != (b, height, width, 2 * taps) or grad_out.shape != x.shape or x.stride(3) != 1:
        raise ValueError(f"deform_conv_depthwise_backward: x {tuple(x.shape)} (unit channel stride), offset "
                         f"{tuple(offset.shape)}, grad_out {tuple(grad_out.shape)} do not fit")
    if grad_out.stride(3) != 1:  # the kernel reads whole channel rows
        grad_out = grad_out.contiguous()
    block_c = min(block_c or 128, triton_scan._pow2(c))
    grid = (b, -(-height * width // block_p), -(-c // block_c))
    off_atomic = grid[2] > 1
    grad_x = torch.zeros(b, height, width, c, device=x.device, dtype=torch.float32)
    grad_offset = (torch.zeros if off_atomic else torch.empty)(b, height, width, 2 * taps, device=x.device,
                                                               dtype=torch.float32)
    partial = torch.empty(b, grid[1], taps + 1, c, device=x.device, dtype=torch.float32)
    triton_scan._kernels().deform_conv_bwd_kernel[grid](
        x, offset, weight.float().contiguous(), grad_out, grad_x, grad_offset, partial, height, width, c,
        *x.stride()[:3], *offset.stride(), *grad_out.stride()[:3], K=k, BLOCK_P=block_p, BLOCK_C=block_c,
        OFF_ATOMIC=off_atomic, num_warps=num_warps)
    sums = partial.sum((0, 1))  # (taps + 1, c)
    grad_weight = sums[:taps].t().reshape(c, 1, k, k).to(weight.dtype)
    return grad_x.to(x.dtype), grad_offset.to(offset.dtype), grad_weight, sums[taps]


class TritonDeformConvFunction(torch.autograd.Function):
    """Channels-last depthwise deformable conv through the Triton kernels: x (b, H, W, c), offset (b, H, W, 2 k*k),
    weight (c, 1, k, k), bias (c,) or None -> (b, H, W, c) in x's dtype. Saves only its inputs."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
        if x.stride(3) != 1:  # the kernels read whole channel rows; copied once here, saved as read
            x = x.contiguous()
        ctx.save_for_backward(x, offset, weight)
        ctx.bias_dtype = bias.dtype if bias is not None else None
        return triton_scan.deform_conv_depthwise(x, offset, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        x, offset, weight = ctx.saved_tensors
        grad_x, grad_offset, grad_weight, grad_bias = deform_conv_depthwise_backward(x, offset, weight, grad_out)
        if ctx.bias_dtype is None:
            grad_bias = None
        else:
            grad_bias = grad_bias.to(ctx.bias_dtype)
        return grad_x, grad_offset, grad_weight, grad_bias


def deform_conv2d_depthwise_triton(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                                   bias: torch.Tensor | None) -> torch.Tensor:
    """engine/deform_conv.py's `deform_conv2d_depthwise` (same NCHW arguments and result, differentiable) through
    `TritonDeformConvFunction`. The NCHW tensors are permuted views of channels-last ones: where x's channel
    stride is 1 (the model's x, a permuted slice of in_proj's output) nothing is copied, and the result is a
    permuted view of the kernel's channels-last output. Computes in float32 whatever the inputs' dtype; the result
    is in x's dtype."""
    check_usable(x)
    out = TritonDeformConvFunction.apply(x.permute(0, 2, 3, 1), offset.permute(0, 2, 3, 1), weight, bias)
    return out.permute(0, 3, 1, 2)
