"""Read a video file frame by frame with OpenCV, with metadata that can be trusted.

Container headers lie in three ways we care about: the frame rate can be 0 or NaN, the frame count is an estimate
(duration x fps) that is often off, and phone videos store portrait footage as landscape plus a rotation flag.
`probe_video` checks the file and settles fps and rotation once; `iter_frames` streams upright BGR frames (never
the whole clip in memory) and counts the frames it really decodes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

MIN_PLAUSIBLE_FPS = 1.0  # below this a header rate is a broken header (0, or a 0 timescale), not a time-lapse
MAX_PLAUSIBLE_FPS = 1000.0
_TIMESTAMP_PROBE_FRAMES = 32


@dataclass(frozen=True)
class VideoInfo:
    """What we know about a video before decoding it all.

    width, height: upright frame size in pixels (after the rotation flag is applied).
    fps: frames per second; fps_source says where it came from: "container", "timestamps" or "user".
    frame_count_header: the container's estimate, None when missing; only used for progress and to spot truncation.
    rotation: clockwise degrees (0, 90, 180, 270) applied to each decoded frame to make it upright.
    """

    path: Path
    width: int
    height: int
    fps: float
    fps_source: str
    frame_count_header: int | None
    rotation: int


def _open(path: Path):
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise InputError(f"{path}: not a readable video (FFmpeg could not open it; is it a video file, complete?)")
    # We rotate ourselves from the metadata, so the result does not depend on OpenCV's auto-rotate default.
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    return cap


def _rotation_of(cap) -> int:
    import cv2

    meta = cap.get(cv2.CAP_PROP_ORIENTATION_META)
    if not math.isfinite(meta):
        return 0
    rotation = int(round(meta)) % 360
    return rotation if rotation in (90, 180, 270) else 0


def rotate_upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a clockwise rotation of 0/90/180/270 degrees (the container's display rotation)."""
    import cv2

    if rotation == 90:
        return cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE)
    if rotation == 180:
        return cv2.rotate(frame, cv2.ROTATE_180)
    if rotation == 270:
        return cv2.rotate(frame, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return frame


def plausible_fps(value: float) -> bool:
    """A frame rate we can believe: finite and within [MIN_PLAUSIBLE_FPS, MAX_PLAUSIBLE_FPS]."""
    return math.isfinite(value) and MIN_PLAUSIBLE_FPS <= value <= MAX_PLAUSIBLE_FPS


def _fps_from_timestamps(cap) -> float | None:
    """Median frame interval of the first frames' presentation timestamps (cap must be at frame 0)."""
    import cv2

    stamps = []
    for _ in range(_TIMESTAMP_PROBE_FRAMES):
        if not cap.grab():
            break
        stamps.append(cap.get(cv2.CAP_PROP_POS_MSEC))
    if len(stamps) < 2:
        return None
    steps = np.diff(np.asarray(stamps, dtype=np.float64))
    steps = steps[np.isfinite(steps) & (steps > 0)]
    if steps.size == 0:
        return None
    fps = 1000.0 / float(np.median(steps))
    return fps if plausible_fps(fps) else None


def probe_video(path: str | os.PathLike, *, fps: float | None = None) -> VideoInfo:
    """Open `path`, decode its first frame and settle size, rotation and fps; InputError naming the file if unusable.

    fps: override for files whose header and timestamps carry no usable rate.
    """
    import cv2

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a video file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    cap = _open(path)
    try:
        # the rate first: a broken time base (0 fps) also breaks decoding, and the rate is the cause to report
        header_fps = cap.get(cv2.CAP_PROP_FPS)
        if fps is not None:
            if not (math.isfinite(fps) and 0 < fps <= MAX_PLAUSIBLE_FPS):
                raise InputError(f"{path}: frame rate given must be in (0, {MAX_PLAUSIBLE_FPS:g}], got {fps!r}")
            fps_value, source = float(fps), "user"
        elif plausible_fps(header_fps):
            fps_value, source = float(header_fps), "container"
        else:
            stamp_fps = _fps_from_timestamps(cap)
            if stamp_fps is None:
                raise InputError(
                    f"{path}: frame rate in the header is {header_fps:g} (unusable) and the timestamps give none; "
                    "pass the frame rate explicitly (--fps)"
                )
            fps_value, source = stamp_fps, "timestamps"
            cap.release()
            cap = _open(path)
        ok, frame = cap.read()
        if not ok or frame is None:
            raise InputError(f"{path}: contains no decodable video frames")
        rotation = _rotation_of(cap)
        height, width = rotate_upright(frame, rotation).shape[:2]
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        frame_count = int(count) if math.isfinite(count) and count > 0 else None
    finally:
        cap.release()
    return VideoInfo(path, int(width), int(height), fps_value, source, frame_count, rotation)


def iter_frames(info: VideoInfo) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, upright BGR uint8 frame) until the decoder stops; one frame in memory at a time."""
    cap = _open(info.path)
    try:
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            yield index, rotate_upright(frame, info.rotation)
            index += 1
    finally:
        cap.release()


def read_frames_at(info: VideoInfo, indices: list[int]) -> dict[int, np.ndarray]:
    """Decode only the frames at `indices` (sorted walk, grab() skips decoding the rest); used for previews."""
    wanted = set(int(i) for i in indices)
    out: dict[int, np.ndarray] = {}
    if not wanted:
        return out
    last = max(wanted)
    cap = _open(info.path)
    try:
        for index in range(last + 1):
            if index in wanted:
                ok, frame = cap.read()
                if not ok:
                    break
                out[index] = rotate_upright(frame, info.rotation)
            elif not cap.grab():
                break
    finally:
        cap.release()
    return out
