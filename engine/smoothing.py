"""Low-pass filters for joint trajectories: zero-phase Butterworth, forward-backward One Euro, Savitzky-Golay.

Every filter runs along axis 0 (time) of an array shaped (T, ...) and treats every other entry as an independent
signal. All three are fps-aware (cut-offs and windows in Hz and seconds, never frames), work on clips shorter than
their usual padding, and bridge NaN gaps: a NaN run inside a signal is linearly interpolated for filtering and
then set back to NaN in the result, so callers still see where data was missing and the gap does not smear NaN
over its neighbours. A signal with no finite sample stays all NaN.

Zero-phase matters for animation: a causal filter delays motion (a 6 Hz 4th-order causal Butterworth lags by
about 45 ms, two frames at 50 fps), which reads as sluggish contact timing. Running each filter forward and
backward cancels the lag.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

__all__ = ["butterworth_zero_phase", "one_euro_forward_backward", "savitzky_golay", "bridge_nan_gaps"]


def _check(x: np.ndarray, fps: float, what: str) -> np.ndarray:
    fps_f = float(fps)
    if not math.isfinite(fps_f) or fps_f <= 0:
        raise ValueError(f"{what}: fps must be a finite number > 0, got {fps!r}")
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{what}: expected an array shaped (T, ...), got a scalar")
    if arr.shape[0] < 2:
        raise ValueError(f"{what}: a clip of {arr.shape[0]} frame(s) cannot be filtered; at least 2 frames are needed")
    if np.isinf(arr).any():
        raise ValueError(f"{what}: input holds infinite values")
    return arr


def bridge_nan_gaps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaN runs along axis 0 by linear interpolation (edges held at the nearest sample).

    Returns (filled, nan_mask); a signal with no finite sample stays all NaN in `filled`.
    """
    arr = np.asarray(x, dtype=np.float64)
    flat = arr.reshape(arr.shape[0], -1)
    mask = np.isnan(flat)
    if not mask.any():
        return arr.copy(), np.isnan(arr)
    filled = flat.copy()
    t = np.arange(flat.shape[0])
    for col in np.flatnonzero(mask.any(axis=0)):
        good = ~mask[:, col]
        if good.any():
            filled[:, col] = np.interp(t, t[good], flat[good, col])
    return filled.reshape(arr.shape), mask.reshape(arr.shape)


def _detrend(flat: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Split (T, D) into a straight line between its two ends and what is left. Filtering only the rest keeps
    ramps exact and stops edge transients on short clips. Each end value comes from a least-squares line over
    the `span` samples there, so one noisy end sample does not pin the result (ramps still give exact ends)."""
    n = flat.shape[0]
    k = int(min(max(span, 1), n // 2)) or 1
    t = np.arange(k, dtype=np.float64)

    def end_value(block: np.ndarray) -> np.ndarray:  # fitted value at t = 0 of a line through block
        if k == 1:
            return block[0]
        slope, intercept = np.polyfit(t, block, 1)
        return intercept

    start, stop = end_value(flat[:k]), end_value(flat[::-1][:k])
    line = start + np.linspace(0.0, 1.0, n)[:, None] * (stop - start)
    return line, flat - line


def _pad_odd(rest: np.ndarray, pad: int) -> np.ndarray:
    """Extend a detrended (T, D) signal by `pad` samples each side, point-reflected about zero (its fitted end
    value), so the filter sees the motion continue instead of a step, without pinning the ends to one sample."""
    pad = int(min(max(pad, 0), rest.shape[0] - 1))
    if pad == 0:
        return rest
    return np.concatenate([-rest[pad:0:-1], rest, -rest[-2 : -pad - 2 : -1]], axis=0)


def _smooth_detrended(flat: np.ndarray, span: int, pad: int, smooth) -> np.ndarray:
    """line + smooth(padded rest), cropped back: the shared edge handling of every filter here."""
    line, rest = _detrend(flat, span)
    padded = _pad_odd(rest, pad)
    p = (padded.shape[0] - rest.shape[0]) // 2
    return line + smooth(padded)[p : p + rest.shape[0]]


def _restore_nan(y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if mask.any():
        y = y.copy()
        y[mask] = np.nan
    return y


def butterworth_zero_phase(x: np.ndarray, fps: float, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass along time (forward-backward, so the net order is 2 * order).

    A straight line between the two ends (each fitted over fps / cutoff_hz samples) is taken out before filtering
    and put back after, so ramps pass exactly and the ends do not ring.
    x: (T, ...) any float array; fps: frame rate in Hz; cutoff_hz: -3 dB point of the one-way filter.
    A cut-off at or above Nyquist (fps / 2) leaves the signal as it is: a clip sampled that slowly holds nothing
    above the cut-off to remove. Short clips get odd-reflection padding shortened to fit (at most T - 1 frames).
    """
    arr = _check(x, fps, "butterworth_zero_phase")
    if not (math.isfinite(cutoff_hz) and cutoff_hz > 0):
        raise ValueError(f"butterworth_zero_phase: cutoff_hz must be > 0, got {cutoff_hz!r}")
    if int(order) < 1:
        raise ValueError(f"butterworth_zero_phase: order must be >= 1, got {order!r}")
    nyquist = 0.5 * float(fps)
    if cutoff_hz >= nyquist:
        return arr.copy()
    filled, mask = bridge_nan_gaps(arr)
    sos = signal.butter(int(order), cutoff_hz / nyquist, btype="low", output="sos")
    # pad by about two time constants of the filter (longer than scipy's default for low cut-offs), trimmed to fit
    padlen = min(arr.shape[0] - 1, max(3 * (2 * len(sos) + 1), int(math.ceil(2.0 * fps / cutoff_hz))))
    flat = filled.reshape(arr.shape[0], -1)
    out = np.full_like(flat, np.nan)
    ok = ~np.isnan(flat).any(axis=0)  # all-NaN signals stay NaN
    if ok.any():
        out[:, ok] = _smooth_detrended(
            flat[:, ok], int(round(fps / cutoff_hz)), padlen, lambda y: signal.sosfiltfilt(sos, y, axis=0, padtype=None)
        )
    return _restore_nan(out.reshape(arr.shape), mask)


def _one_euro_pass(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float) -> np.ndarray:
    """One causal One Euro pass (Casiez et al. 2012) over (T, D) signals, vectorised across D."""

    def alpha(cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * fps)

    out = np.empty_like(x)
    out[0] = x[0]
    prev = x[0].copy()
    dx_prev = np.zeros_like(x[0])
    a_d = alpha(d_cutoff)
    for t in range(1, x.shape[0]):
        dx = (x[t] - prev) * fps
        dx_hat = a_d * dx + (1.0 - a_d) * dx_prev
        a = alpha(min_cutoff + beta * np.abs(dx_hat))
        prev = a * x[t] + (1.0 - a) * prev
        dx_prev = dx_hat
        out[t] = prev
    return out


def one_euro_forward_backward(
    x: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0
) -> np.ndarray:
    """One Euro filter run forward and backward in time, the two passes averaged.

    The forward pass lags and the backward pass leads by the same amount, so their mean has no lag: with beta = 0
    its impulse response is a symmetric two-sided exponential (exactly zero phase). beta > 0 opens the cut-off with
    speed (units: Hz per unit/s of the signal, e.g. per mm/s), so fast moves stay sharp while holds stay still.
    As in butterworth_zero_phase, a line between the ends is taken out first (speed is measured relative to it).
    A first-order filter: near Nyquist it only attenuates (about 5x at 15 Hz, 50 fps, 4 Hz).
    """
    arr = _check(x, fps, "one_euro_forward_backward")
    for name, value in (("min_cutoff", min_cutoff), ("d_cutoff", d_cutoff)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"one_euro_forward_backward: {name} must be > 0 Hz, got {value!r}")
    if not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"one_euro_forward_backward: beta must be >= 0, got {beta!r}")
    filled, mask = bridge_nan_gaps(arr)
    span = int(round(fps / min_cutoff))

    def both_ways(y: np.ndarray) -> np.ndarray:
        fwd = _one_euro_pass(y, float(fps), min_cutoff, beta, d_cutoff)
        return 0.5 * (fwd + _one_euro_pass(y[::-1], float(fps), min_cutoff, beta, d_cutoff)[::-1])

    out = _smooth_detrended(filled.reshape(arr.shape[0], -1), span, span, both_ways)
    return _restore_nan(out.reshape(arr.shape), mask)


def savitzky_golay(x: np.ndarray, fps: float, window_s: float = 0.2, polyorder: int = 3) -> np.ndarray:
    """Savitzky-Golay smoothing (local polynomial fit, zero phase) with a window given in seconds.

    The window is rounded to an odd number of frames, longer than polyorder and at most the clip length; a clip
    too short for any fit (2 frames) is returned as it is.
    """
    arr = _check(x, fps, "savitzky_golay")
    if not (math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"savitzky_golay: window_s must be > 0 seconds, got {window_s!r}")
    if int(polyorder) < 0:
        raise ValueError(f"savitzky_golay: polyorder must be >= 0, got {polyorder!r}")
    n = arr.shape[0]
    window = int(round(window_s * fps)) | 1  # odd
    window = max(window, int(polyorder) + 1 if int(polyorder) % 2 == 0 else int(polyorder) + 2)
    if window > n:
        window = n if n % 2 == 1 else n - 1
    order = min(int(polyorder), window - 1)
    if window < 3:
        return arr.copy()
    filled, mask = bridge_nan_gaps(arr)
    flat = filled.reshape(n, -1)
    out = np.full_like(flat, np.nan)
    ok = ~np.isnan(flat).any(axis=0)
    if ok.any():
        out[:, ok] = _smooth_detrended(
            flat[:, ok], window, window // 2, lambda y: signal.savgol_filter(y, window, order, axis=0, mode="interp")
        )
    return _restore_nan(out.reshape(arr.shape), mask)
