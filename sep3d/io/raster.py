"""Hyperspectral rasters: GeoTIFF, ENVI, NetCDF and Zarr as ``(band, y, x)`` DataArrays.

:func:`open_raster` gives one layout whatever the file: an :class:`xarray.DataArray`
with dims ``(band, y, x)``, a ``wavelength`` coordinate in nm on ``band`` (and ``fwhm``
when known), CRS and transform through rioxarray (``.rio.crs``, ``.rio.transform()``),
nodata as NaN, and by default dask chunks that keep the band axis whole (rioxarray's
own default, one band per chunk, makes every band-axis filter rechunk).

:func:`write_raster` writes such an array back, atomically (a temporary next to the
target, then a rename), keeping what GDAL does not keep by itself: GeoTIFF gets the
wavelengths as band descriptions and tags, so :func:`open_raster` restores them.

rioxarray 0.19 multiplies ``Affine`` objects with ``*``, which affine 3 marks with a
``PendingDeprecationWarning``; the calls into rioxarray here silence exactly that
warning (it is not ours to fix and says nothing about the data).
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

from ..batch import atomic_path

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
    "um": 1e3, "µm": 1e3, "micrometer": 1e3, "micrometers": 1e3, "micrometre": 1e3,
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


def _open_with_rioxarray(kind, data_path, header_path, chunks, masked):
    import rasterio
    import rioxarray

    with rasterio.open(data_path) as src:
        has_nodata = any(v is not None for v in src.nodatavals)
        if kind == "ENVI":
            spectral = _spectral_coords(*(_read_envi_header(header_path).get(key) for key in (
                "wavelength", "fwhm", "wavelength units")), src.count)
            long_name = None
        else:
            spectral = _geotiff_spectral(src)
            long_name = src.tags().get("long_name")
    with _quiet_affine():  # nothing to mask: keep the dtype (rioxarray would make it float)
        da = rioxarray.open_rasterio(data_path, chunks=chunks, masked=masked and has_nodata,
                                     band_as_variable=False)
    attrs = dict(da.attrs)
    for key in ("scale_factor", "add_offset"):  # rioxarray adds them always; identity says nothing
        if attrs.get(key) == (1.0 if key == "scale_factor" else 0.0):
            attrs.pop(key)
    if kind == "ENVI":
        band_names = "band_names" in {k.lower() for k in attrs}
        attrs = {k: (v.strip() if isinstance(v, str) else v) for k, v in attrs.items()
                 if k.lower() not in _ENVI_LAYOUT_ATTRS and not re.fullmatch(r"Band_\d+", k)}
        if not band_names and isinstance(attrs.get("long_name"), tuple):
            attrs.pop("long_name")  # GDAL's made-up "0.5 Micrometers" descriptions
    else:
        for key in _SPECTRAL_TAGS:
            attrs.pop(key, None)
        if spectral and long_name is not None:
            attrs["long_name"] = long_name
        elif spectral and isinstance(attrs.get("long_name"), tuple):
            attrs.pop("long_name")
    da.attrs = attrs
    da = da.drop_vars([c for c in ("wavelength", "fwhm") if c in da.coords])
    units = {"units": "nm"}
    return da.assign_coords({name: ("band", values, units) for name, values in spectral.items()})


def _open_with_xarray(kind, path, chunks, band_dim, masked):
    import rioxarray  # noqa: F401  (the .rio accessor)
    import xarray as xr

    opener = dict(engine="h5netcdf") if kind == "NetCDF" else dict(engine="zarr", consolidated=None)
    opener["mask_and_scale"] = masked
    ds = xr.open_dataset(path, decode_coords="all", chunks=None, **opener)
    names = [name for name, var in ds.data_vars.items() if var.ndim >= 2]
    if len(names) != 1:
        ds.close()
        raise ValueError(f"{path} must hold one raster variable; found {names or 'none'}")
    dims = ds[names[0]].dims
    if len(dims) not in (2, 3):
        ds.close()
        raise ValueError(f"{path}: variable {names[0]!r} must be (band, y, x) or (y, x); got dims {dims}")
    shape = ds[names[0]].shape
    ds.close()
    if len(dims) == 3 and shape[0] == 0:
        raise ValueError(f"{path}: variable {names[0]!r} has no bands (dims {dims}, shape {shape})")
    file_band = dims[0] if len(dims) == 3 else None
    if chunks is not None:
        chunks = _chunks_for(chunks, band_dim, file_band or band_dim)
        chunks = {k: v for k, v in chunks.items() if k in dims}
    ds = xr.open_dataset(path, decode_coords="all", chunks=chunks, **opener)
    da = ds[names[0]]
    da.set_close(ds.close)
    if file_band is None:
        da = da.expand_dims({"band": [1]})
        file_band = "band"
    return da.rename({file_band: "band"}) if file_band != "band" else da


def open_raster(path, *, chunks="auto", masked=True, band_dim="band"):
    """Open a hyperspectral (or any multi-band) raster as a ``(band, y, x)`` DataArray.

    Parameters
    ----------
    path : str or os.PathLike
        A GeoTIFF (``.tif``/``.tiff``), an ENVI image (its ``.hdr`` or the data file next
        to it), or a NetCDF file (``.nc``) or Zarr store (``.zarr`` folder) written by
        :func:`write_raster` (one raster variable).
    chunks : 'auto', dict or None
        ``'auto'`` (default): dask-backed, the band axis in one chunk and y/x chunked
        automatically. A dict is passed to the opener, with the band axis whole unless
        it names it. None: read into memory (NumPy) and close the file.
    masked : bool
        Replace nodata (GeoTIFF nodata, ENVI ``data ignore value``, NetCDF/Zarr
        ``_FillValue``) by NaN; integer data becomes float32. The nodata value stays in
        ``.rio.encoded_nodata`` / ``.encoding`` so :func:`write_raster` writes it back.
        A file without nodata keeps its dtype. NetCDF/Zarr: ``mask_and_scale``.
    band_dim : str
        Name of the band dimension of the result.

    Returns
    -------
    xarray.DataArray
        Dims ``(band_dim, "y", "x")``. Coordinates: ``band`` (1..N for GeoTIFF/ENVI),
        ``wavelength`` and ``fwhm`` in nm when the file has them, ``y``/``x`` and
        ``spatial_ref`` (``.rio.crs``, ``.rio.transform()`` work).

    Raises
    ------
    FileNotFoundError
        `path` does not exist, or an ENVI header has no data file next to it.
    ValueError
        Unknown suffix (the message lists the supported ones); a ``.zarr`` that is not a
        folder; a NetCDF/Zarr without exactly one 2-D or 3-D raster variable, or whose
        raster has no bands.
    TypeError
        `chunks` is not ``'auto'``, None or a dict.

    Notes
    -----
    Wavelengths. ENVI: the header's ``wavelength`` and ``fwhm`` lists, converted from
    ``wavelength units`` (Nanometers, Micrometers/um/microns, Millimeters). Without
    units (or "Unknown") values above 100 are taken as nm and smaller ones as
    micrometres. Units that are not lengths (Wavenumber, GHz, Index) give no
    ``wavelength`` coordinate. GeoTIFF: the per-band ``wavelength``/``fwhm``/
    ``wavelength_units`` tags :func:`write_raster` writes, else a dataset-level
    ``wavelength`` list tag, else band descriptions like ``"550.0 nm"``. NetCDF/Zarr:
    the stored coordinates. No wavelength information: no coordinate (not an error).

    The GDAL ENVI driver maps ``data ignore value`` to nodata.

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
        da = _open_with_rioxarray(kind, data_path, header_path, _chunks_for(chunks, band_dim), masked)
    else:
        _chunks_for(chunks, band_dim)  # validate
        da = _open_with_xarray(kind, data_path, chunks, band_dim, masked)
    if band_dim != "band":
        da = da.rename({"band": band_dim})
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


def _encoded_dtype(da):
    name = da.encoding.get("rasterio_dtype") or da.encoding.get("dtype")
    return np.dtype(name) if name is not None else da.dtype


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


def _write_geotiff(da, tmp, *, tiled, compress, blocksize, nodata):
    import xarray as xr

    band_dim = _band_dim_of(da) if da.ndim == 3 else None
    if band_dim is not None:
        with _quiet_affine():
            da = da.transpose(band_dim, da.rio.y_dim, da.rio.x_dim)
    out_dtype = _encoded_dtype(da)
    with _quiet_affine():
        fill = nodata
        if fill is None:
            fill = da.rio.encoded_nodata if da.rio.encoded_nodata is not None else da.rio.nodata
    is_float_data = da.dtype.kind == "f"
    if out_dtype.kind == "f":
        fill = np.nan if fill is None else float(fill)
    elif fill is None or math.isnan(float(fill)):
        if is_float_data:
            raise ValueError(f"`nodata` is required to write float data as {out_dtype} (NaN has no "
                             f"integer code); got nodata={nodata!r}")
        fill = None
    else:
        info = np.iinfo(out_dtype)
        if not (float(fill).is_integer() and info.min <= float(fill) <= info.max):
            raise ValueError(f"`nodata` must be an integer in the range of the output dtype {out_dtype} "
                             f"[{info.min}, {info.max}]; got {fill!r}")
        fill = int(fill)

    attrs = {k: v for k, v in da.attrs.items() if k not in ("_FillValue", "missing_value", *_SPECTRAL_TAGS)}
    values = da
    if is_float_data and out_dtype.kind in "iu":  # as xarray's CF encoder: round, then clip
        info = np.iinfo(out_dtype)
        values = values.round().clip(info.min, info.max)
    if is_float_data and fill is not None and not (isinstance(fill, float) and math.isnan(fill)):
        values = values.fillna(fill)
    if values.dtype != out_dtype:
        values = values.astype(out_dtype)
    values = xr.DataArray(values.variable.copy(deep=False), coords=da.coords, name=da.name)
    values.attrs = attrs
    values.encoding = {}
    with _quiet_affine():
        values = values.rio.write_nodata(fill, encoded=False) if fill is not None else values
    tags = {}
    if band_dim is not None:
        wavelength, fwhm = _wavelengths_nm(da, band_dim)
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
            if isinstance(attrs.get("long_name"), str):
                tags["long_name"] = attrs["long_name"]
            values.attrs["long_name"] = tuple(f"{round(float(w), 3)!r} nm" for w in wavelength)
    profile = {"compress": compress} if compress else {}
    if tiled:
        profile.update(tiled=True, blockxsize=blocksize, blockysize=blocksize)
    dask_backed = hasattr(values.data, "dask")
    with _quiet_affine():
        values.rio.to_raster(tmp, driver="GTiff", dtype=out_dtype, tags=tags, BIGTIFF="IF_SAFER",
                             lock=_write_lock() if dask_backed else None, **profile)


_KEEP_ENCODING = ("dtype", "_FillValue", "scale_factor", "add_offset", "grid_mapping", "units", "calendar")


def _as_dataset(da):
    """A Dataset for NetCDF/Zarr: stale encodings dropped, nodata as ``_FillValue`` encoding."""
    name = da.name if da.name is not None else "raster"
    da = da.copy(deep=False)
    da.attrs = dict(da.attrs)
    fill = da.attrs.pop("_FillValue", None)
    for key in ("scale_factor", "add_offset"):
        if da.attrs.get(key) == (1.0 if key == "scale_factor" else 0.0):
            da.attrs.pop(key)
    with _quiet_affine():
        has_crs = da.rio.crs is not None
        if has_crs:
            da = da.rio.write_crs(da.rio.crs).rio.write_transform(da.rio.transform())
    encoding = {k: v for k, v in da.encoding.items() if k in _KEEP_ENCODING}
    if fill is not None and "_FillValue" not in encoding:
        encoding["_FillValue"] = fill
    if has_crs:
        encoding["grid_mapping"] = "spatial_ref"
        da.attrs.pop("grid_mapping", None)
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


def write_raster(da, path, *, tiled=True, compress="deflate", blocksize=256, nodata=None):
    """Write a ``(band, y, x)`` or ``(y, x)`` DataArray as GeoTIFF, NetCDF or Zarr, atomically.

    Parameters
    ----------
    da : xarray.DataArray
        The raster; its CRS/transform are taken from rioxarray (``da.rio``). A
        ``wavelength`` (and ``fwhm``) coordinate on the band axis is kept, in nm (a
        ``units`` attribute in micrometres is converted). A 2-D ``(y, x)`` array (an
        index map) is written as one band. Dask-backed arrays are written chunk by
        chunk, never loaded whole.
    path : str or os.PathLike
        ``.tif``/``.tiff`` (GeoTIFF), ``.nc`` (NetCDF4 through h5netcdf) or ``.zarr``
        (a consolidated Zarr store, a folder). It is written under a temporary name
        next to it and renamed when complete; an existing file or store is replaced.
    tiled : bool
        GeoTIFF: tiled layout of `blocksize` x `blocksize` tiles.
    compress : str or None
        GeoTIFF compression (GDAL's COMPRESS: 'deflate', 'lzw', 'zstd', ...); None for
        none. NetCDF is zlib-compressed unless None; Zarr uses its default codec.
    blocksize : int
        GeoTIFF tile size, a positive multiple of 16. NetCDF (and Zarr, for NumPy-backed
        arrays) store chunks of the whole band axis by `blocksize` x `blocksize` pixels;
        a dask-backed array goes to Zarr with its own chunks.
    nodata : float, optional
        GeoTIFF nodata value. Default: the array's encoded nodata (from
        :func:`open_raster`), else its ``rio.nodata``, else NaN for float output.
        Integer output (an integer array, or float data whose encoding says integer, as
        :func:`open_raster` leaves it) writes NaN as `nodata`.

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    TypeError
        `da` is not an xarray.DataArray.
    ValueError
        Unknown suffix; `da` not 2-D or 3-D; `blocksize` not a positive multiple of
        16; float data to be written as integers without a `nodata`; a `nodata` that
        does not fit the integer output dtype.

    Notes
    -----
    Float data written as integers (an integer ``nodata`` encoding from
    :func:`open_raster`) is rounded and clipped to the integer range, NaN becomes
    `nodata`. A dask-backed array is stored chunk by chunk under a lock: a
    ``threading.Lock``, or a ``distributed.Lock`` when a dask.distributed Client is the
    active scheduler.

    GeoTIFF keeps the wavelengths three ways, so any reader finds them: band
    descriptions (``"550.0 nm"``), per-band tags ``wavelength``, ``fwhm``,
    ``wavelength_units=nm``, and dataset tags with the lists. A string ``long_name``
    attribute goes to a dataset tag. NetCDF/Zarr keep all coordinates, the attributes
    and ``spatial_ref`` (CRS WKT and GeoTransform).

    Examples
    --------
    >>> import tempfile, os
    >>> from sep3d.datasets import synthetic_cube
    >>> cube, truth = synthetic_cube((4, 16, 16))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     print(write_raster(cube, os.path.join(tmp, "cube.zarr")).name)
    ...     print(write_raster(truth.labels, os.path.join(tmp, "labels.tif")).name)
    cube.zarr
    labels.tif
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
    with atomic_path(path) as tmp:
        if suffix in (".tif", ".tiff"):
            _write_geotiff(da, tmp, tiled=tiled, compress=compress, blocksize=int(blocksize), nodata=nodata)
        elif suffix == ".nc":
            ds, name = _as_dataset(da)
            ds[name].encoding["chunksizes"] = _storage_chunks(ds[name], int(blocksize))
            if compress:
                ds[name].encoding["zlib"] = True
            ds.to_netcdf(tmp, engine="h5netcdf")
        else:
            ds, name = _as_dataset(da)
            ds = _regular_chunks(ds, name)
            if ds[name].chunks is None:  # dask arrays are stored with their own chunks
                ds[name].encoding["chunks"] = _storage_chunks(ds[name], int(blocksize))
            ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
    return path
