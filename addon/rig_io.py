"""Read a Blender armature into a `retarget.Rig`, refusing armatures whose bones we cannot trust."""

from __future__ import annotations

import numpy as np

from .siblings import retarget

InputError = retarget.errors.InputError


def check_armature(obj) -> None:
    """InputError for what makes an armature unusable: not an armature, in Edit Mode, non-uniform scale."""
    if obj is None or getattr(obj, "type", None) != "ARMATURE":
        raise InputError(f"{getattr(obj, 'name', obj)!r} is not an armature object")
    if obj.mode == "EDIT" or obj.data.is_editmode:
        raise InputError(f"armature {obj.name!r} is in Edit Mode: switch to Object or Pose Mode first "
                         "(bone edits reach the rig only on leaving Edit Mode)")
    scale = np.array(obj.matrix_world.to_scale())
    if np.any(scale <= 0) or scale.max() / scale.min() > 1 + 1e-4:
        raise InputError(f"armature {obj.name!r} has non-uniform or negative object scale "
                         f"{tuple(round(float(s), 4) for s in scale)}: apply the scale (Ctrl+A > Scale) first")


def constrained_bones(obj, names: list[str] | None = None) -> list[str]:
    """Pose bones (of `names`, or all) with an enabled constraint of non-zero influence: keys would be overridden."""
    out = []
    for pb in obj.pose.bones:
        if names is not None and pb.name not in names:
            continue
        if any(c.enabled and c.influence > 0 for c in pb.constraints):
            out.append(pb.name)
    return out


def rig_from_armature(obj) -> retarget.Rig:
    """The armature's rest pose (armature space, Blender units) as a `retarget.Rig`.

    `world` carries the object's rotation and uniform scale (a Y-up FBX rig stood upright by its object);
    meta["constrained"] lists pose bones driven by constraints, meta["scale"] the (uniform) object scale.
    """
    check_armature(obj)
    bones = []
    short = []
    for b in obj.data.bones:
        head, tail = np.array(b.head_local, dtype=np.float64), np.array(b.tail_local, dtype=np.float64)
        if np.linalg.norm(tail - head) < 1e-5:
            short.append(b.name)
            continue
        rest = np.array([list(row) for row in b.matrix_local.to_3x3()], dtype=np.float64)
        bones.append({"name": b.name, "parent": b.parent.name if b.parent else None, "head": head, "tail": tail,
                      "rest": rest})
    if short:
        raise InputError(f"armature {obj.name!r} has zero-length bones: {', '.join(short)}")
    if not bones:
        raise InputError(f"armature {obj.name!r} has no bones")
    rig = retarget.Rig.from_bones(bones, name=obj.name)
    rig.world = np.array([list(row) for row in obj.matrix_world.to_3x3()], dtype=np.float64)
    rig.meta["constrained"] = constrained_bones(obj)
    rig.meta["scale"] = float(obj.matrix_world.to_scale()[0])
    return rig


def armature_from_rig(rig: retarget.Rig, name: str, *, collection=None):
    """A new armature object built from a `Rig` through edit bones (head, tail, roll); returns the object."""
    import bpy

    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    (collection or bpy.context.scene.collection).objects.link(obj)
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit = {}
        for i, bone_name in enumerate(rig.names):
            eb = data.edit_bones.new(bone_name)
            eb.head, eb.tail, eb.roll = rig.heads[i].tolist(), rig.tails[i].tolist(), float(rig.rolls[i])
            edit[bone_name] = eb
        for i, bone_name in enumerate(rig.names):
            if rig.parents[i] >= 0:
                edit[bone_name].parent = edit[rig.names[rig.parents[i]]]
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        if previous is not None:
            view_layer.objects.active = previous
    return obj
