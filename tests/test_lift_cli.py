"""`python -m engine lift`: real video -> cleaned 3D joints on disk, with the shipped weights."""

import numpy as np
import pytest

from engine.lift_cli import main


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SASMAMBA_CACHE", str(tmp_path / "cache"))


def test_lift_video_to_world_joints_then_refuses_to_overwrite(media_dir, tmp_path, cache, capsys):
    out = tmp_path / "pose_1.npz"
    assert main([str(media_dir / "pose_1.mp4"), "-o", str(out), "--backend", "torch"]) == 0
    data = np.load(out)
    assert data["joints_mm"].shape == (120, 17, 3) and np.isfinite(data["joints_mm"]).all()
    assert str(data["space"]) == "world" and data["contact"].shape == (120, 2)
    feet_z = data["joints_mm"][:, [3, 6], 2]
    assert np.nanmin(feet_z) >= -1.0  # feet on or above the floor
    before = out.read_bytes()
    assert main([str(media_dir / "pose_1.mp4"), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before


def test_raw_output_is_root_relative_camera_frame(media_dir, tmp_path, cache):
    out = tmp_path / "raw.npz"
    assert main([str(media_dir / "pose_1.mp4"), "-o", str(out), "--raw", "--no-flip", "--backend", "numpy"]) == 0
    data = np.load(out)
    assert str(data["space"]) == "camera"
    assert np.abs(data["joints_mm"][:, 0]).max() < 1e-3


def test_missing_input_is_a_clear_error(tmp_path, cache, capsys):
    assert main([str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "x.npz")]) == 1
    assert "nope.mp4" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()
