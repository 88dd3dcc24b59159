"""Clean-up benchmark on Human3.6M S9/S11: jitter, bone lengths, foot skating, root path, before and after.

Until the trained lifter exists, the "lifter output" is ground-truth 3D with injected noise that imitates one
(see NOISE), and the 2D keypoints are the ground truth projected through the real cameras (full distortion) with
detector-like pixel noise. Writes reports/cleanup.json and reports/cleanup.png (one clip's joint trajectories).

    python -m benchmarks.cleanup [--quick]
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from engine import bones, contact, h36m, metrics
from engine.cleanup import PRESETS, Preset, clean_pose
from engine.paths import PROJECT_ROOT
from engine.smoothing import butterworth_zero_phase
from engine.types import Keypoints2D, Pose3D

NOISE = {
    "3d_slow_bias_mm_rms": 25.0,  # per joint and axis: white noise low-passed at 1 Hz (4th-order zero-phase
    "3d_slow_bias_cutoff_hz": 1.0,  # Butterworth), scaled to this rms: the lifter's slowly drifting error
    "3d_jitter_mm_rms_xy": 4.0,  # per joint and axis, white, frame to frame: the lifter's jitter ...
    "3d_jitter_mm_rms_depth": 8.0,  # ... twice as large along the camera axis, where lifting is least sure
    "2d_pixel_noise_rms": 3.0,  # per keypoint and axis, white, on the distorted projection
    "2d_confidence": 0.9,
}
# a second, smoother lifter (a long-window seq2seq model): same bias, jitter 1 mm / 2 mm
SMOOTH_LIFTER = {"3d_jitter_mm_rms_xy": 1.0, "3d_jitter_mm_rms_depth": 2.0}
GROUND_ANKLE_MM = 50.0  # H36M ankles rest ~40-60 mm above its floor: ground-truth contacts use this height
PLOT_CLIP = "S9/Walking 1"


def _noisy_3d(rel: np.ndarray, rng: np.random.Generator, noise: dict) -> np.ndarray:
    pad = 100  # filter a longer white sequence and keep its middle: stationary noise up to the clip's ends
    white = rng.standard_normal((rel.shape[0] + 2 * pad, *rel.shape[1:]))
    slow = butterworth_zero_phase(white, h36m.FPS, noise["3d_slow_bias_cutoff_hz"])[pad:-pad]
    slow *= noise["3d_slow_bias_mm_rms"] / slow.std()
    sigma = np.array([noise["3d_jitter_mm_rms_xy"]] * 2 + [noise["3d_jitter_mm_rms_depth"]])
    out = rel + slow + rng.standard_normal(rel.shape) * sigma
    return out - out[:, :1]


def _camera_rel(out: Pose3D) -> np.ndarray:
    inv = np.linalg.inv(np.array(out.meta["cleanup"]["world_from_camera"]))
    cam = out.joints_mm @ inv[:3, :3].T + inv[:3, 3]
    return cam - cam[:, :1]


def _clip_metrics(pred_rel: np.ndarray, gt_rel: np.ndarray, world: np.ndarray, gt_contact: np.ndarray) -> dict:
    return {
        "mpjpe_mm": metrics.mpjpe(pred_rel, gt_rel),
        "p_mpjpe_mm": metrics.p_mpjpe(pred_rel, gt_rel),
        "accel_error_mm_per_frame2": metrics.accel_error(pred_rel, gt_rel),
        "velocity_error_mm_per_frame": metrics.velocity_error(pred_rel, gt_rel),
        "bone_length_std_mm": float(bones.bone_lengths(pred_rel).std(axis=0).mean()),
        "foot_skating_mm_per_frame": contact.foot_skating_mm(world, gt_contact),
    }


def _clips(quick: bool) -> list[tuple[str, np.ndarray]]:
    poses = h36m.load_poses(h36m.TEST_SUBJECTS)
    if quick:
        return [(k, poses[k][:500]) for k in ("S9/Walking 1", "S9/Eating 1", "S11/Directions 1", "S11/Sitting 1")]
    return list(poses.items())


def _evaluate(
    clips, presets: dict[str, Preset], noise: dict, seed: int = 0, root_paths: bool = True
) -> tuple[dict, dict]:
    """Frame-weighted means over clips of every metric per preset, and root-path errors."""
    cams = h36m.load_cameras()
    rng = np.random.default_rng(seed)
    sums: dict[str, dict[str, float]] = {}
    root = {"known_focal": 0.0, "default_fov": 0.0}
    frames = 0
    seconds = 0.0
    for i, (key, world_gt) in enumerate(clips):
        world_gt = world_gt.astype(np.float64)
        cam = cams[h36m.subject_of(key)][i % 4]
        cam_gt = cam.world_to_camera(world_gt)
        gt_rel = cam_gt - cam_gt[:, :1]
        uv = cam.project(world_gt) + rng.normal(0.0, noise["2d_pixel_noise_rms"], (len(world_gt), 17, 2))
        kp = Keypoints2D(uv, np.full(uv.shape[:2], noise["2d_confidence"]), h36m.FPS, cam.width, cam.height)
        pose = Pose3D(_noisy_3d(gt_rel, rng, noise), fps=h36m.FPS, source=key)
        gt_contact = contact.detect_contact(world_gt, h36m.FPS, ankle_height_mm=GROUND_ANKLE_MM)
        n = len(world_gt)
        for name in presets:
            start = time.perf_counter()
            out = clean_pose(pose, kp, preset=presets[name], focal_px=float(cam.f[0]))
            seconds += time.perf_counter() - start if name == "film" else 0.0
            m = _clip_metrics(_camera_rel(out), gt_rel, out.joints_mm, gt_contact)
            acc = sums.setdefault(name, {})
            for k, v in m.items():
                acc[k] = acc.get(k, 0.0) + v * n
            if name == "film" and root_paths:
                root["known_focal"] += np.linalg.norm(out.root_camera_mm - cam_gt[:, 0], axis=-1).mean() * n
                default = clean_pose(pose, kp, preset=presets[name])
                root["default_fov"] += np.linalg.norm(default.root_camera_mm - cam_gt[:, 0], axis=-1).mean() * n
        frames += n
    means = {name: {k: round(v / frames, 3) for k, v in acc.items()} for name, acc in sums.items()}
    root_err = {f"root_path_error_mm_{k}": round(v / frames, 1) for k, v in root.items()}
    root_err["film_frames_per_s"] = round(frames / max(seconds, 1e-9), 0)
    return means, root_err


def _plot(path: Path, noise: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    world = h36m.load_poses(["S9"])[PLOT_CLIP][:300].astype(np.float64)
    cam = h36m.load_cameras()["S9"][0]
    cam_gt = cam.world_to_camera(world)
    gt = cam_gt - cam_gt[:, :1]
    rng = np.random.default_rng(7)
    uv = cam.project(world) + rng.normal(0.0, noise["2d_pixel_noise_rms"], (len(world), 17, 2))
    kp = Keypoints2D(uv, np.full(uv.shape[:2], 0.9), h36m.FPS, cam.width, cam.height)
    raw = _noisy_3d(gt, rng, noise)
    outs = {p: _camera_rel(clean_pose(Pose3D(raw, fps=h36m.FPS), kp, preset=p)) for p in ("film", "responsive")}
    t = np.arange(len(world)) / h36m.FPS
    panels = [(16, 0, "right wrist x"), (16, 1, "right wrist y"), (3, 2, "right ankle depth"), (10, 1, "head y")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 9), sharex=True)
    for ax, (joint, axis, title) in zip(axes, panels, strict=True):
        ax.plot(t, raw[:, joint, axis], color="0.7", lw=0.8, label="before (lifter-like noise)")
        ax.plot(t, gt[:, joint, axis], color="k", lw=1.2, label="ground truth")
        ax.plot(t, outs["film"][:, joint, axis], color="tab:blue", lw=1.2, label="film")
        ax.plot(t, outs["responsive"][:, joint, axis], color="tab:orange", lw=1.0, ls="--", label="responsive")
        ax.set_ylabel(f"{title} (mm)")
    axes[0].legend(loc="upper right", fontsize=8, ncol=4)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"Clean-up before/after: H36M {PLOT_CLIP}, camera {cam.id}, root-relative camera frame")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(quick: bool = False) -> dict:
    """Measure every preset on S9/S11; write reports/cleanup.json and reports/cleanup.png; return the results."""
    reports = PROJECT_ROOT / "reports"
    reports.mkdir(exist_ok=True)
    clips = _clips(quick)
    main, root = _evaluate(clips, PRESETS, NOISE)
    before, film = main["none"], main["film"]
    results: dict = {
        "machine": f"{platform.machine()} CPU ({platform.processor() or 'unknown'}), no GPU",
        "quick": quick,
        "data": f"Human3.6M {', '.join(h36m.TEST_SUBJECTS)}: {len(clips)} clips, {sum(len(c) for _, c in clips)} "
        "frames at 50 fps, one camera per clip (cycling 0-3), metrics frame-weighted over clips",
        "input": "ground-truth 3D with injected lifter-like noise (the trained lifter did not exist yet)",
        "noise": NOISE,
        "presets": {name: main[name] for name in PRESETS},
        "preset_settings": {name: vars(p) for name, p in PRESETS.items()},
        "trajectory": root,
        "film_targets": {
            "accel_error_ratio": round(film["accel_error_mm_per_frame2"] / before["accel_error_mm_per_frame2"], 3),
            "accel_halved": film["accel_error_mm_per_frame2"] <= 0.5 * before["accel_error_mm_per_frame2"],
            "mpjpe_change_mm": round(film["mpjpe_mm"] - before["mpjpe_mm"], 2),
            "mpjpe_within_1mm": film["mpjpe_mm"] <= before["mpjpe_mm"] + 1.0,
        },
        "metric_notes": "MPJPE/P-MPJPE/accel/velocity on root-relative camera-frame joints (output mapped back "
        "through world_from_camera); bone_length_std: std over frames per bone, mean over bones; foot skating: "
        "mean horizontal ankle motion per frame in the output world frame over frames where the ground truth "
        f"has the foot planted (detect_contact on GT, ankle rest height {GROUND_ANKLE_MM} mm); root path error: "
        "mean distance of the estimated pelvis to the true one in the camera frame, known focal vs default FOV.",
    }
    if not quick:
        smooth_noise = {**NOISE, **SMOOTH_LIFTER}
        smooth, _ = _evaluate(clips[::4], PRESETS, smooth_noise, seed=1, root_paths=False)
        results["smooth_lifter"] = {"noise": smooth_noise, "clips": len(clips[::4]), "presets": smooth}
        sweep = {}
        for cutoff in (4.0, 5.0, 6.0, 7.0, 8.0):
            trial = {"none": PRESETS["none"], "film": Preset("film", "butterworth", cutoff, 2.5)}
            res, _ = _evaluate(clips[::4], trial, NOISE, seed=2, root_paths=False)
            film_acc, raw_acc = res["film"]["accel_error_mm_per_frame2"], res["none"]["accel_error_mm_per_frame2"]
            sweep[f"{cutoff:g}Hz"] = {
                "accel_ratio": round(film_acc / raw_acc, 3),
                "mpjpe_change_mm": round(res["film"]["mpjpe_mm"] - res["none"]["mpjpe_mm"], 2),
            }
        results["film_joint_cutoff_sweep"] = sweep
        # which step moves MPJPE: smoothing alone, smoothing + bone lengths, everything (+ foot pinning)
        steps = {
            "none": PRESETS["none"],
            "smoothing_only": Preset("s", "butterworth", 6.0, 2.5, depth_cutoff_hz=0.5, fix_bone_lengths=False,
                                     pin_feet=False),
            "smoothing_bones": Preset("sb", "butterworth", 6.0, 2.5, depth_cutoff_hz=0.5, pin_feet=False),
            "film": PRESETS["film"],
        }
        res, _ = _evaluate(clips[::4], steps, NOISE, seed=3, root_paths=False)
        results["film_steps"] = {
            name: {k: res[name][k] for k in ("mpjpe_mm", "accel_error_mm_per_frame2", "foot_skating_mm_per_frame")}
            for name in steps
        }
    (reports / "cleanup.json").write_text(json.dumps(results, indent=2) + "\n")
    _plot(reports / "cleanup.png", NOISE)
    return results


if __name__ == "__main__":
    res = run(quick="--quick" in sys.argv[1:])
    print(json.dumps({k: res[k] for k in ("presets", "trajectory", "film_targets")}, indent=2))
