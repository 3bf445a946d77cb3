"""Shared parameter text for docstrings (one place; filters fill it in with `docfiller`)."""
from __future__ import annotations

import textwrap

_PARAMS = {
    # sep3d.spectral.continuum / continuum_removed
    "hull_cube": """\
cube : xarray.DataArray, ndarray or dask array
    ``(band, y, x)`` DataArray with a ``wavelength`` coordinate, or a 3-D array with
    its band axis at `band_axis` and `wavelength` given.""",
    "hull_wavelength": """\
wavelength : array_like, optional
    Band centres (nm), strictly increasing or decreasing; default the cube's
    ``wavelength`` coordinate.""",
    "hull_band_axis": """\
band_axis : int, optional
    Band axis of a NumPy or dask `cube` (default 0).""",
    "image": """\
image : array_like
    Input array, 1-D to N-D, any numeric dtype (bool, integer, float, complex: the real
    and imaginary parts are filtered, `cval` pads the real part); any memory layout;
    an empty array gives an empty result.""",
    "sigma": """\
sigma : float or sequence of float
    Standard deviation of the Gaussian, one value for all filtered axes or one per axis
    in `axes`; in physical units when `spacing` is given, else in voxels.""",
    "spacing": """\
spacing : float or sequence of float, optional
    Voxel size per array axis, in array-axis order (for SimpleITK images: reversed
    ``GetSpacing()``; see :func:`sep3d.io.ct.from_sitk`). Sigmas and sizes are then in
    physical units and derivatives are taken per physical unit. Default: 1 per axis.""",
    "axes": """\
axes : int or sequence of int, optional
    The axes to filter; default all.""",
    "mode": """\
mode : {'reflect', 'mirror', 'nearest', 'wrap', 'constant'} or sequence, optional
    Boundary extension, with scipy.ndimage's meaning (also its ``grid-*`` aliases); one
    value or one per axis in `axes`. Default 'reflect'.""",
    "cval": """\
cval : float, optional
    Value outside the array for ``mode='constant'``. Default 0.""",
    "truncate": """\
truncate : float, optional
    Kernel half-width in standard deviations: ``radius = int(truncate * sigma_px + 0.5)``.
    Default 4.""",
    "radius": """\
radius : int or sequence of int, optional
    Kernel half-width in voxels, overriding `truncate`.""",
    "method": """\
method : {'fir', 'recursive', 'auto'}, optional
    'fir' (default): the sampled Gaussian, exactly scipy.ndimage's taps. 'recursive':
    ITK's recursive (Deriche) Gaussian, the filter of SimpleITK's ``*RecursiveGaussian*``
    and PyRadiomics' LoG: the same cost at every sigma (16 multiply-adds per voxel and
    axis), within about 0.3% of the Gaussian's peak for sigma >= 2 voxels; `truncate`
    and `radius` do not apply. Derivative orders up to 2. 'auto': per axis, whichever
    of the two :func:`sep3d.planner.gaussian_method` predicts faster from this
    machine's calibration (``sep3d calibrate``) -- an opt-in, as 'recursive' results
    differ from scipy's by the error above.""",
    "backend": """\
backend : {'auto', 'cpu', 'numpy', 'cuda'}, optional
    Engine: 'cpu' (Numba-compiled), 'numpy' (NumPy and scipy only; slower, same
    results), 'cuda' (CuPy). 'auto' follows the array type (NumPy -> 'cpu', or 'numpy'
    with one warning where numba cannot be imported; CuPy -> 'cuda').""",
    "output": """\
output : ndarray, optional
    Array to store the result in (float32 or float64, the input's shape); it may be
    the input itself. Default: a new array.""",
    # sep3d.ndimage: scipy.ndimage's parameters, with scipy's names and meanings
    "input": """\
input : array_like
    The input array: bool, integer, float32, float64, complex64 or complex128 (the
    dtypes scipy.ndimage filters), any number of dimensions, any memory layout; empty
    arrays give empty results.""",
    "nd_output": """\
output : ndarray or dtype, optional
    Array to store the result in (the input's shape; it may be the input itself), or
    the dtype of the result. Default: the input's dtype, as scipy.ndimage.""",
    "nd_mode": """\
mode : {'reflect', 'mirror', 'nearest', 'wrap', 'constant'}, optional
    Boundary extension, scipy.ndimage's meaning (also its ``grid-*`` aliases).""",
    "nd_mode_multiple": """\
mode : str or sequence of str, optional
    Boundary extension, scipy.ndimage's meaning; one value or one per filtered axis.""",
    "nd_mode_array_axes": """\
mode : str or sequence of str, optional
    Boundary extension, scipy.ndimage's meaning; one value or one per array axis.""",
    "nd_axis": """\
axis : int, optional
    The axis to filter. Default -1.""",
    "nd_axes": """\
axes : tuple of int, optional
    The axes to filter. Default: all.""",
    "nd_origin": """\
origin : int, optional
    Shift of the filter: ``-(size // 2) <= origin <= (size - 1) // 2``. Default 0.""",
    "nd_returns": """\
ndarray
    The filtered array (`output` when it is an array), in scipy.ndimage's dtype. Integer
    and bool results are scipy's bit for bit (each pass truncated into the dtype, as
    scipy does); float results equal scipy's to rounding (float32 results are computed
    in float32); complex inputs filter their real and imaginary parts.""",
    "dtype_rule": """\
The result is float64 for float64 input (or a float64 `output`) and float32
otherwise: integer, bool and float16 volumes (int16 CT) are filtered in float32.""",
    "filter_dtype_rule": """\
The result is float64 for float64 input (or a float64 `output`) and float32
otherwise: integer, bool and float16 volumes (int16 CT) are filtered in float32.
Complex input gives complex128 (complex128 input) or complex64, its real and
imaginary parts filtered.""",
}


def docfiller(func):
    """Replace ``%(name)s`` in `func`'s docstring by the shared parameter text."""
    if func.__doc__:
        indent = " " * 4
        filled = {k: textwrap.indent(v, indent).lstrip() for k, v in _PARAMS.items()}
        func.__doc__ = func.__doc__ % filled
    return func
