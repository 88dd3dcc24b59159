"""What travels to and from the GPU machine: Human3.6M's joints packed as frame differences (scripts/h36m_pack.py,
exact round trip) and an installed package split into parts `$OUT` can bring back (scripts/mamba_prebuilt.py),
here with a real installed distribution standing in for mamba-ssm, which builds only there."""

from __future__ import annotations

import importlib.metadata as md
import lzma
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from engine.paths import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
import h36m_pack  # noqa: E402
import mamba_prebuilt  # noqa: E402


def test_h36m_pack_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.integers(-40, 41, size=(300, 17, 3)), axis=0).astype(np.int16)
    arrays = {
        "S1/Directions 1": walk,
        "S9/Walking": np.array([[32767], [-32768], [0], [-32768], [32767]], np.int16),  # differences that wrap
        "S11/Photo": walk[:1],  # a single frame
        "scale": rng.normal(size=(4, 2)).astype(np.float32),  # not integers: stored as they are
    }
    np.savez_compressed(tmp_path / "poses.npz", **arrays)
    assert h36m_pack.main(["pack", str(tmp_path / "poses.npz"), str(tmp_path / "poses.pack.xz")]) == 0
    assert not list(tmp_path.glob("*.tmp"))
    assert h36m_pack.main(["unpack", str(tmp_path / "poses.pack.xz"), str(tmp_path / "out" / "poses.npz")]) == 0
    with np.load(tmp_path / "out" / "poses.npz") as back:
        assert back.files == list(arrays)
        for name, a in arrays.items():
            assert back[name].dtype == a.dtype and np.array_equal(back[name], a)
    # a smooth walk's differences are what xz packs well
    assert (tmp_path / "poses.pack.xz").stat().st_size < len(lzma.compress(walk.tobytes(), preset=6))


def test_h36m_unpack_refuses_a_truncated_or_foreign_file(tmp_path):
    np.savez(tmp_path / "p.npz", a=np.arange(3000, dtype=np.int16).reshape(1000, 3))
    h36m_pack.pack(tmp_path / "p.npz", tmp_path / "p.xz")
    data = lzma.decompress((tmp_path / "p.xz").read_bytes())
    (tmp_path / "short.xz").write_bytes(lzma.compress(data[:-10]))
    with pytest.raises(ValueError, match="truncated"):
        h36m_pack.unpack(tmp_path / "short.xz", tmp_path / "out.npz")
    (tmp_path / "other.xz").write_bytes(lzma.compress(data.replace(h36m_pack.FORMAT.encode(), b"h36m-other-xz-1")))
    with pytest.raises(ValueError, match="not a h36m-delta-xz-1 pack"):
        h36m_pack.unpack(tmp_path / "other.xz", tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()
    missing = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "h36m_pack.py"), "unpack",
                              str(tmp_path / "none.xz"), str(tmp_path / "out.npz")], capture_output=True, text=True)
    assert missing.returncode == 1 and "none.xz does not exist" in missing.stderr


def test_package_saved_in_parts_joins_and_restores_byte_for_byte(tmp_path, monkeypatch):
    dist = "pytest"  # pure Python, installed wherever the tests run
    base, names = mamba_prebuilt.distribution_files(dist)
    assert "pytest/__init__.py" in names or "_pytest/__init__.py" in names
    assert not any(n.startswith("..") for n in names)
    monkeypatch.setattr(mamba_prebuilt, "PART_BYTES", 64 * 1024)  # several parts from a small package
    parts = mamba_prebuilt.save(tmp_path / "out", dist)
    assert len(parts) >= 2 and all(p.stat().st_size <= 64 * 1024 for p in parts)
    assert not list((tmp_path / "out").glob("*.tmp"))

    archive = tmp_path / "here" / "mamba_ssm_built.tar.xz"
    assert sorted(mamba_prebuilt.join(tmp_path / "out", archive)) == names
    restored = mamba_prebuilt.restore(archive, tmp_path / "site")
    assert sorted(restored) == names
    for name in names:
        assert (tmp_path / "site" / name).read_bytes() == (base / name).read_bytes()
    assert md.version(dist)  # the distribution this test copied is untouched

    parts[1].unlink()  # a part that did not come back: the join fails and writes nothing
    with pytest.raises((lzma.LZMAError, EOFError, tarfile.ReadError)):  # xz's own checks find the gap
        mamba_prebuilt.join(tmp_path / "out", tmp_path / "broken.tar.xz")
    assert not (tmp_path / "broken.tar.xz").exists()


def test_join_without_parts_says_so(tmp_path):
    with pytest.raises(SystemExit, match="no mamba_ssm_built.tar.xz.partNN files"):
        mamba_prebuilt.join(tmp_path, tmp_path / "a.tar.xz")


def test_gpu_prepare_packs_h36m_once_and_keeps_carry_small():
    """The real script on the real data here: the packed copy, no npz in .cache, under carry's 64 MiB."""
    shared = PROJECT_ROOT.parent / "shared" / "data" / "h36m" / "poses3d_17j.npz"
    if not shared.is_file():
        pytest.skip(f"{shared} is missing (../shared beside the checkout)")
    h36m = PROJECT_ROOT / ".cache" / "shared" / "data" / "h36m"
    if not (h36m / "poses3d_17j.pack.xz").is_file():
        pytest.skip("gpu_prepare.sh has not packed .cache here (a minute of xz; run it before a GPU session)")
    out = subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "gpu_prepare.sh")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "packed" not in out.stdout  # up to date: not packed again
    assert not (h36m / "poses3d_17j.npz").exists() and (h36m / "cameras.json").is_file()
    assert sum(p.stat().st_size for p in Path(PROJECT_ROOT / ".cache").rglob("*") if p.is_file()) < 62 * 2**20
