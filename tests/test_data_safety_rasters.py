"""Data safety of rasters (issue 17): a writer never changes a value silently.

Every fixture is a tiny file written here with plain rasterio or xarray; every oracle is
independent of sep3d: scipy on the raw arrays, rasterio / xarray reading the written file
directly (``mask_and_scale=False``: the stored numbers, not a decoded view of them).
"""
import os

import dask.array as dka
import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401  (the .rio accessor, for the fixtures)
import scipy.ndimage as ndi
import xarray as xr
from affine import Affine
from scipy.signal import savgol_filter

import sep3d  # noqa: F401  (registers the .sep3d accessor)
import sep3d.spectral
from sep3d.io import open_raster, write_raster
from sep3d.spectral import region_stats

UTM = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4600000.0)
SHAPE = (4, 16, 16)
STORES = ("nc", "zarr")
FORMATS = ("tif",) + STORES
STORAGE_KEYS = ("dtype", "rasterio_dtype", "_FillValue", "missing_value", "scale_factor", "add_offset")


# --------------------------------------------------------------------------- fixtures

def dn(dtype=np.uint16, lo=500, hi=6000, seed=0, shape=SHAPE):
    """Random digital numbers in [lo, hi)."""
    return np.random.default_rng(seed).integers(lo, hi, shape).astype(dtype)


def geotiff(path, data, *, nodata=None, scales=None, offsets=None, mask=None, descriptions=None,
            tags=None, crs="EPSG:32633", transform=UTM):
    """A GeoTIFF written with plain rasterio (no sep3d, no rioxarray)."""
    count, height, width = data.shape
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count,
                           dtype=data.dtype, nodata=nodata, crs=crs, transform=transform) as dst:
            dst.write(data)
            if scales is not None:
                dst.scales = (scales,) * count
                dst.offsets = (offsets,) * count
            if mask is not None:
                dst.write_mask(mask)
            for i, text in enumerate(descriptions or (), start=1):
                dst.set_band_description(i, text)
            if tags:
                dst.update_tags(**tags)
    return path


def read_tif(path):
    """(stored array, dtype, nodata, scales, offsets, descriptions, tags) read with rasterio."""
    with rasterio.open(path) as src:
        return dict(data=src.read(), dtype=src.dtypes[0], nodata=src.nodata, scales=src.scales,
                    offsets=src.offsets, descriptions=src.descriptions, tags=src.tags(),
                    crs=src.crs, transform=src.transform, masks=src.read_masks())


def read_store(path):
    """The one data variable of a NetCDF/Zarr store, as stored (no masking or scaling)."""
    kw = dict(engine="h5netcdf") if str(path).endswith(".nc") else dict(engine="zarr")
    with xr.open_dataset(path, mask_and_scale=False, decode_coords="all", **kw) as ds:
        (name,) = ds.data_vars
        return ds[name].load()


def xy(ny=SHAPE[1], nx=SHAPE[2]):
    return {"y": 4600000.0 - 15.0 - 30.0 * np.arange(ny), "x": 500000.0 + 15.0 + 30.0 * np.arange(nx)}


def store(path, data, dims=("band", "y", "x"), coords=None, encoding=None, attrs=None, crs=None):
    """A NetCDF/Zarr store with one variable, written with plain xarray."""
    var = xr.DataArray(data, dims=dims, coords=coords or {}, attrs=attrs or {})
    if crs is not None:
        var = var.rio.write_crs(crs)
    ds = var.to_dataset(name="r")
    ds["r"].encoding.update(encoding or {})  # next to rioxarray's grid_mapping
    if str(path).endswith(".nc"):
        ds.to_netcdf(path, engine="h5netcdf")
    else:
        ds.to_zarr(path, zarr_format=2, consolidated=True)
    return path


def stored_values(path):
    """What a reader without sep3d gets back: the stored numbers, masked and scaled by hand."""
    if str(path).endswith((".tif", ".tiff")):
        f = read_tif(path)
        out = f["data"].astype(np.float64)
        if f["nodata"] is not None and not np.isnan(f["nodata"]):
            out[f["data"] == f["nodata"]] = np.nan
        out[f["masks"] == 0] = np.nan
        scales = np.asarray(f["scales"])[:, None, None]
        offsets = np.asarray(f["offsets"])[:, None, None]
        return out * scales + offsets, f["dtype"]
    raw = read_store(path)
    out = raw.values.astype(np.float64)
    fill = raw.attrs.get("_FillValue")
    if fill is not None and not np.isnan(fill):
        out[raw.values == fill] = np.nan
    out = out * raw.attrs.get("scale_factor", 1.0) + raw.attrs.get("add_offset", 0.0)
    return out, str(raw.dtype)


def per_band(fn, cube, *args):
    """`fn` (a scipy filter) on every band of a float64 copy of `cube`."""
    x = np.asarray(cube, dtype=np.float64)
    return np.stack([fn(band, *args) for band in x])


def close(got, ref, rel=2e-6):
    """float32-rounded results against a float64 oracle."""
    ref = np.asarray(ref, dtype=np.float64)
    tol = rel * np.nanmax(np.abs(ref)) + 1e-7
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(np.asarray(got, np.float64), ref, rtol=0, atol=tol)


def integer_source(tmp_path, fmt, data, nodata):
    """An integer raster with a nodata code, as GeoTIFF or as a NetCDF/Zarr ``_FillValue``."""
    path = tmp_path / f"source.{fmt}"
    if fmt == "tif":
        return geotiff(path, data, nodata=nodata)
    return store(path, data, coords=xy(), encoding={"_FillValue": nodata}, crs="EPSG:32633")


def no_leftovers(folder, expected):
    assert sorted(os.listdir(folder)) == sorted(expected)


# --------------------------------------------------------------------------- filter results

@pytest.mark.parametrize("fmt", FORMATS)
def test_log_of_a_uint16_scene_with_nodata_0_is_written_as_float32_values(tmp_path, fmt):
    raw = dn(np.uint16)                                     # no pixel is 0: the nodata code is unused
    cube = open_raster(integer_source(tmp_path, fmt, raw, 0))
    log = cube.sep3d.laplacian_of_gaussian(1.0, units="pixels")
    out = write_raster(log, tmp_path / f"log.{fmt}")
    values, dtype = stored_values(out)
    assert dtype == "float32"
    close(values, per_band(ndi.gaussian_laplace, raw, 1.0))
    close(open_raster(out, chunks=None).values, per_band(ndi.gaussian_laplace, raw, 1.0))


def test_filtered_uint8_scene_without_nodata_is_written_not_refused(tmp_path):
    raw = dn(np.uint8, 0, 256, seed=1)
    cube = open_raster(geotiff(tmp_path / "landsat.tif", raw))
    assert cube.dtype == np.uint8                              # nothing to mask: the dtype stays
    smooth = cube.sep3d.gaussian(1.0, units="pixels")
    values, dtype = stored_values(write_raster(smooth, tmp_path / "smooth.tif"))
    assert dtype == "float32"
    close(values, per_band(ndi.gaussian_filter, raw, 1.0))


def test_int16_gradient_magnitude_is_not_rounded(tmp_path):
    raw = dn(np.int16, -1000, 3000, seed=2)
    raw[0, 3, 3] = -9999                                       # one nodata pixel, band 0 only
    cube = open_raster(geotiff(tmp_path / "int16.tif", raw, nodata=-9999), chunks=None)
    grad = cube.sep3d.gradient_magnitude(1.0, units="pixels")
    values, dtype = stored_values(write_raster(grad, tmp_path / "grad.tif"))
    assert dtype == "float32"
    np.testing.assert_array_equal(values, grad.values)       # exactly what was computed
    ref = per_band(ndi.gaussian_gradient_magnitude, np.where(raw == -9999, np.nan, raw), 1.0)
    close(values[1:], ref[1:])                               # band 0 is NaN around its hole


def test_filter_results_do_not_inherit_the_storage_encoding(tmp_path):
    raw = dn(np.uint16)
    cube = open_raster(geotiff(tmp_path / "s.tif", raw, nodata=0, scales=1e-4, offsets=-0.1), chunks=None)
    assert cube.encoding["dtype"] == "uint16"                  # the source's encoding is kept on the source
    results = {
        "gaussian": cube.sep3d.gaussian(1.0, units="pixels"),
        "laplacian_of_gaussian": cube.sep3d.laplacian_of_gaussian(1.0, units="pixels"),
        "hessian": cube.sep3d.hessian(1.0, units="pixels"),
        "spatial_spectral": cube.sep3d.spatial_spectral(spatial={"gaussian": {"sigma": 1.0}}, units="pixels"),
        "depthwise_separable": cube.sep3d.depthwise_separable(np.ones((1, 4)), units="pixels"),
        "dataset": cube.to_dataset(name="r").sep3d.gaussian(1.0, units="pixels")["r"],
    }
    for name, out in results.items():
        leaked = {k: out.encoding[k] for k in STORAGE_KEYS if k in out.encoding}
        leaked.update({k: out.attrs[k] for k in STORAGE_KEYS if k in out.attrs})
        assert not leaked, f"{name} inherited {leaked}"
        assert out.rio.crs == cube.rio.crs
    assert cube.encoding["dtype"] == "uint16" and cube.encoding["scale_factor"] == 1e-4  # input left alone


def test_masked_false_filter_result_drops_the_raw_fill_value_and_scale(tmp_path):
    raw = dn(np.int16, 100, 3000)
    cube = open_raster(geotiff(tmp_path / "s.tif", raw, nodata=-1, scales=1e-4, offsets=-0.1),
                       masked=False, chunks=None)
    assert cube.dtype == np.int16 and cube.attrs["scale_factor"] == 1e-4
    out = cube.sep3d.gaussian(1.0, units="pixels")
    assert not {k for k in STORAGE_KEYS if k in out.attrs or k in out.encoding}
    ndvi = sep3d.spectral.index(cube.assign_coords(wavelength=("band", WL)), "ndvi")  # a spectral output
    assert not {k for k in STORAGE_KEYS if k in ndvi.attrs or k in ndvi.encoding}


# --------------------------------------------------------------------------- explicit dtype

def float_cube(values, *, chunks=None):
    da = xr.DataArray(values, dims=("band", "y", "x"), coords=xy(*values.shape[1:]), name="r")
    da = da.rio.write_crs("EPSG:32633")
    return da.chunk(chunks) if chunks else da


@pytest.mark.parametrize("fmt", FORMATS)
def test_explicit_integer_dtype_writes_integral_values_exactly_with_the_nodata_code(tmp_path, fmt):
    values = dn(np.int16, -300, 300).astype(np.float32)
    values[1, 2, 3] = np.nan
    path = write_raster(float_cube(values), tmp_path / f"i.{fmt}", dtype="int16", nodata=-9999)
    if fmt == "tif":
        f = read_tif(path)
        assert f["dtype"] == "int16" and f["nodata"] == -9999
        stored = f["data"]
    else:
        stored = read_store(path)
        assert stored.dtype == np.int16 and stored.attrs["_FillValue"] == -9999
        stored = stored.values
    np.testing.assert_array_equal(stored, np.where(np.isnan(values), -9999, values))
    np.testing.assert_array_equal(open_raster(path, chunks=None).values, values)


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
@pytest.mark.parametrize(("change", "kwargs", "message"), [
    ("fraction", dict(dtype="int16", nodata=-9999),
     r"`dtype` int16 cannot hold .*non-integer values .*found values in \[-?[0-9.]+, [0-9.]+\]"),
    ("big", dict(dtype="int16", nodata=-9999), r"`dtype` int16 holds \[-32768, 32767\]; found values in "
                                               r"\[-?[0-9.]+, 40000(\.0)?\]"),
    ("negative", dict(dtype="uint8", nodata=255), r"`dtype` uint8 holds \[0, 255\]; found values in \[-5(\.0)?, "),
    ("nan", dict(dtype="int16"), r"`dtype` int16 has no NaN: .*pass `nodata`"),
    ("inf", dict(dtype="int16", nodata=-9999), r"`dtype` int16 cannot hold .*infinite"),
    ("none", dict(dtype="int16", nodata=100000), r"`nodata` 100000 does not fit `dtype` int16 \[-32768, 32767\]"),
    ("none", dict(dtype="int16", nodata=0.5), r"`nodata` 0.5 does not fit `dtype` int16"),
    ("none", dict(dtype="int16", nodata=7), r"`nodata` 7 collides with \d+ valid values?"),
    ("none", dict(nodata=7.0), r"`nodata` 7.0 collides with \d+ valid values?"),
    ("huge", dict(dtype="float16"), r"`dtype` float16 holds \[-65504(\.0)?, 65504(\.0)?\]; found values in"),
    ("none", dict(dtype="complex64"), r"`dtype` must be a real numeric dtype"),
])
def test_values_the_requested_dtype_cannot_hold_are_refused(tmp_path, lazy, change, kwargs, message):
    values = dn(np.int16, 0, 300).astype(np.float32)
    values[0, 0, :4] = 7.0
    edit = {"fraction": 12.5, "big": 40000.0, "huge": 1e5, "negative": -5.0, "nan": np.nan, "inf": np.inf}
    if change in edit:
        values[2, 5, 6] = edit[change]
    cube = float_cube(values, chunks={"y": 8, "x": 8} if lazy else None)
    target = tmp_path / "kept.tif"
    geotiff(target, dn(np.uint8, seed=9))                      # an existing file must survive the failure
    before = read_tif(target)["data"]
    with pytest.raises(ValueError, match=message):
        write_raster(cube, target, **kwargs)
    np.testing.assert_array_equal(read_tif(target)["data"], before)
    no_leftovers(tmp_path, ["kept.tif"])                       # no temporary left behind


def test_explicit_dtype_must_be_a_dtype(tmp_path):
    with pytest.raises(TypeError, match="`dtype` must be a NumPy dtype or its name; got 'int17'"):
        write_raster(float_cube(np.zeros(SHAPE, np.float32)), tmp_path / "x.tif", dtype="int17")
    no_leftovers(tmp_path, [])


def test_write_raster_refuses_what_no_raster_holds(tmp_path):
    cube = float_cube(np.zeros(SHAPE, np.float32))
    with pytest.raises(TypeError, match="`da` must hold real numbers .*; got dtype complex64"):
        write_raster(cube.astype(np.complex64), tmp_path / "c.tif")
    with pytest.raises(TypeError, match="`nodata` must be a number; got 'none'"):
        write_raster(cube, tmp_path / "c.tif", nodata="none")
    with pytest.raises(ValueError, match=r"`nodata` 1e\+39 does not fit `dtype` float32 \[-3.4028"):
        write_raster(cube, tmp_path / "c.tif", nodata=1e39)
    no_leftovers(tmp_path, [])


def test_float_nodata_is_stored_as_the_dtype_holds_it(tmp_path):
    values = dn(np.float32, 0, 100)
    values[0, 0, 0] = np.nan
    f = read_tif(write_raster(float_cube(values), tmp_path / "n.tif", nodata=-9999.9))
    assert f["nodata"] == float(np.float32(-9999.9)) and f["data"][0, 0, 0] == np.float32(-9999.9)
    assert np.isnan(open_raster(tmp_path / "n.tif", chunks=None).values[0, 0, 0])


def test_float64_results_stay_float64_and_float16_becomes_float32(tmp_path):
    values = np.random.default_rng(3).random(SHAPE)
    f = read_tif(write_raster(float_cube(values), tmp_path / "f64.tif"))
    assert f["dtype"] == "float64"
    np.testing.assert_array_equal(f["data"], values)
    f = read_tif(write_raster(float_cube(values.astype(np.float16)), tmp_path / "f16.tif"))
    assert f["dtype"] == "float32"
    np.testing.assert_array_equal(f["data"], values.astype(np.float16).astype(np.float32))


# --------------------------------------------------------------------------- scale / offset

def physical(raw, scale=1e-4, offset=-0.1):
    return raw.astype(np.float64) * scale + offset


def test_scaled_uint16_geotiff_opens_in_physical_units(tmp_path):
    raw = dn(np.uint16)
    path = geotiff(tmp_path / "scaled.tif", raw, scales=1e-4, offsets=-0.1)
    for chunks in ("auto", None):
        cube = open_raster(path, chunks=chunks)
        assert cube.dtype.kind == "f"
        close(cube.values, physical(raw))
        red, nir = cube.values[2].astype(np.float64), cube.values[3].astype(np.float64)
        ref_red, ref_nir = physical(raw[2]), physical(raw[3])
        np.testing.assert_allclose((nir - red) / (nir + red), (ref_nir - ref_red) / (ref_nir + ref_red),
                                   rtol=1e-5, atol=1e-6)
    packed = open_raster(path, masked=False, chunks=None)       # the stored numbers, with their scale
    assert packed.dtype == np.uint16
    assert packed.attrs["scale_factor"] == 1e-4 and packed.attrs["add_offset"] == -0.1
    np.testing.assert_array_equal(packed.values, raw)


def test_scaled_geotiff_keeps_physical_values_through_netcdf_zarr_and_back(tmp_path):
    raw = dn(np.uint16)
    raw[1, 4, 4] = 0
    path = geotiff(tmp_path / "scaled.tif", raw, nodata=0, scales=1e-4, offsets=-0.1)
    expected = np.where(raw == 0, np.nan, physical(raw))
    for step, fmt in enumerate(("nc", "zarr", "tif")):
        path = write_raster(open_raster(path), tmp_path / f"step{step}.{fmt}")
        values, _ = stored_values(path)
        close(values, expected)
    assert read_tif(path)["dtype"] == "float32"


@pytest.mark.parametrize("fmt", FORMATS)
def test_raw_packed_values_are_written_with_their_scale_and_offset(tmp_path, fmt):
    raw = dn(np.uint16)
    packed = open_raster(geotiff(tmp_path / "s.tif", raw, scales=1e-4, offsets=-0.1), masked=False)
    path = write_raster(packed, tmp_path / f"packed.{fmt}")
    if fmt == "tif":
        f = read_tif(path)
        assert f["dtype"] == "uint16" and f["scales"] == (1e-4,) * 4 and f["offsets"] == (-0.1,) * 4
        np.testing.assert_array_equal(f["data"], raw)
    else:
        stored = read_store(path)
        assert stored.dtype == np.uint16
        assert stored.attrs["scale_factor"] == 1e-4 and stored.attrs["add_offset"] == -0.1
        np.testing.assert_array_equal(stored.values, raw)
    close(open_raster(path, chunks=None).values, physical(raw))


def test_physical_values_are_not_packed_into_the_source_dtype(tmp_path):
    cube = open_raster(geotiff(tmp_path / "s.tif", dn(np.uint16), scales=1e-4, offsets=-0.1))
    with pytest.raises(ValueError, match=r"`dtype` uint16 cannot hold .*non-integer values"):
        write_raster(cube, tmp_path / "packed.tif", dtype="uint16")
    no_leftovers(tmp_path, ["s.tif"])


# --------------------------------------------------------------------------- layouts

WL = np.array([450.0, 550.0, 650.0, 850.0])
LAYOUTS = {
    "y-x-wavelength": ("y", "x", "wavelength"),
    "y-x-band": ("y", "x", "band"),
    "wavelength-y-x": ("wavelength", "y", "x"),
    "band-lat-lon": ("band", "lat", "lon"),
    "latitude-longitude-bands": ("latitude", "longitude", "bands"),
    "x-y-band": ("x", "y", "band"),
}


def layout_store(path, dims):
    """The same (band, y, x) cube stored with dims in the order and names of `dims`."""
    data = dn(np.float32, seed=4)
    band = next(d for d in dims if d in ("band", "bands", "wavelength"))
    ydim = next(d for d in dims if d in ("y", "lat", "latitude"))
    xdim = next(d for d in dims if d in ("x", "lon", "longitude"))
    grid = xy()
    coords = {ydim: grid["y"], xdim: grid["x"]}
    if band == "wavelength":
        coords["wavelength"] = ("wavelength", WL, {"units": "nm"})
    else:
        coords[band] = np.arange(1, 5)
        coords["wavelength"] = (band, WL, {"units": "nm"})
    order = [{band: 0, ydim: 1, xdim: 2}[d] for d in dims]
    return store(path, np.transpose(data, order), dims=dims, coords=coords), data


@pytest.mark.parametrize("layout", LAYOUTS)
def test_netcdf_and_zarr_layouts_open_as_band_y_x(tmp_path, layout):
    fmt = STORES[list(LAYOUTS).index(layout) % 2]  # each layout in one format, both formats in all
    path, data = layout_store(tmp_path / f"cube.{fmt}", LAYOUTS[layout])
    for chunks in ("auto", None):
        cube = open_raster(path, chunks=chunks)
        assert cube.dims == ("band", "y", "x")
        np.testing.assert_array_equal(cube.values, data)
        np.testing.assert_array_equal(cube.wavelength.values, WL)
        np.testing.assert_array_equal(cube.y.values, xy()["y"])
        np.testing.assert_array_equal(cube.x.values, xy()["x"])
        if chunks == "auto":
            assert cube.chunks[0] == (4,)


@pytest.mark.parametrize("fmt", STORES)
def test_savitzky_golay_runs_along_the_bands_of_a_bands_last_store(tmp_path, fmt):
    path, data = layout_store(tmp_path / f"cube.{fmt}", ("y", "x", "wavelength"))
    cube = open_raster(path, chunks=None)
    spec = {"savgol": {"window_length": 3, "polyorder": 1}}
    out = cube.sep3d.spatial_spectral(spectral=spec, units="pixels")
    ref = savgol_filter(data.astype(np.float64), 3, 1, axis=0, mode="interp")
    close(out.values, ref)


@pytest.mark.parametrize("fmt", STORES)
def test_a_lat_lon_store_is_written_to_geotiff(tmp_path, fmt):
    data = dn(np.float32, seed=5)
    lat, lon = 50.0 - 0.25 * (np.arange(16) + 0.5), 10.0 + 0.5 * (np.arange(16) + 0.5)
    path = store(tmp_path / f"ll.{fmt}", data, dims=("band", "lat", "lon"),
                 coords={"lat": lat, "lon": lon}, crs="EPSG:4326")
    cube = open_raster(path)
    for out_fmt in FORMATS:
        written = write_raster(cube, tmp_path / f"out.{out_fmt}")
        values, _ = stored_values(written)
        np.testing.assert_array_equal(values, data)
        back = open_raster(written, chunks=None)
        np.testing.assert_array_equal(back.y.values, lat)
        np.testing.assert_array_equal(back.x.values, lon)
        assert back.rio.crs.to_epsg() == 4326
    f = read_tif(tmp_path / "out.tif")
    assert f["transform"] == Affine(0.5, 0.0, 10.0, 0.0, -0.25, 50.0) and f["crs"].to_epsg() == 4326


@pytest.mark.parametrize("dims", [("a", "b", "c"), ("band", "row", "col"), ("lat", "y", "x")])
def test_unrecognised_layouts_raise_naming_the_dims(tmp_path, dims):
    store(tmp_path / "odd.zarr", np.zeros(SHAPE, np.float32), dims=dims)
    with pytest.raises(ValueError, match=r"\(band, y, x\).*got dims \('" + dims[0]):
        open_raster(tmp_path / "odd.zarr")


# --------------------------------------------------------------------------- mask bands

def test_geotiff_internal_mask_band_is_nodata(tmp_path):
    raw = dn(np.uint16)
    mask = np.full(SHAPE[1:], 255, np.uint8)
    mask[:3, :5] = 0
    path = geotiff(tmp_path / "masked.tif", raw, mask=mask)
    no_leftovers(tmp_path, ["masked.tif"])                    # internal: no .msk next to it
    expected = np.where(mask == 0, np.nan, raw.astype(np.float64))
    for chunks in ("auto", None):
        cube = open_raster(path, chunks=chunks)
        assert cube.dtype == np.float32
        np.testing.assert_array_equal(cube.values, expected)
    np.testing.assert_array_equal(open_raster(path, masked=False, chunks=None).values, raw)
    values, _ = stored_values(write_raster(open_raster(path), tmp_path / "copy.tif"))
    np.testing.assert_array_equal(values, expected)


# --------------------------------------------------------------------------- wavelength units

@pytest.mark.parametrize(("units", "fmt"), [("um", "nc"), ("micrometers", "zarr"), ("µm", "nc"),
                                            ("Micrometers", "zarr")])
def test_store_wavelengths_in_micrometres_are_converted_to_nm(tmp_path, fmt, units):
    coords = dict(xy(), band=np.arange(1, 5), wavelength=("band", WL / 1000, {"units": units}),
                  fwhm=("band", np.full(4, 0.01), {"units": units}))
    path = store(tmp_path / f"um.{fmt}", dn(np.float32), coords=coords)
    cube = open_raster(path, chunks=None)
    np.testing.assert_allclose(cube.wavelength.values, WL, rtol=1e-12)
    np.testing.assert_allclose(cube.fwhm.values, np.full(4, 10.0), rtol=1e-12)
    assert cube.wavelength.attrs["units"] == "nm" and cube.fwhm.attrs["units"] == "nm"



# SI prefixes: 1 um = 1e3 nm, 1 mm = 1e6 nm; every spelling of the unit table
@pytest.mark.parametrize(("units", "per_nm"), [(u, 1.0) for u in ("nm", "nanometer", "nanometers", "nanometre",
                                                                  "nanometres")]
                         + [(u, 1e3) for u in ("um", "\u00b5m", "\u03bcm", "micrometer", "micrometers", "micrometre",
                                               "micrometres", "micron", "microns")]
                         + [(u, 1e6) for u in ("mm", "millimeter", "millimeters", "millimetre", "millimetres")])
def test_every_spelling_of_a_wavelength_unit_converts_to_nm(tmp_path, units, per_nm):
    coords = dict(xy(), band=np.arange(1, 5), wavelength=("band", WL / per_nm, {"units": units}))
    cube = open_raster(store(tmp_path / "u.nc", dn(np.float32), coords=coords), chunks=None)
    np.testing.assert_allclose(cube.wavelength.values, WL, rtol=1e-12)


# --------------------------------------------------------------------------- band names

NAMES = ["Blue", "Green", "Red", "NIR"]


@pytest.mark.parametrize("with_wavelengths", [False, True])
def test_geotiff_band_descriptions_are_kept_as_band_names(tmp_path, with_wavelengths):
    tags = {"wavelength": "{450, 550, 650, 850}", "wavelength_units": "nm"} if with_wavelengths else None
    path = geotiff(tmp_path / "named.tif", dn(np.float32), descriptions=NAMES, tags=tags)
    cube = open_raster(path, chunks=None)
    assert cube.band_name.dims == ("band",) and cube.band_name.values.tolist() == NAMES
    assert ("wavelength" in cube.coords) == with_wavelengths
    for fmt in FORMATS:
        out = write_raster(cube, tmp_path / f"copy.{fmt}")
        back = open_raster(out, chunks=None)
        assert back.band_name.values.tolist() == NAMES
        if with_wavelengths:
            np.testing.assert_array_equal(back.wavelength.values, WL)
    f = read_tif(tmp_path / "copy.tif")
    assert list(f["descriptions"]) == NAMES
    assert ("wavelength" in f["tags"]) == with_wavelengths


def test_envi_band_names_become_band_names_and_geotiff_descriptions(tmp_path):
    data = dn(np.float32)
    data.astype("<f4").tofile(tmp_path / "scene.dat")
    (tmp_path / "scene.hdr").write_text(
        "ENVI\nsamples = 16\nlines = 16\nbands = 4\nheader offset = 0\nfile type = ENVI Standard\n"
        "data type = 4\ninterleave = bsq\nbyte order = 0\n"
        "map info = {UTM, 1, 1, 500000, 4600000, 30, 30, 33, North, WGS-84, units=Meters}\n"
        "band names = {Blue, Green, Red, NIR}\nwavelength = {450, 550, 650, 850}\n")
    cube = open_raster(tmp_path / "scene.hdr", chunks=None)
    assert cube.band_name.values.tolist() == NAMES and "long_name" not in cube.attrs
    np.testing.assert_array_equal(cube.wavelength.values, WL)
    f = read_tif(write_raster(cube, tmp_path / "scene.tif"))
    assert list(f["descriptions"]) == NAMES
    back = open_raster(tmp_path / "scene.tif", chunks=None)
    assert back.band_name.values.tolist() == NAMES
    np.testing.assert_array_equal(back.wavelength.values, WL)
    # a selection of bands keeps its names (a coordinate, not a per-band attribute)
    assert cube.isel(band=[1, 3]).band_name.values.tolist() == ["Green", "NIR"]


# --------------------------------------------------------------------------- region_stats

def label_raster(tmp_path):
    labels = np.zeros(SHAPE[1:], np.uint8)
    labels[:8, :8], labels[:8, 8:], labels[8:, :5] = 1, 2, 3   # the rest is 0 = nodata
    return geotiff(tmp_path / "labels.tif", labels[None], nodata=0), labels


@pytest.mark.parametrize("chunks", ["auto", None])
def test_region_stats_on_a_label_raster_with_nodata_0(tmp_path, chunks):
    cube_raw = dn(np.float32)
    cube = open_raster(geotiff(tmp_path / "cube.tif", cube_raw), chunks=chunks)
    path, labels = label_raster(tmp_path)
    lab = open_raster(path, chunks=chunks).squeeze("band", drop=True)
    assert lab.dtype == np.float32 and np.isnan(lab.values).any()   # masked: NaN where 0
    stats = region_stats(cube, lab, stats=("mean", "count"))
    assert stats.label.values.tolist() == [1, 2, 3]
    for k, label in enumerate((1, 2, 3)):
        sel = labels == label
        assert stats["count"].values[k] == sel.sum()
        np.testing.assert_allclose(stats["mean"].values[k], cube_raw[:, sel].astype(np.float64).mean(axis=1),
                                   rtol=1e-6)
    with_background = region_stats(cube, lab, stats="count", background=None)
    assert with_background.label.values.tolist() == [1, 2, 3]      # NaN is no label, background or not


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
def test_region_stats_refuses_non_integral_labels(lazy):
    cube = np.zeros((2, 4, 4), np.float32)
    labels = np.ones((4, 4), np.float32)
    labels[1, 2] = 2.5
    if lazy:
        cube, labels = dka.from_array(cube, chunks=(2, 2, 2)), dka.from_array(labels, chunks=2)
    with pytest.raises(ValueError, match=r"`labels` must hold integers \(or NaN for no label\); got 2.5"):
        region_stats(cube, labels)


def test_an_integer_array_declaring_its_nodata_is_written_with_it(tmp_path):
    import xarray as xr

    stored = np.array([[[0, 5, 7], [9, 0, 3]]], dtype=np.uint16)
    da = xr.DataArray(stored, dims=("band", "y", "x"), coords={"band": [1], "y": [45.0, 15.0],
                                                                 "x": [15.0, 45.0, 75.0]},
                      attrs={"_FillValue": 0}).rio.write_crs("EPSG:32633")
    write_raster(da, tmp_path / "declared.tif", dtype="uint16")   # its zeros are nodata already: no conflict
    with rasterio.open(tmp_path / "declared.tif") as src:
        assert src.nodata == 0 and src.dtypes[0] == "uint16"
        np.testing.assert_array_equal(src.read(), stored)
