"""`make demo`: the whole pipeline onto Blender's meta-rig, written as out/demo.{blend,fbx,bvh,png}.

With no video it animates the synthetic performer (engine/synthetic.py: our own procedural walk, projected through
a virtual camera to 2D keypoints), so the demo needs no footage.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .api import engine_module


def render_png(obj, path: Path, frames: list[int], *, title: str) -> Path:
    """Evaluated bone positions of `obj` at `frames`, drawn side by side (matplotlib, no display needed)."""
    import bpy
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scene = bpy.context.scene
    fig = plt.figure(figsize=(2.4 * len(frames), 3.6))
    segments = []
    for frame in frames:
        scene.frame_set(frame)
        mw = obj.matrix_world
        segs = [(np.array(mw @ pb.head), np.array(mw @ pb.tail), pb.bone.use_deform) for pb in obj.pose.bones]
        segments.append(segs)
    pts = np.array([p for segs in segments for s in segs for p in s[:2]])
    lo, hi = pts.min(0), pts.max(0)
    span = float((hi - lo).max()) / 2 + 0.05
    centre = (lo + hi) / 2
    for i, (frame, segs) in enumerate(zip(frames, segments, strict=True)):
        ax = fig.add_subplot(1, len(frames), i + 1, projection="3d")
        for head, tail, deform in segs:
            ax.plot(*zip(head, tail, strict=True), color="tab:blue" if deform else "0.75", lw=1.6 if deform else 0.6)
        root = np.mean([s[0] for s in segs[:3]], axis=0)
        for axis, lim in zip("xyz", range(3), strict=True):
            c = root[lim] if lim < 2 else centre[2]
            getattr(ax, f"set_{axis}lim")(c - span, c + span)
        ax.view_init(elev=12, azim=-60)
        ax.set_box_aspect((1, 1, 1), zoom=1.35)
        ax.set_title(f"frame {frame}", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=0.9, wspace=0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def run(args: argparse.Namespace) -> int:
    import bpy

    from . import cli

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    tick = time.perf_counter()
    if args.video:
        source = Path(args.video).resolve()
        if not source.is_file():
            return cli._fail(f"{source}: no such file")
        label = source.name
    else:
        kp, _truth = engine_module("synthetic").synthetic_performer()
        source = out / "demo.kp.json"
        engine_module("keypoint_io").save_keypoints(kp, source)
        label = f"synthetic performer ({kp.num_frames} frames at {kp.fps:g} fps)"
        timings["synthesise"] = time.perf_counter() - tick
    args.rig, args.character, args.map_path = "metarig", None, None
    tick = time.perf_counter()
    obj = cli.setup_scene(args)
    timings["scene"] = time.perf_counter() - tick
    print(f"[demo] {label} -> Blender meta-rig")
    bpy.context.scene.sasmamba_mocap.source = str(source)
    tick = time.perf_counter()
    cli._lift("lift_to_3d")
    timings["lift to 3D (all stages)"] = time.perf_counter() - tick
    action = obj.animation_data.action if obj.animation_data else None
    if action is None:
        return cli._fail("no animation produced")
    outputs = []
    for suffix in (".fbx", ".bvh"):
        tick = time.perf_counter()
        outputs += cli.write_output(obj, out / f"demo{suffix}")
        timings[f"export {suffix[1:].upper()}"] = time.perf_counter() - tick
    first, last = (int(round(f)) for f in action.frame_range)
    tick = time.perf_counter()
    frames = [int(round(f)) for f in np.linspace(first, last, 6)]
    outputs.append(render_png(obj, out / "demo.png", frames, title=f"SasMamba Mocap demo: {label}"))
    timings["picture"] = time.perf_counter() - tick
    bpy.context.scene.frame_set(first)
    outputs += cli.write_output(obj, out / "demo.blend")
    state = bpy.context.window_manager.sasmamba_mocap
    print("[demo] pipeline stages: " + next((ln.split(": ", 1)[1] for ln in state.report.splitlines()
                                              if ln.startswith("stages:")), "n/a"))
    print("[demo] demo steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    print(f"[demo] Action '{action.name}': frames {first}-{last} on '{obj.name}' ({len(obj.pose.bones)} bones)")
    for path in outputs:
        print(f"[demo] wrote {Path(path).resolve()}")
    return 0
