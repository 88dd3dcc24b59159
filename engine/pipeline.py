"""The whole clip pipeline without bpy: source -> Keypoints2D -> Pose3D -> clean Pose3D -> RigAnimation.

The add-on's operators, the batch importer, the headless CLI and the demo all call `run_pipeline`; it runs in a
worker thread inside Blender, so it only touches numpy objects, polls `cancel()` between (and inside) stages, and
reports through `progress(stage, fraction)`. Keypoints are cached per clip so re-runs with other settings skip
detection.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clean2d import clean_keypoints
from .cleanup import clean_pose
from .errors import Cancelled, InputError
from .types import Keypoints2D, Pose3D

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})
KEYPOINT_SUFFIXES = frozenset({".json", ".csv"})
CACHE_SUFFIX = ".kp.json"  # engine.keypoint_io's cache format
CACHE_VERSION = "kp1"  # bump when detection changes so stale caches are ignored

# (stage, share of the progress bar): detection dominates on video
STAGES: tuple[tuple[str, float], ...] = (
    ("detect", 0.55), ("clean2d", 0.03), ("lift", 0.30), ("cleanup", 0.04), ("retarget", 0.08))

Progress = Callable[[str, float], None]
Report = Callable[[set[str], str], None]


@dataclass
class PipelineResult:
    keypoints: Keypoints2D
    pose: Pose3D | None = None  # world space, after clean-up
    animation: Any = None  # retarget.RigAnimation when a rig was given
    clean_report: Any = None  # engine.clean2d.CleanReport
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    cache_hit: bool = False

    def summary(self) -> list[str]:
        """Short lines for the panel and the CLI."""
        kp = self.keypoints
        lines = [f"{kp.num_frames} frames at {kp.fps:g} fps" + (" (keypoints from cache)" if self.cache_hit else "")]
        rep = self.clean_report
        if rep is not None:
            long_gaps = len(rep.long_gaps) if isinstance(rep.long_gaps, list | tuple) else rep.long_gaps
            lines.append(f"detection {100 * rep.detection_rate:.0f}%, gaps bridged {rep.gaps_filled}, "
                         f"long gaps {long_gaps}, mean confidence {rep.mean_conf:.2f}")
        lines.append("stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        lines += [f"warning: {w}" for w in self.warnings]
        return lines


def clip_name(path: str | os.PathLike) -> str:
    """The clip's name for its Action and exported files: the file name without its suffix(es)."""
    name = Path(path).name
    for suffix in (CACHE_SUFFIX, *sorted(VIDEO_SUFFIXES | KEYPOINT_SUFFIXES)):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return Path(path).stem


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def default_cache_dir() -> Path:
    """Cache outside Blender's extension folder: $SASMAMBA_CACHE, else the user cache dir, else the temp dir."""
    if env := os.environ.get("SASMAMBA_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    try:
        path = Path(base) / "sasmamba_mocap"
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        return Path(tempfile.gettempdir()) / "sasmamba_mocap"


def cache_path(source: str | os.PathLike, cache_dir: str | os.PathLike) -> Path:
    """One cache file per clip: file name + size + modification time, so an edited video is detected again and a
    copy that kept its time stamp (cp -p, a synced folder) is not."""
    src = Path(source).resolve()
    st = src.stat()
    key = hashlib.sha1(f"{CACHE_VERSION}|{src.name}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{clip_name(src)}-{key}{CACHE_SUFFIX}"


def _check_cancel(cancel: Callable[[], bool] | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("cancelled by the user")


def load_source(source: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None,
                progress: Progress | None = None, cancel: Callable[[], bool] | None = None) -> tuple[Keypoints2D, bool]:
    """Keypoints of a video (detected, cached) or a keypoint file. Returns (keypoints, came_from_cache)."""
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if not is_video(path) and path.suffix.lower() not in KEYPOINT_SUFFIXES:
        raise InputError(f"{path}: not a video ({', '.join(sorted(VIDEO_SUFFIXES))}) "
                         f"nor a keypoint file ({', '.join(sorted(KEYPOINT_SUFFIXES))})")
    from . import keypoint_io

    if not is_video(path):
        return keypoint_io.load_keypoints(path), False
    cached = cache_path(path, cache_dir) if cache_dir is not None else None
    if cached is not None and cached.is_file():
        try:
            return keypoint_io.load_keypoints(cached), True
        except Exception:  # a damaged cache file is only a cache miss
            cached.unlink(missing_ok=True)
    from .detect import detect_video

    def frame_progress(done: int, total: int | None) -> None:
        if progress is not None:
            progress("detect", done / total if total else 0.0)

    kp = detect_video(path, progress=frame_progress, cancel=cancel)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            keypoint_io.save_keypoints(kp, cached)
        except OSError:
            pass  # a read-only cache never stops a run
    return kp, False


_LIFTERS: dict[tuple[str, str], Any] = {}
_LIFTERS_LOCK = threading.Lock()


def get_lifter(config: str = "sasmamba-s", backend: str = "auto") -> Any:
    """Loaded lifters are kept for the session: loading weights is slower than lifting a short clip."""
    with _LIFTERS_LOCK:
        key = (config, backend)
        if key not in _LIFTERS:
            from .lifter import Lifter

            _LIFTERS[key] = Lifter.load(config=config, backend=backend)
        return _LIFTERS[key]


def run_pipeline(source: str | os.PathLike | Keypoints2D, *, rig: Any = None, rig_map: Any = None,
                 preset: str = "film", root_motion: str = "on", backend: str = "auto", config: str = "sasmamba-s",
                 flip_tta: bool = True, pin_feet: bool = True, cache_dir: str | os.PathLike | None = None,
                 progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
                 report: Report | None = None) -> PipelineResult:
    """Run every stage that exists on one clip; with `rig` and `rig_map` also retarget to a RigAnimation.

    Raises InputError for bad input (message names the file), Cancelled when `cancel()` turns true.
    """
    offsets, start = {}, 0.0
    for name, share in STAGES:
        offsets[name] = (start, share)
        start += share

    def stage_progress(stage: str, fraction: float) -> None:
        if progress is not None:
            begin, share = offsets[stage]
            progress(stage, min(1.0, begin + share * max(0.0, min(1.0, fraction))))

    def say(level: str, message: str) -> None:
        if report is not None:
            report({level}, message)

    timings: dict[str, float] = {}
    tick = time.perf_counter()

    def lap(stage: str, check: bool = True) -> None:
        nonlocal tick
        now = time.perf_counter()
        timings[stage] = now - tick
        tick = now
        stage_progress(stage, 1.0)
        if check:  # a finished clip is never thrown away: no check after the last stage
            _check_cancel(cancel)

    _check_cancel(cancel)
    if isinstance(source, Keypoints2D):
        kp, hit = source, False
    else:
        stage_progress("detect", 0.0)
        kp, hit = load_source(source, cache_dir=cache_dir, progress=stage_progress, cancel=cancel)
    if kp.num_frames < 2:
        raise InputError(f"{kp.source or source}: only {kp.num_frames} frame(s); need at least 2")
    lap("detect")
    result = PipelineResult(keypoints=kp, cache_hit=hit, timings=timings)

    kp, result.clean_report = clean_keypoints(kp)
    result.keypoints = kp
    result.warnings += list(result.clean_report.warnings)
    lap("clean2d")

    lifter = get_lifter(config, backend)
    pose = lifter.lift(kp, flip_tta=flip_tta, progress=lambda d, t=None: stage_progress("lift", d / t if t else d))
    lap("lift")

    result.pose = clean_pose(pose, kp, preset=preset, root_motion=root_motion)
    lap("cleanup")

    return _finish_retarget(result, rig, rig_map, pin_feet, lap, say)


def _finish_retarget(result: PipelineResult, rig: Any, rig_map: Any, pin_feet: bool,
                     lap: Callable[..., None], say: Callable[[str, str], None]) -> PipelineResult:
    if rig is None or rig_map is None:
        return result
    retarget = retarget_module()
    result.animation = retarget.retarget_pose(result.pose, rig, rig_map, pin_feet=pin_feet)
    lap("retarget", check=False)
    for w in result.warnings:
        say("WARNING", w)
    return result


def retarget_module() -> Any:
    """`retarget` is engine's sibling: a subpackage of the extension, or top-level in the source tree."""
    try:
        from .. import retarget  # type: ignore[attr-defined]
    except (ImportError, ValueError):
        import retarget  # type: ignore[no-redef]
    return retarget
