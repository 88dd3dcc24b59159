"""Our built-in humanoid skeletons: each convention's names, detected by its own preset, retargeted to within 2
degrees on real H36M walking, kept intact through real Blender, and the CLI's named rigs need no ../shared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.retarget import LIMBS, angle_deg, world_pose
from engine.errors import InputError
from engine.types import Pose3D
from retarget import PRESETS, detect_map, humanoid_rig, pose_bones, retarget_pose, rig_joints
from retarget.humanoid import PRESETS as HUMANOIDS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def walk() -> Pose3D:
    from engine.h36m import load_poses

    return world_pose(load_poses(["S9"])["S9/Walking 1"][:400])


@pytest.mark.parametrize("preset", HUMANOIDS)
def test_built_in_humanoid_is_detected_as_its_own_preset(preset):
    rig = humanoid_rig(preset)
    rig_map = detect_map(rig)
    assert rig_map.name == preset and rig_map.unplaced == []
    rig_map.validate(rig)
    # every bone the preset names is in the rig, so all 17 joints are read off mapped bones
    assert set(b for chain in PRESETS[preset].values() for b in chain) <= set(rig.names)
    joints = rig_joints(rig, rig_map, rig.heads, rig.tails)
    assert np.all(np.isfinite(joints)) and joints.shape == (17, 3)
    # T-pose, Z up, facing -Y, feet on the floor, crown at the asked height
    assert rig.tails[:, 2].max() == pytest.approx(1.75) and rig.heads[:, 2].min() >= 0.0  # Unreal's root: 0
    assert 0.0 < rig.tails[:, 2].min() < 0.02  # the toes' tips on the floor
    assert joints[13, 0] > 0.6 and joints[16, 0] < -0.6  # left wrist at +X, arms out
    assert abs(joints[13, 2] - joints[11, 2]) < 0.01  # wrists level with the shoulders
    toe = rig.index[rig_map.bones["foot.L"][0]]
    assert rig.tails[toe, 1] < rig.heads[toe, 1] - 0.05  # feet point forward (-Y)
    # rolls: the knee and elbow hinge about the lower bone's local X
    for shin, (a, m, e) in (("shin.L", (4, 5, 6)), ("forearm.R", (14, 15, 16))):
        hinge = np.cross(joints[m] - joints[a], joints[e] - joints[m])
        x_axis = rig.rest[rig.index[rig_map.bones[shin][-1]]][:, 0]
        assert abs(np.dot(hinge / np.linalg.norm(hinge), x_axis)) > 0.99


def test_height_scales_and_unknown_preset_is_refused():
    small, tall = humanoid_rig("mixamo", 1.5), humanoid_rig("mixamo", 2.0)
    assert np.allclose(tall.heads, small.heads * 2.0 / 1.5) and np.allclose(tall.rest, small.rest)
    with pytest.raises(InputError, match="no built-in humanoid for rig 'rigify'"):
        humanoid_rig("rigify")
    with pytest.raises(InputError, match="height must be positive"):
        humanoid_rig("unreal", 0.0)


@pytest.mark.parametrize("preset", HUMANOIDS)
def test_h36m_walk_onto_each_humanoid_keeps_limb_directions(walk, preset):
    rig = humanoid_rig(preset)
    rig_map = detect_map(rig)
    anim = retarget_pose(walk, rig, rig_map)
    _, heads, tails = pose_bones(rig, anim)
    joints = rig_joints(rig, rig_map, heads, tails)
    gt = walk.joints_mm.astype(np.float64)
    errors = [angle_deg(joints[:, c] - joints[:, p], gt[:, c] - gt[:, p]).mean() for c, p in LIMBS]
    assert max(errors) < 2.0, errors
    full = walk.contact >= 0.999
    ankles = joints[:, [6, 3]] * 1000 / anim.meta["scale"]
    targets = walk.foot_targets_mm + [0, 0, anim.meta["ground_shift"] * 1000 / anim.meta["scale"]]
    assert full.sum() > 50 and np.linalg.norm(ankles - targets, axis=-1)[full].mean() < 5.0


def test_humanoid_survives_blender_edit_bones():
    """Built through Blender's edit bones and read back: same heads, tails and rest axes (rolls kept)."""
    bpy = pytest.importorskip("bpy")
    from addon.rig_io import armature_from_rig, rig_from_armature

    bpy.ops.wm.read_factory_settings(use_empty=True)
    for preset in HUMANOIDS:
        rig = humanoid_rig(preset)
        back = rig_from_armature(armature_from_rig(rig, preset))
        idx = [back.index[n] for n in rig.names]
        assert np.allclose(back.heads[idx], rig.heads, atol=1e-5)
        assert np.allclose(back.tails[idx], rig.tails, atol=1e-5)
        assert np.allclose(back.rest[idx], rig.rest, atol=1e-4), preset
        assert detect_map(back).name == preset
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_cli_animates_onto_the_built_in_unreal_rig_without_shared(tmp_path):
    """`--rig unreal` on a machine with no ../shared: the rig is ours, the input a keypoint file."""
    from engine import keypoint_io, synthetic

    empty = tmp_path / "no_shared"
    empty.mkdir()
    source = tmp_path / "walk.kp.json"
    keypoint_io.save_keypoints(synthetic.synthetic_performer(frames=40)[0], source)
    out = tmp_path / "walk.bvh"
    env = dict(os.environ, SASMAMBA_SHARED=str(empty), SASMAMBA_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "addon", "animate", str(source), "--rig", "unreal",
                           "--root-motion", "in_place", "-o", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "ROOT root" in text and "JOINT pelvis" in text and "JOINT ball_l" in text and "Frames: 40" in text
    # the MPFB file is still reachable by name, and says clearly that ../shared is missing here
    proc = subprocess.run([sys.executable, "-m", "addon", "animate", str(source), "--rig", "mpfb:unreal",
                           "-o", str(tmp_path / "x.bvh")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0 and "mpfb_rig.game_engine.json" in proc.stderr
    assert list(empty.iterdir()) == []
