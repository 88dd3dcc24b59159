"""What every benchmark records beside its figures: the machine, the versions, repeated timings."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path


def machine() -> dict:
    """CPU model and cores of this machine (GPU figures carry their own card name)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": None, "platform": platform.platform(),
            "python": platform.python_version(), "load_avg_1min": load}


def versions() -> dict:
    """Versions of the packages the pipeline runs on (those importable here)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("numpy", "scipy", "torch", "bpy", "mediapipe", "opencv-contrib-python"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def timed_runs(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> dict:
    """Median and spread of `repeats` timed calls of fn, in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": repeats}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_shared_clip(name: str = "pose_1.mp4", size: tuple[int, int] | None = None) -> list:
    """Every frame (BGR) of a clip in ../shared/media, optionally resized to (width, height). For benchmarks that
    loop it into a longer clip in a temporary folder; nothing derived from it is kept."""
    import cv2

    from engine.paths import shared_path

    cap = cv2.VideoCapture(str(shared_path("media", name)))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR) if size else frame)
    cap.release()
    return frames
