"""SasMamba: a structure-aware stride state-space lifter from 2D to 3D human pose (seq2seq over 243 frames).

Read ../shared/docs/sasmamba.md first; this file follows it top to bottom.

Glossary (the paper's letters -> names here):
    b       batch                  T   frames in the window (243)     J   joints (17)
    C       model width (`dim`)    L   scan length T * J              K   scan directions (4)
    d_inner expanded width 2C      N   SSM state size (`d_state`)     R   dt rank ceil(C / 16)
    A, B, C(ssm), D, delta         as in Mamba: h_t = exp(delta A) h_{t-1} + delta B u_t, y_t = <C, h_t> + D u_t

Model -> SasMambaBlock (pre-norm residual) -> StrideSSM (conv + 4-way stride scan) -> selective_scan.
Input (b, T, J, 2) normalised 2D joints; output (b, T, J, 3): root-relative joints in the "2.5D" image
representation of engine/representation.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import native, triton_scan
from .config import CONFIGS, SasMambaConfig, get_config
from .deform_conv import DeformableDepthwiseConv, deform_conv_depthwise_channels_last
from .numpy_runtime import stride_anchor_sum
from .scan import selective_scan, selective_scan_time_major

__all__ = ["CONFIGS", "SasMamba", "SasMambaConfig", "get_config"]


def stride_anchor_index(joints: int, stride: int) -> torch.Tensor:
    """Joint j's anchor in its stride group: stride * floor(j / stride)."""
    return torch.arange(joints) // stride * stride


def stride_anchor(x: torch.Tensor, stride: int) -> torch.Tensor:
    """x[..., stride_anchor_index(J, stride)] for x (..., J), written as every stride-th joint repeated stride
    times: the same values, but autograd's backward is a sum over each group instead of an atomic scatter
    (index_put), which cost 11% of a CUDA training step."""
    j = x.shape[-1]
    groups = -(-j // stride)
    anchors = x[..., ::stride, None].expand(*x.shape[:-1], groups, stride)  # (..., groups, stride)
    return anchors.reshape(*x.shape[:-1], groups * stride)[..., :j]


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class StrideSSM(nn.Module):
    """The structure-aware SSM operator: deformable spatio-temporal conv, then a 4-direction stride scan."""

    def __init__(self, cfg: SasMambaConfig) -> None:
        super().__init__()
        c, di, n, r, k = cfg.dim, cfg.d_inner, cfg.d_state, cfg.dt_rank, cfg.directions
        self.cfg = cfg
        self.in_proj = nn.Linear(c, 2 * di, bias=False)
        self.offset_conv = nn.Conv2d(di, 2 * cfg.kernel_size**2, cfg.kernel_size, padding=cfg.kernel_size // 2)
        nn.init.zeros_(self.offset_conv.weight)  # start as a plain conv, as deformable convs usually do
        nn.init.zeros_(self.offset_conv.bias)
        self.conv = DeformableDepthwiseConv(di, cfg.kernel_size)
        # per direction: x_proj (R + 2N, d_inner) gives dt, B, C; dt_proj (d_inner, R) + bias
        self.x_proj_weight = nn.Parameter(torch.empty(k, r + 2 * n, di).uniform_(-di**-0.5, di**-0.5))
        self.dt_proj_weight = nn.Parameter(torch.empty(k, di, r).uniform_(-(r**-0.5), r**-0.5))
        dt = torch.exp(torch.rand(k, di) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        self.dt_proj_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(k * di, 1))
        self.D = nn.Parameter(torch.ones(k * di))
        self.out_norm = nn.LayerNorm(di)
        self.out_proj = nn.Linear(di, c, bias=False)
        # (J, J), the CPU inference path's anchor add as one product (the numpy runtime's matrix, so both agree)
        self.register_buffer("anchor_sum", torch.from_numpy(stride_anchor_sum(cfg.joints)), persistent=False)
        self.scan_backend = "auto"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        backend = self.scan_backend
        if backend == "triton-train" and not torch.is_grad_enabled():
            backend = "auto"  # a training scan: inference (validation included) keeps the default paths
        if not x.is_cuda and not torch.is_grad_enabled() and backend in ("auto", "torch"):
            return self.forward_cpu_inference(x)
        if (x.is_cuda or triton_scan.interpreted()) and not torch.is_grad_enabled() and (
                backend == "triton" or (backend == "auto" and x.is_cuda and triton_scan.enabled())):
            if self.scan_backend == "triton":  # asked for by name: its errors are the caller's to see
                return self.forward_triton_inference(x)
            try:
                return self.forward_triton_inference(x)
            except Exception as exc:  # noqa: BLE001 - a kernel that cannot compile or launch: the path below runs
                triton_scan.disable(exc)
        b, t, j, _ = x.shape
        di, n, r, k = self.cfg.d_inner, self.cfg.d_state, self.cfg.dt_rank, self.cfg.directions
        length = t * j
        x, z = self.in_proj(x).chunk(2, dim=-1)  # (b, T, J, di) each
        z = F.silu(z)

        x = x.permute(0, 3, 1, 2)  # (b, di, T, J): the conv's image is frames x joints
        x = F.silu(self.conv(x, self.offset_conv(x)))  # (b, di, T, J)

        xa = x + stride_anchor(x, 2) + stride_anchor(x, 3)  # stride-2/3 group anchors added per joint
        frame_major = xa.reshape(b, di, length)  # t0j0 t0j1 ... t0j16 t1j0 ...
        joint_major = x.transpose(2, 3).reshape(b, di, length)  # j0t0 ... j0t242 j1t0 ...
        xs = torch.stack([frame_major, joint_major, frame_major.flip(-1), joint_major.flip(-1)], dim=1)
        # xs: (b, K, di, L)

        # per direction k: x_proj then dt_proj, as b K matrix products that keep L last for the scan (an einsum
        # folds b into L instead: a permuted copy of xs and weight gradients reduced over all b L in one product)
        x_dbl = self.x_proj_weight @ xs  # (K, R + 2N, di) @ (b, K, di, L) -> (b, K, R + 2N, L)
        dt, B, C = torch.split(x_dbl, [r, n, n], dim=2)  # (b, K, R, L), (b, K, N, L), (b, K, N, L)
        dt = self.dt_proj_weight @ dt  # (K, di, R) @ (b, K, R, L) -> (b, K, di, L)

        y = selective_scan(
            xs.reshape(b, k * di, length), dt.reshape(b, k * di, length), -torch.exp(self.A_log.float()),
            B, C, self.D, delta_bias=self.dt_proj_bias.reshape(-1), delta_softplus=True, backend=backend,
        ).view(b, k, di, length)  # (b, K, di, L)

        # back to frame-major grid order, then sum the four directions
        def from_joint_major(v: torch.Tensor) -> torch.Tensor:
            return v.view(b, di, j, t).transpose(2, 3).reshape(b, di, length)

        y = y[:, 0] + y[:, 2].flip(-1) + from_joint_major(y[:, 1] + y[:, 3].flip(-1))
        y = y.transpose(1, 2).reshape(b, t, j, di)  # (b, T, J, di)
        y = self.out_norm(y.to(z.dtype)) * z
        return self.out_proj(y)  # (b, T, J, C)

    @torch.no_grad()
    def forward_cpu_inference(self, x: torch.Tensor) -> torch.Tensor:
        """`forward` without autograd, laid out for CPUs (what engine/numpy_runtime.py does in numpy): channels
        stay last and contiguous. Tests hold it equal to `forward`'s differentiable path, with and without the
        compiled scan.

        Rearranged where it saves passes over memory, same sums: the projections of the reversed directions come
        from the forward-order activations (one product per order), and the four directions are summed on the
        (T, J) grid."""
        b, t, j, _ = x.shape
        di, n, k = self.cfg.d_inner, self.cfg.d_state, self.cfg.directions
        xi, z = self.in_proj(x).chunk(2, dim=-1)  # (b, T, J, di) each
        offset = self.offset_conv(xi.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # (b, T, J, 2 k^2)
        use_native = x.dtype == torch.float32 and x.device.type == "cpu" and native.available()  # engine/native/
        if use_native:
            xc = torch.from_numpy(native.deform_conv_depthwise(_array(xi), offset.numpy(), _array(self.conv.weight),
                                                               _array(self.conv.bias)))
        else:
            xc = deform_conv_depthwise_channels_last(xi.contiguous(), offset, self.conv.weight, self.conv.bias)
        xc = F.silu(xc)
        xa = torch.matmul(self.anchor_sum, xc)  # xc plus its stride-2/3 group anchors per joint, as one product
        w = self.x_proj_weight  # (K, R + 2N, di)
        proj_a = torch.matmul(xa, torch.cat([w[0], w[2]]).t()).view(b, t, j, 2, -1)  # directions 0 and 2
        proj_c = torch.matmul(xc, torch.cat([w[1], w[3]]).t()).view(b, t, j, 2, -1)  # directions 1 and 3
        A = -torch.exp(self.A_log.float()).view(k, di, n).transpose(1, 2).contiguous()  # (K, N, di)
        if use_native:
            ys = self._stride_scan_native(xa, xc, proj_a, proj_c, A)
        else:
            ys = self._stride_scan_time_major(xa, xc, proj_a, proj_c, A)
        return self.out_proj(self.out_norm(ys) * F.silu(z))

    @torch.no_grad()
    def forward_triton_inference(self, x: torch.Tensor) -> torch.Tensor:
        """`forward` without autograd through engine/triton_scan.py (CUDA, or CPU under TRITON_INTERPRET=1): the
        CPU inference path's layout (channels last, the four orders read in place from the grid) with the model's
        own offset conv (cuDNN) and engine/triton_scan.py's deformable conv (`_deform_silu`)."""
        di, k = self.cfg.d_inner, self.cfg.directions
        xi, z = self.in_proj(x).chunk(2, dim=-1)  # (b, T, J, di) each
        xc = self._deform_silu(xi)  # (b, T, J, di)
        xa = torch.matmul(self.anchor_sum.to(xc.dtype), xc)  # xc plus its stride-2/3 group anchors per joint
        b, t, j, _ = xc.shape
        w = self.x_proj_weight.to(xc.dtype)  # (K, R + 2N, di)
        proj_a = torch.matmul(xa, torch.cat([w[0], w[2]]).t()).view(b, t, j, 2, -1)  # directions 0 and 2
        proj_c = torch.matmul(xc, torch.cat([w[1], w[3]]).t()).view(b, t, j, 2, -1)  # directions 1 and 3
        A = -torch.exp(self.A_log.float()).view(k, di, -1).transpose(1, 2).contiguous()  # (K, N, di)
        ys = triton_scan.stride_scan(xa, xc, proj_a, proj_c, A, self.dt_proj_weight.transpose(1, 2),
                                     self.dt_proj_bias.view(k, di), self.D.view(k, di))
        return self.out_proj(self.out_norm(ys) * F.silu(z))

    def _deform_silu(self, xi: torch.Tensor) -> torch.Tensor:
        """silu of the deformable conv of channels-last xi (b, T, J, di): (b, T, J, di) contiguous, xi's dtype.

        The Triton kernel reads xi where in_proj left it and the offsets in offset_conv's layout, and folds in the
        silu: no permuted or dtype copies. The module's own conv (torchvision on CUDA) runs instead where the
        kernel is off (`triton_scan.deform_enabled`: on by default, SASMAMBA_TRITON_DEFORM=0 turns it off) or
        another implementation was chosen (`set_deform_impl`, the bench's A/B); a kernel that fails at run time is
        switched off with one warning, unless the Triton path was asked for by name."""
        xp = xi.permute(0, 3, 1, 2)  # (b, di, T, J), the convs' image layout
        offset = self.offset_conv(xp)  # (b, 2 k^2, T, J)
        if self.conv.impl == "auto" and triton_scan.deform_enabled():
            try:
                return triton_scan.deform_conv_depthwise(xi, offset.permute(0, 2, 3, 1), self.conv.weight,
                                                         self.conv.bias, silu=True)
            except Exception as exc:  # noqa: BLE001 - a kernel that cannot compile or launch: the module's conv
                if self.scan_backend == "triton":
                    raise
                triton_scan.disable(exc, kernel="deform")
        return F.silu(self.conv(xp, offset)).permute(0, 2, 3, 1).contiguous()

    def _stride_scan_native(self, xa: torch.Tensor, xc: torch.Tensor, proj_a: torch.Tensor, proj_c: torch.Tensor,
                            A: torch.Tensor) -> torch.Tensor:
        """The four directions through engine/native/scan.c, which reads xa, xc and the projection rows where they
        lie, folds in dt_proj, softplus and D u, and sums the directions on the grid: (b, T, J, di)."""
        k, di = self.cfg.directions, self.cfg.d_inner
        ys = native.stride_scan(_array(xa), _array(xc), _array(proj_a), _array(proj_c), _array(A),
                                _array(self.dt_proj_weight.transpose(1, 2)),  # (K, R, di)
                                _array(self.dt_proj_bias.view(k, di)), _array(self.D.view(k, di)))
        return torch.from_numpy(ys)

    def _stride_scan_time_major(self, xa: torch.Tensor, xc: torch.Tensor, proj_a: torch.Tensor,
                                proj_c: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        """The four directions with engine/scan.py's time-major loop: the inputs copied into scan order,
        (L, b, K, .), so each scan step reads one contiguous slice, and the outputs mapped back to the grid. The
        skip term D u is added after the directions are mapped back, where it is (D_0 + D_2) xa + (D_1 + D_3) xc."""
        b, t, j, di = xa.shape
        n, r, k = self.cfg.d_state, self.cfg.dt_rank, self.cfg.directions
        length = t * j

        def frame_major(v: torch.Tensor) -> torch.Tensor:  # (b, T, J, c) -> (T, J, b, c): t0j0 t0j1 ...
            return v.permute(1, 2, 0, 3)

        def joint_major(v: torch.Tensor) -> torch.Tensor:  # (b, T, J, c) -> (J, T, b, c): j0t0 j0t1 ...
            return v.permute(2, 1, 0, 3)

        # the four scan orders, time-major: frame-major, joint-major, and the two reversed (flip (T, J) together)
        u = xa.new_empty(length, b, k, di)
        u[:, :, 0].view(t, j, b, di).copy_(frame_major(xa))
        u[:, :, 1].view(j, t, b, di).copy_(joint_major(xc))
        u[:, :, 2] = u[:, :, 0].flip(0)
        u[:, :, 3] = u[:, :, 1].flip(0)
        x_dbl = xa.new_empty(length, b, k, r + 2 * n)
        x_dbl[:, :, 0].view(t, j, b, -1).copy_(frame_major(proj_a[..., 0, :]))
        x_dbl[:, :, 2].view(t, j, b, -1).copy_(frame_major(proj_a[..., 1, :]).flip(0, 1))
        x_dbl[:, :, 1].view(j, t, b, -1).copy_(joint_major(proj_c[..., 0, :]))
        x_dbl[:, :, 3].view(j, t, b, -1).copy_(joint_major(proj_c[..., 1, :]).flip(0, 1))
        # dt_proj of all four directions as one product with a block-diagonal (K R, K di) weight
        dt = torch.addmm(self.dt_proj_bias.reshape(-1), x_dbl[..., :r].reshape(length * b, k * r),
                         torch.block_diag(*self.dt_proj_weight.transpose(1, 2)))
        delta = F.softplus(dt).view(length, b, k, di)
        y = selective_scan_time_major(u, delta, A, x_dbl[..., r:r + n], x_dbl[..., r + n:])  # (L, b, K, di)

        D = self.D.view(k, di)
        ys = torch.add(frame_major_to_grid(y[:, :, 0] + y[:, :, 2].flip(0), t, j),
                       joint_major_to_grid(y[:, :, 1] + y[:, :, 3].flip(0), t, j), out=torch.empty_like(xc))
        return ys.addcmul_(D[0] + D[2], xa).addcmul_(D[1] + D[3], xc)  # (b, T, J, di)


def _array(v: torch.Tensor):
    """A C-contiguous numpy view of a CPU tensor, for engine/native.py (a copy only where v is not contiguous)."""
    return v.detach().contiguous().numpy()


def frame_major_to_grid(v: torch.Tensor, t: int, j: int) -> torch.Tensor:
    """(T J, b, c) frame-major -> (b, T, J, c) view."""
    return v.view(t, j, *v.shape[1:]).permute(2, 0, 1, 3)


def joint_major_to_grid(v: torch.Tensor, t: int, j: int) -> torch.Tensor:
    """(J T, b, c) joint-major -> (b, T, J, c) view."""
    return v.view(j, t, *v.shape[1:]).permute(2, 1, 0, 3)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SasMambaBlock(nn.Module):
    """Pre-norm residual block: x + DropPath(SSM(LN(x))), then x + DropPath(MLP(LN(x)))."""

    def __init__(self, cfg: SasMambaConfig, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.ssm = StrideSSM(cfg)
        self.norm2 = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.mlp = Mlp(cfg.dim, int(cfg.dim * cfg.mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.ssm(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SasMamba(nn.Module):
    def __init__(self, cfg: SasMambaConfig | str = "sasmamba-s") -> None:
        super().__init__()
        cfg = get_config(cfg)
        self.cfg = cfg
        self.joint_embed = nn.Linear(cfg.in_channels, cfg.dim)
        self.spatial_pos = nn.Parameter(torch.zeros(cfg.joints, cfg.dim))
        self.temporal_pos = nn.Parameter(torch.zeros(cfg.frames, cfg.dim))
        rates = torch.linspace(0, cfg.drop_path, 2 * cfg.depth).tolist()
        self.spatial_blocks = nn.ModuleList(SasMambaBlock(cfg, rates[2 * i]) for i in range(cfg.depth))
        self.temporal_blocks = nn.ModuleList(SasMambaBlock(cfg, rates[2 * i + 1]) for i in range(cfg.depth))
        self.spatial_norm = nn.LayerNorm(cfg.dim, eps=1e-6)  # shared by every spatial block
        self.temporal_norm = nn.LayerNorm(cfg.dim, eps=1e-6)  # shared by every temporal block
        self.head_norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.out_channels)

    def set_scan_backend(self, backend: str) -> None:
        """engine/scan.py's `selective_scan` backend names, plus "triton" (the fused inference scan,
        engine/triton_scan.py). "triton-train" (engine/triton_selective_scan.py) runs only where grad is enabled;
        without grad the model takes the "auto" paths, so validation is unchanged."""
        for module in self.modules():
            if isinstance(module, StrideSSM):
                module.scan_backend = backend

    def set_deform_impl(self, impl: str) -> None:
        """"auto", "torchvision", "gather", "fused" or "triton": see engine/deform_conv.py's
        DeformableDepthwiseConv (whose `impl` rejects any other name, before the first module is changed)."""
        for module in self.modules():
            if isinstance(module, DeformableDepthwiseConv):
                module.impl = impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, j, _ = x.shape  # (b, T, J, 2)
        if t > self.cfg.frames or j != self.cfg.joints:
            raise ValueError(f"input has {t} frames x {j} joints; this model takes <= {self.cfg.frames} x "
                             f"{self.cfg.joints}")
        x = self.joint_embed(x) + self.spatial_pos  # (b, T, J, C)
        for i, (spatial, temporal) in enumerate(zip(self.spatial_blocks, self.temporal_blocks, strict=True)):
            x = self.spatial_norm(spatial(x))
            if i == 0:
                x = x + self.temporal_pos[:t, None, :]
            x = self.temporal_norm(temporal(x))
        return self.head(self.head_norm(x))  # (b, T, J, 3)
