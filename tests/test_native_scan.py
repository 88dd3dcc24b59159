"""The compiled selective scan (engine/native/scan.c through engine/native_scan.py) against the reference loop,
and the lifter's paths with and without it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_lifter_model import perturbed_model

from engine import native_scan
from engine import numpy_runtime as npr
from engine.scan import selective_scan_reference
from engine.weights import state_dict_arrays

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture()
def native(native_scan_library, monkeypatch):
    monkeypatch.setattr(native_scan, "library_path", lambda: native_scan_library)
    assert native_scan.available()


def random_scan(rng, b, k, d, n, r, length):
    """u (L, b, K, d); x rows (dt_low, B, C) (L, b, K, R + 2N); A < 0 (K, N, d); dt_w (K, R, d); bias, D (K, d)."""
    u = rng.standard_normal((length, b, k, d), dtype=np.float32)
    x = rng.standard_normal((length, b, k, r + 2 * n), dtype=np.float32)
    A = -rng.uniform(0.05, 8, (k, n, d)).astype(np.float32)
    dt_w = (rng.standard_normal((k, r, d)) * 0.7).astype(np.float32)
    bias = (rng.standard_normal((k, d)) - 1.5).astype(np.float32)
    D = rng.standard_normal((k, d), dtype=np.float32)
    return u, x, A, dt_w, bias, D


def reference_time_major(u, x, A, dt_w, bias, D):
    """engine/scan.py's loop on the same numbers, delta = dt_w . x[..., :R] formed first (float64 products)."""
    length, b, k, d = u.shape
    n, r = A.shape[1], dt_w.shape[1]
    mamba = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(1, 2, 3, 0)))  # noqa: E731  (b, K, ., L)
    delta = np.einsum("lbkr,krd->lbkd", x[..., :r].astype(np.float64), dt_w).astype(np.float32)
    y = selective_scan_reference(mamba(u).reshape(b, k * d, length), mamba(delta).reshape(b, k * d, length),
                                 torch.from_numpy(A.transpose(0, 2, 1).reshape(k * d, n).copy()),
                                 mamba(x[..., r:r + n]), mamba(x[..., r + n:]), torch.from_numpy(D.reshape(-1)),
                                 torch.from_numpy(bias.reshape(-1)), delta_softplus=True)
    return y.numpy().reshape(b, k, d, length).transpose(3, 0, 1, 2)


@pytest.mark.parametrize("b,k,d,n,r,length", [
    (1, 4, 128, 16, 4, 243 * 17),  # sasmamba-s: one direction group of a window, full length
    (2, 4, 37, 16, 2, 97),  # channels not a multiple of any vector width
    (3, 2, 5, 5, 1, 33),  # fewer channels than one vector, odd state count
    (1, 3, 70, 64, 3, 40),  # the largest state count
    (2, 1, 16, 16, 8, 1),  # one step
])
def test_native_scan_equals_reference(native, b, k, d, n, r, length):
    rng = np.random.default_rng(b * 1000 + d)
    inputs = random_scan(rng, b, k, d, n, r, length)
    got = native_scan.selective_scan_time_major(*inputs)
    ref = reference_time_major(*inputs)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    no_skip = native_scan.selective_scan_time_major(*inputs[:5])  # D omitted
    np.testing.assert_allclose(no_skip, ref - inputs[5] * inputs[0], rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def reference_stride_scan(xa, xc, proj_a, proj_c, A, dt_w, bias, D):
    """SasMamba's four directions written out: reordered and flipped copies through the reference, summed back."""
    b, t, j, d = xa.shape
    frame_major = xa.transpose(1, 2, 0, 3).reshape(t * j, b, d)
    joint_major = xc.transpose(2, 1, 0, 3).reshape(j * t, b, d)
    rows_a = proj_a.transpose(1, 2, 0, 3, 4).reshape(t * j, b, 2, -1)
    rows_c = proj_c.transpose(2, 1, 0, 3, 4).reshape(j * t, b, 2, -1)
    u = np.stack([frame_major, joint_major, frame_major[::-1], joint_major[::-1]], axis=2)
    x = np.stack([rows_a[:, :, 0], rows_c[:, :, 0], rows_a[::-1, :, 1], rows_c[::-1, :, 1]], axis=2)
    y = reference_time_major(u, np.ascontiguousarray(x), A, dt_w, bias, D)
    by_frame = (y[:, :, 0] + y[::-1, :, 2]).reshape(t, j, b, d).transpose(2, 0, 1, 3)
    by_joint = (y[:, :, 1] + y[::-1, :, 3]).reshape(j, t, b, d).transpose(2, 1, 0, 3)
    return by_frame + by_joint


@pytest.mark.parametrize("b,t,j,d,n,r", [(2, 27, 17, 128, 16, 4), (1, 9, 17, 32, 16, 1), (3, 5, 3, 20, 7, 2)])
def test_stride_scan_equals_the_four_directions_written_out(native, b, t, j, d, n, r):
    rng = np.random.default_rng(t * j)
    xa, xc = (rng.standard_normal((b, t, j, d), dtype=np.float32) for _ in range(2))
    proj_a, proj_c = (rng.standard_normal((b, t, j, 2, r + 2 * n), dtype=np.float32) for _ in range(2))
    _, _, A, dt_w, bias, D = random_scan(rng, 1, 4, d, n, r, 1)
    ref = reference_stride_scan(xa, xc, proj_a, proj_c, A, dt_w, bias, D)
    out = np.full_like(xa, np.nan)  # overwritten, not accumulated into
    got = native_scan.stride_scan(xa, xc, proj_a, proj_c, A, dt_w, bias, D, out=out)
    assert got is out
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_native_scan_rejects_what_it_cannot_take(native):
    u, x, A, dt_w, bias, D = random_scan(np.random.default_rng(0), 1, 2, 8, 4, 1, 5)
    with pytest.raises(ValueError, match="float32"):
        native_scan.selective_scan_time_major(u.astype(np.float64), x, A, dt_w, bias, D)
    with pytest.raises(ValueError, match="C-contiguous"):
        native_scan.selective_scan_time_major(u, x, A, dt_w, bias, D[:, ::-1])
    big = random_scan(np.random.default_rng(0), 1, 1, 8, 65, 1, 3)
    with pytest.raises(ValueError, match="refused"):
        native_scan.selective_scan_time_major(*big)


def test_without_the_library_nothing_loads(monkeypatch, tmp_path, native_scan_library):
    monkeypatch.setattr(native_scan, "library_path", lambda: tmp_path / native_scan_library.name)
    assert not native_scan.available() and native_scan.instruction_set() is None
    with pytest.raises(RuntimeError, match="not built"):
        native_scan.selective_scan_time_major(*random_scan(np.random.default_rng(0), 1, 1, 4, 2, 1, 3))
    monkeypatch.setattr(native_scan, "library_path", lambda: native_scan_library)
    assert native_scan.instruction_set() in {"avx512", "avx2", "sse2", "neon", "generic"}
    monkeypatch.setenv("SASMAMBA_NATIVE_SCAN", "0")  # the off switch
    assert not native_scan.available()


def test_lifter_paths_agree_with_and_without_the_library(native_scan_library, monkeypatch, tmp_path):
    """The torch inference path and the numpy runtime, each with the compiled scan and with their own loops, and
    the differentiable path: one result."""
    model = perturbed_model("sasmamba-xs")
    x = torch.randn(2, model.cfg.frames, 17, 2, generator=torch.Generator().manual_seed(3)) * 0.4
    net = npr.NumpySasMamba(state_dict_arrays(model), model.cfg.to_dict(), threads=2)
    outputs = {}
    for name, library in (("native", native_scan_library), ("fallback", tmp_path / "absent.so")):
        monkeypatch.setattr(native_scan, "library_path", lambda library=library: library)
        assert native_scan.available() == (name == "native")
        with torch.no_grad():
            outputs["torch " + name] = model(x).numpy()
        outputs["numpy " + name] = net.forward(x.numpy(), batch=1)
    model.set_scan_backend("chunked")
    outputs["differentiable"] = model(x.clone().requires_grad_()).detach().numpy()
    expected = outputs.pop("differentiable")
    for name, got in outputs.items():
        assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max(), name
