"""The C kernels (engine/native/ through engine/native.py) against the reference code, and the lifter's paths with
and without them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_lifter_model import perturbed_model

from engine import native
from engine import numpy_runtime as npr
from engine.deform_conv import deform_conv2d_depthwise
from engine.scan import selective_scan_reference
from engine.weights import state_dict_arrays

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture()
def built(native_library, monkeypatch):
    """The freshly built library in use."""
    monkeypatch.setattr(native, "library_path", lambda: native_library)
    assert native.available()


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
def test_native_scan_equals_reference(built, b, k, d, n, r, length):
    rng = np.random.default_rng(b * 1000 + d)
    inputs = random_scan(rng, b, k, d, n, r, length)
    got = native.selective_scan_time_major(*inputs)
    ref = reference_time_major(*inputs)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    no_skip = native.selective_scan_time_major(*inputs[:5])  # D omitted
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
def test_stride_scan_equals_the_four_directions_written_out(built, b, t, j, d, n, r):
    rng = np.random.default_rng(t * j)
    xa, xc = (rng.standard_normal((b, t, j, d), dtype=np.float32) for _ in range(2))
    proj_a, proj_c = (rng.standard_normal((b, t, j, 2, r + 2 * n), dtype=np.float32) for _ in range(2))
    _, _, A, dt_w, bias, D = random_scan(rng, 1, 4, d, n, r, 1)
    ref = reference_stride_scan(xa, xc, proj_a, proj_c, A, dt_w, bias, D)
    out = np.full_like(xa, np.nan)  # overwritten, not accumulated into
    got = native.stride_scan(xa, xc, proj_a, proj_c, A, dt_w, bias, D, out=out)
    assert got is out
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("b,height,width,c,k", [
    (2, 243, 17, 128, 3),  # sasmamba-s
    (1, 9, 17, 37, 3),  # channels not a multiple of any vector width
    (3, 5, 3, 5, 5),  # a wider kernel than the grid's narrow side
    (1, 4, 4, 16, 1),
])
def test_deform_kernel_equals_numpy_and_torch(built, b, height, width, c, k):
    rng = np.random.default_rng(height * c + k)
    x = rng.standard_normal((b, height, width, c), dtype=np.float32)
    offset_nchw = (rng.standard_normal((b, 2 * k * k, height, width)) * 1.5).astype(np.float32)
    offset = offset_nchw.transpose(0, 2, 3, 1)  # a permuted view, as the torch path hands it over
    weight = rng.standard_normal((c, 1, k, k), dtype=np.float32)
    bias = rng.standard_normal(c, dtype=np.float32)
    ref = npr.deform_conv_depthwise(x, np.ascontiguousarray(offset), weight, bias)
    got = native.deform_conv_depthwise(x, offset, weight, bias)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    by_torch = deform_conv2d_depthwise(torch.from_numpy(x.transpose(0, 3, 1, 2)), torch.from_numpy(offset_nchw),
                                       torch.from_numpy(weight), None).numpy().transpose(0, 2, 3, 1)
    no_bias = native.deform_conv_depthwise(x, offset, weight, None)
    np.testing.assert_allclose(no_bias, by_torch, rtol=1e-5, atol=1e-5 * np.abs(by_torch).max())


def test_deform_kernel_far_and_non_finite_offsets_match_numpy(built):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 6, 5, 8), dtype=np.float32)
    weight = rng.standard_normal((8, 1, 3, 3), dtype=np.float32)
    bias = rng.standard_normal(8, dtype=np.float32)
    offset = np.zeros((1, 6, 5, 18), np.float32)
    offset[0, 0, 0, :] = 1e12  # every tap far outside: the bias alone
    offset[0, 1, 1, 4] = np.nan  # one tap's shift unknown: NaN, as numpy and torch give
    offset[0, 2, 2, 5] = -np.inf
    with np.errstate(invalid="ignore"):  # numpy's own casts of the NaN
        ref = npr.deform_conv_depthwise(x, offset, weight, bias)
    got = native.deform_conv_depthwise(x, offset, weight, bias)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert np.isnan(got[0, 1, 1]).all() and np.isnan(got[0, 2, 2]).all()
    np.testing.assert_allclose(got[0, 0, 0], bias, rtol=1e-6)
    finite = ~np.isnan(ref)
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-5, atol=1e-5 * np.abs(ref[finite]).max())


def test_native_scan_rejects_what_it_cannot_take(built):
    u, x, A, dt_w, bias, D = random_scan(np.random.default_rng(0), 1, 2, 8, 4, 1, 5)
    with pytest.raises(ValueError, match="float32"):
        native.selective_scan_time_major(u.astype(np.float64), x, A, dt_w, bias, D)
    with pytest.raises(ValueError, match="C-contiguous"):
        native.selective_scan_time_major(u, x, A, dt_w, bias, D[:, ::-1])
    big = random_scan(np.random.default_rng(0), 1, 1, 8, 65, 1, 3)
    with pytest.raises(ValueError, match="refused"):
        native.selective_scan_time_major(*big)
    x = np.zeros((1, 4, 4, 8), np.float32)
    with pytest.raises(ValueError, match="offset"):
        native.deform_conv_depthwise(x, np.zeros((1, 4, 4, 9), np.float32), np.zeros((8, 1, 3, 3), np.float32), None)
    with pytest.raises(ValueError, match="refused"):
        native.deform_conv_depthwise(x, np.zeros((1, 4, 4, 162), np.float32), np.zeros((8, 1, 9, 9), np.float32),
                                     None)


def test_without_the_library_nothing_loads(monkeypatch, tmp_path, native_library):
    monkeypatch.setattr(native, "library_path", lambda: tmp_path / native_library.name)
    assert not native.available() and native.instruction_set() is None
    with pytest.raises(RuntimeError, match="not built"):
        native.selective_scan_time_major(*random_scan(np.random.default_rng(0), 1, 1, 4, 2, 1, 3))
    with pytest.raises(RuntimeError, match="not built"):
        native.deform_conv_depthwise(np.zeros((1, 2, 2, 4), np.float32), np.zeros((1, 2, 2, 2), np.float32),
                                     np.zeros((4, 1, 1, 1), np.float32), None)
    monkeypatch.setattr(native, "library_path", lambda: native_library)
    assert native.instruction_set() in {"avx512", "avx2", "sse2", "neon", "generic"}
    monkeypatch.setenv("SASMAMBA_NATIVE", "0")  # the off switch
    assert not native.available()


def test_lifter_paths_agree_with_and_without_the_library(native_library, monkeypatch, tmp_path):
    """The torch inference path and the numpy runtime, each with the compiled scan and with their own loops, and
    the differentiable path: one result."""
    model = perturbed_model("sasmamba-xs")
    x = torch.randn(2, model.cfg.frames, 17, 2, generator=torch.Generator().manual_seed(3)) * 0.4
    net = npr.NumpySasMamba(state_dict_arrays(model), model.cfg.to_dict(), threads=2)
    outputs = {}
    for name, library in (("native", native_library), ("fallback", tmp_path / "absent.so")):
        monkeypatch.setattr(native, "library_path", lambda library=library: library)
        assert native.available() == (name == "native")
        with torch.no_grad():
            outputs["torch " + name] = model(x).numpy()
        outputs["numpy " + name] = net.forward(x.numpy(), batch=1)
    model.set_scan_backend("chunked")
    outputs["differentiable"] = model(x.clone().requires_grad_()).detach().numpy()
    expected = outputs.pop("differentiable")
    for name, got in outputs.items():
        assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max(), name
