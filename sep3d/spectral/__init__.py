"""Spectral analysis of hyperspectral cubes: indices, continuum removal, PCA/MNF, SAM, region statistics.

Cubes are ``xarray.DataArray`` objects with dims ``("band", y, x)`` and a ``wavelength``
coordinate (nm) on ``band``, NumPy- or dask-backed, NaN in nodata pixels; NumPy and
dask arrays with an explicit `band_axis` work too. Results keep the input's type: a
DataArray keeps its spatial coordinates (rioxarray's ``spatial_ref``: CRS and
transform) and attrs, a dask cube gives a lazy result, and statistics (PCA, MNF, region
statistics) are computed in one streaming pass over the chunks.

A pixel is *valid* when all its bands are finite: the others are left out of every
statistic and are NaN (or -1 in class maps) in every output.

Modules, one job each: :mod:`~sep3d.spectral.indices` (NDVI, NDWI, NDRE and formulas),
:mod:`~sep3d.spectral.continuum` (convex-hull continuum),
:mod:`~sep3d.spectral.decomposition` (PCA, MNF), :mod:`~sep3d.spectral.sam` (spectral
angle mapper), :mod:`~sep3d.spectral.regions` (per-label statistics).
"""
from .continuum import continuum, continuum_removed
from .decomposition import NOISE_DIRECTIONS, Decomposition, MNFResult, PCAResult, mnf, pca
from .indices import INDICES, SpectralIndex, index
from .regions import STATS, region_stats
from .sam import sam, sam_classify

from .derivative import derivative

__all__ = [
    "INDICES",
    "NOISE_DIRECTIONS",
    "STATS",
    "Decomposition",
    "MNFResult",
    "PCAResult",
    "SpectralIndex",
    "continuum",
    "continuum_removed",
    "derivative",
    "index",
    "mnf",
    "pca",
    "region_stats",
    "sam",
    "sam_classify",
]
