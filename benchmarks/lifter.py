"""SasMamba-S lifting speed and memory on this machine (numpy runtime, torch on CPU), GPU figures carried over.

- forward throughput: 243-frame windows through `Lifter.predict_normalized` (no flip), frames/s = windows * 243 / s,
  at batch 1 and batched, with 1 and 2 threads (on a shared 2-core machine intra-op threads that wait on each
  other can be slower than one; the load average is recorded).
- lift throughput: a 30 fps clip through `Lifter.lift` end to end (resampling to 50 fps, overlapping windows,
  flip averaging: about 3.3 windows of work per 243 input frames at 30 fps), frames of the clip per second.
- peak memory of the numpy runtime for a 10-minute 30 fps clip (tracemalloc: numpy's allocations), as two measured
  parts: the whole pipeline on the full clip with a stand-in model (echoes x, y) (everything that grows with clip
  length) plus one batch through the real model (what the model adds; the same for every batch).
Weights: the shipped file if present, else a freshly initialised sasmamba-s (speed does not depend on the values).
Results go to reports/lifter.json.

    python -m benchmarks.lifter [--quick]
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from engine.paths import PROJECT_ROOT

from .common import machine, now, versions

REPORT = PROJECT_ROOT / "reports" / "lifter.json"
GOALS = {"torch_cpu_frames_per_s": 1000.0, "numpy_frames_per_s": 500.0, "cuda_frames_per_s": 200_000.0}


def weights_file(tmp: Path) -> tuple[Path, str]:
    from engine.weights import shipped_weights_path

    shipped = shipped_weights_path("sasmamba-s")
    if shipped.is_file():
        return shipped, "shipped"
    import torch

    from engine.model import SasMamba
    from engine.weights import export_model

    torch.manual_seed(0)
    return export_model(SasMamba("sasmamba-s"), tmp / "s.npz", config_name="sasmamba-s"), "random init"


def real_windows(n: int) -> np.ndarray:
    """n 243-frame windows of ground-truth 2D (S9, camera 0), normalised; random poses if ../shared is missing."""
    try:
        from engine import h36m
        from engine.representation import normalize_2d

        cam = h36m.load_cameras()["S9"][0]
        clip = normalize_2d(cam.project(h36m.load_poses(["S9"])["S9/Walking 1"]), cam.width, cam.height)
        return np.stack([clip[i * 100:i * 100 + 243] for i in range(n)])
    except Exception:
        return np.random.default_rng(0).standard_normal((n, 243, 17, 2)).astype(np.float32) * 0.3


def walking_clip_30fps(seconds: float):
    """A 30 fps Keypoints2D of `seconds`, looping S9 walking (ground-truth 2D) resampled from 50 fps."""
    from engine import h36m
    from engine.types import Keypoints2D

    cam = h36m.load_cameras()["S9"][0]
    uv = cam.project(h36m.load_poses(["S9"])["S9/Walking 1"])
    frames = int(seconds * 30)
    src = np.arange(frames) * (50 / 30) % (len(uv) - 1)
    i0 = np.floor(src).astype(int)
    frac = (src - i0)[:, None, None]
    xy = uv[i0] * (1 - frac) + uv[i0 + 1] * frac
    return Keypoints2D(xy=xy, conf=np.ones(xy.shape[:2]), fps=30.0, width=cam.width, height=cam.height)


def forward_speed(lifter, windows: np.ndarray, repeats: int) -> dict:
    lifter.predict_normalized(windows[:1])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        lifter.predict_normalized(windows)
        times.append(time.perf_counter() - start)
    best, median = min(times), float(np.median(times))
    return {"windows": len(windows), "median_s": median, "frames_per_s": len(windows) * 243 / median,
            "best_frames_per_s": len(windows) * 243 / best}


def lift_speed(lifter, clip) -> dict:
    start = time.perf_counter()
    pose = lifter.lift(clip)
    seconds = time.perf_counter() - start
    return {"clip_frames": clip.num_frames, "fps": clip.fps, "seconds": seconds,
            "clip_frames_per_s": clip.num_frames / seconds, "finite": bool(np.isfinite(pose.joints_mm).all())}


def peak_memory_10min(weights: Path, batch_windows: int) -> dict:
    from engine.lifter import Lifter

    clip = walking_clip_30fps(600.0)
    lifter = Lifter.load(weights=weights, backend="numpy", threads=1)
    real = lifter._predict
    # pipeline only (windows, blending, resampling, mm): a stand-in model that echoes x, y with zero depth
    lifter._predict = lambda x: np.concatenate([x, np.zeros(x.shape[:3] + (1,), np.float32)], axis=-1)
    tracemalloc.start()
    pose = lifter.lift(clip)
    _, pipeline_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    windows = real_windows(batch_windows)
    tracemalloc.start()
    real(windows)
    _, model_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"clip": "10 min at 30 fps", "frames": clip.num_frames, "output_frames": pose.num_frames,
            "pipeline_peak_mb": pipeline_peak / 1e6, "model_batch_peak_mb": model_peak / 1e6,
            "model_batch_windows": batch_windows, "total_peak_mb": (pipeline_peak + model_peak) / 1e6,
            "how": "tracemalloc; pipeline on the full clip with a stand-in model + one batch through the real model"}


def gpu_figures() -> dict | None:
    path = PROJECT_ROOT / "reports" / "gpu_check.json"
    if not path.exists():
        return None
    gpu = json.loads(path.read_text())
    keep = {k: v for k, v in gpu.items() if k.startswith(("infer_", "train_", "card", "torch", "machine"))}
    keep["note"] = ("measured on the GPU machines (reports/gpu_check.json: card, infer_* and train_*; the *_triton "
                    "rates: reports/gpu_scan_*.json, triton_card), not on this machine")
    keep.update(triton_figures())
    return keep


PRODUCT_DEFORM = "triton"  # the deformable conv the cuda backend runs beside the Triton scan


def _plain_triton_rates(scan: dict) -> dict[str, float]:
    """Plain-forward frames/s of the Triton-scan model per batch: graph timings are left out, since session 5's
    were wrong and only the files' notes tell which later ones are valid."""
    return {f"batch{b}": scan[f"model_batch{b}_triton"]["frames_per_s"] for b in scan.get("batches", [])
            if "frames_per_s" in scan.get(f"model_batch{b}_triton", {})}


def triton_figures() -> dict:
    """The cuda backend's model rate: the best plain-forward Triton-scan run among reports/gpu_scan_*.json with the
    product's kernels (Triton scan + Triton deformable conv), with the card that gave it, which need not be
    gpu_check.json's. Runs with torchvision's deformable conv stay visible apart: they are not the product now."""
    best: tuple[str, dict[str, float], str] | None = None
    other: dict[str, dict] = {}
    for path in sorted((PROJECT_ROOT / "reports").glob("gpu_scan_*.json")):
        scan = json.loads(path.read_text())
        rates = _plain_triton_rates(scan)
        if not rates:
            continue
        card = str(scan.get("device", "unknown card")).split(" (")[0]  # the card, without the run's circumstances
        # files from before the Triton deformable conv do not say: torchvision's ran
        if scan.get("model_triton_deform", "torchvision") == PRODUCT_DEFORM:
            if best is None or max(rates.values()) > max(best[1].values()):
                best = (path.name, rates, card)
        else:
            other[path.stem] = {"card": card, "deform_conv": scan.get("model_triton_deform", "torchvision"),
                                **{f"frames_per_s_{b}_bf16": v for b, v in rates.items()}}
    out: dict = {}
    if best:
        name, rates, card = best
        out.update({f"infer_frames_per_s_{b}_bf16_triton": v for b, v in rates.items()})
        out["triton_card"] = card
        out["triton_source"] = f"reports/{name}: Triton scan + Triton deformable conv, bf16 autocast, plain forwards"
    if other:
        out["triton_scan_with_torchvision_deform"] = other
    return out


def gpu_best(gpu: dict | None) -> tuple[float | None, str | None]:
    """The headline GPU rate (the best infer_frames* figure) and the card that gave it."""
    rates = {k: v for k, v in (gpu or {}).items() if k.startswith("infer_frames")}
    if not rates:
        return None, (gpu or {}).get("card")
    key = max(rates, key=rates.get)
    return rates[key], gpu.get("triton_card") if key.endswith("_triton") else gpu.get("card")


def gpu_headline(gpu: dict | None) -> dict:
    """The headline's GPU entries from `gpu_figures()`: the best rate, rounded, and its card."""
    rate, card = gpu_best(gpu)
    return {"gpu_frames_per_s": rate and round(rate), "gpu_card": card}


def run(quick: bool = False) -> dict:
    from engine.lifter import Lifter, available_backends

    repeats = 1 if quick else 2
    from engine import native

    result: dict = {"machine": machine(), "versions": versions(), "date": now(), "quick": quick,
                    "native_kernels": native.instruction_set()}  # the C kernels' build in use, None: not built
    with tempfile.TemporaryDirectory() as tmp:
        weights, source = weights_file(Path(tmp))
        result["weights"] = source
        windows = real_windows(4 if quick else 8)
        numpy_runs, torch_runs = {}, {}
        for threads, batch, n in ((1, 1, 2), (2, 1, 4), (2, 2, 4)):
            lifter = Lifter.load(weights=weights, backend="numpy", threads=threads, batch=batch)
            numpy_runs[f"threads{threads}_batch{batch}"] = forward_speed(lifter, windows[:n], repeats)
        if "torch" in available_backends():
            for threads, batch, n in ((1, 1, 2), (1, 8, 8), (2, 8, 8)):
                if quick and batch > 4:
                    batch, n = 4, 4
                lifter = Lifter.load(weights=weights, backend="torch", threads=threads, batch=batch)
                torch_runs[f"threads{threads}_batch{batch}"] = forward_speed(lifter, windows[:n], repeats)
        result["forward_numpy"] = numpy_runs
        result["forward_torch_cpu"] = torch_runs
        clip = walking_clip_30fps(10.0 if quick else 30.0)
        result["lift_numpy"] = lift_speed(Lifter.load(weights=weights, backend="numpy", threads=2, batch=2), clip)
        if torch_runs:
            result["lift_torch_cpu"] = lift_speed(Lifter.load(weights=weights, backend="torch", threads=1, batch=8),
                                                  clip)
        result["memory_numpy"] = peak_memory_10min(weights, 2)
    result["process_max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    result["gpu"] = gpu_figures()
    best_numpy = max(r["frames_per_s"] for r in numpy_runs.values())
    best_torch = max((r["frames_per_s"] for r in torch_runs.values()), default=None)
    result["headline"] = {
        "numpy_frames_per_s": round(best_numpy, 1), "torch_cpu_frames_per_s": best_torch and round(best_torch, 1),
        **gpu_headline(result["gpu"]),
        "lift_numpy_clip_frames_per_s": round(result["lift_numpy"]["clip_frames_per_s"], 1),
        "lift_torch_clip_frames_per_s": round(result["lift_torch_cpu"]["clip_frames_per_s"], 1)
        if "lift_torch_cpu" in result else None,
        "memory_10min_30fps_numpy_mb": round(result["memory_numpy"]["total_peak_mb"], 1),
        "goals": GOALS, "load_avg_1min": result["machine"]["load_avg_1min"], "weights": source,
        "native_kernels": result["native_kernels"],
    }
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    out = run(quick="--quick" in sys.argv[1:])
    print(json.dumps(out["headline"], indent=1))
