"""Spectral angle mapper: the angle between every pixel and every library spectrum."""
from __future__ import annotations

import numpy as np
from ..jit import njit, prange

from ._cube import BAND_DIM, WAVELENGTH, as_cube, blockwise, is_dask, is_xarray, result_dtype

__all__ = ["sam", "sam_classify"]

ENDMEMBER_DIM = "endmember"


def _library(library, cube, names):
    """The library as a float64 ``(endmember, band)`` array of unit rows, and its names."""
    lib_names = None
    if is_xarray(library):
        if BAND_DIM not in library.dims:
            raise ValueError(f"`library` must have a {BAND_DIM!r} dimension; got dims {library.dims}")
        if library.ndim == 1:
            library = library.expand_dims(ENDMEMBER_DIM)
        if library.ndim != 2:
            raise ValueError(f"`library` must be 2-D (endmember, band); got dims {library.dims}")
        library = library.transpose(..., BAND_DIM)
        other = library.dims[0]
        if other in library.coords:
            lib_names = [v.item() if hasattr(v, "item") else v for v in library[other].values]
        if (cube.wavelength is not None and WAVELENGTH in library.coords
                and library[WAVELENGTH].dims == (BAND_DIM,) and library.sizes[BAND_DIM] == cube.nbands
                and not np.allclose(library[WAVELENGTH].values, cube.wavelength, rtol=1e-6, atol=1e-6)):
            raise ValueError("`library` wavelengths must match the cube's; resample the library first")
        values = library.values
    elif is_dask(library):
        values = np.asarray(library.compute())
    else:
        values = np.asarray(library)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"`library` must be (endmember, band) real numbers; got {type(library).__name__} "
                        f"of dtype {values.dtype}")
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] != cube.nbands:
        raise ValueError(f"`library` must have shape (endmember, {cube.nbands}) to match the cube's bands; "
                         f"got {values.shape}")
    if values.shape[0] == 0:
        raise ValueError("`library` must hold at least one spectrum; got none")
    m = np.array(values, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", m, m))
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        bad = np.flatnonzero(~np.isfinite(norms) | (norms == 0)).tolist()
        raise ValueError(f"`library` spectra must be finite and non-zero; spectra {bad} are not")
    m /= norms[:, None]
    if names is not None:
        names = list(names)
        if len(names) != m.shape[0]:
            raise ValueError(f"`names` must have one entry per library spectrum ({m.shape[0]}); got {len(names)}")
    else:
        names = lib_names if lib_names is not None else list(range(m.shape[0]))
    return m, names


def _sam_rows(x, members, out):
    """Angles between every pixel of ``x`` (band, y, x) and every unit row of ``members``.

    Rows ``y`` are independent (``prange``); each band row is read once, contiguously,
    while float64 dot products and squared norms of the whole image row accumulate in
    small buffers: one pass over the cube, no temporaries. A pixel with a non-finite or
    zero norm gets NaN.
    """
    nb, ny, nx = x.shape
    nk = members.shape[0]
    for y in prange(ny):
        norm = np.zeros(nx)
        dots = np.zeros((nk, nx))
        for b in range(nb):
            for i in range(nx):
                v = np.float64(x[b, y, i])
                norm[i] += v * v
            for k in range(nk):
                m = members[k, b]
                for i in range(nx):
                    dots[k, i] += np.float64(x[b, y, i]) * m
        for i in range(nx):
            n = np.sqrt(norm[i])
            for k in range(nk):
                if n > 0.0 and n < np.inf:
                    c = dots[k, i] / n
                    out[k, y, i] = np.arccos(min(1.0, max(-1.0, c)))
                else:
                    out[k, y, i] = np.nan


# Threads over rows for NumPy cubes; serial inside dask tasks (dask runs one task per core).
_sam_parallel = njit(cache=True, nogil=True, parallel=True)(_sam_rows)
_sam_serial = njit(cache=True, nogil=True)(_sam_rows)


def _angles_block(block, *, members, out_dtype, parallel=False):
    """Angles ``(endmember, y, x)`` of a ``(band, y, x)`` block, accumulated in float64."""
    out = np.empty((members.shape[0],) + block.shape[1:], dtype=out_dtype)
    x = block if block.dtype.kind == "f" else block.astype(np.float64)
    (_sam_parallel if parallel else _sam_serial)(x, members, out)
    return out


def _classify_block(block, *, members, max_angle, parallel=False):
    angles = _angles_block(block, members=members, out_dtype=np.float64, parallel=parallel)
    label = np.argmin(np.where(np.isnan(angles), np.inf, angles), axis=0).astype(np.int32)
    best = np.min(angles, axis=0)
    nodata = np.isnan(angles).any(axis=0)
    if max_angle is not None:
        nodata |= best > max_angle
    label[nodata] = -1
    return label[None]


def sam(cube, library, *, names=None, band_axis=None):
    """Spectral angles between every pixel and every library spectrum.

    Parameters
    ----------
    cube : xarray.DataArray, ndarray or dask array
        ``(band, y, x)`` DataArray or a 3-D array with its band axis at `band_axis`.
    library : xarray.DataArray or array_like
        ``(endmember, band)`` spectra (one 1-D spectrum works too), e.g. the
        ``endmembers`` of :func:`sep3d.datasets.synthetic_cube`. A DataArray's first
        dimension coordinate names the endmembers; its ``wavelength`` coordinate, if
        any, must match the cube's.
    names : sequence, optional
        Endmember names (default: the library's coordinate, else 0, 1, ...).
    band_axis : int, optional
        Band axis of a NumPy or dask `cube` (default 0).

    Returns
    -------
    xarray.DataArray or ndarray or dask array
        Angles in radians, ``(endmember, y, x)``, in [0, pi]; float64 for float64
        input, else float32 (computed in float64 either way). NaN for pixels with a
        non-finite band and for all-zero pixels. Lazy for dask.

    Raises
    ------
    ValueError
        Library of the wrong shape, with a zero or non-finite spectrum, with other
        wavelengths; `names` of the wrong length.
    TypeError
        `library` not an array of real numbers.

    See Also
    --------
    sam_classify : the index of the smallest angle.

    Notes
    -----
    ``angle = arccos(clip(x . m / (|x| |m|), -1, 1))``, as Spectral Python's
    ``spectral_angles``, with dot products and norms accumulated in float64 by a compiled
    kernel that reads the cube once (threads over image rows; serial inside each dask
    task).

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d.spectral import sam
    >>> cube = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])      # 2 bands, 1 x 2 pixels
    >>> np.degrees(sam(cube, [[1.0, 1.0]]))[0].round(1)
    array([[45., 45.]])
    """
    c = as_cube(cube, "cube", band_axis=band_axis)
    members, names = _library(library, c, names)
    dtype = result_dtype(c.dtype)
    if c.lazy:
        angles = blockwise(c, _angles_block, members.shape[0], dtype, members=members, out_dtype=dtype)
    else:  # the whole cube at once: a contiguous cube reaches the kernel as such (SIMD), no temporaries
        angles = _angles_block(c.data, members=members, out_dtype=dtype, parallel=True)
    return c.wrap(angles, new_dim=ENDMEMBER_DIM, new_coords={ENDMEMBER_DIM: names}, name="spectral_angle",
                  attrs=c.derived_attrs(long_name="spectral angle", units="rad"))


def sam_classify(cube, library, *, names=None, max_angle=None, band_axis=None):
    """The library spectrum nearest in angle to every pixel (spectral angle mapper classes).

    Parameters
    ----------
    cube, library, names, band_axis
        As :func:`sam`.
    max_angle : float, optional
        Pixels whose smallest angle exceeds this (radians) are left unclassified (-1).

    Returns
    -------
    xarray.DataArray or ndarray or dask array
        int32 ``(y, x)``: the index of the endmember with the smallest angle, -1 for
        nodata (a non-finite band, an all-zero spectrum) and unclassified pixels. A
        DataArray carries ``flag_values`` and ``flag_meanings`` attrs (CF) with the names.

    Raises
    ------
    ValueError
        As :func:`sam`; `max_angle` negative or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d.spectral import sam_classify
    >>> cube = np.array([[[1.0, 0.1, np.nan]], [[0.1, 1.0, np.nan]]])
    >>> sam_classify(cube, [[1.0, 0.0], [0.0, 1.0]])
    array([[ 0,  1, -1]], dtype=int32)
    """
    c = as_cube(cube, "cube", band_axis=band_axis)
    members, names = _library(library, c, names)
    if max_angle is not None:
        if isinstance(max_angle, bool) or not isinstance(max_angle, (int, float, np.floating, np.integer)):
            raise TypeError(f"`max_angle` must be a number (radians) or None; got {max_angle!r}")
        if not np.isfinite(max_angle) or max_angle < 0:
            raise ValueError(f"`max_angle` must be finite and >= 0 (radians); got {max_angle!r}")
        max_angle = float(max_angle)
    if c.lazy:
        labels = blockwise(c, _classify_block, 1, np.dtype(np.int32), members=members, max_angle=max_angle)[0]
    else:
        labels = _classify_block(c.data, members=members, max_angle=max_angle, parallel=True)[0]
    attrs = c.derived_attrs(long_name="spectral angle mapper class", _FillValue=np.int32(-1),
                            flag_values=list(range(-1, len(names))),
                            flag_meanings=" ".join(["nodata"] + [str(n).replace(" ", "_") for n in names]))
    return c.wrap(labels, name="sam_class", attrs=attrs)
