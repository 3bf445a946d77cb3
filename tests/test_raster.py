"""Rasters: open_raster / write_raster round trips and readers of files others wrote, and
the synthetic hyperspectral cube.

Oracles are independent writers and readers: plain rasterio, Spectral Python's ENVI
writer, hand-written ENVI headers with ``numpy.tofile``, and the arrays themselves.
"""
import gc
import os
import warnings

import dask.array as dka
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from sep3d.datasets import ENDMEMBERS, synthetic_cube
from sep3d.io import open_raster, write_raster
from sep3d.io.raster import SUFFIXES

UTM = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4600000.0)
FORMATS = ("tif", "nc", "zarr")


def rio_transform(da):
    """``da.rio.transform()`` without rioxarray 0.19's own affine-3 PendingDeprecationWarning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Use `@` matmul", category=PendingDeprecationWarning)
        return da.rio.transform()


def small_cube(**kw):
    kw.setdefault("wavelengths", [420.0, 480.5, 550.0, 700.0, 1250.0, 2200.0])
    return synthetic_cube((6, 20, 24), seed=3, **kw)


def assert_same_raster(back, cube):
    """Values (NaN positions included), dims, wavelength/fwhm, CRS and transform."""
    assert back.dims == ("band", "y", "x")
    np.testing.assert_array_equal(back.values, cube.values)  # NaN == NaN here
    np.testing.assert_array_equal(back.wavelength.values, cube.wavelength.values)
    assert back.wavelength.attrs["units"] == "nm"
    np.testing.assert_array_equal(back.fwhm.values, cube.fwhm.values)
    np.testing.assert_array_equal(back.x.values, cube.x.values)
    np.testing.assert_array_equal(back.y.values, cube.y.values)
    assert back.rio.crs == cube.rio.crs
    assert rio_transform(back) == rio_transform(cube)


def no_leftovers(folder, expected):
    assert sorted(os.listdir(folder)) == sorted(expected)  # no temporary, no .aux.xml


def save_envi(hdr, array_bands_last, metadata, dtype=np.int16):
    import spectral.io.envi as envi

    with warnings.catch_warnings():
        # spectral 0.25's save_image re-reads the header and leaves that file open
        warnings.simplefilter("ignore", ResourceWarning)
        envi.save_image(str(hdr), array_bands_last, metadata=metadata, dtype=dtype, interleave="bsq",
                        force=True)
        gc.collect()


def write_envi_by_hand(folder, data_band_first, extra_header="", data_name="scene.dat"):
    """A BSQ float32 ENVI pair written with numpy and a text header (no GDAL, no spectral)."""
    bands, lines, samples = data_band_first.shape
    data_band_first.astype("<f4").tofile(folder / data_name)
    header = folder / (os.path.splitext(data_name)[0] + ".hdr")
    header.write_text(
        "ENVI\n"
        f"samples = {samples}\nlines = {lines}\nbands = {bands}\nheader offset = 0\n"
        "file type = ENVI Standard\ndata type = 4\ninterleave = bsq\nbyte order = 0\n"
        "map info = {UTM, 1, 1, 500000, 4600000, 30, 30, 33, North, WGS-84, units=Meters}\n"
        + extra_header
    )
    return folder / data_name, header


# --------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_keeps_values_nan_wavelengths_crs_and_transform(tmp_path, fmt):
    cube, _ = small_cube()
    before = cube.copy(deep=True)
    path = write_raster(cube, tmp_path / f"cube.{fmt}")
    assert path == tmp_path / f"cube.{fmt}"
    no_leftovers(tmp_path, [f"cube.{fmt}"])
    back = open_raster(path)
    assert isinstance(back.data, dka.Array) and back.dtype == np.float32
    assert np.isnan(back.values).any()  # the nodata disc came back as NaN
    assert_same_raster(back, cube)
    assert back.attrs["units"] == "reflectance" and back.attrs["long_name"] == "surface reflectance"
    assert back.rio.nodata is not None and np.isnan(back.rio.nodata)
    back.close()
    xr.testing.assert_identical(cube, before)  # the input is left as it was


def test_geotiff_keeps_wavelengths_as_descriptions_and_tags_for_other_readers(tmp_path):
    cube, _ = small_cube()
    path = write_raster(cube, tmp_path / "cube.tif", blocksize=16)
    with rasterio.open(path) as src:  # rasterio is the independent reader here
        assert src.descriptions == ("420.0 nm", "480.5 nm", "550.0 nm", "700.0 nm", "1250.0 nm", "2200.0 nm")
        assert src.tags(2) == {"wavelength": "480.5", "fwhm": str(float(cube.fwhm[1])), "wavelength_units": "nm"}
        assert src.tags()["wavelength_units"] == "nm"
        assert [float(v) for v in src.tags()["wavelength"].strip("{}").split(",")] == cube.wavelength.values.tolist()
        assert src.profile["tiled"] and (src.profile["blockxsize"], src.profile["blockysize"]) == (16, 16)
        assert src.profile["compress"] == "deflate" and src.dtypes[0] == "float32"
        assert np.isnan(src.nodata) and src.crs.to_epsg() == 32633 and src.transform == UTM
        np.testing.assert_array_equal(src.read(), cube.values)


def test_geotiff_without_compression_or_tiling(tmp_path):
    cube, _ = small_cube()
    path = write_raster(cube, tmp_path / "plain.tiff", tiled=False, compress=None)
    with rasterio.open(path) as src:
        assert not src.profile.get("tiled") and "compress" not in src.profile
    assert_same_raster(open_raster(path, chunks=None), cube)


def test_two_dimensional_index_map_is_written_as_one_band(tmp_path):
    _, truth = small_cube()
    path = write_raster(truth.labels, tmp_path / "labels.tif")
    with rasterio.open(path) as src:
        assert src.count == 1 and src.dtypes[0] == "int32" and src.nodata is None
        np.testing.assert_array_equal(src.read(1), truth.labels.values)
        assert src.transform == UTM
    back = open_raster(path, chunks=None)  # no nodata: nothing masked, the dtype stays
    assert back.dims == ("band", "y", "x") and back.shape == (1, 20, 24) and back.dtype == np.int32
    assert "wavelength" not in back.coords
    np.testing.assert_array_equal(back.values[0], truth.labels.values)


@pytest.mark.parametrize("fmt", ("nc", "zarr"))
def test_two_dimensional_map_round_trips_through_netcdf_and_zarr(tmp_path, fmt):
    _, truth = small_cube()
    back = open_raster(write_raster(truth.labels, tmp_path / f"labels.{fmt}"), chunks=None)
    assert back.shape == (1, 20, 24) and back.dtype == np.int32
    np.testing.assert_array_equal(back.values[0], truth.labels.values)
    assert rio_transform(back) == UTM


def test_integer_map_with_nodata_writes_the_given_code(tmp_path):
    _, truth = small_cube()
    path = write_raster(truth.labels, tmp_path / "labels.tif", nodata=0)
    with rasterio.open(path) as src:
        assert src.nodata == 0
    back = open_raster(path, chunks=None)
    np.testing.assert_array_equal(np.isnan(back.values[0]), truth.labels.values == 0)


def test_float_cube_written_with_a_nodata_value_replaces_nan(tmp_path):
    cube, _ = small_cube()
    path = write_raster(cube, tmp_path / "cube.tif", nodata=-1.0)
    with rasterio.open(path) as src:
        assert src.nodata == -1.0
        raw = src.read()
    np.testing.assert_array_equal(raw == -1.0, np.isnan(cube.values))
    assert_same_raster(open_raster(path, chunks=None), cube)


@pytest.mark.parametrize("fmt", FORMATS)
def test_dask_cube_is_written_chunk_by_chunk_never_whole(tmp_path, fmt):
    cube, _ = synthetic_cube((5, 40, 48), seed=1)

    class Guarded:  # an array that refuses to be read whole and records each read
        def __init__(self, values):
            self.values, self.shape, self.dtype, self.ndim = values, values.shape, values.dtype, values.ndim
            self.reads = []

        def __getitem__(self, key):
            out = self.values[key]
            assert out.size < self.values.size, "the whole cube was read at once"
            self.reads.append(out.shape)
            return out

    source = Guarded(cube.values)
    lazy = cube.copy(data=dka.from_array(source, chunks=(5, 16, 16), meta=np.empty((0, 0, 0), np.float32)))
    back = open_raster(write_raster(lazy, tmp_path / f"lazy.{fmt}"), chunks=None)
    assert len(source.reads) == 9 and max(np.prod(s) for s in source.reads) == 5 * 16 * 16
    assert_same_raster(back, cube)


def test_irregular_dask_chunks_are_regularised_for_zarr(tmp_path):
    cube, _ = small_cube()
    irregular = cube.chunk({"band": -1, "y": (4, 12, 4), "x": 24})
    assert_same_raster(open_raster(write_raster(irregular, tmp_path / "c.zarr"), chunks=None), cube)


def test_write_replaces_an_existing_target_and_a_failed_write_leaves_it(tmp_path):
    cube, truth = small_cube()
    path = tmp_path / "cube.tif"
    write_raster(truth.labels.astype(np.float32), path)
    write_raster(cube, path)  # replaced
    assert open_raster(path).sizes["band"] == 6
    with pytest.raises(ValueError, match="`dtype` int16 has no NaN"):
        write_raster(cube, path, dtype="int16")  # refused before anything is written
    assert_same_raster(open_raster(path, chunks=None), cube)  # still the old file
    no_leftovers(tmp_path, ["cube.tif"])


# --------------------------------------------------------------------------- other writers

def test_envi_from_spectral_python_gives_nm_wavelengths_and_nan_for_the_ignore_value(tmp_path):
    rng = np.random.default_rng(0)
    bands_last = rng.integers(0, 10000, (5, 6, 3)).astype(np.int16)  # (lines, samples, bands)
    bands_last[1, 2, :] = -9999
    bands_last[4, 0, 1] = -9999
    save_envi(tmp_path / "scene.hdr", bands_last, {
        "wavelength": [0.45, 0.55, 0.865], "wavelength units": "Micrometers", "fwhm": [0.02, 0.03, 0.04],
        "data ignore value": -9999, "description": "spectral test",
        "map info": ["UTM", "1", "1", "500000", "4600000", "30", "30", "33", "North", "WGS-84", "units=Meters"]})
    expected = np.moveaxis(bands_last, -1, 0).astype(np.float32)
    expected[expected == -9999] = np.nan
    for name in ("scene.hdr", "scene.img"):  # the header or the data file
        cube = open_raster(tmp_path / name)
        assert cube.dims == ("band", "y", "x") and cube.dtype == np.float32
        assert cube.chunks[0] == (3,)
        np.testing.assert_array_equal(cube.values, expected)
        np.testing.assert_allclose(cube.wavelength.values, [450.0, 550.0, 865.0], rtol=1e-12)
        np.testing.assert_allclose(cube.fwhm.values, [20.0, 30.0, 40.0], rtol=1e-12)
        assert cube.rio.crs.to_epsg() == 32633 and rio_transform(cube) == UTM
        assert cube.rio.encoded_nodata == -9999 and cube.encoding["dtype"] == "int16"
        assert cube.attrs == {"description": "spectral test"}
        cube.close()


def test_envi_int16_written_back_as_geotiff_as_float32_or_as_int16_when_asked(tmp_path):
    bands_last = np.arange(5 * 6 * 3, dtype=np.int16).reshape(5, 6, 3)
    bands_last[0, 0, :] = -9999
    save_envi(tmp_path / "scene.hdr", bands_last, {
        "wavelength": [450, 550, 650], "wavelength units": "Nanometers", "data ignore value": -9999,
        "map info": ["UTM", "1", "1", "500000", "4600000", "30", "30", "33", "North", "WGS-84", "units=Meters"]})
    cube = open_raster(tmp_path / "scene.hdr")
    with rasterio.open(write_raster(cube, tmp_path / "float.tif")) as src:  # the values it holds: float32
        assert src.dtypes == ("float32",) * 3 and np.isnan(src.nodata)
        np.testing.assert_array_equal(src.read(), cube.values)
    path = write_raster(cube, tmp_path / "scene.tif", dtype="int16")  # the source's nodata code by default
    with rasterio.open(path) as src:
        assert src.dtypes == ("int16",) * 3 and src.nodata == -9999
        np.testing.assert_array_equal(src.read(), np.moveaxis(bands_last, -1, 0))
    back = open_raster(path, chunks=None)
    np.testing.assert_array_equal(back.wavelength.values, [450.0, 550.0, 650.0])
    np.testing.assert_array_equal(back.values, cube.values)
    cube.close()


@pytest.mark.parametrize("fmt", ("nc", "zarr"))
def test_envi_int16_written_to_netcdf_and_zarr_as_int16_when_asked_keeps_its_fill(tmp_path, fmt):
    bands_last = np.arange(5 * 6 * 2, dtype=np.int16).reshape(5, 6, 2)
    bands_last[2, 3, :] = -9999
    save_envi(tmp_path / "scene.hdr", bands_last, {
        "wavelength": [0.5, 0.6], "wavelength units": "um", "data ignore value": -9999,
        "map info": ["UTM", "1", "1", "500000", "4600000", "30", "30", "33", "North", "WGS-84", "units=Meters"]})
    cube = open_raster(tmp_path / "scene.hdr", chunks=None)
    path = write_raster(cube, tmp_path / f"scene.{fmt}", dtype="int16")
    raw = xr.open_dataset(path, engine="h5netcdf" if fmt == "nc" else "zarr", mask_and_scale=False)
    assert raw[cube.name or "raster"].dtype == np.int16
    assert raw[cube.name or "raster"].attrs["_FillValue"] == -9999
    raw.close()
    back = open_raster(path, chunks=None)
    np.testing.assert_array_equal(back.values, cube.values)
    np.testing.assert_array_equal(back.wavelength.values, [500.0, 600.0])
    unmasked = open_raster(path, masked=False, chunks=None)
    assert unmasked.dtype == np.int16
    np.testing.assert_array_equal(unmasked.values, np.moveaxis(bands_last, -1, 0))


@pytest.mark.parametrize(("units_line", "values", "expected"), [
    ("wavelength units = Nanometers\n", "450, 550", [450.0, 550.0]),
    ("wavelength units = Micrometers\n", "0.45, 0.55", [450.0, 550.0]),
    ("", "450, 550", [450.0, 550.0]),         # no units, values > 100: nm
    ("", "0.45, 0.55", [450.0, 550.0]),       # no units, small values: micrometres
    ("wavelength units = Unknown\n", "0.45, 0.55", [450.0, 550.0]),
    ("wavelength units = Wavenumber\n", "22222, 18181", None),  # not a length: no coordinate
])
def test_envi_wavelength_units(tmp_path, units_line, values, expected):
    data = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5)
    _, header = write_envi_by_hand(tmp_path, data, f"wavelength = {{{values}}}\n{units_line}")
    cube = open_raster(header, chunks=None)
    np.testing.assert_array_equal(cube.values, data)
    if expected is None:
        assert "wavelength" not in cube.coords
    else:
        np.testing.assert_allclose(cube.wavelength.values, expected, rtol=1e-12)


def test_envi_without_wavelengths_and_a_multiline_list(tmp_path):
    data = np.ones((3, 4, 5), np.float32)
    _, header = write_envi_by_hand(tmp_path, data)
    plain = open_raster(header, chunks=None)
    assert "wavelength" not in plain.coords and plain.attrs == {}
    header.write_text(header.read_text() + "wavelength = {\n 400.0,\n 500.0,\n 600.0}\n")
    np.testing.assert_array_equal(open_raster(header, chunks=None).wavelength.values, [400.0, 500.0, 600.0])


def test_envi_band_names_become_a_band_name_coordinate(tmp_path):
    data = np.zeros((2, 4, 5), np.float32)
    _, header = write_envi_by_hand(tmp_path, data, "band names = {Blue, Red}\nwavelength = {450, 650}\n")
    cube = open_raster(header, chunks=None)
    np.testing.assert_array_equal(cube.wavelength.values, [450.0, 650.0])
    assert cube.band_name.values.tolist() == ["Blue", "Red"] and "long_name" not in cube.attrs


def test_geotiff_from_plain_rasterio_with_nodata_and_descriptions(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.integers(0, 3000, (3, 5, 6)).astype(np.int16)
    data[:, 1, 2] = -1
    transform = Affine(0.1, 0.0, 10.0, 0.0, -0.1, 50.0)
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", width=6, height=5, count=3, dtype="int16", nodata=-1,
                       crs="EPSG:4326", transform=transform) as dst:
        dst.write(data)
        for i, text in enumerate(("490 nm", "560 nm", "665 nm"), start=1):
            dst.set_band_description(i, text)
    cube = open_raster(path, chunks=None)
    assert isinstance(cube.data, np.ndarray) and cube.dtype == np.float32
    expected = data.astype(np.float32)
    expected[data == -1] = np.nan
    np.testing.assert_array_equal(cube.values, expected)
    np.testing.assert_array_equal(cube.wavelength.values, [490.0, 560.0, 665.0])
    assert "fwhm" not in cube.coords and "long_name" not in cube.attrs
    assert cube.rio.crs.to_epsg() == 4326 and rio_transform(cube) == transform
    raw = open_raster(path, masked=False, chunks=None)
    assert raw.dtype == np.int16 and raw.rio.nodata == -1
    np.testing.assert_array_equal(raw.values, data)


def test_geotiff_dataset_level_wavelength_tag_in_micrometres(tmp_path):
    path = tmp_path / "tagged.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=2, dtype="float32",
                       crs="EPSG:32633", transform=UTM) as dst:
        dst.write(np.zeros((2, 4, 4), np.float32))
        dst.update_tags(wavelength="{0.45, 0.55}", wavelength_units="Micrometers")
    cube = open_raster(path, chunks=None)
    np.testing.assert_allclose(cube.wavelength.values, [450.0, 550.0], rtol=1e-12)
    assert "wavelength" not in cube.attrs and "wavelength_units" not in cube.attrs


def test_geotiff_without_wavelength_information_has_no_coordinate(tmp_path):
    path = tmp_path / "bare.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=2, dtype="uint8",
                       crs="EPSG:32633", transform=UTM) as dst:
        dst.write(np.ones((2, 4, 4), np.uint8))
    cube = open_raster(path, chunks=None)
    assert "wavelength" not in cube.coords and cube.dtype == np.uint8


def test_micrometre_coordinate_is_written_in_nm(tmp_path):
    cube, _ = small_cube()
    um = cube.assign_coords(wavelength=("band", cube.wavelength.values / 1000, {"units": "um"}))
    back = open_raster(write_raster(um, tmp_path / "um.tif"), chunks=None)
    np.testing.assert_allclose(back.wavelength.values, cube.wavelength.values, rtol=1e-12)


# --------------------------------------------------------------------------- chunks

def test_default_chunks_keep_the_band_axis_whole(tmp_path):
    cube, _ = synthetic_cube((9, 40, 40))
    path = write_raster(cube, tmp_path / "cube.tif", blocksize=16)
    lazy = open_raster(path)
    assert isinstance(lazy.data, dka.Array) and lazy.chunks[0] == (9,)
    assert open_raster(path, chunks={"y": 16, "x": 16}).chunks == ((9,), (16, 16, 8), (16, 16, 8))
    assert open_raster(path, chunks={"band": 3}).chunks[0] == (3, 3, 3)
    renamed = open_raster(path, band_dim="spectral", chunks={"spectral": 4})
    assert renamed.dims == ("spectral", "y", "x") and renamed.chunks[0] == (4, 4, 1)
    assert "wavelength" in renamed.coords and renamed.wavelength.dims == ("spectral",)
    memory = open_raster(path, chunks=None)
    assert type(memory.data) is np.ndarray
    np.testing.assert_array_equal(memory.values, lazy.values)


@pytest.mark.parametrize("fmt", ("nc", "zarr"))
def test_netcdf_and_zarr_chunks_follow_the_same_rules(tmp_path, fmt):
    cube, _ = synthetic_cube((7, 24, 24))
    path = write_raster(cube, tmp_path / f"cube.{fmt}", blocksize=16)
    assert open_raster(path).chunks[0] == (7,)
    assert open_raster(path, chunks={"y": 16}).chunks[:2] == ((7,), (16, 8))  # along the stored chunks
    assert type(open_raster(path, chunks=None).data) is np.ndarray


# --------------------------------------------------------------------------- errors

def test_open_raster_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such raster: .*missing.tif"):
        open_raster(tmp_path / "missing.tif")
    with pytest.raises(FileNotFoundError, match="no such ENVI header: .*missing.hdr"):
        open_raster(tmp_path / "missing.hdr")
    (tmp_path / "lonely.hdr").write_text("ENVI\nsamples = 2\n")
    with pytest.raises(FileNotFoundError, match="no ENVI data file next to the header .*lonely.hdr"):
        open_raster(tmp_path / "lonely.hdr")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"unsupported raster .*notes.txt: the suffix must be one of \['.hdr', '.nc'"):
        open_raster(tmp_path / "notes.txt")
    (tmp_path / "file.zarr").write_text("not a folder")
    with pytest.raises(ValueError, match="a Zarr store is a folder"):
        open_raster(tmp_path / "file.zarr")
    cube, _ = small_cube()
    path = write_raster(cube, tmp_path / "cube.tif")
    with pytest.raises(TypeError, match="`chunks` must be 'auto', None or a dict; got 5"):
        open_raster(path, chunks=5)
    with pytest.raises(TypeError, match="`band_dim` must be a non-empty str; got ''"):
        open_raster(path, band_dim="")
    assert set(SUFFIXES) == {".tif", ".tiff", ".hdr", ".nc", ".zarr"}


def test_open_raster_rejects_stores_that_are_not_one_raster(tmp_path):
    grid = {"y": np.arange(4.0), "x": np.arange(5.0)}
    two = xr.Dataset({"a": (("y", "x"), np.zeros((4, 5))), "b": (("y", "x"), np.ones((4, 5)))}, coords=grid)
    two.to_zarr(tmp_path / "two.zarr", zarr_format=2, consolidated=True)
    with pytest.raises(ValueError, match=r"must hold one raster variable; found \['a', 'b'\]"):
        open_raster(tmp_path / "two.zarr")
    four = xr.Dataset({"a": (("t", "band", "y", "x"), np.zeros((2, 3, 4, 5)))}, coords=grid)
    four.to_zarr(tmp_path / "four.zarr", zarr_format=2, consolidated=True)
    with pytest.raises(ValueError, match=r"must be \(band, y, x\) or \(y, x\); got dims \('t', 'band', 'y', 'x'\)"):
        open_raster(tmp_path / "four.zarr")
    empty = xr.Dataset({"a": (("band", "y", "x"), np.zeros((0, 4, 5)))}, coords=grid)
    empty.to_zarr(tmp_path / "empty.zarr", zarr_format=2, consolidated=True)
    with pytest.raises(ValueError, match=r"variable 'a' has no bands \(dims \('band', 'y', 'x'\), shape \(0, 4, 5\)\)"):
        open_raster(tmp_path / "empty.zarr")


def test_write_raster_errors(tmp_path):
    cube, _ = small_cube()
    with pytest.raises(TypeError, match="`da` must be an xarray.DataArray; got ndarray"):
        write_raster(cube.values, tmp_path / "x.tif")
    with pytest.raises(ValueError, match=r"`path` must end in one of \['.tif', '.tiff', '.nc', '.zarr'\]; got 'x.hdr'"):
        write_raster(cube, tmp_path / "x.hdr")
    with pytest.raises(ValueError, match=r"`da` must be \(band, y, x\) or \(y, x\); got dims \('x',\)"):
        write_raster(cube.isel(band=0, y=0), tmp_path / "x.tif")
    for bad in (0, 100, True, 16.0):
        with pytest.raises(ValueError, match="`blocksize` must be a positive multiple of 16"):
            write_raster(cube, tmp_path / "x.tif", blocksize=bad)
    with pytest.raises(ValueError, match=r"`nodata` 100000 does not fit `dtype` int16 \[-32768, 32767\]"):
        write_raster(cube, tmp_path / "x.tif", dtype="int16", nodata=100000)
    with pytest.raises(ValueError, match=r"`nodata` 0.5 does not fit `dtype` int16 \[-32768, 32767\]"):
        write_raster(cube, tmp_path / "x.tif", dtype="int16", nodata=0.5)
    no_leftovers(tmp_path, [])


def test_integral_float_data_written_as_int16_when_asked_with_a_nodata_code(tmp_path):
    cube, _ = small_cube()
    scaled = (cube * 10000).round()
    scaled.encoding = {"dtype": "int16"}  # an encoding is not a request: float32 by default
    with rasterio.open(write_raster(scaled, tmp_path / "float.tif")) as src:
        assert src.dtypes[0] == "float32" and np.isnan(src.nodata)
    path = write_raster(scaled, tmp_path / "int.tif", dtype="int16", nodata=-9999)
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "int16" and src.nodata == -9999
        raw = src.read()
    np.testing.assert_array_equal(raw == -9999, np.isnan(cube.values))
    np.testing.assert_array_equal(open_raster(path, chunks=None).values, scaled.values)


# --------------------------------------------------------------------------- synthetic_cube

def test_synthetic_cube_layout_and_georeferencing():
    cube, truth = synthetic_cube((8, 16, 20), seed=0)
    assert cube.name == "reflectance" and cube.dims == ("band", "y", "x") and cube.dtype == np.float32
    np.testing.assert_array_equal(cube.band.values, np.arange(1, 9))
    np.testing.assert_allclose(cube.wavelength.values, np.linspace(400, 2500, 8))
    assert cube.wavelength.dtype == np.float64 and cube.wavelength.attrs["units"] == "nm"
    assert cube.attrs["units"] == "reflectance"
    assert cube.rio.crs.to_epsg() == 32633 and rio_transform(cube) == UTM
    np.testing.assert_array_equal(cube.x.values, 500000.0 + 15.0 + 30.0 * np.arange(20))
    np.testing.assert_array_equal(cube.y.values, 4600000.0 - 15.0 - 30.0 * np.arange(16))
    assert np.isnan(cube.rio.nodata)
    assert [str(e) for e in truth.endmember.values] == list(ENDMEMBERS) == ["vegetation", "soil", "water"]
    assert truth.abundance.dims == ("endmember", "y", "x") and truth.abundance.dtype == np.float32
    assert truth.endmembers.dims == ("endmember", "band") and truth.endmembers.dtype == np.float64
    assert truth.labels.dims == ("y", "x") and truth.labels.dtype == np.int32
    for name in ("wavelength", "y", "x"):
        np.testing.assert_array_equal(truth[name].values, cube[name].values)
    assert truth.rio.crs == cube.rio.crs
    other, _ = synthetic_cube((3, 8, 8), crs="EPSG:4326", pixel_size=(0.5, 0.25), origin=(10.0, 50.0))
    assert rio_transform(other) == Affine(0.5, 0.0, 10.0, 0.0, -0.25, 50.0)


def test_synthetic_cube_abundances_mixing_noise_and_labels():
    noise = 0.004
    cube, truth = synthetic_cube((30, 32, 32), seed=5, noise=noise)
    ab = truth.abundance.values.astype(np.float64)
    assert (ab >= 0).all()
    np.testing.assert_allclose(ab.sum(axis=0), 1.0, atol=1e-6)
    for k in range(3):  # each endmember dominates somewhere
        assert (truth.labels.values == k + 1).sum() > 0.02 * 32 * 32
    hole = np.isnan(cube.values)
    assert (hole == hole[0]).all()  # nodata in all bands or in none
    frac = hole[0].mean()
    assert 0.02 < frac < 0.09
    assert not hole[0][[0, 0, -1, -1], [0, -1, 0, -1]].any()  # corners are valid
    np.testing.assert_array_equal(truth.labels.values == 0, hole[0])
    dominant = 1 + ab.argmax(axis=0)
    np.testing.assert_array_equal(truth.labels.values[~hole[0]], dominant[~hole[0]])
    mixed = np.einsum("eyx,eb->byx", ab, truth.endmembers.values)
    residual = (cube.values - mixed)[~hole]
    assert abs(residual.mean()) < 0.1 * noise
    assert abs(residual.std() / noise - 1) < 0.05
    clean, _ = synthetic_cube((30, 32, 32), seed=5, noise=0.0)
    np.testing.assert_allclose(clean.values[~hole], mixed[~hole], rtol=1e-6, atol=1e-7)


def test_synthetic_cube_endmember_shapes():
    wl = np.array([450.0, 550.0, 670.0, 800.0, 1000.0, 1450.0, 1650.0, 1940.0, 2200.0, 2450.0])
    _, truth = synthetic_cube((10, 8, 8), wavelengths=wl)
    veg, soil, water = truth.endmembers.values
    assert (truth.endmembers.values > 0).all() and (truth.endmembers.values < 1).all()
    assert veg[1] > veg[0] and veg[1] > veg[2]       # green bump, red absorption
    assert veg[3] > 4 * veg[2] and 0.4 < veg[4] < 0.5  # red edge to the NIR plateau
    assert veg[5] < veg[6] and veg[7] < veg[8] and veg[6] < veg[4]  # water dips, lower SWIR
    assert 0.08 < soil[0] < soil[4] < soil[9] < 0.4
    assert 0.04 < water[0] < 0.07 and (water[3:] < 0.02).all()


def test_synthetic_cube_is_reproducible_and_takes_uneven_wavelengths():
    a, ta = synthetic_cube((5, 12, 12), seed=7)
    b, tb = synthetic_cube((5, 12, 12), seed=7)
    c, _ = synthetic_cube((5, 12, 12), seed=8)
    np.testing.assert_array_equal(a.values, b.values)
    xr.testing.assert_identical(ta, tb)
    assert not np.array_equal(np.nan_to_num(a.values), np.nan_to_num(c.values))
    uneven = [400.0, 410.0, 550.0, 552.5, 1600.0]
    cube, truth = synthetic_cube((5, 12, 12), wavelengths=uneven)
    np.testing.assert_array_equal(cube.wavelength.values, uneven)
    _, even = synthetic_cube((3, 12, 12), wavelengths=[400.0, 550.0, 1600.0])
    # spectra are functions of wavelength: the same wavelength gives the same value
    np.testing.assert_array_equal(truth.endmembers.values[:, [0, 2, 4]], even.endmembers.values)


def test_synthetic_cube_without_nodata_and_dask_backed():
    cube, truth = synthetic_cube((6, 16, 16), nodata=False)
    assert not np.isnan(cube.values).any() and (truth.labels.values > 0).all()
    lazy, _ = synthetic_cube((6, 16, 16), nodata=False, chunks="auto")
    assert isinstance(lazy.data, dka.Array) and lazy.chunks[0] == (6,)
    np.testing.assert_array_equal(lazy.values, cube.values)
    tiles, _ = synthetic_cube((6, 16, 16), chunks={"y": 8, "x": 8})
    assert tiles.chunks == ((6,), (8, 8), (8, 8)) and tiles.rio.crs.to_epsg() == 32633


def test_synthetic_cube_errors():
    with pytest.raises(ValueError, match=r"`shape` must be three sizes \(band, y, x\); got \(4, 4\)"):
        synthetic_cube((4, 4))
    with pytest.raises(TypeError, match="`shape` must be a positive int; got 4.5"):
        synthetic_cube((4.5, 8, 8))
    with pytest.raises(ValueError, match="`shape` must be a positive int; got 0"):
        synthetic_cube((0, 8, 8))
    with pytest.raises(ValueError, match=r"`shape` must have at least 4 x 4 pixels; got \(3, 3, 8\)"):
        synthetic_cube((3, 3, 8))
    with pytest.raises(ValueError, match=r"`wavelengths` must be 1-D with one value per band \(3\); got shape \(2,\)"):
        synthetic_cube((3, 8, 8), wavelengths=[400, 500])
    with pytest.raises(ValueError, match=r"`wavelengths` must be finite and > 0 \(nm\)"):
        synthetic_cube((2, 8, 8), wavelengths=[-1, 500])
    with pytest.raises(ValueError, match="`wavelengths` must be strictly increasing"):
        synthetic_cube((3, 8, 8), wavelengths=[400, 500, 500])
    with pytest.raises(ValueError, match="`noise` must be finite and >= 0; got -0.1"):
        synthetic_cube((3, 8, 8), noise=-0.1)
    with pytest.raises(ValueError, match="`pixel_size` must be finite and > 0"):
        synthetic_cube((3, 8, 8), pixel_size=0)
    with pytest.raises(ValueError, match="`chunks` must be None, 'auto' or a dict; got 4"):
        synthetic_cube((3, 8, 8), chunks=4)


def test_dask_cube_written_to_geotiff_under_a_distributed_client(tmp_path):
    import distributed

    cube, _ = synthetic_cube((4, 24, 32), seed=2, chunks={"y": 16, "x": 16})
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None):
        path = write_raster(cube, tmp_path / "cube.tif")  # a threading.Lock would not pickle
    assert_same_raster(open_raster(path, chunks=None), cube.compute())


def test_float_data_written_as_integers_is_refused_not_rounded_or_clipped(tmp_path):
    cube, _ = synthetic_cube((2, 8, 8), nodata=False)
    data = np.zeros((2, 8, 8), np.float32)
    data[0, 0, :2] = [12.0, -3.0]
    data[1, 1, 1] = np.nan
    floats = cube.copy(data=data)
    for value, message in ((12.7, r"`dtype` int16 cannot hold non-integer values \(e.g. 12.699\d*"),
                           (1e6, r"`dtype` int16 holds \[-32768, 32767\]; found values in \[-3.0, 1000000.0\]")):
        floats.values[0, 0, 2] = value
        with pytest.raises(ValueError, match=message):
            write_raster(floats, tmp_path / "int.tif", dtype="int16", nodata=-9999)
    no_leftovers(tmp_path, [])
    floats.values[0, 0, 2] = 5.0
    with rasterio.open(write_raster(floats, tmp_path / "int.tif", dtype="int16", nodata=-9999)) as src:
        raw = src.read()
    np.testing.assert_array_equal(raw[0, 0, :3], [12, -3, 5])
    assert raw[1, 1, 1] == -9999 and raw.dtype == np.int16
