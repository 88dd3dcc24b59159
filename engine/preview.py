"""A contact sheet of frames with the detected skeleton drawn, so a user can see what detection found."""

from __future__ import annotations

import math
import os

import numpy as np

from .keypoint_io import atomic_write_bytes
from .skeleton import BONES, LEFT_JOINTS, RIGHT_JOINTS
from .types import Keypoints2D
from .video import probe_video, read_frames_at

_LEFT, _RIGHT, _MID = (255, 160, 0), (0, 120, 255), (0, 220, 0)  # BGR: blue-ish left, orange right, green centre


def draw_skeleton(image: np.ndarray, xy: np.ndarray, conf: np.ndarray, *, min_conf: float = 0.5) -> np.ndarray:
    """Draw the 17 joints (pixels) on a copy of a BGR image; joints below min_conf are drawn hollow."""
    import cv2

    out = image.copy()
    thick = max(1, round(max(image.shape[:2]) / 300))
    for child, parent in BONES:
        a, b = xy[child], xy[parent]
        if np.isfinite(a).all() and np.isfinite(b).all():
            color = _LEFT if child in LEFT_JOINTS else _RIGHT if child in RIGHT_JOINTS else _MID
            cv2.line(out, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), color, thick, cv2.LINE_AA)
    for j, p in enumerate(xy):
        if np.isfinite(p).all():
            fill = -1 if conf[j] >= min_conf else thick
            cv2.circle(out, (int(p[0]), int(p[1])), 2 * thick, (255, 255, 255), fill, cv2.LINE_AA)
    return out


def contact_sheet(video: str | os.PathLike, kp: Keypoints2D, out_path: str | os.PathLike, *, count: int = 12,
                  tile_width: int = 240) -> int:
    """Write a PNG grid of `count` evenly spaced frames of `video` with `kp` drawn; returns the tiles written."""
    import cv2

    info = probe_video(video, fps=kp.fps)
    n = max(1, min(count, kp.num_frames))
    indices = sorted(set(np.linspace(0, kp.num_frames - 1, n).round().astype(int).tolist()))
    frames = read_frames_at(info, indices)
    tiles = []
    for i in indices:
        if i not in frames:
            continue
        drawn = draw_skeleton(frames[i], kp.xy[i], kp.conf[i])
        scale = tile_width / drawn.shape[1]
        tile = cv2.resize(drawn, (tile_width, max(1, round(drawn.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, f"{i}", (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(tile)
    if not tiles:
        raise ValueError(f"{video}: no frames could be read for the preview")
    cols = min(4, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    th = max(t.shape[0] for t in tiles)
    sheet = np.zeros((rows * th, cols * tile_width, 3), dtype=np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet[r * th : r * th + tile.shape[0], c * tile_width : (c + 1) * tile_width] = tile
    ok, png = cv2.imencode(".png", sheet)
    if not ok:
        raise ValueError(f"could not encode the preview for {out_path}")
    atomic_write_bytes(out_path, png.tobytes())
    return len(tiles)
