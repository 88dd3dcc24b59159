"""The built extension, installed the way a user installs it (Install from Disk), in a throw-away Blender profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import build

INSTALL_SCRIPT = r"""
import json, os, sys
import bpy, addon_utils
zip_path, out, keypoints = sys.argv[-3], sys.argv[-2], sys.argv[-1]
result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
module = "bl_ext.user_default.sasmamba_mocap"
ops = [name for name in ("lift_to_3d", "batch_import", "export", "cancel", "save_map")
       if hasattr(bpy.ops.mocap, name) and bpy.ops.mocap.__getattr__(name).idname() == "MOCAP_OT_" + name]
panel = getattr(bpy.types, "MOCAP_PT_main", None)
prefs = bpy.context.preferences.addons[module].preferences if module in bpy.context.preferences.addons else None
cache = bpy.utils.extension_path_user(module, path="cache", create=True)
pkg = sys.modules[module + ".addon"]
# the whole pipeline through the installed copy (relative imports, bundled packages)
addon_utils.enable("rigify", default_set=True)
bpy.ops.object.armature_human_metarig_add()
settings = bpy.context.scene.sasmamba_mocap
settings.source, settings.armature, settings.rig_preset = keypoints, bpy.context.active_object, "metarig"
bpy.ops.mocap.lift_to_3d()
action = bpy.context.active_object.animation_data.action
lifted = {"action": action.name, "frames": list(action.frame_range),
          "engine": sys.modules[module + ".engine.pipeline"].__file__}
native = sys.modules[module + ".engine.native"] if module + ".engine.native" in sys.modules else None
json.dump({
    "lifted": lifted,
    "native": None if native is None else [native.available(), str(native.library_path())],
    "result": sorted(result),
    "enabled": module in bpy.context.preferences.addons,
    "operators": ops,
    "panel": None if panel is None else [panel.bl_space_type, panel.bl_region_type, panel.bl_category],
    "backend": None if prefs is None else prefs.backend,
    "addon_file": pkg.__file__,
    "cache": cache,
    "scene_settings": hasattr(bpy.context.scene, "sasmamba_mocap"),
}, open(out, "w"))
if bpy.app.version < (5, 0):  # bpy 4.2-4.5 as a module crash or hang at exit (see addon/__main__.py)
    sys.stdout.flush()
    os._exit(0)
"""


@pytest.fixture(scope="session")
def linux_zip(tmp_path_factory) -> Path:
    zips = build.build(["linux-x64"], out_dir=tmp_path_factory.mktemp("dist"))
    assert len(zips) == 1
    return zips[0]


def test_zip_holds_one_extension_with_its_wheels(linux_zip: Path) -> None:
    names = zipfile.ZipFile(linux_zip).namelist()
    assert "__init__.py" in names and "blender_manifest.toml" in names
    for package in ("engine", "retarget", "addon"):
        assert f"{package}/__init__.py" in names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    wheels = [n for n in names if n.startswith("wheels/")]
    assert any(n.startswith("wheels/mediapipe-0.10.21") for n in wheels)
    assert any(n.startswith("wheels/scipy-") for n in wheels)
    assert sum("opencv" in n for n in wheels) == 1
    assert not any(n.startswith(("wheels/numpy-", "wheels/torch-", "wheels/jax")) for n in wheels)
    assert all("linux" in n or "none-any" in n for n in wheels)
    # the C kernels ride along in the zip of the platform that built them, and only as a compiled library
    native = [n for n in names if n.startswith("engine/native/")]
    assert not any(n.endswith((".o", ".tmp")) for n in native)
    if build.host_platform() == "linux-x64" and build.c_compiler():
        assert "engine/native/_native-linux-x86_64.so" in native


def test_foreign_native_library_is_dropped_from_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "ext.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("engine/native/_native-linux-x86_64.so", b"ELF")
        z.writestr("engine/native/scan.c", "int x;")
        z.writestr("engine/__init__.py", "")
    assert build.drop_native_libraries(path) == 1
    assert sorted(zipfile.ZipFile(path).namelist()) == ["engine/__init__.py", "engine/native/scan.c"]
    assert build.drop_native_libraries(path) == 0


def test_installed_extension_registers_panel_and_operators(linux_zip: Path, tmp_path: Path) -> None:
    """Install from disk into a throw-away profile, enable, find the UI; with every stage built, also lift the
    synthetic performer onto the meta-rig through the installed copy."""
    out = tmp_path / "result.json"
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT)
    from engine import keypoint_io, synthetic

    keypoints = str(tmp_path / "walk.kp.json")
    keypoint_io.save_keypoints(synthetic.synthetic_performer(frames=60)[0], keypoints)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"), SASMAMBA_CACHE=str(tmp_path))
    proc = subprocess.run([sys.executable, str(script), str(linux_zip), str(out), keypoints], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["result"] == ["FINISHED"]
    assert result["enabled"]
    assert result["operators"] == ["lift_to_3d", "batch_import", "export", "cancel", "save_map"]
    assert result["panel"] == ["VIEW_3D", "UI", "Mocap"]
    assert result["backend"] == "auto"
    assert result["scene_settings"]
    # installed into the throw-away profile, not the user's, and the cache lives in the extension's user folder
    assert result["addon_file"].startswith(str(tmp_path / "blender_user"))
    assert result["cache"].startswith(str(tmp_path / "blender_user"))
    assert result["lifted"]["action"] == "walk" and result["lifted"]["frames"] == [1.0, 60.0]
    assert result["lifted"]["engine"].startswith(str(tmp_path / "blender_user"))
    if any(n.startswith("engine/native/_native-") for n in zipfile.ZipFile(linux_zip).namelist()):
        # the installed copy lifts with the C kernels it carries, loaded from its own folder
        assert result["native"][0] and result["native"][1].startswith(str(tmp_path / "blender_user"))


def test_manifest_passes_blenders_validator(tmp_path: Path) -> None:
    pkg = build.stage(tmp_path / "ok", {"linux-x64": []})
    assert "Success" in build.run_blender_ext("validate", str(pkg))
    text = (pkg / "blender_manifest.toml").read_text()
    assert 'id = "sasmamba_mocap"' in text and 'type = "add-on"' in text
    assert 'blender_version_min = "4.2.0"' in text and "SPDX:GPL-3.0-or-later" in text


def test_validator_rejects_a_broken_manifest(tmp_path: Path) -> None:
    pkg = build.stage(tmp_path / "bad", {"linux-x64": []})
    manifest = pkg / "blender_manifest.toml"
    manifest.write_text(manifest.read_text().replace('type = "add-on"', 'type = "plugin"'))
    proc = subprocess.run([sys.executable, str(build.blender_ext()), "validate", str(pkg)], capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert "type" in proc.stdout + proc.stderr
