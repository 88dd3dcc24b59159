"""Target armatures for the CLI and the demo: Blender's meta-rig, our built-in humanoids (Mixamo, Unreal, CMU,
MakeHuman bone names), an MPFB rig JSON, or the user's own file."""

from __future__ import annotations

import json
from pathlib import Path

import bpy
from mathutils import Vector

from .api import errors

# CLI names built in (retarget.humanoid: our own T-pose skeleton, nothing to download)
HUMANOID_RIGS = ("mixamo", "unreal", "cmu", "makehuman")
# "mpfb:NAME" -> MPFB rig JSON in ../shared/rigs (CC0, MakeHuman): not shipped, looked up beside the checkout
MPFB_RIGS = {"mixamo": "mpfb_rig.mixamo.json", "unreal": "mpfb_rig.game_engine.json",
             "cmu": "mpfb_rig.cmu_mb.json", "makehuman": "mpfb_rig.default.json"}
RIG_NAMES = ("metarig", *HUMANOID_RIGS, *(f"mpfb:{k}" for k in MPFB_RIGS))


def add_metarig(context: bpy.types.Context) -> bpy.types.Object:
    """Blender's human meta-rig (Rigify's, 1.8 m tall), facing -Y."""
    import addon_utils

    addon_utils.enable("rigify", default_set=True, persistent=True)
    bpy.ops.object.armature_human_metarig_add()
    return context.view_layer.objects.active


def add_humanoid(context: bpy.types.Context, preset: str, *, height_m: float = 1.75) -> bpy.types.Object:
    """Our built-in T-pose humanoid with `preset`'s bone names (mixamo, unreal, cmu, makehuman), facing -Y."""
    from .api import retarget_package
    from .rig_io import armature_from_rig

    rig = retarget_package().humanoid_rig(preset, height_m=height_m)
    obj = armature_from_rig(rig, preset)
    context.view_layer.objects.active = obj
    return obj


def armature_from_mpfb_json(context: bpy.types.Context, path: str | Path, *, name: str = "") -> bpy.types.Object:
    """An armature from an MPFB rig description: bone head/tail default positions (m, Z up), parent, roll."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise errors().InputError(f"{path}: cannot read rig JSON ({exc})") from exc
    bones = data.get("bones", data) if isinstance(data, dict) else None
    if not isinstance(bones, dict) or not all(isinstance(b, dict) and "head" in b for b in bones.values()):
        raise errors().InputError(f"{path}: not an MPFB rig JSON (expected bones with head/tail/parent)")
    arm = bpy.data.armatures.new(name or path.stem)
    obj = bpy.data.objects.new(name or path.stem, arm)
    context.scene.collection.objects.link(obj)
    context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, spec in bones.items():
        eb = arm.edit_bones.new(bone_name)
        eb.head = Vector(spec["head"]["default_position"])
        eb.tail = Vector(spec["tail"]["default_position"])
        if (eb.tail - eb.head).length < 1e-4:
            eb.tail = eb.head + Vector((0.0, 0.0, 0.01))
        eb.roll = float(spec.get("roll", 0.0))
    for bone_name, spec in bones.items():
        parent = spec.get("parent") or ""
        if parent in arm.edit_bones:
            arm.edit_bones[bone_name].parent = arm.edit_bones[parent]
            arm.edit_bones[bone_name].use_connect = bool(spec.get("use_connect", False))
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def import_rig_file(context: bpy.types.Context, path: str | Path) -> bpy.types.Object:
    """The first armature of a user's .fbx / .blend / .bvh file, brought into the scene."""
    path = Path(path)
    before = set(bpy.data.objects)
    suffix = path.suffix.lower()
    if suffix == ".fbx":
        bpy.ops.import_scene.fbx(filepath=str(path), use_anim=False)
    elif suffix == ".bvh":
        bpy.ops.import_anim.bvh(filepath=str(path))
    elif suffix == ".blend":
        with bpy.data.libraries.load(str(path)) as (src, dst):
            dst.objects = list(src.objects)
        for obj in dst.objects:
            if obj is not None:
                context.scene.collection.objects.link(obj)
    else:
        raise errors().InputError(f"{path}: rig must be .json (MPFB), .fbx, .bvh or .blend")
    armatures = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"]
    if not armatures:
        raise errors().InputError(f"{path}: no armature in this file")
    context.view_layer.objects.active = armatures[0]
    return armatures[0]


def is_mpfb_json(path: str | Path) -> bool:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    bones = data.get("bones", data) if isinstance(data, dict) else None
    return isinstance(bones, dict) and bool(bones) and all(isinstance(b, dict) and "head" in b for b in bones.values())


def make_target(context: bpy.types.Context, rig: str) -> tuple[bpy.types.Object, str]:
    """(armature object, rig preset for the map) from the CLI's --rig value: metarig, a built-in humanoid name
    (mixamo, unreal, cmu, makehuman), mpfb:NAME (that MPFB rig JSON from ../shared/rigs), an MPFB rig JSON file, or
    a character file (.fbx/.bvh/.blend)."""
    if rig == "metarig":
        return add_metarig(context), "metarig"
    if rig in HUMANOID_RIGS:
        return add_humanoid(context, rig), rig
    if rig.startswith("mpfb:") and rig[5:] in MPFB_RIGS:
        from .api import engine_module  # engine.paths gives the clear "missing ../shared" error

        path = engine_module("paths").shared_path("rigs", MPFB_RIGS[rig[5:]])
        return armature_from_mpfb_json(context, path, name=rig[5:]), rig[5:]
    path = Path(rig)
    if not path.is_file():
        raise errors().InputError(f"--rig {rig}: not one of {', '.join(RIG_NAMES)} and not a file")
    if path.suffix.lower() == ".json":
        return armature_from_mpfb_json(context, path), "AUTO"
    return import_rig_file(context, path), "AUTO"
