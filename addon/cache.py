"""Where keypoints are cached: the extension's user folder when installed, a user/temp folder from source."""

from __future__ import annotations

from pathlib import Path

import bpy

from .api import pipeline


def cache_dir() -> Path:
    from .preferences import root_package

    package = root_package()
    if package.startswith("bl_ext."):
        try:
            return Path(bpy.utils.extension_path_user(package, path="cache", create=True))
        except (ValueError, OSError, AttributeError):
            pass
    return pipeline().default_cache_dir()
