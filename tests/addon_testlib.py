"""Shared set-up for the add-on tests: real bpy, the add-on registered from the source tree, a keypoint cache that
lives for the test session (so each shared video is detected once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def keypoint_cache(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kpcache")
    os.environ["SASMAMBA_CACHE"] = str(path)
    os.environ["SASMAMBA_BACKEND"] = "auto"
    return path


@pytest.fixture
def blender(keypoint_cache):
    """A fresh empty scene with the add-on registered; returns bpy."""
    bpy = pytest.importorskip("bpy")
    import addon

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    yield bpy


def metarig(bpy):
    from addon import rigs

    return rigs.add_metarig(bpy.context)


def fcurve_key_counts(action) -> set[int]:
    from addon.actions import action_fcurves

    return {len(fc.keyframe_points) for fc in action_fcurves(action)}


def pose_snapshot(obj) -> dict:
    """Everything a cancelled run must leave untouched on an armature."""
    import numpy as np

    anim = obj.animation_data
    return {
        "action": anim.action.name if anim and anim.action else None,
        "tracks": [t.name for t in anim.nla_tracks] if anim else [],
        "matrices": np.array([list(map(list, pb.matrix_basis)) for pb in obj.pose.bones]),
    }
