"""The pictures a user sees: reports/pipeline.png (one real clip through every stage) and reports/accuracy.png
(our Human3.6M P1 per action beside the paper's averages).

pipeline.png runs the pipeline on ../shared/media/pose_1.mp4 (576x576, 4 s) and draws one frame: the detected 2D
skeleton in the image's pixel frame (on a blank canvas: frames of shared footage are never committed), the lifted
3D skeleton (after clean-up, world space) from the front and the side, and our built-in Mixamo-named humanoid
(retarget.humanoid) posed by the retargeted animation, its bone positions evaluated with `retarget.fk.pose_bones`.
Only the picture is written; no frames or keypoints are kept.

accuracy.png reads reports/h36m_eval.json (written by `python -m engine evaluate`). The paper gives only averages
in our docs (../shared/docs/sasmamba.md: P1 41.48 mm with detected 2D, 21.44 mm with ground-truth 2D), so those are
drawn as reference lines, not per-action bars.

    python -m benchmarks.pictures
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from engine.paths import PROJECT_ROOT, shared_path
from engine.skeleton import BONES, LEFT_JOINTS

REPORTS = PROJECT_ROOT / "reports"
PAPER_P1_DETECTED_MM = 41.48  # SasMamba-S, Human3.6M, detected (Stacked Hourglass) 2D
PAPER_P1_GT2D_MM = 21.44  # SasMamba-S, ground-truth 2D
LEFT, RIGHT = "tab:blue", "tab:red"


def _shown(path: Path) -> str:
    """The path as the reports name it: relative to the checkout where it is inside it."""
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def interim_label(training: dict | None) -> str:
    status = (training or {}).get("status", "")
    epochs = (training or {}).get("epochs")
    trained = f" ({epochs} epochs of training)" if epochs else ""
    if status.startswith("interim") or not status:  # as the README table reads it
        return f"INTERIM weights{trained}: accuracy is not final"
    return f"shipped weights{trained}"  # the whole status line is too long for a title; the reports carry it


def _bone_colour(child: int) -> str:
    return LEFT if child in LEFT_JOINTS else RIGHT if child in (1, 2, 3, 14, 15, 16) else "0.3"


def _cube(ax, points: np.ndarray, elev: float, azim: float) -> None:
    lo, hi = np.nanmin(points, 0), np.nanmax(points, 0)
    centre, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * 1.05
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=elev, azim=azim)
    ax.set_xticklabels([]), ax.set_yticklabels([]), ax.set_zticklabels([])


def pipeline_picture(out: Path = REPORTS / "pipeline.png") -> dict:
    from engine.pipeline import get_lifter, run_pipeline
    from retarget import detect_map, humanoid_rig
    from retarget.fk import pose_bones

    clip = shared_path("media", "pose_1.mp4")
    rig = humanoid_rig("mixamo")
    result = run_pipeline(clip, rig=rig, rig_map=detect_map(rig))
    kp, pose, anim = result.keypoints, result.pose, result.animation
    # the frame where the performer is most spread out in 2D: the pose reads best there
    spread = np.nanmax(kp.xy, axis=1) - np.nanmin(kp.xy, axis=1)
    f = int(np.nanargmax(spread[:, 0] * spread[:, 1]))
    joints = pose.joints_mm[f] / 1000.0  # world, metres, Z up
    _, heads, tails = pose_bones(rig, anim)
    lifter = get_lifter()  # the one run_pipeline used (kept for the session)

    plt = _plt()
    fig = plt.figure(figsize=(14, 4.2))
    ax = fig.add_subplot(1, 4, 1)
    ax.set_xlim(0, kp.width)
    ax.set_ylim(kp.height, 0)
    ax.set_aspect("equal")
    ax.add_patch(_plt().Rectangle((0, 0), kp.width, kp.height, fill=False, lw=0.8, color="0.6"))
    for c, p in BONES:
        ax.plot(kp.xy[f, [c, p], 0], kp.xy[f, [c, p], 1], color=_bone_colour(c), lw=2)
    ax.scatter(kp.xy[f, :, 0], kp.xy[f, :, 1], s=8, color="black", zorder=3)
    ax.set_title(f"frame {f}: 2D keypoints (MediaPipe), {kp.width}x{kp.height} px", fontsize=9)
    ax.axis("off")
    for k, (title, elev, azim) in enumerate((("lifted 3D, front", 5, -90), ("lifted 3D, side", 5, 0))):
        ax = fig.add_subplot(1, 4, 2 + k, projection="3d")
        for c, p in BONES:
            ax.plot(*joints[[c, p]].T, color=_bone_colour(c), lw=2)
        _cube(ax, joints, elev, azim)
        ax.set_title(title + " (after clean-up)", fontsize=9)
    ax = fig.add_subplot(1, 4, 4, projection="3d")
    for b in range(len(rig.names)):
        name = rig.names[b].lower()
        colour = LEFT if "left" in name else RIGHT if "right" in name else "0.3"
        ax.plot(*np.stack([heads[f, b], tails[f, b]]).T, color=colour, lw=1.5)
    _cube(ax, np.concatenate([heads[f], tails[f]]), 10, -60)
    ax.set_title(f"retargeted: Mixamo rig ({len(rig.names)} bones)", fontsize=9)
    fig.suptitle(f"media/pose_1.mp4 through the pipeline ({kp.num_frames} frames, {kp.fps:g} fps) - lifter "
                 f"{lifter.weights_path.name}: {interim_label(lifter.metadata)}", fontsize=10)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.86, wspace=0.05)
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return {"pipeline_png": _shown(out), "frame": f, "frames": kp.num_frames,
            "stage_seconds": {k: round(v, 2) for k, v in result.timings.items()}}


def accuracy_picture(out: Path = REPORTS / "accuracy.png", source: Path = REPORTS / "h36m_eval.json") -> dict:
    if not source.exists():
        return {"accuracy_png": None, "why": f"{_shown(source)} missing: run `python -m engine "
                                              "evaluate` first"}
    data = json.loads(source.read_text())
    per_action = data["per_action"]
    actions = list(per_action)
    noisy = [per_action[a]["p1_noisy"] for a in actions]
    gt2d = [per_action[a]["p1_depth_only"] for a in actions]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(12, 4.6))
    x = np.arange(len(actions))
    ax.bar(x - 0.2, noisy, 0.4, label=f"ours, noisy 2D (avg {data['average']['p1_noisy']:.1f})", color="tab:orange")
    ax.bar(x + 0.2, gt2d, 0.4, label=f"ours, GT 2D, depth only (avg {data['average']['p1_depth_only']:.1f})",
           color="tab:green")
    ax.axhline(PAPER_P1_DETECTED_MM, color="tab:orange", ls="--", lw=1.2,
               label=f"paper SasMamba-S, detected 2D: {PAPER_P1_DETECTED_MM} (average)")
    ax.axhline(PAPER_P1_GT2D_MM, color="tab:green", ls="--", lw=1.2,
               label=f"paper SasMamba-S, GT 2D: {PAPER_P1_GT2D_MM} (average)")
    ax.set_xticks(x, actions, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("P1 (MPJPE), mm - lower is better")
    subset = (f"{data.get('sequences')} sequences of {', '.join(data.get('subjects', []))}, cameras "
              f"{data.get('cameras')}, frames per sequence {data.get('frames_per_sequence')}")
    ax.set_title(f"Human3.6M per action: {interim_label(data.get('training'))}\n{subset}; the paper's per-action "
                 "numbers are not in our docs, so its averages are drawn as lines", fontsize=9)
    ax.set_ylim(0, max(*noisy, *gt2d, PAPER_P1_DETECTED_MM) * 1.4)  # room for the legend above the bars
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return {"accuracy_png": _shown(out), "actions": len(actions),
            "paper_lines_mm": [PAPER_P1_DETECTED_MM, PAPER_P1_GT2D_MM]}


def run(quick: bool = False) -> dict:
    """Draw both pictures (quick draws the same: the clip is 4 s)."""
    result = {**pipeline_picture(), **accuracy_picture()}
    result["headline"] = {k: v for k, v in result.items() if k in ("pipeline_png", "accuracy_png", "why")}
    return result


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=1))
