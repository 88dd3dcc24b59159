"""Retargeting without Blender: rigs, maps, the solver on real H36M ground truth, FK and BVH."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.retarget import LIMBS, angle_deg, world_pose
from engine.errors import InputError
from engine.types import Pose3D
from retarget import Rig, RigAnimation, RigMap, detect_map, pose_bones, retarget_pose, rig_joints, write_bvh
from retarget.quat import mat_to_quat, quat_to_mat
from retarget.solver import leg_length

RIGS = {"mixamo": "mpfb_rig.mixamo.json", "unreal": "mpfb_rig.game_engine.json", "cmu": "mpfb_rig.cmu_mb.json",
        "makehuman": "mpfb_rig.default.json"}


@pytest.fixture(scope="module")
def walk() -> Pose3D:
    from engine.h36m import load_poses

    return world_pose(load_poses(["S9"])["S9/Walking 1"][:400])


@pytest.fixture(scope="module")
def rigs(rigs_dir) -> dict[str, Rig]:
    return {k: Rig.from_mpfb_json(rigs_dir / f) for k, f in RIGS.items()}


def posed_joints(rig: Rig, rig_map: RigMap, anim: RigAnimation) -> np.ndarray:
    _, heads, tails = pose_bones(rig, anim)
    return rig_joints(rig, rig_map, heads, tails)


def test_quaternion_round_trip():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(500, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q *= np.sign(q[:, :1])
    assert np.allclose(mat_to_quat(quat_to_mat(q)), q, atol=1e-9)


@pytest.mark.parametrize("key", list(RIGS))
def test_presets_detected_from_bone_names(rigs, key):
    rig_map = detect_map(rigs[key])
    assert rig_map.name == key and rig_map.unplaced == []
    rig_map.validate(rigs[key])


def test_map_json_round_trip_and_missing_bones(tmp_path, rigs):
    rig_map = RigMap.preset("mixamo")
    rig_map.save(tmp_path / "map.json")
    loaded = RigMap.load(tmp_path / "map.json")
    assert loaded.bones == rig_map.bones and loaded.name == "mixamo"
    with pytest.raises(InputError, match=r"missing from the rig: .*LeftArm.*"):
        RigMap.preset("mixamo").validate(rigs["unreal"])
    with pytest.raises(InputError, match="unknown rig map preset"):
        RigMap.preset("nope")


def test_fallback_proposes_from_names_and_says_what_it_could_not_place(rigs):
    src = rigs["mixamo"]
    renamed = {n: n.replace("mixamorig:", "DEF_").replace("UpLeg", "Thigh").replace("ForeArm", "LowerArm")
               for n in src.names}
    bones = [{"name": renamed[n], "parent": renamed[src.names[p]] if p >= 0 else None, "head": h, "tail": t,
              "rest": r} for n, p, h, t, r in zip(src.names, src.parents, src.heads, src.tails, src.rest, strict=True)]
    rig = Rig.from_bones(bones, name="renamed")
    proposed = detect_map(rig)
    assert proposed.name == "proposed" and proposed.unplaced == []
    assert proposed.bones["thigh.L"] == ["DEF_LeftThigh"] and proposed.bones["forearm.R"] == ["DEF_RightLowerArm"]
    assert proposed.bones["spine"] == ["DEF_Spine", "DEF_Spine1", "DEF_Spine2"]
    legless = Rig.from_bones([b for b in bones if "Leg" not in b["name"] and "Thigh" not in b["name"]
                              and "Foot" not in b["name"] and "Toe" not in b["name"]], name="legless")
    proposed = detect_map(legless)
    assert set(proposed.unplaced) == {"thigh.L", "thigh.R", "shin.L", "shin.R"}
    with pytest.raises(InputError, match="slots with no bone: thigh.L"):
        proposed.validate(legless)


def test_longer_spine_found_from_hierarchy(rigs, walk):
    """A UE5-style mannequin (spine_01..04) maps with the unreal preset, its spine chain read off the hierarchy."""
    src = rigs["unreal"]
    bones = []
    for n, p, h, t, r in zip(src.names, src.parents, src.heads, src.tails, src.rolls, strict=True):
        parent = src.names[p] if p >= 0 else None
        if n == "spine_03":
            mid = (h + t) / 2
            bones += [{"name": n, "parent": parent, "head": h, "tail": mid, "roll": r},
                      {"name": "spine_04", "parent": n, "head": mid, "tail": t, "roll": r}]
            continue
        bones.append({"name": n, "parent": "spine_04" if parent == "spine_03" else parent, "head": h, "tail": t,
                      "roll": r})
    rig = Rig.from_bones(bones, name="ue5")
    rig_map = detect_map(rig)
    assert rig_map.name == "unreal"
    assert rig_map.bones["spine"] == ["spine_01", "spine_02", "spine_03", "spine_04"]
    anim = retarget_pose(walk, rig, rig_map)
    joints = posed_joints(rig, rig_map, anim)
    gt = walk.joints_mm.astype(np.float64)
    assert max(angle_deg(joints[:, c] - joints[:, p], gt[:, c] - gt[:, p]).mean() for c, p in LIMBS) < 2.0


def test_zero_length_bone_is_refused():
    with pytest.raises(InputError, match="zero-length bones.*b"):
        Rig.from_bones([{"name": "a", "head": [0, 0, 0], "tail": [0, 0, 1]},
                        {"name": "b", "parent": "a", "head": [0, 0, 1], "tail": [0, 0, 1]}])


def test_rest_pose_performer_gives_identity_rotations(rigs):
    """Calibration: a performer standing exactly in the rig's own rest pose (A or T) leaves every bone at rest."""
    for key in ("mixamo", "unreal"):
        rig = rigs[key]
        rig_map = detect_map(rig)
        rest = rig_joints(rig, rig_map, rig.heads, rig.tails) * 1000
        anim = retarget_pose(Pose3D(np.repeat(rest[None], 5, axis=0), 30.0, space="world"), rig, rig_map)
        angles = 2 * np.degrees(np.arccos(np.clip(np.abs(anim.rotations[..., 0]), 0, 1)))
        assert angles.max() < 0.05, (key, anim.bone_names[int(np.argmax(angles.max(0)))])
        assert np.allclose(anim.root_location[:, :2], rig.heads[rig.index[anim.root_bone], :2], atol=1e-4)


@pytest.mark.parametrize("key", list(RIGS))
def test_h36m_walk_limb_directions_and_contact(rigs, walk, key):
    rig, rig_map = rigs[key], detect_map(rigs[key])
    anim = retarget_pose(walk, rig, rig_map)
    joints = posed_joints(rig, rig_map, anim)
    gt = walk.joints_mm.astype(np.float64)
    errors = [angle_deg(joints[:, c] - joints[:, p], gt[:, c] - gt[:, p]).mean() for c, p in LIMBS]
    assert max(errors) < 2.0, errors
    # feet: the pinned ankle stays where the contact says (performer mm)
    full = walk.contact >= 0.999
    ankles = joints[:, [6, 3]] * 1000 / anim.meta["scale"]
    targets = (walk.foot_targets_mm + [0, 0, anim.meta["ground_shift"] * 1000 / anim.meta["scale"]])
    assert full.sum() > 50
    assert np.linalg.norm(ankles - targets, axis=-1)[full].mean() < 5.0
    # continuity: no hemisphere flips between frames
    assert np.all(np.sum(anim.rotations[1:] * anim.rotations[:-1], axis=-1) > 0)


def test_upper_arm_and_thigh_twist_with_the_limb(rigs, walk):
    """The upper arm's roll keeps a fixed angle to the elbow's bend plane: it turns when the limb turns."""
    rig, rig_map = rigs["unreal"], detect_map(rigs["unreal"])
    anim = retarget_pose(walk, rig, rig_map)
    world, heads, tails = pose_bones(rig, anim)
    joints = rig_joints(rig, rig_map, heads, tails)
    for upper, (a, m, e) in (("upperarm_l", (11, 12, 13)), ("thigh_r", (1, 2, 3))):
        normal = np.cross(joints[:, m] - joints[:, a], joints[:, e] - joints[:, m])
        bent = np.linalg.norm(normal, axis=-1) / (np.linalg.norm(joints[:, m] - joints[:, a], axis=-1)
                                                   * np.linalg.norm(joints[:, e] - joints[:, m], axis=-1)) > 0.7
        x_axis = world[:, rig.index[upper], :, 0]
        roll = angle_deg(x_axis[bent], normal[bent])
        assert bent.sum() > 20 and roll.std() < 1.0, (upper, roll.std())
        spin = angle_deg(x_axis[bent][1:], x_axis[bent][:1])  # and that roll does move over the clip
        assert spin.max() > 10.0


def test_root_follows_rig_scale(rigs, walk):
    rig, rig_map = rigs["mixamo"], detect_map(rigs["mixamo"])
    a = retarget_pose(walk, rig, rig_map)
    b = retarget_pose(walk, rig.scaled(2.0), rig_map)
    assert b.meta["scale"] == pytest.approx(2 * a.meta["scale"])
    assert a.meta["scale"] == pytest.approx(leg_length(rig_joints(rig, rig_map, rig.heads, rig.tails))
                                            / leg_length(walk.joints_mm / 1000.0))
    path_a = a.root_location[:, :2] - a.root_location[:1, :2]
    path_b = b.root_location[:, :2] - b.root_location[:1, :2]
    assert np.allclose(path_b, 2 * path_a, atol=1e-6)
    assert np.allclose(a.rotations, b.rotations, atol=1e-6)


def test_rejects_camera_space_and_nan(rigs, walk):
    rig, rig_map = rigs["mixamo"], detect_map(rigs["mixamo"])
    with pytest.raises(InputError, match="world space"):
        retarget_pose(walk.replace(space="camera"), rig, rig_map)
    bad = walk.joints_mm.copy()
    bad[3, 5] = np.nan
    with pytest.raises(InputError, match="NaN"):
        retarget_pose(walk.replace(joints_mm=bad), rig, rig_map)


def test_bvh_written_parses_back(tmp_path, rigs, walk):
    import bvh

    rig, rig_map = rigs["unreal"], detect_map(rigs["unreal"])
    anim = retarget_pose(walk, rig, rig_map)
    path = tmp_path / "walk.bvh"
    write_bvh(path, rig, anim, fps=25.0)
    back = Rig.from_bvh(path)
    assert set(back.names) == set(rig.names)
    idx = [rig.index[n] for n in back.names]
    assert np.allclose(back.heads, rig.heads[idx], atol=1e-5)
    mocap = bvh.Bvh(path.read_text())
    assert mocap.nframes == walk.num_frames and mocap.frame_time == pytest.approx(0.04)
    assert len(mocap.get_joints_names()) == len(rig.names)
    # the pelvis sits under Root (at the origin), so its position channels are the root path, Y up
    pos = np.array(mocap.frames_joint_channels("pelvis", ["Xposition", "Yposition", "Zposition"]), dtype=float)
    assert np.allclose(pos[:, 0], anim.root_location[:, 0], atol=1e-4)
    assert np.allclose(pos[:, 1], anim.root_location[:, 2], atol=1e-4)
    assert np.allclose(pos[:, 2], -anim.root_location[:, 1], atol=1e-4)


def test_two_bone_ik_reaches_or_straightens():
    from retarget import two_bone_ik

    rng = np.random.default_rng(1)
    root = rng.normal(size=(200, 3))
    target = root + rng.normal(size=(200, 3)) * 0.4
    u = (target - root) / np.linalg.norm(target - root, axis=1, keepdims=True)
    pole = np.cross(u, rng.normal(size=(200, 3)))
    pole /= np.linalg.norm(pole, axis=1, keepdims=True)
    mid, end = two_bone_ik(root, target, pole, 0.45, 0.42)
    assert np.allclose(np.linalg.norm(mid - root, axis=1), 0.45)
    assert np.allclose(np.linalg.norm(end - mid, axis=1), 0.42, atol=1e-6)
    reach = np.linalg.norm(target - root, axis=1) < 0.87 - 1e-6
    assert np.allclose(end[reach], target[reach], atol=1e-6)
    assert np.all(np.sum((mid - root) * pole, axis=1) >= -1e-9)  # the middle joint bends towards the pole


def test_fk_equals_slow_blender_style_reference(rigs, walk):
    """pose_bones (vectorised) against Blender's rule written out with 4x4 matrices, frame by frame."""
    rig, rig_map = rigs["cmu"], detect_map(rigs["cmu"])
    anim = retarget_pose(walk, rig, rig_map)
    world, heads, _ = pose_bones(rig, anim)

    def m4(rot, loc):
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = rot, loc
        return m

    for f in (0, 123, 399):
        posed = {}
        for b, name in enumerate(rig.names):
            basis = np.eye(4)
            if name in anim.bone_names:
                basis[:3, :3] = quat_to_mat(anim.rotation_of(name)[f])
            if name == anim.root_bone:
                basis[:3, 3] = rig.rest[b].T @ (anim.root_location[f] - rig.heads[b])
            rest = m4(rig.rest[b], rig.heads[b])
            p = rig.parents[b]
            local = rest if p < 0 else np.linalg.inv(m4(rig.rest[p], rig.heads[p])) @ rest
            posed[b] = (np.eye(4) if p < 0 else posed[p]) @ local @ basis
            assert np.allclose(posed[b][:3, :3], world[f, b], atol=1e-9)
            assert np.allclose(posed[b][:3, 3], heads[f, b], atol=1e-9)
