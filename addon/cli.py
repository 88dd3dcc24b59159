"""Headless CLI, the sidebar's code path: it fills the same settings and calls the same operators.

    python -m addon animate INPUT --rig metarig|mixamo|unreal|cmu|makehuman|RIG.json|CHAR.fbx -o OUT.{fbx,bvh,blend}
    python -m addon batch DIR --rig ... -o OUTDIR --format fbx,bvh
    python -m addon demo [VIDEO] -o out

Exit status: 0 success, 1 the run failed (message on stderr), 2 bad arguments, 3 batch with some clips failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rig", default="metarig",
                        help="metarig (Blender's meta-rig); mixamo, unreal, cmu, makehuman (our built-in T-pose "
                             "humanoid with those bone names); an MPFB rig .json (mpfb:NAME for the one in "
                             "../shared/rigs); a character .fbx/.bvh/.blend; or a rig map .json (with --character)")
    parser.add_argument("--character", help="your character (.fbx/.bvh/.blend): its first armature is the target")
    parser.add_argument("--map", dest="map_path", help="rig map JSON (from Save Map) instead of auto-detection")
    parser.add_argument("--smoothing", choices=("film", "responsive", "none"), default="film")
    parser.add_argument("--root-motion", choices=("on", "in_place", "in_place_vertical"), default="on")
    parser.add_argument("--backend", choices=("auto", "cuda", "torch", "numpy"), default="auto")
    parser.add_argument("--start-frame", type=int, default=1)
    parser.add_argument("--no-cache", action="store_true", help="detect again even when keypoints are cached")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m addon", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    animate = sub.add_parser("animate", help="one clip onto one rig, written as .fbx, .bvh or .blend")
    animate.add_argument("input", help="video or 2D keypoint file")
    animate.add_argument("-o", "--output", required=True, help="OUT.fbx, OUT.bvh or OUT.blend")
    _common(animate)
    batch = sub.add_parser("batch", help="every clip of a folder, one Action each, exported per clip")
    batch.add_argument("folder")
    batch.add_argument("-o", "--output", required=True, help="output folder")
    batch.add_argument("--format", default="fbx,bvh", help="comma list of fbx, bvh, blend")
    _common(batch)
    demo = sub.add_parser("demo", help="the whole pipeline on the synthetic performer (or VIDEO) onto the meta-rig")
    demo.add_argument("video", nargs="?", help="a video or keypoint file instead of the synthetic performer")
    demo.add_argument("-o", "--output", default="out", help="output folder (default: out)")
    _common(demo)
    return parser


def setup_scene(args: argparse.Namespace):
    """Empty scene, add-on registered, target armature built, settings filled. Returns the armature."""
    import bpy

    from . import register, rigs

    bpy.ops.wm.read_factory_settings(use_empty=True)
    register()
    context = bpy.context
    if args.character:
        obj, preset = rigs.import_rig_file(context, args.character), "AUTO"
        if args.rig not in ("metarig",) and not Path(args.rig).suffix:
            preset = args.rig.removeprefix("mpfb:")  # a named map for the user's character
    elif args.rig.lower().endswith(".json") and Path(args.rig).is_file() and not rigs.is_mpfb_json(args.rig):
        raise _usage(f"--rig {args.rig} is a rig map: give the character with --character")
    else:
        obj, preset = rigs.make_target(context, args.rig)
    settings = context.scene.sasmamba_mocap
    settings.armature = obj
    settings.rig_preset = "FILE" if args.map_path else preset
    settings.map_path = args.map_path or ""
    settings.smoothing, settings.root_motion, settings.start_frame = args.smoothing, args.root_motion, args.start_frame
    if args.rig.lower().endswith(".json") and args.character and not rigs.is_mpfb_json(args.rig):
        settings.rig_preset, settings.map_path = "FILE", str(Path(args.rig).resolve())
    return obj


class _UsageError(Exception):
    pass


def _usage(message: str) -> _UsageError:
    return _UsageError(message)


def _set_backend(args: argparse.Namespace) -> None:
    """The add-on isn't installed here, so its preferences come from the environment (see get_preferences)."""
    import os

    os.environ["SASMAMBA_BACKEND"] = args.backend
    if args.no_cache:
        os.environ["SASMAMBA_NO_CACHE"] = "1"


def write_output(obj, output: Path, *, actions=None) -> list[Path]:
    """Write the armature's clip(s) to .fbx / .bvh / .blend, chosen by the suffix."""
    import bpy

    from . import export

    suffix = output.suffix.lower()
    output.parent.mkdir(parents=True, exist_ok=True)
    clips = actions or [obj.animation_data.action]
    if suffix == ".fbx":
        return [export.export_fbx(bpy.context, armature=obj, actions_=clips, filepath=str(output), report=_say)]
    if suffix == ".bvh":
        return export.export_bvh(bpy.context, armature=obj, actions_=clips, filepath=str(output), report=_say)
    if suffix == ".blend":
        bpy.ops.wm.save_as_mainfile(filepath=str(output.resolve()), copy=True)
        return [output]
    raise _usage(f"{output}: output must end in .fbx, .bvh or .blend")


def _say(level: set[str], message: str) -> None:
    print(f"[mocap] {message}" if "INFO" in level else f"[mocap] {next(iter(level)).lower()}: {message}")


def _lift(operator: str) -> str:
    """Run a sidebar operator; its ERROR reports become RuntimeError headless: turn them into a clean message."""
    import bpy

    try:
        result = getattr(bpy.ops.mocap, operator)()
    except RuntimeError as exc:
        raise SystemExit(_fail(str(exc).replace("Error: ", "").strip())) from None
    state = bpy.context.window_manager.sasmamba_mocap
    for line in state.report.splitlines():
        print(f"[mocap] {line}")
    return "FINISHED" if "FINISHED" in result else "CANCELLED"


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def cmd_animate(args: argparse.Namespace) -> int:
    import bpy

    source = Path(args.input)
    if not source.is_file():
        return _fail(f"{source}: no such file")
    output = Path(args.output)
    if output.suffix.lower() not in (".fbx", ".bvh", ".blend"):
        raise _usage(f"{output}: output must end in .fbx, .bvh or .blend")
    obj = setup_scene(args)
    bpy.context.scene.sasmamba_mocap.source = str(source.resolve())
    if _lift("lift_to_3d") != "FINISHED":
        return _fail(f"{source}: no animation produced")
    for path in write_output(obj, output):
        print(f"[mocap] wrote {path}")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    import json

    import bpy

    from . import actions

    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    if not formats or set(formats) - {"fbx", "bvh", "blend"}:
        raise _usage(f"--format {args.format}: use a comma list of fbx, bvh, blend")
    out = Path(args.output)
    obj = setup_scene(args)
    bpy.context.scene.sasmamba_mocap.batch_dir = str(Path(args.folder).resolve())
    _lift("batch_import")
    state = bpy.context.window_manager.sasmamba_mocap
    clips = {a.name: a for a in actions.clip_actions(obj)}
    for name, action in clips.items():
        for fmt in formats:
            if fmt != "blend":
                write_output(obj, out / f"{bpy.path.clean_name(name)}.{fmt}", actions=[action])
    if "blend" in formats:
        write_output(obj, out / "batch.blend")
    lines = state.report.splitlines()
    (out / "report.json").write_text(json.dumps({"clips": lines}, indent=1))
    failed = [line for line in lines if ": failed" in line or ": cancelled" in line]
    print(f"[mocap] {len(clips)} clip(s) written to {out}; {len(failed)} failed; report: {out / 'report.json'}")
    if not clips:
        return _fail("no clip could be imported")
    return 3 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _set_backend(args)
    started = time.perf_counter()
    try:
        if args.command == "animate":
            code = cmd_animate(args)
        elif args.command == "batch":
            code = cmd_batch(args)
        else:
            from . import demo

            code = demo.run(args)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from .api import errors

        if isinstance(exc, errors().InputError | FileNotFoundError):
            return _fail(str(exc))
        raise
    print(f"[mocap] total {time.perf_counter() - started:.1f}s")
    return code
