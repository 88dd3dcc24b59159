"""The sidebar's settings (saved with the .blend, per scene) and the run state (per window manager, never saved)."""

from __future__ import annotations

import bpy

RIG_PRESETS = (
    ("AUTO", "Auto-detect", "Guess the map from bone names, else from the hierarchy"),
    ("metarig", "Meta-rig", "Blender's human meta-rig"),
    ("rigify", "Rigify", "A generated Rigify control rig (DEF/ORG bones)"),
    ("mixamo", "Mixamo", "mixamorig: names"),
    ("unreal", "Unreal", "Unreal mannequin names (pelvis, thigh_l ...)"),
    ("cmu", "CMU", "CMU BVH names (Hips, LeftUpLeg ...)"),
    ("makehuman", "MakeHuman", "MakeHuman default rig"),
    ("FILE", "Map File", "A map saved as JSON (Save Map, then edit it)"),
)


def _is_armature(_self: bpy.types.PropertyGroup, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


class MocapSettings(bpy.types.PropertyGroup):
    source: bpy.props.StringProperty(
        name="Source", subtype="FILE_PATH",
        description="A video, or a 2D keypoint file (COCO/OpenPose/MediaPipe JSON, CSV)")
    armature: bpy.props.PointerProperty(
        name="Armature", type=bpy.types.Object, poll=_is_armature,
        description="Target armature (the active armature when empty)")
    rig_preset: bpy.props.EnumProperty(name="Rig", items=RIG_PRESETS, default="AUTO",
                                       description="How the 17 joints map onto the armature's bones")
    map_path: bpy.props.StringProperty(name="Map File", subtype="FILE_PATH",
                                       description="Rig map JSON used when Rig is 'Map File'")
    smoothing: bpy.props.EnumProperty(
        name="Smoothing",
        items=(("film", "Film", "Zero-phase low-pass: smooth, for final animation"),
               ("responsive", "Responsive", "One Euro filter: keeps fast moves"),
               ("none", "None", "Raw lifted joints")),
        default="film")
    root_motion: bpy.props.EnumProperty(
        name="Root Motion",
        items=(("on", "On", "Travel through the scene as the performer did"),
               ("in_place", "In Place", "Hips stay above the origin"),
               ("in_place_vertical", "In Place, Keep Height", "No travel, keep the hips' vertical motion")),
        default="on")
    start_frame: bpy.props.IntProperty(name="Start Frame", default=1, description="Frame of the clip's first key")
    batch_dir: bpy.props.StringProperty(name="Folder", subtype="DIR_PATH",
                                        description="Folder of videos / keypoint files for batch import")
    export_dir: bpy.props.StringProperty(name="Export To", subtype="DIR_PATH", default="//mocap_export/",
                                         description="Folder the FBX / BVH files are written to")
    export_scope: bpy.props.EnumProperty(
        name="Clips",
        items=(("CURRENT", "Current Clip", "The armature's active Action"),
               ("ALL", "All Clips", "Every Action imported by this add-on for the armature")),
        default="CURRENT")


class MocapRuntime(bpy.types.PropertyGroup):
    running: bpy.props.BoolProperty(default=False)
    cancel_requested: bpy.props.BoolProperty(default=False)
    stage: bpy.props.StringProperty(default="")
    progress: bpy.props.FloatProperty(name="Progress", subtype="FACTOR", min=0.0, max=1.0, default=0.0)
    report: bpy.props.StringProperty(default="", description="Last run's report, one line per entry")
    last_action: bpy.props.StringProperty(default="")


CLASSES = (MocapSettings, MocapRuntime)


@bpy.app.handlers.persistent
def _reset_run_state(*_args: object) -> None:
    """A file opened mid-run (or saved during one) must not show a run that no thread is doing."""
    for wm in bpy.data.window_managers:
        wm.sasmamba_mocap.running = False
        wm.sasmamba_mocap.cancel_requested = False


def attach() -> None:
    bpy.types.Scene.sasmamba_mocap = bpy.props.PointerProperty(type=MocapSettings)
    bpy.types.WindowManager.sasmamba_mocap = bpy.props.PointerProperty(type=MocapRuntime)
    if _reset_run_state not in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.append(_reset_run_state)


def detach() -> None:
    if _reset_run_state in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_reset_run_state)
    for owner in (bpy.types.Scene, bpy.types.WindowManager):
        if hasattr(owner, "sasmamba_mocap"):
            del owner.sasmamba_mocap


def target_armature(context: bpy.types.Context) -> bpy.types.Object | None:
    """The chosen armature, else the active object when it is an armature."""
    obj = context.scene.sasmamba_mocap.armature
    if obj is None:
        active = context.view_layer.objects.active if context.view_layer else None
        obj = active if active is not None and active.type == "ARMATURE" else None
    return obj
