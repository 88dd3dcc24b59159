"""`python -m engine lift INPUT -o OUT.npz`: video or keypoint file -> cleaned 3D joints, no Blender needed.

For pipelines that want the joints themselves (their own retargeting, analysis). OUT.npz holds `joints_mm`
(T, 17, 3), `fps`, `space` ("world": Z up, feet on Z = 0, mm; or "camera" with --raw), `contact` and
`foot_targets_mm` when clean-up ran, and `joint_names`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .errors import Cancelled, InputError
from .skeleton import JOINT_NAMES


def save_pose(pose, path: Path) -> None:
    arrays = {"joints_mm": pose.joints_mm, "fps": np.float32(pose.fps), "space": np.array(pose.space),
              "joint_names": np.array(JOINT_NAMES)}
    for name in ("contact", "foot_targets_mm", "root_camera_mm"):
        if getattr(pose, name) is not None:
            arrays[name] = getattr(pose, name)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine lift", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", type=Path, help="video, or keypoint file (COCO / OpenPose / MediaPipe / .kp.json)")
    ap.add_argument("-o", "--output", type=Path, required=True, help="output .npz")
    ap.add_argument("--backend", default="auto", choices=("auto", "cuda", "torch", "numpy"))
    ap.add_argument("--preset", default="film", choices=("film", "responsive", "none"))
    ap.add_argument("--root-motion", default="on", choices=("on", "in_place", "in_place_vertical"))
    ap.add_argument("--raw", action="store_true", help="skip clean-up: camera-frame, root-relative joints")
    ap.add_argument("--no-flip", action="store_true", help="no flip test-time augmentation (faster)")
    ap.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    args = ap.parse_args(argv)
    if args.output.suffix != ".npz":
        ap.error("the output must be a .npz file")
    if args.output.exists() and not args.force:
        print(f"error: {args.output} exists (pass --force to overwrite)", file=sys.stderr)
        return 2

    from .clean2d import clean_keypoints
    from .pipeline import get_lifter, load_source, run_pipeline

    def progress(stage: str, fraction: float) -> None:
        print(f"\r{stage:>9} {100 * fraction:5.1f}%", end="", file=sys.stderr, flush=True)

    try:
        if args.raw:
            kp, _ = load_source(args.input, progress=progress)
            kp, report = clean_keypoints(kp)
            pose = get_lifter(backend=args.backend).lift(kp, flip_tta=not args.no_flip)
            lines = [report.summary()]
        else:
            result = run_pipeline(args.input, preset=args.preset, root_motion=args.root_motion,
                                  backend=args.backend, flip_tta=not args.no_flip, progress=progress)
            pose, lines = result.pose, result.summary()
    except (InputError, Cancelled) as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    save_pose(pose, args.output)
    print("\n".join(lines))
    print(f"wrote {args.output} ({pose.num_frames} frames, {pose.space} space)")
    return 0
