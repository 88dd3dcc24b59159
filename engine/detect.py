"""Video or image -> Keypoints2D with MediaPipe Pose (BlazePose, 33 landmarks) mapped to the 17 Human3.6M joints.

MediaPipe 0.10.21's `mp.solutions.pose` is the only detector: its complexity-1 model ships inside the wheel.
Complexities 0 and 2 download their models at run time, so they are never requested. MediaPipe is imported inside
the functions: it is slow to import and Blender imports `engine` at add-on start-up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .blazepose import blazepose_to_h36m
from .errors import Cancelled, InputError
from .types import Keypoints2D
from .video import iter_frames, probe_video

MODEL_COMPLEXITY = 1  # the only model inside the mediapipe 0.10.21 wheel; 0 and 2 would download
TRUNCATION_TOLERANCE = 0.9  # fewer frames than this share of the header's count means the file was cut short

Progress = Callable[[int, "int | None"], None]
CancelCheck = Callable[[], bool]


def _new_pose(*, static_image: bool):
    import mediapipe as mp

    return mp.solutions.pose.Pose(
        static_image_mode=static_image,
        model_complexity=MODEL_COMPLEXITY,
        smooth_landmarks=True,
        enable_segmentation=False,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )


def _landmarks_px(result, width: int, height: int) -> np.ndarray:
    """(33, 4) x px, y px, z (px, same scale as x), visibility; NaN row block when no person was found."""
    if result.pose_landmarks is None:
        return np.full((33, 4), np.nan, dtype=np.float32)
    lms = result.pose_landmarks.landmark
    arr = np.array([(lm.x, lm.y, lm.z, lm.visibility) for lm in lms], dtype=np.float64)
    arr[:, 0] *= width
    arr[:, 1] *= height
    arr[:, 2] *= width
    return arr.astype(np.float32)


def _to_keypoints(landmarks: np.ndarray, *, fps: float, width: int, height: int, source: str,
                  meta: dict) -> Keypoints2D:
    xy, conf = blazepose_to_h36m(landmarks)
    missing = ~np.isfinite(xy).all(axis=-1)
    conf = np.where(missing | ~np.isfinite(conf), 0.0, np.clip(conf, 0.0, 1.0))
    return Keypoints2D(xy=xy, conf=conf, fps=fps, width=width, height=height, landmarks33=landmarks,
                       source=source, meta=meta)


def detect_video(
    path: str | os.PathLike,
    *,
    progress: Progress | None = None,
    cancel: CancelCheck | None = None,
    fps: float | None = None,
    allow_truncated: bool = False,
) -> Keypoints2D:
    """Detect one performer in every frame of the video at `path` (MediaPipe tracking mode, streamed).

    progress(done, total) is called after every frame; total is the header's frame count or None.
    cancel() is polled before every frame; when it returns True, `Cancelled` is raised.
    fps overrides the container's frame rate. allow_truncated accepts a file that ends well before its header says.
    InputError (naming the file) for a missing/unreadable file, no frames, a truncated file, or no person at all.
    """
    info = probe_video(path, fps=fps)
    rows: list[np.ndarray] = []
    with _new_pose(static_image=False) as pose:
        for index, frame_bgr in iter_frames(info):
            if cancel is not None and cancel():
                raise Cancelled(f"{info.path}: detection cancelled at frame {index}")
            rgb = np.ascontiguousarray(frame_bgr[:, :, ::-1])
            rows.append(_landmarks_px(pose.process(rgb), info.width, info.height))
            if progress is not None:
                progress(index + 1, info.frame_count_header)
    frames = len(rows)
    if frames == 0:
        raise InputError(f"{info.path}: contains no decodable video frames")
    header = info.frame_count_header
    warnings: list[str] = []
    if header is not None and frames < TRUNCATION_TOLERANCE * header:
        message = f"{info.path}: video ends after {frames} of the {header} frames its header announces (truncated?)"
        if not allow_truncated:
            raise InputError(message)
        warnings.append(message)
    landmarks = np.stack(rows)
    detected = np.isfinite(landmarks[:, 0, 0])
    if not detected.any():
        raise InputError(f"{info.path}: no person detected in any of its {frames} frames")
    meta = {
        "detector": f"mediapipe.solutions.pose complexity {MODEL_COMPLEXITY} (tracking)",
        "fps_source": info.fps_source,
        "rotation": info.rotation,
        "frame_count_header": header,
        "frames_decoded": frames,
        "frames_detected": int(detected.sum()),
        "warnings": warnings,
    }
    return _to_keypoints(landmarks, fps=info.fps, width=info.width, height=info.height,
                         source=str(info.path), meta=meta)


def detect_image(path: str | os.PathLike, *, fps: float = 30.0) -> Keypoints2D:
    """Detect one performer in a still image (MediaPipe static mode): a one-frame Keypoints2D.

    fps is only a label (a still has none); 30 keeps later filters' cut-offs meaningful.
    """
    import cv2

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # applies the EXIF orientation
    if image is None:
        raise InputError(f"{path}: not a readable image")
    height, width = image.shape[:2]
    with _new_pose(static_image=True) as pose:
        landmarks = _landmarks_px(pose.process(np.ascontiguousarray(image[:, :, ::-1])), width, height)
    if not np.isfinite(landmarks[0, 0]):
        raise InputError(f"{path}: no person detected in the image")
    meta = {"detector": f"mediapipe.solutions.pose complexity {MODEL_COMPLEXITY} (static)", "still_image": True,
            "frames_decoded": 1, "frames_detected": 1, "warnings": []}
    return _to_keypoints(landmarks[None], fps=fps, width=width, height=height, source=str(path), meta=meta)
