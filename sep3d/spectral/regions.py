"""Per-region (label) statistics of every band, in one pass over the cube."""
from __future__ import annotations

import numbers

import numpy as np
import xarray as xr
from ..jit import njit, prange

from ._cube import BAND_DIM, as_cube, as_matrix, compute, is_dask, is_xarray, map_reduce

try:
    import dask.array as da
except ImportError:  # pragma: no cover
    da = None

__all__ = ["region_stats", "STATS"]

#: Statistics :func:`region_stats` computes.
STATS = ("mean", "std", "var", "sum", "min", "max", "count")
LABEL_DIM = "label"


def _label_moments(x, idx, count, mean, m2, lo, hi):
    """Per label and band: mean, sum of squared deviations, min, max (two passes, in place).

    ``x`` is ``(band, pixel)``, ``idx`` the label slot of each pixel (-1: skip).
    ``count`` is given; ``mean``, ``m2`` start at 0, ``lo`` at +inf, ``hi`` at -inf.
    """
    nb, npix = x.shape
    nlab = count.shape[0]
    for b in prange(nb):
        for i in range(npix):
            k = idx[i]
            if k >= 0:
                v = x[b, i]
                mean[k, b] += v
                if v < lo[k, b]:
                    lo[k, b] = v
                if v > hi[k, b]:
                    hi[k, b] = v
        for k in range(nlab):
            if count[k] > 0:
                mean[k, b] /= count[k]
        for i in range(npix):
            k = idx[i]
            if k >= 0:
                d = x[b, i] - mean[k, b]
                m2[k, b] += d * d


# Threads over bands for NumPy cubes; serial inside dask tasks (see continuum.py).
_label_parallel = njit(cache=True, nogil=True, parallel=True)(_label_moments)
_label_serial = njit(cache=True, nogil=True)(_label_moments)


class _Partial:
    """Statistics of the labelled pixels of a block: labels, count, mean, M2, min, max."""

    __slots__ = ("labels", "count", "mean", "m2", "lo", "hi")

    def __init__(self, labels, count, mean, m2, lo, hi):
        self.labels, self.count, self.mean, self.m2, self.lo, self.hi = labels, count, mean, m2, lo, hi


class _BlockFn:
    """``(block, labels) -> _Partial``; picklable for dask.distributed."""

    def __init__(self, background, parallel):
        self.background, self.parallel = background, parallel

    def __call__(self, block, labels):
        x = as_matrix(block)
        lab = np.asarray(labels).reshape(-1)
        keep = np.ones(lab.shape, bool)
        if lab.dtype.kind == "f":  # NaN: no label (a label raster opened with its nodata masked)
            keep = ~np.isnan(lab)
            lab = _integral(lab, keep)
        if self.background is not None:
            keep &= lab != self.background
        uniq, inverse = np.unique(lab[keep], return_inverse=True)
        idx = np.full(lab.shape, -1, np.int64)
        idx[keep] = inverse
        idx[~np.isfinite(x).all(axis=0)] = -1  # nodata pixels: the label exists, its pixel is not counted
        nlab, nb = uniq.size, x.shape[0]
        count = np.bincount(idx[idx >= 0], minlength=nlab).astype(np.int64)
        mean, m2 = np.zeros((nlab, nb)), np.zeros((nlab, nb))
        lo, hi = np.full((nlab, nb), np.inf), np.full((nlab, nb), -np.inf)
        if nlab:
            xs = x if x.dtype.kind == "f" else x.astype(np.float64)
            (_label_parallel if self.parallel else _label_serial)(xs, idx, count, mean, m2, lo, hi)
        return _Partial(uniq.astype(np.int64), count, mean, m2, lo, hi)

    def __dask_tokenize__(self):
        return ("sep3d.spectral.region_stats", self.background, self.parallel)


def _spread(p, labels):
    """A partial laid out on the sorted label list `labels` (zeros where it has none)."""
    pos = np.searchsorted(labels, p.labels)
    nb = p.mean.shape[1]
    count = np.zeros(labels.size, np.int64)
    mean, m2 = np.zeros((labels.size, nb)), np.zeros((labels.size, nb))
    lo, hi = np.full((labels.size, nb), np.inf), np.full((labels.size, nb), -np.inf)
    count[pos], mean[pos], m2[pos], lo[pos], hi[pos] = p.count, p.mean, p.m2, p.lo, p.hi
    return count, mean, m2, lo, hi


def _merge(parts):
    """Chan et al.'s pairwise merge, label by label, over the union of labels."""
    labels = np.unique(np.concatenate([p.labels for p in parts]))
    count, mean, m2, lo, hi = _spread(parts[0], labels)
    for p in parts[1:]:
        nb_, mb, m2b, lob, hib = _spread(p, labels)
        total = count + nb_
        safe = np.maximum(total, 1)
        delta = mb - mean
        mean = mean + delta * (nb_ / safe)[:, None]
        m2 = m2 + m2b + delta ** 2 * (count * nb_ / safe)[:, None]
        lo, hi = np.minimum(lo, lob), np.maximum(hi, hib)
        count = total
    return _Partial(labels, count, mean, m2, lo, hi)


#: float labels are exact integers up to here
_FLOAT_INT_LIMIT = 2.0 ** 53


def _integral(lab, valid):
    """Float labels as int64 (0 where not `valid`); ValueError for a valid non-integer."""
    values = lab[valid]
    bad = ~((values == np.floor(values)) & (np.abs(values) <= _FLOAT_INT_LIMIT))  # inf fails too
    if bad.any():
        raise ValueError(f"`labels` must hold integers (or NaN for no label); got {float(values[bad][0])!r}")
    return np.where(valid, lab, 0).astype(np.int64)


def _check_labels(labels, c):
    """Labels as a NumPy or dask ``(y, x)`` integer array matching the cube's pixels."""
    if is_xarray(labels):
        if c.obj is not None:
            dims = c.spatial_dims
            if set(labels.dims) != set(dims):
                raise ValueError(f"`labels` must have the cube's spatial dims {dims}; got {labels.dims}")
            labels = labels.transpose(*dims)
            for d in dims:
                if (d in labels.coords and d in c.obj.coords and labels.sizes[d] == c.obj.sizes[d]
                        and not np.array_equal(labels[d].values, c.obj[d].values)):
                    raise ValueError(f"`labels` coordinate {d!r} must match the cube's")
        labels = labels.data
    elif not (is_dask(labels) or isinstance(labels, np.ndarray)):
        labels = np.asarray(labels)
    if labels.dtype.kind not in "iubf":
        raise TypeError(f"`labels` must be an integer (y, x) array (or float with NaN for no label); got "
                        f"{type(labels).__name__} of dtype {labels.dtype}")
    if labels.dtype.kind == "f" and not is_dask(labels):
        _integral(labels, ~np.isnan(labels))  # refuse non-integers now; dask labels: block by block
    if tuple(labels.shape) != c.spatial_shape:
        raise ValueError(f"`labels` must have the cube's spatial shape {c.spatial_shape}; got {tuple(labels.shape)}")
    if c.lazy:
        labels = labels.rechunk(c.data.chunks[1:]) if is_dask(labels) else da.from_array(labels, chunks=c.data.chunks[1:])
    elif is_dask(labels):
        labels = labels.compute()
    return labels


def region_stats(cube, labels, *, stats=("mean", "std", "count"), background=0, ddof=0, band_axis=None):
    """Statistics of every band over each labelled region, in one pass.

    Parameters
    ----------
    cube : xarray.DataArray, ndarray or dask array
        ``(band, y, x)`` DataArray or a 3-D array with its band axis at `band_axis`.
    labels : xarray.DataArray or array_like
        Integer ``(y, x)`` label image (a DataArray with the cube's spatial dims and
        coordinates), e.g. the ``labels`` of :func:`sep3d.datasets.synthetic_cube`.
        Float labels are taken as integers, with NaN for "no label": a label raster
        read by :func:`sep3d.io.open_raster` with its nodata masked can be passed
        as it is (never cast NaN to an integer: ``astype(int32)`` makes it
        -2147483648, a region of its own).
    stats : sequence of str, optional
        Any of ``'mean', 'std', 'var', 'sum', 'min', 'max', 'count'``.
    background : int or None, optional
        The label left out (default 0); None keeps every label.
    ddof : int, optional
        Delta degrees of freedom of 'std' and 'var' (default 0, as ``np.std``).
    band_axis : int, optional
        Band axis of a NumPy or dask `cube` (default 0).

    Returns
    -------
    xarray.Dataset
        One variable per statistic: ``(label, band)`` float64 ones and ``count``
        ``(label,)`` int64, the number of valid pixels. Coordinates: ``label`` (sorted
        label values), the cube's band coordinates (``wavelength``...). A label whose
        pixels are all nodata has count 0 and NaN statistics.

    Raises
    ------
    ValueError
        Unknown statistic, labels of the wrong shape or dims, negative `ddof`; float
        labels that are not integers or NaN (dask labels: when computed).
    TypeError
        Labels not integers or floats, `background` not an int or None.

    Notes
    -----
    A pixel counts when all its bands are finite and it has a label (NaN labels and
    the `background` label are left out). Each block (NumPy slab or dask
    chunk) gives per-label counts, means and sums of squared deviations (a compiled
    two-pass kernel, threads over bands), merged pairwise (Chan et al.): accurate
    variances, one read of the cube, memory bounded by the block size.

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d.spectral import region_stats
    >>> cube = np.arange(8.0).reshape(2, 2, 2)          # 2 bands, 2 x 2 pixels
    >>> labels = np.array([[1, 1], [2, 0]])
    >>> ds = region_stats(cube, labels)
    >>> ds["mean"].values
    array([[0.5, 4.5],
           [2. , 6. ]])
    >>> ds["count"].values
    array([2, 1])
    """
    c = as_cube(cube, "cube", band_axis=band_axis)
    if isinstance(stats, str):
        stats = (stats,)
    stats = tuple(stats)
    unknown = [s for s in stats if s not in STATS]
    if unknown or not stats:
        raise ValueError(f"`stats` must be a non-empty selection of {list(STATS)}; got {list(stats)}")
    if background is not None and (isinstance(background, bool) or not isinstance(background, numbers.Integral)):
        raise TypeError(f"`background` must be an int or None; got {background!r}")
    if isinstance(ddof, bool) or not isinstance(ddof, numbers.Integral):
        raise TypeError(f"`ddof` must be an int; got {ddof!r}")
    if ddof < 0:
        raise ValueError(f"`ddof` must be >= 0; got {ddof}")
    lab = _check_labels(labels, c)
    fn = _BlockFn(None if background is None else int(background), parallel=not c.lazy)
    (part,) = compute(map_reduce(c.data, fn, _merge, extra=(lab,)))
    n = part.count
    empty = n == 0
    mean = np.where(empty[:, None], np.nan, part.mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where((n - ddof > 0)[:, None], part.m2 / np.maximum(n - ddof, 1)[:, None], np.nan)
    values = {
        "mean": mean, "var": var, "std": np.sqrt(var), "sum": part.mean * n[:, None],
        "min": np.where(empty[:, None], np.nan, part.lo), "max": np.where(empty[:, None], np.nan, part.hi),
    }
    units = c.obj.attrs.get("units") if c.obj is not None else None
    data_vars = {}
    for s in stats:
        if s == "count":
            data_vars[s] = ((LABEL_DIM,), n, {"long_name": "valid pixels per label"})
        else:
            attrs = {"long_name": f"{s} per label and band"}
            if units is not None and s != "var":
                attrs["units"] = units
            data_vars[s] = ((LABEL_DIM, BAND_DIM), values[s], attrs)
    coords = {LABEL_DIM: part.labels}
    band = c.band_coords()
    coords.update({k: ((BAND_DIM,), v) for k, v in band.items()})
    if BAND_DIM not in coords:
        coords[BAND_DIM] = np.arange(c.nbands)
    return xr.Dataset(data_vars, coords=coords, attrs={"background": "none" if background is None else int(background),
                                                      "ddof": int(ddof)})
