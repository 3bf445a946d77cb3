"""Drop-in replacements for scipy.ndimage's separable filters.

Same names, arguments, defaults, output dtypes and ``output=`` rules as scipy.ndimage
(array, dtype or None; it may be the input itself); the result type follows scipy:
the output array's dtype, by default the input's. float32 outputs are computed in
float32, everything else in float64. Integer outputs are truncated toward zero (and
wrap) like scipy's C cast, but only once, at the end: scipy also truncates between the
passes of a multi-pass filter, so its integer results can differ from sep3d's by a few
units (sep3d's are the exact result, truncated).

Deliberate differences, each a clear error where scipy computes something:
complex input or output raises TypeError; empty and 0-d input, negative or NaN sigma
and a wrong `output` shape raise ValueError (scipy: RuntimeError for the shape).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import backends
from ._docs import docfiller
from ._validate import (
    Mode,
    check_axes,
    check_axis,
    check_cval,
    check_mode,
    check_modes_on_axes,
    check_nonneg_int,
    check_origin,
    check_radius,
    check_sigma,
    check_size,
    check_truncate,
    check_weights,
)
from .kernels import (
    FIR,
    difference_taps,
    gaussian_radius,
    gaussian_taps,
    moving_average,
    prewitt_taps,
    sobel_taps,
)
from .plan import FilterPlan, Output, Term

__all__ = [
    "correlate1d",
    "convolve1d",
    "gaussian_filter1d",
    "gaussian_filter",
    "gaussian_laplace",
    "gaussian_gradient_magnitude",
    "uniform_filter1d",
    "uniform_filter",
    "sobel",
    "prewitt",
    "laplace",
]

_SIGMA_EPS = 1e-15  # scipy skips axes whose sigma is not above this


# ---------------------------------------------------------------------------------------
# scipy's output rules


def _output_dtype(output, image):
    if output is None:
        return image.dtype
    if backends.array_kind(output) in ("numpy", "cupy"):
        return output.dtype
    try:
        return np.dtype(output)
    except TypeError:
        raise TypeError(f"`output` must be None, an array or a dtype; got {output!r}") from None


def _get_output(output, image):
    dtype = _output_dtype(output, image)
    if dtype.kind == "c":
        raise TypeError(f"`output` must be real; got complex dtype {dtype}")
    if dtype.kind not in "biuf":
        raise TypeError(f"`output` must have a bool, integer or float dtype; got {dtype}")
    kind = backends.array_kind(output)
    if kind in ("numpy", "cupy"):
        if kind != backends.array_kind(image):
            raise TypeError(f"`output` must be an array of the input's type ({type(image).__name__}); "
                            f"got {type(output).__name__}")
        if output.shape != image.shape:
            raise ValueError(f"`output` must have the input's shape {image.shape}; got {output.shape}")
        if kind == "numpy" and not output.flags.writeable:
            raise ValueError("`output` must be writeable")
        return output
    return backends.empty(image, image.shape, dtype)


def _run(plan, image, output):
    """Run `plan` with scipy's dtype rules; returns the output array (the input's array type).

    A dask input gives a lazy dask array (`output` may then be None or a dtype).
    """
    if backends.array_kind(image) == "dask":
        return _run_chunked(plan, image, output)
    result = _get_output(output, image)
    dtype = result.dtype
    compute = np.float32 if dtype in (np.float32, np.float16) else np.float64
    backends.execute(plan, image, [result], backend="auto", temp_dtype=compute, compute_dtype=compute)
    return result


def _run_chunked(plan, image, output):
    from . import chunked

    if backends.array_kind(output) in ("numpy", "cupy", "dask"):
        raise TypeError("`output` must be None or a dtype for a dask array (the result is a new lazy "
                        f"array); got {type(output).__name__}")
    dtype = _output_dtype(output, image)
    _get_output(dtype, image[(0,) * image.ndim])  # the same dtype checks as for arrays
    compute = np.float32 if dtype in (np.float32, np.float16) else np.float64
    return chunked.run_plan(plan, image, result_dtype=dtype, temp_dtype=compute, compute_dtype=compute)


def _single(plan_axes_ops, ndim, modes, cval, name):
    """A one-term plan; the passes keep the order given (scipy's, for constant mode)."""
    ops = [None] * ndim
    for ax, op in plan_axes_ops:
        ops[ax] = op
    order = tuple(ax for ax, _ in plan_axes_ops)
    return FilterPlan((Output((Term(1.0, tuple(ops)),)),), modes, cval, None, name, order)


def _one_mode(mode):
    if not isinstance(mode, str):
        raise ValueError(f"`mode` must be one of the mode names (a single string here); got {mode!r}")
    return check_mode(mode, 1)[0]


# ---------------------------------------------------------------------------------------
# 1-D filters


@docfiller
def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """Correlate along one axis with `weights` (scipy.ndimage.correlate1d).

    Parameters
    ----------
    %(input)s
    weights : array_like
        1-D correlation taps.
    %(nd_axis)s
    %(nd_output)s
    %(nd_mode)s
    %(cval)s
    %(nd_origin)s

    Returns
    -------
    %(nd_returns)s

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> ndimage.correlate1d(np.array([2, 8, 0, 4, 1, 9, 9, 0]), weights=[1, 3]).tolist()
    [8, 26, 8, 12, 7, 28, 36, 9]
    """
    arr = backends.as_input(input, "auto", "input")
    w = check_weights(weights, "weights")
    ax = check_axis(axis, arr.ndim)
    (origin,) = check_origin(origin, (w.size,))
    m = _one_mode(mode)
    modes = tuple(m for _ in range(arr.ndim))
    plan = _single([(ax, FIR(w, origin))], arr.ndim, modes, check_cval(cval), "correlate1d")
    return _run(plan, arr, output)


@docfiller
def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """Convolve along one axis with `weights` (scipy.ndimage.convolve1d).

    Parameters
    ----------
    %(input)s
    weights : array_like
        1-D convolution kernel.
    %(nd_axis)s
    %(nd_output)s
    %(nd_mode)s
    %(cval)s
    %(nd_origin)s

    Returns
    -------
    %(nd_returns)s

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> ndimage.convolve1d(np.array([2, 8, 0, 4, 1, 9, 9, 0]), weights=[1, 3]).tolist()
    [14, 24, 4, 13, 12, 36, 27, 0]
    """
    w = check_weights(weights, "weights")[::-1]
    if isinstance(origin, bool) or not isinstance(origin, numbers.Integral):
        raise TypeError(f"`origin` must be an int; got {origin!r}")
    origin = -int(origin) - (0 if w.size % 2 else 1)
    return correlate1d(input, w, axis, output, mode, cval, origin)


@docfiller
def gaussian_filter1d(input, sigma, axis=-1, order=0, output=None, mode="reflect", cval=0.0,
                      truncate=4.0, *, radius=None):
    """1-D Gaussian filter or derivative (scipy.ndimage.gaussian_filter1d).

    Parameters
    ----------
    %(input)s
    sigma : float
        Standard deviation in voxels, > 0.
    %(nd_axis)s
    order : int, optional
        Derivative order (0: smoothing).
    %(nd_output)s
    %(nd_mode)s
    %(cval)s
    %(truncate)s
    radius : int, optional
        Kernel half-width, overriding `truncate`.

    Returns
    -------
    %(nd_returns)s

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> np.round(ndimage.gaussian_filter1d([1.0, 2.0, 3.0, 4.0, 5.0], 1), 4).tolist()
    [1.427, 2.0678, 3.0, 3.9322, 4.573]
    """
    arr = backends.as_input(input, "auto", "input")
    ax = check_axis(axis, arr.ndim)
    (s,) = check_sigma(sigma, 1)
    if s <= 0:
        raise ValueError(f"`sigma` must be > 0; got {sigma!r}")
    (order,) = check_nonneg_int(order, 1, "order")
    (r,) = check_radius(radius, 1)
    r = gaussian_radius(s, check_truncate(truncate), r)
    m = _one_mode(mode)
    op = FIR(gaussian_taps(s, order, r))
    plan = _single([(ax, op)], arr.ndim, (m,) * arr.ndim, check_cval(cval), "gaussian_filter1d")
    return _run(plan, arr, output)


@docfiller
def uniform_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """1-D moving average (scipy.ndimage.uniform_filter1d).

    Parameters
    ----------
    %(input)s
    size : int
        Window length, >= 1.
    %(nd_axis)s
    %(nd_output)s
    %(nd_mode)s
    %(cval)s
    %(nd_origin)s

    Returns
    -------
    %(nd_returns)s

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> ndimage.uniform_filter1d(np.array([2, 8, 0, 4, 1, 9, 9, 0]), size=3).tolist()
    [4, 3, 4, 1, 4, 6, 6, 3]
    """
    arr = backends.as_input(input, "auto", "input")
    ax = check_axis(axis, arr.ndim)
    (size,) = check_size(size, 1)
    (origin,) = check_origin(origin, (size,))
    m = _one_mode(mode)
    plan = _single([(ax, moving_average(size, origin))], arr.ndim, (m,) * arr.ndim, check_cval(cval),
                   "uniform_filter1d")
    return _run(plan, arr, output)


# ---------------------------------------------------------------------------------------
# N-D filters


def _gaussian_ops(ndim, axes, sigmas, orders, truncate, radii):
    """scipy's gaussian_filter: one op per axis whose sigma exceeds 1e-15."""
    ops = [None] * ndim
    for ax, s, o, r in zip(axes, sigmas, orders, radii):
        if s > _SIGMA_EPS:
            ops[ax] = FIR(gaussian_taps(s, o, gaussian_radius(s, truncate, r)))
    return ops


@docfiller
def gaussian_filter(input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0, *,
                    radius=None, axes=None):
    """N-D Gaussian filter or derivatives (scipy.ndimage.gaussian_filter).

    Parameters
    ----------
    %(input)s
    sigma : float or sequence of float
        Standard deviation in voxels, one or one per axis in `axes`; an axis whose
        sigma is 0 is left unfiltered (also when it has a derivative order, as scipy).
    order : int or sequence of int, optional
        Derivative order per axis (0: smoothing).
    %(nd_output)s
    %(nd_mode_multiple)s
    %(cval)s
    %(truncate)s
    radius : int or sequence of int, optional
        Kernel half-width per axis, overriding `truncate`.
    %(nd_axes)s

    Returns
    -------
    %(nd_returns)s

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> a = np.arange(50, step=2).reshape((5, 5))
    >>> ndimage.gaussian_filter(a, sigma=1)[0].tolist()  # exact values 5.12 6.41 8.27 10.13 11.42
    [5, 6, 8, 10, 11]

    scipy.ndimage gives ``[4, 6, 8, 9, 11]`` here: it truncates to int after each axis.
    """
    arr = backends.as_input(input, "auto", "input")
    axes = check_axes(axes, arr.ndim)
    n = len(axes)
    sigmas = check_sigma(sigma, n)
    orders = check_nonneg_int(order, n, "order")
    radii = check_radius(radius, n)
    modes = check_modes_on_axes(mode, axes, arr.ndim)
    ops = _gaussian_ops(arr.ndim, axes, sigmas, orders, check_truncate(truncate), radii)
    plan = FilterPlan((Output((Term(1.0, tuple(ops)),)),), modes, check_cval(cval), None, "gaussian_filter",
                      axes)
    return _run(plan, arr, output)


def _per_term(arr, axes, mode, cval, term_ops, combine, output, name):
    """scipy's generic_laplace / generic_gradient_magnitude: term i uses mode[i] on all axes.

    With one mode for every term this is a single plan; with different modes each term
    runs with its own mode and the terms are added in the output dtype, as scipy does.
    """
    modes = check_mode(mode, len(axes))
    cval = check_cval(cval)
    terms = [Term(1.0, tuple(ops)) for ops in term_ops]
    if len(set(modes)) <= 1:
        full = tuple(modes[0] if modes else Mode.REFLECT for _ in range(arr.ndim))
        outputs = (tuple(Output((t,)) for t in terms) if combine else (Output(tuple(terms)),))
        if not terms:
            outputs = (Output((Term(1.0, (None,) * arr.ndim),)),)
            combine = None
        return _run(FilterPlan(outputs, full, cval, combine, name), arr, output)
    if backends.array_kind(arr) == "dask":
        return _per_term_chunked(arr, modes, cval, terms, combine, output, name)
    result = _get_output(output, arr)
    xp = backends.array_module(arr)
    if xp.may_share_memory(result, arr):
        arr = arr.copy()
    for i, (term, m) in enumerate(zip(terms, modes)):
        plan = FilterPlan((Output((term,)),), (m,) * arr.ndim, cval, None, name)
        part = _run(plan, arr, result.dtype)
        if combine:
            part = xp.multiply(part, part, out=part)
        if i == 0:
            result[...] = part
        else:
            xp.add(result, part, out=result, casting="unsafe")
    if combine:
        xp.sqrt(result, out=result, casting="unsafe")
    return result


def _per_term_chunked(arr, modes, cval, terms, combine, output, name):
    """:func:`_per_term` with different modes on a dask array: lazy sums in the output dtype."""
    dtype = _output_dtype(output, arr)
    result = None
    for term, m in zip(terms, modes):
        part = _run(FilterPlan((Output((term,)),), (m,) * arr.ndim, cval, None, name), arr, dtype)
        if combine:
            part = (part * part).astype(dtype)
        result = part if result is None else (result + part).astype(dtype)
    if combine:
        result = result.map_blocks(lambda b: np.sqrt(b).astype(dtype), dtype=dtype)
    return result


def _gaussian_kwargs(kwargs):
    unknown = set(kwargs) - {"truncate", "radius"}
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {sorted(unknown)}; accepted: truncate, radius")
    return check_truncate(kwargs.get("truncate", 4.0)), kwargs.get("radius")


@docfiller
def gaussian_laplace(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    """Laplace filter with Gaussian second derivatives (scipy.ndimage.gaussian_laplace).

    Parameters
    ----------
    %(input)s
    sigma : float or sequence of float
        Standard deviation in voxels, one or one per axis in `axes`.
    %(nd_output)s
    mode : str or sequence of str, optional
        Boundary extension; with a sequence, term ``i`` (the second derivative along
        ``axes[i]``) uses ``mode[i]`` on every axis, as in scipy.
    %(cval)s
    %(nd_axes)s
    **kwargs
        `truncate` and `radius`, passed on to the Gaussian as in scipy.

    Returns
    -------
    %(nd_returns)s

    Notes
    -----
    The terms share their smoothing passes: 8 passes in 3-D, one temporary volume.

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> x = np.zeros((9, 9)); x[4, 4] = 1
    >>> round(float(ndimage.gaussian_laplace(x, 1.0)[4, 4]), 6)
    -0.318312
    """
    arr = backends.as_input(input, "auto", "input")
    axes = check_axes(axes, arr.ndim)
    truncate, radius = _gaussian_kwargs(kwargs)
    # scipy: sigma given per axis in `axes`, 0 on the others; radius per array axis
    sigmas = [0.0] * arr.ndim
    for ax, s in zip(axes, check_sigma(sigma, len(axes))):
        sigmas[ax] = s
    radii = check_radius(radius, arr.ndim)
    every = range(arr.ndim)
    term_ops = [_gaussian_ops(arr.ndim, every, sigmas, [2 if a == ax else 0 for a in every], truncate, radii)
                for ax in axes]
    return _per_term(arr, axes, mode, cval, term_ops, None, output, "gaussian_laplace")


@docfiller
def gaussian_gradient_magnitude(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None,
                                **kwargs):
    """Gradient magnitude with Gaussian derivatives (scipy.ndimage.gaussian_gradient_magnitude).

    Parameters
    ----------
    %(input)s
    sigma : float or sequence of float
        Standard deviation in voxels, one or one per array axis: as in scipy 1.17,
        every axis is smoothed and only those in `axes` are differentiated.
    %(nd_output)s
    mode : str or sequence of str, optional
        Boundary extension; with a sequence, term ``i`` uses ``mode[i]`` on every axis.
    %(cval)s
    %(nd_axes)s
    **kwargs
        `truncate` and `radius`, passed on to the Gaussian as in scipy.

    Returns
    -------
    %(nd_returns)s

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> ramp = np.add.outer(np.arange(8.0), 2 * np.arange(8.0))
    >>> round(float(ndimage.gaussian_gradient_magnitude(ramp, 1.0)[4, 4]), 6)
    2.23471
    """
    arr = backends.as_input(input, "auto", "input")
    axes = check_axes(axes, arr.ndim)
    truncate, radius = _gaussian_kwargs(kwargs)
    # scipy 1.17 passes sigma to gaussian_filter over every array axis: all axes are
    # smoothed, only those in `axes` are differentiated. A drop-in keeps that.
    sigmas = check_sigma(sigma, arr.ndim)
    radii = check_radius(radius, arr.ndim)
    every = range(arr.ndim)
    term_ops = [_gaussian_ops(arr.ndim, every, sigmas, [1 if a == ax else 0 for a in every], truncate, radii)
                for ax in axes]
    return _per_term(arr, axes, mode, cval, term_ops, "sqrt_sum_squares", output,
                     "gaussian_gradient_magnitude")


@docfiller
def laplace(input, output=None, mode="reflect", cval=0.0, *, axes=None):
    """Laplace filter with [1, -2, 1] second differences (scipy.ndimage.laplace).

    Parameters
    ----------
    %(input)s
    %(nd_output)s
    %(nd_mode_multiple)s
    %(cval)s
    %(nd_axes)s

    Returns
    -------
    %(nd_returns)s

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> ndimage.laplace(np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]])).tolist()
    [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    """
    arr = backends.as_input(input, "auto", "input")
    axes = check_axes(axes, arr.ndim)
    d2 = FIR(difference_taps(2))
    term_ops = [[d2 if a == ax else None for a in range(arr.ndim)] for ax in axes]
    return _per_term(arr, axes, mode, cval, term_ops, None, output, "laplace")


@docfiller
def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """N-D moving average (scipy.ndimage.uniform_filter).

    Parameters
    ----------
    %(input)s
    size : int or sequence of int, optional
        Window length per axis in `axes`. Default 3.
    %(nd_output)s
    %(nd_mode_multiple)s
    %(cval)s
    origin : int or sequence of int, optional
        Shift per axis, scipy's meaning.
    %(nd_axes)s

    Returns
    -------
    %(nd_returns)s

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> ndimage.uniform_filter(np.arange(9.0).reshape(3, 3), 3, mode="nearest")[1].tolist()
    [3.3333333333333335, 4.0, 4.666666666666667]
    """
    arr = backends.as_input(input, "auto", "input")
    axes = check_axes(axes, arr.ndim)
    sizes = check_size(size, len(axes))
    origins = check_origin(origin, sizes)
    modes = check_modes_on_axes(mode, axes, arr.ndim)
    ops = [(ax, moving_average(s, o)) for ax, s, o in zip(axes, sizes, origins) if s > 1]
    plan = _single(ops, arr.ndim, modes, check_cval(cval), "uniform_filter")
    return _run(plan, arr, output)


def _edge(input, axis, output, mode, cval, taps, name):
    arr = backends.as_input(input, "auto", "input")
    ax = check_axis(axis, arr.ndim)
    modes = check_mode(mode, arr.ndim)
    derivative, smoothing = taps
    order = [ax] + [a for a in range(arr.ndim) if a != ax]  # scipy: the derivative first
    ops = [(a, FIR(derivative if a == ax else smoothing)) for a in order]
    return _run(_single(ops, arr.ndim, modes, check_cval(cval), name), arr, output)


@docfiller
def sobel(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """Sobel derivative along `axis`, [1, 2, 1] smoothing on the others (scipy.ndimage.sobel).

    Parameters
    ----------
    %(input)s
    %(nd_axis)s
    %(nd_output)s
    %(nd_mode_array_axes)s
    %(cval)s

    Returns
    -------
    %(nd_returns)s

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> ndimage.sobel(np.tile(np.arange(4.0), (3, 1)), axis=1)[1].tolist()
    [4.0, 8.0, 8.0, 4.0]
    """
    return _edge(input, axis, output, mode, cval, sobel_taps(), "sobel")


@docfiller
def prewitt(input, axis=-1, output=None, mode="reflect", cval=0.0):
    """Prewitt derivative along `axis`, [1, 1, 1] smoothing on the others (scipy.ndimage.prewitt).

    Parameters
    ----------
    %(input)s
    %(nd_axis)s
    %(nd_output)s
    %(nd_mode_array_axes)s
    %(cval)s

    Returns
    -------
    %(nd_returns)s

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> ndimage.prewitt(np.tile(np.arange(4.0), (3, 1)), axis=1)[1].tolist()
    [3.0, 6.0, 6.0, 3.0]
    """
    return _edge(input, axis, output, mode, cval, prewitt_taps(), "prewitt")
