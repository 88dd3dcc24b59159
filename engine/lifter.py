"""`engine.Lifter`: 2D keypoints of any length and frame rate -> root-relative 3D joints in millimetres.

    lifter = Lifter.load()                      # sasmamba-s, shipped weights, best backend available
    pose = lifter.lift(keypoints)               # Pose3D, camera axes, root-relative, mm

Backends: "cuda" (torch on the GPU with the Triton stride scan, engine/triton_scan.py, or mamba-ssm's scan when
triton is missing or SASMAMBA_TRITON=0; bf16 autocast unless `precision="fp32"`), "torch" (our scan; CPU unless
`device` says otherwise), "numpy" (engine/numpy_runtime.py: no torch at all, what a stock Blender runs). torch is
imported only when a torch backend is chosen or probed, never at module import.

What `lift` does, in order: checks the input (clear `InputError`s before any model call), fills missing joints
(NaN coordinates) by linear interpolation over time, normalises pixels by the image width, resamples to the
training rate (50 fps) when the clip's rate differs, cuts overlapping windows of the model's length (shorter clips
padded by repeating the last frame), predicts them in batches with flip averaging, cross-fades the overlaps,
resamples back to the clip's own frame times, and turns the "2.5D" output into millimetres with one
weak-perspective scale per clip from the skeleton's bone lengths (engine/representation.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import SasMambaConfig, get_config
from .errors import InputError
from .representation import MEAN_BONE_LENGTH_SUM_MM, normalize_2d, to_mm_weak
from .skeleton import JOINT_NAMES, NUM_JOINTS
from .types import Keypoints2D, Pose3D
from .weights import load_weights, shipped_weights_path
from .windows import predict_sequences, window_starts

TRAINING_FPS = 50.0
BACKENDS = ("cuda", "torch", "numpy")
PRECISIONS = ("auto", "bf16", "fp32")
Progress = Callable[[int, int | None], None]


# ------------------------------------------------------------------------------------------------ backend discovery
@lru_cache(maxsize=1)
def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:  # ImportError, or a broken install: either way the torch backends are unavailable
        return False
    return True


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """torch with a CUDA device and a GPU scan: triton (unless SASMAMBA_TRITON=0) or mamba-ssm."""
    if not torch_available():
        return False
    from .scan import gpu_scan_path

    return gpu_scan_path() in ("triton", "mamba-ssm")


def available_backends() -> list[str]:
    return [b for b, ok in (("cuda", cuda_available()), ("torch", torch_available()), ("numpy", True)) if ok]


def pick_backend(backend: str = "auto") -> str:
    if backend == "numpy":  # never probes torch: the numpy path must not import it
        return backend
    if backend == "auto":
        return available_backends()[0]
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use auto, {', '.join(BACKENDS)}")
    if backend not in available_backends():
        need = {"cuda": "torch with CUDA and triton or mamba-ssm", "torch": "torch"}[backend]
        raise RuntimeError(f"backend {backend!r} needs {need}, which is not available here; "
                           f"available: {', '.join(available_backends())}")
    return backend


@lru_cache(maxsize=1)
def keep_large_blocks_in_heap() -> bool:
    """glibc returns every large freed block to the OS and page-faults it back on the next allocation; a CPU forward
    allocates many such temporaries (~20 % of its time went to the kernel). Raising the mmap and trim thresholds
    keeps them in the heap. Process-wide, Linux/glibc only; called for the torch CPU backend (not in Blender)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 256 << 20)) and bool(libc.mallopt(m_trim_threshold, 512 << 20))
    except (OSError, AttributeError):
        return False


def default_torch_threads() -> int:
    """Threads for the torch CPU backend (each runs a share of the batch): $SASMAMBA_TORCH_THREADS, else all cores
    but one (at most 8); one core is left to everything else (Blender, a shared machine)."""
    env = os.environ.get("SASMAMBA_TORCH_THREADS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(8, (os.cpu_count() or 2) - 1))


# ---------------------------------------------------------------------------------------------------- predictors
class _NumpyPredictor:
    def __init__(self, arrays: dict, cfg: SasMambaConfig, threads: int | None, batch: int) -> None:
        from .numpy_runtime import NumpySasMamba

        self.model = NumpySasMamba(arrays, cfg.to_dict(), threads=threads)
        self.batch = batch

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.model.forward(x, batch=self.batch)


class _TorchPredictor:
    def __init__(self, arrays: dict, cfg: SasMambaConfig, device: str, scan: str, threads: int | None,
                 batch: int, bf16: bool = False) -> None:
        import torch

        from .model import SasMamba

        self.torch = torch
        self.device = torch.device(device)
        self.model = SasMamba(cfg)
        state = {name: torch.from_numpy(np.asarray(value)) for name, value in arrays.items()}
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise InputError(f"weights do not fit config {cfg.to_dict()}: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")
        self.model.to(self.device).eval()
        self.model.set_scan_backend(scan)
        self.threads = threads
        self.batch = batch
        self.bf16 = bf16 and self.device.type == "cuda"

    @contextlib.contextmanager
    def _one_intra_op_thread(self):
        # CPU parallelism comes from splitting the batch over Python threads (`_forward`), each running its part
        # with one intra-op thread: the scan is thousands of small ops, and intra-op threads meet at a barrier
        # after each (on a shared 2-core machine 2 intra-op threads ran 3x slower than 1; 2 Python threads ran
        # 1.8x faster). torch releases the GIL inside every op. The setting is process-wide, so it is restored.
        torch = self.torch
        if self.device.type != "cpu":
            yield
            return
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        # bf16 autocast on CUDA unless fp32 was asked for. No CUDA graph replay: with torchvision's deformable conv
        # a replayed forward is wrong (session 5: regression P1 416 mm against 24.3 plain; 2026-11-27 H200 bench:
        # graph_max_abs 0.74); with the Triton one it is right (0.006-0.014, bf16 noise) but gains only ~1%, not
        # worth a second code path (nor a fallback to torchvision's conv that would silently break it)
        torch = self.torch
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            xb = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
            return self.model(xb).float().cpu().numpy()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        batches = [x[i:i + self.batch] for i in range(0, len(x), self.batch)]
        workers = 1 if self.device.type != "cpu" else max(1, self.threads or 1)
        if workers == 1:
            with self._one_intra_op_thread():
                return np.concatenate([self._forward(b) for b in batches])
        parts = [part for b in batches for part in np.array_split(b, min(workers, len(b)))]
        with self._one_intra_op_thread(), ThreadPoolExecutor(workers) as pool:
            return np.concatenate(list(pool.map(self._forward, parts)))


# ---------------------------------------------------------------------------------------------------- input prep
def fill_missing(xy: np.ndarray, source: str = "keypoints") -> tuple[np.ndarray, int]:
    """Linear interpolation over time of every non-finite joint coordinate (edges hold the nearest seen value).
    Returns the filled (T, 17, 2) array and how many joint-frames were filled. InputError if a joint is never seen."""
    xy = np.array(xy, dtype=np.float64)
    seen = np.isfinite(xy).all(-1)  # (T, 17)
    if not seen.any():
        raise InputError(f"{source}: no finite joint position in any frame")
    never = [JOINT_NAMES[j] for j in range(xy.shape[1]) if not seen[:, j].any()]
    if never:
        raise InputError(f"{source}: joint(s) {', '.join(never)} never seen in any frame; cannot lift")
    filled = int((~seen).sum())
    if filled:
        frames = np.arange(len(xy))
        for j in np.flatnonzero(~seen.all(0)):
            ok = seen[:, j]
            for c in range(2):
                xy[:, j, c] = np.interp(frames, frames[ok], xy[ok, j, c])
    return xy.astype(np.float32), filled


def resample(x: np.ndarray, src_fps: float, dst_fps: float, count: int) -> np.ndarray:
    """Linear interpolation in time: `count` frames at dst_fps from frames at src_fps (times from 0; the last
    source frame is held past the end)."""
    pos = np.arange(count, dtype=np.float64) * (src_fps / dst_fps)
    pos = np.minimum(pos, len(x) - 1)
    i0 = np.minimum(np.floor(pos).astype(np.int64), len(x) - 1)
    i1 = np.minimum(i0 + 1, len(x) - 1)
    frac = (pos - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return (x[i0] * (1 - frac) + x[i1] * frac).astype(np.float32)


def resampled_length(frames: int, fps: float, target_fps: float = TRAINING_FPS) -> int:
    """Frames at target_fps that cover the clip's whole duration (the last one at or just past its end)."""
    return max(2, int(np.ceil((frames - 1) * target_fps / fps - 1e-6)) + 1)


@dataclass
class _Prepared:
    x: np.ndarray  # (M, 17, 2) normalised, at the model's rate
    frames: int  # the clip's own frame count
    fps: float
    resampled: bool
    filled: int


def check_keypoints(kp: Keypoints2D, what: str = "keypoints") -> None:
    """Everything `lift` refuses, as InputError, before any model work."""
    if not isinstance(kp, Keypoints2D):
        raise InputError(f"{what}: expected engine.Keypoints2D, got {type(kp).__name__}")
    xy = np.asarray(kp.xy)
    if xy.ndim != 3 or xy.shape[1:] != (NUM_JOINTS, 2):
        raise InputError(f"{what}: xy must have shape (T, 17, 2), got {xy.shape}")
    if xy.shape[0] < 2:
        raise InputError(f"{what}: needs at least 2 frames to lift, got {xy.shape[0]}")
    if not (kp.width > 0 and kp.height > 0):
        raise InputError(f"{what}: image size {kp.width}x{kp.height} is empty")
    if not (np.isfinite(kp.fps) and kp.fps > 0):
        raise InputError(f"{what}: frame rate {kp.fps!r} is not a positive number")


def prepare(kp: Keypoints2D, what: str = "keypoints") -> _Prepared:
    check_keypoints(kp, what)
    xy, filled = fill_missing(kp.xy, what)
    x = normalize_2d(xy, kp.width, kp.height)
    if not np.isfinite(x).all():
        raise InputError(f"{what}: joint positions are not finite after normalisation")
    frames = len(x)
    if abs(kp.fps - TRAINING_FPS) > 1e-6:
        x = resample(x, kp.fps, TRAINING_FPS, resampled_length(frames, kp.fps))
        return _Prepared(x, frames, kp.fps, True, filled)
    return _Prepared(x, frames, kp.fps, False, filled)


# -------------------------------------------------------------------------------------------------------- Lifter
class Lifter:
    """A loaded SasMamba lifter. Build it with `Lifter.load(...)`."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], config: SasMambaConfig, metadata: dict,
                 backend: str, weights_path: Path | None, *, stride: int | None = None, batch: int = 64,
                 precision: str = "fp32") -> None:
        self._predict = predict
        self.precision = precision  # what the model runs in: "fp32" or "bf16" (autocast)
        self.config = config
        self.metadata = metadata
        self.backend = backend
        self.weights_path = weights_path
        overlap = config.frames // 3
        self.stride = int(stride) if stride else config.frames - overlap
        if not 1 <= self.stride <= config.frames:
            raise ValueError(f"window stride must be in 1..{config.frames}, got {stride}")
        self.batch = max(1, int(batch))  # windows handed to the backend per call (it may split them further)

    @classmethod
    def load(cls, config: str = "sasmamba-s", backend: str = "auto", weights: str | Path | None = None, *,
             device: str | None = None, threads: int | None = None, stride: int | None = None,
             batch: int | None = None, precision: str = "auto") -> Lifter:
        """Weights default to the shipped file of `config` (engine/weights/<config>_h36m.npz); the file's own
        config wins over `config`. backend: auto (cuda > torch > numpy), cuda, torch or numpy.
        threads: CPU threads (torch: each batch split over that many threads, default `default_torch_threads()`;
        numpy: windows computed in parallel by Python threads, default min(4, cores)).
        precision: "auto" (bf16 autocast on a CUDA device; float32 elsewhere), "fp32", or "bf16" (CUDA only).
        bf16 is the fast path but not free: on the regression subset it cost 0.65 mm P1 (24.91 against 24.26 mm in
        fp32, Triton path, an H200 on 2026-11-27; 0.9 mm on the mamba-ssm path), so "fp32" where that matters."""
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
        backend = pick_backend(backend)
        on_cuda = backend != "numpy" and (backend == "cuda" or (device or "cpu").startswith("cuda"))
        if precision == "bf16" and not on_cuda:
            raise ValueError("precision 'bf16' needs a CUDA device (backend 'cuda', or device='cuda')")
        bf16 = on_cuda and precision != "fp32"
        path = Path(weights) if weights is not None else shipped_weights_path(config)
        if not path.is_file():
            hint = "" if weights is not None else (f" (no trained weights are shipped for {config!r} yet; pass "
                                                   "weights=PATH to a .npz from engine.weights.export_checkpoint)")
            raise InputError(f"weights file {path} does not exist{hint}")
        arrays, metadata = load_weights(path)
        cfg = get_config(metadata["config"])
        if backend == "numpy":
            predict = _NumpyPredictor(arrays, cfg, threads, batch or 4)
        else:
            if backend == "cuda":
                device = device or "cuda"
            elif device is None:
                device = "cpu"
            if device == "cpu":
                keep_large_blocks_in_heap()
                if threads is None:
                    threads = default_torch_threads()
            # cuda: the model's "auto" scan is the Triton one (mamba-ssm with SASMAMBA_TRITON=0 or without triton)
            predict = _TorchPredictor(arrays, cfg, device, "auto" if backend == "cuda" else "torch", threads,
                                      batch or (64 if backend == "cuda" else 8), bf16=bf16)
        return cls(predict, cfg, metadata, backend, path, stride=stride,
                   precision="bf16" if bf16 else "fp32")

    # ------------------------------------------------------------------------------------------------ model calls
    def predict_normalized(self, x: np.ndarray) -> np.ndarray:
        """(n, T <= frames, 17, 2) normalised 2D -> (n, T, 17, 3) root-relative 2.5D, one forward per window."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[2:] != (NUM_JOINTS, 2) or not 1 <= x.shape[1] <= self.config.frames:
            raise InputError(f"predict_normalized takes (n, T <= {self.config.frames}, 17, 2), got {x.shape}")
        if not np.isfinite(x).all():
            raise InputError("predict_normalized: input has NaN or infinite values")
        if len(x) == 0:
            return np.zeros(x.shape[:3] + (3,), np.float32)
        return np.asarray(self._predict(x), dtype=np.float32)

    def _predict_clips(self, clips: list[np.ndarray], flip_tta: bool, progress: Progress | None) -> list[np.ndarray]:
        size = self.config.frames
        total = sum(len(window_starts(len(c), size, self.stride)) for c in clips) * (2 if flip_tta else 1)
        done = 0
        if progress:
            progress(0, total)

        def predict(x: np.ndarray) -> np.ndarray:
            nonlocal done
            out = self.predict_normalized(x)
            done += len(x)
            if progress:
                progress(done, total)
            return out

        return predict_sequences(predict, clips, size, self.stride, flip=flip_tta, batch=self.batch)

    # ------------------------------------------------------------------------------------------------- lifting
    def lift(self, kp: Keypoints2D, *, flip_tta: bool = True, progress: Progress | None = None,
             bone_length_sum_mm: float | None = None) -> Pose3D:
        """One clip -> Pose3D (camera axes x right, y down, z away; root-relative; mm; the clip's own frames).
        bone_length_sum_mm: the performer's summed 16 bone lengths if known (else the mean H36M performer)."""
        return self.lift_many([kp], flip_tta=flip_tta, progress=progress, bone_length_sum_mm=bone_length_sum_mm)[0]

    def lift_many(self, kps: Sequence[Keypoints2D], *, flip_tta: bool = True, progress: Progress | None = None,
                  bone_length_sum_mm: float | None = None) -> list[Pose3D]:
        """Many clips, their windows batched together through the model."""
        if bone_length_sum_mm is not None and not (np.isfinite(bone_length_sum_mm) and bone_length_sum_mm > 0):
            raise InputError(f"bone_length_sum_mm must be a positive number, got {bone_length_sum_mm!r}")
        prepared = [prepare(kp, getattr(kp, "source", "") or f"clip {i}") for i, kp in enumerate(kps)]
        preds = self._predict_clips([p.x for p in prepared], flip_tta, progress)
        poses = []
        for kp, prep, pred in zip(kps, prepared, preds, strict=True):
            if prep.resampled:
                pred = resample(pred, TRAINING_FPS, prep.fps, prep.frames)
            pred = pred - pred[:, :1]  # trained to be root-relative; make it exact
            joints, scale = to_mm_weak(pred, bone_length_sum_mm or MEAN_BONE_LENGTH_SUM_MM)
            meta = {"lifter": self.metadata.get("config_name") or "", "backend": self.backend,
                    "weights": str(self.weights_path) if self.weights_path else None, "flip_tta": flip_tta,
                    "precision": self.precision, "mm_per_unit": scale, "filled_joint_frames": prep.filled,
                    "resampled_from_fps": prep.fps if prep.resampled else None, "window": self.config.frames,
                    "stride": self.stride}
            poses.append(Pose3D(joints_mm=joints, fps=kp.fps, space="camera", source=kp.source, meta=meta))
        return poses
