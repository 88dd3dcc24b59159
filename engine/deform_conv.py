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
    # grid_sample with align_corners=True maps -1 / +1 onto the first / last sample centre; zero padding
    # outside the grid gives exactly the bilinear-with-zeros taps of torchvision's kernel.
    gx = px * (2.0 / max(width - 1, 1)) - 1.0
    gy = py * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1).view(b, taps * height, width, 2)
    sampled = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    sampled = sampled.view(b, c, taps, height, width)  # (b, c, taps, H, W)
    out = torch.einsum("bckhw,ck->bchw", sampled, weight.view(c, taps))
    if bias is not None:
        out = out + bias.view(1, c, 1, 1)
    return out


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
