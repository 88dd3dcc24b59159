"""Sliding 243-frame windows over clips of any length, blended back into one sequence.

Used by the Lifter and the evaluation alike, so both see the same windowing and flip averaging.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .skeleton import FLIP_PERM

PredictFn = Callable[[np.ndarray], np.ndarray]  # (n, size, 17, 2) -> (n, size, 17, 3)


def window_starts(length: int, size: int, stride: int) -> list[int]:
    """Starts of windows of `size` every `stride` frames, the last flush with the end; [0] for short clips."""
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def blend_weights(size: int, overlap: int) -> np.ndarray:
    """Per-frame weight inside a window: linear ramps over the overlap so windows cross-fade without seams."""
    w = np.ones(size, dtype=np.float64)
    if overlap > 0:
        ramp = (np.arange(1, overlap + 1) / (overlap + 1)).astype(np.float64)
        w[:overlap] = ramp
        w[-overlap:] = ramp[::-1]
    return w


def flip_2d(x: np.ndarray) -> np.ndarray:
    """Mirror normalised 2D joints (x -> -x) and swap left and right."""
    return x[..., FLIP_PERM, :] * np.array([-1.0, 1.0], dtype=x.dtype)


def unflip_3d(y: np.ndarray) -> np.ndarray:
    return y[..., FLIP_PERM, :] * np.array([-1.0, 1.0, 1.0], dtype=y.dtype)


def cut_windows(x: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, list[int]]:
    """(T, J, 2) -> (n, size, J, 2) windows (short clips padded by repeating the edge frames) and their starts."""
    length = x.shape[0]
    if length < size:
        x = np.concatenate([x, np.repeat(x[-1:], size - length, axis=0)], axis=0)
    starts = window_starts(length, size, stride)
    return np.stack([x[s:s + size] for s in starts]), starts


def merge_windows(pred: np.ndarray, starts: list[int], length: int, size: int, stride: int) -> np.ndarray:
    """(n, size, J, 3) window predictions -> (length, J, 3), cross-fading overlaps."""
    if length <= size:
        return pred[0, :length]
    overlap = max(0, size - stride)
    weights = blend_weights(size, overlap)
    total = np.zeros((length,) + pred.shape[2:], dtype=np.float64)
    norm = np.zeros(length, dtype=np.float64)
    for p, s in zip(pred, starts, strict=True):
        w = weights.copy()
        if s == 0:
            w[:overlap] = 1.0  # nothing earlier to fade from
        if s + size == length and overlap:
            w[-overlap:] = 1.0
        total[s:s + size] += p * w[:, None, None]
        norm[s:s + size] += w
    return (total / norm[:, None, None]).astype(np.float32)


def predict_sequences(predict: PredictFn, clips: list[np.ndarray], size: int, stride: int, *, flip: bool = True,
                      batch: int = 64) -> list[np.ndarray]:
    """Predict many clips at once: all their windows (and mirrored copies) go through `predict` in batches."""
    pieces, index = [], []
    for ci, x in enumerate(clips):
        windows, starts = cut_windows(np.asarray(x, dtype=np.float32), size, stride)
        pieces.append(windows)
        index.append((ci, starts, len(windows)))
    windows = np.concatenate(pieces)
    inputs = np.concatenate([windows, flip_2d(windows)]) if flip else windows
    outputs = np.concatenate([predict(inputs[i:i + batch]) for i in range(0, len(inputs), batch)])
    if flip:
        n = len(windows)
        outputs = 0.5 * (outputs[:n] + unflip_3d(outputs[n:]))
    results, offset = [], 0
    for ci, starts, count in index:
        results.append(merge_windows(outputs[offset:offset + count], starts, len(clips[ci]), size, stride))
        offset += count
    return results
