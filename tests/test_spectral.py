"""sep3d.spectral against Spectral Python (the oracle: band-last NumPy, in memory) and NumPy.

Spectral Python's arrays are ``(rows, cols, bands)``: ``np.moveaxis(cube.values, 0, -1)``.
Its functions raise on NaN, so comparisons on cubes with nodata use the valid pixels only.
None of the Spectral Python calls used here warns (checked: warnings are errors here).
"""
import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from conftest import assert_close
from sep3d import spectral as sp
from sep3d.datasets import synthetic_cube

import spectral  # noqa: E402  (the test extra: Spectral Python is the oracle)

SHAPE = (48, 32, 40)             # band, y, x: small, the whole module runs in seconds
CHUNKS = {"y": 7, "x": 9}        # odd chunks, smaller edge chunks


def band_last(cube):
    return np.moveaxis(np.asarray(cube), 0, -1)


def valid_mask(cube):
    return np.isfinite(np.asarray(cube)).all(axis=0)


def conditioned_cube(shape=(40, 24, 36), seed=0, dtype=np.float64):
    """A cube whose covariance eigenvalues are well apart (x 1/1.21 each): every eigenvector
    is well defined, so all components can be compared, not only the leading ones."""
    rng = np.random.default_rng(seed)
    b, ny, nx = shape
    q, _ = np.linalg.qr(rng.normal(size=(b, b)))
    z = rng.normal(size=(b, ny * nx)) * (1.1 ** -np.arange(b))[:, None]
    return ((q @ z).reshape(shape) + np.linspace(0.2, 0.6, b)[:, None, None]).astype(dtype)


def real_oracle(values):
    """Spectral Python's result as real numbers. With NumPy >= 2.5 its eigen-decompositions
    (np.linalg.eig) come back complex with zero imaginary parts; a non-zero one fails."""
    values = np.asarray(values)
    if np.iscomplexobj(values):
        assert not np.any(np.imag(values)), "Spectral Python returned a truly complex result"
        values = np.real(values)
    return values


def signs_between(ours, ref):
    """Per-column sign that maps `ours` onto `ref` (eigenvector signs are arbitrary)."""
    s = np.sign(np.sum(ours * ref, axis=0))
    assert np.all(s != 0)
    return s


def check_spatial_output(result, cube, dims, dtype):
    """The output contract of a DataArray result: type, dims, dtype, spatial coords and CRS."""
    assert isinstance(result, xr.DataArray)
    assert result.dims == dims
    assert result.dtype == dtype
    for d in ("y", "x"):
        np.testing.assert_array_equal(result[d].values, cube[d].values)
    # CRS and GeoTransform live on spatial_ref (rio.transform() itself warns with this affine)
    xr.testing.assert_identical(result.coords["spatial_ref"], cube.coords["spatial_ref"])
    assert result.rio.crs == cube.rio.crs


@pytest.fixture(scope="module")
def scene():
    """synthetic_cube with its nodata disc (NaN in all bands)."""
    return synthetic_cube(SHAPE, seed=3)


@pytest.fixture(scope="module")
def clean():
    """synthetic_cube without nodata (Spectral Python takes no NaN)."""
    return synthetic_cube(SHAPE, seed=4, nodata=False, noise=0.01)


# ---------------------------------------------------------------------------------------
# PCA


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pca_matches_spectral_python(dtype):
    cube = conditioned_cube(dtype=dtype)
    before = cube.copy()
    img = band_last(cube)
    pc = spectral.principal_components(img)
    result = sp.pca(cube)
    ref_values, ref_vectors = np.real(pc.eigenvalues), np.real(pc.eigenvectors)
    np.testing.assert_allclose(result.eigenvalues, ref_values, rtol=1e-9)
    signs = signs_between(result.eigenvectors, ref_vectors)
    np.testing.assert_allclose(result.eigenvectors * signs, ref_vectors, atol=1e-9)
    # Spectral Python's mean_cov reshapes `image`, not its float64 copy: for float32 input
    # its mean is a float32 average (its covariance goes through np.cov, in float64)
    np.testing.assert_allclose(result.mean, pc.mean, rtol=1e-12 if dtype == np.float64 else 1e-6)
    np.testing.assert_allclose(result.cov, pc.cov, rtol=1e-10, atol=1e-14)
    assert result.n_pixels == pc.stats.nsamples
    k = 10
    ref = real_oracle(pc.reduce(num=k).transform(img))
    scores = result.transform(cube, k)
    assert isinstance(scores, np.ndarray) and scores.shape == (k,) + cube.shape[1:]
    assert scores.dtype == dtype
    got = np.moveaxis(scores, 0, -1) * signs[:k]
    if dtype == np.float64:
        np.testing.assert_allclose(got, ref, atol=1e-9 * np.abs(ref).max())
    else:
        assert_close(got, ref, dtype=np.float32)
    np.testing.assert_array_equal(cube, before)


def test_pca_leaves_nodata_out_and_matches_spectral_on_valid_pixels(scene):
    cube, _ = scene
    before = cube.values.copy()
    valid = valid_mask(cube)
    assert (~valid).any()
    pixels = band_last(cube.values)[valid]                  # (n, band): Spectral takes 2-D too
    pc = spectral.principal_components(pixels)
    result = sp.pca(cube)
    assert result.n_pixels == valid.sum() == pc.stats.nsamples
    np.testing.assert_allclose(result.eigenvalues, np.real(pc.eigenvalues), rtol=1e-8,
                               atol=1e-12 * result.eigenvalues[0])
    k = 3                                                   # three endmembers: well-separated ones
    signs = signs_between(result.eigenvectors[:, :k], np.real(pc.eigenvectors[:, :k]))
    np.testing.assert_allclose(result.eigenvectors[:, :k] * signs, np.real(pc.eigenvectors[:, :k]), atol=1e-8)
    scores = result.transform(cube, k)
    check_spatial_output(scores, cube, ("component", "y", "x"), np.float32)
    np.testing.assert_array_equal(scores.component.values, np.arange(k))
    assert np.isnan(scores.values[:, ~valid]).all() and np.isfinite(scores.values[:, valid]).all()
    ref = real_oracle(pc.reduce(num=k).transform(pixels)) * signs
    assert_close(scores.values[:, valid].T, ref, dtype=np.float32)
    np.testing.assert_array_equal(cube.values, before)


def test_pca_streaming_over_small_chunks_equals_in_memory(scene):
    cube, _ = scene
    whole = sp.pca(cube)
    streamed = sp.pca(cube.chunk({"y": 4, "x": 5}))             # 80 chunks, merged in a tree
    np.testing.assert_allclose(streamed.cov, whole.cov, rtol=1e-10, atol=1e-16)
    np.testing.assert_allclose(streamed.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(streamed.eigenvalues, whole.eigenvalues, rtol=1e-8,
                               atol=1e-12 * whole.eigenvalues[0])
    assert streamed.n_pixels == whole.n_pixels


def test_pca_on_dask_is_one_pass_and_transform_is_lazy(scene):
    cube, _ = scene
    lazy = cube.chunk(CHUNKS)
    result = sp.pca(lazy, n_components=4)
    assert result.n_components == 4 and result.eigenvectors.shape == (SHAPE[0], 4)
    scores = result.transform(lazy)
    assert isinstance(scores.data, da.Array)
    assert scores.data.chunks[1:] == lazy.data.chunks[1:]
    ref = sp.pca(cube, n_components=4).transform(cube)
    assert_close(scores.values, ref.values, dtype=np.float32)


def test_pca_stats_read_each_chunk_once(scene):
    cube, _ = scene
    reads = []

    def counting(block):
        reads.append(block.shape)
        return block

    lazy = cube.chunk(CHUNKS).data.map_blocks(counting, dtype=np.float32)
    reads.clear()                                               # map_blocks' meta probe
    with dask.config.set(scheduler="sync"):
        sp.mnf(lazy)                                            # signal and noise statistics together
    nchunks = len(lazy.chunks[1]) * len(lazy.chunks[2])
    assert len(reads) == nchunks


def test_pca_inverse_transform_with_all_components_reconstructs(scene):
    cube, _ = scene
    result = sp.pca(cube.astype(np.float64))
    back = result.inverse_transform(result.transform(cube.astype(np.float64)))
    assert back.dims == ("band", "y", "x")
    np.testing.assert_array_equal(back.wavelength.values, cube.wavelength.values)
    np.testing.assert_array_equal(back.band.values, cube.band.values)
    assert back.rio.crs == cube.rio.crs
    np.testing.assert_array_equal(np.isnan(back.values), np.isnan(cube.values))
    np.testing.assert_allclose(back.values, cube.values, atol=1e-12)


def test_pca_inverse_transform_of_a_component_subset(scene):
    cube, _ = scene
    result = sp.pca(cube.astype(np.float64))
    scores = result.transform(cube.astype(np.float64))
    some = scores.isel(component=[0, 2])
    back = result.inverse_transform(some)
    v = result.eigenvectors[:, [0, 2]]
    ref = np.einsum("bk,kyx->byx", v, some.values) + result.mean[:, None, None]
    np.testing.assert_allclose(back.values, ref, atol=1e-12)


def test_pca_denoise_matches_spectral_python():
    cube = conditioned_cube()
    img = band_last(cube)
    ref = real_oracle(spectral.principal_components(img).denoise(img, num=5))
    got = sp.pca(cube).denoise(cube, 5)
    np.testing.assert_allclose(band_last(got), ref, atol=1e-9)


def test_pca_band_last_numpy_layout():
    cube = conditioned_cube(dtype=np.float32)
    img = np.ascontiguousarray(band_last(cube))             # Spectral Python's own layout
    first = sp.pca(cube)
    last = sp.pca(img, band_axis=-1)
    np.testing.assert_allclose(last.cov, first.cov, rtol=1e-10, atol=1e-14)
    scores = last.transform(img, 3, band_axis=-1)
    assert scores.shape == img.shape[:2] + (3,)
    assert_close(scores, np.moveaxis(first.transform(cube, 3), 0, -1), dtype=np.float32)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.bool_])
def test_pca_of_integer_cubes_is_computed_in_float64(dtype):
    rng = np.random.default_rng(1)
    cube = (rng.integers(0, 2 if dtype == np.bool_ else 200, size=(6, 10, 12))).astype(dtype)
    ref = np.cov(cube.reshape(6, -1).astype(np.float64))
    result = sp.pca(cube)
    np.testing.assert_allclose(result.cov, ref, rtol=1e-12, atol=1e-14)
    scores = result.transform(cube)
    assert scores.dtype == np.float32                             # sep3d's rule: non-float64 -> float32
    np.testing.assert_allclose(result.inverse_transform(scores), cube, atol=1e-3)


def test_pca_explained_variance_and_repr(scene):
    result = sp.pca(scene[0])
    np.testing.assert_allclose(result.explained_variance_ratio.sum(), 1.0)
    assert repr(result).startswith("PCAResult(n_components=48, nbands=48, n_pixels=")


# ---------------------------------------------------------------------------------------
# MNF


def test_mnf_matches_spectral_python(clean):
    cube, _ = clean
    img = band_last(cube.values)
    ref = spectral.mnf(spectral.calc_stats(img), spectral.noise_from_diffs(img, direction="right"))
    result = sp.mnf(cube)                                       # default noise: 'right' differences
    np.testing.assert_allclose(result.eigenvalues, np.real(ref.napc.eigenvalues), rtol=1e-8)
    np.testing.assert_allclose(result.snr, result.eigenvalues - 1)
    k = 3
    reduced = real_oracle(ref.reduce(img, num=k))
    scores = result.transform(cube, k)
    check_spatial_output(scores, cube, ("component", "y", "x"), np.float32)
    got = band_last(scores.values)
    signs = signs_between(got.reshape(-1, k), reduced.reshape(-1, k))
    assert_close(got * signs, reduced, dtype=np.float32)
    denoised = result.denoise(cube, k)
    assert denoised.dims == cube.dims and denoised.name == cube.name
    assert_close(band_last(denoised.values), real_oracle(ref.denoise(img, num=k)), dtype=np.float32)
    # the projections are noise-whitening: W^T N W = I, W^T S W = diag(eigenvalues)
    w = result.eigenvectors
    np.testing.assert_allclose(w.T @ result.noise_cov @ w, np.eye(w.shape[1]), atol=1e-8)
    np.testing.assert_allclose(w.T @ result.cov @ w, np.diag(result.eigenvalues), atol=1e-8 * result.eigenvalues[0])


@pytest.mark.parametrize("direction", sp.NOISE_DIRECTIONS)
@pytest.mark.parametrize("chunked", [False, True])
def test_mnf_noise_is_spectral_python_noise_from_diffs(clean, direction, chunked):
    # float64: Spectral Python takes the differences in the input dtype, sep3d in float64
    # (on float32 input the two differ by float32 rounding of the differences, ~1e-7)
    cube = clean[0].astype(np.float64)
    img = band_last(cube.values)
    ref = spectral.noise_from_diffs(img, direction=direction)
    result = sp.mnf(cube.chunk(CHUNKS) if chunked else cube, noise=direction)
    np.testing.assert_allclose(result.noise_cov, ref.cov, rtol=1e-9, atol=1e-16)
    assert result.n_noise_samples == ref.nsamples
    if direction == "lowerright":                               # Spectral Python's default
        default = spectral.mnf(spectral.calc_stats(img), spectral.noise_from_diffs(img))
        np.testing.assert_allclose(result.eigenvalues, np.real(default.napc.eigenvalues), rtol=1e-8)


def test_mnf_noise_leaves_out_pairs_with_nodata(scene):
    cube, _ = scene
    x = band_last(cube.values).astype(np.float64)
    delta = (x[:, :-1] - x[:, 1:]).reshape(-1, x.shape[-1])
    delta = delta[np.isfinite(delta).all(axis=1)]
    result = sp.mnf(cube)
    np.testing.assert_allclose(result.noise_cov, np.cov(delta.T) / 2, rtol=1e-9, atol=1e-16)
    assert result.n_noise_samples == len(delta)
    assert result.n_pixels == valid_mask(cube).sum()


def test_mnf_dask_equals_numpy_and_inverse_reconstructs(scene):
    cube, _ = scene
    c64 = cube.astype(np.float64)
    whole = sp.mnf(c64)
    lazy = sp.mnf(c64.chunk(CHUNKS))
    np.testing.assert_allclose(lazy.eigenvalues, whole.eigenvalues, rtol=1e-8)
    np.testing.assert_allclose(lazy.noise_cov, whole.noise_cov, rtol=1e-9, atol=1e-18)
    scores = lazy.transform(c64.chunk(CHUNKS))
    assert isinstance(scores.data, da.Array)
    back = lazy.inverse_transform(scores)
    assert isinstance(back.data, da.Array)
    np.testing.assert_allclose(back.values, c64.values, atol=1e-10)


def test_mnf_with_given_noise_covariance_and_noise_region(clean):
    cube = clean[0].astype(np.float64)
    region = cube.isel(y=slice(0, 16))
    from_region = sp.mnf(cube, noise=region)
    img = band_last(region.values)
    np.testing.assert_allclose(from_region.noise_cov, spectral.noise_from_diffs(img, "right").cov, rtol=1e-9)
    given = sp.mnf(cube, noise=from_region.noise_cov)
    np.testing.assert_allclose(given.eigenvalues, from_region.eigenvalues, rtol=1e-10)
    assert given.n_noise_samples == 0


# ---------------------------------------------------------------------------------------
# SAM


def test_sam_matches_spectral_python(scene):
    cube, truth = scene
    valid = valid_mask(cube)
    members = truth["endmembers"]
    angles = sp.sam(cube, members)
    check_spatial_output(angles, cube, ("endmember", "y", "x"), np.float32)
    assert list(angles.endmember.values) == ["vegetation", "soil", "water"]
    assert angles.attrs["units"] == "rad"
    ref = spectral.spectral_angles(band_last(cube.values)[valid][None], members.values)[0]
    assert_close(angles.values[:, valid].T, ref, dtype=np.float32)
    assert np.isnan(angles.values[:, ~valid]).all()


def test_sam_classify_is_argmin_and_recovers_the_truth(scene):
    cube, truth = scene
    valid = valid_mask(cube)
    classes = sp.sam_classify(cube, truth["endmembers"])
    check_spatial_output(classes, cube, ("y", "x"), np.int32)
    ref = np.argmin(spectral.spectral_angles(band_last(cube.values)[valid][None], truth["endmembers"].values)[0],
                    axis=-1)
    np.testing.assert_array_equal(classes.values[valid], ref)
    assert (classes.values[~valid] == -1).all()
    agree = (classes.values + 1 == truth["labels"].values)[valid].mean()
    assert agree > 0.6, agree          # mixed pixels: the smallest angle is often, not always, the dominant one
    assert classes.attrs["flag_meanings"] == "nodata vegetation soil water"
    strict = sp.sam_classify(cube, truth["endmembers"], max_angle=0.05)
    best = sp.sam(cube, truth["endmembers"]).min("endmember").values
    np.testing.assert_array_equal(strict.values == -1, ~valid | (best > 0.05))


def test_sam_on_numpy_and_dask_with_names(scene):
    cube, truth = scene
    lib = truth["endmembers"].values
    ref = sp.sam(cube.values, lib)
    assert isinstance(ref, np.ndarray) and ref.shape == (3,) + SHAPE[1:]
    lazy = sp.sam(cube.chunk(CHUNKS), lib, names=["a", "b", "c"])
    assert isinstance(lazy.data, da.Array) and list(lazy.endmember.values) == ["a", "b", "c"]
    assert_close(lazy.values, ref, dtype=np.float32)
    lazy_classes = sp.sam_classify(da.from_array(cube.values, chunks=(-1, 7, 9)), lib)
    np.testing.assert_array_equal(lazy_classes.compute(), sp.sam_classify(cube.values, lib))


def test_sam_zero_spectrum_and_one_endmember():
    cube = np.zeros((3, 2, 2))
    cube[:, 0, 0] = [1, 1, 0]
    angles = sp.sam(cube, [1.0, 0.0, 0.0])
    assert angles.shape == (1, 2, 2)
    np.testing.assert_allclose(angles[0, 0, 0], np.pi / 4)
    assert np.isnan(angles[0].ravel()[1:]).all()


# ---------------------------------------------------------------------------------------
# Continuum removal


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_continuum_removed_matches_spectral_python(clean, dtype):
    cube, _ = clean
    cube = cube.astype(dtype)
    wl = cube.wavelength.values
    ref = spectral.remove_continuum(band_last(cube.values).astype(np.float64), wl)
    got = sp.continuum_removed(cube)
    check_spatial_output(got, cube, ("band", "y", "x"), dtype)
    np.testing.assert_array_equal(got.wavelength.values, wl)
    assert "units" not in got.attrs
    if dtype == np.float64:
        np.testing.assert_allclose(band_last(got.values), ref, rtol=1e-12)
    else:
        assert_close(band_last(got.values), ref, dtype=np.float32)
    hull = sp.continuum(cube)
    ref_hull = spectral.spectral_continuum(band_last(cube.values).astype(np.float64), wl)
    np.testing.assert_allclose(band_last(hull.values), ref_hull, rtol=1e-6 if dtype == np.float32 else 1e-12)
    assert hull.attrs["units"] == cube.attrs["units"]


def test_continuum_removed_random_spectra_uneven_and_descending_wavelengths():
    rng = np.random.default_rng(5)
    wl = np.sort(rng.uniform(400, 2500, 50))
    cube = rng.random((50, 6, 7))
    ref = spectral.remove_continuum(band_last(cube), wl)
    got = sp.continuum_removed(cube, wavelength=wl)
    np.testing.assert_allclose(band_last(got), ref, rtol=1e-12)
    assert np.all(got <= 1 + 1e-12) and np.isclose(got.max(axis=0), 1).all()
    reverse = sp.continuum_removed(cube[::-1], wavelength=wl[::-1])
    np.testing.assert_allclose(reverse[::-1], got, rtol=1e-12)


def test_continuum_removed_nodata_dask_and_band_last(scene):
    cube, _ = scene
    valid = valid_mask(cube)
    whole = sp.continuum_removed(cube)
    assert np.isnan(whole.values[:, ~valid]).all() and np.isfinite(whole.values[:, valid]).all()
    lazy = sp.continuum_removed(cube.chunk(CHUNKS))
    assert isinstance(lazy.data, da.Array)
    np.testing.assert_array_equal(lazy.values, whole.values)
    img = np.ascontiguousarray(band_last(cube.values))
    last = sp.continuum_removed(img, wavelength=cube.wavelength.values, band_axis=-1)
    np.testing.assert_array_equal(last, band_last(whole.values))


# ---------------------------------------------------------------------------------------
# Indices


def nearest(wl, nm):
    return int(np.argmin(np.abs(wl - nm)))


def test_ndvi_matches_spectral_python_with_the_nearest_bands():
    cube, _ = synthetic_cube((60, 16, 20), wavelengths=np.linspace(400, 1000, 60), seed=2, nodata=False)
    wl = cube.wavelength.values
    red, nir = nearest(wl, 665), nearest(wl, 842)
    ref = spectral.ndvi(band_last(cube.values), red, nir)
    got = sp.index(cube, "NDVI")
    check_spatial_output(got, cube, ("y", "x"), np.float32)
    assert got.name == "NDVI" and got.attrs["formula"] == "(nir - red) / (nir + red)"
    assert f"band {nir}" in got.attrs["bands"] and f"band {red}" in got.attrs["bands"]
    assert_close(got.values, ref, dtype=np.float32)
    same = sp.index(cube, "ndvi")                               # any case
    np.testing.assert_array_equal(same.values, got.values)


@pytest.mark.parametrize("name, a, b", [("NDWI", 560, 842), ("NDRE", 790, 720)])
def test_builtin_indices(scene, name, a, b):
    cube, _ = scene
    wl = cube.wavelength.values
    x = cube.values.astype(np.float64)
    p, q = x[nearest(wl, a)], x[nearest(wl, b)]
    got = sp.index(cube, name)
    assert got.name == name
    assert_close(got.values, (p - q) / (p + q), dtype=np.float32)
    assert np.isnan(got.values[~valid_mask(cube)]).all()


def test_index_formula_with_ranges_and_linear_interpolation(scene):
    cube, _ = scene
    wl = cube.wavelength.values
    x = cube.values.astype(np.float64)
    inside = (wl >= 600) & (wl <= 700)
    r = x[inside].mean(axis=0)
    n = x[nearest(wl, 842)]
    got = sp.index(cube, "(n - r) / (n + r)", bands={"n": 842, "r": (600, 700)})
    assert got.name == "(n - r) / (n + r)"
    assert_close(got.values, (n - r) / (n + r), dtype=np.float32)
    k = int(np.searchsorted(wl, 1000.0))
    w = (1000.0 - wl[k - 1]) / (wl[k] - wl[k - 1])
    lin = sp.index(cube.astype(np.float64), "sqrt(abs(-a)) * 2 + log(exp(a)) ** 1", bands={"a": 1000.0},
                   method="linear")
    a = (1 - w) * x[k - 1] + w * x[k]
    np.testing.assert_allclose(lin.values, np.sqrt(np.abs(a)) * 2 + a, rtol=1e-12)
    # a built-in's band overridden: NDVI with NIR the mean of 800-900 nm, red still the
    # nearest band to its published 665 nm (Rouse et al. 1974)
    override = sp.index(cube, "NDVI", bands={"nir": (800, 900)})
    nir = x[(wl >= 800) & (wl <= 900)].mean(axis=0)
    red = x[nearest(wl, 665)]
    assert ((wl >= 800) & (wl <= 900)).sum() >= 2                    # a true range, not the nearest band
    assert_close(override.values, (nir - red) / (nir + red), dtype=np.float32)
    default = x[nearest(wl, 842)]
    assert np.nanmax(np.abs((default - red) / (default + red) - (nir - red) / (nir + red))) > 1e-4


def test_index_dask_numpy_and_division_by_zero():
    cube = np.zeros((3, 4, 5), np.float32)
    cube[1, 0, 0] = 1.0
    wl = [500.0, 600.0, 700.0]
    got = sp.index(cube, "a / b", bands={"a": 600, "b": 700}, wavelength=wl)   # quiet: 1/0, 0/0
    assert got.dtype == np.float32 and got[0, 0] == np.inf and np.isnan(got[1, 1])
    lazy = sp.index(da.from_array(cube, chunks=(3, 2, 3)), "a / b", bands={"a": 600, "b": 700}, wavelength=wl)
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), got)
    const = sp.index(cube, "2 ** 3", wavelength=wl)
    assert (const == 8).all() and const.shape == (4, 5)
    huge = sp.index(cube, "9 ** 9 ** 9", wavelength=wl)          # floats: overflows, does not hang
    assert np.isinf(huge).all()


@pytest.mark.parametrize("formula", [
    "__import__('os').system('echo hi')",
    "n.real",
    "n[0]",
    "(lambda: n)()",
    "n if r else n",
    "n > r",
    "'text'",
    "True + n",
    "sqrt(n, r)",
    "sqrt(x=n)",
    "open('f')",
    "n.__class__",
    "-n.__class__",                # under a unary operator
    "+(n.real)",
    "2 * -n.__class__",
    "[n, r]",
    "{n: r}",
    "n @ r",
    "n // r",
    "f'{n}'",
    "sqrt",
    "(n := 1)",
])
def test_index_rejects_unsafe_or_unsupported_formulas(scene, formula):
    with pytest.raises(ValueError, match="name_or_formula"):
        sp.index(scene[0], formula, bands={"n": 842, "r": 665})


def test_index_formula_errors(scene):
    cube, _ = scene
    with pytest.raises(ValueError, match="not a valid formula"):
        sp.index(cube, "(n - r", bands={"n": 842, "r": 665})
    with pytest.raises(ValueError, match="at most 1000 characters"):
        sp.index(cube, "n" + " + n" * 400, bands={"n": 842})
    with pytest.raises(ValueError, match=r"must be one of \['NDRE', 'NDVI', 'NDWI'\] or a formula"):
        sp.index(cube, "EVI")
    with pytest.raises(ValueError, match=r"missing \['r'\]"):
        sp.index(cube, "n - r", bands={"n": 842})
    with pytest.raises(TypeError, match="`name_or_formula` must be a str"):
        sp.index(cube, 3)
    with pytest.raises(TypeError, match="`bands` must be a dict"):
        sp.index(cube, "NDVI", bands=[842])
    with pytest.raises(ValueError, match="`method` must be one of"):
        sp.index(cube, "NDVI", method="cubic")


def test_index_band_selection_errors(scene):
    cube, _ = scene                                               # 48 bands, 400-2500 nm
    spacing = np.median(np.diff(cube.wavelength.values))
    with pytest.raises(ValueError, match=r"bands\['n'\]` = 5000 nm is .* the limit is 2 x the median band spacing"):
        sp.index(cube, "n", bands={"n": 5000})
    ok = sp.index(cube, "n", bands={"n": 2500 + 1.9 * spacing})   # within the tolerance
    assert ok.shape == SHAPE[1:]
    with pytest.raises(ValueError, match="range 401-420 nm holds no band"):
        sp.index(cube, "n", bands={"n": (401, 420)})
    with pytest.raises(ValueError, match="range must have lo <= hi"):
        sp.index(cube, "n", bands={"n": (700, 600)})
    with pytest.raises(ValueError, match=r"must be a wavelength \(nm\) or a \(lo, hi\) range"):
        sp.index(cube, "n", bands={"n": "red"})
    with pytest.raises(ValueError, match=r"must be a wavelength \(nm\) or a \(lo, hi\) range"):
        sp.index(cube, "n", bands={"n": (1, 2, 3)})
    with pytest.raises(ValueError, match="does not extrapolate"):
        sp.index(cube, "n", bands={"n": 2510}, method="linear")
    with pytest.raises(ValueError, match="needs wavelengths"):
        sp.index(cube.drop_vars("wavelength"), "NDVI")
    with pytest.raises(ValueError, match="needs wavelengths"):
        sp.index(cube.values, "NDVI")


def test_index_single_band_cube_needs_an_exact_wavelength():
    cube = np.ones((1, 2, 2))
    assert sp.index(cube, "a * 2", bands={"a": 550}, wavelength=[550]).tolist() == [[2, 2], [2, 2]]
    with pytest.raises(ValueError, match="limit is 2 x the median band spacing = 0 nm"):
        sp.index(cube, "a", bands={"a": 551}, wavelength=[550])


# ---------------------------------------------------------------------------------------
# Region statistics


def groupby_reference(cube, labels, background=0, ddof=0):
    x = np.asarray(cube, dtype=np.float64)
    valid = np.isfinite(x).all(axis=0)
    out = {}
    for lab in np.unique(labels):
        if background is not None and lab == background:
            continue
        sel = x[:, (labels == lab) & valid]
        out[int(lab)] = sel
    return out


@pytest.mark.parametrize("chunked", [False, True])
def test_region_stats_matches_numpy_groupby(scene, chunked):
    cube, truth = scene
    labels = truth["labels"]
    data = cube.chunk(CHUNKS) if chunked else cube
    ds = sp.region_stats(data, labels, stats=sp.STATS)
    ref = groupby_reference(cube.values, labels.values)
    assert ds["label"].values.tolist() == sorted(ref)
    np.testing.assert_array_equal(ds.wavelength.values, cube.wavelength.values)
    assert ds["mean"].dims == ("label", "band") and ds["count"].dims == ("label",)
    for i, lab in enumerate(ds["label"].values):
        sel = ref[int(lab)]
        assert ds["count"].values[i] == sel.shape[1]
        np.testing.assert_allclose(ds["mean"].values[i], sel.mean(axis=1), rtol=1e-12)
        np.testing.assert_allclose(ds["std"].values[i], sel.std(axis=1), rtol=1e-9)
        np.testing.assert_allclose(ds["var"].values[i], sel.var(axis=1), rtol=1e-9)
        np.testing.assert_allclose(ds["sum"].values[i], sel.sum(axis=1), rtol=1e-12)
        np.testing.assert_array_equal(ds["min"].values[i], sel.min(axis=1))
        np.testing.assert_array_equal(ds["max"].values[i], sel.max(axis=1))
    assert ds["mean"].attrs["units"] == "reflectance"


def test_region_stats_background_ddof_and_empty_labels():
    rng = np.random.default_rng(0)
    cube = rng.random((5, 6, 7))
    labels = rng.integers(-1, 3, size=(6, 7))
    labels[0, 0] = 7
    cube[:, 0, 0] = np.nan                                        # label 7: only a nodata pixel
    ds = sp.region_stats(cube, labels, stats=("mean", "std", "count"), background=None, ddof=1)
    assert ds["label"].values.tolist() == [-1, 0, 1, 2, 7]
    ref = groupby_reference(cube, labels, background=None)
    for i, lab in enumerate([-1, 0, 1, 2]):
        np.testing.assert_allclose(ds["std"].values[i], ref[lab].std(axis=1, ddof=1), rtol=1e-9)
    assert ds["count"].values[-1] == 0 and np.isnan(ds["mean"].values[-1]).all()
    assert "wavelength" not in ds.coords and ds["band"].values.tolist() == list(range(5))
    default = sp.region_stats(cube, labels, stats="count")
    assert default["label"].values.tolist() == [-1, 1, 2, 7] and list(default.data_vars) == ["count"]


def test_region_stats_labels_as_dask_and_band_last(scene):
    cube, truth = scene
    ref = sp.region_stats(cube, truth["labels"])
    lab = da.from_array(truth["labels"].values, chunks=(5, 11))
    lazy = sp.region_stats(cube.chunk(CHUNKS), lab)                     # rechunked to the cube's chunks
    np.testing.assert_allclose(lazy["mean"].values, ref["mean"].values, rtol=1e-12)
    img = np.ascontiguousarray(band_last(cube.values))
    last = sp.region_stats(img, lab, band_axis=-1)                      # dask labels, NumPy cube
    np.testing.assert_allclose(last["std"].values, ref["std"].values, rtol=1e-9)


# ---------------------------------------------------------------------------------------
# Output contract, blocking, dask


OPERATIONS = {
    "index": lambda c, t: sp.index(c, "NDVI"),
    "continuum_removed": lambda c, t: sp.continuum_removed(c),
    "continuum": lambda c, t: sp.continuum(c),
    "pca.transform": lambda c, t: sp.pca(c, n_components=3).transform(c),
    "mnf.transform": lambda c, t: sp.mnf(c, n_components=3).transform(c),
    "mnf.denoise": lambda c, t: sp.mnf(c).denoise(c, 3),
    "pca.inverse_transform": lambda c, t: (lambda r: r.inverse_transform(r.transform(c)))(sp.pca(c, n_components=3)),
    "sam": lambda c, t: sp.sam(c, t["endmembers"]),
    "sam_classify": lambda c, t: sp.sam_classify(c, t["endmembers"]),
}


@pytest.mark.parametrize("name", OPERATIONS)
def test_output_contract_and_dask_equals_numpy(scene, name):
    cube, truth = scene
    before = cube.copy(deep=True)
    out = OPERATIONS[name](cube, truth)
    xr.testing.assert_identical(cube, before)                     # input left alone
    assert isinstance(out, xr.DataArray) and isinstance(out.data, np.ndarray)
    assert out.dims[-2:] == ("y", "x")
    xr.testing.assert_identical(out.coords["spatial_ref"], cube.coords["spatial_ref"])
    assert out.rio.crs == cube.rio.crs
    for d in ("y", "x"):
        np.testing.assert_array_equal(out[d].values, cube[d].values)
    nodata = ~valid_mask(cube)
    if out.dtype == np.int32:
        assert out.attrs["_FillValue"] == -1 and (out.values[..., nodata] == -1).all()
    else:
        assert out.dtype == np.float32 and np.isnan(out.attrs["_FillValue"])
        assert np.isnan(out.values[..., nodata]).all()
    lazy = OPERATIONS[name](cube.chunk(CHUNKS), truth)
    assert isinstance(lazy.data, da.Array)
    if out.dtype == np.int32:
        np.testing.assert_array_equal(lazy.values, out.values)
    else:
        assert_close(lazy.values, out.values, dtype=np.float32)


def test_small_blocks_and_slabs_give_the_same_statistics(scene, monkeypatch):
    """Tiny pixel blocks and NumPy slabs: many partial moments merged, NaN in some blocks only."""
    from sep3d.spectral import _cube

    cube, truth = scene
    ref_pca, ref_mnf = sp.pca(cube), sp.mnf(cube, noise="lowerleft")
    ref_regions = sp.region_stats(cube, truth["labels"], stats=sp.STATS)
    ref_scores = ref_pca.transform(cube, 5)
    ref_sam = sp.sam(cube, truth["endmembers"])
    monkeypatch.setattr(_cube, "BLOCK_BYTES", 1)                  # 256-pixel blocks, one-row differences
    monkeypatch.setattr(_cube, "SLAB_BYTES", 1)                   # one-row NumPy slabs
    small_pca, small_mnf = sp.pca(cube), sp.mnf(cube, noise="lowerleft")
    np.testing.assert_allclose(small_pca.cov, ref_pca.cov, rtol=1e-9, atol=1e-16)
    np.testing.assert_allclose(small_mnf.noise_cov, ref_mnf.noise_cov, rtol=1e-9, atol=1e-16)
    assert small_mnf.n_noise_samples == ref_mnf.n_noise_samples
    small_regions = sp.region_stats(cube, truth["labels"], stats=sp.STATS)
    for v in sp.STATS:
        np.testing.assert_allclose(small_regions[v].values, ref_regions[v].values, rtol=1e-9)
    assert_close(small_pca.transform(cube, 5).values, ref_scores.values, dtype=np.float32)
    assert_close(sp.sam(cube, truth["endmembers"]).values, ref_sam.values, dtype=np.float32)


def test_dask_array_with_split_band_chunks(scene):
    cube, _ = scene
    arr = da.from_array(cube.values, chunks=(5, 16, 16))         # one band range per chunk
    result = sp.pca(arr, n_components=2)
    np.testing.assert_allclose(result.eigenvalues, sp.pca(cube, n_components=2).eigenvalues, rtol=1e-8)
    scores = result.transform(arr)
    assert isinstance(scores, da.Array) and scores.chunks[0] == (2,)
    last = da.moveaxis(arr, 0, -1)
    assert_close(sp.pca(last, band_axis=-1, n_components=2).transform(last, band_axis=-1).compute(),
                 np.moveaxis(scores.compute(), 0, -1), dtype=np.float32)


# ---------------------------------------------------------------------------------------
# Argument errors (every raise of the package)


class FakeGPUArray:
    __cuda_array_interface__ = {}
    ndim, shape = 3, (2, 2, 2)


def test_cube_argument_errors(scene):
    cube, _ = scene
    with pytest.raises(TypeError, match="`cube` must be an xarray.DataArray, a NumPy array or a dask array"):
        sp.pca(object())
    with pytest.raises(NotImplementedError, match="works on NumPy and dask arrays; got FakeGPUArray"):
        sp.pca(FakeGPUArray())
    with pytest.raises(ValueError, match=r"`cube` must be 3-D .* got 2-D"):
        sp.pca(np.ones((3, 4)))
    with pytest.raises(TypeError, match="`cube` must be real"):
        sp.pca(np.ones((3, 4, 4), complex))
    with pytest.raises(TypeError, match="`cube` must have a bool, integer or float dtype"):
        sp.pca(np.array([[["a"]]]))
    with pytest.raises(ValueError, match="`cube` must not be empty"):
        sp.pca(np.ones((3, 0, 4)))
    with pytest.raises(ValueError, match="`cube` must have a 'band' dimension"):
        sp.pca(cube.rename(band="channel"))
    with pytest.raises(ValueError, match="`band_axis` is for NumPy and dask arrays"):
        sp.pca(cube, band_axis=0)
    with pytest.raises(TypeError, match="`band_axis` must be an int"):
        sp.pca(cube.values, band_axis=1.0)
    with pytest.raises(ValueError, match=r"`band_axis` must be in \[-3, 2\]"):
        sp.pca(cube.values, band_axis=3)
    with pytest.raises(TypeError, match="`n_components` must be None or an int"):
        sp.pca(cube, n_components=2.5)
    with pytest.raises(ValueError, match=r"`n_components` must be in \[1, 48\]"):
        sp.pca(cube, n_components=49)
    with pytest.raises(ValueError, match="at least 2 valid pixels"):
        sp.pca(np.full((3, 2, 2), np.nan))


def test_wavelength_argument_errors():
    cube = np.ones((3, 2, 2))
    with pytest.raises(TypeError, match="`wavelength` must be a sequence of numbers"):
        sp.continuum_removed(cube, wavelength=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"`wavelength` must hold one value per band \(3\)"):
        sp.continuum_removed(cube, wavelength=[1, 2])
    with pytest.raises(ValueError, match="`wavelength` must be finite"):
        sp.continuum_removed(cube, wavelength=[1, np.nan, 3])
    with pytest.raises(ValueError, match="strictly increasing or decreasing"):
        sp.continuum_removed(cube, wavelength=[1, 3, 2])
    with pytest.raises(ValueError, match="needs wavelengths"):
        sp.continuum(cube)


def test_decomposition_errors(scene):
    cube, _ = scene
    result = sp.pca(cube, n_components=5)
    with pytest.raises(ValueError, match="`cube` must have 48 bands"):
        result.transform(cube.isel(band=slice(0, 10)))
    with pytest.raises(ValueError, match=r"`n_components` must be in \[1, 5\]"):
        result.transform(cube, 6)
    scores = result.transform(cube)
    with pytest.raises(ValueError, match="`component_axis` is for NumPy and dask arrays"):
        result.inverse_transform(scores, component_axis=0)
    with pytest.raises(ValueError, match="`scores` must have a 'component' dimension"):
        result.inverse_transform(scores.rename(component="pc"))
    with pytest.raises(ValueError, match=r"`scores` must hold components in \[0, 4\]"):
        result.inverse_transform(scores.assign_coords(component=[0, 1, 2, 3, 9]))
    with pytest.raises(ValueError, match=r"`scores` must hold components in \[0, 4\]"):
        result.inverse_transform(np.zeros((6, 2, 2)))
    with pytest.raises(TypeError, match="`n_components` must be an int; got None"):
        result.denoise(cube, None)


def test_mnf_errors(scene):
    cube, _ = scene
    with pytest.raises(ValueError, match=r"`noise` must be None, one of \['right', 'lower'"):
        sp.mnf(cube, noise="up")
    with pytest.raises(ValueError, match="`noise` must have 48 bands like `cube`"):
        sp.mnf(cube, noise=cube.isel(band=slice(0, 4)))
    with pytest.raises(TypeError, match="`noise` must be None, a direction string"):
        sp.mnf(cube, noise=object())
    with pytest.raises(ValueError, match=r"`noise` as a covariance must have shape \(48, 48\)"):
        sp.mnf(cube, noise=np.eye(3))
    with pytest.raises(ValueError, match="must be finite and symmetric"):
        sp.mnf(cube, noise=np.triu(np.ones((48, 48))))
    with pytest.raises(ValueError, match="noise covariance must be positive definite"):
        sp.mnf(cube, noise=np.zeros((48, 48)))
    with pytest.raises(ValueError, match=r"the noise estimate \(pixel differences\) must have at least 2"):
        sp.mnf(np.random.default_rng(0).random((3, 4, 1)))       # one column: no horizontal pairs


def test_sam_errors(scene):
    cube, truth = scene
    lib = truth["endmembers"]
    with pytest.raises(ValueError, match="`library` must have a 'band' dimension"):
        sp.sam(cube, lib.rename(band="b"))
    with pytest.raises(ValueError, match=r"`library` must be 2-D \(endmember, band\)"):
        sp.sam(cube, lib.expand_dims(extra=2))
    with pytest.raises(ValueError, match="`library` wavelengths must match the cube's"):
        sp.sam(cube, lib.assign_coords(wavelength=lib.wavelength + 5))
    with pytest.raises(TypeError, match=r"`library` must be \(endmember, band\) real numbers"):
        sp.sam(cube, [["a"] * 48])
    with pytest.raises(ValueError, match=r"`library` must have shape \(endmember, 48\)"):
        sp.sam(cube, np.ones((3, 10)))
    with pytest.raises(ValueError, match="at least one spectrum"):
        sp.sam(cube, np.ones((0, 48)))
    with pytest.raises(ValueError, match=r"must be finite and non-zero; spectra \[1\]"):
        sp.sam(cube, np.stack([np.ones(48), np.zeros(48)]))
    with pytest.raises(ValueError, match=r"`names` must have one entry per library spectrum \(3\)"):
        sp.sam(cube, lib, names=["a"])
    with pytest.raises(TypeError, match="`max_angle` must be a number"):
        sp.sam_classify(cube, lib, max_angle="small")
    with pytest.raises(ValueError, match="`max_angle` must be finite and >= 0"):
        sp.sam_classify(cube, lib, max_angle=-1.0)


def test_region_stats_errors(scene):
    cube, truth = scene
    labels = truth["labels"]
    with pytest.raises(ValueError, match=r"`labels` must have the cube's spatial dims \('y', 'x'\)"):
        sp.region_stats(cube, labels.rename(y="row"))
    with pytest.raises(ValueError, match="`labels` coordinate 'x' must match the cube's"):
        sp.region_stats(cube, labels.assign_coords(x=labels.x + 1))
    xr.testing.assert_identical(sp.region_stats(cube, labels.values.astype(float)),  # integral floats: fine
                                sp.region_stats(cube, labels.values))
    with pytest.raises(ValueError, match=r"`labels` must hold integers \(or NaN for no label\); got \d+\.5"):
        sp.region_stats(cube, labels.values + 0.5)
    with pytest.raises(TypeError, match="`labels` must be an integer"):
        sp.region_stats(cube, labels.values.astype(complex))
    with pytest.raises(ValueError, match=r"`labels` must have the cube's spatial shape \(32, 40\)"):
        sp.region_stats(cube, np.zeros((3, 3), int))
    with pytest.raises(ValueError, match="`stats` must be a non-empty selection of"):
        sp.region_stats(cube, labels, stats=("median",))
    with pytest.raises(TypeError, match="`background` must be an int or None"):
        sp.region_stats(cube, labels, background=0.5)
    with pytest.raises(TypeError, match="`ddof` must be an int"):
        sp.region_stats(cube, labels, ddof=1.0)
    with pytest.raises(ValueError, match="`ddof` must be >= 0"):
        sp.region_stats(cube, labels, ddof=-1)


def test_index_formula_length_limit_is_inclusive(scene):
    cube, _ = scene
    wl = cube.wavelength.values
    x = cube.values.astype(np.float64)
    limit = sp.indices.MAX_FORMULA_LENGTH
    longest = "n" + " + 0" * ((limit - 4) // 4) + "*10"      # n + 0 + ... + 0*10, exactly `limit` characters
    longest += "0" * (limit - len(longest))
    assert len(longest) == limit
    got = sp.index(cube, longest, bands={"n": 842})
    assert_close(got.values, x[nearest(wl, 842)], dtype=np.float32)
    with pytest.raises(ValueError, match=rf"at most {limit} characters; got {limit + 1}$"):
        sp.index(cube, longest + "0", bands={"n": 842})


def test_index_linear_interpolation_reaches_the_first_and_last_bands(scene):
    cube, _ = scene
    wl = cube.wavelength.values
    x = cube.values.astype(np.float64)
    for k in (0, -1):  # a target on the outermost band is inside the bands: that band itself
        got = sp.index(cube.astype(np.float64), "a", bands={"a": float(wl[k])}, method="linear")
        np.testing.assert_allclose(got.values, x[k], rtol=1e-12)
    with pytest.raises(ValueError, match="outside the bands"):
        sp.index(cube, "a", bands={"a": float(wl[-1]) + 1.0}, method="linear")


def test_select_band_limits_are_the_documented_ones():
    wl = np.array([500.0, 510.0, 520.0])
    # a wavelength may be up to 2 x the median band spacing (2 x 10 nm) from the nearest band
    assert sp.indices.select_band(wl, 540.0) == [(2, 1.0)]
    with pytest.raises(ValueError, match=r"20\.5 nm from the nearest band \(520 nm\); the limit is .* = 20 nm"):
        sp.indices.select_band(wl, 540.5)
    assert sp.indices.select_band(np.array([500.0, 510.0]), 529.0) == [(1, 1.0)]     # two bands: spacing 10 nm
    assert sp.indices.select_band(np.array([500.0]), 500.0) == [(0, 1.0)]
    with pytest.raises(ValueError, match="the limit is 2 x the median band spacing = 0 nm"):
        sp.indices.select_band(np.array([500.0]), 500.5)                              # one band: exact only
    # ranges are closed: lo <= wavelength <= hi
    assert sp.indices.select_band(wl, (510.0, 510.0)) == [(1, 1.0)]
    assert sp.indices.select_band(wl, (500.0, 520.0)) == [(0, 1 / 3), (1, 1 / 3), (2, 1 / 3)]
    with pytest.raises(ValueError, match="lo <= hi"):
        sp.indices.select_band(wl, (511.0, 510.0))


def test_index_records_the_bands_it_used(scene):
    cube, _ = scene
    wl = cube.wavelength.values
    got = sp.index(cube, "NDVI", bands={"red": (600, 700)})
    nir = nearest(wl, 842)
    inside = np.flatnonzero((wl >= 600) & (wl <= 700))
    described = dict(part.split(": ", 1) for part in got.attrs["bands"].split("; "))
    assert described["nir"] == f"band {nir} ({wl[nir]:g} nm)"
    assert described["red"] == " + ".join(f"{1 / inside.size:.3g} x band {i} ({wl[i]:g} nm)" for i in inside)


@pytest.mark.parametrize("name, centres", [("NDVI", (842.0, 665.0)), ("NDWI", (560.0, 842.0)),
                                           ("NDRE", (790.0, 720.0))])
def test_built_in_indices_use_their_published_band_centres_on_1_nm_bands(name, centres):
    # on 1 nm bands every published centre (Rouse 1974 / Sentinel-2 B8, B4; McFeeters 1996;
    # Barnes et al. 2000) is a band of its own: the index is (a - b) / (a + b) of exactly those
    wl = np.arange(400.0, 1001.0)
    rng = np.random.default_rng(1)
    cube = xr.DataArray(rng.uniform(0.05, 0.6, (wl.size, 3, 4)), dims=("band", "y", "x"),
                        coords={"wavelength": ("band", wl)})
    a, b = (cube.values[int(np.flatnonzero(wl == c)[0])] for c in centres)
    np.testing.assert_allclose(sp.index(cube, name).values, (a - b) / (a + b), rtol=1e-12)
