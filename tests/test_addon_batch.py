"""Batch import (a bad clip never stops the batch) and cancel (the scene is left exactly as it was)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from addon_testlib import blender, keypoint_cache, metarig, needs_pipeline, pose_snapshot  # noqa: F401

pytestmark = needs_pipeline


def _batch_folder(media_dir: Path, folder: Path) -> Path:
    folder.mkdir()
    for name in ("pose_1.mp4", "pose_squats.mp4"):
        shutil.copy2(media_dir / name, folder / name)  # same name, size and time: the session's keypoint cache hits
    (folder / "corrupt.mp4").write_bytes(bytes(range(256)) * 64)
    (folder / "notes.txt").write_text("not a clip: ignored")
    return folder


def test_batch_two_actions_one_clear_failure(blender, media_dir, tmp_path):  # noqa: F811
    bpy = blender
    rig = metarig(bpy)
    settings = bpy.context.scene.sasmamba_mocap
    settings.batch_dir, settings.armature, settings.rig_preset = str(_batch_folder(media_dir, tmp_path / "clips")), \
        rig, "metarig"
    assert bpy.ops.mocap.batch_import() == {"FINISHED"}
    report = bpy.context.window_manager.sasmamba_mocap.report.splitlines()
    assert report[0].startswith("corrupt.mp4: failed: ") and "corrupt.mp4" in report[0][len("corrupt.mp4: "):]
    assert report[1] == "pose_1.mp4: done -> Action 'pose_1'"
    assert report[2] == "pose_squats.mp4: done -> Action 'pose_squats'"
    tracks = {t.name: t for t in rig.animation_data.nla_tracks}
    assert sorted(tracks) == ["pose_1", "pose_squats"]
    for name, frames in (("pose_1", 120), ("pose_squats", 65)):
        action = bpy.data.actions[name]
        assert action.use_fake_user
        strip = tracks[name].strips[0]
        assert strip.action == action and strip.frame_start == 1 and strip.frame_end == frames
    assert rig.animation_data.action is None  # the clips wait on their tracks

    # all imported clips: one FBX with one take each, one BVH each
    settings.export_scope, settings.export_dir = "ALL", str(tmp_path / "exported")
    assert bpy.ops.mocap.export(format="FBX") == {"FINISHED"}
    assert bpy.ops.mocap.export(format="BVH") == {"FINISHED"}
    assert [t.name for t in rig.animation_data.nla_tracks] == ["pose_1", "pose_squats"]  # export left no trace
    assert rig.animation_data.action is None
    assert "Frames: 65" in (tmp_path / "exported" / "pose_squats.bvh").read_text()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(tmp_path / "exported" / "metarig.fbx"))
    takes = {a.name.split("|")[-1]: tuple(a.frame_range) for a in bpy.data.actions}
    assert takes == {"pose_1": (1.0, 120.0), "pose_squats": (1.0, 65.0)}


def test_cancel_mid_clip_restores_the_scene(blender, media_dir):  # noqa: F811
    from addon import lift

    bpy = blender
    rig = metarig(bpy)
    rig.pose.bones["upper_arm.L"].rotation_quaternion = (0.9, 0.1, 0.0, 0.0)  # the user's own unkeyed pose
    before, actions, frames = pose_snapshot(rig), set(bpy.data.actions), (bpy.context.scene.frame_start,
                                                                          bpy.context.scene.frame_end)
    seen: list[str] = []

    def progress(index: int, stage: str, fraction: float) -> None:
        seen.append(stage)

    # cancel as soon as the lifter starts: detection and 2D clean-up are done, nothing has reached the scene yet
    outcomes = lift.lift_clips(bpy.context, sources=[str(media_dir / "pose_1.mp4")], armature=rig,
                               rig_preset="metarig", progress=progress, cancel=lambda: "lift" in seen)
    assert [o.status for o in outcomes] == ["cancelled"]
    after = pose_snapshot(rig)
    assert set(bpy.data.actions) == actions and after["action"] == before["action"] is None
    assert after["tracks"] == before["tracks"] == []
    assert np.array_equal(after["matrices"], before["matrices"])
    assert (bpy.context.scene.frame_start, bpy.context.scene.frame_end) == frames


def test_cancel_between_clips_keeps_finished_clips(blender, media_dir, tmp_path):  # noqa: F811
    from addon import lift

    bpy = blender
    rig = metarig(bpy)
    finished: list[int] = []

    def progress(index: int, stage: str, fraction: float) -> None:
        if stage == "retarget" and fraction >= 1.0:
            finished.append(index)

    sources = [str(media_dir / "pose_1.mp4"), str(media_dir / "pose_squats.mp4")]
    outcomes = lift.lift_clips(bpy.context, sources=sources, armature=rig, rig_preset="metarig", as_nla=True,
                               progress=progress, cancel=lambda: bool(finished))
    assert [o.status for o in outcomes] == ["done", "cancelled"]
    assert [t.name for t in rig.animation_data.nla_tracks] == ["pose_1"]
    assert "pose_squats" not in bpy.data.actions
