"""Shared fixtures: the ../shared folder (read-only data) must be beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

from engine.paths import shared_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared() -> Path:
    root = shared_dir()
    if not root.is_dir():
        pytest.fail(f"../shared is missing: expected {root} beside the checkout (set SASMAMBA_SHARED)", pytrace=False)
    return root


def _require(shared: Path, *parts: str) -> Path:
    path = shared.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"missing shared file: {path}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def h36m_dir(shared: Path) -> Path:
    return _require(shared, "data", "h36m")


@pytest.fixture(scope="session")
def media_dir(shared: Path) -> Path:
    return _require(shared, "media")


@pytest.fixture(scope="session")
def rigs_dir(shared: Path) -> Path:
    return _require(shared, "rigs")


@pytest.fixture()
def torch_one_thread():
    """Two intra-op threads on a busy 2-core machine can be 10x slower than one."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
