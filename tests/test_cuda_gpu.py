"""The CUDA backend on a real GPU: parity with scipy (float64), the CPU backend and cupyx.

Skipped without CuPy and a CUDA GPU (CI has neither); benchmarks/gpu_check.sh runs them
on a lent GPU machine. Results are poisoned (NaN-filled `output=`) so that an element a
kernel never writes fails.
"""
import numpy as np
import pytest
import scipy.ndimage as ndi

import sep3d
from conftest import MODES, assert_close
from sep3d import filters
from sep3d.backends import cuda

requires_gpu = pytest.mark.skipif(isinstance(cuda._probe(), str), reason=f"needs a CUDA GPU: {cuda._probe()}")
pytestmark = requires_gpu

if not isinstance(cuda._probe(), str):
    import cupy
    import cupyx.scipy.ndimage as cndi


def volume(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def poisoned(shape, dtype):
    return cupy.full(shape, np.nan, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,sigma", [((33, 47, 61), (1.0, 2.0, 1.5)), ((5, 3, 70), (3.0, 2.5, 9.0)),
                                         ((200, 3), (20.0, 1.0))])
def test_gaussian_matches_scipy_cpu_and_cupyx(shape, sigma, mode, dtype):
    x = volume(shape, dtype)
    ref = ndi.gaussian_filter(x.astype(np.float64), sigma, mode=mode)
    out = poisoned(shape, dtype)
    got = sep3d.gaussian(cupy.asarray(x), sigma, mode=mode, output=out)
    assert got is out and isinstance(got, cupy.ndarray)
    assert_close(got.get(), ref, dtype)
    assert_close(got.get(), sep3d.gaussian(x, sigma, mode=mode), dtype)
    assert_close(got.get(), cndi.gaussian_filter(cupy.asarray(x, np.float64), sigma, mode=mode).get(), dtype)


@pytest.mark.parametrize("mode", MODES)
def test_fused_and_per_axis_paths_agree_on_the_gpu(mode):
    x = cupy.asarray(volume((40, 50, 60), np.float32))
    plan = filters.plan_laplacian_of_gaussian(3, 1.5, mode=mode)
    dev = cuda.device()
    a, b = [poisoned(x.shape, np.float32)], [poisoned(x.shape, np.float32)]
    cuda.run_plan(plan, x, a, np.float32, np.float32, dev, fused=True)
    cuda.run_plan(plan, x, b, np.float32, np.float32, dev, fused=False)
    ref = ndi.gaussian_laplace(x.get().astype(np.float64), 1.5, mode=mode)
    assert_close(a[0].get(), ref, np.float32)
    assert_close(b[0].get(), ref, np.float32)


@pytest.mark.parametrize("mode", MODES)
def test_multi_output_filters(mode):
    x = volume((21, 30, 34), np.float64, seed=1)
    xd = cupy.asarray(x)
    assert_close(sep3d.gradient_magnitude(xd, 1.2, mode=mode).get(),
                 sep3d.gradient_magnitude(x, 1.2, mode=mode), np.float64)
    hess = sep3d.hessian(xd, 1.0, mode=mode)
    assert isinstance(hess, cupy.ndarray) and hess.shape == (6,) + x.shape
    assert_close(hess.get(), sep3d.hessian(x, 1.0, mode=mode), np.float64)
    assert_close(sep3d.ndimage.gaussian_laplace(xd, 1.3, mode=mode).get(),
                 ndi.gaussian_laplace(x, 1.3, mode=mode), np.float64)


def test_constant_mode_with_cval_and_integer_outputs():
    x = (volume((17, 19, 23), np.float64, seed=2) * 50).astype(np.int16)
    xd = cupy.asarray(x)
    got = sep3d.ndimage.gaussian_filter(xd, 1.5, mode="constant", cval=7.0)
    assert got.dtype == np.int16
    assert_close(got.get(), ndi.gaussian_filter(x, 1.5, mode="constant", cval=7.0), np.int16)
    got = sep3d.ndimage.uniform_filter(xd, 3)
    assert_close(got.get(), ndi.uniform_filter(x, 3), np.int16)


def test_non_contiguous_and_in_place_device_arrays():
    x = volume((30, 40, 50), np.float32, seed=3)
    xd = cupy.asarray(x)
    view = xd[::2, :, 5:45].transpose(2, 0, 1)
    ref = ndi.gaussian_filter(x[::2, :, 5:45].transpose(2, 0, 1).astype(np.float64), 1.2)
    assert_close(sep3d.gaussian(view, 1.2).get(), ref, np.float32)
    same = xd.copy()
    sep3d.ndimage.gaussian_filter(same, 1.2, output=same)
    assert_close(same.get(), ndi.gaussian_filter(x.astype(np.float64), 1.2), np.float32)


def test_backend_cuda_moves_numpy_arrays_and_backend_cpu_moves_cupy_arrays():
    x = volume((20, 21, 22), np.float32, seed=4)
    host = sep3d.gaussian(x, 1.0, backend="cuda")
    assert isinstance(host, np.ndarray)
    dev = sep3d.gaussian(cupy.asarray(x), 1.0, backend="cpu")
    assert isinstance(dev, cupy.ndarray)
    ref = ndi.gaussian_filter(x.astype(np.float64), 1.0)
    assert_close(host, ref, np.float32)
    assert_close(dev.get(), ref, np.float32)


def test_mixed_numpy_and_cupy_arrays_are_a_type_error():
    with pytest.raises(TypeError, match="`output` must be an array of the input's type"):
        sep3d.gaussian(cupy.zeros((4, 4, 4), np.float32), 1.0, output=np.zeros((4, 4, 4), np.float32))


def test_slabs_on_the_gpu(monkeypatch):
    x = volume((64, 40, 50), np.float32, seed=5)
    dev = cuda.device()
    monkeypatch.setattr(dev, "free_bytes", lambda: 40 * 50 * 4 * 120)
    got = sep3d.laplacian_of_gaussian(x, 1.5, backend="cuda")
    assert_close(got, ndi.gaussian_laplace(x.astype(np.float64), 1.5), np.float32)


def test_a_new_sigma_in_the_same_bucket_compiles_nothing():
    x = cupy.asarray(volume((16, 16, 16), np.float32))
    sep3d.gaussian(x, 1.0)
    before = set(cuda.compile_seconds())
    sep3d.gaussian(x, 1.1)  # same 9-tap bucket
    assert set(cuda.compile_seconds()) == before


@pytest.mark.filterwarnings("ignore::sep3d.chunked.ChunkSizeWarning")
@pytest.mark.parametrize("mode", MODES)
def test_dask_with_cupy_chunks_stays_on_the_device_and_matches_scipy(mode):
    da = pytest.importorskip("dask.array")
    host = volume((33, 40, 29), np.float32)
    lazy = da.from_array(cupy.asarray(host), chunks=(11, 16, 29), asarray=False)
    out = sep3d.laplacian_of_gaussian(lazy, 1.5, mode=mode)
    assert isinstance(out._meta, cupy.ndarray) and out.chunks == lazy.chunks
    result = out.compute()
    assert isinstance(result, cupy.ndarray)
    assert_close(result.get(), ndi.gaussian_laplace(host.astype(np.float64), 1.5, mode=mode), np.float32)


def test_xarray_backed_by_cupy_stays_on_the_device():
    xr = pytest.importorskip("xarray")
    host = volume((20, 24, 16), np.float32)
    arr = xr.DataArray(cupy.asarray(host), dims=("z", "y", "x"), coords={"x": np.arange(16) * 0.5})
    out = arr.sep3d.gaussian({"y": 1.0, "x": 1.0})
    assert isinstance(out.data, cupy.ndarray)
    ref = ndi.gaussian_filter(host.astype(np.float64), (0, 1.0, 2.0))
    assert_close(out.data.get(), ref, np.float32)


@pytest.mark.parametrize("mode", MODES)
def test_recursive_log_on_the_gpu_matches_the_cpu_engine(mode):
    """The IIR kernel on a real GPU against the CPU engine's recursion (and so SimpleITK's filter)."""
    import cupy

    x = np.random.default_rng(5).standard_normal((24, 70, 66)).astype(np.float32)
    kwargs = dict(normalize=True, spacing=(2.5, 0.7, 0.8), mode=mode, method="recursive")
    ref = sep3d.laplacian_of_gaussian(x.astype(np.float64), 2.0, **kwargs)
    got = sep3d.laplacian_of_gaussian(cupy.asarray(x), 2.0, **kwargs)
    assert isinstance(got, cupy.ndarray)
    assert_close(got.get(), ref, np.float32)


@pytest.mark.parametrize("nodata", [False, True])
def test_spatial_spectral_on_the_gpu_matches_scipy(nodata):
    """Savitzky-Golay local fits (the dense-matrix pass) and the fused spatial passes on a GPU."""
    import scipy.signal as ss

    x = np.random.default_rng(6).standard_normal((40, 50, 45)).astype(np.float32)
    if nodata:
        x[:, 10:15, 20:26] = np.nan
    kw = dict(spatial={"gaussian": {"sigma": 1.5}}, spectral={"savgol": {"window_length": 9, "polyorder": 2}})
    got = sep3d.spatial_spectral(cupy.asarray(x), **kw)
    assert isinstance(got, cupy.ndarray)
    cpu = sep3d.spatial_spectral(x, **kw)
    np.testing.assert_array_equal(np.isnan(got.get()), np.isnan(cpu))
    if not nodata:
        ref = ss.savgol_filter(ndi.gaussian_filter(x.astype(np.float64), (0, 1.5, 1.5)), 9, 2, axis=0)
        assert_close(got.get(), ref, np.float32)
    np.testing.assert_allclose(got.get(), cpu, rtol=0, atol=1e-5 * np.nanmax(np.abs(cpu)) + 1e-6)
