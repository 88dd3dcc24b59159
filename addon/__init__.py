"""SasMamba Mocap add-on: the only package that imports bpy.

Installed, it is the `addon` subpackage of the extension (the extension's root `__init__.py`, written by build.py,
re-exports `register` / `unregister`). From the source tree, `import addon; addon.register()` does the same, and
`python -m addon ...` is the headless CLI. bpy and the add-on modules are imported on first use so `python -m addon
--help` and Blender's start-up stay fast.
"""

from __future__ import annotations

_registered: list = []


def register() -> None:
    import bpy

    from . import batch, export, operators, panels, preferences, properties

    if _registered:  # already registered in this process
        return
    classes = (*preferences.CLASSES, *properties.CLASSES, *operators.CLASSES, *batch.CLASSES, *export.CLASSES,
               *panels.CLASSES)
    for cls in classes:
        bpy.utils.register_class(cls)
        _registered.append(cls)
    properties.attach()


def unregister() -> None:
    import bpy

    from . import properties

    properties.detach()
    while _registered:
        bpy.utils.unregister_class(_registered.pop())
