"""The project's InputError, reached whether `retarget` runs inside the extension or from the source tree."""

from __future__ import annotations

try:
    from ..engine.errors import InputError
except ImportError:  # source tree: `retarget` is a top-level package
    from engine.errors import InputError  # type: ignore[no-redef]

__all__ = ["InputError"]
