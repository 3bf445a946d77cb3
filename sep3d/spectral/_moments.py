"""Streaming first and second moments of spectra: one pass, bounded memory, float64.

A block of pixels gives ``(n, mean, M2)`` (count, mean spectrum, sum of centred outer
products); blocks merge with Chan, Golub and LeVeque's pairwise update, so a dask cube is
reduced in one pass over its chunks in a tree and a cube bigger than memory works.

Inside a block the spectra are shifted by a reference spectrum (the mean of the first
valid pixels) and converted to float64 a few MiB at a time by a compiled kernel that
also sums each band (one read), then accumulated with BLAS ``dsyrk`` (``X X^T``, half
the flops of a general product); the shift keeps the final ``M2 = S2 - S1 S1^T / n``
free of the cancellation that raw sums of squares suffer.

A pixel is valid when all its bands are finite; the others are left out.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from ..jit import njit
from scipy.linalg.blas import dsyrk

from . import _cube
from ._cube import as_matrix, map_reduce, pixel_blocks

#: Pixel-difference directions of :func:`diff_moments`, Spectral Python's names.
DIRECTIONS = ("right", "lower", "lowerright", "lowerleft")


class Moments(NamedTuple):
    """Count, mean and sum of centred outer products of a set of spectra."""

    n: int
    mean: np.ndarray
    m2: np.ndarray

    def cov(self, ddof=1):
        """The covariance ``M2 / (n - ddof)`` (NumPy's ``np.cov`` for ddof=1)."""
        return self.m2 / (self.n - ddof)


def empty(nbands):
    return Moments(0, np.zeros(nbands), np.zeros((nbands, nbands)))


def _accumulate(c, xs):
    """``c += xs @ xs.T`` on the upper triangle (BLAS dsyrk, no copy of `xs`)."""
    if xs.flags.c_contiguous:
        return dsyrk(1.0, xs.T, beta=1.0, c=c, trans=1, overwrite_c=1)
    if xs.flags.f_contiguous:
        return dsyrk(1.0, xs, beta=1.0, c=c, trans=0, overwrite_c=1)
    return dsyrk(1.0, np.ascontiguousarray(xs).T, beta=1.0, c=c, trans=1, overwrite_c=1)


def _reference(x):
    """Mean of the valid pixels among the first ones: the shift that keeps sums small."""
    sample = np.asarray(x[:, :1024], dtype=np.float64)
    valid = np.isfinite(sample.sum(axis=0))
    if not valid.any():
        return np.zeros(x.shape[0])
    return sample[:, valid].mean(axis=1)


@njit(cache=True, nogil=True)
def _shift_rows(x, shift, out, sums):
    """``out = float64(x) - shift`` band by band, and each band's sum, in one pass.

    Serial on purpose: it is memory-bound (threads gain nothing) and it alternates with
    BLAS ``dsyrk`` calls, whose threads a Numba/OpenMP thread team spinning after each
    parallel launch would slow down by an order of magnitude (measured).
    """
    nb, m = x.shape
    for b in range(nb):
        sh = shift[b]
        total = 0.0
        for i in range(m):
            v = np.float64(x[b, i]) - sh
            out[b, i] = v
            total += v
        sums[b] = total


def block_moments(block):
    """Moments of the valid pixels of a ``(band, ...)`` block (any real dtype, any layout)."""
    x = as_matrix(block)
    nbands, npix = x.shape
    if npix == 0:
        return empty(nbands)
    if x.dtype.kind == "b":
        x = x.view(np.uint8)
    shift = _reference(x)
    s1 = np.zeros(nbands)
    s2 = np.zeros((nbands, nbands), order="F")
    sums = np.empty(nbands)
    count = 0
    for sl in pixel_blocks(npix, nbands):
        xs = np.empty((nbands, sl.stop - sl.start))
        _shift_rows(x[:, sl], shift, xs, sums)         # converts, shifts and sums in one pass
        if not np.isfinite(sums).all():  # some pixel has a NaN or inf band: drop those pixels
            xs = xs[:, np.isfinite(xs.sum(axis=0))]
            if xs.shape[1] == 0:
                continue
            s1 += xs.sum(axis=1)
        else:
            s1 += sums
        count += xs.shape[1]
        s2 = _accumulate(s2, xs)
    if count == 0:
        return empty(nbands)
    upper = np.triu(s2)
    s2 = upper + np.triu(upper, 1).T
    return Moments(count, shift + s1 / count, s2 - np.outer(s1, s1) / count)


def owned_moments(xs):
    """Moments of a float64 ``(band, pixel)`` array this module made (centred in place).

    Exact two-pass centring on the block's own mean; no copy unless some pixel is invalid.
    """
    nbands = xs.shape[0]
    sums = xs.sum(axis=1)
    if not np.isfinite(sums).all():
        xs = xs[:, np.isfinite(xs.sum(axis=0))]
        sums = xs.sum(axis=1)
    n = xs.shape[1]
    if n == 0:
        return empty(nbands)
    mean = sums / n
    xs -= mean[:, None]
    upper = np.triu(_accumulate(np.zeros((nbands, nbands), order="F"), xs))
    return Moments(n, mean, upper + np.triu(upper, 1).T)


def merge(parts):
    """Merge the moments of disjoint sets of spectra (Chan et al.'s pairwise formula)."""
    parts = list(parts)
    full = [p for p in parts if p.n > 0]
    if not full:
        return parts[0]
    n, mean, m2 = full[0].n, full[0].mean.copy(), full[0].m2.copy()
    for p in full[1:]:
        total = n + p.n
        delta = p.mean - mean
        mean += delta * (p.n / total)
        m2 += p.m2
        m2 += np.outer(delta, delta) * (n * p.n / total)
        n = total
    return Moments(n, mean, m2)


def moments(data):
    """Moments of every valid pixel of a ``(band, y, x)`` cube (a Delayed for dask)."""
    return map_reduce(data, block_moments, merge)


# ---------------------------------------------------------------------------------------
# Differences of neighbouring pixels (the noise estimate of MNF)

def _diff_slices(direction):
    """(first, second) slices of an extended block: ``delta = block[first] - block[second]``.

    Mirrors Spectral Python's ``noise_from_diffs`` on a band-last image ``X``:
    'right' ``X[:, :-1] - X[:, 1:]``, 'lower' ``X[:-1] - X[1:]``, 'lowerright'
    ``X[:-1, :-1] - X[1:, 1:]``, 'lowerleft' ``X[:-1, 1:] - X[1:, :-1]``.
    """
    a, b = slice(None, -1), slice(1, None)
    full = slice(None)
    return {
        "right": ((full, full, a), (full, full, b)),
        "lower": ((full, a, full), (full, b, full)),
        "lowerright": ((full, a, a), (full, b, b)),
        "lowerleft": ((full, a, b), (full, b, a)),
    }[direction]


def diff_extend(direction, ny, nx):
    """The region a block needs to form every difference that starts inside it.

    A difference belongs to the block holding its first pixel (the one Spectral Python
    subtracts from); its partner may lie one row below and one column right or left.
    """
    down = direction != "right"
    right = direction in ("right", "lowerright")
    left = direction == "lowerleft"

    def extend(y0, y1, x0, x1):
        return (y0, min(ny, y1 + 1) if down else y1,
                max(0, x0 - 1) if left else x0, min(nx, x1 + 1) if right else x1)

    return extend


def diff_block_moments(ext, direction):
    """Moments of the pixel differences of an extended block (pairs with a NaN dropped).

    The differences are formed in float64 a few rows at a time (about :data:`BLOCK_BYTES`),
    so the temporary stays small whatever the block size.
    """
    first, second = _diff_slices(direction)
    a, b = ext[first], ext[second]
    nbands, nrows, ncols = a.shape
    if a.size == 0:
        return empty(nbands)
    rows = max(1, _cube.BLOCK_BYTES // (8 * nbands * max(1, ncols)))
    parts = [owned_moments(np.subtract(a[:, r:r + rows], b[:, r:r + rows], dtype=np.float64).reshape(nbands, -1))
             for r in range(0, nrows, rows)]
    return merge(parts)


def diff_moments(data, direction):
    """Moments of all differences of neighbouring pixels along `direction` (Delayed for dask)."""
    _, ny, nx = data.shape
    fn = _DiffFn(direction)
    return map_reduce(data, fn, merge, extend=diff_extend(direction, ny, nx))


class _DiffFn:
    """A picklable ``block -> diff_block_moments(block, direction)`` (for dask.distributed)."""

    def __init__(self, direction):
        self.direction = direction

    def __call__(self, ext):
        return diff_block_moments(ext, self.direction)

    def __dask_tokenize__(self):
        return ("sep3d.spectral.diff", self.direction)
