"""The xarray accessor: dims by name, sigma in coordinate units, everything kept."""
import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
import xarray as xr

import sep3d  # noqa: F401  (registers the accessor)
from conftest import assert_close, make_volume

small_chunks = pytest.mark.filterwarnings("ignore::sep3d.chunked.ChunkSizeWarning")


def cube(dtype=np.float32, shape=(12, 20, 16)):
    """A (band, y, x) raster: wavelength every 10 nm, 30 m pixels, y descending as in GeoTIFFs."""
    nb, ny, nx = shape
    return xr.DataArray(
        make_volume(shape, dtype),
        dims=("band", "y", "x"),
        coords={"band": np.arange(1, nb + 1), "wavelength": ("band", 400.0 + 10.0 * np.arange(nb)),
                "y": 5000.0 - 30.0 * np.arange(ny), "x": 200.0 + 30.0 * np.arange(nx)},
        name="reflectance", attrs={"units": "1", "sensor": "synthetic"},
    )


def test_gaussian_sigma_in_coordinate_units_matches_scipy():
    img = cube()
    out = img.sep3d.gaussian({"y": 60.0, "x": 45.0}, mode="nearest")
    ref = ndi.gaussian_filter(img.values.astype(np.float64), (0, 2.0, 1.5), mode="nearest")
    assert_close(out.values, ref, np.float32)
    assert out.name == "reflectance" and out.attrs == img.attrs and out.dims == img.dims
    for name in img.coords:
        np.testing.assert_array_equal(out.coords[name].values, img.coords[name].values)
    np.testing.assert_array_equal(img.values, cube().values)  # input untouched


def test_band_dimension_uses_a_regular_wavelength_index_coordinate():
    img = cube().swap_dims({"band": "wavelength"})
    out = img.sep3d.gaussian({"wavelength": 15.0, "y": 30.0, "x": 30.0}, mode="mirror")
    ref = ndi.gaussian_filter(img.values.astype(np.float64), (1.5, 1.0, 1.0), mode="mirror")
    assert_close(out.values, ref, np.float32)


def test_scalar_sigma_filters_every_dim_but_band_by_default():
    img = cube()
    out = img.sep3d.gaussian(30.0)
    ref = ndi.gaussian_filter(img.values.astype(np.float64), (0, 1.0, 1.0))
    assert_close(out.values, ref, np.float32)
    out = img.sep3d.gaussian(1.0, dims="band")  # bands only when named; band has step 1
    assert_close(out.values, ndi.gaussian_filter1d(img.values.astype(np.float64), 1.0, axis=0), np.float32)


def test_dimension_without_coordinate_counts_in_pixels_and_units_pixels_ignores_coords():
    img = cube().drop_vars("x")
    out = img.sep3d.gaussian({"x": 2.0, "y": 60.0})
    assert_close(out.values, ndi.gaussian_filter(img.values.astype(np.float64), (0, 2.0, 2.0)), np.float32)
    out = cube().sep3d.gaussian({"x": 2.0, "y": 2.0}, units="pixels")
    assert_close(out.values, ndi.gaussian_filter(img.values.astype(np.float64), (0, 2.0, 2.0)), np.float32)


def test_irregular_coordinate_is_an_error_naming_units_pixels():
    img = cube().swap_dims({"band": "wavelength"})
    img = img.assign_coords(wavelength=np.geomspace(400, 2400, img.sizes["wavelength"]))
    with pytest.raises(ValueError, match="'wavelength' is not regularly spaced.*units='pixels'"):
        img.sep3d.gaussian({"wavelength": 10.0})
    out = img.sep3d.gaussian({"wavelength": 1.0}, units="pixels")
    assert_close(out.values, ndi.gaussian_filter1d(img.values.astype(np.float64), 1.0, axis=0), np.float32)


def test_derivatives_are_per_coordinate_unit_and_hessian_gets_a_component_dim():
    img = cube(np.float64)
    d = img.sep3d.gaussian_derivative({"y": 60.0, "x": 60.0}, {"x": 1})
    ref = ndi.gaussian_filter(img.values, (0, 2.0, 2.0), order=(0, 0, 1)) / 30.0
    assert_close(d.values, ref, np.float64)
    # y decreases along the array (GeoTIFF rows): d/dy is minus the row derivative
    d = img.sep3d.gaussian_derivative({"y": 60.0, "x": 60.0}, {"y": 1, "x": 2})
    ref = -ndi.gaussian_filter(img.values, (0, 2.0, 2.0), order=(0, 1, 2)) / 30.0 ** 3
    assert_close(d.values, ref, np.float64)
    grad = img.sep3d.gradient_magnitude({"y": 30.0, "x": 30.0}, mode="wrap")
    gy = ndi.gaussian_filter(img.values, (0, 1, 1), order=(0, 1, 0), mode="wrap") / 30.0
    gx = ndi.gaussian_filter(img.values, (0, 1, 1), order=(0, 0, 1), mode="wrap") / 30.0
    assert_close(grad.values, np.hypot(gy, gx), np.float64)
    log = img.sep3d.laplacian_of_gaussian({"y": 30.0, "x": 30.0})
    ref = ndi.gaussian_laplace(img.values, 1.0, axes=(1, 2)) / 900.0
    assert_close(log.values, ref, np.float64)
    hess = img.sep3d.hessian({"y": 30.0, "x": 30.0})
    assert hess.dims == ("component", "band", "y", "x")
    assert list(hess.component.values) == ["y,y", "y,x", "x,x"]
    ref = -ndi.gaussian_filter(img.values, (0, 1, 1), order=(0, 1, 1)) / 900.0
    assert_close(hess.sel(component="y,x").values, ref, np.float64)
    ref = ndi.gaussian_filter(img.values, (0, 1, 1), order=(0, 2, 0)) / 900.0
    assert_close(hess.sel(component="y,y").values, ref, np.float64)
    assert hess.name == img.name and "wavelength" in hess.coords


def test_box_dog_and_separable_by_dimension():
    img = cube(np.float64)
    out = img.sep3d.box({"y": 90.0, "x": 150.0})
    assert_close(out.values, ndi.uniform_filter(img.values, (1, 3, 5)), np.float64)
    out = img.sep3d.difference_of_gaussians({"y": 30.0, "x": 30.0}, {"y": 60.0, "x": 90.0})
    ref = ndi.gaussian_filter(img.values, (0, 1, 1)) - ndi.gaussian_filter(img.values, (0, 2, 3))
    assert_close(out.values, ref, np.float64)
    out = img.sep3d.separable({"x": [1.0, 2.0, 1.0]}, mode={"x": "constant"})
    assert_close(out.values, ndi.correlate1d(img.values, [1.0, 2.0, 1.0], axis=2, mode="constant"), np.float64)


@small_chunks
def test_dask_backed_stays_lazy_and_equals_the_in_memory_result():
    img = cube().chunk({"band": 1, "y": 7, "x": 16})  # rioxarray's default: one band per chunk
    out = img.sep3d.gaussian({"band": 1.5, "y": 30.0, "x": 30.0})
    assert isinstance(out.data, da.Array) and out.chunks == img.chunks
    ref = ndi.gaussian_filter(cube().values.astype(np.float64), 1.0 * np.array([1.5, 1, 1]))
    assert_close(out.compute().values, ref, np.float32)


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")  # affine, inside rioxarray
def test_rioxarray_crs_and_transform_are_kept():
    import rioxarray  # noqa: F401  (registers .rio)

    img = cube().rio.write_crs("EPSG:32633")
    out = img.sep3d.gaussian({"y": 60.0, "x": 60.0})
    assert out.rio.crs == img.rio.crs
    assert out.rio.transform() == img.rio.transform()
    assert out.spatial_ref.attrs == img.spatial_ref.attrs


def test_dataset_filters_chosen_variables_and_keeps_the_rest():
    img = cube(np.float64)
    ds = xr.Dataset({"a": img, "b": img * 2, "mask": (("y", "x"), np.ones((20, 16), bool)),
                     "label": ("band", np.array(list("abcdefghijkl")))})
    out = ds.sep3d.gaussian({"y": 30.0, "x": 30.0}, variables=["b"])
    xr.testing.assert_identical(out["a"], ds["a"])
    assert_close(out["b"].values, ndi.gaussian_filter(ds["b"].values, (0, 1, 1)), np.float64)
    every = ds.sep3d.gaussian({"band": 1.0, "y": 30.0})  # default: variables with band and y
    assert_close(every["a"].values, ndi.gaussian_filter(img.values, (1, 1, 0)), np.float64)
    xr.testing.assert_identical(every["mask"], ds["mask"])
    with pytest.raises(ValueError, match=r"`variables` names \['c'\]"):
        ds.sep3d.gaussian({"y": 1.0}, variables="c")
    with pytest.raises(ValueError, match="no data variable has all of the dimensions"):
        ds[["label"]].sep3d.gaussian({"y": 1.0})


@small_chunks
def test_netcdf_in_netcdf_out_lazy(tmp_path):
    img = cube(np.float64)
    img.to_dataset().to_netcdf(tmp_path / "in.nc", engine="scipy")
    with xr.open_dataset(tmp_path / "in.nc", engine="scipy", chunks={"band": 4}) as ds:
        out = ds.sep3d.laplacian_of_gaussian({"y": 30.0, "x": 30.0}, variables="reflectance")
        assert isinstance(out["reflectance"].data, da.Array)
        out.to_netcdf(tmp_path / "out.nc", engine="scipy")
    with xr.open_dataset(tmp_path / "out.nc", engine="scipy") as back:
        ref = ndi.gaussian_laplace(img.values, 1.0, axes=(1, 2)) / 900.0
        assert_close(back["reflectance"].values, ref, np.float64)
        assert back["reflectance"].attrs == img.attrs


def test_accessor_errors_name_the_argument():
    img = cube()
    with pytest.raises(ValueError, match="`sigma` names dimension 'z'"):
        img.sep3d.gaussian({"z": 1.0})
    with pytest.raises(ValueError, match="`units` must be one of"):
        img.sep3d.gaussian(1.0, units="mm")
    with pytest.raises(ValueError, match=r"`mode` names \['band'\]"):
        img.sep3d.gaussian({"y": 1.0}, mode={"band": "wrap"})
    with pytest.raises(TypeError, match="either as the keys of `sigma` or as `dims`"):
        img.sep3d.gaussian({"y": 1.0}, dims=["y"])
    with pytest.raises(ValueError, match=r"`high_sigma` needs a value for every filtered dimension; missing \['x'\]"):
        img.sep3d.difference_of_gaussians({"y": 30.0, "x": 30.0}, {"y": 60.0})
    with pytest.raises(ValueError, match="`sigma` must name at least one dimension"):
        img.sep3d.gaussian({})
    with pytest.raises(ValueError, match="'time' is not numeric"):
        xr.DataArray(np.zeros((3, 4)), dims=("time", "x"),
                     coords={"time": np.array(["2020-01-01", "2020-01-02", "2020-01-04"], "datetime64[ns]")}
                     ).sep3d.gaussian({"time": 1.0})
