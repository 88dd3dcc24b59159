"""`python -m engine detect VIDEO -o clip.kp.json [--preview sheet.png]`: detect once, cache the keypoints.

The cache holds the raw detection (so cleaning options can change without detecting again); the clean-up report
is printed. Nothing is written unless detection succeeds, and each file is written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import Cancelled, InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class ProgressBar:
    """A one-line text bar on stderr: frames done / total (when the header gives one) and frames per second."""

    def __init__(self, stream=None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr  # looked up now: tests and GUIs swap it
        self.width, self.start, self.last = width, time.perf_counter(), 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.perf_counter()
        if now - self.last < 0.1 and (total is None or done < total):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if total:
            filled = min(self.width, int(self.width * done / total))
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
        else:
            bar = f"{done} frames"
        self.stream.write(f"\rdetect {bar} {rate:5.1f} fps")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine detect", description=__doc__.splitlines()[0])
    p.add_argument("video", type=Path, help="video file (or a still image)")
    p.add_argument("-o", "--output", type=Path, help="keypoint cache to write (default: VIDEO.kp.json)")
    p.add_argument("--preview", type=Path, help="write a PNG contact sheet of frames with the skeleton drawn")
    p.add_argument("--fps", type=float, help="frame rate, for files whose header has none")
    p.add_argument("--allow-truncated", action="store_true", help="accept a video that ends before its header says")
    p.add_argument("--min-conf", type=float, default=0.5, help="confidence below which a point is dropped (report)")
    p.add_argument("--max-gap", type=int, default=10, help="longest gap in frames filled by interpolation (report)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from .clean2d import clean_keypoints
    from .detect import detect_image, detect_video
    from .keypoint_io import save_keypoints

    output = args.output or args.video.with_name(args.video.name + ".kp.json")
    bar = None if args.quiet else ProgressBar()
    try:
        if args.video.suffix.lower() in IMAGE_SUFFIXES:
            kp = detect_image(args.video)
        else:
            kp = detect_video(args.video, progress=bar, fps=args.fps, allow_truncated=args.allow_truncated)
        if bar is not None:
            bar.close()
        _, report = clean_keypoints(kp, min_conf=args.min_conf, max_gap=args.max_gap)
        save_keypoints(kp, output)
        if args.preview is not None and kp.meta.get("still_image"):
            import cv2

            from .keypoint_io import atomic_write_bytes
            from .preview import draw_skeleton  # a still: the sheet is the one image

            image = draw_skeleton(cv2.imread(str(args.video)), kp.xy[0], kp.conf[0])
            atomic_write_bytes(args.preview, cv2.imencode(".png", image)[1].tobytes())
        elif args.preview is not None:
            from .preview import contact_sheet

            contact_sheet(args.video, kp, args.preview)
    except (InputError, Cancelled) as exc:
        if bar is not None:
            bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ncancelled; nothing written", file=sys.stderr)
        return 130
    print(f"{output}: {report.summary()}")
    for warning in report.warnings + list(kp.meta.get("warnings", [])):
        print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet:
        print(json.dumps({"fps": kp.fps, "width": kp.width, "height": kp.height,
                          "fps_source": kp.meta.get("fps_source"), "rotation": kp.meta.get("rotation")}))
    return 0
