"""The add-on's two sibling packages, `engine` and `retarget`.

Inside the installed extension all three are subpackages of one package (`bl_ext.<repo>.sasmamba_mocap`), so the
relative import works. Run from the source tree (`python -m addon`, the tests) `addon` is a top-level package and
its siblings are top-level too.
"""

from __future__ import annotations

try:
    from .. import engine, retarget
except ImportError:  # source tree: no parent package above `addon`
    import engine  # type: ignore[no-redef]
    import retarget  # type: ignore[no-redef]

__all__ = ["engine", "retarget"]
