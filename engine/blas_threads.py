"""One BLAS thread per caller while the numpy runtime runs its own worker threads.

numpy's bundled OpenBLAS runs every product on one shared pool of threads, taken behind a lock: two Python threads
multiplying at once mostly wait for each other. With one BLAS thread, each product runs in the thread that calls it
and the runtime's workers (engine/numpy_runtime.py) run side by side. The switch is OpenBLAS's own
`openblas_set_num_threads`, looked up in the library numpy ships with (numpy.libs/, numpy/.dylibs/, numpy/.libs/);
a numpy on any other BLAS (MKL, Accelerate, a distribution's build) is left alone. The setting is process-wide, so it
is restored afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _openblas_controls():
    """(set, get) of numpy's bundled OpenBLAS, or None."""
    import numpy

    root = Path(numpy.__file__).resolve().parent
    for path in [*root.parent.glob("numpy.libs/*openblas*"), *root.glob(".dylibs/*openblas*"),
                 *root.glob(".libs/*openblas*")]:
        try:
            lib = ctypes.CDLL(str(path))  # already loaded by numpy: the same handle
        except OSError:
            continue
        for prefix in ("", "scipy_"):
            for suffix in ("64_", ""):
                set_threads = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
                get_threads = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
                if set_threads is not None and get_threads is not None:
                    set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
                    get_threads.argtypes, get_threads.restype = [], ctypes.c_int
                    return set_threads, get_threads
    return None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[bool]:
    """Inside: numpy's OpenBLAS uses one thread (yields True), or nothing changes (yields False)."""
    controls = _openblas_controls()
    if controls is None:
        yield False
        return
    set_threads, get_threads = controls
    previous = get_threads()
    set_threads(1)
    try:
        yield True
    finally:
        set_threads(previous)
