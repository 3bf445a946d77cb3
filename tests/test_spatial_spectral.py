"""Spatial-spectral and depthwise-separable filters against scipy (ndimage, signal) and numpy.polyfit.

Savitzky-Golay on evenly spaced bands is checked against scipy.signal.savgol_filter (every
mode, its 'interp' edge fits included); on unevenly spaced bands against a polynomial
fitted with numpy.polyfit to the true wavelengths of each window. Spatial filters against
scipy.ndimage in float64; normalised convolution against its definition and by the
invariance it promises (values under the nodata mask do not matter).
"""
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as ss
import xarray as xr

import sep3d
from conftest import assert_close, make_volume
from sep3d import kernels
from sep3d.backends import cuda
from sep3d.chunked import ChunkSizeWarning
from sep3d.cube_filters import plan_spatial_spectral

SG_MODES = ("interp", "mirror", "nearest", "wrap", "constant")


def cube(shape=(24, 13, 11), dtype=np.float32, seed=0):
    return make_volume(shape, dtype, seed)


def polyfit_oracle(y, wl, window, polyorder, deriv):
    """Savitzky-Golay by brute force: numpy.polyfit on the nearest `window` bands of each band."""
    n = wl.size
    half = window // 2
    out = np.empty_like(y, dtype=np.float64)
    for i in range(n):
        s = min(max(i - half, 0), n - window)
        x = wl[s:s + window] - wl[i]
        coef = np.polyfit(x, y[s:s + window].reshape(window, -1), polyorder)  # highest power first
        # the deriv-th derivative of sum_p c_p x^p at x = 0 is deriv! * c_deriv
        value = coef[polyorder - deriv] * np.prod(np.arange(1, deriv + 1)) if deriv <= polyorder else 0 * coef[0]
        out[i] = value.reshape(y.shape[1:])
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", SG_MODES)
@pytest.mark.parametrize("window, polyorder, deriv", [(11, 2, 0), (7, 3, 1), (9, 4, 2)])
def test_savgol_matches_scipy_signal(mode, window, polyorder, deriv, dtype):
    x = cube(dtype=dtype)
    wl = 400.0 + 7.5 * np.arange(x.shape[0])
    ref = ss.savgol_filter(x.astype(np.float64), window, polyorder, deriv=deriv, delta=7.5, axis=0, mode=mode)
    got = sep3d.spatial_spectral(x, spectral={"savgol": {"window_length": window, "polyorder": polyorder,
                                                         "deriv": deriv, "mode": mode}}, wavelengths=wl)
    assert got.dtype == dtype
    assert_close(got, ref, dtype)


@pytest.mark.parametrize("deriv", [0, 1, 2])
def test_savgol_on_uneven_bands_fits_the_true_wavelengths(deriv):
    rng = np.random.default_rng(3)
    wl = np.cumsum(rng.uniform(3.0, 15.0, size=30)) + 400.0  # unevenly spaced, like merged sensors
    x = rng.standard_normal((30, 4, 5))
    got = sep3d.spatial_spectral(x, spectral={"savgol": {"window_length": 9, "polyorder": 3, "deriv": deriv}},
                                 wavelengths=wl)
    ref = polyfit_oracle(x, wl, 9, 3, deriv)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_savgol_on_uneven_bands_is_exact_on_polynomials():
    wl = np.array([400, 404, 411, 425, 431, 450, 470, 471, 490, 520, 560, 600.0])
    poly = lambda w: 3e-5 * (w - 450) ** 2 - 0.01 * (w - 450) + 0.3  # noqa: E731
    x = np.broadcast_to(poly(wl)[:, None, None], (12, 2, 3)).copy()
    d1 = sep3d.spatial_spectral(x, spectral={"savgol": {"window_length": 5, "polyorder": 2, "deriv": 1}},
                                wavelengths=wl)
    np.testing.assert_allclose(d1[:, 0, 0], 6e-5 * (wl - 450) - 0.01, atol=1e-12)


def test_spectral_gaussian_on_uneven_bands_is_a_renormalised_weighted_mean():
    wl = np.array([400, 405, 415, 420, 440, 445, 470, 500, 505, 530.0])
    x = np.random.default_rng(1).random((10, 3, 4))
    got = sep3d.spatial_spectral(x, spectral={"gaussian": {"sigma": 12.0}}, wavelengths=wl)
    w = np.exp(-0.5 * ((wl[:, None] - wl[None, :]) / 12.0) ** 2)
    w[np.abs(wl[:, None] - wl[None, :]) > 48.0] = 0
    w /= w.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, np.tensordot(w, x, axes=1), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("mode", ["reflect", "nearest", "wrap"])
def test_spectral_gaussian_on_even_bands_in_wavelength_units_matches_scipy(mode):
    x = cube((20, 6, 7), np.float64)
    wl = 500.0 + 5.0 * np.arange(20)
    got = sep3d.spatial_spectral(x, spectral={"gaussian": {"sigma": 10.0, "order": 1, "mode": mode}}, wavelengths=wl)
    ref = ndi.gaussian_filter1d(x, 2.0, axis=0, order=1, mode=mode) / 5.0
    assert_close(got, ref, np.float64)


@pytest.mark.parametrize("mode", ["reflect", "mirror", "constant"])
def test_spatial_gaussian_times_savgol_matches_scipy(mode):
    x = cube(dtype=np.float32)
    ref = ss.savgol_filter(ndi.gaussian_filter(x.astype(np.float64), (0, 2.0, 1.0), mode=mode), 11, 2, axis=0)
    got = sep3d.spatial_spectral(x, spatial={"gaussian": {"sigma": (60.0, 30.0)}}, spacing=(30.0, 30.0), mode=mode,
                                 spectral={"savgol": {"window_length": 11, "polyorder": 2}})
    assert_close(got, ref, np.float32)


def test_spatial_kinds_match_scipy():
    x = cube(dtype=np.float64)
    box = sep3d.spatial_spectral(x, spatial={"box": {"size": 3}})
    assert_close(box, ndi.uniform_filter(x, (1, 3, 3)), np.float64)
    fd = sep3d.spatial_spectral(x, spatial={"derivative": {"order": (0, 1)}}, spacing=2.0, mode="nearest")
    ref = ndi.correlate1d(x, [-0.5, 0.0, 0.5], axis=2, mode="nearest") / 2.0
    assert_close(fd, ref, np.float64)
    fd2 = sep3d.spatial_spectral(x, spatial={"derivative": {"order": (2, 0)}})
    assert_close(fd2, ndi.correlate1d(x, [1.0, -2.0, 1.0], axis=1), np.float64)
    gd = sep3d.spatial_spectral(x, spatial={"derivative": {"order": (1, 1), "sigma": 1.5}})
    assert_close(gd, ndi.gaussian_filter(x, (0, 1.5, 1.5), order=(0, 1, 1)), np.float64)


@pytest.mark.parametrize("band_axis", [0, 1, -1])
def test_any_band_axis_and_layout(band_axis):
    x = cube((9, 16, 12), np.float32)
    moved = np.moveaxis(x, 0, band_axis)
    for arr in (np.ascontiguousarray(moved), np.asfortranarray(moved)):
        got = sep3d.spatial_spectral(arr, spatial={"gaussian": {"sigma": 1.0}}, band_axis=band_axis,
                                     spectral={"savgol": {"window_length": 5, "polyorder": 2}})
        sigma = [1.0] * 3
        sigma[band_axis] = 0
        ref = ss.savgol_filter(ndi.gaussian_filter(arr.astype(np.float64), sigma), 5, 2, axis=band_axis)
        assert_close(got, ref, np.float32)


def test_integer_input_output_argument_and_input_untouched():
    x = make_volume((12, 9, 10), np.int16)
    before = x.copy()
    out = np.empty(x.shape, np.float64)
    got = sep3d.spatial_spectral(x, spectral={"savgol": {"window_length": 5, "polyorder": 2}}, output=out)
    assert got is out
    np.testing.assert_array_equal(x, before)
    assert_close(out, ss.savgol_filter(x.astype(np.float64), 5, 2, axis=0), np.float64)
    assert sep3d.spatial_spectral(x, spatial={"box": {"size": 3}}).dtype == np.float32


def test_one_plan_one_pass_per_axis_fused_spatially():
    d = sep3d.describe(sep3d.spatial_spectral, (200, 300, 300), spatial={"gaussian": {"sigma": 2.0}},
                       spectral={"savgol": {"window_length": 11, "polyorder": 2}}, file=False)
    assert d.n_passes == 3 and d.n_temps == 0
    assert d.taps_per_axis == {0: [11], 1: [17], 2: [17]}
    assert "[fused x-y]" in d.text and "local fits" in d.text


def test_dask_matches_numpy_even_with_the_band_axis_split():
    x = cube((30, 40, 36), np.float32)
    kw = dict(spatial={"gaussian": {"sigma": 1.5}}, spectral={"savgol": {"window_length": 7, "polyorder": 2}})
    ref = sep3d.spatial_spectral(x, **kw)
    lazy = sep3d.spatial_spectral(da.from_array(x, chunks=(10, 20, 18)), **kw)
    assert isinstance(lazy, da.Array) and lazy.chunks == ((10, 10, 10), (20, 20), (18, 18))
    np.testing.assert_array_equal(lazy.compute(), ref)


def holes_cube(dtype=np.float32):
    x = cube((16, 20, 22), dtype).copy()
    x[:, 6:11, 4:9] = np.nan
    x[3, 15, 15] = np.nan  # one bad band makes the pixel nodata
    return x


def test_nodata_is_normalised_convolution_and_stays_masked():
    x = holes_cube(np.float64)
    invalid = np.isnan(x).any(axis=0)
    got = sep3d.spatial_spectral(x, spatial={"gaussian": {"sigma": 1.5}})
    assert np.isnan(got[:, invalid]).all() and np.isfinite(got[:, ~invalid]).all()
    # the definition, pixel by pixel: weighted mean of the valid neighbours
    r = 6
    t = np.arange(-r, r + 1)
    w1 = np.exp(-0.5 * (t / 1.5) ** 2)
    w2 = np.outer(w1, w1)
    for (py, px) in [(5, 5), (11, 8), (14, 15), (0, 0), (8, 12)]:
        if invalid[py, px]:
            continue
        num = np.zeros(16)
        den = 0.0
        for dy in t:
            for dx in t:
                qy = min(max(py + dy, -py - dy - 1), 2 * 20 - (py + dy) - 1) if not 0 <= py + dy < 20 else py + dy
                qx = min(max(px + dx, -px - dx - 1), 2 * 22 - (px + dx) - 1) if not 0 <= px + dx < 22 else px + dx
                if invalid[qy, qx]:
                    continue
                num += w2[dy + r, dx + r] * x[:, qy, qx]
                den += w2[dy + r, dx + r]
        np.testing.assert_allclose(got[:, py, px], num / den, rtol=1e-10)


def test_nodata_values_do_not_bleed_into_valid_pixels():
    x = holes_cube(np.float32)
    other = np.where(np.isnan(x), 0, x)
    other[:, 6:11, 4:9] = 1e6  # a fill value would bleed if the mask were ignored
    invalid = np.isnan(x).any(axis=0)
    kw = dict(spatial={"gaussian": {"sigma": 2.0}}, spectral={"savgol": {"window_length": 5, "polyorder": 2}})
    a = sep3d.spatial_spectral(x, **kw)
    b = sep3d.spatial_spectral(np.where(invalid[None], np.nan, other), **kw)
    np.testing.assert_array_equal(a, b)
    with pytest.warns(ChunkSizeWarning):  # small chunks for a sigma-2 halo: fine here
        lazy = sep3d.spatial_spectral(da.from_array(x, chunks=(16, 10, 11)), **kw).compute()
    np.testing.assert_allclose(lazy, a, rtol=2e-6, atol=1e-6, equal_nan=True)
    propagate = sep3d.spatial_spectral(x, spatial={"gaussian": {"sigma": 2.0}}, nodata="propagate")
    assert np.isnan(propagate).sum() > np.isnan(a).sum()  # scipy's behaviour: NaN spreads


def test_depthwise_separable_matches_scipy_and_numpy():
    x = cube((12, 15, 14), np.float64)
    m = np.random.default_rng(2).standard_normal((4, 12))
    bias = np.arange(4.0)
    got = sep3d.depthwise_separable(x, spatial={"gaussian": {"sigma": 1.0}}, pointwise=m, bias=bias)
    ref = np.tensordot(m, ndi.gaussian_filter(x, (0, 1, 1)), axes=1) + bias[:, None, None]
    assert got.shape == (4, 15, 14)
    assert_close(got, ref, np.float64)
    last = sep3d.depthwise_separable(np.moveaxis(x, 0, -1), pointwise=m, band_axis=-1)
    assert_close(last, np.moveaxis(np.tensordot(m, x, axes=1), 0, -1), np.float64)
    lazy = sep3d.depthwise_separable(da.from_array(x.astype(np.float32), chunks=(6, 8, 7)), pointwise=m,
                                     spatial={"box": {"size": 3}})
    assert isinstance(lazy, da.Array)
    assert_close(lazy.compute(), np.tensordot(m, ndi.uniform_filter(x, (1, 3, 3)), axes=1), np.float32)


def test_depthwise_cost_is_one_over_c_out_plus_one_over_k_squared():
    d = sep3d.describe(sep3d.depthwise_separable, (64, 32, 32), spatial={"box": {"size": 7}},
                       pointwise=np.zeros((8, 64)), file=False)
    assert d["macs_full"] == 8 * 64 * 49
    assert d["ratio_direct"] == pytest.approx(1 / 8 + 1 / 49)
    assert d["macs_separable"] == 64 * 14 + 64 * 8
    assert "1/C_out + 1/k^2" in d["text"]


def test_xarray_accessor_uses_wavelengths_and_keeps_coordinates():
    x = cube((15, 8, 9), np.float64)
    wl = 450.0 + 4.0 * np.arange(15)
    y = 4600000.0 - 30.0 * np.arange(8)  # north-up rows: y decreases
    arr = xr.DataArray(x, dims=("band", "y", "x"), name="refl", attrs={"units": "1"},
                       coords={"band": np.arange(1, 16), "wavelength": ("band", wl), "y": y,
                               "x": 500000.0 + 30.0 * np.arange(9), "spatial_ref": 0})
    d1 = arr.sep3d.spatial_spectral(spectral={"savgol": {"window_length": 5, "polyorder": 2, "deriv": 1}})
    assert d1.name == "refl" and d1.attrs == {"units": "1"} and "spatial_ref" in d1.coords
    assert_close(d1.values, ss.savgol_filter(x, 5, 2, deriv=1, delta=4.0, axis=0), np.float64)
    dy = arr.sep3d.spatial_spectral(spatial={"derivative": {"order": (1, 0)}}, mode="nearest")
    ref = ndi.correlate1d(x, [-0.5, 0, 0.5], axis=1, mode="nearest") / -30.0  # d/dy with y decreasing
    assert_close(dy.values, ref, np.float64)
    mixed = arr.sep3d.depthwise_separable(xr.DataArray(np.ones((2, 15)), dims=("pc", "band"),
                                                       coords={"pc": ["a", "b"]}), out_dim="pc")
    assert mixed.dims == ("pc", "y", "x") and list(mixed.pc.values) == ["a", "b"]
    assert "wavelength" not in mixed.coords and "spatial_ref" in mixed.coords


def test_y_derivative_sign_agrees_with_xarray_differentiate():
    y = 100.0 - 2.0 * np.arange(12)
    ramp = np.broadcast_to((3.0 * y)[None, :, None], (4, 12, 5)).copy()  # value = 3 * y
    arr = xr.DataArray(ramp, dims=("band", "y", "x"), coords={"y": y})
    dy = arr.sep3d.spatial_spectral(spatial={"derivative": {"order": (1, 0)}}, mode="nearest")
    np.testing.assert_allclose(dy.values[:, 1:-1], arr.differentiate("y").values[:, 1:-1])


def test_varying_operator_through_the_cuda_engine_path_on_numpy():
    """The CUDA engine runs a position-dependent pass as a dense matrix product (array module given)."""
    x = cube((20, 6, 7), np.float32)
    op = kernels.savgol_local(np.cumsum(np.linspace(1, 3, 20)), 7, 2, 1)
    dst = np.full(x.shape, np.nan, np.float32)
    cuda.varying_pass(np, x, dst, 0, op, 0, 2.0)
    ref = 2.0 * np.tensordot(op.matrix(), x.astype(np.float64), axes=(1, 0))  # the operator's own matrix
    assert_close(dst, ref, np.float32)
    assert cuda.fused_spec(plan_spatial_spectral(x.shape, spectral={"savgol": {"window_length": 7, "polyorder": 2}}),
                           x.shape, np.float32).startswith("a position-dependent")


def test_plan_rejects_a_cube_of_another_length():
    plan = plan_spatial_spectral((20, 6, 7), spectral={"savgol": {"window_length": 7, "polyorder": 2}})
    with pytest.raises(ValueError, match="made for length 20"):
        sep3d.backends.execute(plan, np.zeros((21, 6, 7), np.float32), [np.zeros((21, 6, 7), np.float32)],
                               temp_dtype=np.float32, compute_dtype=np.float32)


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "give `spatial`, `spectral` or both"),
    (dict(spatial={"median": {}}), "`spatial` kind must be one of"),
    (dict(spatial={"gaussian": {}}), r"needs \['sigma'\]"),
    (dict(spatial={"gaussian": {"sigma": 1, "size": 3}}), "got unknown"),
    (dict(spatial=3), "`spatial` must be None, a kind name"),
    (dict(spatial={"gaussian": 5}), "arguments of 'gaussian' must be a mapping"),
    (dict(spatial={"gaussian": {"sigma": -1}}), "`spatial sigma` must be finite"),
    (dict(spatial={"gaussian": {"sigma": 1, "method": "iir"}}), "method must be 'fir' or 'recursive'"),
    (dict(spatial={"derivative": {"order": 3}}), "orders must be <= 2"),
    (dict(spatial={"derivative": {"order": (1, -1)}}), "`spatial order` must be a non-negative int"),
    (dict(spatial={"box": {"size": 0}}), "`spatial size` must be finite and > 0"),
    (dict(spectral={"savgol": {"window_length": 10, "polyorder": 2}}), "`window_length` must be an odd"),
    (dict(spectral={"savgol": {"window_length": 5, "polyorder": 5}}), r"`polyorder` must be an int in \[0, window_length\) = \[0, 5\)"),
    (dict(spectral={"savgol": {"window_length": 5, "polyorder": 2, "deriv": -1}}), "`deriv` must be"),
    (dict(spectral={"savgol": {"window_length": 31, "polyorder": 2}}), "must not exceed the number of bands"),
    (dict(spectral={"savgol": {"window_length": 5, "polyorder": 2, "mode": "mirror"}},
          wavelengths=[1, 2, 4, 5, 9, 10, 11, 12, 13, 14, 15, 16]), "mode must be 'interp' on unevenly"),
    (dict(spectral={"savgol": {"window_length": 5, "polyorder": 2, "mode": "edge"}}), "`mode` must be one of"),
    (dict(spectral={"gaussian": {"sigma": 2, "order": 1}}), "order 0 only"),
    (dict(spectral={"gaussian": {"sigma": 0}}), "`spectral sigma` must be finite and > 0"),
    (dict(spectral={"gaussian": {"sigma": 1}}, wavelengths=[1, 2, 3]), "one value per band"),
    (dict(spectral={"gaussian": {"sigma": 1}}, wavelengths=np.arange(12)[::-1]), "strictly increasing"),
    (dict(spatial={"box": {"size": 3}}, band_axis=3), "`band_axis` must be an int"),
    (dict(spatial={"box": {"size": 3}}, nodata="zero"), "`nodata` must be one of"),
    (dict(spatial={"box": {"size": 3}}, spacing=(1, 2, 3)), "`spacing`"),
])
def test_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sep3d.spatial_spectral(np.zeros((12, 5, 6), np.float32), **kwargs)


def test_operator_and_depthwise_errors():
    with pytest.raises(ValueError, match="must be a 2-D array"):
        kernels.VaryingFIR(np.zeros((2, 2, 2)), [0, 0])
    with pytest.raises(ValueError, match="`weights` must be finite"):
        kernels.VaryingFIR([[np.nan]], [0])
    with pytest.raises(ValueError, match="`starts` must be 2 integers"):
        kernels.VaryingFIR(np.ones((2, 1)), [0.0, 1.0])
    with pytest.raises(ValueError, match=r"`starts` must lie in \[0, 1\]"):
        kernels.VaryingFIR(np.ones((2, 1)), [0, 2])
    with pytest.raises(ValueError, match="`delta` must be"):
        kernels.savgol_taps(5, 2, 1, delta=0)
    with pytest.raises(ValueError, match="`wavelengths` must be a 1-D sequence"):
        kernels.savgol_local([[1, 2]], 1, 0)
    with pytest.raises(ValueError, match="`sigma` must be a finite number > 0"):
        kernels.local_gaussian([1.0, 2.0], np.inf)
    x = np.zeros((6, 4, 4))
    with pytest.raises(ValueError, match=r"one column per band \(C_in = 6\)"):
        sep3d.depthwise_separable(x, pointwise=np.ones((2, 5)))
    with pytest.raises(ValueError, match="must be a real 2-D matrix"):
        sep3d.depthwise_separable(x, pointwise=np.ones(6))
    with pytest.raises(ValueError, match="`pointwise` must be finite"):
        sep3d.depthwise_separable(x, pointwise=np.full((1, 6), np.inf))
    with pytest.raises(ValueError, match="`bias` must be 2 finite numbers"):
        sep3d.depthwise_separable(x, pointwise=np.ones((2, 6)), bias=[1.0])
    with pytest.raises(ValueError, match=r"`pointwise` must be \(C_out, C_in = 6\)"):
        sep3d.describe(sep3d.depthwise_separable, x.shape, pointwise=(2, 5), file=False)
    with pytest.raises(ValueError, match="a cube needs a band axis"):
        sep3d.spatial_spectral(np.zeros(5), spectral={"gaussian": {"sigma": 1}})
    arr = xr.DataArray(x, dims=("b", "y", "x"))
    with pytest.raises(ValueError, match="`band_dim` 'band' is not a dimension"):
        arr.sep3d.spatial_spectral(spatial={"box": {"size": 3}})
    with pytest.raises(ValueError, match="`units` must be one of"):
        arr.sep3d.spatial_spectral(spatial={"box": {"size": 3}}, band_dim="b", units="nm")
    with pytest.raises(ValueError, match=r"must have dims \('component', 'b'\)"):
        arr.sep3d.depthwise_separable(xr.DataArray(np.ones((2, 6)), dims=("pc", "b")), band_dim="b")
