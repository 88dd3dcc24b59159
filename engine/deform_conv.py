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


@torch.no_grad()
def deform_conv_depthwise_channels_last(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                                        bias: torch.Tensor | None) -> torch.Tensor:
    """Same result as `deform_conv2d_depthwise` on channels-last tensors, for CPU inference (no autograd):
    x (b, H, W, c), offset (b, H, W, 2 k*k) -> (b, H, W, c). Several times faster.

    Bilinear sampling of one tap is a weighted sum of 4 rows of x (one per corner) for every output point, which
    `embedding_bag` computes as a single fused gather-and-sum; the tap's per-channel weight then scales it into
    the output. Neighbours outside the grid read an appended zero row.
    """
    b, height, width, c = x.shape
    k = weight.shape[-1]
    taps, hw = k * k, height * width
    rows = torch.cat([x.reshape(b * hw, c), x.new_zeros(1, c)])
    zero_row = b * hw
    tap = torch.arange(taps, device=x.device)
    ky, kx = tap // k, tap % k
    off = offset.permute(3, 0, 1, 2)  # (2 taps, b, H, W)
    py = torch.arange(height, device=x.device).view(1, 1, height, 1) + (ky - k // 2).view(taps, 1, 1, 1) + off[0::2]
    px = torch.arange(width, device=x.device).view(1, 1, 1, width) + (kx - k // 2).view(taps, 1, 1, 1) + off[1::2]
    y0, x0 = torch.floor(py), torch.floor(px)  # (taps, b, H, W)
    ly, lx = py - y0, px - x0
    y0, x0 = y0.long(), x0.long()
    first_row = (torch.arange(b, device=x.device) * hw).view(1, b, 1, 1)
    index, weights = [], []
    for dy, dx, w in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx), (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
        index.append(torch.where(inside, first_row + yy * width + xx, zero_row))
        weights.append(w)
    index = torch.stack(index, -1).view(taps, b * hw, 4)
    weights = torch.stack(weights, -1).view(taps, b * hw, 4)
    tap_weight = weight.reshape(c, taps).t().contiguous()  # (taps, c)
    out = x.new_empty(b * hw, c)
    out[:] = bias if bias is not None else 0
    for t in range(taps):
        sampled = F.embedding_bag(index[t], rows, per_sample_weights=weights[t], mode="sum")  # (b H W, c)
        out.addcmul_(sampled, tap_weight[t])
    return out.view(b, height, width, c)


def deform_conv2d_depthwise_sparse(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                                   bias: torch.Tensor | None) -> torch.Tensor:
    """`deform_conv_depthwise_channels_last` for (b, c, H, W) tensors."""
    out = deform_conv_depthwise_channels_last(x.permute(0, 2, 3, 1).contiguous(), offset.permute(0, 2, 3, 1),
                                              weight, bias)
    return out.permute(0, 3, 1, 2)


class DeformableDepthwiseConv(nn.Module):
    """The depthwise conv's own weights; offsets come from the caller (a dense conv on the same input).

    On CUDA with torchvision importable, torchvision's kernel computes the same result faster.
    """

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, 1, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(channels))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.use_torchvision = True

    def forward(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        if x.is_cuda and self.use_torchvision and _torchvision_deform() is not None:
            k = self.weight.shape[-1]
            return _torchvision_deform()(x, offset, self.weight, self.bias, padding=k // 2)
        if not x.is_cuda and not (torch.is_grad_enabled() and (x.requires_grad or offset.requires_grad
                                                               or self.weight.requires_grad)):
            return deform_conv2d_depthwise_sparse(x, offset, self.weight, self.bias)
        return deform_conv2d_depthwise(x, offset, self.weight, self.bias)


_TV = []


def _torchvision_deform():
    if not _TV:
        try:
            from torchvision.ops import deform_conv2d
        except Exception:  # torchvision is optional and does not import beside torch 2.13 CPU
            deform_conv2d = None
        _TV.append(deform_conv2d)
    return _TV[0]
