"""Principal components and minimum noise fraction of hyperspectral cubes, streamed.

:func:`pca` and :func:`mnf` read the cube once (one pass over a dask cube's chunks, so a
cube bigger than memory works), accumulating the mean and covariance in float64 with
BLAS, then solve a small ``band x band`` eigenproblem. The result object projects cubes
onto the components (:meth:`~Decomposition.transform`, lazy for dask), maps scores back
(:meth:`~Decomposition.inverse_transform`) and denoises (:meth:`~Decomposition.denoise`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from . import _moments
from ._cube import (BAND_DIM, WAVELENGTH, as_cube, as_matrix, blockwise, check_n_components, compute,
                    is_dask, is_xarray, pixel_blocks, result_dtype)

__all__ = ["Decomposition", "PCAResult", "MNFResult", "pca", "mnf", "NOISE_DIRECTIONS"]

#: Accepted pixel-difference directions for the MNF noise estimate (Spectral Python's).
NOISE_DIRECTIONS = _moments.DIRECTIONS
COMPONENT_DIM = "component"


def _flip_signs(vectors):
    """Make each column's largest-magnitude entry positive (eigenvector signs are arbitrary)."""
    rows = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[rows, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


def _project_block(block, *, vectors, mean):
    """``vectors (x - mean)`` for every pixel of a ``(band, y, x)`` block (BLAS on centred blocks)."""
    x = as_matrix(block)
    dtype = vectors.dtype
    out = np.empty((vectors.shape[0], x.shape[1]), dtype=dtype)
    for sl in pixel_blocks(x.shape[1], x.shape[0]):
        np.matmul(vectors, np.subtract(x[:, sl], mean[:, None], dtype=dtype), out=out[:, sl])
    return out.reshape((vectors.shape[0],) + block.shape[1:])


def _reconstruct_block(block, *, matrix, mean):
    """``matrix s + mean`` for every pixel of a ``(component, y, x)`` block of scores."""
    s = as_matrix(block)
    dtype = matrix.dtype
    out = np.empty((matrix.shape[0], s.shape[1]), dtype=dtype)
    for sl in pixel_blocks(s.shape[1], matrix.shape[0]):
        seg = out[:, sl]
        np.matmul(matrix, s[:, sl].astype(dtype, copy=False), out=seg)
        seg += mean[:, None]
    return out.reshape((matrix.shape[0],) + block.shape[1:])


def _denoise_block(block, *, vectors, matrix, mean):
    """Project onto the kept components and back, pixel block by pixel block."""
    x = as_matrix(block)
    dtype = vectors.dtype
    out = np.empty(x.shape, dtype=dtype)
    for sl in pixel_blocks(x.shape[1], x.shape[0]):
        scores = vectors @ np.subtract(x[:, sl], mean[:, None], dtype=dtype)
        seg = out[:, sl]
        np.matmul(matrix, scores, out=seg)
        seg += mean[:, None]
    return out.reshape(block.shape)


@dataclass(frozen=True, eq=False, kw_only=True)
class Decomposition:
    """A linear decomposition of spectra: shared by :class:`PCAResult` and :class:`MNFResult`.

    Attributes
    ----------
    eigenvalues : ndarray, (component,)
        Descending.
    eigenvectors : ndarray, (band, component)
        Column ``k`` maps a centred spectrum to score ``k``: ``scores = V^T (x - mean)``.
        Signs are fixed so that each column's largest-magnitude entry is positive.
    inverse_matrix : ndarray, (band, component)
        Maps scores back to spectra: ``x = inverse_matrix @ scores + mean``.
    mean : ndarray, (band,)
        Mean spectrum of the valid pixels.
    cov : ndarray, (band, band)
        Covariance of the valid pixels (divided by ``n_pixels - 1``, as ``np.cov``).
    n_pixels : int
        Number of valid pixels (all bands finite) the statistics come from.
    band_coords : dict
        The cube's band coordinates (``band``, ``wavelength``, ...) for reconstructed cubes.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    inverse_matrix: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    n_pixels: int
    band_coords: dict = field(default_factory=dict, repr=False)

    kind = "decomposition"

    @property
    def n_components(self):
        """Number of components kept."""
        return self.eigenvectors.shape[1]

    @property
    def nbands(self):
        return self.eigenvectors.shape[0]

    @property
    def wavelength(self):
        """The cube's wavelengths (nm), or None."""
        return self.band_coords.get(WAVELENGTH)

    def __repr__(self):
        return (f"{type(self).__name__}(n_components={self.n_components}, nbands={self.nbands}, "
                f"n_pixels={self.n_pixels})")

    def _count(self, n_components):
        return check_n_components(n_components, self.n_components)

    def _check_bands(self, cube, name):
        if cube.nbands != self.nbands:
            raise ValueError(f"`{name}` must have {self.nbands} bands (as the cube the statistics "
                             f"came from); got {cube.nbands}")

    def transform(self, cube, n_components=None, *, band_axis=None):
        """Project a cube onto the first `n_components` components.

        Parameters
        ----------
        cube : xarray.DataArray, ndarray or dask array
            ``(band, y, x)`` DataArray, or an array with its band axis at `band_axis`.
        n_components : int, optional
            How many components; default all kept ones.
        band_axis : int, optional
            Band axis of a NumPy or dask `cube` (default 0); the component axis of the
            result takes its place.

        Returns
        -------
        xarray.DataArray or ndarray or dask array
            Scores ``(component, y, x)``: float64 for float64 input, else float32 (computed
            in that precision from centred data). Lazy for dask. Pixels with a NaN band
            are NaN. A DataArray keeps its spatial coordinates (CRS) and attrs.

        Raises
        ------
        ValueError
            Wrong number of bands, or `n_components` out of range.
        """
        k = self._count(n_components)
        c = as_cube(cube, "cube", band_axis=band_axis)
        self._check_bands(c, "cube")
        dtype = result_dtype(c.dtype)
        vectors = np.ascontiguousarray(self.eigenvectors[:, :k].T, dtype=dtype)
        scores = blockwise(c, _project_block, k, dtype, vectors=vectors, mean=self.mean.astype(dtype))
        return c.wrap(scores, new_dim=COMPONENT_DIM, new_coords={COMPONENT_DIM: np.arange(k)},
                      name=self.kind, attrs=c.derived_attrs(long_name=f"{self.kind.upper()} component scores"))

    def inverse_transform(self, scores, *, component_axis=None):
        """Map component scores back to spectra: ``inverse_matrix @ scores + mean``.

        Parameters
        ----------
        scores : xarray.DataArray, ndarray or dask array
            ``(component, y, x)`` as :meth:`transform` returns it; a DataArray's
            ``component`` coordinate says which components it holds (a subset works),
            an array holds the first ``scores.shape[component_axis]`` ones.
        component_axis : int, optional
            Component axis of a NumPy or dask `scores` (default 0).

        Returns
        -------
        xarray.DataArray or ndarray or dask array
            ``(band, y, x)``; a DataArray gets the band coordinates (``wavelength``...)
            of the cube the statistics came from.

        Raises
        ------
        ValueError
            More components than kept, or component labels out of range.
        """
        if is_xarray(scores):
            if component_axis is not None:
                raise ValueError("`component_axis` is for NumPy and dask arrays; a DataArray `scores` "
                                 f"names its component dimension {COMPONENT_DIM!r}")
            if COMPONENT_DIM not in scores.dims:
                raise ValueError(f"`scores` must have a {COMPONENT_DIM!r} dimension; got dims {scores.dims}")
            which = (np.asarray(scores[COMPONENT_DIM].values) if COMPONENT_DIM in scores.coords
                     else np.arange(scores.sizes[COMPONENT_DIM]))
            s = as_cube(scores.rename({COMPONENT_DIM: BAND_DIM}).drop_vars(BAND_DIM, errors="ignore"), "scores")
        else:
            s = as_cube(scores, "scores", band_axis=component_axis)
            which = np.arange(s.nbands)
        if which.dtype.kind not in "iu" or which.size and (which.min() < 0 or which.max() >= self.n_components):
            raise ValueError(f"`scores` must hold components in [0, {self.n_components - 1}]; "
                             f"got {which.tolist()}")
        dtype = result_dtype(s.dtype)
        matrix = np.ascontiguousarray(self.inverse_matrix[:, which], dtype=dtype)
        out = blockwise(s, _reconstruct_block, self.nbands, dtype, matrix=matrix, mean=self.mean.astype(dtype))
        coords = {k: ((BAND_DIM,), v) for k, v in self.band_coords.items()}
        return s.wrap(out, new_dim=BAND_DIM, new_coords=coords, name=None,
                      attrs=s.derived_attrs(long_name=f"reconstructed from {which.size} {self.kind.upper()} "
                                                      f"components"))

    def denoise(self, cube, n_components, *, band_axis=None):
        """Keep the first `n_components` components of every pixel: ``inverse_transform(transform(cube, n))``.

        Parameters
        ----------
        cube : xarray.DataArray, ndarray or dask array
        n_components : int
        band_axis : int, optional
            Band axis of a NumPy or dask `cube` (default 0).

        Returns
        -------
        Same type and layout as `cube`; float64 for float64 input, else float32. A
        DataArray keeps its name, coordinates and attrs.
        """
        if n_components is None:
            raise TypeError("`n_components` must be an int; got None")
        k = self._count(n_components)
        c = as_cube(cube, "cube", band_axis=band_axis)
        self._check_bands(c, "cube")
        dtype = result_dtype(c.dtype)
        out = blockwise(c, _denoise_block, self.nbands, dtype,
                        vectors=np.ascontiguousarray(self.eigenvectors[:, :k].T, dtype=dtype),
                        matrix=np.ascontiguousarray(self.inverse_matrix[:, :k], dtype=dtype),
                        mean=self.mean.astype(dtype))
        if c.obj is None:
            return c.wrap(out)
        return c.obj.copy(data=out).transpose(*cube.dims)


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class PCAResult(Decomposition):
    """Principal components of a cube (:func:`pca`); ``inverse_matrix`` is ``eigenvectors``."""

    kind = "pca"

    @property
    def explained_variance_ratio(self):
        """Each kept component's share of the total variance (trace of `cov`)."""
        return self.eigenvalues / np.trace(self.cov)


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class MNFResult(Decomposition):
    """Minimum noise fraction of a cube (:func:`mnf`).

    Attributes
    ----------
    eigenvalues : ndarray
        Signal-to-noise ratio plus one of each component (Spectral Python's NAPC
        eigenvalues), descending.
    eigenvectors : ndarray, (band, component)
        Noise-whitening projections ``W`` with ``W^T noise_cov W = I`` and
        ``W^T cov W = diag(eigenvalues)``.
    inverse_matrix : ndarray
        ``noise_cov @ W``: maps scores back to spectra.
    noise_cov : ndarray, (band, band)
        The noise covariance used.
    n_noise_samples : int
        Pixel differences the noise covariance came from (0 when it was given).
    """

    noise_cov: np.ndarray
    n_noise_samples: int = 0

    kind = "mnf"

    @property
    def snr(self):
        """Signal-to-noise ratio of each component: ``eigenvalues - 1``."""
        return self.eigenvalues - 1.0


def _cube_stats(c):
    return _moments.moments(c.data)


def _check_pixels(m, what="`cube`"):
    if m.n < 2:
        raise ValueError(f"{what} must have at least 2 valid pixels (all bands finite); got {m.n}")


def pca(cube, *, n_components=None, band_axis=None):
    """Principal components of a hyperspectral cube, in one streaming pass.

    Parameters
    ----------
    cube : xarray.DataArray, ndarray or dask array
        ``(band, y, x)`` DataArray (any spatial dimension names), or a 3-D array with
        its band axis at `band_axis`. Any real dtype. A dask cube is read once, chunk
        by chunk (the band axis is made one chunk if it is not).
    n_components : int, optional
        Components to keep (default all bands).
    band_axis : int, optional
        Band axis of a NumPy or dask `cube` (default 0; -1 for Spectral Python's
        band-last layout).

    Returns
    -------
    PCAResult
        ``eigenvalues`` (descending), ``eigenvectors`` (band x component), ``mean``,
        ``cov``, ``n_pixels``; ``.transform``, ``.inverse_transform``, ``.denoise``.

    Raises
    ------
    ValueError
        Not 3-D, no ``band`` dimension, fewer than 2 valid pixels, `n_components` out
        of range.
    TypeError
        Not an array, or a complex or non-numeric dtype.

    See Also
    --------
    mnf : components ordered by signal-to-noise ratio instead of variance.

    Notes
    -----
    Pixels with a non-finite band are left out of the statistics (and get NaN scores).
    The mean and covariance are accumulated in float64 blocks of a few MiB with BLAS
    ``dsyrk`` and merged pairwise (Chan et al.), so memory stays bounded by the chunk
    size whatever the cube size; the covariance divides by ``n - 1`` as ``np.cov`` and
    Spectral Python's ``calc_stats``. The eigenproblem is ``numpy.linalg.eigh``.

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d.spectral import pca
    >>> rng = np.random.default_rng(0)
    >>> cube = rng.normal(size=(3, 20, 20)) * np.array([3.0, 1.0, 0.1])[:, None, None]
    >>> result = pca(cube)
    >>> np.round(result.eigenvalues, 1)
    array([8.9, 1. , 0. ])
    >>> result.transform(cube, 2).shape
    (2, 20, 20)
    >>> bool(np.allclose(result.inverse_transform(result.transform(cube)), cube))
    True
    """
    c = as_cube(cube, "cube", band_axis=band_axis)
    k = check_n_components(n_components, c.nbands)
    (m,) = compute(_cube_stats(c))
    _check_pixels(m)
    cov = m.cov()
    values, vectors = np.linalg.eigh(cov)
    values, vectors = values[::-1][:k], _flip_signs(vectors[:, ::-1][:, :k])
    return PCAResult(eigenvalues=values, eigenvectors=vectors, inverse_matrix=vectors, mean=m.mean, cov=cov,
                     n_pixels=m.n, band_coords=c.band_coords())


def _noise_stats(noise, c, band_axis):
    """(delayed or not) noise moments, or a given covariance, from the `noise` argument."""
    if noise is None:
        noise = "right"
    if isinstance(noise, str):
        if noise not in NOISE_DIRECTIONS:
            raise ValueError(f"`noise` must be None, one of {list(NOISE_DIRECTIONS)}, a (band, band) "
                             f"covariance or a cube to estimate it from; got {noise!r}")
        return _moments.diff_moments(c.data, noise), None
    if is_xarray(noise) or is_dask(noise) or (isinstance(noise, np.ndarray) and noise.ndim == 3):
        region = as_cube(noise, "noise", band_axis=None if is_xarray(noise) else band_axis)
        if region.nbands != c.nbands:
            raise ValueError(f"`noise` must have {c.nbands} bands like `cube`; got {region.nbands}")
        return _moments.diff_moments(region.data, "right"), None
    try:
        cov = np.asarray(noise, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`noise` must be None, a direction string, a (band, band) covariance or a cube; "
                        f"got {type(noise).__name__}") from None
    if cov.shape != (c.nbands, c.nbands):
        raise ValueError(f"`noise` as a covariance must have shape ({c.nbands}, {c.nbands}); got {cov.shape}")
    if not np.all(np.isfinite(cov)) or not np.allclose(cov, cov.T, rtol=1e-10, atol=0):
        raise ValueError("`noise` as a covariance must be finite and symmetric")
    return None, cov


def mnf(cube, *, n_components=None, noise=None, band_axis=None):
    """Minimum noise fraction (noise-adjusted principal components), in one streaming pass.

    Parameters
    ----------
    cube : xarray.DataArray, ndarray or dask array
        ``(band, y, x)`` DataArray or a 3-D array with its band axis at `band_axis`.
    n_components : int, optional
        Components to keep (default all bands).
    noise : None, str, array_like or cube, optional
        The noise covariance, or how to estimate it:

        - None (default) or ``'right'``: from differences of horizontally adjacent
          pixels, ``delta = X[y, x] - X[y, x + 1]`` (along the last spatial dimension,
          ``x``); ``noise_cov = np.cov(delta) / 2``: exactly Spectral Python's
          ``noise_from_diffs(img, direction='right')`` for a band-last ``img``.
        - ``'lower'``, ``'lowerright'`` (Spectral Python's default), ``'lowerleft'``:
          the other neighbours of ``noise_from_diffs``.
        - a ``(band, band)`` array: the noise covariance itself.
        - a cube (DataArray or 3-D array, e.g. a homogeneous region): horizontal
          differences of that cube instead.
    band_axis : int, optional
        Band axis of NumPy or dask inputs (default 0).

    Returns
    -------
    MNFResult
        ``eigenvalues`` (SNR + 1, descending), ``eigenvectors`` (the noise-whitening
        projections), ``mean``, ``cov``, ``noise_cov``, ``n_pixels``; ``.transform``,
        ``.inverse_transform``, ``.denoise``.

    Raises
    ------
    ValueError
        Bad `noise` direction or shape, fewer than 2 valid pixels or pixel
        differences, a noise covariance that is not positive definite, `n_components`
        out of range.
    TypeError
        `noise` of an unusable type.

    See Also
    --------
    pca

    Notes
    -----
    Signal and noise statistics come from the same single pass over the cube (dask: one
    graph). Differences with a NaN on either side are left out; the differences are
    centred on their mean (``np.cov``), as Spectral Python does. The components solve
    the generalised eigenproblem ``cov w = lambda noise_cov w`` (``scipy.linalg.eigh``),
    so ``W^T noise_cov W = I``: the same components as Spectral Python's
    ``mnf(signal, noise)`` (which whitens with the symmetric square root of the noise
    covariance), up to sign.

    References
    ----------
    Green, A. A., Berman, M., Switzer, P., Craig, M. D. (1988). A transformation for
    ordering multispectral data in terms of image quality with implications for noise
    removal. IEEE TGRS 26(1), 65-74.

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d.spectral import mnf
    >>> rng = np.random.default_rng(1)
    >>> signal = np.cumsum(rng.normal(size=(1, 16, 16)), axis=2)   # smooth along x
    >>> cube = np.concatenate([signal, 2 * signal, -signal]) + 0.1 * rng.normal(size=(3, 16, 16))
    >>> result = mnf(cube)
    >>> bool(result.snr[0] > 100 * result.snr[1])
    True
    >>> result.transform(cube, 1).shape
    (1, 16, 16)
    """
    c = as_cube(cube, "cube", band_axis=band_axis)
    k = check_n_components(n_components, c.nbands)
    noise_moments, noise_cov = _noise_stats(noise, c, band_axis)
    m, nm = compute(_cube_stats(c), noise_moments)
    _check_pixels(m)
    if nm is not None:
        _check_pixels(nm, "the noise estimate (pixel differences)")
        noise_cov = nm.cov() / 2.0
    cov = m.cov()
    try:
        values, vectors = scipy.linalg.eigh(cov, noise_cov)
    except np.linalg.LinAlgError:
        raise ValueError("the noise covariance must be positive definite (every band noisy and no band a "
                         "linear combination of others); check `noise`, or drop constant bands") from None
    values, vectors = values[::-1][:k], _flip_signs(vectors[:, ::-1][:, :k])
    return MNFResult(eigenvalues=values, eigenvectors=vectors, inverse_matrix=noise_cov @ vectors, mean=m.mean,
                     cov=cov, noise_cov=noise_cov, n_pixels=m.n, n_noise_samples=0 if nm is None else nm.n,
                     band_coords=c.band_coords())
