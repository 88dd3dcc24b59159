"""Lift to 3D on real video onto Blender's meta-rig, then FBX and BVH through Blender's own exporters and importers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from addon_testlib import blender, fcurve_key_counts, keypoint_cache, metarig  # noqa: F401

POSE_1_FRAMES = 120  # ../shared/data/README.md: 576x576, 120 frames at 30 fps


def _lift(bpy, source: Path, rig) -> str:
    settings = bpy.context.scene.sasmamba_mocap
    settings.source, settings.armature, settings.rig_preset = str(source), rig, "metarig"
    assert bpy.ops.mocap.lift_to_3d() == {"FINISHED"}
    return bpy.context.window_manager.sasmamba_mocap.last_action


def _bone_heads(bpy, obj, frame: int) -> np.ndarray:
    bpy.context.scene.frame_set(frame)
    return np.array([list(pb.head) for pb in obj.pose.bones])


def test_pose_1_onto_metarig_one_key_per_frame_and_exports_round_trip(blender, media_dir, tmp_path):  # noqa: F811
    bpy = blender
    rig = metarig(bpy)
    rest = _bone_heads(bpy, rig, 0)
    name = _lift(bpy, media_dir / "pose_1.mp4", rig)
    action = bpy.data.actions[name]
    assert name == "pose_1" and rig.animation_data.action == action
    assert action.use_fake_user
    assert fcurve_key_counts(action) == {POSE_1_FRAMES}
    assert tuple(action.frame_range) == (1.0, float(POSE_1_FRAMES))
    assert (bpy.context.scene.frame_start, bpy.context.scene.frame_end) == (1, POSE_1_FRAMES)
    first, last = _bone_heads(bpy, rig, 1), _bone_heads(bpy, rig, POSE_1_FRAMES)
    moved = np.linalg.norm(last - first, axis=1)
    assert moved.max() > 0.1  # metres: the arms go up in pose_1
    assert np.linalg.norm(first - rest, axis=1).max() > 0.01
    report = bpy.context.window_manager.sasmamba_mocap.report
    assert f"{POSE_1_FRAMES} frames" in report and "detection" in report

    # FBX: armature only, baked; back in through Blender's importer
    fbx = tmp_path / "pose_1.fbx"
    assert bpy.ops.mocap.export(format="FBX", filepath=str(fbx)) == {"FINISHED"}
    bvh = tmp_path / "pose_1.bvh"
    assert bpy.ops.mocap.export(format="BVH", filepath=str(bvh)) == {"FINISHED"}
    n_bones = len(rig.data.bones)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(fbx))  # default anim_offset=1: the take lands on frames 1..120 again
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert [o.type for o in bpy.data.objects] == ["ARMATURE"]  # armature only
    assert len(arms[0].data.bones) == n_bones
    assert [a.name.split("|")[-1] for a in bpy.data.actions] == ["pose_1"]  # one take, named after the Action
    assert tuple(bpy.data.actions[0].frame_range) == (1.0, float(POSE_1_FRAMES))

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=str(bvh), update_scene_duration=True)
    arm = bpy.context.view_layer.objects.active
    assert arm.type == "ARMATURE" and len(arm.data.bones) == n_bones
    first, last = arm.animation_data.action.frame_range
    assert last - first + 1 == POSE_1_FRAMES
    header = bvh.read_text().split("MOTION", 1)[1]
    assert f"Frames: {POSE_1_FRAMES}" in header


def test_running_twice_gives_two_actions_and_overwrites_nothing(blender, media_dir):  # noqa: F811
    bpy = blender
    rig = metarig(bpy)
    first = bpy.data.actions[_lift(bpy, media_dir / "pose_1.mp4", rig)]
    from addon.actions import action_fcurves

    keys_before = [np.array([kp.co[1] for kp in fc.keyframe_points]) for fc in action_fcurves(first)]
    bpy.context.scene.sasmamba_mocap.smoothing = "responsive"  # other settings: keypoints come from the cache
    second = bpy.data.actions[_lift(bpy, media_dir / "pose_1.mp4", rig)]
    assert first != second and first.name == "pose_1" and second.name.startswith("pose_1.")
    assert "from cache" in bpy.context.window_manager.sasmamba_mocap.report
    assert rig.animation_data.action == second
    assert first.use_fake_user and first.users >= 1  # kept, and saved with the file
    keys_after = [np.array([kp.co[1] for kp in fc.keyframe_points]) for fc in action_fcurves(first)]
    assert all(np.array_equal(a, b) for a, b in zip(keys_before, keys_after, strict=True))


def test_bad_source_is_reported_and_changes_nothing(blender, tmp_path):  # noqa: F811
    bpy = blender
    rig = metarig(bpy)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    settings = bpy.context.scene.sasmamba_mocap
    settings.source, settings.armature = str(bad), rig
    n_actions = len(bpy.data.actions)
    with pytest.raises(RuntimeError, match="broken.mp4"):  # headless, an ERROR report raises
        bpy.ops.mocap.lift_to_3d()
    assert len(bpy.data.actions) == n_actions and rig.animation_data is None
    assert "broken.mp4: failed" in bpy.context.window_manager.sasmamba_mocap.report
