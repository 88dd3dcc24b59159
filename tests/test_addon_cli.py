"""The headless CLI (`python -m addon`): same operators as the sidebar, clear failures, non-zero exits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from addon_testlib import keypoint_cache, needs_pipeline  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SASMAMBA_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", "addon", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_missing_input_fails_with_a_clear_message(tmp_path):
    proc = _cli("animate", str(tmp_path / "nothing.mp4"), "--rig", "metarig", "-o", str(tmp_path / "x.fbx"),
                cache=tmp_path)
    assert proc.returncode == 1
    assert "nothing.mp4: no such file" in proc.stderr


def test_bad_output_suffix_is_a_usage_error(media_dir, tmp_path):
    proc = _cli("animate", str(media_dir / "pose_1.mp4"), "-o", str(tmp_path / "x.mov"), cache=tmp_path)
    assert proc.returncode == 2 and "must end in .fbx, .bvh or .blend" in proc.stderr


@needs_pipeline
def test_demo_writes_blend_fbx_bvh_png(tmp_path):
    out = tmp_path / "out"
    proc = _cli("demo", "-o", str(out), cache=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("demo.blend", "demo.fbx", "demo.bvh", "demo.png"):
        assert (out / name).stat().st_size > 1000, name
        assert f"wrote {(out / name).resolve()}" in proc.stdout
    assert "pipeline stages: detect" in proc.stdout
    assert (out / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Frames: 150" in (out / "demo.bvh").read_text()


@needs_pipeline
def test_batch_onto_the_mixamo_rig_exports_every_good_clip_and_exits_3_on_a_bad_one(media_dir, keypoint_cache,  # noqa: F811
                                                                                  tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy2(media_dir / "pose_squats.mp4", clips / "pose_squats.mp4")
    (clips / "broken.mp4").write_bytes(b"\0" * 4096)
    out = tmp_path / "out"
    proc = _cli("batch", str(clips), "--rig", "mixamo", "-o", str(out), "--format", "fbx,bvh", cache=keypoint_cache)
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "clip 2: detect" in proc.stdout  # progress output, clip by clip
    assert sorted(p.name for p in out.iterdir()) == ["pose_squats.bvh", "pose_squats.fbx", "report.json"]
    report = (out / "report.json").read_text()
    assert "broken.mp4: failed" in report and "pose_squats.mp4: done" in report
    bvh = (out / "pose_squats.bvh").read_text()
    assert "ROOT mixamorig:Hips" in bvh and "Frames: 65" in bvh


@needs_pipeline
def test_animate_keypoint_file_to_blend(tmp_path):
    from engine import keypoint_io, synthetic

    source = tmp_path / "walk.kp.json"
    keypoint_io.save_keypoints(synthetic.synthetic_performer(frames=40)[0], source)
    out = tmp_path / "walk.blend"
    proc = _cli("animate", str(source), "--rig", "metarig", "--root-motion", "in_place", "-o", str(out),
                cache=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert out.read_bytes()[:7] == b"BLENDER" or out.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # plain or zstd
    assert "walk.kp.json: done -> Action 'walk'" in proc.stdout and f"wrote {out}" in proc.stdout
