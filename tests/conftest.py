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


@pytest.fixture()
def triton_device() -> str:
    """Where the Triton kernel tests run: CUDA where there is one, else Triton's interpreter on CPU tensors. Each
    Triton test module sets TRITON_INTERPRET=1 before it imports triton (the interpreter is chosen at that import)
    and skips itself without triton; a module imported after triton was loaded without the interpreter skips here."""
    import os

    import torch

    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("no CUDA and TRITON_INTERPRET is not 1 (triton was imported before this module)")
    return "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(scope="session")
def native_library(tmp_path_factory) -> Path:
    """engine/native/'s C kernels built for this machine into a temporary folder (by build.py's own step), so tests
    never depend on a copy left in the source tree."""
    import build

    path = build.compile_native(tmp_path_factory.mktemp("native"), force=True)
    if path is None:
        pytest.skip("no C compiler on this machine: the C kernels cannot be built")
    return path


@pytest.fixture(params=["native", "fallback"])
def native_impl(request, monkeypatch, tmp_path) -> str:
    """Run a test with the C kernels loaded, then with no library present (the torch and numpy code)."""
    from engine import native

    if request.param == "native":
        library = request.getfixturevalue("native_library")
        monkeypatch.setattr(native, "library_path", lambda: library)
        assert native.available()
    else:
        missing = tmp_path / "absent" / native.library_path().name
        monkeypatch.setattr(native, "library_path", lambda: missing)
        assert not native.available()
    return request.param
