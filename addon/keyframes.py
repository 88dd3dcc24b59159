"""Write a `RigAnimation` as keyframes on a new Action, in bulk, on Blender 4.2 (legacy), 4.4+ (slotted) and 5.0
(channelbags only; `Action.fcurves` is gone)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from .rig_io import check_armature, constrained_bones
from .siblings import retarget

InputError = retarget.errors.InputError


def _fcurve_factory(action, obj):
    """A function (data_path, index, group) -> FCurve for whichever action API this Blender has."""
    if hasattr(action, "slots") and hasattr(action, "layers"):  # 4.4+: slotted actions
        from bpy_extras import anim_utils

        slot = action.slots.new(id_type="OBJECT", name=obj.name)
        obj.animation_data.action = action
        if obj.animation_data.action_slot != slot:
            obj.animation_data.action_slot = slot
        if hasattr(anim_utils, "action_ensure_channelbag_for_slot"):  # 4.5+ (the documented route in 5.0)
            bag = anim_utils.action_ensure_channelbag_for_slot(action, slot)
        else:  # 4.4: no helper yet; make the layer and keyframe strip that hold the slot's channelbag ourselves
            layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
            strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
            bag = strip.channelbag(slot, ensure=True)
        if "group_name" in bag.fcurves.bl_rna.functions["new"].parameters:  # 4.5+
            return lambda path, index, group: bag.fcurves.new(path, index=index, group_name=group)
        groups: dict = {}  # 4.4: `fcurves.new` takes no group; make the groups and assign them ourselves

        def new_fcurve(path: str, index: int, group: str):
            fc = bag.fcurves.new(path, index=index)
            if group not in groups:
                groups[group] = bag.groups.new(group)
            fc.group = groups[group]
            return fc
        return new_fcurve
    obj.animation_data.action = action  # 4.2 and older: fcurves live on the action
    return lambda path, index, group: action.fcurves.new(path, index=index, action_group=group)


def _channels(pose_bone, quats: np.ndarray) -> tuple[str, np.ndarray]:
    """(property, values (T, n)) in the pose bone's own rotation mode, continuous over time."""
    mode = pose_bone.rotation_mode
    if mode == "QUATERNION":
        return "rotation_quaternion", quats
    rot = Rotation.from_quat(quats[:, [1, 2, 3, 0]])
    if mode == "AXIS_ANGLE":
        rv = rot.as_rotvec()
        angle = np.linalg.norm(rv, axis=1)
        axis = np.where(angle[:, None] > 1e-9, rv / np.maximum(angle, 1e-12)[:, None], [0.0, 1.0, 0.0])
        return "rotation_axis_angle", np.concatenate([angle[:, None], axis], axis=1)
    # Blender's Euler 'XYZ' applies X first: R = Rz Ry Rx, scipy's extrinsic "xyz"
    angles = rot.as_euler(mode.lower())  # in the order of `mode`
    xyz = np.empty_like(angles)
    for k, axis in enumerate(mode):
        xyz[:, "XYZ".index(axis)] = angles[:, k]
    return "rotation_euler", np.unwrap(xyz, axis=0)


def write_action(obj, anim: retarget.RigAnimation, *, name: str, frame_start: int = 1,
                 allow_constraints: bool = False, rest_unmapped: bool = True):
    """Key `anim` on armature `obj` in a new Action named `name` (Blender adds .001 ... if taken) and assign it.

    Nothing is overwritten: an Action the object had keeps a fake user so it survives saving. Bones of the
    armature that the animation does not list are put back to their rest pose (rest_unmapped), which is what the
    solver assumed. Raises InputError for missing bones or (unless allow_constraints) constrained ones.
    """
    import bpy

    check_armature(obj)
    missing = [b for b in anim.bone_names if b not in obj.pose.bones]
    if missing:
        raise InputError(f"armature {obj.name!r} lacks animated bones: {', '.join(missing)}")
    if not allow_constraints:
        busy = constrained_bones(obj, anim.bone_names)
        if busy:
            raise InputError(f"armature {obj.name!r}: constraints on {', '.join(busy)} would override the keys; "
                             "mute or remove them, or map other bones")
    t = anim.num_frames
    frames = np.arange(frame_start, frame_start + t, dtype=np.float64)
    if obj.animation_data is None:
        obj.animation_data_create()
    previous = obj.animation_data.action
    if previous is not None:
        previous.use_fake_user = True
    action = bpy.data.actions.new(name)
    new_fcurve = _fcurve_factory(action, obj)

    def key(path: str, index: int, group: str, values: np.ndarray) -> None:
        fc = new_fcurve(path, index, group)
        fc.keyframe_points.add(t)
        co = np.empty(2 * t, dtype=np.float32)
        co[0::2], co[1::2] = frames, values
        fc.keyframe_points.foreach_set("co", co)
        fc.update()

    for k, bone in enumerate(anim.bone_names):
        pb = obj.pose.bones[bone]
        prop, values = _channels(pb, anim.rotations[:, k])
        for i in range(values.shape[1]):
            key(f'pose.bones["{bone}"].{prop}', i, bone, values[:, i])
    root = obj.data.bones[anim.root_bone]
    rest = np.array([list(r) for r in root.matrix_local.to_3x3()])
    loc = (anim.root_location - np.array(root.head_local)) @ rest  # rest^T (p - head) per frame
    for i in range(3):
        key(f'pose.bones["{anim.root_bone}"].location', i, anim.root_bone, loc[:, i])
    if rest_unmapped:
        listed = set(anim.bone_names)
        for pb in obj.pose.bones:
            if pb.name not in listed:
                pb.location = (0.0, 0.0, 0.0)
                pb.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
                pb.rotation_euler = (0.0, 0.0, 0.0)
                pb.rotation_axis_angle = (0.0, 0.0, 1.0, 0.0)
                pb.scale = (1.0, 1.0, 1.0)
    action.frame_start, action.frame_end = frames[0], frames[-1]
    action.use_frame_range = True
    action["sasmamba_fps"] = float(anim.fps)
    return action
