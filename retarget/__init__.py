"""Retargeting: 17 joint positions -> bone rotations on any humanoid rig. numpy and scipy only, no bpy.

    rig = Rig.from_mpfb_json(path)            # or Rig.from_bvh(path), humanoid_rig("mixamo"), or
                                              # addon.rig_io.rig_from_armature(obj)
    rig_map = detect_map(rig)                 # a preset (RigMap.preset("mixamo") ...), or a proposal: see .unplaced
    anim = retarget_pose(pose, rig, rig_map)  # pose: Pose3D in space "world" (Z up, mm)
    write_bvh("take.bvh", rig, anim)          # or addon.keyframes.write_action(obj, anim, name="take")

Modules: rig (rest pose as arrays), humanoid (our built-in T-pose skeletons named per convention), rig_map (slots,
presets, detection), solver (calibrated aim + pole, two-bone IK, spine spread, root and feet), fk (forward
kinematics for evaluation), bvh (writer), quat (rotation helpers).
"""

from .animation import RigAnimation
from .bvh import write_bvh
from .fk import pose_bones, rig_joints
from .humanoid import humanoid_rig
from .rig import Rig
from .rig_map import PRESETS, SLOTS, RigMap, detect_map
from .solver import retarget_pose, two_bone_ik

__all__ = ["PRESETS", "SLOTS", "Rig", "RigAnimation", "RigMap", "detect_map", "humanoid_rig", "pose_bones",
           "retarget_pose", "rig_joints", "two_bone_ik", "write_bvh"]
