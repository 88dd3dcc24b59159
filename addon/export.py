"""FBX and BVH export of imported clips through Blender's own exporters.

FBX: armature only, baked, one take per Action, named after it. BVH: one file per Action. A take's times start at 0
whatever the clip's start frame; Blender's FBX importer puts the first key at its `anim_offset` (default 1, our
default start frame), so a default re-import lands on the same frames; for a clip moved elsewhere, import with
`anim_offset` = its start frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import bpy

from . import actions
from .api import errors
from .properties import target_armature

Report = Callable[[set[str], str], None]


def _focus(context: bpy.types.Context, obj: bpy.types.Object) -> None:
    for other in context.view_layer.objects:
        other.select_set(False)
    obj.hide_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj


class _ActiveActionSwap:
    """Make `action` the active Action for the duration, restoring the user's Action, slot and frame range."""

    def __init__(self, context: bpy.types.Context, obj: bpy.types.Object, action: bpy.types.Action) -> None:
        self.scene, self.obj, self.action = context.scene, obj, action

    def __enter__(self) -> tuple[int, int]:
        anim = self.obj.animation_data or self.obj.animation_data_create()
        self.saved = (anim.action, getattr(anim, "action_slot", None), self.scene.frame_start, self.scene.frame_end,
                      [t.mute for t in anim.nla_tracks])
        for track in anim.nla_tracks:
            track.mute = True
        anim.action = self.action
        if hasattr(anim, "action_slot") and anim.action_slot is None and len(self.action.slots):
            anim.action_slot = self.action.slots[0]
        first, last = (int(round(f)) for f in self.action.frame_range)
        self.scene.frame_start, self.scene.frame_end = first, last
        return first, last

    def __exit__(self, *exc: object) -> None:
        anim = self.obj.animation_data
        action, slot, start, end, mutes = self.saved
        anim.action = action
        if slot is not None and hasattr(anim, "action_slot"):
            anim.action_slot = slot
        for track, mute in zip(anim.nla_tracks, mutes, strict=False):
            track.mute = mute
        self.scene.frame_start, self.scene.frame_end = start, end


def _absolute(path: str) -> Path:
    if path.startswith("//") and not bpy.data.filepath:
        raise errors().InputError(f"{path} is relative to the .blend file: save the file first or pick a folder")
    return Path(bpy.path.abspath(path))


def export_bvh(context: bpy.types.Context, *, armature: bpy.types.Object, actions_: Sequence[bpy.types.Action],
               directory: str = "", filepath: str = "", report: Report) -> list[Path]:
    """One BVH per Action, `<directory>/<action name>.bvh` (or exactly `filepath` for a single Action), via
    Blender's BVH exporter."""
    if filepath and len(actions_) != 1:
        raise errors().InputError(f"{filepath}: one BVH file holds one clip; give a folder for {len(actions_)} clips")
    out = _absolute(filepath).parent if filepath else _absolute(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    _focus(context, armature)
    for action in actions_:
        path = _absolute(filepath) if filepath else out / f"{bpy.path.clean_name(action.name)}.bvh"
        with _ActiveActionSwap(context, armature, action) as (first, last):
            bpy.ops.export_anim.bvh(filepath=str(path), frame_start=first, frame_end=last, rotate_mode="NATIVE",
                                    root_transform_only=True)
        written.append(path)
        report({"INFO"}, f"BVH: {path}")
    return written


class _ClipsAsStrips:
    """For the FBX exporter's per-strip takes: every other NLA track muted, the active Action lifted off, and one
    temporary track per clip; everything put back afterwards (export is not an undo step)."""

    def __init__(self, obj: bpy.types.Object, clips: Sequence[bpy.types.Action]) -> None:
        self.obj, self.clips = obj, list(clips)

    def __enter__(self) -> None:
        anim = self.obj.animation_data or self.obj.animation_data_create()
        self.saved = (anim.action, getattr(anim, "action_slot", None), [(t, t.mute) for t in anim.nla_tracks])
        self.renamed = []
        for track in anim.nla_tracks:
            track.mute = True
            for strip in track.strips:  # free the clips' names for the takes
                self.renamed.append((strip, strip.name))
                strip.name = f"{strip.name}~"
        anim.action = None
        self.temp = []
        for action in self.clips:
            track = anim.nla_tracks.new()
            track.name = f"export {action.name}"
            strip = track.strips.new(action.name, int(round(action.frame_range[0])), action)
            if hasattr(strip, "action_slot") and strip.action_slot is None and len(action.slots):
                strip.action_slot = action.slots[0]
            self.temp.append(track)

    def __exit__(self, *exc: object) -> None:
        anim = self.obj.animation_data
        for track in self.temp:
            anim.nla_tracks.remove(track)
        for strip, name in self.renamed:
            strip.name = name
        action, slot, mutes = self.saved
        for track, mute in mutes:
            track.mute = mute
        anim.action = action
        if action is not None and slot is not None and hasattr(anim, "action_slot"):
            anim.action_slot = slot


def export_fbx(context: bpy.types.Context, *, armature: bpy.types.Object, actions_: Sequence[bpy.types.Action],
               filepath: str, report: Report) -> Path:
    """One FBX with the armature only and one baked take per Action, named after it (and nothing else: the
    exporter's "all actions" would also take any other Action that fits the rig)."""
    path = _absolute(filepath)
    path.parent.mkdir(parents=True, exist_ok=True)
    _focus(context, armature)
    with _ClipsAsStrips(armature, actions_):
        bpy.ops.export_scene.fbx(
            filepath=str(path), use_selection=True, object_types={"ARMATURE"}, add_leaf_bones=False,
            bake_anim=True, bake_anim_use_all_bones=True, bake_anim_use_nla_strips=True,
            bake_anim_use_all_actions=False, bake_anim_force_startend_keying=True, bake_anim_simplify_factor=0.0,
            use_armature_deform_only=False)
    report({"INFO"}, f"FBX ({len(actions_)} take(s)): {path}")
    return path


def clips_for_export(context: bpy.types.Context, obj: bpy.types.Object, scope: str) -> list[bpy.types.Action]:
    if obj is None:
        raise errors().InputError("no target armature to export")
    if scope == "CURRENT":
        action = obj.animation_data.action if obj.animation_data else None
        if action is None:
            raise errors().InputError(f"'{obj.name}' has no active Action to export")
        return [action]
    found = actions.clip_actions(obj)
    if not found:
        raise errors().InputError(f"'{obj.name}' has no imported clips to export")
    return found


class MOCAP_OT_export(bpy.types.Operator):
    """Export the current clip or all imported clips as FBX (one take each) or BVH (one file each)"""

    bl_idname = "mocap.export"
    bl_label = "Export"

    format: bpy.props.EnumProperty(items=(("FBX", "FBX", ""), ("BVH", "BVH", "")), default="FBX")
    filepath: bpy.props.StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"},
                                       description="FBX file (default: <Export To>/<armature>.fbx)")

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.sasmamba_mocap
        obj = target_armature(context)
        try:
            clips = clips_for_export(context, obj, settings.export_scope)
            if self.format == "BVH":
                single = self.filepath if len(clips) == 1 else ""
                directory = str(Path(self.filepath).parent) if self.filepath else settings.export_dir
                export_bvh(context, armature=obj, actions_=clips, directory=directory, filepath=single,
                           report=self.report)
            else:
                path = self.filepath or str(_absolute(settings.export_dir) / f"{bpy.path.clean_name(obj.name)}.fbx")
                export_fbx(context, armature=obj, actions_=clips, filepath=path, report=self.report)
        except (errors().InputError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


CLASSES = (MOCAP_OT_export,)
