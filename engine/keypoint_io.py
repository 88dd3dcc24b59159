"""Keypoint files in and out: our `.kp.json` cache (so detection runs once per clip) and other tools' formats.

`load_keypoints` auto-detects the format (see `keypoint_formats` for the foreign ones) and always returns a
`Keypoints2D`; any unreadable or malformed file is an `InputError` naming the file. `save_keypoints` writes our own
format atomically (a temporary file beside the target, then `os.replace`): a crash or cancel leaves either the old
file or none, never half of one. `export_keypoints` writes the foreign formats from the raw landmarks.

Our format (JSON, version 1): {"format": "sasmamba.keypoints2d", "version": 1, "joints": [17 names], "fps",
"width", "height", "source", "xy": T rows of 34 numbers (x, y per joint), "conf": T rows of 17,
"landmarks33": T rows of 132 (x, y, z, visibility per landmark) or null, "gaps": T booleans or null, "meta": {}}.
Missing values are null. Pixels are kept to 0.01 px, confidences to 1e-4.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from . import keypoint_formats as kf
from .blazepose import blazepose_to_h36m
from .errors import InputError
from .skeleton import JOINT_NAMES, NUM_JOINTS
from .types import Keypoints2D

FORMAT = "sasmamba.keypoints2d"
VERSION = 1
DEFAULT_FPS = 30.0
EXPORT_FORMATS = ("coco", "openpose", "mediapipe-json", "mediapipe-csv")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, so readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the mode a plain open() would
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _rows(arr: np.ndarray, ndigits: int) -> list[list]:
    flat = np.round(np.asarray(arr, dtype=np.float64).reshape(arr.shape[0], -1), ndigits)
    return [[v if math.isfinite(v) else None for v in row] for row in flat.tolist()]


def _array(rows, shape: tuple[int, ...], what: str) -> np.ndarray:
    arr = np.array([[np.nan if v is None else float(v) for v in row] for row in rows], dtype=np.float64)
    if arr.size != math.prod(shape):
        raise ValueError(f"{what} must hold {shape} numbers, got {arr.size}")
    return arr.reshape(shape)


def keypoints_to_json(kp: Keypoints2D) -> dict:
    lm = kp.landmarks33
    if lm is not None:
        lm = np.asarray(lm, dtype=np.float64).copy()
        lm[..., :3] = np.round(lm[..., :3], 2)
    return {
        "format": FORMAT,
        "version": VERSION,
        "joints": list(JOINT_NAMES),
        "fps": kp.fps,
        "width": kp.width,
        "height": kp.height,
        "source": kp.source,
        "xy": _rows(kp.xy, 2),
        "conf": _rows(kp.conf, 4),
        "landmarks33": None if lm is None else _rows(lm, 4),
        "gaps": None if kp.gaps is None else [bool(g) for g in kp.gaps],
        "meta": json.loads(json.dumps(kp.meta, default=str)),
    }


def keypoints_from_json(data: dict) -> Keypoints2D:
    if data.get("version") != VERSION:
        raise ValueError(f"unsupported {FORMAT} version {data.get('version')!r} (this build reads {VERSION})")
    if list(data["joints"]) != list(JOINT_NAMES):
        raise ValueError("joint list differs from the 17 Human3.6M joints")
    t = len(data["xy"])
    if t == 0:
        raise ValueError("no frames")
    xy = _array(data["xy"], (t, NUM_JOINTS, 2), "xy")
    conf = np.nan_to_num(_array(data["conf"], (t, NUM_JOINTS), "conf"))
    lm = None if data.get("landmarks33") is None else _array(data["landmarks33"], (t, 33, 4), "landmarks33")
    gaps = None if data.get("gaps") is None else np.array([bool(g) for g in data["gaps"]])
    meta = data.get("meta") or {}
    if not isinstance(meta, dict):
        raise TypeError("meta must be an object")
    return Keypoints2D(xy=xy, conf=conf, fps=float(data["fps"]), width=int(data["width"]),
                       height=int(data["height"]), landmarks33=lm, gaps=gaps, source=str(data.get("source", "")),
                       meta=meta)


def save_keypoints(kp: Keypoints2D, path: str | os.PathLike) -> None:
    """Write `kp` in our cache format (`.kp.json`), atomically."""
    text = json.dumps(keypoints_to_json(kp), separators=(",", ":"), allow_nan=False)
    atomic_write_bytes(path, text.encode("utf-8"))


def _from_parsed(parsed: kf.Parsed, path: Path, *, fps: float | None, width: int | None,
                 height: int | None) -> Keypoints2D:
    lm = np.asarray(parsed.landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[0] == 0:
        raise InputError(f"{path}: no frames")
    warnings = list(parsed.warnings)
    xy_all = lm[..., :2][np.isfinite(lm[..., :2])]
    if xy_all.size == 0:
        raise InputError(f"{path}: no keypoints in any frame")
    width = width or parsed.width
    height = height or parsed.height
    normalized = parsed.normalized or (np.abs(xy_all).max() <= 1.5 and parsed.fmt.startswith("mediapipe"))
    if normalized:
        if not (width and height):
            raise InputError(f"{path}: coordinates are normalized (0..1); pass the image width and height")
        lm[..., 0] *= width
        lm[..., 1] *= height
        lm[..., 2] *= width
    elif not (width and height):
        width = int(math.ceil(np.nanmax(lm[..., 0]) + 1))
        height = int(math.ceil(np.nanmax(lm[..., 1]) + 1))
        warnings.append(f"image size not in the file; assumed {width}x{height} from the keypoints' extent")
    fps = fps or parsed.fps
    if fps is None:
        fps = DEFAULT_FPS
        warnings.append(f"frame rate not in the file; assumed {DEFAULT_FPS:g} fps")
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"{path}: frame rate must be a positive number, got {fps!r}")
    lm[..., 3] = np.clip(np.nan_to_num(lm[..., 3]), 0.0, 1.0)
    lm[~np.isfinite(lm[..., :2]).all(axis=-1)] = np.nan
    xy, conf = blazepose_to_h36m(lm)
    conf = np.where(np.isfinite(xy).all(axis=-1) & np.isfinite(conf), conf, 0.0)
    meta = {"format": parsed.fmt, "warnings": warnings}
    return Keypoints2D(xy=xy, conf=conf, fps=fps, width=int(width), height=int(height), landmarks33=lm,
                       source=str(path), meta=meta)


def load_keypoints(path: str | os.PathLike, *, fps: float | None = None, width: int | None = None,
                   height: int | None = None) -> Keypoints2D:
    """Read any supported keypoint file or OpenPose folder (auto-detected) as a `Keypoints2D`.

    fps, width, height fill in (or override) what the file does not say; a missing fps becomes 30 with a warning in
    `meta["warnings"]`, a missing size is taken from the keypoints' extent (normalized coordinates need it given).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        if path.is_dir():
            parsed = kf.read_openpose_folder(path)
        elif path.suffix.lower() == ".csv":
            parsed = kf.read_csv(path)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("format") == FORMAT:
                return keypoints_from_json(data)
            parsed = kf.parse_json(data)
        return _from_parsed(parsed, path, fps=fps, width=width, height=height)
    except InputError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read keypoints ({exc})") from exc
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, StopIteration, OverflowError,
            csv.Error) as exc:
        raise InputError(f"{path}: not a keypoint file we can read ({type(exc).__name__}: {exc})") from exc


def export_keypoints(kp: Keypoints2D, path: str | os.PathLike, fmt: str) -> None:
    """Write `kp`'s raw landmarks for another tool: fmt in EXPORT_FORMATS ("openpose" writes a folder)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {EXPORT_FORMATS}")
    if kp.landmarks33 is None:
        raise InputError(f"{kp.source or 'keypoints'}: no raw landmarks to export (only the 17 joints)")
    lm = np.asarray(kp.landmarks33, dtype=np.float64)
    path = Path(path)
    if fmt == "openpose":
        path.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(lm):
            text = json.dumps(kf.openpose_frame(frame), allow_nan=False)
            atomic_write_bytes(path / f"frame_{t:06d}_keypoints.json", text.encode("utf-8"))
        return
    if fmt == "mediapipe-csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(kf.mediapipe_csv_rows(lm))
        atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
        return
    if fmt == "coco":
        doc: object = kf.coco_results(lm)
    else:
        doc = {"fps": kp.fps, "width": kp.width, "height": kp.height, "frames": kf.mediapipe_frames(lm)}
    atomic_write_bytes(path, json.dumps(doc, allow_nan=False).encode("utf-8"))
