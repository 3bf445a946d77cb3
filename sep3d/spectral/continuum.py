"""Continuum (upper convex hull of each spectrum) and continuum removal."""
from __future__ import annotations

import numpy as np
from ..jit import njit, prange

from .._docs import docfiller
from ._cube import as_cube, is_dask, result_dtype

__all__ = ["continuum", "continuum_removed"]


def _hull_rows(x, wl, out, remove):
    """Continuum (or spectrum / continuum) of every pixel of ``x`` (band, y, x) into ``out``.

    Rows ``y`` are independent (``prange``); each pixel's spectrum is copied once into a
    contiguous buffer, its upper hull found by Andrew's monotone chain (O(bands)), and
    the hull interpolated linearly with ``np.interp``'s formula, so that hull points
    give exactly 1 after removal. Pixels with a non-finite band give NaN.
    """
    nb, ny, nx = x.shape
    for y in prange(ny):
        v = np.empty(nb)
        c = np.empty(nb)
        hull = np.empty(nb, np.int64)
        for i in range(nx):
            ok = True
            for b in range(nb):
                v[b] = x[b, y, i]
                if not np.isfinite(v[b]):
                    ok = False
            if not ok:
                for b in range(nb):
                    out[b, y, i] = np.nan
                continue
            m = 0
            for b in range(nb):
                while m >= 2:
                    p, q = hull[m - 2], hull[m - 1]
                    # q is on or below the chord p -> b: not a vertex of the upper hull
                    if (wl[q] - wl[p]) * (v[b] - v[p]) - (v[q] - v[p]) * (wl[b] - wl[p]) >= 0.0:
                        m -= 1
                    else:
                        break
                hull[m] = b
                m += 1
            for s in range(m - 1):
                p, q = hull[s], hull[s + 1]
                slope = (v[q] - v[p]) / (wl[q] - wl[p])
                for b in range(p, q):
                    c[b] = slope * (wl[b] - wl[p]) + v[p]
            c[nb - 1] = v[nb - 1]
            if remove:
                for b in range(nb):
                    out[b, y, i] = v[b] / c[b]
            else:
                for b in range(nb):
                    out[b, y, i] = c[b]


# One implementation, two builds: threads over rows for NumPy cubes, serial inside a dask
# task (dask already runs one task per core; Numba's workqueue layer must not be entered
# from several threads at once).
_hull_parallel = njit(cache=True, nogil=True, parallel=True, error_model="numpy")(_hull_rows)
_hull_serial = njit(cache=True, nogil=True, error_model="numpy")(_hull_rows)


def _run(block, *, wl, remove, out_dtype, parallel):
    out = np.empty(block.shape, dtype=out_dtype)
    kernel = _hull_parallel if parallel else _hull_serial
    if wl[0] > wl[-1]:  # descending wavelengths: walk the bands backwards
        kernel(block[::-1], np.ascontiguousarray(wl[::-1]), out[::-1], remove)
    else:
        kernel(block, wl, out, remove)
    return out


def _apply(cube, band_axis, wavelength, remove, long_name):
    c = as_cube(cube, "cube", band_axis=band_axis, wavelength=wavelength, need_wavelength=True)
    dtype = result_dtype(c.dtype)
    data = c.data
    if data.dtype.kind not in "f":
        data = data.astype(dtype)
    if is_dask(data):
        out = data.map_blocks(_run, dtype=dtype, meta=np.empty((0, 0, 0), dtype), wl=c.wavelength,
                              remove=remove, out_dtype=dtype, parallel=False)
    else:
        out = _run(data, wl=c.wavelength, remove=remove, out_dtype=dtype, parallel=True)
    if c.obj is None:
        return c.wrap(out)
    result = c.obj.copy(data=out)
    result.attrs = c.derived_attrs(long_name=long_name)
    if not remove and "units" in c.obj.attrs:
        result.attrs["units"] = c.obj.attrs["units"]
    return result.transpose(*cube.dims)


@docfiller
def continuum(cube, *, wavelength=None, band_axis=None):
    """The continuum of every spectrum: its upper convex hull over (wavelength, value).

    Parameters
    ----------
    %(hull_cube)s
    %(hull_wavelength)s
    %(hull_band_axis)s

    Returns
    -------
    Same type, shape and layout as `cube`
        The hull sampled at every band (linear between hull points); float64 for
        float64 input, else float32. NaN for pixels with a non-finite band.

    Raises
    ------
    ValueError
        No wavelengths, or wavelengths not strictly monotonic or of the wrong length.

    See Also
    --------
    continuum_removed

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d.spectral import continuum
    >>> spectrum = np.array([1.0, 0.5, 2.0, 1.0]).reshape(4, 1, 1)
    >>> continuum(spectrum, wavelength=[400, 500, 600, 700]).ravel()
    array([1. , 1.5, 2. , 1. ])
    """
    return _apply(cube, band_axis, wavelength, False, "continuum")


@docfiller
def continuum_removed(cube, *, wavelength=None, band_axis=None):
    """Spectra divided by their continuum (the upper convex hull): 1 on the hull, < 1 in absorptions.

    Parameters
    ----------
    %(hull_cube)s
    %(hull_wavelength)s
    %(hull_band_axis)s

    Returns
    -------
    Same type, shape and layout as `cube`
        float64 for float64 input, else float32 (computed in float64). NaN for pixels
        with a non-finite band. A DataArray keeps its coordinates and attrs (less
        ``units``: the result is a ratio). Lazy for dask (one task per chunk; the band
        axis is one chunk).

    Raises
    ------
    ValueError
        No wavelengths, or wavelengths not strictly monotonic or of the wrong length.

    See Also
    --------
    continuum

    Notes
    -----
    The convex (not segmented) continuum of Spectral Python's ``remove_continuum`` and
    of hsdar (Clark and Roush, 1984): the same hull, found by Andrew's monotone chain in
    O(bands) per pixel in a compiled kernel (threads over image rows; serial inside each
    dask task). The continuum of a spectrum with non-positive values can be zero or
    negative: the ratio is then inf or of the other sign, as in Spectral Python.

    References
    ----------
    Clark, R. N., Roush, T. L. (1984). Reflectance spectroscopy: quantitative analysis
    techniques for remote sensing applications. JGR 89(B7), 6329-6340.

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d.spectral import continuum_removed
    >>> spectrum = np.array([1.0, 0.5, 2.0, 1.0]).reshape(4, 1, 1)
    >>> continuum_removed(spectrum, wavelength=[400, 500, 600, 700]).ravel()
    array([1.        , 0.33333333, 1.        , 1.        ])
    """
    return _apply(cube, band_axis, wavelength, True, "continuum-removed spectrum")
