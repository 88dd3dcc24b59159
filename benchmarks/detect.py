"""Detection speed at 720p on this machine: decode, MediaPipe detection, and the whole detect + clean stage.

The 720p clip is made on the fly in a temporary folder from ../shared/media/pose_1.mp4 (scaled to 720x720, centred
on a 1280x720 grey canvas, looped) and deleted afterwards: nothing derived from the shared footage is kept.
Results go to reports/detect.json with the machine that produced them. Goal: >= 20 fps detection.

    python -m benchmarks.detect [--quick]
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.paths import PROJECT_ROOT

from .common import machine, read_shared_clip

REPORT = PROJECT_ROOT / "reports" / "detect.json"
GOAL_FPS = 20.0


def make_720p_clip(path: Path, frames: int) -> None:
    import cv2

    source = read_shared_clip("pose_1.mp4", (720, 720))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1280, 720))
    canvas = np.full((720, 1280, 3), 128, np.uint8)
    for i in range(frames):
        canvas[:, 280:1000] = source[i % len(source)]
        writer.write(canvas)
    writer.release()


def run(quick: bool = False) -> dict:
    """Measure and write reports/detect.json; returns the figures."""
    from engine.clean2d import clean_keypoints
    from engine.detect import detect_video
    from engine.keypoint_io import atomic_write_bytes
    from engine.video import iter_frames, probe_video

    frames = 60 if quick else 300
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="bench_detect_") as tmp:
        clip = Path(tmp) / "clip720.mp4"
        make_720p_clip(clip, frames)
        info = probe_video(clip)

        start = time.perf_counter()
        decoded = sum(1 for _ in iter_frames(info))
        decode_s = time.perf_counter() - start

        stamps: list[float] = []
        start = time.perf_counter()
        kp = detect_video(clip, progress=lambda done, total: stamps.append(time.perf_counter()))
        detect_s = time.perf_counter() - start
        clean_start = time.perf_counter()
        _, report = clean_keypoints(kp)
        clean_s = time.perf_counter() - clean_start

    warm = 10  # after MediaPipe's graph start-up and the first full-frame person detection
    result = {
        "benchmark": "detect",
        "machine": machine(),
        "video": {"width": info.width, "height": info.height, "frames": decoded, "codec": "mp4v",
                  "made_from": "media/pose_1.mp4 scaled to 720x720 on a 1280x720 canvas, looped"},
        "detector": kp.meta["detector"],
        "decode_fps": decoded / decode_s,
        "detect_fps": kp.num_frames / detect_s,
        "detect_fps_steady": (len(stamps) - warm - 1) / (stamps[-1] - stamps[warm]),
        "detect_clean_fps": kp.num_frames / (detect_s + clean_s),
        "clean_ms": clean_s * 1000.0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "detection_rate": report.detection_rate,
        "goal_fps": GOAL_FPS,
        "meets_goal": kp.num_frames / detect_s >= GOAL_FPS,
        "load_avg_before": load_before,  # the 2 cores are shared: a load above ~0.5 means others were running
        "quick": quick,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_bytes(REPORT, (json.dumps(result, indent=2) + "\n").encode("utf-8"))
    return result


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
