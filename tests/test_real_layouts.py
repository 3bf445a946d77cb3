"""Fixtures that look like real data: geometry and layouts other scanners and sensors write.

CT: oblique (rotated), LPS-flipped and coronal (permuted-axis) direction cosines with
anisotropic spacing and a non-zero origin, through every reader and writer of
:mod:`sep3d.io.ct` (.nrrd, .nhdr, .mhd, .mha, .nii.gz; ``from_sitk``/``to_sitk``;
``write_image(..., like=)`` for 3-D and 4-D) and through a pipeline's NRRD and Zarr
sinks. Rasters: ENVI cubes in BSQ/BIL/BIP, little- and big-endian, with a header
offset, ignore value, per-band gains and wavelengths; south-up GeoTIFFs with
scale/offset and nodata, filtered and written back.

Oracles: the geometry the test itself builds (a rotation matrix in NumPy, headers written
by hand), SimpleITK reading the written files, Spectral Python's ENVI reader, rasterio,
raw bytes written with ``numpy.tofile``, and scipy.ndimage in float64 for filter values.
Never sep3d reading back what sep3d wrote.
"""
import gc
import warnings

import numpy as np
import pytest
import rasterio
import scipy.ndimage as ndi
import SimpleITK as sitk
import zarr
from affine import Affine
from rasterio.crs import CRS

import sep3d  # noqa: F401  (registers the xarray accessor)
from conftest import assert_close, inprocess_client
from sep3d import pipeline
from sep3d.io import ct, open_raster, write_raster

# --------------------------------------------------------------------------- CT geometry


def rotation(axis, degrees):
    """A right-handed rotation about `axis` (0 = x, 1 = y, 2 = z) in physical (x, y, z) space."""
    t = np.deg2rad(degrees)
    c, s = np.cos(t), np.sin(t)
    m = np.eye(3)
    i, j = [k for k in range(3) if k != axis]
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


# SimpleITK direction matrices: column k is the physical direction of image axis k (x, y, z)
DIRECTIONS = {
    "oblique": rotation(2, 20.0) @ rotation(0, 10.0),  # 20 degrees about z after 10 about x
    "lps-flipped": np.diag([-1.0, -1.0, 1.0]),  # an RAS-identity scan seen in LPS
    # coronal acquisition (permuted axes): columns run right->left (+x), rows superior->inferior
    # (-z), slices anterior->posterior (+y)
    "coronal": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}
SPACING_XYZ = (0.68, 0.93, 2.5)  # anisotropic, SimpleITK order
ORIGIN_XYZ = (-120.25, 33.5, -410.125)
SHAPE_ZYX = (5, 6, 7)  # every axis a different length: a transposed axis changes the shape
# NIfTI stores direction, spacing and origin as float32 (qform/sform, pixdim)
GEOMETRY_ATOL = {".nrrd": 1e-12, ".nhdr": 1e-12, ".mhd": 1e-12, ".mha": 1e-12, ".nii.gz": 2e-6}


def test_directions_are_proper_rotations():
    for name, d in DIRECTIONS.items():
        np.testing.assert_allclose(d @ d.T, np.eye(3), atol=1e-15, err_msg=name)
        assert np.linalg.det(d) == pytest.approx(1.0, abs=1e-15), name
    assert not np.allclose(np.abs(DIRECTIONS["oblique"]), np.round(np.abs(DIRECTIONS["oblique"])))


def voxels(dtype=np.int16, shape=SHAPE_ZYX, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return (rng.standard_normal(shape) * 100).astype(dtype)
    return rng.integers(-1024, 3000, size=shape).astype(dtype)


def source_image(direction, array=None):
    """A SimpleITK image with the test geometry, built with SimpleITK's own setters."""
    image = sitk.GetImageFromArray(voxels() if array is None else array)
    image.SetSpacing(SPACING_XYZ)
    image.SetOrigin(ORIGIN_XYZ)
    image.SetDirection(direction.ravel().tolist())
    return image


def assert_geometry(image, direction, atol=1e-12, spacing=SPACING_XYZ, origin=ORIGIN_XYZ):
    """Spacing, origin and the full direction matrix of `image` against the expected ones."""
    assert image.GetDimension() == len(spacing)
    np.testing.assert_allclose(image.GetSpacing(), spacing, rtol=0, atol=atol * max(spacing))
    np.testing.assert_allclose(image.GetOrigin(), origin, rtol=0, atol=atol * max(map(abs, origin)))
    n = image.GetDimension()
    np.testing.assert_allclose(np.reshape(image.GetDirection(), (n, n)), direction, rtol=0, atol=atol)


def _num(value):
    return repr(float(value))


def write_nrrd_by_hand(path, array, direction, *, space="left-posterior-superior", endian="little"):
    """An attached-data raw NRRD: header text, a blank line, the voxels (x fastest)."""
    flip = np.diag([-1.0, -1.0, 1.0]) if space == "right-anterior-superior" else np.eye(3)
    d, origin = flip @ direction, flip @ np.array(ORIGIN_XYZ)
    vectors = " ".join("(" + ",".join(_num(d[r, k] * SPACING_XYZ[k]) for r in range(3)) + ")" for k in range(3))
    nrrd_type = {"int16": "short", "float32": "float"}[array.dtype.name]
    header = (f"NRRD0004\ntype: {nrrd_type}\ndimension: 3\nspace: {space}\n"
              f"sizes: {' '.join(str(n) for n in reversed(array.shape))}\n"
              f"space directions: {vectors}\nkinds: domain domain domain\n"
              f"endian: {endian}\nencoding: raw\nspace origin: ({','.join(_num(o) for o in origin)})\n\n")
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(array.astype(array.dtype.newbyteorder("<" if endian == "little" else ">")).tobytes())


def write_mhd_by_hand(path, array, direction, *, msb=False, header_size=64):
    """A MetaImage header and a raw file with `header_size` junk bytes before the voxels."""
    raw = path.with_suffix(".raw")
    with open(raw, "wb") as f:
        f.write(b"\xab" * header_size)
        f.write(array.astype(array.dtype.newbyteorder(">" if msb else "<")).tobytes())
    element = {"int16": "MET_SHORT", "float32": "MET_FLOAT"}[array.dtype.name]
    path.write_text(
        "ObjectType = Image\nNDims = 3\nBinaryData = True\n"
        f"BinaryDataByteOrderMSB = {msb}\n"
        # MetaIO lists the direction of each image axis in turn: the columns of the matrix
        f"TransformMatrix = {' '.join(_num(v) for v in direction.T.ravel())}\n"
        f"Offset = {' '.join(_num(o) for o in ORIGIN_XYZ)}\n"
        f"ElementSpacing = {' '.join(_num(s) for s in SPACING_XYZ)}\n"
        f"DimSize = {' '.join(str(n) for n in reversed(array.shape))}\n"
        f"HeaderSize = {header_size}\nElementType = {element}\nElementDataFile = {raw.name}\n")


@pytest.mark.parametrize("geometry", sorted(DIRECTIONS))
@pytest.mark.parametrize("layout", ["nrrd-lps-little", "nrrd-ras-big", "mhd-little", "mhd-msb"])
def test_read_image_of_hand_written_headers_gives_full_geometry_and_voxels(tmp_path, geometry, layout):
    # oracle: the header text and raw bytes written here with numpy, not by SimpleITK
    direction = DIRECTIONS[geometry]
    array = voxels(np.int16 if "little" in layout else np.float32)
    if layout.startswith("nrrd"):
        path = tmp_path / "scan.nrrd"
        ras = "ras" in layout
        write_nrrd_by_hand(path, array, direction, space="right-anterior-superior" if ras else
                           "left-posterior-superior", endian="big" if "big" in layout else "little")
    else:
        path = tmp_path / "scan.mhd"
        write_mhd_by_hand(path, array, direction, msb="msb" in layout)
    image = ct.read_image(path)
    assert_geometry(image, direction)  # in LPS whatever space the header used
    got, spacing = ct.from_sitk(image)
    assert got.dtype == array.dtype and got.shape == SHAPE_ZYX
    np.testing.assert_array_equal(got, array)
    assert spacing == pytest.approx(SPACING_XYZ[::-1], rel=1e-12)


@pytest.mark.parametrize("geometry", sorted(DIRECTIONS))
def test_to_sitk_with_like_copies_spacing_origin_and_every_direction_cosine(geometry):
    direction = DIRECTIONS[geometry]
    src = source_image(direction)
    filtered = voxels(np.float32, seed=1)
    image = ct.to_sitk(filtered, like=src)
    assert_geometry(image, direction, atol=0)  # copied, not recomputed
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image), filtered)
    # the physical point of the last voxel: origin + D @ (index * spacing), computed here
    index = np.array(SHAPE_ZYX[::-1]) - 1
    expected = np.array(ORIGIN_XYZ) + direction @ (index * np.array(SPACING_XYZ))
    np.testing.assert_allclose(image.TransformIndexToPhysicalPoint(index.tolist()), expected, rtol=0, atol=1e-12)
    # without `like`: spacing given in array order lands reversed, the direction stays identity
    plain = ct.to_sitk(filtered, spacing=SPACING_XYZ[::-1])
    assert plain.GetSpacing() == SPACING_XYZ and plain.GetDirection() == tuple(np.eye(3).ravel())


@pytest.mark.parametrize("geometry", sorted(DIRECTIONS))
@pytest.mark.parametrize("suffix", sorted(GEOMETRY_ATOL))
@pytest.mark.parametrize("what", ["array-like", "sitk-image"])
def test_write_image_keeps_full_geometry_in_every_format(tmp_path, geometry, suffix, what):
    # oracle: SimpleITK's own reader on the file, against the geometry built above
    direction = DIRECTIONS[geometry]
    src = source_image(direction)
    filtered = voxels(np.float32, seed=2)
    if what == "array-like":
        path = ct.write_image(filtered, tmp_path / f"out{suffix}", like=src)
    else:
        image = sitk.GetImageFromArray(filtered)
        image.CopyInformation(src)
        path = ct.write_image(image, tmp_path / f"out{suffix}")
    back = sitk.ReadImage(str(path))
    assert_geometry(back, direction, atol=GEOMETRY_ATOL[suffix])
    assert back.GetPixelIDValue() == sitk.sitkFloat32
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), filtered)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha", ".nii.gz"])
def test_write_image_like_a_four_d_series_keeps_its_four_by_four_direction(tmp_path, suffix):
    direction = np.eye(4)
    direction[:3, :3] = DIRECTIONS["oblique"]
    spacing, origin = SPACING_XYZ + (1.5,), ORIGIN_XYZ + (4.0,)
    src = sitk.Image([7, 6, 5, 3], sitk.sitkInt16)  # x, y, z, t
    src.SetSpacing(spacing)
    src.SetOrigin(origin)
    src.SetDirection(direction.ravel().tolist())
    series = voxels(np.float32, shape=(3,) + SHAPE_ZYX, seed=3)
    back = sitk.ReadImage(str(ct.write_image(series, tmp_path / f"series{suffix}", like=src)))  # oracle: SimpleITK
    assert_geometry(back, direction, atol=GEOMETRY_ATOL[suffix], spacing=spacing, origin=origin)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), series)


# --------------------------------------------------------------------------- pipeline sinks


@pytest.fixture(scope="module")
def oblique_run(tmp_path_factory):
    """An oblique int16 scan (written by SimpleITK) through gaussian + hessian into NRRD and Zarr."""
    folder = tmp_path_factory.mktemp("oblique")
    src = source_image(DIRECTIONS["oblique"], voxels(shape=(9, 12, 10), seed=4))
    sitk.WriteImage(src, str(folder / "scan.nrrd"))
    spec = {"source": {"files": [str(folder / "scan.nrrd")]},
            "steps": [{"gaussian": {"sigma": 1.5, "mode": "nearest"}},
                      {"hessian": {"sigma": 2.0, "mode": "nearest"}}],
            "sinks": ["nrrd", "zarr"], "out": str(folder / "out")}
    with inprocess_client(1) as client:
        report = pipeline.from_dict(spec).run(client=client, progress=False)
    assert list(report.done) == ["scan"] and not report.failed
    return src, folder / "out" / "scan"


def test_pipeline_nrrd_sink_writes_the_source_geometry_for_every_output(oblique_run):
    src, out = oblique_run
    names = ["gaussian.nrrd"] + [f"hessian-{k}.nrrd" for k in range(6)]
    for name in names:
        written = sitk.ReadImage(str(out / name))  # oracle: SimpleITK's reader
        assert_geometry(written, DIRECTIONS["oblique"])
        assert written.GetSize() == src.GetSize(), name


def test_pipeline_values_match_scipy_with_sigma_in_mm_along_array_axes(oblique_run):
    src, out = oblique_run
    vol = sitk.GetArrayFromImage(src).astype(np.float64)
    spacing = np.array(SPACING_XYZ[::-1])  # array (z, y, x) order
    ref = ndi.gaussian_filter(vol, 1.5 / spacing, mode="nearest")
    assert_close(sitk.GetArrayFromImage(sitk.ReadImage(str(out / "gaussian.nrrd"))), ref, np.float32)
    store = zarr.open_group(str(out / "filters.zarr"), mode="r")
    assert_close(store["gaussian"][...], ref, np.float32)
    # every Hessian term in mm^-2; components in upper-triangle order zz, zy, zx, yy, yx, xx
    stack = store["hessian"][...]
    assert stack.shape == (6,) + vol.shape
    for k, (a, b) in enumerate([(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]):
        order = np.zeros(3, int)
        order[a] += 1
        order[b] += 1
        ref = ndi.gaussian_filter(vol, 2.0 / spacing, order=order, mode="nearest") / (spacing[a] * spacing[b])
        assert_close(stack[k], ref, np.float32)
        assert_close(sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"hessian-{k}.nrrd"))), ref, np.float32)


def test_pipeline_zarr_sink_attrs_hold_the_source_geometry(oblique_run):
    src, out = oblique_run
    attrs = zarr.open_group(str(out / "filters.zarr"), mode="r").attrs
    np.testing.assert_allclose(attrs["spacing_zyx"], SPACING_XYZ[::-1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(attrs["origin_xyz"], ORIGIN_XYZ, rtol=0, atol=1e-12)
    # row-major, as SimpleITK's GetDirection: the rebuilt image equals the source geometry
    np.testing.assert_allclose(np.reshape(attrs["direction_xyz"], (3, 3)), DIRECTIONS["oblique"], rtol=0, atol=1e-12)
    rebuilt = sitk.Image(src.GetSize(), sitk.sitkFloat32)
    rebuilt.SetSpacing(attrs["spacing_zyx"][::-1])
    rebuilt.SetOrigin(attrs["origin_xyz"])
    rebuilt.SetDirection(attrs["direction_xyz"])
    corner = [n - 1 for n in src.GetSize()]
    np.testing.assert_allclose(rebuilt.TransformIndexToPhysicalPoint(corner),
                               src.TransformIndexToPhysicalPoint(corner), rtol=0, atol=1e-9)


# --------------------------------------------------------------------------- ENVI layouts

ENVI_DTYPES = {"int16": 2, "uint16": 12, "float32": 4}  # ENVI "data type" codes
CUBE_SHAPE = (4, 5, 6)  # bands, lines, samples
WAVELENGTHS_UM = (0.4505, 0.5502, 0.6651, 0.8647)
GAINS = (0.5, 0.25, 2.0, 1.0)
OFFSETS = (1.0, 0.0, -3.0, 0.5)
IGNORE = {"int16": -9999, "uint16": 65535, "float32": -9999.0}
HEADER_OFFSET = 96


def envi_truth(dtype):
    """A (band, line, sample) cube with the ignore value in two pixels of every band."""
    rng = np.random.default_rng(5)
    cube = rng.integers(0, 4000, size=CUBE_SHAPE).astype(dtype)
    if np.dtype(dtype).kind == "f":
        cube = cube + np.float32(0.25)
    cube[:, 0, 0] = IGNORE[dtype]
    cube[:, 3, 4] = IGNORE[dtype]
    return cube


def write_envi(folder, cube, interleave, byte_order, *, gains=False):
    """Raw bytes with numpy (prefix, byte order, interleave) and the header text by hand."""
    order = {"bsq": (0, 1, 2), "bil": (1, 0, 2), "bip": (1, 2, 0)}[interleave]
    stored = np.ascontiguousarray(cube.transpose(order)).astype(cube.dtype.newbyteorder(">" if byte_order else "<"))
    data = folder / "scene.img"
    with open(data, "wb") as f:
        f.write(b"\x00" * HEADER_OFFSET)
        f.write(stored.tobytes())
    bands, lines, samples = cube.shape
    extra = ""
    if gains:
        extra = (f"data gain values = {{{', '.join(map(str, GAINS))}}}\n"
                 f"data offset values = {{{', '.join(map(str, OFFSETS))}}}\n")
    header = folder / "scene.hdr"
    header.write_text(
        "ENVI\ndescription = {a scene written by hand}\n"
        f"samples = {samples}\nlines = {lines}\nbands = {bands}\nheader offset = {HEADER_OFFSET}\n"
        f"file type = ENVI Standard\ndata type = {ENVI_DTYPES[cube.dtype.name]}\ninterleave = {interleave}\n"
        f"byte order = {byte_order}\ndata ignore value = {IGNORE[cube.dtype.name]}\n"
        "map info = {UTM, 1, 1, 500000, 4600000, 30, 30, 33, North, WGS-84, units=Meters}\n"
        "wavelength units = Micrometers\n"
        # a list broken over lines as ENVI writes long lists
        f"wavelength = {{\n {', '.join(map(str, WAVELENGTHS_UM[:2]))},\n {', '.join(map(str, WAVELENGTHS_UM[2:]))}}}\n"
        + extra)
    return header


def spectral_cube(header):
    """Spectral Python's reading of the pair, band first, and its band centres."""
    import spectral.io.envi as envi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # spectral leaves the header open
        img = envi.open(str(header))
        values = np.asarray(img.load()).transpose(2, 0, 1)
        centres = list(img.bands.centers)
        gc.collect()
    return values, centres


@pytest.mark.parametrize("dtype", sorted(ENVI_DTYPES))
@pytest.mark.parametrize("byte_order", [0, 1], ids=["little", "big"])
@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_envi_interleave_byte_order_offset_and_ignore_value(tmp_path, interleave, byte_order, dtype):
    truth = envi_truth(dtype)
    header = write_envi(tmp_path, truth, interleave, byte_order)
    from_spectral, centres = spectral_cube(header)
    np.testing.assert_array_equal(from_spectral, truth)  # the two oracles agree on the bytes
    stored = open_raster(header, chunks=None, masked=False)
    assert stored.dims == ("band", "y", "x") and stored.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(stored.values, truth)  # numbers as stored, ignore codes included
    physical = open_raster(tmp_path / "scene.img", chunks=None)  # the data file works as well as the header
    expected = np.where(truth == IGNORE[dtype], np.nan, from_spectral.astype(np.float64))
    assert physical.dtype.kind == "f"
    np.testing.assert_array_equal(physical.values, expected)  # NaN where the ignore value was
    for da in (stored, physical):
        np.testing.assert_allclose(da.wavelength.values, np.multiply(centres, 1000.0), rtol=1e-12)
        np.testing.assert_allclose(da.wavelength.values, np.multiply(WAVELENGTHS_UM, 1000.0), rtol=1e-12)
        assert da.wavelength.attrs["units"] == "nm"
        # pixel centres from the map info: (1, 1) is the upper-left corner, 30 m pixels, north up
        np.testing.assert_array_equal(da.x.values, 500000.0 + 30.0 * (np.arange(6) + 0.5))
        np.testing.assert_array_equal(da.y.values, 4600000.0 - 30.0 * (np.arange(5) + 0.5))


@pytest.mark.parametrize("interleave", ["bil", "bip"])
def test_envi_per_band_gains_and_offsets_give_physical_values(tmp_path, interleave):
    truth = envi_truth("int16")
    header = write_envi(tmp_path, truth, interleave, 1, gains=True)
    # oracle: stored * gain + offset per band, in float64, from the numpy cube
    physical = truth * np.reshape(GAINS, (4, 1, 1)) + np.reshape(OFFSETS, (4, 1, 1))
    physical[truth == IGNORE["int16"]] = np.nan
    for chunks in (None, "auto"):
        da = open_raster(header, chunks=chunks)
        assert da.dtype == np.float32
        assert_close(da.values, physical, np.float32)
        # applied, so not left behind to be applied again by whoever reads a copy
        assert not {"data_gain_values", "data_offset_values"} & set(da.attrs)
    packed = open_raster(header, chunks=None, masked=False)
    np.testing.assert_array_equal(packed.values, truth)
    assert tuple(packed.attrs["scales"]) == GAINS and tuple(packed.attrs["offsets"]) == OFFSETS


# --------------------------------------------------------------------------- south-up GeoTIFF

SOUTH_UP = Affine(30.0, 0.0, 500000.0, 0.0, 30.0, 4000000.0)  # row 0 is the southern edge
GEO_SCALE, GEO_OFFSET, GEO_NODATA = 1e-4, -0.1, -9999


@pytest.fixture
def south_up_tif(tmp_path):
    """A 3-band int16 reflectance GeoTIFF, south up, scaled, with nodata, written by rasterio."""
    rng = np.random.default_rng(6)
    stored = rng.integers(0, 10000, size=(3, 18, 22)).astype(np.int16)
    stored[:, 2, 3] = GEO_NODATA
    path = tmp_path / "south_up.tif"
    with rasterio.open(path, "w", driver="GTiff", width=22, height=18, count=3, dtype="int16",
                       crs=CRS.from_epsg(32633), transform=SOUTH_UP, nodata=GEO_NODATA) as dst:
        dst.write(stored)
        dst.scales = (GEO_SCALE,) * 3
        dst.offsets = (GEO_OFFSET,) * 3
    return path


def rasterio_physical(path):
    """(float64 physical values with NaN for nodata, pixel-centre x, pixel-centre y) by rasterio."""
    with rasterio.open(path) as src:
        masked = src.read(masked=True).astype(np.float64)
        scales = np.reshape(src.scales, (-1, 1, 1))
        offsets = np.reshape(src.offsets, (-1, 1, 1))
        values = (masked * scales + offsets).filled(np.nan)
        xs = np.array([src.xy(0, col)[0] for col in range(src.width)])
        ys = np.array([src.xy(row, 0)[1] for row in range(src.height)])
        return values, xs, ys, src.transform, src.crs


def test_south_up_geotiff_values_and_coordinates_match_rasterio(south_up_tif):
    ref, xs, ys, transform, crs = rasterio_physical(south_up_tif)
    assert transform.e > 0 and np.all(np.diff(ys) > 0)  # the fixture is south up
    for chunks in (None, "auto"):
        da = open_raster(south_up_tif, chunks=chunks)
        assert da.dims == ("band", "y", "x") and da.dtype == np.float32
        assert_close(da.values, ref, np.float32)
        np.testing.assert_array_equal(da.x.values, xs)
        np.testing.assert_array_equal(da.y.values, ys)  # increasing: row 0 stays the southern row
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Use `@` matmul", category=PendingDeprecationWarning)
            assert da.rio.transform() == transform and da.rio.crs == crs
        da.close()


def test_south_up_geotiff_filtered_and_written_back_stays_south_up_float_and_unscaled(south_up_tif, tmp_path):
    ref, xs, ys, transform, crs = rasterio_physical(south_up_tif)
    da = open_raster(south_up_tif, chunks=None)
    smooth = da.sep3d.gaussian({"y": 45.0, "x": 60.0}, mode="nearest")  # 1.5 and 2 pixels
    expected = ndi.gaussian_filter(ref, (0, 1.5, 2.0), mode="nearest")  # NaN spreads the same way
    assert_close(smooth.values, expected, np.float32)
    path = write_raster(smooth, tmp_path / "smooth.tif")
    with rasterio.open(path) as out:  # oracle: rasterio on the written file
        assert out.transform == transform and out.transform.e > 0
        assert out.crs == crs
        assert out.dtypes == ("float32",) * 3
        assert out.scales == (1.0,) * 3 and out.offsets == (0.0,) * 3  # no inherited packing
        assert out.nodata is None or np.isnan(out.nodata)
        written = out.read()
        assert [out.xy(row, 0)[1] for row in range(out.height)] == ys.tolist()
    assert_close(written, expected, np.float32)
    np.testing.assert_array_equal(written, smooth.values)  # float32 written as it was


def test_south_up_geotiff_read_packed_and_written_back_keeps_scale_offset_and_nodata(south_up_tif, tmp_path):
    packed = open_raster(south_up_tif, chunks=None, masked=False)
    path = write_raster(packed, tmp_path / "packed.tif")
    with rasterio.open(south_up_tif) as src, rasterio.open(path) as out:  # oracle: rasterio on both
        assert out.dtypes == src.dtypes and out.scales == src.scales and out.offsets == src.offsets
        assert out.nodata == src.nodata and out.transform == src.transform
        np.testing.assert_array_equal(out.read(), src.read())


# --------------------------------------------------------------------------- NetCDF via plain xarray


@pytest.mark.parametrize("decode_coords", [True, "all"])
def test_netcdf_opened_with_plain_xarray_is_written_without_a_dangling_grid_mapping(tmp_path, decode_coords):
    import warnings

    import rioxarray  # noqa: F401 - the .rio accessor
    import xarray as xr

    from sep3d.io import write_raster

    source = xr.DataArray(np.arange(24, dtype=np.float32).reshape(2, 3, 4), dims=("band", "y", "x"),
                          coords={"band": [1, 2], "y": 4000000.0 - 30.0 * np.arange(3),
                                  "x": 500000.0 + 30.0 * np.arange(4)}, name="refl")
    source.rio.write_crs("EPSG:32633").to_dataset().to_netcdf(tmp_path / "in.nc")
    # xarray keeps `grid_mapping` as an attribute unless decode_coords="all" (then the CRS is a coordinate)
    var = xr.open_dataset(tmp_path / "in.nc", decode_coords=decode_coords)["refl"]
    write_raster(var, tmp_path / "out.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # xarray warns about a grid_mapping naming nothing
        back = xr.open_dataset(tmp_path / "out.nc", decode_coords="all")
    (name,) = back.data_vars
    np.testing.assert_array_equal(back[name].values, source.values)
    if decode_coords == "all":                         # the CRS came along: it is written again
        assert back[name].rio.crs.to_epsg() == 32633
    back.close()


def test_a_single_band_store_is_band_1_like_gdal(tmp_path):
    import warnings

    import xarray as xr

    from sep3d.io import open_raster

    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    xr.Dataset({"ndvi": (("y", "x"), values)}, coords={"y": [30.0, 0.0, -30.0], "x": 30.0 * np.arange(4)}) \
        .to_netcdf(tmp_path / "one.nc")
    da = open_raster(tmp_path / "one.nc", chunks=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(tmp_path / "one.nc") as src:     # GDAL numbers bands from 1
            assert src.count == 1 and src.indexes == (1,)
    assert da.dims == ("band", "y", "x") and da.band.values.tolist() == list(src.indexes)
    np.testing.assert_array_equal(da.values[0], values)


@pytest.mark.parametrize("fmt", ["NETCDF3_CLASSIC", "NETCDF3_64BIT", "NETCDF4"])
def test_classic_netcdf3_files_open_like_netcdf4(tmp_path, fmt):
    """NetCDF-3 (not HDF5) is what xarray writes without netCDF4 and what many archives hold;
    the oracle is the same dataset read back by xarray with the engine that wrote it."""
    import xarray as xr

    from sep3d.io import open_raster

    values = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) - 5.0
    values[0, 1, 2] = -9999.0
    ds = xr.Dataset({"reflectance": (("band", "y", "x"), values, {"_FillValue": -9999.0})},
                    coords={"band": [1, 2], "y": [30.0, 0.0, -30.0], "x": 30.0 * np.arange(4),
                            "wavelength": ("band", [550.0, 860.0], {"units": "nm"})})
    engine = "h5netcdf" if fmt == "NETCDF4" else "scipy"
    ds.to_netcdf(tmp_path / "scene.nc", format=fmt, engine=engine)
    with open(tmp_path / "scene.nc", "rb") as fh:  # the format really is the one asked for
        assert fh.read(4) == (b"\x89HDF" if fmt == "NETCDF4" else b"CDF\x01" if fmt == "NETCDF3_CLASSIC" else b"CDF\x02")
    da = open_raster(tmp_path / "scene.nc", chunks=None)
    with xr.open_dataset(tmp_path / "scene.nc", engine=engine) as ref:
        np.testing.assert_array_equal(da.values, ref["reflectance"].values)
    assert np.isnan(da.values[0, 1, 2]) and da.wavelength.values.tolist() == [550.0, 860.0]


@pytest.mark.parametrize("dtype", ["int16", "uint8"])
def test_values_at_the_ends_of_an_integer_dtype_are_written_as_they_are(tmp_path, dtype):
    import rioxarray  # noqa: F401 - the .rio accessor
    import xarray as xr

    from sep3d.io import write_raster

    info = np.iinfo(dtype)
    values = np.array([[[float(info.min), 0.0, float(info.max)], [1.0, 2.0, 3.0]]])
    da = xr.DataArray(values, dims=("band", "y", "x"),
                      coords={"band": [1], "y": [45.0, 15.0], "x": [15.0, 45.0, 75.0]}).rio.write_crs("EPSG:32633")
    write_raster(da, tmp_path / "ends.tif", dtype=dtype)
    with rasterio.open(tmp_path / "ends.tif") as src:   # rasterio reads the stored integers
        assert src.dtypes[0] == dtype
        np.testing.assert_array_equal(src.read(), values.astype(dtype))
    with pytest.raises(ValueError, match=rf"`dtype` {dtype}"):
        write_raster(da + 1.0, tmp_path / "over.tif", dtype=dtype)


def test_a_store_with_bad_chunks_is_refused_before_it_is_read(tmp_path):
    import xarray as xr

    from sep3d.io import open_raster

    xr.Dataset({"r": (("band", "y", "x"), np.zeros((2, 3, 4), np.float32))}).to_netcdf(tmp_path / "s.nc")
    with pytest.raises(TypeError, match=r"^`chunks` must be 'auto', None or a dict; got 3\.5$"):
        open_raster(tmp_path / "s.nc", chunks=3.5)


def test_geotiff_with_wavelengths_only_as_band_tags(tmp_path):
    """GDAL's ENVI -> GeoTIFF translation keeps each band's wavelength as a band tag only."""
    from sep3d.io import open_raster

    wavelengths = [450.5, 550.25, 665.0]
    path = tmp_path / "band_tags.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=3, dtype="float32",
                       crs=CRS.from_epsg(32633), transform=Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0)) as dst:
        dst.write(np.arange(36, dtype=np.float32).reshape(3, 3, 4))
        for b, wl in enumerate(wavelengths, start=1):
            dst.update_tags(b, wavelength=str(wl), wavelength_units="Nanometers")
    with rasterio.open(path) as src:
        assert "wavelength" not in src.tags()                      # nothing at the dataset level
    da = open_raster(path, chunks=None)
    np.testing.assert_allclose(da.wavelength.values, wavelengths)
    assert da.wavelength.attrs["units"] == "nm"
