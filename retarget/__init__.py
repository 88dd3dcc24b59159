"""Retargeting: 17 joint positions -> bone rotations on any humanoid rig. numpy and scipy only, no bpy."""

from .animation import RigAnimation
from .bvh import write_bvh
from .fk import pose_bones, rig_joints
from .rig import Rig
from .rig_map import PRESETS, RigMap, detect_map
from .solver import retarget_pose

__all__ = ["PRESETS", "Rig", "RigAnimation", "RigMap", "detect_map", "pose_bones", "retarget_pose", "rig_joints",
           "write_bvh"]
