"""`python -m engine evaluate`: Human3.6M S9/S11 scores of a trained lifter, written to reports/.

Protocol (the paper family's, with our differences stated in the report):
- every test sequence through each of its subject's 4 cameras; inputs are the ground-truth 2D projections
  (full distortion model), normalised by image width; 243-frame windows at stride 243 (`--stride` for
  overlapping ones), the last window flush with the end (overlapping frames averaged); flip test-time augmentation.
- P1 = MPJPE and P2 = Procrustes-aligned MPJPE in mm on root-relative camera-frame joints, predictions
  converted to mm exactly (engine/representation.py, with the true root depth and intrinsics); averaged over the
  frames of each action, then over the 15 actions.
- "depth only": x, y taken from the input, only depth predicted (the paper's P1 (GT 2D) column); "full 3D": x, y
  predicted too; "noisy 2D": ground-truth 2D corrupted by the training noise model (engine/train_data.NoiseModel).
- acceleration error in mm/frame^2 at 50 fps on full-3D predictions.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import h36m
from .metrics import procrustes_align
from .representation import normalize_2d, to_camera_mm_exact
from .windows import predict_sequences

# (method, P1 detected 2D, P2 detected 2D, P1 GT 2D, params, MACs/frame). SasMamba's figures are from
# ../shared/docs/sasmamba.md (1.3G MACs / 243 frames); the peers' are as their papers' tables are commonly quoted
# and were not re-checked here ("?" where we could not confirm a figure).
PAPER_ROWS = [
    ("SasMamba-S (paper)", 41.48, 34.84, 21.44, "0.64M", "5.3M"),
    ("PoseMamba-S (paper, unverified)", 41.8, "?", "?", "0.9M", "?"),
    ("MotionBERT (paper, unverified)", 39.2, 33.2, 17.8, "42.3M", "719M"),
]


def load_predictor(checkpoint: Path, backend: str, device: str):
    """(predict_fn, config, metadata) from a training checkpoint (.pt) or shipped weights (.npz)."""
    if checkpoint.suffix == ".npz":
        from .lifter import Lifter

        lifter = Lifter.load(weights=checkpoint, backend=backend)
        return lifter.predict_normalized, lifter.config, lifter.metadata
    import torch

    from .model import SasMamba, get_config
    from .weights import load_model_state

    state, info = load_model_state(checkpoint)  # the moving average, when training kept one
    cfg = get_config(info["config"])
    model = SasMamba(cfg).to(device).eval()
    model.load_state_dict(state)

    @torch.no_grad()
    def predict(x: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(np.ascontiguousarray(x)).to(device)).float().cpu().numpy()

    meta = {k: info[k] for k in ("epoch", "step", "best", "gpu_seconds")}
    return predict, cfg, meta


def evaluate(predict, frames: int, *, subjects=h36m.TEST_SUBJECTS, noise_seed: int = 0, max_sequences: int = 0,
             flip: bool = True, batch: int = 64, cameras: tuple[int, ...] = (0, 1, 2, 3),
             frames_per_sequence: int = 0, poses: dict[str, np.ndarray] | None = None, noisy: bool = True,
             stride: int = 0) -> dict:
    """Scores per action and averaged. `cameras`, `frames_per_sequence` and `max_sequences` select a subset
    (for CPU runs); the report records the selection. `poses` replaces the subjects' sequences (same keys and
    layout as h36m.load_poses, e.g. re-proportioned ones: scripts/subject_gap.py); `noisy=False` skips the
    noisy-2D pass (half the time; no p1_noisy / p2_noisy). `stride` spaces the windows (default `frames`, the
    paper's non-overlapping tiling; the Lifter's own default, two thirds of `frames`, cross-fades overlaps)."""
    stride = stride or frames
    import torch

    from .train_data import NoiseModel

    cams = h36m.load_cameras()
    poses = h36m.load_poses(subjects) if poses is None else poses
    keys = list(poses)[: max_sequences or None]
    sums = defaultdict(lambda: defaultdict(float))
    counts = defaultdict(int)
    gen = torch.Generator().manual_seed(noise_seed)
    noise = NoiseModel()
    for key in keys:
        action = h36m.action_of(key)
        world = poses[key][: frames_per_sequence or None]
        clips_clean, clips_noisy, truth = [], [], []
        for cam in (cams[h36m.subject_of(key)][i] for i in cameras):
            cam_pts = cam.world_to_camera(world)
            uv = cam.project(world)
            x = normalize_2d(uv, cam.width, cam.height)
            clips_clean.append(x)
            if noisy:
                clips_noisy.append(noise.apply(torch.from_numpy(x[None]), gen)[0].numpy())
            truth.append((cam, cam_pts, uv))
        preds = predict_sequences(predict, clips_clean + clips_noisy, frames, stride, flip=flip, batch=batch)
        n_cams = len(truth)
        noisy_preds = preds[n_cams:] if noisy else [None] * n_cams
        for (cam, cam_pts, uv), x, pred, pred_noisy in zip(truth, clips_clean, preds[:n_cams], noisy_preds,
                                                          strict=True):
            gt = cam_pts - cam_pts[:, :1]
            root_uv, root_z = uv[:, 0], cam_pts[:, 0, 2]
            full = to_camera_mm_exact(pred, root_uv, root_z, cam)
            depth_only = to_camera_mm_exact(np.concatenate([x - x[:, :1], pred[..., 2:]], -1), root_uv, root_z, cam)
            n = len(gt)
            err = {
                "p1_depth_only": np.linalg.norm(depth_only - gt, axis=-1).mean(-1),
                "p1_full": np.linalg.norm(full - gt, axis=-1).mean(-1),
                "p2_full": np.linalg.norm(procrustes_align(full, gt) - gt, axis=-1).mean(-1),
            }
            if noisy:
                noisy_mm = to_camera_mm_exact(pred_noisy, root_uv, root_z, cam)
                err["p1_noisy"] = np.linalg.norm(noisy_mm - gt, axis=-1).mean(-1)
                err["p2_noisy"] = np.linalg.norm(procrustes_align(noisy_mm, gt) - gt, axis=-1).mean(-1)
            accel = np.linalg.norm(np.diff(full, 2, axis=0) - np.diff(gt, 2, axis=0), axis=-1).mean(-1)
            for name, e in err.items():
                sums[action][name] += float(e.sum())
            sums[action]["accel_full"] += float(accel.sum()) * n / max(len(accel), 1)
            counts[action] += n
    per_action = {a: {m: v / counts[a] for m, v in sums[a].items()} for a in sorted(sums)}
    metrics = sorted(next(iter(per_action.values())))
    average = {m: float(np.mean([per_action[a][m] for a in per_action])) for m in metrics}
    return {"per_action": per_action, "average": average, "sequences": len(keys), "subjects": list(subjects),
            "noise_model": noise.describe(), "flip_tta": flip, "cameras": list(cameras),
            "frames_per_sequence": frames_per_sequence or "all", "frames_scored": int(sum(counts.values())),
            "window_stride": stride}


# A small fixed S9/S11 selection scored at export time and again by the test suite: the shipped weights must keep
# giving the recorded figure (within 2 mm) whatever backend the test machine picks.
REGRESSION_SUBSET = {"max_sequences": 2, "cameras": (0,), "frames_per_sequence": 243, "flip": False}


def regression_subset_p1(predict, frames: int) -> float:
    """Full-3D P1 (mm) of the fixed regression selection."""
    return evaluate(predict, frames, **REGRESSION_SUBSET)["average"]["p1_full"]


def training_summary(meta: dict) -> str:
    """One line from a weights file's metadata: status, epochs, GPU time, validation score."""
    # shipped weights carry a status and "epochs"; a training checkpoint (.pt) only "epoch", "step", "gpu_seconds"
    status = meta.get("status") or ("training checkpoint" if "epoch" in meta else "status unknown")
    parts = [status]
    seconds = (meta.get("checkpoint") or {}).get("gpu_seconds") or meta.get("gpu_seconds")
    if "epoch" not in status:  # a status that already says how far training went is not repeated
        parts.append(f"{meta.get('epochs', meta.get('epoch'))} epochs")
        if seconds:
            parts.append(f"{seconds / 60:.0f} GPU-minutes")
    val = meta.get("validation") or {}
    if "val_p1_mm" in val:
        parts.append(f"validation P1 {val['val_p1_mm']} mm ({val.get('val_p1_depth_only_mm')} mm depth only) "
                     "on held-out S8 takes")
    return "; ".join(parts)


def write_markdown(result: dict, path: Path) -> None:
    avg = result["average"]
    stride, frames = result.get("window_stride"), (result.get("config") or {}).get("frames")
    lines = [
        "# Human3.6M (S9, S11): our SasMamba-S beside the published numbers", "",
        f"Checkpoint: `{result['checkpoint']}`; training: {training_summary(result.get('training') or {})}.", "",
        f"Scored: {result['sequences']} sequences of {', '.join(result['subjects'])}, cameras {result['cameras']}, "
        f"frames per sequence: {result['frames_per_sequence']} ({result['frames_scored']} frames); "
        f"flip test-time augmentation: {result['flip_tta']}; device: {result.get('device')}.", "",
        *([f"Windows every {stride} frames, overlaps cross-faded (the paper tiles them without overlap): another "
           "protocol than the published rows'.", ""] if stride and stride != frames else []),
        "| method | P1 detected/noisy 2D | P2 detected/noisy 2D | P1 GT 2D (depth only) | P1 GT 2D (full 3D) | "
        "P2 GT 2D | params (thop-style / true) | MACs per frame |",
        "|---|---|---|---|---|---|---|---|",
        f"| **ours** | {avg['p1_noisy']:.2f} (noise model) | {avg['p2_noisy']:.2f} (noise model) | "
        f"{avg['p1_depth_only']:.2f} | {avg['p1_full']:.2f} | {avg['p2_full']:.2f} | {result.get('params', '')} | "
        f"{result.get('macs_per_frame', '')} |",
    ]
    for name, p1, p2, gt, params, macs in PAPER_ROWS:
        lines.append(f"| {name} | {p1} (SH detections) | {p2} | {gt} | - | - | {params} | {macs} |")
    lines += [
        "", "How our protocol differs from the paper's:",
        "- checkpoints are chosen on held-out S8 takes, never on S9/S11 (the paper family selects on the test set);",
        "- our 'noisy 2D' column corrupts ground-truth 2D with our detector-like noise model "
        f"({result['noise_model']}), not the fine-tuned Stacked Hourglass detections the paper uses;",
        "- mm conversion is exact (true root depth and intrinsics), not the weak-perspective factor;",
        "- the last window of each sequence is flush with its end and overlapping frames are averaged, not resampled.",
        "",
        "| action | P1 depth only | P1 full | P2 full | P1 noisy | P2 noisy | accel |",
        "|---|---|---|---|---|---|---|",
    ]
    for action, m in result["per_action"].items():
        lines.append(f"| {action} | {m['p1_depth_only']:.2f} | {m['p1_full']:.2f} | {m['p2_full']:.2f} | "
                     f"{m['p1_noisy']:.2f} | {m['p2_noisy']:.2f} | {m['accel_full']:.2f} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True, help="training .pt or shipped .npz")
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--device", default=None)
    ap.add_argument("--max-sequences", type=int, default=0, help="evaluate only the first N sequences")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--no-flip", action="store_true")
    ap.add_argument("--cameras", default="0,1,2,3", help="camera indices to use (subset runs on CPU)")
    ap.add_argument("--frames-per-sequence", type=int, default=0, help="score only the first N frames of each")
    ap.add_argument("--stride", type=int, default=0,
                    help="frames between window starts (default: the window length, the paper's protocol)")
    args = ap.parse_args(argv)
    device = args.device
    if device is None:
        try:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            device = "cpu"
    t0 = time.time()
    predict, cfg, meta = load_predictor(args.checkpoint, args.backend, device)
    result = evaluate(predict, cfg.frames, max_sequences=args.max_sequences, flip=not args.no_flip, batch=args.batch,
                      cameras=tuple(int(c) for c in args.cameras.split(",")),
                      frames_per_sequence=args.frames_per_sequence, stride=args.stride)
    result.update({"checkpoint": str(args.checkpoint), "training": meta, "config": cfg.to_dict(),
                   "seconds": time.time() - t0, "device": device})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "h36m_eval.json").write_text(json.dumps(result, indent=1))
    write_markdown(result, args.out / "h36m.md")
    print(json.dumps(result["average"], indent=1))
    return 0
