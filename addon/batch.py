"""Batch import: a folder (or list) of clips -> one Action each, named after the file, on NLA tracks."""

from __future__ import annotations

from pathlib import Path

import bpy

from .api import errors
from .lift import is_supported_source
from .operators import ClipsOperator


def collect_sources(folder: str) -> list[str]:
    """Every video or keypoint file directly inside `folder`, sorted by name (hidden files skipped)."""
    path = Path(bpy.path.abspath(folder)) if folder else None
    if path is None or not path.is_dir():
        raise errors().InputError(f"{folder or '(no folder)'}: not a folder")
    found = sorted(str(p) for p in path.iterdir()
                   if p.is_file() and not p.name.startswith(".") and is_supported_source(str(p)))
    if not found:
        raise errors().InputError(f"{path}: no videos or keypoint files in this folder")
    return found


class MOCAP_OT_batch_import(ClipsOperator, bpy.types.Operator):
    """Import every clip of the folder as its own Action on an NLA track; a bad clip is reported and skipped"""

    bl_idname = "mocap.batch_import"
    bl_label = "Batch Import"
    as_nla = True

    files: bpy.props.CollectionProperty(type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"})
    directory: bpy.props.StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})

    def gather(self, context: bpy.types.Context) -> list[str]:
        if self.directory and len(self.files) and self.files[0].name:
            return [str(Path(bpy.path.abspath(self.directory)) / f.name) for f in self.files]
        return collect_sources(context.scene.sasmamba_mocap.batch_dir)


CLASSES = (MOCAP_OT_batch_import,)
