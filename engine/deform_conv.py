"""Depthwise deformable 3x3 convolution over the (frames x joints) grid, in plain PyTorch.

Offsets use torchvision's layout, so `torchvision.ops.deform_conv2d(x, offset, weight, bias, padding=k//2)`
computes the same thing (checked on the GPU machine by scripts/check_deform_conv.py): for tap i = ky * k + kx,
channel 2i of `offset` is the shift along frames (dy) and 2i + 1 the shift along joints (dx). A tap samples the
input bilinearly at (t - k//2 + ky + dy, j - k//2 + kx + dx); points outside the grid read as zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


def deform_conv2d_depthwise(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                            bias: torch.Tensor | None) -> torch.Tensor:
    """x (b, c, H, W), offset (b, 2 k*k, H, W), weight (c, 1, k, k), bias (c,) -> (b, c, H, W)."""
    b, c, height, width = x.shape
    k = weight.shape[-1]
    taps = k * k
    off = offset.view(b, taps, 2, height, width)
    ky, kx = torch.meshgrid(torch.arange(k, device=x.device), torch.arange(k, device=x.device), indexing="ij")
    base_y = torch.arange(height, device=x.device).view(1, 1, height, 1) - k // 2 + ky.reshape(1, taps, 1, 1)
    base_x = torch.arange(width, device=x.device).view(1, 1, 1, width) - k // 2 + kx.reshape(1, taps, 1, 1)
    py = base_y.to(x.dtype) + off[:, :, 0]  # (b, taps, H, W) sample rows
    px = base_x.to(x.dtype) + off[:, :, 1]  # (b, taps, H, W) sample columns
    y0, x0 = torch.floor(py), torch.floor(px)
    ly, lx = py - y0, px - x0
    y0, x0 = y0.long(), x0.long()
    flat = x.reshape(b, c, height * width)
    sampled = x.new_zeros(b, c, taps * height * width)
    # the four bilinear neighbours; a neighbour outside the grid contributes zero, as in torchvision's kernel
    for dy, dx, w in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx), (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
        index = (yy.clamp(0, height - 1) * width + xx.clamp(0, width - 1)).reshape(b, 1, -1)
        tap_weight = (w * inside).reshape(b, 1, -1)
        sampled = sampled + torch.gather(flat, 2, index.expand(b, c, index.shape[-1])) * tap_weight
    sampled = sampled.view(b, c, taps, height, width)  # (b, c, taps, H, W)
    out = (sampled * weight.view(1, c, taps, 1, 1)).sum(2)
    if bias is not None:
        out = out + bias.view(1, c, 1, 1)
    return out


def _bilinear_corners(offset: torch.Tensor, k: int) -> list[tuple[torch.Tensor, ...]]:
    """Per corner of the bilinear cell: (source row, weight, d weight / dy, d weight / dx), each of shape
    (b H W taps,), rows ordered (batch, point, tap). A source row indexes the (b H W, c) channels-last input;
    corners outside the grid get weight 0 (and derivatives 0) and a clamped, valid row."""
    b, _, height, width = offset.shape
    taps, hw = k * k, height * width
    off = offset.permute(0, 2, 3, 1).reshape(b, hw, taps, 2)
    ky, kx = torch.meshgrid(torch.arange(k, device=offset.device), torch.arange(k, device=offset.device),
                            indexing="ij")
    points = torch.arange(hw, device=offset.device)
    base_y = (points // width).view(hw, 1) - k // 2 + ky.reshape(1, taps)  # (H W, taps)
    base_x = (points % width).view(hw, 1) - k // 2 + kx.reshape(1, taps)
    py = base_y.to(offset.dtype) + off[..., 0]  # (b, H W, taps)
    px = base_x.to(offset.dtype) + off[..., 1]
    y0, x0 = torch.floor(py), torch.floor(px)
    ly, lx = py - y0, px - x0
    y0, x0 = y0.long(), x0.long()
    batch_row = (torch.arange(b, device=offset.device) * hw).view(b, 1, 1)
    corners = []
    for dy, dx, w, w_dy, w_dx in ((0, 0, (1 - ly) * (1 - lx), lx - 1, ly - 1), (0, 1, (1 - ly) * lx, -lx, 1 - ly),
                                  (1, 0, ly * (1 - lx), 1 - lx, -ly), (1, 1, ly * lx, lx, ly)):
        yy, xx = y0 + dy, x0 + dx
        inside = ((yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)).to(offset.dtype)
        row = batch_row + yy.clamp(0, height - 1) * width + xx.clamp(0, width - 1)
        corners.append(tuple(t.reshape(-1) for t in (row, w * inside, w_dy * inside, w_dx * inside)))
    return corners


@torch.no_grad()
def deform_conv_depthwise_channels_last(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                                        bias: torch.Tensor | None) -> torch.Tensor:
    """Same result as `deform_conv2d_depthwise` on channels-last tensors, for CPU inference (no autograd):
    x (b, H, W, c), offset (b, H, W, 2 k*k) -> (b, H, W, c). Several times faster.

    Bilinear sampling of one tap is a weighted sum of 4 rows of x (one per corner) for every output point, which
    `embedding_bag` computes as a single fused gather-and-sum; the tap's per-channel weight then scales it into
    the output. Corners outside the grid carry weight zero (`_bilinear_corners`).
    """
    b, height, width, c = x.shape
    k = weight.shape[-1]
    taps, hw = k * k, height * width
    rows = x.reshape(b * hw, c)
    corners = _bilinear_corners(offset.permute(0, 3, 1, 2), k)  # per corner, rows ordered (batch, point, tap)
    index = torch.stack([row for row, *_ in corners], -1).view(b * hw, taps, 4).transpose(0, 1).contiguous()
    weights = torch.stack([w for _, w, *_ in corners], -1).view(b * hw, taps, 4).transpose(0, 1).contiguous()
    tap_weight = weight.reshape(c, taps).t().contiguous()  # (taps, c)
    out = x.new_empty(b * hw, c)
    out[:] = bias if bias is not None else 0
    for t in range(taps):
        sampled = F.embedding_bag(index[t], rows, per_sample_weights=weights[t], mode="sum")  # (b H W, c)
        out.addcmul_(sampled, tap_weight[t])
    return out.view(b, height, width, c)


def deform_conv2d_depthwise_inference(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                                   bias: torch.Tensor | None) -> torch.Tensor:
    """`deform_conv_depthwise_channels_last` for (b, c, H, W) tensors."""
    out = deform_conv_depthwise_channels_last(x.permute(0, 2, 3, 1).contiguous(), offset.permute(0, 2, 3, 1),
                                              weight, bias)
    return out.permute(0, 3, 1, 2)


def _sample(rows: torch.Tensor, corners: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
    """Bilinear samples (b H W taps, c) from channels-last rows (b H W, c)."""
    sampled = None
    for row, w, _, _ in corners:
        values = rows.index_select(0, row)
        sampled = values.mul_(w[:, None]) if sampled is None else sampled.addcmul_(values, w[:, None])
    return sampled


class DepthwiseDeformConvFunction(torch.autograd.Function):
    """`deform_conv2d_depthwise` with a hand-written backward, channels-last inside.

    The sampling points are shared by all channels, so every gather and scatter moves whole rows of c channels
    (coalesced), and the backward is 4 gathers and 4 row scatters (index_add_) instead of torchvision's per-group
    matrix products (128 groups -> thousands of tiny GEMVs). Nothing of size (b, c, taps, H, W) is kept for the
    backward: the samples are gathered again there.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
        b, c, height, width = x.shape
        k = weight.shape[-1]
        rows = x.permute(0, 2, 3, 1).reshape(b * height * width, c)  # (b H W, c)
        corners = _bilinear_corners(offset, k)
        sampled = _sample(rows, corners)  # (b H W taps, c)
        tap_weight = weight.view(c, k * k).t().contiguous()  # (taps, c)
        out = (sampled.view(-1, k * k, c) * tap_weight).sum(1)  # (b H W, c)
        if bias is not None:
            out += bias
        ctx.save_for_backward(rows, weight, *(t for corner in corners for t in corner))
        ctx.has_bias = bias is not None
        ctx.shape = (b, c, height, width)
        return out.view(b, height, width, c).permute(0, 3, 1, 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        rows, weight, *flat = ctx.saved_tensors
        corners = [tuple(flat[i:i + 4]) for i in range(0, 16, 4)]
        b, c, height, width = ctx.shape
        k = weight.shape[-1]
        taps = k * k
        need_x, need_offset, need_weight, need_bias = ctx.needs_input_grad
        grad = grad_out.permute(0, 2, 3, 1).reshape(b * height * width, c)  # (b H W, c)
        # written into a (b H W, taps, c) tensor: a plain product may lay out a broadcast's result in another order
        grad_sampled = grad.new_empty(b * height * width, taps, c)
        torch.mul(grad[:, None, :], weight.view(c, taps).t(), out=grad_sampled)
        grad_sampled = grad_sampled.view(-1, c)
        grad_rows = torch.zeros_like(rows) if need_x else None
        grad_y = grad_x = sampled = None
        for row, w, w_dy, w_dx in corners:
            if need_offset or need_weight:
                values = rows.index_select(0, row)  # (b H W taps, c)
            if need_offset:
                along = (grad_sampled * values).sum(1)  # d loss / d (this corner's weight)
                grad_y = along * w_dy if grad_y is None else grad_y.addcmul_(along, w_dy)
                grad_x = along * w_dx if grad_x is None else grad_x.addcmul_(along, w_dx)
            if need_weight:
                sampled = values * w[:, None] if sampled is None else sampled.addcmul_(values, w[:, None])
            if need_x:
                grad_rows.index_add_(0, row, grad_sampled * w[:, None])
        grad_input = grad_offset = grad_weight = grad_bias = None
        if need_x:
            grad_input = grad_rows.view(b, height, width, c).permute(0, 3, 1, 2)
        if need_offset:
            grad_offset = torch.stack([grad_y, grad_x], -1).view(b, height, width, 2 * taps).permute(0, 3, 1, 2)
        if need_weight:
            grad_weight = (sampled.view(-1, taps, c) * grad[:, None, :]).sum(0).t().reshape(c, 1, k, k)
        if need_bias and ctx.has_bias:
            grad_bias = grad.sum(0)
        return grad_input, grad_offset, grad_weight, grad_bias


def deform_conv2d_depthwise_fused(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                                  bias: torch.Tensor | None) -> torch.Tensor:
    """`deform_conv2d_depthwise` through `DepthwiseDeformConvFunction`: same arguments and result. Give it fp32
    (or fp64) tensors: sampling positions up to 242 are computed in the offsets' dtype."""
    return DepthwiseDeformConvFunction.apply(x, offset, weight, bias)


DEFORM_IMPLS = ("auto", "torchvision", "gather", "fused", "triton")


class DeformableDepthwiseConv(nn.Module):
    """The depthwise conv's own weights; offsets come from the caller (a dense conv on the same input).

    `impl` picks the implementation (all compute the same thing): "torchvision" (its kernel), "gather"
    (`deform_conv2d_depthwise`, autograd through gathers), "fused" (`DepthwiseDeformConvFunction`), "triton"
    (engine/triton_deform.py: Triton forward and backward; CUDA, or CPU under TRITON_INTERPRET=1), or "auto":
    see `resolve_auto`.
    """

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, 1, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(channels))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.impl = "auto"

    @property
    def impl(self) -> str:
        return self._impl

    @impl.setter
    def impl(self, value: str) -> None:
        # checked when set (SasMamba.set_deform_impl, or directly), not on every forward
        if value not in DEFORM_IMPLS:
            raise ValueError(f"unknown deformable conv implementation {value!r}; known: {', '.join(DEFORM_IMPLS)}")
        self._impl = value

    def forward(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        impl = self.impl
        if impl == "auto":
            autograd = torch.is_grad_enabled() and (x.requires_grad or offset.requires_grad
                                                    or self.weight.requires_grad)
            impl = resolve_auto(x.is_cuda, autograd)
            if impl == "triton":
                try:
                    return self._triton(x, offset)
                except Exception as exc:  # noqa: BLE001 - a kernel that cannot compile or launch: torchvision's
                    from . import triton_scan

                    triton_scan.disable(exc, kernel="deform")
                    impl = resolve_auto(x.is_cuda, autograd)
        if impl == "torchvision":
            if _torchvision_deform() is None:
                raise RuntimeError("deformable conv implementation 'torchvision' asked for, but torchvision does "
                                   "not import here")
            k = self.weight.shape[-1]
            return _torchvision_deform()(x, offset, self.weight, self.bias, padding=k // 2)
        if impl == "triton":
            return self._triton(x, offset)
        if impl == "inference":
            return deform_conv2d_depthwise_inference(x, offset, self.weight, self.bias)
        fn = deform_conv2d_depthwise_fused if impl == "fused" else deform_conv2d_depthwise
        # like torchvision under autocast: compute in the weights' precision (sampling positions up to 242 need
        # fp32; bf16 keeps 8 bits), hand back x's dtype
        with torch.autocast(x.device.type, enabled=False):
            out = fn(x.to(self.weight.dtype), offset.to(self.weight.dtype), self.weight, self.bias)
        return out.to(x.dtype)

    def _triton(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        from .triton_deform import deform_conv2d_depthwise_triton

        # no casts needed to match the others under autocast: the kernels read x and the offsets in their own
        # dtype (bf16 under autocast) and compute in float32 whatever the weights' dtype, and the result comes
        # back in x's dtype, as the others' `.to(x.dtype)` gives
        with torch.autocast(x.device.type, enabled=False):
            return deform_conv2d_depthwise_triton(x, offset, self.weight, self.bias)


def resolve_auto(cuda: bool, autograd: bool) -> str:
    """The implementation "auto" runs. On CUDA: for training (autograd recording), the Triton conv wherever
    `triton_scan.deform_enabled()` (triton imports, SASMAMBA_TRITON / SASMAMBA_TRITON_DEFORM not 0, no kernel
    failure in this process): on an H100 in session 7 its gradients equalled torchvision's (model 1.9e-5, torchvision
    against itself 1.1e-5) and a bf16 step of sasmamba-s took 0.130 s against 0.198 (reports/gpu_check_h100_s7.json);
    otherwise torchvision's kernel where it imports (the inference path outside the model's Triton one), else the
    gather form. On CPU: the embedding_bag gather ("inference") without autograd, the gather form with it."""
    if cuda:
        if autograd:
            from . import triton_scan

            if triton_scan.deform_enabled():
                return "triton"
        return "torchvision" if _torchvision_deform() is not None else "gather"
    return "gather" if autograd else "inference"


_TV = []


def _torchvision_deform():
    if not _TV:
        try:
            from torchvision.ops import deform_conv2d
        except Exception:  # torchvision is optional and does not import beside torch 2.13 CPU
            deform_conv2d = None
        _TV.append(deform_conv2d)
    return _TV[0]
