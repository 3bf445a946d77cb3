"""Hyperspectral rasters: GeoTIFF, ENVI, NetCDF and Zarr as ``(band, y, x)`` DataArrays.

:func:`open_raster` gives one layout whatever the file: an :class:`xarray.DataArray`
with dims ``(band, y, x)``, a ``wavelength`` coordinate in nm on ``band`` (and ``fwhm``
when known, and ``band_name`` when the bands are named), CRS and transform through
rioxarray (``.rio.crs``, ``.rio.transform()``), values in physical units (scale and
offset applied, nodata and GDAL mask bands as NaN), and by default dask chunks that keep
the band axis whole (rioxarray's own default, one band per chunk, makes every band-axis
filter rechunk).

:func:`write_raster` writes such an array back, atomically (a temporary next to the
target, then a rename), keeping what GDAL does not keep by itself: GeoTIFF gets the
wavelengths as band tags and the band names (or the wavelengths) as band descriptions,
so :func:`open_raster` restores them. It writes the values the array holds: the storage
encoding of the file an array was read from (``.encoding``: dtype, ``_FillValue``,
scale/offset) is never applied to them, so a filter result is never rounded or clipped
back into its source's integers; another dtype is written only when asked for, and
then only if it holds every value.

rioxarray 0.19 multiplies ``Affine`` objects with ``*``, which affine 3 marks with a
``PendingDeprecationWarning``; the calls into rioxarray here silence exactly that
warning (it is not ours to fix and says nothing about the data). Its reader also warns
"Scales differ across bands" (or offsets) for per-band scales, e.g. an ENVI ``data gain
values`` list: that warning is silenced too, since the values are scaled band by band
all the same and the per-band ``scales``/``offsets`` are kept (attributes with
``masked=False``, encoding otherwise).
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import threading
import uuid
import warnings
from pathlib import Path

import numpy as np

from ..output_folder import atomic_path
from ..xr import is_nan_value

__all__ = ["open_raster", "write_raster", "SUFFIXES"]

#: Suffixes :func:`open_raster` and :func:`write_raster` know (ENVI: the header or
#: the data file next to it; :func:`write_raster` does not write ENVI).
SUFFIXES = {
    ".tif": "GeoTIFF", ".tiff": "GeoTIFF", ".hdr": "ENVI", ".nc": "NetCDF", ".zarr": "Zarr",
}
_WRITE_SUFFIXES = (".tif", ".tiff", ".nc", ".zarr")
_ENVI_DATA_SUFFIXES = ("", ".img", ".dat", ".bsq", ".bil", ".bip", ".raw", ".bin")

# wavelength unit names (lower case) -> factor to nm; None: unknown, guess from the values
_UNITS_TO_NM = {
    "nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0,
    "um": 1e3, "µm": 1e3, "\u03bcm": 1e3, "micrometer": 1e3, "micrometers": 1e3, "micrometre": 1e3,
    "micrometres": 1e3, "micron": 1e3, "microns": 1e3,
    "mm": 1e6, "millimeter": 1e6, "millimeters": 1e6, "millimetre": 1e6, "millimetres": 1e6,
    "unknown": None, "": None,
}
# ENVI header fields that only describe the file layout (they are in the array already)
_ENVI_LAYOUT_ATTRS = {
    "samples", "lines", "bands", "header_offset", "file_type", "data_type", "interleave",
    "byte_order", "data_ignore_value", "map_info", "coordinate_system_string",
    "projection_info", "wavelength", "wavelength_units", "fwhm", "band_names",
}
_SPECTRAL_TAGS = ("wavelength", "wavelength_units", "fwhm")
#: spatial dimension names :func:`open_raster` recognises in NetCDF/Zarr (lower case)
_Y_DIMS = ("y", "lat", "latitude")
_X_DIMS = ("x", "lon", "longitude")
#: attributes that hold an array's nodata code (rioxarray's names)
_FILL_ATTRS = ("_FillValue", "missing_value", "fill_value", "nodata")
_DESCRIPTION = re.compile(r"^\s*([-+0-9.eE]+)\s*(nm|nanometers?|um|µm|micrometers?|microns?)\s*$", re.I)


@contextlib.contextmanager
def _quiet_affine():
    """Silence affine 3's PendingDeprecationWarning for ``Affine * Affine`` inside rioxarray."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Use `@` matmul", category=PendingDeprecationWarning)
        yield


# --------------------------------------------------------------------------- reading

def _kind_of(path):
    """``(kind, data_path, header_path)`` for a path; raises for missing/unknown files."""
    path = Path(os.fspath(path))
    suffix = path.suffix.lower()
    if suffix == ".hdr":
        if not path.is_file():
            raise FileNotFoundError(f"no such ENVI header: {path}")
        stem = path.with_suffix("")
        for ext in _ENVI_DATA_SUFFIXES:
            for candidate in {stem.with_name(stem.name + ext), stem.with_name(stem.name + ext.upper())}:
                if candidate.is_file():
                    return "ENVI", candidate, path
        raise FileNotFoundError(f"no ENVI data file next to the header {path} (looked for {stem.name} "
                                f"with suffixes {list(_ENVI_DATA_SUFFIXES)})")
    if not path.exists():
        raise FileNotFoundError(f"no such raster: {path}")
    if suffix in SUFFIXES:
        if suffix == ".zarr" and not path.is_dir():
            raise ValueError(f"a Zarr store is a folder; {path} is a file")
        return SUFFIXES[suffix], path, None
    for header in (path.with_suffix(".hdr"), path.with_name(path.name + ".hdr")):
        if header.is_file():
            return "ENVI", path, header
    raise ValueError(f"unsupported raster {path}: the suffix must be one of {sorted(SUFFIXES)} "
                     "(or an ENVI data file with its .hdr next to it)")


def _chunks_for(chunks, band_dim, file_band_dim="band"):
    """The ``chunks`` to pass to the opener: band whole unless said otherwise; keys in file names."""
    if chunks is None:
        return None
    if isinstance(chunks, str) and chunks == "auto":
        return {file_band_dim: -1, "y": "auto", "x": "auto"}
    if isinstance(chunks, dict):
        out = {(file_band_dim if key == band_dim else key): value for key, value in chunks.items()}
        out.setdefault(file_band_dim, -1)
        return out
    raise TypeError(f"`chunks` must be 'auto', None or a dict; got {chunks!r}")


def _units_factor(units, values):
    """Factor from `units` to nm; None if the units are not a length (wavenumber, GHz, index)."""
    key = "" if units is None else str(units).strip().lower()
    if key not in _UNITS_TO_NM:
        return None
    factor = _UNITS_TO_NM[key]
    if factor is None:  # unknown: wavelengths beyond 100 are nm, below are micrometres
        factor = 1.0 if np.nanmax(values) > 100 else 1e3
    return factor


def _floats(text):
    try:
        return np.array([float(v) for v in str(text).strip().strip("{}[]()").replace(",", " ").split()])
    except ValueError:
        return None


def _read_envi_header(path):
    """The fields of an ENVI header as ``{lower-case key: str}`` (braced lists unwrapped)."""
    lines = Path(path).read_text(errors="replace").splitlines()
    fields = {}
    i = 1  # line 0 is "ENVI"
    while i < len(lines):
        key, sep, value = lines[i].partition("=")
        i += 1
        if not sep:
            continue
        value = value.strip()
        if value.startswith("{"):
            while "}" not in value and i < len(lines):
                value += " " + lines[i].strip()
                i += 1
            value = value[1:value.rfind("}")] if "}" in value else value[1:]
        fields[key.strip().lower()] = value.strip()
    return fields


def _spectral_coords(wavelength, fwhm, units, n_bands):
    """``{name: nm array}`` for wavelength/fwhm in `units`; {} when absent or not a length."""
    coords = {}
    wl = _floats(wavelength) if wavelength is not None else None
    if wl is None or wl.size != n_bands:
        return coords
    factor = _units_factor(units, wl)
    if factor is None:
        return coords
    coords["wavelength"] = wl * factor
    fw = _floats(fwhm) if fwhm is not None else None
    if fw is not None and fw.size == n_bands:
        coords["fwhm"] = fw * factor
    return coords


def _geotiff_spectral(src):
    """Wavelength/fwhm (nm) from a GeoTIFF's band tags, dataset tags or band descriptions."""
    n = src.count
    band_tags = [src.tags(i) for i in range(1, n + 1)]
    if all("wavelength" in t for t in band_tags):
        units = band_tags[0].get("wavelength_units")
        wl = " ".join(t["wavelength"] for t in band_tags)
        fw = " ".join(t["fwhm"] for t in band_tags) if all("fwhm" in t for t in band_tags) else None
        found = _spectral_coords(wl, fw, units, n)
        if found:
            return found
    tags = src.tags()
    if "wavelength" in tags:
        found = _spectral_coords(tags["wavelength"], tags.get("fwhm"), tags.get("wavelength_units"), n)
        if found:
            return found
    matches = [_DESCRIPTION.match(d or "") for d in src.descriptions]
    if all(matches):
        units = {m.group(2).lower() for m in matches}
        if len(units) == 1:
            return _spectral_coords(" ".join(m.group(1) for m in matches), None, units.pop(), n)
    return {}


def _geotiff_names(descriptions):
    """(band names or None, long_name or None) from GeoTIFF band descriptions.

    Descriptions that are all wavelengths (``"550.0 nm"``) name nothing; one text
    repeated on every band of a multi-band file is rioxarray's way of writing a
    ``long_name``; anything else names the bands (``""`` where a band has none).
    """
    if not any(descriptions) or all(_DESCRIPTION.match(d or "") for d in descriptions):
        return None, None
    if len(descriptions) > 1 and len(set(descriptions)) == 1:
        return None, descriptions[0]
    return [d or "" for d in descriptions], None


def _envi_names(text, n_bands):
    """The ``band names`` list of an ENVI header, or None when absent or of the wrong length."""
    if text is None:
        return None
    names = [name.strip() for name in str(text).split(",")]
    return names if len(names) == n_bands else None


def _has_mask_band(src):
    """True when some band has a GDAL mask band (internal or ``.msk``) other than nodata or alpha.

    An alpha band is data here: GDAL calls the 4th band of every 4-band uint8 GeoTIFF
    written with default options alpha, which is a spectral band in a multispectral
    scene.
    """
    from rasterio.enums import MaskFlags

    return any(not {MaskFlags.all_valid, MaskFlags.nodata, MaskFlags.alpha} & set(flags)
               for flags in src.mask_flag_enums)


def _open_with_rioxarray(kind, data_path, header_path, chunks, masked):
    import rasterio
    import rioxarray

    with rasterio.open(data_path) as src:
        has_nodata = any(v is not None for v in src.nodatavals)
        has_mask = _has_mask_band(src)
        has_scale = any(v != 1 for v in src.scales) or any(v != 0 for v in src.offsets)
        if kind == "ENVI":
            header = _read_envi_header(header_path)
            spectral = _spectral_coords(*(header.get(key) for key in (
                "wavelength", "fwhm", "wavelength units")), src.count)
            names, long_name = _envi_names(header.get("band names"), src.count), None
        else:
            spectral = _geotiff_spectral(src)
            names, long_name = _geotiff_names(src.descriptions)
            long_name = src.tags().get("long_name", long_name)
    # nothing to mask or scale: keep the dtype (rioxarray would make it float)
    decode = masked and (has_nodata or has_mask or has_scale)
    with _quiet_affine():
        warnings.filterwarnings("ignore", message="(Scales|Offsets) differ across bands", category=UserWarning)
        da = rioxarray.open_rasterio(data_path, chunks=chunks, mask_and_scale=decode, band_as_variable=False)
    close = da.close
    attrs = dict(da.attrs)
    for key in ("scale_factor", "add_offset"):  # rioxarray adds them always; identity says nothing
        if attrs.get(key) == (1.0 if key == "scale_factor" else 0.0):
            attrs.pop(key)
    attrs.pop("long_name", None)  # per-band descriptions: band_name / wavelength coordinates instead
    if kind == "ENVI":
        attrs = {k: (v.strip() if isinstance(v, str) else v) for k, v in attrs.items()
                 if k.lower() not in _ENVI_LAYOUT_ATTRS and not re.fullmatch(r"Band_\d+", k)}
        if decode:  # the gains and offsets are applied: left as attributes they would be applied twice
            attrs = {k: v for k, v in attrs.items() if k.lower() not in ("data_gain_values", "data_offset_values")}
    else:
        for key in _SPECTRAL_TAGS:
            attrs.pop(key, None)
        if long_name is not None:
            attrs["long_name"] = long_name
    da.attrs = attrs
    da = da.drop_vars([c for c in ("wavelength", "fwhm", "band_name") if c in da.coords])
    units = {"units": "nm"}
    coords = {name: ("band", values, units) for name, values in spectral.items()}
    if names is not None:
        coords["band_name"] = ("band", np.array(names, dtype=str))
    return da.assign_coords(coords), close


def _store_layout(dims, path, name):
    """(band dim or None, y dim, x dim) of a NetCDF/Zarr variable, found by name.

    y: one of y/lat/latitude, x: one of x/lon/longitude (any case); the band is the
    third dimension (band/bands/wavelength/wavelengths, or whatever the one other
    dimension is called).
    """
    def pick(names):
        return [d for d in dims if str(d).lower() in names]

    ys, xs = pick(_Y_DIMS), pick(_X_DIMS)
    if len(dims) not in (2, 3) or len(ys) != 1 or len(xs) != 1:
        raise ValueError(f"{path}: variable {name!r} needs one y dimension (one of {list(_Y_DIMS)}), one x "
                         f"dimension (one of {list(_X_DIMS)}) and at most one band dimension, in any order: it "
                         f"must be (band, y, x) or (y, x); got dims {tuple(dims)}")
    others = [d for d in dims if d not in (ys[0], xs[0])]
    return (others[0] if others else None), ys[0], xs[0]


def _store_chunks(chunks, band_dim, file_dims):
    """The ``chunks`` for a NetCDF/Zarr opener, keyed by the file's own dimension names."""
    file_band, file_y, file_x = file_dims
    if chunks is None:
        return None
    names = {band_dim: file_band, "y": file_y, "x": file_x}
    out = {}
    for key, value in _chunks_for(chunks, band_dim, band_dim).items():
        key = names.get(key, key)
        if key is not None:
            out[key] = value
    return out


def _store_spectral(da):
    """``wavelength``/``fwhm`` on the band axis converted to nm (dropped when not a length)."""
    coord = da.coords.get("wavelength")
    if coord is None or coord.dims != ("band",):
        return da
    values = np.asarray(coord.values, dtype=np.float64)
    factor = _units_factor(coord.attrs.get("units"), values) if values.size else 1.0
    if factor is None:
        return da.drop_vars([c for c in ("wavelength", "fwhm") if c in da.coords])
    new = {"wavelength": ("band", values * factor, {**coord.attrs, "units": "nm"})}
    fwhm = da.coords.get("fwhm")
    if fwhm is not None and fwhm.dims == ("band",):
        fw = np.asarray(fwhm.values, dtype=np.float64)
        fw_factor = factor
        if "units" in fwhm.attrs:
            fw_factor = _units_factor(fwhm.attrs["units"], fw)
        if fw_factor is None:
            da = da.drop_vars("fwhm")
        else:
            new["fwhm"] = ("band", fw * fw_factor, {**fwhm.attrs, "units": "nm"})
    return da.assign_coords(new)


#: The first bytes of a NetCDF-3 ("classic", 64-bit offset, 64-bit data) file.
NETCDF3_SIGNATURES = (b"CDF\x01", b"CDF\x02", b"CDF\x05")


def netcdf_engine(path):
    """The xarray engine that reads the NetCDF file `path`: "scipy" for NetCDF-3, else "h5netcdf".

    NetCDF-4 is HDF5 (h5netcdf); the classic NetCDF-3 formats are not, and scipy reads them
    (what xarray writes without the netCDF4 library, and many archives hold).
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
    return "scipy" if head in NETCDF3_SIGNATURES else "h5netcdf"


def _open_with_xarray(kind, path, chunks, band_dim, masked):
    import rioxarray  # noqa: F401  (the .rio accessor)
    import xarray as xr

    opener = dict(engine=netcdf_engine(path)) if kind == "NetCDF" else dict(engine="zarr", consolidated=None)
    opener["mask_and_scale"] = masked
    ds = xr.open_dataset(path, decode_coords="all", chunks=None, **opener)
    names = [name for name, var in ds.data_vars.items() if var.ndim >= 2]
    if len(names) != 1:
        ds.close()
        raise ValueError(f"{path} must hold one raster variable; found {names or 'none'}")
    dims, shape = ds[names[0]].dims, ds[names[0]].shape
    ds.close()
    file_dims = _store_layout(dims, path, names[0])
    file_band, file_y, file_x = file_dims
    if file_band is not None and shape[dims.index(file_band)] == 0:
        raise ValueError(f"{path}: variable {names[0]!r} has no bands (dims {dims}, shape {shape})")
    ds = xr.open_dataset(path, decode_coords="all", chunks=_store_chunks(chunks, band_dim, file_dims), **opener)
    da = ds[names[0]]
    if file_band is None:
        da = da.expand_dims({"band": [1]})
        file_band = "band"
    renames = {old: new for old, new in ((file_y, "y"), (file_x, "x")) if old != new}
    if file_band != "band":
        renames[file_band] = "band"
    if renames:
        da = da.rename(renames)  # dims and their index coordinates
    if str(file_band).lower() in ("wavelength", "wavelengths") and "band" in da.coords:
        wavelength = da.coords["band"]  # the band axis was the wavelength axis: keep its values
        da = da.drop_vars("band").assign_coords(wavelength=("band", wavelength.values, wavelength.attrs))
    if "band" not in da.coords:
        da = da.assign_coords(band=np.arange(1, da.sizes["band"] + 1))
    return _store_spectral(da.transpose("band", "y", "x")), ds.close


def open_raster(path, *, chunks="auto", masked=True, band_dim="band"):
    """Open a hyperspectral (or any multi-band) raster as a ``(band, y, x)`` DataArray.

    Parameters
    ----------
    path : str or os.PathLike
        A GeoTIFF (``.tif``/``.tiff``), an ENVI image (its ``.hdr`` or the data file next
        to it), or a NetCDF file (``.nc``: NetCDF-4 through h5netcdf, classic NetCDF-3
        through scipy) or Zarr store (``.zarr`` folder) holding one raster variable (see
        Notes for the layouts recognised).
    chunks : 'auto', dict or None
        ``'auto'`` (default): dask-backed, the band axis in one chunk and y/x chunked
        automatically. A dict is passed to the opener, with the band axis whole unless
        it names it. None: read into memory (NumPy) and close the file.
    masked : bool
        True (default): physical values, as rioxarray's and xarray's
        ``mask_and_scale``. Nodata (GeoTIFF nodata, a GDAL mask band such as a
        GeoTIFF's internal mask, ENVI ``data ignore value``, NetCDF/Zarr
        ``_FillValue``) becomes NaN and scale/offset are applied (``stored * scale +
        offset``); such data is float (float32 from 8- and 16-bit integers). How the
        file stored the values (dtype, nodata code, scale/offset) stays in
        ``.encoding`` as a record; :func:`write_raster` does not apply it. A file
        with neither nodata, mask nor scale/offset keeps its dtype.
        False: the stored numbers as they are, nodata codes included, with
        ``scale_factor``/``add_offset`` and ``_FillValue`` as attributes;
        :func:`write_raster` writes such a packed array back with its scale and
        offset.
    band_dim : str
        Name of the band dimension of the result.

    Returns
    -------
    xarray.DataArray
        Dims ``(band_dim, "y", "x")``. Coordinates: ``band`` (1..N unless a NetCDF/Zarr
        store has its own), ``wavelength`` and ``fwhm`` in nm when the file has them,
        ``band_name`` when the bands are named, ``y``/``x`` and ``spatial_ref``
        (``.rio.crs``, ``.rio.transform()`` work).

    Raises
    ------
    FileNotFoundError
        `path` does not exist, or an ENVI header has no data file next to it.
    ValueError
        Unknown suffix (the message lists the supported ones); a ``.zarr`` that is not a
        folder; a NetCDF/Zarr without exactly one 2-D or 3-D raster variable, whose
        dims are not recognised (the message names the dims found), or whose raster
        has no bands.
    TypeError
        `chunks` is not ``'auto'``, None or a dict.

    Notes
    -----
    NetCDF/Zarr layouts. The spatial dimensions are found by name: y is one of
    ``y``, ``lat``, ``latitude`` and x one of ``x``, ``lon``, ``longitude`` (any
    case); the third dimension is the band axis (``band``, ``bands``,
    ``wavelength``, ``wavelengths`` or any other name), in any order: ``(y, x,
    wavelength)``, ``(band, lat, lon)``, ... The result is transposed to ``(band, y,
    x)``, lat/lon renamed y/x (their values and the CRS kept), so it writes like any
    other raster. A band axis named ``wavelength`` gives the ``wavelength``
    coordinate its values.

    Wavelengths. ENVI: the header's ``wavelength`` and ``fwhm`` lists, converted from
    ``wavelength units`` (Nanometers, Micrometers/um/µm/microns, Millimeters).
    Without units (or "Unknown") values above 100 are taken as nm and smaller ones as
    micrometres. Units that are not lengths (Wavenumber, GHz, Index) give no
    ``wavelength`` coordinate. GeoTIFF: the per-band ``wavelength``/``fwhm``/
    ``wavelength_units`` tags :func:`write_raster` writes, else a dataset-level
    ``wavelength`` list tag, else band descriptions like ``"550.0 nm"``. NetCDF/Zarr:
    the stored coordinates, converted from their ``units`` attribute by the same
    rules. No wavelength information: no coordinate (not an error).

    Band names. ENVI ``band names`` and GeoTIFF band descriptions that are not
    wavelengths become the ``band_name`` coordinate (one text repeated on every band
    of a GeoTIFF is rioxarray's way of writing a ``long_name`` and becomes that
    attribute). :func:`write_raster` writes ``band_name`` back as band descriptions.

    Masks. The GDAL ENVI driver maps ``data ignore value`` to nodata. An alpha band
    is read as data, not as a mask: GDAL calls the 4th band of a 4-band uint8
    GeoTIFF written with default options alpha.

    Examples
    --------
    >>> import tempfile, os
    >>> from sep3d.datasets import synthetic_cube
    >>> from sep3d.io import open_raster, write_raster
    >>> cube, _ = synthetic_cube((5, 16, 16))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_raster(cube, os.path.join(tmp, "cube.tif"))
    ...     back = open_raster(path)
    ...     print(back.dims, back.chunks[0], back.wavelength.values)
    ...     back.close()
    ('band', 'y', 'x') (5,) [ 400.  925. 1450. 1975. 2500.]
    """
    if not isinstance(band_dim, str) or not band_dim:
        raise TypeError(f"`band_dim` must be a non-empty str; got {band_dim!r}")
    kind, data_path, header_path = _kind_of(path)
    if kind in ("GeoTIFF", "ENVI"):
        da, close = _open_with_rioxarray(kind, data_path, header_path, _chunks_for(chunks, band_dim), masked)
    else:
        _chunks_for(chunks, band_dim)  # validate
        da, close = _open_with_xarray(kind, data_path, chunks, band_dim, masked)
    if band_dim != "band":
        da = da.rename({"band": band_dim})
    da.set_close(close)  # set last: renaming and new coordinates do not carry it
    if chunks is None:
        da = da.load()
        da.close()
    return da


# --------------------------------------------------------------------------- writing

def _band_dim_of(da):
    """The non-spatial dimension of a 3-D raster (the band axis)."""
    with _quiet_affine():
        spatial = (da.rio.y_dim, da.rio.x_dim)
    others = [d for d in da.dims if d not in spatial]
    return others[0] if others else None


def _wavelengths_nm(da, band_dim):
    """(wavelength, fwhm) in nm from coordinates on the band axis, or (None, None)."""
    out = []
    for name in ("wavelength", "fwhm"):
        coord = da.coords.get(name)
        if coord is None or coord.dims != (band_dim,):
            out.append(None)
            continue
        values = np.asarray(coord.values, dtype=np.float64)
        factor = _units_factor(coord.attrs.get("units", "nm"), values) if values.size else 1.0
        out.append(None if factor is None else values * factor)
    if out[0] is None:
        return None, None
    return out[0], out[1]


def _num(value):
    """A number as text: integers without a decimal point, floats as Python writes them."""
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(float(value))


def _check_dtype(dtype):
    """The requested output dtype (None: the array's own), a real integer or float dtype."""
    if dtype is None:
        return None
    try:
        out = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"`dtype` must be a NumPy dtype or its name; got {dtype!r}") from None
    if out.kind not in "iuf":
        raise ValueError(f"`dtype` must be a real numeric dtype (an integer or float dtype); got {out}")
    return out


def _output_dtype(src, dtype):
    """The dtype written: `dtype` when given, else the array's own (bool -> uint8, float16 -> float32)."""
    if src.kind not in "biuf":
        raise TypeError(f"`da` must hold real numbers (bool, integer or float); got dtype {src}")
    if dtype is not None:
        return dtype
    if src.kind == "b":
        return np.dtype(np.uint8)
    if src == np.float16:  # GeoTIFF has no float16; float32 holds every float16 exactly
        return np.dtype(np.float32)
    return src


def _own_nodata(da):
    """The nodata code the array declares in its attrs (``_FillValue``, ...), or None."""
    for key in _FILL_ATTRS:
        if da.attrs.get(key) is not None:
            return da.attrs[key]
    return None


def _resolve_nodata(da, out, nodata):
    """``(fill, declared)``: the nodata code to write and whether `da` declares it itself.

    A code the array declares (its ``_FillValue`` attribute) marks its matching values
    as nodata already; any other code (`nodata`, the source file's encoded one) must not
    equal a valid value of float data, whose nodata is NaN.
    """
    own = _own_nodata(da)
    if nodata is not None:
        return nodata, own is not None and not is_nan_value(own) and float(own) == float(nodata)
    if out.kind == "f":
        return (np.nan, False) if own is None else (own, True)
    if own is not None and not is_nan_value(own):
        return own, True
    encoded = da.encoding.get("_FillValue")  # the source's code (open_raster), for integer output only
    if encoded is not None and not is_nan_value(encoded):
        return encoded, False
    return None, False


def _check_nodata(fill, out):
    """`fill` as a value `out` holds exactly (int for integer dtypes), or a ValueError."""
    if fill is None:
        return None
    try:
        value = float(fill)
    except (TypeError, ValueError):
        raise TypeError(f"`nodata` must be a number; got {fill!r}") from None
    if out.kind in "iu":
        info = np.iinfo(out)
        if not (value.is_integer() and info.min <= value <= info.max):
            raise ValueError(f"`nodata` {_num(fill)} does not fit `dtype` {out} [{info.min}, {info.max}] "
                             "(an integer code in that range is needed)")
        return int(value)
    if math.isnan(value):
        return np.nan
    info = np.finfo(out)
    if math.isfinite(value) and abs(value) > float(info.max):
        raise ValueError(f"`nodata` {_num(fill)} does not fit `dtype` {out} [{_num(-float(info.max))}, "
                         f"{_num(float(info.max))}]")
    return float(out.type(value))  # the code as the file stores it (GDAL compares it so too)


def _value_stats(data, fill):
    """Range of the finite values; for floats, counts of NaN, inf, non-integers and values equal to `fill`.

    One pass for a dask array (all reductions computed together); NumPy arrays are
    reduced in place.
    """
    import dask
    import dask.array as dka

    lazy = isinstance(data, dka.Array)
    xp = dka if lazy else np
    if data.dtype.kind in "iub":
        parts = {"lo": data.min(), "hi": data.max()}
    else:
        finite = xp.isfinite(data)
        fraction = finite & (data != xp.floor(data))
        parts = {"lo": xp.where(finite, data, np.inf).min(), "hi": xp.where(finite, data, -np.inf).max(),
                 "nan": xp.isnan(data).sum(), "inf": xp.isinf(data).sum(), "fraction": fraction.sum(),
                 "example": xp.where(fraction, data, -np.inf).max()}
        if fill is not None and not is_nan_value(fill):
            parts["equal"] = (finite & (data == fill)).sum()
    if lazy:
        parts = dict(zip(parts, dask.compute(*parts.values())))
    return {k: v.item() if hasattr(v, "item") else v for k, v in parts.items()}


def _checked_values(da, out, fill, declared):
    """`da`'s data converted to `out` (NaN -> `fill`), after checking `out` holds every value."""
    src = da.dtype
    data = da.data
    needs_nan_code = src.kind == "f" and out.kind in "iu"
    may_collide = src.kind == "f" and fill is not None and not is_nan_value(fill) and not declared
    narrowing = out != src and not np.can_cast(src, out, casting="safe")
    if data.size and (needs_nan_code or may_collide or narrowing):
        stats = _value_stats(data, fill if may_collide else None)
        found = f"found values in [{_num(stats['lo'])}, {_num(stats['hi'])}]"
        if needs_nan_code and stats["nan"] and fill is None:
            info = np.iinfo(out)
            raise ValueError(f"`dtype` {out} has no NaN: {stats['nan']} NaN value(s) need a nodata code; pass "
                             f"`nodata` (an integer in [{info.min}, {info.max}] that no valid value uses)")
        if out.kind in "iu" and stats.get("inf"):
            raise ValueError(f"`dtype` {out} cannot hold infinite values; found {stats['inf']}")
        if out.kind in "iu" and stats.get("fraction"):
            raise ValueError(f"`dtype` {out} cannot hold non-integer values (e.g. {_num(stats['example'])}, "
                             f"{stats['fraction']} in all); {found}. Round them first (`da.round()`), or "
                             "write a float dtype (the default)")
        if narrowing and stats["lo"] <= stats["hi"]:  # some finite value
            info = np.iinfo(out) if out.kind in "iu" else np.finfo(out)
            lo, hi = (info.min, info.max) if out.kind in "iu" else (-float(info.max), float(info.max))
            if stats["lo"] < lo or stats["hi"] > hi:
                raise ValueError(f"`dtype` {out} holds [{_num(lo)}, {_num(hi)}]; {found}")
        if may_collide and stats.get("equal"):
            raise ValueError(f"`nodata` {_num(fill)} collides with {stats['equal']} valid value(s) equal to it "
                             "(NaN marks nodata in float data); pass a `nodata` that no valid value uses")
    values = da.variable.copy(deep=False)
    if src.kind == "f" and fill is not None and not is_nan_value(fill):
        values = values.fillna(fill)
    if values.dtype != out:
        values = values.astype(out)
    return values


def _output_array(da, dtype, nodata):
    """``(values, fill)``: `da` as it will be stored, with clean attrs and no encoding.

    The values are those of `da` in the output dtype, NaN replaced by the nodata code
    `fill` (NaN or None for none); attrs keep the array's description (units,
    long_name, a packed array's scale_factor/add_offset) but no fill value.
    """
    import xarray as xr

    out = _output_dtype(da.dtype, dtype)
    fill, declared = _resolve_nodata(da, out, nodata)
    fill = _check_nodata(fill, out)
    values = xr.DataArray(_checked_values(da, out, fill, declared), coords=da.coords, name=da.name)
    attrs = {k: v for k, v in da.attrs.items() if k not in _FILL_ATTRS}
    for key in ("scale_factor", "add_offset"):
        if key in attrs and attrs[key] == (1.0 if key == "scale_factor" else 0.0):
            attrs.pop(key)
    values.attrs = attrs
    values.encoding = {}
    return values, fill


def _write_lock():
    """The lock for rioxarray's chunk-by-chunk write, for the scheduler dask will use.

    A distributed Client needs a ``distributed.Lock`` (a ``threading.Lock`` cannot be
    pickled into its graph); the threaded and synchronous schedulers take a thread lock.
    """
    import dask.base

    client = getattr(dask.base.get_scheduler(), "__self__", None)
    if type(client).__module__.startswith("distributed"):
        from distributed import Lock

        return Lock(f"sep3d-write-raster-{uuid.uuid4().hex}")
    return threading.Lock()


def _write_geotiff(values, fill, tmp, *, tiled, compress, blocksize):
    band_dim = _band_dim_of(values) if values.ndim == 3 else None
    if band_dim is not None:
        with _quiet_affine():
            values = values.transpose(band_dim, values.rio.y_dim, values.rio.x_dim)
    out_dtype = values.dtype
    attrs = {k: v for k, v in values.attrs.items() if k not in _SPECTRAL_TAGS}
    tags = {}
    long_name = attrs.pop("long_name", None)
    if isinstance(long_name, str):
        tags["long_name"] = long_name  # a dataset tag: rioxarray would copy it into every band description
    descriptions = None
    if band_dim is not None:
        wavelength, fwhm = _wavelengths_nm(values, band_dim)
        if wavelength is not None:
            fmt = lambda v: repr(float(v))  # noqa: E731  (shortest exact text)
            tags["wavelength"] = "{" + ", ".join(map(fmt, wavelength)) + "}"
            tags["wavelength_units"] = "nm"
            band_tags = [{"wavelength": fmt(w), "wavelength_units": "nm"} for w in wavelength]
            if fwhm is not None:
                tags["fwhm"] = "{" + ", ".join(map(fmt, fwhm)) + "}"
                for bt, f in zip(band_tags, fwhm):
                    bt["fwhm"] = fmt(f)
            tags["band_tags"] = band_tags
            descriptions = tuple(f"{round(float(w), 3)!r} nm" for w in wavelength)
        names = values.coords.get("band_name")
        if names is not None and names.dims == (band_dim,):
            descriptions = tuple(str(n) for n in names.values)
        elif isinstance(long_name, (tuple, list)) and len(long_name) == values.sizes[band_dim]:
            descriptions = tuple(str(n) for n in long_name)  # rioxarray's per-band descriptions
    if descriptions is not None:
        attrs["long_name"] = descriptions
    values.attrs = attrs
    values.name = None  # rioxarray would write the name as the description of every band
    with _quiet_affine():
        if fill is not None:
            values = values.rio.write_nodata(fill, encoded=False)
    profile = {"compress": compress} if compress else {}
    if tiled:
        profile.update(tiled=True, blockxsize=blocksize, blockysize=blocksize)
    dask_backed = hasattr(values.data, "dask")
    with _quiet_affine():
        values.rio.to_raster(tmp, driver="GTiff", dtype=out_dtype, tags=tags, BIGTIFF="IF_SAFER",
                             lock=_write_lock() if dask_backed else None, **profile)


def _as_dataset(values, fill):
    """A Dataset for NetCDF/Zarr: the nodata code as ``_FillValue`` encoding, CRS as ``spatial_ref``."""
    name = values.name if values.name is not None else "raster"
    da = values.copy(deep=False)
    with _quiet_affine():
        has_crs = da.rio.crs is not None
        if has_crs:
            da = da.rio.write_crs(da.rio.crs).rio.write_transform(da.rio.transform())
    encoding = {}
    if fill is not None and not is_nan_value(fill):
        encoding["_FillValue"] = fill
    # a grid_mapping attribute (xarray keeps it there unless decode_coords="all") names the
    # source's CRS variable: written again below when the CRS is known, never left dangling
    da.attrs.pop("grid_mapping", None)
    if has_crs:
        encoding["grid_mapping"] = "spatial_ref"
    da.encoding = encoding
    ds = da.to_dataset(name=name)
    for var in ds.coords.values():
        var.encoding = {k: v for k, v in var.encoding.items() if k in ("dtype", "units", "calendar")}
    return ds, name


def _storage_chunks(var, blocksize):
    """File chunks: the band axis whole, `blocksize` pixels along y and x."""
    return tuple(min(n, blocksize) if i >= var.ndim - 2 else n for i, n in enumerate(var.shape))


def _regular_chunks(ds, name):
    """Zarr needs equal chunks (last one smaller); rechunk a dask array that has not."""
    var = ds[name]
    if var.chunks is None:
        return ds
    if all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in var.chunks):
        return ds
    return ds.chunk({dim: c[0] for dim, c in zip(var.dims, var.chunks)})


def write_raster(da, path, *, tiled=True, compress="deflate", blocksize=256, nodata=None, dtype=None):
    """Write a ``(band, y, x)`` or ``(y, x)`` DataArray as GeoTIFF, NetCDF or Zarr, atomically.

    The file holds the values of `da`, unchanged: float stays float (NaN as nodata),
    integers stay integers. The storage encoding of the file `da` was read from
    (``da.encoding``: its dtype, ``_FillValue``, scale/offset) is not applied: a
    filter result written from a uint16 scene is float, not rounded and clipped back
    into uint16. Another dtype is written only when `dtype` asks for it, and then only
    when it holds every value.

    Parameters
    ----------
    da : xarray.DataArray
        The raster; its CRS/transform are taken from rioxarray (``da.rio``). A
        ``wavelength`` (and ``fwhm``) coordinate on the band axis is kept, in nm (a
        ``units`` attribute in micrometres is converted), and so is a ``band_name``
        coordinate. A 2-D ``(y, x)`` array (an index map) is written as one band.
        Dask-backed arrays are written chunk by chunk, never loaded whole.
    path : str or os.PathLike
        ``.tif``/``.tiff`` (GeoTIFF), ``.nc`` (NetCDF4 through h5netcdf) or ``.zarr``
        (a consolidated Zarr store, a folder). It is written under a temporary name
        next to it and renamed when complete; an existing file or store is replaced
        only then (a failed write leaves it as it was).
    tiled : bool
        GeoTIFF: tiled layout of `blocksize` x `blocksize` tiles.
    compress : str or None
        GeoTIFF compression (GDAL's COMPRESS: 'deflate', 'lzw', 'zstd', ...); None for
        none. NetCDF is zlib-compressed unless None; Zarr uses its default codec.
    blocksize : int
        GeoTIFF tile size, a positive multiple of 16. NetCDF (and Zarr, for NumPy-backed
        arrays) store chunks of the whole band axis by `blocksize` x `blocksize` pixels;
        a dask-backed array goes to Zarr with its own chunks.
    nodata : float or int, optional
        The nodata code stored for NaN. Default: the code `da` declares in its
        ``_FillValue`` attribute, else NaN for float output; for integer output (an
        integer `dtype` for float data) the code the source file used (the
        ``_FillValue`` :func:`open_raster` leaves in ``da.encoding``), else none. It
        must fit the output dtype exactly and, for float data, equal no valid value.
    dtype : str or numpy.dtype, optional
        The dtype written. Default: the array's own (bool as uint8, float16 as
        float32): float32 results are written as float32, float64 as float64. Another
        dtype is written only if it holds every value: integer dtypes need integral
        values within their range (and a `nodata` for NaN), narrower float dtypes
        values within their range (rounded to their precision).

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    TypeError
        `da` is not an xarray.DataArray or does not hold real numbers; `dtype` is not
        a dtype; `nodata` is not a number.
    ValueError
        Unknown suffix; `da` not 2-D or 3-D; `blocksize` not a
        positive multiple of 16; `dtype` not an integer or float dtype; values that
        `dtype` cannot hold (out of its range, non-integers or infinities for an
        integer dtype; the message names `dtype` and the range of the values found);
        NaN for an integer dtype without a `nodata`; a `nodata` that does not fit
        `dtype` or equals a valid value of float data.

    Notes
    -----
    Scale and offset. :func:`open_raster` gives physical values (scale and offset
    applied), and they are written as such: float32 is always correct, with no scale
    or offset. Packed integers are written only as they are: an array read with
    ``masked=False`` keeps the stored integers with their ``scale_factor`` and
    ``add_offset`` attributes, and both go into the file (GeoTIFF band scales/offsets,
    NetCDF/Zarr attributes), so every reader gets the physical values back. To pack
    physical values yourself, round ``(da - offset) / scale``, set those two
    attributes and pass the integer `dtype`.

    The checks of a `dtype` conversion (and of a `nodata` against float data) read a
    dask-backed array once before it is written; writing in the array's own dtype
    with NaN as nodata reads it only to write it. A dask-backed array is stored chunk
    by chunk under a lock: a ``threading.Lock``, or a ``distributed.Lock`` when a
    dask.distributed Client is the active scheduler.

    GeoTIFF keeps the wavelengths so any reader finds them: per-band tags
    ``wavelength``, ``fwhm``, ``wavelength_units=nm``, dataset tags with the lists,
    and band descriptions: the ``band_name`` coordinate when there is one, else the
    wavelengths (``"550.0 nm"``). A string ``long_name`` attribute goes to a dataset
    tag. NetCDF/Zarr keep all coordinates, the attributes and ``spatial_ref`` (CRS
    WKT and GeoTransform).

    Examples
    --------
    >>> import tempfile, os
    >>> import rasterio
    >>> from sep3d.datasets import synthetic_cube
    >>> cube, truth = synthetic_cube((4, 16, 16))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     print(write_raster(cube, os.path.join(tmp, "cube.zarr")).name)
    ...     path = write_raster(truth.labels, os.path.join(tmp, "labels.tif"), dtype="uint8", nodata=255)
    ...     with rasterio.open(path) as src:
    ...         print(src.dtypes[0], src.nodata)
    cube.zarr
    uint8 255.0
    """
    import xarray as xr

    if not isinstance(da, xr.DataArray):
        raise TypeError(f"`da` must be an xarray.DataArray; got {type(da).__name__}")
    path = Path(os.fspath(path))
    suffix = path.suffix.lower()
    if suffix not in _WRITE_SUFFIXES:
        raise ValueError(f"`path` must end in one of {list(_WRITE_SUFFIXES)}; got {path.name!r}")
    if da.ndim not in (2, 3):
        raise ValueError(f"`da` must be (band, y, x) or (y, x); got dims {da.dims}")
    if isinstance(blocksize, bool) or not isinstance(blocksize, (int, np.integer)) \
            or blocksize <= 0 or blocksize % 16:
        raise ValueError(f"`blocksize` must be a positive multiple of 16; got {blocksize!r}")
    values, fill = _output_array(da, _check_dtype(dtype), nodata)
    with atomic_path(path) as tmp:
        if suffix in (".tif", ".tiff"):
            _write_geotiff(values, fill, tmp, tiled=tiled, compress=compress, blocksize=int(blocksize))
        elif suffix == ".nc":
            ds, name = _as_dataset(values, fill)
            ds[name].encoding["chunksizes"] = _storage_chunks(ds[name], int(blocksize))
            if compress:
                ds[name].encoding["zlib"] = True
            ds.to_netcdf(tmp, engine="h5netcdf")
        else:
            ds, name = _as_dataset(values, fill)
            ds = _regular_chunks(ds, name)
            if ds[name].chunks is None:  # dask arrays are stored with their own chunks
                ds[name].encoding["chunks"] = _storage_chunks(ds[name], int(blocksize))
            ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
    return path
