"""Retargeting accuracy and speed: H36M S9/S11 ground truth through the solver onto every preset rig.

`run(quick=False) -> dict` writes reports/retarget.json. Figures:
- bone_dir_deg: mean angle between each limb bone (thighs, shins, upper arms, forearms) on the posed rig and on the
  performer (target <= 2); all16_dir_deg the same over all 16 H36M bones (spine/neck read off the rig's chain).
- effector_mm: wrist/ankle distance from where the solver sent them (target <= 10), performer millimetres.
- skate_mm: mean horizontal ankle slide per frame while the foot is in full contact (target <= 5); gt_skate_mm is
  the performer's own slide over the same frames, for reference.
- the same figures with real Blender evaluating the keyed pose bones ("blender").
- speed: retarget_pose + write_action of 1,800 frames onto the Mixamo rig (goal <= 1 s).
Rigs are scaled to the performer's leg length first ("scaled to the performer").
"""

from __future__ import annotations

import json
import time

import numpy as np

from engine.paths import PROJECT_ROOT, shared_path
from engine.types import Pose3D
from retarget import Rig, RigMap, detect_map, humanoid_rig, pose_bones, retarget_pose, rig_joints
from retarget.solver import leg_length

from .common import machine

LIMBS = ((2, 1), (3, 2), (5, 4), (6, 5), (12, 11), (13, 12), (15, 14), (16, 15))  # (child, parent)
ALL16 = tuple((j, p) for j, p in zip(range(1, 17), (0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
                                     strict=True))
JSON_RIGS = {"mixamo": "mpfb_rig.mixamo.json", "unreal": "mpfb_rig.game_engine.json", "cmu": "mpfb_rig.cmu_mb.json",
             "makehuman": "mpfb_rig.default.json"}


def _runs(on: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(np.int8), [0]])))
    return [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= min_len]


def world_pose(joints_mm: np.ndarray, fps: float = 50.0) -> Pose3D:
    """H36M world joints (Z up, mm) as a cleaned-up Pose3D: feet on Z = 0, ground-truth contact and foot targets.

    Contact: ankle within 40 mm of its floor height and slower than 250 mm/s for >= 10 frames, eased in and out
    over 5 frames; the target is the ankle's mean position over the contact.
    """
    j = np.asarray(joints_mm, dtype=np.float64).copy()
    j[..., 2] -= np.percentile(np.minimum(j[:, 3, 2], j[:, 6, 2]), 2)
    ankles = j[:, [6, 3]]  # (T, 2, 3) left, right (engine.skeleton.FEET order)
    floor = np.percentile(ankles[..., 2], 5, axis=0)
    speed = np.linalg.norm(np.diff(ankles[..., :2], axis=0, prepend=ankles[:1, :, :2]), axis=-1) * fps
    contact = np.zeros((j.shape[0], 2))
    targets = ankles.copy()
    ramp = 5
    for f in range(2):
        on = (ankles[:, f, 2] - floor[f] < 40.0) & (speed[:, f] < 250.0)
        for a, b in _runs(on, 10):
            w = np.minimum(np.minimum(np.arange(1, b - a + 1), np.arange(b - a, 0, -1)) / ramp, 1.0)
            contact[a:b, f] = w
            targets[a:b, f] = ankles[a:b, f].mean(axis=0)
    return Pose3D(j.astype(np.float32), fps, space="world", contact=contact, foot_targets_mm=targets)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, -1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def measure(pose: Pose3D, anim, rig_joints_t: np.ndarray) -> dict:
    """Figures for one clip from the rig's posed joints (T, 17, 3) in rig metres."""
    gt = pose.joints_mm.astype(np.float64)
    scale = anim.meta["scale"]
    limb = np.mean([angle_deg(rig_joints_t[:, c] - rig_joints_t[:, p], gt[:, c] - gt[:, p]) for c, p in LIMBS])
    all16 = np.mean([angle_deg(rig_joints_t[:, c] - rig_joints_t[:, p], gt[:, c] - gt[:, p]) for c, p in ALL16])
    eff = rig_joints_t[:, [13, 16, 6, 3]]
    eff_err = np.linalg.norm(eff - anim.meta["effector_targets"], axis=-1) * 1000 / scale
    full = pose.contact >= 0.999
    both = full[1:] & full[:-1]
    ankles = rig_joints_t[:, [6, 3], :2] * 1000 / scale
    slide = np.linalg.norm(np.diff(ankles, axis=0), axis=-1)[both]
    gt_slide = np.linalg.norm(np.diff(gt[:, [6, 3], :2], axis=0), axis=-1)[both]
    return {"bone_dir_deg": float(limb), "all16_dir_deg": float(all16), "effector_mm": float(eff_err.mean()),
            "effector_max_mm": float(eff_err.max()), "skate_mm": float(slide.mean()) if slide.size else 0.0,
            "gt_skate_mm": float(gt_slide.mean()) if gt_slide.size else 0.0, "frames": int(gt.shape[0])}


def preset_rigs() -> dict[str, tuple[Rig, RigMap]]:
    """The MPFB rigs from ../shared/rigs (as "mpfb:<preset>") and our built-in humanoids (as "<preset>")."""
    rigs = {}
    for key, fname in JSON_RIGS.items():
        rig = Rig.from_mpfb_json(shared_path("rigs", fname))
        rigs[f"mpfb:{key}"] = (rig, detect_map(rig))
    for key in ("mixamo", "unreal", "cmu", "makehuman"):
        rig = humanoid_rig(key)
        rigs[key] = (rig, detect_map(rig))
    return rigs


def metarig() -> tuple[Rig, RigMap, object]:
    """Blender's Rigify human meta-rig, read through the add-on's reader (needs bpy)."""
    import bpy

    from addon.rig_io import rig_from_armature

    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    obj = bpy.context.object
    rig = rig_from_armature(obj)
    return rig, RigMap.preset("metarig"), obj


def _blender_joints(obj, rig: Rig, rig_map: RigMap, frames: np.ndarray) -> np.ndarray:
    import bpy

    n = len(obj.pose.bones)
    order = [obj.pose.bones.find(b) for b in rig.names]
    heads, tails = np.empty((len(frames), n * 3), np.float32), np.empty((len(frames), n * 3), np.float32)
    for k, f in enumerate(frames):
        bpy.context.scene.frame_set(int(f) + 1)
        obj.pose.bones.foreach_get("head", heads[k])
        obj.pose.bones.foreach_get("tail", tails[k])
    heads = heads.reshape(len(frames), n, 3)[:, order]
    tails = tails.reshape(len(frames), n, 3)[:, order]
    return rig_joints(rig, rig_map, heads.astype(np.float64), tails.astype(np.float64))


def _mean(rows: list[dict]) -> dict:
    w = np.array([r["frames"] for r in rows], dtype=np.float64)
    out = {k: float(np.average([r[k] for r in rows], weights=w)) for k in rows[0] if k != "frames"}
    out["effector_max_mm"] = float(max(r["effector_max_mm"] for r in rows))
    out["frames"] = int(w.sum())
    return out


def speed(frames: int = 1800) -> dict:
    import bpy

    from addon.keyframes import write_action
    from addon.rig_io import armature_from_rig, rig_from_armature
    from engine.h36m import load_poses

    seq = load_poses(["S9"])["S9/Walking 1"][:frames]
    pose = world_pose(seq)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = armature_from_rig(Rig.from_mpfb_json(shared_path("rigs", JSON_RIGS["mixamo"])), "mixamo")
    rig = rig_from_armature(obj)
    rig_map = detect_map(rig)
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        anim = retarget_pose(pose, rig, rig_map)
        t1 = time.perf_counter()
        write_action(obj, anim, name="bench")
        t2 = time.perf_counter()
        if best is None or t2 - t0 < best[0] + best[1]:
            best = (t1 - t0, t2 - t1)
    return {"frames": int(pose.num_frames), "bones_keyed": len(anim.bone_names), "solve_s": best[0],
            "keyframes_s": best[1], "total_s": best[0] + best[1], "goal_s": 1.0, "rig": "mpfb_rig.mixamo.json"}


def run(quick: bool = False) -> dict:
    import bpy

    from addon.keyframes import write_action
    from addon.rig_io import armature_from_rig
    from engine.h36m import load_poses

    seqs = load_poses(["S9", "S11"])
    if quick:
        seqs = {k: v[:600] for k, v in seqs.items() if k in ("S9/Walking 1", "S11/Directions 1")}
    poses = {k: world_pose(v) for k, v in seqs.items()}
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rigs = preset_rigs()
    meta_rig, meta_map, meta_obj = metarig()
    rigs["metarig"] = (meta_rig, meta_map)
    blender_every = 10 if quick else 25  # Blender evaluates every n-th frame (frame_set is the slow part)
    report: dict = {"machine": machine(), "sequences": len(poses), "subjects": ["S9", "S11"], "quick": quick,
                    "targets": {"bone_dir_deg": 2.0, "effector_mm": 10.0, "skate_mm": 5.0}, "rigs": {}}
    for key, (rig0, rig_map) in rigs.items():
        rows, rows_bl = [], []
        for name, pose in poses.items():
            rig = rig0.scaled(leg_length(pose.joints_mm.astype(np.float64) / 1000) / leg_length(
                rig_joints(rig0, rig_map, rig0.heads, rig0.tails)))
            anim = retarget_pose(pose, rig, rig_map)
            _, heads, tails = pose_bones(rig, anim)
            rows.append(measure(pose, anim, rig_joints(rig, rig_map, heads, tails)))
            if name in ("S9/Walking 1", "S11/Directions 1", "S11/Walking 1", "S9/Sitting 1"):
                bpy.ops.wm.read_factory_settings(use_empty=True)
                obj = armature_from_rig(rig, key)
                write_action(obj, anim, name=name)
                frames = np.arange(0, pose.num_frames, blender_every)
                jb = _blender_joints(obj, rig, rig_map, frames)
                sub = Pose3D(pose.joints_mm[frames], pose.fps, space="world", contact=pose.contact[frames],
                             foot_targets_mm=pose.foot_targets_mm[frames])
                anim_sub = type(anim)(anim.fps, anim.bone_names, anim.rotations[frames], anim.root_location[frames],
                                      anim.root_bone, meta={**anim.meta,
                                                            "effector_targets": anim.meta["effector_targets"][frames]})
                row = measure(sub, anim_sub, jb)
                row.pop("skate_mm"), row.pop("gt_skate_mm")  # sub-sampled frames: slide per frame is meaningless
                row["fk_vs_blender_max_mm"] = float(np.abs(jb - rig_joints(rig, rig_map, heads[frames],
                                                                            tails[frames])).max() * 1000)
                rows_bl.append(row)
        report["rigs"][key] = {"fk": _mean(rows), "blender": {k: float(np.mean([r[k] for r in rows_bl]))
                                                               for k in rows_bl[0]}, "map": rig_map.name,
                               "bones": len(rig0.names)}
    report["worst"] = {k: max(r["fk"][k] for r in report["rigs"].values())
                       for k in ("bone_dir_deg", "effector_mm", "skate_mm")}
    report["speed"] = speed()
    out = PROJECT_ROOT / "reports" / "retarget.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
