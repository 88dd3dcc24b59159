"""Filters on signals with known spectra: 1 Hz passes, 15 Hz goes, no phase lag; short clips, gaps, any fps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from engine.smoothing import butterworth_zero_phase, one_euro_forward_backward, savitzky_golay

# each filter with settings whose pass band holds 1 Hz and whose stop band holds 15 Hz
FILTERS = {
    "butterworth": lambda x, fps: butterworth_zero_phase(x, fps, cutoff_hz=6.0),
    "one_euro": lambda x, fps: one_euro_forward_backward(x, fps, min_cutoff=4.0, beta=0.0),
    "savitzky_golay": lambda x, fps: savitzky_golay(x, fps, window_s=0.4, polyorder=3),
}
# (least 1 Hz gain, most 15 Hz gain): One Euro is first order, so it only attenuates near Nyquist
BANDS = {"butterworth": (0.97, 0.01), "one_euro": (0.9, 0.25), "savitzky_golay": (0.97, 0.1)}


def _sine(freq: float, fps: float, seconds: float = 6.0, phase: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(seconds * fps)) / fps
    return t, np.sin(2 * np.pi * freq * t + phase)


def _fit_amplitude_phase(t: np.ndarray, y: np.ndarray, freq: float) -> tuple[float, float]:
    """Least-squares amplitude and phase of a sinusoid at `freq` in y."""
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    (a, b), *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(np.hypot(a, b)), float(np.arctan2(b, a))


@pytest.mark.parametrize("name", FILTERS)
@pytest.mark.parametrize("fps", [30.0, 50.0, 120.0])
def test_one_hz_passes_fifteen_hz_removed_zero_phase(name: str, fps: float) -> None:
    t, slow = _sine(1.0, fps)
    _, fast = _sine(15.0, fps, phase=0.3)
    out = FILTERS[name](slow + 0.5 * fast, fps)
    inner = slice(int(fps), -int(fps))  # away from the clip ends
    amp, phase = _fit_amplitude_phase(t[inner], out[inner], 1.0)
    pass_min, stop_max = BANDS[name]
    assert amp > pass_min, f"{name} @ {fps}: 1 Hz amplitude {amp:.3f}"
    assert abs(phase) < 0.01, f"{name} @ {fps}: phase lag {phase:.4f} rad at 1 Hz"
    amp15, _ = _fit_amplitude_phase(t[inner], out[inner], 15.0)
    assert amp15 < 0.5 * stop_max, f"{name} @ {fps}: 15 Hz left at {amp15 / 0.5:.3f} of its amplitude"


def test_white_noise_at_fifteen_hz_band_removed() -> None:
    rng = np.random.default_rng(1)
    fps = 50.0
    noise = rng.standard_normal((2000, 3))
    out = butterworth_zero_phase(noise, fps, cutoff_hz=6.0)
    f, p_in = signal.welch(noise[:, 0], fs=fps, nperseg=256)
    _, p_out = signal.welch(out[:, 0], fs=fps, nperseg=256)
    band = (f > 13) & (f < 17)
    assert p_out[band].mean() < 1e-3 * p_in[band].mean()  # > 30 dB down around 15 Hz


def test_causal_filter_would_lag_but_ours_do_not() -> None:
    """The point of forward-backward: a causal Butterworth delays a 1 Hz sine; ours does not."""
    fps = 50.0
    t, x = _sine(1.0, fps)
    sos = signal.butter(4, 6.0 / (fps / 2), output="sos")
    _, causal_phase = _fit_amplitude_phase(t[50:], signal.sosfilt(sos, x)[50:], 1.0)
    _, ours = _fit_amplitude_phase(t[50:-50], butterworth_zero_phase(x, fps, 6.0)[50:-50], 1.0)
    assert causal_phase < -0.1 and abs(ours) < 0.01


def test_butterworth_matches_scipy_filtfilt_reference() -> None:
    rng = np.random.default_rng(2)
    x = np.cumsum(rng.standard_normal((500, 4)), axis=0)
    b, a = signal.butter(4, 6.0 / 25.0)
    ref = signal.filtfilt(b, a, x, axis=0, padtype="odd", padlen=50)
    ours = butterworth_zero_phase(x, 50.0, 6.0)
    inner = slice(60, -60)  # padding lengths differ a little; the bodies agree
    np.testing.assert_allclose(ours[inner], ref[inner], atol=1e-6 * np.abs(x).max())


def _one_euro_scalar_reference(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float) -> list:
    """Casiez et al.'s One Euro filter, one sample at a time, as the paper writes it."""

    def alpha(cutoff: float) -> float:
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau * fps)

    out, x_prev, dx_prev = [x[0]], x[0], 0.0
    for value in x[1:]:
        dx = (value - x_prev) * fps
        dx_hat = alpha(d_cutoff) * dx + (1 - alpha(d_cutoff)) * dx_prev
        a = alpha(min_cutoff + beta * abs(dx_hat))
        x_prev = a * value + (1 - a) * x_prev
        dx_prev = dx_hat
        out.append(x_prev)
    return out


def test_one_euro_pass_matches_scalar_reference() -> None:
    """The vectorised pass (many signals at once) against the paper's filter run on each signal alone."""
    from engine.smoothing import _one_euro_pass

    rng = np.random.default_rng(3)
    x = np.cumsum(rng.standard_normal((300, 3)), axis=0) * 10
    ours = _one_euro_pass(x, 30.0, 1.0, 0.02, 1.0)
    for d in range(3):
        np.testing.assert_allclose(ours[:, d], _one_euro_scalar_reference(x[:, d], 30.0, 1.0, 0.02, 1.0), rtol=1e-12)


def test_one_euro_beta_keeps_fast_moves_sharp() -> None:
    fps = 50.0
    step = np.r_[np.zeros(50), np.full(50, 1000.0)]  # a 1 m jump, mm
    slow = one_euro_forward_backward(step, fps, min_cutoff=1.0, beta=0.0)
    fast = one_euro_forward_backward(step, fps, min_cutoff=1.0, beta=0.05)
    assert abs(fast[45] - 0) < abs(slow[45] - 0) and abs(fast[55] - 1000) < abs(slow[55] - 1000)


@pytest.mark.parametrize("name", FILTERS)
@pytest.mark.parametrize("frames", [2, 3, 5, 12])
def test_clips_shorter_than_the_padding(name: str, frames: int) -> None:
    x = np.linspace(0, 1, frames)[:, None] * np.array([1.0, -2.0, 3.0]) + 5.0
    out = FILTERS[name](x, 50.0)
    assert out.shape == x.shape and np.isfinite(out).all()
    np.testing.assert_allclose(out, x, atol=1e-9)  # a ramp is left alone


@pytest.mark.parametrize("name", FILTERS)
def test_nan_gaps_are_bridged_and_kept(name: str) -> None:
    fps = 50.0
    t, x = _sine(1.0, fps, seconds=4.0)
    data = np.stack([x, 2 * x], axis=1)
    data[90:100, 0] = np.nan  # a gap in one signal only
    data[:5, 1] = np.nan  # and one at the start of the other
    out = FILTERS[name](data, fps)
    assert np.isnan(out[90:100, 0]).all() and np.isnan(out[:5, 1]).all()
    assert np.isfinite(out[:90, 0]).all() and np.isfinite(out[100:, 0]).all() and np.isfinite(out[5:, 1]).all()
    near = np.r_[60:90, 100:130]
    assert np.abs(out[near, 0] - x[near]).max() < 0.15  # the gap did not smear into its neighbours


@pytest.mark.parametrize("name", FILTERS)
def test_a_noisy_end_sample_does_not_pin_the_ends(name: str) -> None:
    x = np.zeros((200, 1))
    x[0] = x[-1] = 10.0  # one wild sample at each end
    out = FILTERS[name](x, 50.0)
    assert np.abs(out[5:-5]).max() < 1.0 and abs(out[0, 0]) < 6.0


def test_all_nan_signal_stays_nan() -> None:
    x = np.zeros((40, 2))
    x[:, 1] = np.nan
    out = butterworth_zero_phase(x, 30.0, 6.0)
    assert np.isnan(out[:, 1]).all() and np.allclose(out[:, 0], 0.0)


def test_cutoff_above_nyquist_leaves_signal() -> None:
    x = np.random.default_rng(4).standard_normal((20, 3))
    np.testing.assert_array_equal(butterworth_zero_phase(x, 5.0, 6.0), x)  # 5 fps holds nothing above 2.5 Hz


@pytest.mark.parametrize("name", FILTERS)
def test_bad_input_clear_errors(name: str) -> None:
    x = np.zeros((30, 3))
    for fps in (0.0, -25.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="fps"):
            FILTERS[name](x, fps)
    with pytest.raises(ValueError, match="1 frame"):
        FILTERS[name](np.zeros((1, 3)), 30.0)
    with pytest.raises(ValueError, match="infinite"):
        FILTERS[name](np.full((10, 3), np.inf), 30.0)


def test_bad_filter_settings() -> None:
    x = np.zeros((30, 3))
    with pytest.raises(ValueError, match="cutoff"):
        butterworth_zero_phase(x, 30.0, 0.0)
    with pytest.raises(ValueError, match="order"):
        butterworth_zero_phase(x, 30.0, 6.0, order=0)
    with pytest.raises(ValueError, match="min_cutoff"):
        one_euro_forward_backward(x, 30.0, min_cutoff=0.0)
    with pytest.raises(ValueError, match="window_s"):
        savitzky_golay(x, 30.0, window_s=0.0)
