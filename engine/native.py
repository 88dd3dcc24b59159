"""The C kernels (engine/native/: the selective scan and the deformable conv), loaded with ctypes where they are built.

The library is built for the machine running `python build.py --native` (`make test`/`make bench` run it; build.py
puts it into the extension zip) and sits in engine/native/ as `_native-<platform>-<machine>.so|.dylib|.dll`. Where
it is missing or does not load, `available()` is False and the torch backend and the numpy runtime run their own
code (engine/scan.py, engine/deform_conv.py, engine/numpy_runtime.py). $SASMAMBA_NATIVE=0 turns it off. numpy only
(no torch), so the numpy runtime can use it inside Blender.

    selective_scan_time_major   the scan in a plain (L, b, K, .) layout: the form tests hold to engine/scan.py's loop
    stride_scan                 SasMamba's four scan orders over its (T, J) grid, summed, with no reordered copies
    deform_conv_depthwise       the depthwise deformable conv, channels last
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

NATIVE_DIR = Path(__file__).resolve().parent / "native"


def library_path() -> Path:
    """Where this platform's build lives."""
    ext = {"win32": ".dll", "darwin": ".dylib"}.get(sys.platform, ".so")
    return NATIVE_DIR / f"_native-{sys.platform}-{platform.machine().lower()}{ext}"


class _Library:
    """The loaded library's entry points, typed."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        ptr, size = ctypes.c_void_p, ctypes.c_ssize_t
        self.scan = lib.sasmamba_selective_scan_f32
        self.scan.argtypes = [ptr] * 8 + [ctypes.c_uint] + [size] * 12
        self.scan.restype = ctypes.c_int
        self.deform = lib.sasmamba_deform_conv_f32
        self.deform.argtypes = [ptr] * 5 + [size] * 9
        self.deform.restype = ctypes.c_int
        isa = lib.sasmamba_native_isa
        isa.restype = ctypes.c_char_p
        self.isa = isa().decode()


def _library() -> _Library | None:
    """None: turned off by $SASMAMBA_NATIVE=0, not built, or not loadable here."""
    if os.environ.get("SASMAMBA_NATIVE", "1").strip() == "0":
        return None
    return _load(library_path())


@lru_cache(maxsize=4)
def _load(path: Path) -> _Library | None:
    if not path.is_file():
        return None
    try:
        return _Library(ctypes.CDLL(str(path)))
    except (OSError, AttributeError):
        return None


def available() -> bool:
    """True when the C kernels are built for this platform and load."""
    return _library() is not None


def instruction_set() -> str | None:
    """The build the library runs on this CPU ("avx512", "avx2", "sse2", "neon", "generic"), None if unavailable."""
    lib = _library()
    return None if lib is None else lib.isa


def _required() -> _Library:
    lib = _library()
    if lib is None:
        raise RuntimeError("the C kernels are not built for this platform (see engine/native.py)")
    return lib


def _pointers(arrays) -> ctypes.Array:
    return (ctypes.c_void_p * len(arrays))(*(a.ctypes.data for a in arrays))


def _checked(name: str, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if a.dtype != np.float32 or not a.flags.c_contiguous or a.shape != shape:
        raise ValueError(f"native kernel: {name} must be C-contiguous float32 {shape}, got {a.dtype} {a.shape}")
    return a


def _scan(u: list[np.ndarray], x: list[np.ndarray], y: list[np.ndarray], A: np.ndarray, dt_w: np.ndarray,
          dt_bias: np.ndarray, D: np.ndarray | None, order: list[tuple[int, int, int]], reverse: list[bool], *,
          length: int, batch: int, d: int, strides: tuple[int, ...]) -> None:
    """The C call. u, x, y: per direction, arrays whose first element is that direction's (b 0, position 0);
    strides (u_bs, u_ps, x_bs, x_ps, y_bs, y_ps) in floats. The arrays must outlive the call (they do: the
    caller holds them)."""
    fn = _required().scan
    k, n, _ = A.shape
    rank = dt_w.shape[1]
    _checked("A", A, (k, n, d))
    _checked("dt_w", dt_w, (k, rank, d))
    _checked("dt_bias", dt_bias, (k, d))
    if D is not None:
        _checked("D", D, (k, d))
    orders = np.ascontiguousarray(order, dtype=np.int64).reshape(k, 3)
    mask = sum(1 << i for i, r in enumerate(reverse) if r)
    status = fn(_pointers(u), _pointers(x), _pointers(y), A.ctypes.data, dt_w.ctypes.data, dt_bias.ctypes.data,
                None if D is None else D.ctypes.data, orders.ctypes.data, mask, length, batch, k, d, n, rank,
                *strides)
    if status != 0:
        raise ValueError(f"native scan refused its arguments (status {status}): N = {n}, K = {k}")


def selective_scan_time_major(u: np.ndarray, x: np.ndarray, A: np.ndarray, dt_w: np.ndarray, dt_bias: np.ndarray,
                              D: np.ndarray | None = None) -> np.ndarray:
    """u (L, b, K, d); x (L, b, K, R + 2N) rows (dt_low, B, C); A (K, N, d) <= 0; dt_w (K, R, d); dt_bias, D
    (K, d) -> y (L, b, K, d), with delta = softplus(dt_w . dt_low + dt_bias) (engine/scan.py's semantics, the
    dt projection folded in)."""
    length, b, k, d = u.shape
    n, rank = A.shape[1], dt_w.shape[1]
    _checked("u", u, (length, b, k, d))
    _checked("x", x, (length, b, k, rank + 2 * n))
    y = np.zeros_like(u)
    per_dir = lambda a: [a[0, 0, i] for i in range(k)]  # noqa: E731  (views at direction i's first element)
    _scan(per_dir(u), per_dir(x), per_dir(y), A, dt_w, dt_bias, D, [(length, 0, 1)] * k, [False] * k,
          length=length, batch=b, d=d, strides=(k * d, b * k * d, k * x.shape[-1], b * k * x.shape[-1], k * d,
                                                b * k * d))
    return y


def stride_scan(xa: np.ndarray, xc: np.ndarray, proj_a: np.ndarray, proj_c: np.ndarray, A: np.ndarray,
                dt_w: np.ndarray, dt_bias: np.ndarray, D: np.ndarray | None = None,
                out: np.ndarray | None = None) -> np.ndarray:
    """SasMamba's four-direction scan over its (T, J) grid, summed into (b, T, J, d).

    xa, xc (b, T, J, d): the inputs of the frame-major and the joint-major orders; proj_a, proj_c
    (b, T, J, 2, R + 2N): their projection rows (dt_low, B, C), index 0 for the forward direction, 1 for the
    reversed one. Directions as engine/model.py numbers them: 0 frame-major over xa, 1 joint-major over xc,
    2 and 3 the same orders reversed. A (4, N, d), dt_w (4, R, d), dt_bias and D (4, d). `out`, if given, is
    overwritten (float32 C-contiguous (b, T, J, d))."""
    b, t, j, d = xa.shape
    n, rank = A.shape[1], dt_w.shape[1]
    row = rank + 2 * n
    for name, a, shape in (("xa", xa, (b, t, j, d)), ("xc", xc, (b, t, j, d)), ("proj_a", proj_a, (b, t, j, 2, row)),
                           ("proj_c", proj_c, (b, t, j, 2, row))):
        _checked(name, a, shape)
    if out is None:
        out = np.zeros_like(xa)
    else:
        _checked("out", out, (b, t, j, d))
        out[...] = 0
    frame_major, joint_major = (t * j, 0, 1), (t, 1, j)  # position t J + j of step l = t J + j, or l = j T + t
    flat = lambda a, i: a.reshape(b, t * j, 2, row)[0, 0, i]  # noqa: E731
    _scan([xa, xc, xa, xc], [flat(proj_a, 0), flat(proj_c, 0), flat(proj_a, 1), flat(proj_c, 1)], [out] * 4,
          A, dt_w, dt_bias, D, [frame_major, joint_major, frame_major, joint_major], [False, False, True, True],
          length=t * j, batch=b, d=d, strides=(t * j * d, d, t * j * 2 * row, 2 * row, t * j * d, d))
    return out


def deform_conv_depthwise(x: np.ndarray, offset: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """engine/numpy_runtime.py's `deform_conv_depthwise` in C: x (b, H, W, c) C-contiguous; offset (b, H, W, 2 k*k)
    in torchvision's layout, any strides (a permuted view of a conv's output is fine); weight (c, 1, k, k); bias (c,)
    or None -> (b, H, W, c). Float32 throughout."""
    b, height, width, c = x.shape
    k = weight.shape[-1]
    _checked("x", x, (b, height, width, c))
    _checked("weight", weight, (c, 1, k, k))
    if bias is not None:
        _checked("bias", bias, (c,))
    if offset.dtype != np.float32 or offset.shape != (b, height, width, 2 * k * k) or min(offset.strides) < 0:
        raise ValueError(f"native kernel: offset must be float32 {(b, height, width, 2 * k * k)} with non-negative "
                         f"strides, got {offset.dtype} {offset.shape} {offset.strides}")
    out = np.empty_like(x)
    status = _required().deform(x.ctypes.data, offset.ctypes.data, weight.ctypes.data,
                                None if bias is None else bias.ctypes.data, out.ctypes.data, b, height, width, c, k,
                                *(s // 4 for s in offset.strides))
    if status != 0:
        raise ValueError(f"native kernel refused its arguments (status {status}): k = {k}")
    return out
