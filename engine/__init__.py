"""SasMamba Mocap engine: video -> 2D keypoints -> 3D joints -> clean-up. No bpy anywhere below.

Heavy modules (torch, MediaPipe) are imported on first use, never at package import: Blender imports this
package at add-on start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .types import Keypoints2D, Pose3D

if TYPE_CHECKING:
    from .lifter import Lifter

__all__ = ["Keypoints2D", "Lifter", "Pose3D"]

_LAZY = {"Lifter": ".lifter"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
