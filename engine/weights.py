"""Torch-free weight files: one `.npz` holding every state_dict array under its own name, plus a JSON metadata entry.

Metadata (key `__metadata__`, a JSON string): format, config name and fields, training data, epochs, validation and
test metrics, licence. Reading needs numpy only (`load_weights`), so the numpy runtime inside a stock Blender can use
the same file as the torch backends. Writing from a training checkpoint (`export_checkpoint`) imports torch lazily.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import InputError

FORMAT = "sasmamba-npz/1"
METADATA_KEY = "__metadata__"
LICENCE = "Human3.6M: non-commercial research only"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def shipped_weights_path(config: str = "sasmamba-s") -> Path:
    """Where the weights shipped with the extension for `config` live (the file may not exist yet)."""
    return WEIGHTS_DIR / f"{config}_h36m.npz"


def default_metadata(config_name: str, config: dict) -> dict:
    return {"format": FORMAT, "config_name": config_name, "config": config, "training_data": None, "epochs": None,
            "validation": {}, "test": {}, "licence": LICENCE}


def save_weights(arrays: dict[str, np.ndarray], metadata: dict, path: str | Path) -> Path:
    """Write arrays (float32 kept, other floats cast to float32) and metadata to `path`, atomically."""
    path = Path(path)
    meta = {"format": FORMAT, "licence": LICENCE, **metadata}
    if "config" not in meta:
        raise ValueError("weights metadata needs the model 'config'")
    out = {}
    for name, value in arrays.items():
        if name == METADATA_KEY:
            raise ValueError(f"{METADATA_KEY!r} is reserved for the metadata")
        value = np.asarray(value)
        out[name] = value.astype(np.float32) if value.dtype.kind == "f" else value
    out[METADATA_KEY] = np.array(json.dumps(meta, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **out)
    os.replace(tmp, path)
    return path


def load_weights(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays by state_dict name, metadata). Numpy only; no pickle."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"weights file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"weights file {path} is not a readable .npz file: {exc}") from exc
    if METADATA_KEY not in arrays:
        raise InputError(f"weights file {path} has no {METADATA_KEY!r} entry: not a SasMamba weights file")
    metadata = json.loads(str(arrays.pop(METADATA_KEY)))
    if "config" not in metadata:
        raise InputError(f"weights file {path}: metadata names no model config")
    return arrays, metadata


def state_dict_arrays(model) -> dict[str, np.ndarray]:
    """A torch module's persistent state as numpy float32 arrays (torch side)."""
    return {name: t.detach().float().cpu().numpy() for name, t in model.state_dict().items()}


def export_model(model, path: str | Path, metadata: dict | None = None, config_name: str = "") -> Path:
    """Write a live `SasMamba` to a weights file (tests use this with freshly initialised models)."""
    meta = default_metadata(config_name, model.cfg.to_dict())
    meta.update(metadata or {})
    return save_weights(state_dict_arrays(model), meta, path)


def load_model_state(path: str | Path) -> tuple[dict, dict]:
    """A model's state_dict (torch tensors) from shipped weights (.npz) or a training checkpoint (.pt), and what the
    file says of its training: config (dict), epoch, step (None for .npz: not recorded), epoch_samples,
    gpu_seconds, best (validation P1 in mm). A checkpoint's moving average, when it kept one (`train --ema`), is
    the model it stands for. Imports torch."""
    import torch

    path = Path(path)
    if path.suffix == ".npz":
        arrays, meta = load_weights(path)
        checkpoint = meta.get("checkpoint") or {}
        info = {"config": meta["config"], "epoch": int(meta.get("epochs") or 0), "step": None, "epoch_samples": 0,
                "gpu_seconds": float(checkpoint.get("gpu_seconds") or 0.0), "best": checkpoint.get("best_val_p1_mm")}
        return {k: torch.from_numpy(v) for k, v in arrays.items()}, info
    state, model_state = _read_checkpoint(path)
    info = {"config": state["config"], "epoch": int(state.get("epoch", 0)), "step": int(state.get("step", 0)),
            "epoch_samples": int(state.get("epoch_samples", 0)), "gpu_seconds": float(state.get("gpu_seconds", 0.0)),
            "best": state.get("best")}
    return model_state, info


def _read_checkpoint(path: Path) -> tuple[dict, dict]:
    """A training checkpoint's whole dict (CPU tensors) and its model's state_dict without DDP's "module." prefixes:
    the moving average of the weights when training kept one (`train --ema`: validation chose the checkpoint by
    it), else the trained weights. Imports torch."""
    import torch

    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise InputError(f"{path} is not a training checkpoint of `python -m engine train` (no model or config)")
    return state, {k.removeprefix("module."): v for k, v in state.get("ema", state["model"]).items()}


def export_checkpoint(pt_path: str | Path, npz_path: str | Path, metadata: dict | None = None) -> Path:
    """Training checkpoint (.pt from `python -m engine train`) -> shipped weights (.npz). Imports torch."""
    state, model_state = _read_checkpoint(Path(pt_path))
    config = state["config"]
    from .config import CONFIGS

    named = [name for name, cfg in CONFIGS.items() if cfg.to_dict() == config]
    meta = default_metadata(named[0] if named else "", config)
    meta["epochs"] = state.get("epoch")
    meta["checkpoint"] = {"file": Path(pt_path).name, "step": state.get("step"), "best_val_p1_mm": state.get("best"),
                          "gpu_seconds": state.get("gpu_seconds")}
    args = state.get("args") or {}
    if "train_subjects" in args:
        meta["training_data"] = f"Human3.6M subjects {args['train_subjects']}"
    meta.update(metadata or {})
    arrays = {k: v.detach().float().cpu().numpy() for k, v in model_state.items()}
    return save_weights(arrays, meta, npz_path)
