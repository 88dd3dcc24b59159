"""Clean 2D keypoints before lifting: drop unsure points, reject outliers, fill short gaps, mark long ones.

Per joint and per coordinate, in this order:
1. points with confidence < min_conf (or NaN) are dropped;
2. Hampel filter: a point further than `hampel_sigmas` robust standard deviations (1.4826 x MAD, floored at
   `hampel_floor` x the image's longer side so a still pose does not make every pixel of noise an outlier) from
   the median of its `hampel_window` neighbours is dropped;
3. gaps of at most `max_gap` frames are filled by a local cubic spline through the surviving points (see
   `fill_run`), at the clip's ends by holding the nearest point; filled points get confidence `min_conf`;
4. longer gaps are bridged linearly (held at the ends) with confidence 0, so the output is finite wherever a
   joint was seen at all, and frames where most joints sit in a long gap are marked in `Keypoints2D.gaps` so later
   stages can cut the clip there or keep the bridge.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline

from .errors import InputError
from .skeleton import JOINT_NAMES
from .types import Keypoints2D

LONG_GAP_JOINT_SHARE = 0.5  # a frame is a gap frame when at least this share of joints lies in a long gap


@dataclass
class CleanReport:
    """Per-clip summary. detection_rate: share of frames with at least half the joints confident.
    gaps_filled: joint gaps filled by interpolation; long_gaps: (start, stop) frame ranges marked in `gaps`;
    mean_conf: mean confidence of the kept (confident, non-outlier) points."""

    frames: int
    detection_rate: float
    gaps_filled: int
    long_gaps: list[tuple[int, int]]
    mean_conf: float
    outliers: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (f"{self.frames} frames, {self.detection_rate:.1%} detected, {self.gaps_filled} gaps filled, "
                f"{len(self.long_gaps)} long gaps, {self.outliers} outliers, mean confidence {self.mean_conf:.2f}")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def hampel_outliers(values: np.ndarray, valid: np.ndarray, *, window: int, sigmas: float,
                    floor: float) -> np.ndarray:
    """Bool mask of outliers among `valid` samples of a 1D series (NaN-aware, `window` odd)."""
    half = window // 2
    t = values.shape[0]
    if valid.sum() < 3:
        return np.zeros(t, dtype=bool)
    padded = np.pad(np.where(valid, values, np.nan), half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)  # (T, window)
    with _warnings.catch_warnings():  # all-NaN windows are expected around gaps
        _warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(windows, axis=1)
        mad = np.nanmedian(np.abs(windows - med[:, None]), axis=1)
    scale = np.maximum(1.4826 * np.nan_to_num(mad), floor)
    count = np.sum(np.isfinite(windows), axis=1)
    return valid & (count >= 3) & (np.abs(values - med) > sigmas * scale)


def fill_run(series: np.ndarray, known: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Values for frames [start, stop) of a (T, 2) series from its known frames.

    Inside the clip: a cubic spline through the known frames within a few gap lengths either side (smooth motion
    is followed through the gap; a monotone PCHIP flattens it, 7 px off on a 6-frame gap of a 1 Hz, 40 px swing),
    linear when fewer than 4 such frames exist. At either end of the clip: the nearest known value, held.
    """
    idx = np.flatnonzero(known)
    frames = np.arange(start, stop)
    if start == 0 or stop == series.shape[0] or idx.size < 2:
        nearest = idx[np.abs(idx[:, None] - frames[None, :]).argmin(axis=0)]
        return series[nearest]
    reach = max(2 * (stop - start), 6)
    local = idx[(idx >= start - reach) & (idx < stop + reach)]
    if local.size >= 4 and (local < start).any() and (local >= stop).any():
        return CubicSpline(local, series[local], axis=0)(frames)
    return np.stack([np.interp(frames, idx, series[idx, a]) for a in range(series.shape[1])], axis=-1)


def clean_keypoints(
    kp: Keypoints2D,
    *,
    min_conf: float = 0.5,
    max_gap: int = 10,
    hampel_window: int = 7,
    hampel_sigmas: float = 3.0,
    hampel_floor: float = 0.004,
) -> tuple[Keypoints2D, CleanReport]:
    """Return cleaned keypoints (same frames, fps, size; `gaps` filled in) and a `CleanReport`."""
    if hampel_window < 3 or hampel_window % 2 == 0:
        raise ValueError(f"hampel_window must be an odd number >= 3, got {hampel_window}")
    xy = kp.xy.astype(np.float64)
    conf = kp.conf.astype(np.float64)
    t, j = conf.shape
    valid = (conf >= min_conf) & np.isfinite(xy).all(axis=-1)
    frames_detected = valid.sum(axis=1) >= j / 2
    if not valid.any():
        raise InputError(f"{kp.source or 'keypoints'}: no joint reaches confidence {min_conf} in any frame")

    floor = hampel_floor * max(kp.width, kp.height)
    outliers = np.zeros_like(valid)
    for joint in range(j):
        for axis in range(2):
            outliers[:, joint] |= hampel_outliers(xy[:, joint, axis], valid[:, joint], window=hampel_window,
                                                  sigmas=hampel_sigmas, floor=floor)
    keep = valid & ~outliers

    out_xy = np.where(keep[..., None], xy, np.nan)
    out_conf = np.where(keep, conf, 0.0)
    long_mask = np.zeros((t, j), dtype=bool)
    gaps_filled = 0
    warnings: list[str] = []
    for joint in range(j):
        known = keep[:, joint]
        if not known.any():
            warnings.append(f"{JOINT_NAMES[joint]} never seen with confidence >= {min_conf}; left missing")
            long_mask[:, joint] = True
            continue
        if known.all():
            continue
        for start, stop in _runs(~known):
            if stop - start <= max_gap:
                out_xy[start:stop, joint] = fill_run(xy[:, joint], known, start, stop)
                out_conf[start:stop, joint] = min_conf
                gaps_filled += 1
            else:  # bridged straight (held at the clip's ends) and marked; conf 0 says it is a guess
                idx = np.flatnonzero(known)
                frames = np.arange(start, stop)
                for axis in range(2):
                    out_xy[start:stop, joint, axis] = np.interp(frames, idx, xy[idx, joint, axis])
                long_mask[start:stop, joint] = True
    gap_frames = long_mask.mean(axis=1) >= LONG_GAP_JOINT_SHARE
    long_gaps = _runs(gap_frames)
    rate = float(frames_detected.mean())
    if long_gaps:
        warnings.append(f"{int(gap_frames.sum())} frames in {len(long_gaps)} gaps longer than {max_gap} frames")
    if rate < 0.5:
        warnings.append(f"a person is detected in only {rate:.0%} of the frames")
    report = CleanReport(
        frames=t,
        detection_rate=rate,
        gaps_filled=gaps_filled,
        long_gaps=long_gaps,
        mean_conf=float(conf[keep].mean()) if keep.any() else 0.0,
        outliers=int(outliers.sum()),
        warnings=warnings,
    )
    meta = dict(kp.meta)
    meta["clean"] = {"min_conf": min_conf, "max_gap": max_gap, "hampel_window": hampel_window,
                     "hampel_sigmas": hampel_sigmas, "report": report.to_dict()}
    cleaned = kp.replace(xy=out_xy.astype(np.float32), conf=out_conf.astype(np.float32), gaps=gap_frames, meta=meta)
    return cleaned, report
