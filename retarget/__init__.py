"""Retargeting: 17 joint positions -> bone rotations on any humanoid rig. numpy and scipy only, no bpy."""
