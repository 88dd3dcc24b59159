"""Worker functions behind the operators (io_anim_bvh style: keyword-only options and a `report` callable).

The operators only gather settings and call these; the CLI, the demo and the tests call them too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import bpy

from .api import errors, pipeline, retarget_package
from .runner import ClipOutcome, ClipRunner

Report = Callable[[set[str], str], None]


def _print_report(level: set[str], message: str) -> None:
    print(f"{next(iter(level))}: {message}")


def resolve_rig(obj: bpy.types.Object, *, rig_preset: str = "AUTO", map_path: str = "",
                report: Report = _print_report) -> tuple[Any, Any]:
    """(Rig, RigMap) for an armature: a named preset, a saved map file, or detected from the bones."""
    from . import rig_io

    InputError = errors().InputError
    if obj is None or obj.type != "ARMATURE":
        raise InputError("no target armature: pick one in the Mocap panel or make an armature active")
    retarget = retarget_package()
    rig = rig_io.rig_from_armature(obj)
    if rig_preset == "FILE":
        path = bpy.path.abspath(map_path)
        if not map_path:
            raise InputError("Rig is 'Map File' but no map file is set")
        try:
            rig_map = retarget.RigMap.load(path)
        except FileNotFoundError as exc:
            raise InputError(f"{path}: map file not found") from exc
    elif rig_preset == "AUTO":
        rig_map = retarget.detect_map(rig)
        unplaced = list(getattr(rig_map, "unplaced", []) or [])
        if unplaced:
            report({"WARNING"}, f"'{obj.name}': could not place {', '.join(map(str, unplaced))}; "
                                "save the map, edit it and load it as a Map File")
    else:
        rig_map = retarget.RigMap.preset(rig_preset)
    return rig, rig_map


def pipeline_options(*, smoothing: str = "film", root_motion: str = "on", backend: str = "auto",
                     use_cache: bool = True) -> dict:
    from .cache import cache_dir

    return {"preset": smoothing, "root_motion": root_motion, "backend": backend,
            "cache_dir": cache_dir() if use_cache else None}


def lift_clips(context: bpy.types.Context, *, sources: Sequence[str], armature: bpy.types.Object,
               rig_preset: str = "AUTO", map_path: str = "", smoothing: str = "film", root_motion: str = "on",
               backend: str = "auto", use_cache: bool = True, start_frame: int = 1, as_nla: bool = False,
               cancel: Callable[[], bool] | None = None, progress: Callable[[int, str, float], None] | None = None,
               report: Report = _print_report) -> list[ClipOutcome]:
    """Lift every source onto `armature`, each as a new Action, in this thread. Failures are per clip."""
    rig, rig_map = resolve_rig(armature, rig_preset=rig_preset, map_path=map_path, report=report)
    runner = ClipRunner(sources, armature=armature.name, rig=rig, rig_map=rig_map, start_frame=start_frame,
                        as_nla=as_nla, cancel=cancel, on_progress=progress,
                        options=pipeline_options(smoothing=smoothing, root_motion=root_motion, backend=backend,
                                                 use_cache=use_cache))
    outcomes = runner.run_inline(context)
    for outcome in outcomes:
        report({"INFO"} if outcome.status == "done" else {"WARNING"}, outcome.line())
    return outcomes


def save_map(obj: bpy.types.Object, filepath: str, *, rig_preset: str = "AUTO", map_path: str = "",
             report: Report = _print_report) -> str:
    """Write the map the add-on would use for `obj` to JSON, for editing and reuse across a batch."""
    _rig, rig_map = resolve_rig(obj, rig_preset=rig_preset, map_path=map_path, report=report)
    path = bpy.path.abspath(filepath)
    rig_map.save(path)
    report({"INFO"}, f"rig map written to {path}")
    return path


def is_supported_source(path: str) -> bool:
    from pathlib import Path

    suffix = Path(path).suffix.lower()
    mod = pipeline()
    return suffix in mod.VIDEO_SUFFIXES or suffix in mod.KEYPOINT_SUFFIXES
