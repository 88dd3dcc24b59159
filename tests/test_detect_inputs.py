"""Bad and unusual video input: each gives a clear InputError naming the file, and nothing partial is written."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine import detect_cli
from engine.detect import detect_video
from engine.errors import InputError
from engine.video import iter_frames, plausible_fps, probe_video


def write_video(path: Path, frames: int, *, fourcc: str = "mp4v", size: tuple[int, int] = (160, 120),
                fps: float = 25.0) -> Path:
    """A synthetic clip with no person: grey frames with the frame number and a white block at the top left."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), 90, np.uint8)
        frame[:20, :40] = 255
        cv2.putText(frame, str(i), (60, 80), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 0), 2)
        writer.write(frame)
    writer.release()
    return path


def patch_mp4(path: Path, out: Path, box: bytes, offset: int, fmt: str, *values: int) -> Path:
    """Copy an MP4 with numbers overwritten at `offset` bytes after the start of the first `box` (its size field)."""
    data = bytearray(path.read_bytes())
    at = data.index(box) - 4 + offset
    data[at : at + struct.calcsize(fmt)] = struct.pack(fmt, *values)
    out.write_bytes(bytes(data))
    return out


def run_cli(*args: str) -> int:
    return detect_cli.main([str(a) for a in args])


def assert_nothing_written(folder: Path, before: set[Path]) -> None:
    assert set(folder.iterdir()) == before, "a partial or temporary file was left behind"


@pytest.mark.parametrize("value", [0.0, float("nan"), float("inf"), -25.0, 0.002, 5000.0])
def test_implausible_header_rates_are_rejected(value):
    assert not plausible_fps(value)
    assert plausible_fps(5.0) and plausible_fps(29.97) and plausible_fps(240.0)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nothere\.mp4: file not found"):
        detect_video(tmp_path / "nothere.mp4")


def test_text_file_named_mp4(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match=r"notes\.mp4: not a readable video"):
        probe_video(bad)
    before = set(tmp_path.iterdir())
    assert run_cli(bad, "-o", tmp_path / "notes.kp.json", "--preview", tmp_path / "p.png", "-q") == 1
    assert_nothing_written(tmp_path, before)


def test_empty_and_zero_frame_files(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.mp4: file is empty"):
        detect_video(empty)
    zero = write_video(tmp_path / "zero.avi", 0, fourcc="MJPG")  # a valid header, no frames
    with pytest.raises(InputError, match=r"zero\.avi: contains no decodable video frames"):
        detect_video(zero)


def test_truncated_videos(tmp_path):
    avi = write_video(tmp_path / "whole.avi", 30, fourcc="MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(avi.read_bytes()[: avi.stat().st_size * 2 // 5])
    assert probe_video(cut).frame_count_header == 30  # the header still promises 30
    with pytest.raises(InputError, match=r"cut\.avi: video ends after \d+ of the 30 frames"):
        detect_video(cut)
    mp4 = write_video(tmp_path / "whole.mp4", 30)
    cut_mp4 = tmp_path / "cut.mp4"
    cut_mp4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])  # index (moov) at the end: lost
    with pytest.raises(InputError, match=r"cut\.mp4: not a readable video"):
        detect_video(cut_mp4)


def test_no_person_in_any_frame(tmp_path):
    blank = write_video(tmp_path / "blank.mp4", 8)
    with pytest.raises(InputError, match=r"blank\.mp4: no person detected in any of its 8 frames"):
        detect_video(blank)
    before = set(tmp_path.iterdir())
    assert run_cli(blank, "-o", tmp_path / "blank.kp.json", "-q") == 1
    assert_nothing_written(tmp_path, before)


def test_zero_frame_rate_in_header(tmp_path):
    good = write_video(tmp_path / "good.mp4", 10)
    # mdhd: size, type, version+flags, created, modified, then the timescale (at byte 20): 0 makes fps 0
    broken = patch_mp4(good, tmp_path / "fps0.mp4", b"mdhd", 20, ">I", 0)
    with pytest.raises(InputError, match=r"fps0\.mp4: frame rate in the header is .* pass the frame rate"):
        probe_video(broken)
    override = probe_video(good, fps=24.0)
    assert (override.fps, override.fps_source) == (24.0, "user")
    with pytest.raises(InputError, match="frame rate given"):
        probe_video(good, fps=float("nan"))


@pytest.mark.parametrize(("matrix", "rotation", "block_rc"), [
    ((0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30), 90, (19.5, 109.5)),  # phone portrait: display rotated clockwise
    ((0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30), 270, (139.5, 9.5)),
])
def test_rotation_flag_gives_upright_frames(tmp_path, matrix, rotation, block_rc):
    good = write_video(tmp_path / "land.mp4", 3)
    # tkhd version 0: the 3x3 display matrix starts 48 bytes after the box start
    rotated = patch_mp4(good, tmp_path / f"rot{rotation}.mp4", b"tkhd", 48, ">9i", *matrix)
    info = probe_video(rotated)
    assert (info.rotation, info.width, info.height) == (rotation, 120, 160)
    frames = list(iter_frames(info))
    assert len(frames) == 3 and frames[0][1].shape == (160, 120, 3)
    white = np.argwhere(frames[0][1][..., 0] > 200).mean(axis=0)  # the white block, moved with the rotation
    assert np.allclose(white, block_rc, atol=2)
