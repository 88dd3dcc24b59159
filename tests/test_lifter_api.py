"""engine.Lifter and the weight files: backends, windows, frame rates, missing joints, bad input, the numpy path
without torch, and a CPU training smoke run exported to weights and lifted with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import h36m
from engine.errors import InputError
from engine.lifter import Lifter, available_backends
from engine.model import SasMamba
from engine.paths import PROJECT_ROOT
from engine.representation import bone_length_sum
from engine.types import Keypoints2D
from engine.weights import LICENCE, export_checkpoint, export_model, load_weights
from engine.windows import predict_sequences

ENV_1_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT_ROOT)}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def xs_weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = SasMamba("sasmamba-xs").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return export_model(model, tmp_path_factory.mktemp("w") / "xs.npz", {"training_data": "random init (test)"},
                        config_name="sasmamba-xs")


@pytest.fixture(scope="module")
def walking(h36m_dir) -> Keypoints2D:
    """1,000 frames of S9 walking seen by camera 0: real ground-truth 2D, 50 fps."""
    camera = h36m.load_cameras()["S9"][0]
    world = h36m.load_poses(["S9"])["S9/Walking 1"][:1000]
    xy = camera.project(world)
    return Keypoints2D(xy=xy, conf=np.ones(xy.shape[:2]), fps=50.0, width=camera.width, height=camera.height,
                       source="S9/Walking 1 cam 0")


def test_weights_file_round_trip_and_metadata(tmp_path, xs_weights):
    arrays, meta = load_weights(xs_weights)
    assert meta["licence"] == LICENCE == "Human3.6M: non-commercial research only"
    assert meta["config"]["dim"] == 32 and meta["config_name"] == "sasmamba-xs"
    assert {"training_data", "epochs", "validation", "test"} <= set(meta)
    model = SasMamba("sasmamba-xs")
    assert set(arrays) == set(model.state_dict())
    assert all(a.dtype == np.float32 for a in arrays.values())
    # a training checkpoint as `python -m engine train` writes it
    ckpt = tmp_path / "last.pt"
    torch.save({"model": model.state_dict(), "config": model.cfg.to_dict(), "epoch": 7, "step": 70, "best": 55.0,
                "args": {"train_subjects": "S1,S5"}}, ckpt)
    out = export_checkpoint(ckpt, tmp_path / "w.npz", {"test": {"p1_mm": 50.0}})
    arrays2, meta2 = load_weights(out)
    assert meta2["epochs"] == 7 and meta2["test"] == {"p1_mm": 50.0} and "S1,S5" in meta2["training_data"]
    np.testing.assert_array_equal(arrays2["head.weight"], model.state_dict()["head.weight"].numpy())
    torch.save(model.state_dict(), tmp_path / "bare.pt")  # a bare state_dict says nothing of its config
    with pytest.raises(ValueError, match="bare.pt"):
        export_checkpoint(tmp_path / "bare.pt", tmp_path / "bare.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(InputError, match="junk.npz"):
        load_weights(tmp_path / "junk.npz")


def test_missing_shipped_weights_error_names_the_file():
    with pytest.raises(InputError, match=r"sasmamba-tiny_h36m\.npz"):
        Lifter.load(config="sasmamba-tiny")
    with pytest.raises(ValueError, match="backend"):
        Lifter.load(config="sasmamba-tiny", backend="tpu")


def test_backends_agree_and_auto_picks_torch_here(xs_weights, walking):
    assert available_backends()[-2:] == ["torch", "numpy"]
    auto = Lifter.load(weights=xs_weights)
    assert auto.backend == ("cuda" if "cuda" in available_backends() else "torch")
    clip = walking.replace(xy=walking.xy[:300], conf=walking.conf[:300])
    pose_t = Lifter.load(weights=xs_weights, backend="torch").lift(clip)
    threaded = Lifter.load(weights=xs_weights, backend="torch", threads=2, batch=3).lift(clip)  # batch split
    np.testing.assert_allclose(threaded.joints_mm, pose_t.joints_mm, rtol=1e-5, atol=1e-3)
    pose_n = Lifter.load(weights=xs_weights, backend="numpy").lift(clip)
    assert pose_t.joints_mm.shape == (300, 17, 3) and pose_t.space == "camera" and pose_t.fps == 50
    assert np.abs(pose_t.joints_mm - pose_n.joints_mm).max() / np.abs(pose_t.joints_mm).max() < 1e-4
    assert np.allclose(pose_t.joints_mm[:, 0], 0)  # root-relative
    # one weak-perspective scale per clip: the median skeleton is the mean H36M performer, or the one given
    assert np.median(bone_length_sum(pose_t.joints_mm)) == pytest.approx(4166.0, rel=1e-4)
    own = Lifter.load(weights=xs_weights, backend="numpy").lift(clip, bone_length_sum_mm=3800.0)
    assert np.median(bone_length_sum(own.joints_mm)) == pytest.approx(3800.0, rel=1e-4)


def test_numpy_backend_never_imports_torch(xs_weights):
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from engine import Lifter, Keypoints2D
        t = np.arange(60)[:, None, None]
        xy = 500 + 100 * np.sin(t / 9 + np.arange(17)[None, :, None] + np.arange(2)) + np.arange(17)[None, :, None] * 9
        lifter = Lifter.load(weights={str(xs_weights)!r}, backend="numpy")
        pose = lifter.lift(Keypoints2D(xy=xy, conf=np.ones((60, 17)), fps=30, width=1000, height=800))
        assert pose.joints_mm.shape == (60, 17, 3) and np.isfinite(pose.joints_mm).all()
        assert "torch" not in sys.modules, "the numpy path imported torch"
        print("ok", lifter.backend)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV_1_THREAD,
                         cwd=PROJECT_ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok numpy"


def test_window_blending_is_exact_for_a_frame_local_predictor():
    rng = np.random.default_rng(0)
    clip = rng.standard_normal((1000, 17, 2)).astype(np.float32)
    local = lambda x: np.concatenate([x * 2, x[..., :1] ** 2], axis=-1)  # noqa: E731  per frame, no context
    for stride in (27, 18, 5, 1):
        out = predict_sequences(local, [clip, clip[:10]], 27, stride, flip=False)
        np.testing.assert_allclose(out[0], local(clip), atol=1e-6)
        np.testing.assert_allclose(out[1], local(clip[:10]), atol=1e-6)


def test_long_clip_overlaps_agree(xs_weights, walking):
    """1,000 frames through 27-frame windows at different overlaps. Frames differ only where they see different
    context. Measured with these random xs weights, relative to the output's range: strides 9 and 3 against 18,
    mean 0.5-0.6 %, max 3.6-4.8 %; stride 27 (no overlap, hard seams) mean 1.6 %, max 33 %."""
    results = {}
    for stride in (18, 9, 27):
        lifter = Lifter.load(weights=xs_weights, backend="torch", stride=stride)
        results[stride] = lifter.lift(walking, flip_tta=False).joints_mm
        assert results[stride].shape == (1000, 17, 3) and np.isfinite(results[stride]).all()
    spread = np.abs(results[18]).max()
    diff = np.abs(results[9] - results[18]) / spread
    assert diff.mean() < 0.015 and diff.max() < 0.1, (diff.mean(), diff.max())
    seams = np.abs(results[27] - results[18]) / spread
    assert seams.mean() < 0.04 and seams.mean() > diff.mean()  # overlap blending is what removes the seams


def test_any_length_and_odd_frame_rates(xs_weights, walking):
    lifter = Lifter.load(weights=xs_weights, backend="numpy")
    for frames in (2, 5, 27, 28, 61):
        clip = walking.replace(xy=walking.xy[:frames], conf=walking.conf[:frames])
        assert lifter.lift(clip).joints_mm.shape == (frames, 17, 3)
    # the same motion at 100 fps lifts like its every-other-frame 50 fps version (resampled to 50 and back)
    n = 400
    at_50 = walking.replace(xy=walking.xy[:n], conf=walking.conf[:n])
    t = np.arange(2 * n - 1) / 2
    xy_100 = np.stack([np.interp(t, np.arange(n), walking.xy[:n, j, c]) for j in range(17) for c in range(2)], -1)
    at_100 = walking.replace(xy=xy_100.reshape(-1, 17, 2), conf=np.ones((2 * n - 1, 17)), fps=100.0)
    p50, p100 = lifter.lift(at_50), lifter.lift(at_100)
    assert p100.joints_mm.shape == (2 * n - 1, 17, 3) and p100.fps == 100
    units_50 = p50.joints_mm / p50.meta["mm_per_unit"]
    units_100 = p100.joints_mm / p100.meta["mm_per_unit"]
    np.testing.assert_allclose(units_100[::2], units_50, atol=1e-4)
    odd = walking.replace(xy=walking.xy[:100], conf=walking.conf[:100], fps=23.976)
    pose = lifter.lift(odd)
    assert pose.joints_mm.shape == (100, 17, 3) and pose.fps == pytest.approx(23.976)
    assert pose.meta["resampled_from_fps"] == pytest.approx(23.976)


def test_missing_joints_are_interpolated_and_never_seen_is_an_error(xs_weights, walking):
    lifter = Lifter.load(weights=xs_weights, backend="numpy")
    clip = walking.replace(xy=walking.xy[:80], conf=walking.conf[:80])
    xy, conf = clip.xy.copy(), clip.conf.copy()
    xy[10:20, 13], conf[10:20, 13] = np.nan, 0  # left wrist lost for 10 frames
    xy[:5, 3], conf[:5, 3] = np.nan, 0  # right ankle missing at the start
    filled = xy.copy()
    for j in (13, 3):
        ok = np.isfinite(xy[:, j, 0])
        for c in range(2):
            filled[:, j, c] = np.interp(np.arange(80), np.flatnonzero(ok), xy[ok, j, c])
    pose = lifter.lift(clip.replace(xy=xy, conf=conf))
    reference = lifter.lift(clip.replace(xy=filled))
    assert pose.meta["filled_joint_frames"] == 15
    np.testing.assert_allclose(pose.joints_mm, reference.joints_mm, atol=1e-3)
    xy[:, 10] = np.nan
    with pytest.raises(InputError, match="head"):
        lifter.lift(clip.replace(xy=xy))
    with pytest.raises(InputError, match="no finite joint"):
        lifter.lift(clip.replace(xy=np.full_like(xy, np.nan)))


def test_bad_input_is_refused_clearly(xs_weights, walking):
    lifter = Lifter.load(weights=xs_weights, backend="torch")
    with pytest.raises(InputError, match="at least 2 frames"):
        lifter.lift(walking.replace(xy=walking.xy[:1], conf=walking.conf[:1]))
    with pytest.raises(InputError, match="Keypoints2D"):
        lifter.lift(np.zeros((10, 17, 2)))
    with pytest.raises(InputError, match="bone_length_sum_mm"):
        lifter.lift(walking, bone_length_sum_mm=-1.0)
    with pytest.raises(InputError, match="takes"):
        lifter.predict_normalized(np.zeros((2, 27, 16, 2)))
    with pytest.raises(InputError, match="takes"):
        lifter.predict_normalized(np.zeros((2, 28, 17, 2)))
    with pytest.raises(InputError, match="NaN"):
        lifter.predict_normalized(np.full((1, 27, 17, 2), np.nan))
    with pytest.raises(ValueError, match="image size"):
        Keypoints2D(xy=np.zeros((5, 17, 2)), conf=np.ones((5, 17)), fps=30, width=0, height=0)
    with pytest.raises(ValueError, match="shape"):
        Keypoints2D(xy=np.zeros((5, 16, 2)), conf=np.ones((5, 16)), fps=30, width=10, height=10)


def test_lift_many_batches_clips_like_lift_and_reports_progress(xs_weights, walking):
    lifter = Lifter.load(weights=xs_weights, backend="numpy")
    clips = [walking.replace(xy=walking.xy[s:s + n], conf=walking.conf[s:s + n]) for s, n in ((0, 100), (300, 40))]
    calls = []
    many = lifter.lift_many(clips, progress=lambda done, total: calls.append((done, total)))
    for clip, pose in zip(clips, many, strict=True):
        np.testing.assert_allclose(pose.joints_mm, lifter.lift(clip).joints_mm, atol=1e-3)
    total = calls[-1][1]
    assert calls[0] == (0, total) and calls[-1] == (total, total) and total == 2 * (6 + 2)  # flip doubles
    out = lifter.predict_normalized(np.zeros((3, 27, 17, 2)))
    assert out.shape == (3, 27, 17, 3)


def test_cpu_training_smoke_run_exports_and_lifts(tmp_path, h36m_dir, walking):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "engine", "train", "--config", "sasmamba-tiny", "--train-subjects", "S8",
           "--max-steps", "3", "--batch", "2", "--val-max-clips", "2", "--deform-impl", "fused", "--out", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, env=ENV_1_THREAD, cwd=PROJECT_ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "last.pt").is_file()
    assert torch.load(out / "last.pt", weights_only=False)["args"]["deform_impl"] == "fused"
    weights = export_checkpoint(out / "last.pt", tmp_path / "tiny.npz", {"config_name": "sasmamba-tiny"})
    pose = Lifter.load(weights=weights, backend="numpy").lift(walking.replace(xy=walking.xy[:50],
                                                                              conf=walking.conf[:50]))
    assert pose.joints_mm.shape == (50, 17, 3) and np.isfinite(pose.joints_mm).all()


def test_info_json_reports_counts_backends_and_weights():
    run = subprocess.run([sys.executable, "-m", "engine", "info", "--json"], capture_output=True, text=True,
                         env=ENV_1_THREAD, cwd=PROJECT_ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    small = info["configs"]["sasmamba-s"]
    assert abs(small["params"]["thop_style"] / 0.638e6 - 1) < 0.02
    assert small["params"]["true"] == 951_351
    assert small["macs"]["thop_style_per_frame"] * 243 == pytest.approx(small["macs"]["thop_style_per_window"])
    assert "numpy" in info["backends"] and isinstance(info["shipped_weights"], list)
    from engine import native

    assert info["native_kernels"]["available"] == native.available()
    assert info["native_kernels"]["library"] == str(native.library_path())
