"""`python -m engine info [--json]`: model sizes, compute, backends and shipped weights.

Counts are analytic (no torch needed) and held equal to the torch modules by tests:
- "thop-style" parameters: what `thop` reports, i.e. the parameters of leaf modules only (Linear, Conv2d,
  LayerNorm, the deformable conv's own weights). It misses the parameters held directly by the SSM operator
  (x_proj, dt_proj, A_log, D) and the model (spatial/temporal embeddings). The paper family quotes this number.
- "true" parameters: every trainable parameter.
- thop-style MACs: Linear and dense Conv2d multiply-accumulates only (thop counts nothing for the deformable conv,
  the projections held as parameters or the scan).
- full MACs: thop-style + x_proj and dt_proj + the deformable depthwise conv (4 bilinear taps and the weight per
  tap) + the selective scan (3 per state element and step: decay, input, output) + the D skip.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .config import CONFIGS, SasMambaConfig
from .weights import WEIGHTS_DIR, load_weights


def parameter_counts(cfg: SasMambaConfig) -> dict:
    c, di, n, r, k, ks = cfg.dim, cfg.d_inner, cfg.d_state, cfg.dt_rank, cfg.directions, cfg.kernel_size
    hidden = int(cfg.dim * cfg.mlp_ratio)
    taps = ks * ks
    ssm_leaf = (c * 2 * di  # in_proj
                + di * 2 * taps * taps + 2 * taps  # offset_conv (dense, with bias)
                + di * taps + di  # deformable depthwise conv weight and bias
                + 2 * di  # out_norm
                + di * c)  # out_proj
    ssm_own = k * (r + 2 * n) * di + k * di * r + k * di + k * di * n + k * di  # x_proj, dt_proj(+bias), A_log, D
    block_leaf = ssm_leaf + 2 * (2 * c) + (c * hidden + hidden + hidden * c + c)  # norms, MLP
    blocks = 2 * cfg.depth
    model_leaf = (cfg.in_channels * c + c) + 3 * (2 * c) + (c * cfg.out_channels + cfg.out_channels)
    model_own = cfg.joints * c + cfg.frames * c
    thop = blocks * block_leaf + model_leaf
    return {"thop_style": thop, "true": thop + blocks * ssm_own + model_own}


def mac_counts(cfg: SasMambaConfig) -> dict:
    c, di, n, r, k, ks = cfg.dim, cfg.d_inner, cfg.d_state, cfg.dt_rank, cfg.directions, cfg.kernel_size
    hidden = int(cfg.dim * cfg.mlp_ratio)
    taps = ks * ks
    pos = cfg.frames * cfg.joints
    blocks = 2 * cfg.depth
    per_block = pos * (c * 2 * di + di * 2 * taps * taps + di * c + 2 * c * hidden)
    thop = blocks * per_block + pos * (cfg.in_channels * c + c * cfg.out_channels)
    extra = blocks * (k * pos * di * (r + 2 * n) + k * pos * r * di  # x_proj, dt_proj
                      + pos * di * taps * 5  # bilinear taps + depthwise weight
                      + k * pos * di * n * 3 + k * pos * di)  # scan + D skip
    return {"thop_style_per_window": thop, "thop_style_per_frame": thop / cfg.frames,
            "full_per_window": thop + extra, "full_per_frame": (thop + extra) / cfg.frames}


def shipped_weights() -> list[dict]:
    found = []
    for path in sorted(Path(WEIGHTS_DIR).glob("*.npz")):
        try:
            _, meta = load_weights(path)
        except Exception as exc:  # report a broken file rather than failing the whole listing
            meta = {"error": str(exc)}
        found.append({"file": str(path), "bytes": path.stat().st_size, "metadata": meta})
    return found


def collect() -> dict:
    from .lifter import available_backends

    configs = {}
    for name, cfg in CONFIGS.items():
        configs[name] = {"config": cfg.to_dict(), "params": parameter_counts(cfg), "macs": mac_counts(cfg)}
    return {"configs": configs, "backends": available_backends(), "gpu_scan": gpu_scan(),
            "native_kernels": native_kernels(), "shipped_weights": shipped_weights()}


def gpu_scan() -> str:
    """Which scan CUDA inference would run here, in words ("no CUDA" without a device or without torch)."""
    from .lifter import torch_available

    if not torch_available():
        return "no CUDA (torch not installed)"
    from . import triton_scan
    from .scan import gpu_scan_path

    path = gpu_scan_path()
    if path is None:
        return "no CUDA"
    if path == "triton":
        return f"triton {triton_scan.version()} (engine/triton_scan.py; SASMAMBA_TRITON=0 opts out)"
    if path == "mamba-ssm":
        return "mamba-ssm selective scan" + (" (triton off: SASMAMBA_TRITON=0)" if triton_scan.available() else "")
    return "torch chunked scan (neither triton nor mamba-ssm imports; the cuda backend is unavailable)"


def native_kernels() -> dict:
    """Whether the C kernels (engine/native/) load here, which build, and where the library is looked for."""
    from . import native

    return {"available": native.available(), "build": native.instruction_set(), "library": str(native.library_path())}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine info", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = ap.parse_args(argv)
    info = collect()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    for name, entry in info["configs"].items():
        p, m = entry["params"], entry["macs"]
        print(f"{name}: params {p['thop_style'] / 1e6:.3f}M thop-style (leaf modules, as the paper counts), "
              f"{p['true'] / 1e6:.3f}M true; MACs per {entry['config']['frames']}-frame window "
              f"{m['thop_style_per_window'] / 1e9:.3f}G thop-style, {m['full_per_window'] / 1e9:.3f}G full; "
              f"per frame {m['thop_style_per_frame'] / 1e6:.2f}M / {m['full_per_frame'] / 1e6:.2f}M")
    print("backends available:", ", ".join(info["backends"]))
    print("GPU scan:", info["gpu_scan"])
    kernels = info["native_kernels"]
    print(f"C kernels (CPU scan and deformable conv): {kernels['build']} build" if kernels["available"] else
          f"C kernels: not built for this platform ({kernels['library']}); torch/numpy code runs instead")
    if not info["shipped_weights"]:
        print(f"shipped weights: none in {WEIGHTS_DIR}")
    for w in info["shipped_weights"]:
        meta = w["metadata"]
        print(f"shipped weights: {w['file']} ({w['bytes'] / 1e6:.1f} MB): config {meta.get('config_name')}, "
              f"training {meta.get('training_data')}, epochs {meta.get('epochs')}, validation "
              f"{meta.get('validation')}, test {meta.get('test')}, licence {meta.get('licence')}")
    return 0
