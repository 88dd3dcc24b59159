"""Retargeting in real headless Blender: reading armatures, keying Actions, BVH import, the CMU FBX round trip."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from addon.keyframes import write_action  # noqa: E402
from addon.rig_io import armature_from_rig, rig_from_armature  # noqa: E402
from benchmarks.retarget import LIMBS, angle_deg, world_pose  # noqa: E402
from engine.errors import InputError  # noqa: E402
from engine.types import Pose3D  # noqa: E402
from retarget import Rig, RigMap, detect_map, pose_bones, retarget_pose, rig_joints, write_bvh  # noqa: E402

JSON_RIGS = ("mpfb_rig.mixamo.json", "mpfb_rig.game_engine.json", "mpfb_rig.cmu_mb.json")


@pytest.fixture(autouse=True)
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture(scope="module")
def walk() -> Pose3D:
    from engine.h36m import load_poses

    return world_pose(load_poses(["S9"])["S9/Walking 1"][:240])


def blender_joints(obj, rig: Rig, rig_map: RigMap, frames) -> np.ndarray:
    """The 17 joints read off Blender's own evaluation of the pose bones, (len(frames), 17, 3)."""
    n = len(obj.pose.bones)
    order = [obj.pose.bones.find(b) for b in rig.names]
    out = []
    for f in frames:
        bpy.context.scene.frame_set(int(f))
        heads, tails = np.empty(n * 3, np.float32), np.empty(n * 3, np.float32)
        obj.pose.bones.foreach_get("head", heads)
        obj.pose.bones.foreach_get("tail", tails)
        out.append(rig_joints(rig, rig_map, heads.reshape(n, 3)[order].astype(float),
                              tails.reshape(n, 3)[order].astype(float)))
    return np.array(out)


def limb_error(joints: np.ndarray, gt_mm: np.ndarray) -> float:
    return float(np.mean([angle_deg(joints[:, c] - joints[:, p], gt_mm[:, c] - gt_mm[:, p]) for c, p in LIMBS]))


def test_rigify_metarig_keyed_and_evaluated_by_blender(walk):
    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    obj = bpy.context.object
    rig = rig_from_armature(obj)
    rig_map = detect_map(rig)
    assert rig_map.name == "metarig" and len(rig.names) == 159
    anim = retarget_pose(walk, rig, rig_map)
    action = write_action(obj, anim, name="walk")
    assert obj.animation_data.action == action
    frames = np.arange(0, walk.num_frames, 20)
    joints = blender_joints(obj, rig, rig_map, frames + 1)
    assert limb_error(joints, walk.joints_mm[frames]) < 2.0
    _, heads, tails = pose_bones(rig, anim)
    assert np.abs(joints - rig_joints(rig, rig_map, heads[frames], tails[frames])).max() < 1e-4


@pytest.mark.parametrize("fname", JSON_RIGS)
def test_mpfb_armatures_built_with_edit_bones(rigs_dir, walk, fname):
    source = Rig.from_mpfb_json(rigs_dir / fname)
    obj = armature_from_rig(source, "rig")
    rig = rig_from_armature(obj)
    idx = [source.index[n] for n in rig.names]
    # our roll maths equals Blender's: the rest orientations it built from head, tail and roll
    assert np.abs(rig.rest - source.rest[idx]).max() < 1e-4
    rig_map = detect_map(rig)
    anim = retarget_pose(walk, rig, rig_map)
    write_action(obj, anim, name="walk")
    frames = np.arange(0, walk.num_frames, 30)
    joints = blender_joints(obj, rig, rig_map, frames + 1)
    _, heads, tails = pose_bones(rig, anim)
    assert np.abs(joints - rig_joints(rig, rig_map, heads[frames], tails[frames])).max() < 1e-4
    assert limb_error(joints, walk.joints_mm[frames]) < 2.0


def keyed_fcurves(obj, action) -> list:
    """The F-Curves that animate `obj`: its slot's channelbag (4.4+ slotted Actions), else `Action.fcurves` (4.2)."""
    from bpy_extras import anim_utils

    if hasattr(anim_utils, "action_get_channelbag_for_slot"):
        return list(anim_utils.action_get_channelbag_for_slot(action, obj.animation_data.action_slot).fcurves)
    return list(action.fcurves)


def test_write_action_bulk_unique_and_never_overwrites(rigs_dir, walk):
    obj = armature_from_rig(Rig.from_mpfb_json(rigs_dir / JSON_RIGS[0]), "rig")
    rig = rig_from_armature(obj)
    anim = retarget_pose(walk, rig, detect_map(rig))
    first = write_action(obj, anim, name="take")
    second = write_action(obj, anim, name="take")
    assert (first.name, second.name) == ("take", "take.001")
    assert first.use_fake_user and bpy.data.actions.get("take") is first
    assert obj.animation_data.action == second
    curves = keyed_fcurves(obj, second)
    assert len(curves) == 4 * len(anim.bone_names) + 3
    assert all(len(fc.keyframe_points) == walk.num_frames for fc in curves)
    assert all(fc.group is not None and f'"{fc.group.name}"' in fc.data_path for fc in curves)  # grouped per bone
    assert tuple(second.frame_range) == (1.0, float(walk.num_frames))
    # bones in Euler or axis-angle mode are keyed in their own mode and pose the same
    obj.pose.bones["mixamorig:LeftArm"].rotation_mode = "YXZ"
    obj.pose.bones["mixamorig:Spine1"].rotation_mode = "AXIS_ANGLE"
    third = write_action(obj, anim, name="take")
    assert len(keyed_fcurves(obj, third)) == 4 * len(anim.bone_names) + 3 - 1
    rig_map = detect_map(rig)
    frames = np.arange(0, walk.num_frames, 40)
    _, heads, tails = pose_bones(rig, anim)
    joints = blender_joints(obj, rig, rig_map, frames + 1)
    assert np.abs(joints - rig_joints(rig, rig_map, heads[frames], tails[frames])).max() < 1e-4


def test_cmu_fbx_round_trip(rigs_dir):
    """The CMU clips' own motion, turned into the 17 joints and solved back onto the same imported rig.

    Measured on cmu_07_01 (walk) and cmu_09_11 (run): limb directions within 0.1 deg mean; legs' full rotation
    (twist included) within 2 deg mean; upper/lower arms carry a constant ~30 deg twist offset because this
    skeleton's elbow hinge is tilted 30 deg from its forearm's X axis, which no rest pose reveals.
    """
    for fbx in ("cmu_07_01.fbx", "cmu_09_11.fbx"):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.import_scene.fbx(filepath=str(rigs_dir / fbx))
        obj = next(o for o in bpy.data.objects if o.type == "ARMATURE")
        rig = rig_from_armature(obj)
        rig_map = detect_map(rig)
        assert rig_map.name == "cmu"
        start, end = (int(f) for f in obj.animation_data.action.frame_range)
        frames = np.arange(start, end + 1, 2)
        n = len(obj.pose.bones)
        order = [obj.pose.bones.find(b) for b in rig.names]
        heads, tails, world = [], [], []
        for f in frames:
            bpy.context.scene.frame_set(int(f))
            heads.append([pb.head[:] for pb in obj.pose.bones])
            tails.append([pb.tail[:] for pb in obj.pose.bones])
            world.append([np.array(pb.matrix.to_3x3()) for pb in obj.pose.bones])
        heads, tails = np.array(heads)[:, order], np.array(tails)[:, order]
        world = np.array(world).reshape(len(frames), n, 3, 3)[:, order]
        joints = rig_joints(rig, rig_map, heads, tails)
        fps = bpy.context.scene.render.fps / 2
        anim = retarget_pose(Pose3D((joints * 1000).astype(np.float32), fps, space="world"), rig, rig_map)
        assert anim.meta["scale"] == pytest.approx(1.0, abs=1e-4)
        solved, _, _ = pose_bones(rig, anim)
        for side in ("Left", "Right"):
            for bone, tol in ((f"{side}UpLeg", 2.5), (f"{side}Leg", 2.5), (f"{side}Arm", 35.0),
                              (f"{side}ForeArm", 35.0)):
                i = rig.index[bone]
                rel = np.swapaxes(world[:, i], -1, -2) @ solved[:, i]
                err = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))
                direction = angle_deg(world[:, i, :, 1], solved[:, i, :, 1])
                assert direction.mean() < 0.2, (fbx, bone, direction.mean())
                assert err.mean() < tol, (fbx, bone, err.mean())


def test_our_bvh_imports_in_blender(tmp_path, rigs_dir, walk):
    import bvh

    rig = Rig.from_mpfb_json(rigs_dir / JSON_RIGS[0])
    rig_map = detect_map(rig)
    anim = retarget_pose(walk, rig, rig_map)
    path = tmp_path / "walk.bvh"
    write_bvh(path, rig, anim)
    assert bvh.Bvh(path.read_text()).nframes == walk.num_frames
    bpy.ops.import_anim.bvh(filepath=str(path), update_scene_fps=True, update_scene_duration=True)
    obj = bpy.context.object
    assert tuple(obj.animation_data.action.frame_range) == (1.0, float(walk.num_frames))
    assert bpy.context.scene.render.fps == 50
    frames = np.array([0, 77, walk.num_frames - 1])
    _, heads, _ = pose_bones(rig, anim)
    order = [rig.index[pb.name] for pb in obj.pose.bones]
    for f in frames:
        bpy.context.scene.frame_set(int(f) + 1)
        got = np.array([(obj.matrix_world @ pb.head)[:] for pb in obj.pose.bones])
        assert np.abs(got - heads[f, order]).max() < 1e-4


def test_bad_armatures_get_clear_errors(rigs_dir, walk):
    source = Rig.from_mpfb_json(rigs_dir / JSON_RIGS[0])
    obj = armature_from_rig(source, "rig")
    rig = rig_from_armature(obj)
    anim = retarget_pose(walk, rig, detect_map(rig))
    # a map naming bones the armature lacks
    with pytest.raises(InputError, match="missing from the rig: spine, spine.001"):
        retarget_pose(walk, rig, RigMap.preset("metarig"))
    # non-uniform object scale
    obj.scale = (1.0, 2.0, 1.0)
    bpy.context.view_layer.update()
    with pytest.raises(InputError, match="non-uniform"):
        rig_from_armature(obj)
    obj.scale = (2.0, 2.0, 2.0)
    bpy.context.view_layer.update()
    rig_from_armature(obj)
    # constraints on a keyed bone would override the keys
    obj.pose.bones["mixamorig:LeftForeArm"].constraints.new("COPY_ROTATION")
    with pytest.raises(InputError, match="constraints on mixamorig:LeftForeArm"):
        write_action(obj, anim, name="walk")
    assert "walk" not in bpy.data.actions
    assert rig_from_armature(obj).meta["constrained"] == ["mixamorig:LeftForeArm"]
    # edit mode
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    with pytest.raises(InputError, match="Edit Mode"):
        rig_from_armature(obj)
    # near-zero bones count as zero-length: one of 5e-6 survives Edit Mode on every Blender; one of 1e-7 is
    # shrunk to the minimum length by 4.5+ and deleted on leaving Edit Mode by 4.2-4.4
    for name, length in (("stub", 1e-7), ("stub2", 5e-6)):
        eb = obj.data.edit_bones.new(name)
        eb.head, eb.tail = (0.0, 0.0, 1.0), (0.0, 0.0, 1.0 + length)
    bpy.ops.object.mode_set(mode="OBJECT")
    kept = [name for name in ("stub", "stub2") if name in obj.data.bones]
    assert "stub2" in kept
    with pytest.raises(InputError, match=f"zero-length bones: {', '.join(kept)}$"):
        rig_from_armature(obj)


def test_y_up_rig_turned_upright_by_its_object(rigs_dir, walk):
    """FBX-style: bones in a Y-up armature space at 100x, the object rotated 90 deg about X and scaled 0.01."""
    source = Rig.from_mpfb_json(rigs_dir / JSON_RIGS[0])
    to_world = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]) * 0.01  # Rx(90 deg) * 0.01
    inv = np.linalg.inv(to_world)
    rot = to_world / 0.01
    y_up = Rig.from_bones([{"name": n, "parent": source.names[p] if p >= 0 else None, "head": h @ inv.T,
                            "tail": t @ inv.T, "rest": rot.T @ r}
                           for n, p, h, t, r in zip(source.names, source.parents, source.heads, source.tails,
                                                    source.rest, strict=True)])
    obj = armature_from_rig(y_up, "fbx_style")
    obj.rotation_euler = (np.pi / 2, 0.0, 0.0)
    obj.scale = (0.01, 0.01, 0.01)
    bpy.context.view_layer.update()
    rig = rig_from_armature(obj)
    assert np.allclose(rig.world, to_world, atol=1e-6)
    rig_map = detect_map(rig)
    anim = retarget_pose(walk, rig, rig_map)
    write_action(obj, anim, name="walk")
    frames = np.arange(0, walk.num_frames, 30)
    joints = blender_joints(obj, rig, rig_map, frames + 1) @ to_world.T  # armature -> scene
    assert limb_error(joints, walk.joints_mm[frames]) < 2.0
    assert np.all(joints[:, 10, 2] > joints[:, 0, 2] + 0.4)  # upright: head well above the pelvis in the scene
