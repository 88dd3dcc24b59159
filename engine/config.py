"""SasMamba configurations (torch-free, so the numpy runtime and `python -m engine info` can read them).

Letters as in engine/model.py: C = dim, T = frames, J = joints, N = d_state, K = directions, d_inner = expand * C,
R = dt_rank = ceil(C / 16).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass
class SasMambaConfig:
    dim: int = 64  # C
    depth: int = 5  # (spatial, temporal) block pairs: 2 * depth blocks
    frames: int = 243  # T
    joints: int = 17  # J
    in_channels: int = 2
    out_channels: int = 3
    d_state: int = 16  # N
    expand: int = 2
    kernel_size: int = 3
    directions: int = 4  # K
    mlp_ratio: float = 2.0
    drop_path: float = 0.2
    d_inner: int = field(init=False)
    dt_rank: int = field(init=False)

    def __post_init__(self) -> None:
        self.d_inner = self.expand * self.dim
        self.dt_rank = math.ceil(self.dim / 16)
        if self.directions != 4:
            raise ValueError("SasMamba scans in exactly 4 directions")

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("d_inner")
        d.pop("dt_rank")
        return d


CONFIGS: dict[str, SasMambaConfig] = {
    "sasmamba-s": SasMambaConfig(dim=64, depth=5),
    "sasmamba-l": SasMambaConfig(dim=128, depth=10),
    # small configurations for tests and CPU smoke runs
    "sasmamba-xs": SasMambaConfig(dim=32, depth=2, frames=27),
    "sasmamba-tiny": SasMambaConfig(dim=16, depth=1, frames=9),
}


def get_config(name: str | SasMambaConfig | dict) -> SasMambaConfig:
    if isinstance(name, SasMambaConfig):
        return name
    if isinstance(name, dict):
        return SasMambaConfig(**name)
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; known: {', '.join(CONFIGS)}")
    return SasMambaConfig(**CONFIGS[name].to_dict())
