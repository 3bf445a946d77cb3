"""Cube handling shared by :mod:`sep3d.spectral`: argument checks, layout, output wrapping.

Every public function of the spectral package turns its input into a :class:`Cube`
(band axis first, NumPy or dask, band axis in one chunk), works on that, and wraps the
result back into the input's type with :meth:`Cube.wrap`: a DataArray keeps its spatial
coordinates (rioxarray's ``spatial_ref``, hence CRS and transform) and attrs, a NumPy or
dask array gets its new axis where the band axis was.

The argument checks of the spectral functions live here too, one per kind of argument;
every message names the argument, what is allowed and what was received.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .._validate import check_array_meta
from ..xr import is_nan_value

try:  # dask is a dependency; keep the package importable without it all the same
    import dask
    import dask.array as da
    from dask.delayed import Delayed
except ImportError:  # pragma: no cover
    dask = da = Delayed = None

try:
    import xarray as xr
except ImportError:  # pragma: no cover
    xr = None

#: Name of the band dimension of a DataArray cube and of its wavelength coordinate.
BAND_DIM = "band"
WAVELENGTH = "wavelength"

#: attrs that describe the values of the input, not its grid: not copied to derived outputs.
#: (A NaN ``_FillValue`` stays: NaN marks nodata in the outputs too, and rioxarray reads
#: it; an integer code, ``_FillValue`` or ``missing_value``, is how the input's file stored
#: nodata and means nothing in a float output.)
VALUE_ATTRS = frozenset({"units", "long_name", "standard_name", "scale_factor", "add_offset",
                         "valid_range", "valid_min", "valid_max", "missing_value"})

#: Bytes of float64 temporaries per block of pixels: large enough for BLAS, small enough
#: to stay in cache-friendly, bounded memory (a cube bigger than memory streams through).
BLOCK_BYTES = 4 * 2**20
#: Bytes of input per NumPy slab (the unit a NumPy cube is walked in, like a dask chunk).
SLAB_BYTES = 64 * 2**20


def is_dask(arr):
    return da is not None and isinstance(arr, da.Array)


def is_xarray(obj):
    return xr is not None and isinstance(obj, xr.DataArray)


def result_dtype(dtype):
    """float64 in -> float64 out; every other real dtype -> float32 (sep3d's rich-API rule)."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def _check_meta(arr, name):
    check_array_meta(arr, name)
    if arr.ndim != 3:
        raise ValueError(f"`{name}` must be 3-D (band and two spatial axes); got {arr.ndim}-D "
                         f"with shape {tuple(arr.shape)}")


def check_band_axis(band_axis, ndim=3, name="band_axis"):
    if band_axis is None:
        return 0
    if isinstance(band_axis, bool) or not isinstance(band_axis, numbers.Integral):
        raise TypeError(f"`{name}` must be an int; got {band_axis!r}")
    if not -ndim <= band_axis < ndim:
        raise ValueError(f"`{name}` must be in [-{ndim}, {ndim - 1}]; got {band_axis}")
    return int(band_axis) % ndim


def check_wavelength(wavelength, nbands, name="wavelength"):
    """Wavelengths as float64, one per band, finite and strictly monotonic."""
    try:
        wl = np.asarray(wavelength, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a sequence of numbers (nm); got {wavelength!r}") from None
    if wl.ndim != 1 or wl.size != nbands:
        raise ValueError(f"`{name}` must hold one value per band ({nbands}); got shape {wl.shape}")
    if not np.all(np.isfinite(wl)):
        raise ValueError(f"`{name}` must be finite; got {wl.tolist()}")
    if nbands > 1:
        step = np.diff(wl)
        if not (np.all(step > 0) or np.all(step < 0)):
            raise ValueError(f"`{name}` must be strictly increasing or decreasing; got {wl.tolist()}")
    return wl


def check_n_components(n_components, nmax, name="n_components"):
    """None (all) or an int in [1, nmax]."""
    if n_components is None:
        return nmax
    if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral):
        raise TypeError(f"`{name}` must be None or an int; got {n_components!r}")
    if not 1 <= n_components <= nmax:
        raise ValueError(f"`{name}` must be in [1, {nmax}]; got {n_components}")
    return int(n_components)


def check_choice(value, allowed, name):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}; got {value!r}")
    return value


@dataclass
class Cube:
    """A cube with its band axis first.

    Attributes
    ----------
    data : ndarray or dask.array.Array
        ``(band, y, x)``; a dask array has the band axis in one chunk.
    wavelength : ndarray or None
        float64 wavelengths (nm), one per band.
    obj : xarray.DataArray or None
        The DataArray the cube came from (transposed band first).
    band_axis : int
        Where the band axis was in a NumPy or dask input (outputs put their new axis there).
    """

    data: object
    wavelength: np.ndarray | None
    obj: object = None
    band_axis: int = 0

    @property
    def nbands(self):
        return self.data.shape[0]

    @property
    def spatial_shape(self):
        return tuple(self.data.shape[1:])

    @property
    def lazy(self):
        return is_dask(self.data)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def spatial_dims(self):
        return tuple(self.obj.dims[1:]) if self.obj is not None else None

    def band_coords(self):
        """The coordinates that live on the band dimension only (band, wavelength, fwhm...)."""
        if self.obj is None:
            out = {}
        else:
            out = {name: np.asarray(c.values) for name, c in self.obj.coords.items()
                   if c.dims == (BAND_DIM,)}
        if self.wavelength is not None and WAVELENGTH not in out:
            out[WAVELENGTH] = self.wavelength
        return out

    def wrap(self, data, *, new_dim=None, new_coords=None, name=None, attrs=None):
        """Wrap `data` (``(new, y, x)`` or ``(y, x)``, band-first layout) like the input.

        A DataArray input gives a DataArray with dims ``(new_dim, y, x)`` (or ``(y, x)``),
        the input's spatial and scalar coordinates, `new_coords` on the new dimension
        and `attrs`. A NumPy or dask input gives the array with its new axis moved to
        where the band axis was.
        """
        if self.obj is None:
            if data.ndim == 3 and self.band_axis != 0:
                data = moveaxis(data, 0, self.band_axis)
            return data
        spatial = self.spatial_dims
        dims = ((new_dim,) if data.ndim == 3 else ()) + spatial
        coords = {k: c for k, c in self.obj.coords.items() if set(c.dims) <= set(spatial)}
        if new_coords:
            coords.update(new_coords)
        return xr.DataArray(data, dims=dims, coords=coords, name=name, attrs=dict(attrs or {}))

    def derived_attrs(self, **extra):
        """The input's attrs without the ones describing its values, plus `extra`."""
        attrs = {} if self.obj is None else {k: v for k, v in self.obj.attrs.items() if k not in VALUE_ATTRS}
        if "_FillValue" in attrs and not is_nan_value(attrs["_FillValue"]):
            attrs.pop("_FillValue")
        attrs.update({k: v for k, v in extra.items() if v is not None})
        return attrs


def _host_array(data, name):
    """`data` as a NumPy or dask array; GPU arrays are refused, other array-likes converted."""
    if is_dask(data) or isinstance(data, np.ndarray):
        return data
    if hasattr(data, "__cuda_array_interface__"):
        raise NotImplementedError(f"`{name}`: sep3d.spectral works on NumPy and dask arrays; got "
                                  f"{type(data).__name__} (move it to the host first)")
    if isinstance(data, (list, tuple)) or hasattr(data, "__array__"):
        return np.asarray(data)
    raise TypeError(f"`{name}` must be an xarray.DataArray, a NumPy array or a dask array; "
                    f"got {type(data).__name__}")


def moveaxis(arr, src, dst):
    return da.moveaxis(arr, src, dst) if is_dask(arr) else np.moveaxis(arr, src, dst)


def as_cube(cube, name="cube", *, band_axis=None, wavelength=None, need_wavelength=False):
    """Normalise a cube argument to a :class:`Cube` (band first, band axis in one chunk).

    Accepts a DataArray with a ``band`` dimension (and two spatial dimensions), or a
    3-D NumPy or dask array with its band axis at `band_axis` (default 0).
    """
    obj = None
    if is_xarray(cube):
        if band_axis is not None:
            raise ValueError(f"`band_axis` is for NumPy and dask arrays; a DataArray `{name}` "
                             f"names its band dimension {BAND_DIM!r}; got band_axis={band_axis!r}")
        if BAND_DIM not in cube.dims:
            raise ValueError(f"`{name}` must have a {BAND_DIM!r} dimension; got dims {cube.dims}")
        obj = cube.transpose(BAND_DIM, ...)
        data = _host_array(obj.data, name)
        _check_meta(data, name)
        if wavelength is None and WAVELENGTH in obj.coords and obj.coords[WAVELENGTH].dims == (BAND_DIM,):
            wavelength = obj.coords[WAVELENGTH].values
        axis = 0
    else:
        data = _host_array(cube, name)
        _check_meta(data, name)
        axis = check_band_axis(band_axis)
        if axis != 0:
            data = moveaxis(data, axis, 0)
    if is_dask(data) and len(data.chunks[0]) > 1:
        data = data.rechunk({0: -1})  # band-axis operations need whole spectra in a chunk
    if isinstance(data, np.ndarray) and not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    wl = None if wavelength is None else check_wavelength(wavelength, data.shape[0])
    if need_wavelength and wl is None:
        raise ValueError(f"`{name}` needs wavelengths: a {WAVELENGTH!r} coordinate on its "
                         f"{BAND_DIM!r} dimension, or pass `wavelength=` (nm, one per band)")
    return Cube(data, wl, obj, axis)


# ---------------------------------------------------------------------------------------
# Walking a cube block by block (NumPy slabs or dask chunks) for one-pass reductions


def regions(data):
    """Spatial regions ``(y0, y1, x0, x1)`` covering the cube, with their block index.

    dask: one per chunk; NumPy: slabs of whole rows of about :data:`SLAB_BYTES`.
    """
    _, ny, nx = data.shape
    if is_dask(data):
        ys = np.cumsum((0,) + data.chunks[1])
        xs = np.cumsum((0,) + data.chunks[2])
        return [((i, j), (int(ys[i]), int(ys[i + 1]), int(xs[j]), int(xs[j + 1])))
                for i in range(len(ys) - 1) for j in range(len(xs) - 1)]
    row_bytes = max(1, data.shape[0] * nx * data.dtype.itemsize)
    h = max(1, min(ny, SLAB_BYTES // row_bytes))
    return [((k, 0), (y0, min(ny, y0 + h), 0, nx)) for k, y0 in enumerate(range(0, ny, h))]


def map_reduce(data, chunk_fn, merge_fn, *, extend=None, extra=None, fan_in=8):
    """Apply ``chunk_fn(block, *extra_blocks)`` to every region and merge the results.

    Parameters
    ----------
    data : ndarray or dask array, ``(band, y, x)``
    chunk_fn : callable
        ``chunk_fn(block, *extra_blocks) -> partial``.
    merge_fn : callable
        ``merge_fn(list_of_partials) -> partial``; associative.
    extend : callable, optional
        ``extend(y0, y1, x0, x1) -> (y0, y1, x0, x1)``: a larger region to hand to
        `chunk_fn` instead (a one-pixel halo for pixel differences).
    extra : sequence of arrays, optional
        2-D ``(y, x)`` arrays (labels) cut to the same region and passed after the block;
        with a dask `data` they must be dask arrays chunked like its spatial axes.

    Returns
    -------
    The merged partial (NumPy) or a :class:`dask.delayed.Delayed` of it (dask): one
    graph whose chunks are read once, merged in a tree of fan-in `fan_in`.
    """
    extra = tuple(extra or ())
    parts = []
    lazy = is_dask(data)
    # optimize_graph=False: every consumer of a chunk refers to the same key, so that a graph
    # with several reductions (MNF: signal and noise) reads each chunk once, not once each
    blocks = data.to_delayed(optimize_graph=False) if lazy and extend is None else None
    extra_blocks = [e.to_delayed(optimize_graph=False) for e in extra] if lazy else None
    for (i, j), (y0, y1, x0, x1) in regions(data):
        if lazy:
            if extend is None:
                block = blocks[0, i, j]
            else:
                ey0, ey1, ex0, ex1 = extend(y0, y1, x0, x1)
                piece = data[:, ey0:ey1, ex0:ex1]
                block = piece.rechunk(piece.shape).to_delayed(optimize_graph=False).ravel()[0]
            args = [eb[i, j] for eb in extra_blocks]
            parts.append(dask.delayed(chunk_fn, pure=True)(block, *args))
        else:
            if extend is not None:
                y0, y1, x0, x1 = extend(y0, y1, x0, x1)
            args = [np.asarray(e[y0:y1, x0:x1]) for e in extra]
            parts.append(chunk_fn(data[:, y0:y1, x0:x1], *args))
    if not lazy:
        return merge_fn(parts)
    while len(parts) > 1:
        parts = [dask.delayed(merge_fn, pure=True)(parts[k:k + fan_in]) for k in range(0, len(parts), fan_in)]
    return parts[0]


def compute(*values):
    """Compute the Delayed ones among `values` in one graph (one pass over the chunks)."""
    lazy = [k for k, v in enumerate(values) if isinstance(v, Delayed)] if dask else []
    if not lazy:
        return values
    done = dask.compute(*[values[k] for k in lazy])
    out = list(values)
    for k, v in zip(lazy, done):
        out[k] = v
    return tuple(out)


def pixel_blocks(npix, nbands):
    """Slices of about :data:`BLOCK_BYTES` of float64 over `npix` pixels."""
    step = max(256, BLOCK_BYTES // (8 * max(1, nbands)))
    return [slice(p, min(npix, p + step)) for p in range(0, npix, step)]


def as_matrix(block):
    """A ``(band, y, x)`` block as a ``(band, pixel)`` matrix (a view when the layout allows)."""
    return block.reshape(block.shape[0], -1)


def blockwise(cube, fn, nout, result_type, **kwargs):
    """Apply ``fn(block (band, y, x), **kwargs) -> (nout, y, x)`` chunk by chunk.

    NumPy: slab by slab into one output array. dask: lazily, one task per chunk.
    """
    data = cube.data
    if is_dask(data):
        return da.map_blocks(fn, data, dtype=result_type, chunks=((nout,),) + data.chunks[1:],
                             meta=np.empty((0, 0, 0), dtype=result_type), **kwargs)
    out = np.empty((nout,) + data.shape[1:], dtype=result_type)
    for _, (y0, y1, x0, x1) in regions(data):
        out[:, y0:y1, x0:x1] = fn(data[:, y0:y1, x0:x1], **kwargs)
    return out
