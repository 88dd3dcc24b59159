"""Add-on preferences: the lifter's backend and the keypoint cache."""

from __future__ import annotations

import os

import bpy


def root_package() -> str:
    """The add-on's module name as Blender knows it: the extension root when installed, `addon` from source."""
    parent = __package__.rpartition(".")[0]
    return parent if parent.startswith("bl_ext.") else __package__


class MOCAP_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = root_package()

    backend: bpy.props.EnumProperty(
        name="Backend",
        description="How the 3D lifter runs",
        items=(
            ("auto", "Automatic", "CUDA kernels if present, else PyTorch, else the built-in numpy runtime"),
            ("cuda", "CUDA", "mamba-ssm CUDA kernels (NVIDIA GPU with mamba-ssm installed)"),
            ("torch", "PyTorch", "Pure PyTorch on any device (needs torch in Blender's Python)"),
            ("numpy", "NumPy", "Built-in runtime: works in a stock Blender, slower"),
        ),
        default="auto",
    )
    use_cache: bpy.props.BoolProperty(
        name="Cache Keypoints",
        description="Keep detected 2D keypoints per clip so re-runs with other settings skip detection",
        default=True,
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "backend")
        layout.prop(self, "use_cache")
        from .cache import cache_dir

        layout.label(text=f"Cache: {cache_dir()}")


def get_preferences(context: bpy.types.Context | None = None) -> dict:
    """Preferences as plain values, with defaults when the add-on is registered from the source tree."""
    context = context or bpy.context
    addon = context.preferences.addons.get(root_package())
    prefs = getattr(addon, "preferences", None)
    if prefs is None:  # registered from the source tree (CLI, tests): the environment decides
        return {"backend": os.environ.get("SASMAMBA_BACKEND", "auto"),
                "use_cache": os.environ.get("SASMAMBA_NO_CACHE", "") in ("", "0")}
    return {"backend": prefs.backend, "use_cache": prefs.use_cache}


CLASSES = (MOCAP_AP_preferences,)
