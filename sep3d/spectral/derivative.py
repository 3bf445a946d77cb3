"""Derivative spectra: Savitzky-Golay derivatives along the bands, per wavelength unit."""
from __future__ import annotations

import numpy as np

__all__ = ["derivative"]


def derivative(cube, order=1, *, window_length=11, polyorder=None, band_dim="band", wavelength="wavelength",
               band_axis=0, wavelengths=None):
    """The `order`-th derivative of every spectrum, per unit of wavelength (Savitzky-Golay).

    Each band's value is the derivative, at that band's wavelength, of the polynomial of
    degree `polyorder` fitted to the `window_length` nearest bands at their true
    wavelengths (unevenly spaced bands are fitted where they are; at the ends of the
    spectrum the window shifts inwards, scipy.signal.savgol_filter's ``mode='interp'``).

    Parameters
    ----------
    cube : xarray.DataArray or array_like
        A DataArray with `band_dim` (and a `wavelength` coordinate on it, else the
        derivative is per band), or an array with `band_axis` and `wavelengths`.
    order : int, optional
        Derivative order (1: first-derivative spectra; 2: curvature). Default 1.
    window_length : int, optional
        Bands per fit, odd. Default 11.
    polyorder : int, optional
        Degree of the fitted polynomials; default ``max(2, order + 1)``.
    band_dim, wavelength : str, optional
        The band dimension and the wavelength coordinate of a DataArray.
    band_axis : int, optional
        The band axis of an array.
    wavelengths : sequence of float, optional
        Band centres of an array (default: band indices).

    Returns
    -------
    DataArray or ndarray
        Same shape, coordinates and array type (dask stays lazy); NaN pixels stay NaN.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from sep3d.spectral import derivative
    >>> wl = np.array([500.0, 510.0, 530.0, 540.0, 560.0, 590.0, 600.0])
    >>> cube = xr.DataArray((0.002 * wl)[:, None, None] * np.ones((7, 2, 2)), dims=("band", "y", "x"),
    ...                     coords={"wavelength": ("band", wl)})
    >>> np.allclose(derivative(cube, window_length=3).values, 0.002)
    True
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"`order` must be an int >= 1; got {order!r}")
    polyorder = max(2, int(order) + 1) if polyorder is None else polyorder
    spectral = {"savgol": {"window_length": window_length, "polyorder": polyorder, "deriv": int(order)}}
    if hasattr(cube, "sep3d") and hasattr(cube, "dims"):
        return cube.sep3d.spatial_spectral(spectral=spectral, band_dim=band_dim, wavelength=wavelength)
    from ..cube_filters import spatial_spectral

    return spatial_spectral(cube, spectral=spectral, band_axis=band_axis, wavelengths=wavelengths)
