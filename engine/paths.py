"""Where the shared, read-only material lives (../shared beside the checkout), with clear errors when missing."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The ../shared folder beside the checkout (override with SASMAMBA_SHARED)."""
    return Path(os.environ.get("SASMAMBA_SHARED", PROJECT_ROOT.parent / "shared")).resolve()


def shared_path(*parts: str) -> Path:
    """A path inside ../shared; FileNotFoundError naming the path when it is not there."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"missing shared material: {path} (expected the project's ../shared folder beside the checkout; "
            "set SASMAMBA_SHARED to point elsewhere)"
        )
    return path
