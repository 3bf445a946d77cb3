"""Drop-in replacements for scipy.ndimage's separable filters.

Same names, arguments, defaults, dtypes, ``output=`` rules and error classes as
scipy.ndimage (1.17), and scipy's numbers:

- Every filter is scipy's structure: chains of 1-D passes in scipy's axis order, and for
  ``laplace``, ``gaussian_laplace`` and ``gaussian_gradient_magnitude`` one chain per
  term, added (squared, square-rooted) in the output dtype as scipy does.
- float32 and float64 outputs of a real input run as one sep3d plan (shared passes,
  fused in cache, all cores): equal to scipy's to rounding (float64 ~1e-15 relative,
  float32 within 1e-5 of the result's scale; float32 results are computed in float32).
- Integer and bool outputs are scipy's bit for bit: each pass is computed with scipy's
  own arithmetic and stored in the output dtype before the next pass reads it
  (:mod:`sep3d.backends.cpu.exact`), so they are truncated after every pass, as scipy's are.
- Complex inputs, outputs and weights (``correlate1d``, ``convolve1d``): the real and
  imaginary parts are filtered as scipy filters them (``cval``'s real part pads the
  real part, its imaginary part the imaginary part).

Errors are the classes scipy raises, with messages that name the argument and contain
scipy's own phrase; where scipy raises RuntimeError the error is also a ValueError or
TypeError (:class:`~sep3d._validate.ArgumentValueError`). The deliberate differences
are listed in the user guide (docs/user_guide/ct_filters.md, "Semantics").
"""
from __future__ import annotations

import warnings

import numpy as np

from . import backends
from ._docs import docfiller
from ._validate import (
    SCIPY_PHRASES,
    ArgumentTypeError,
    ArgumentValueError,
    Mode,
    check_axes,
    check_axis,
    check_cval,
    check_mode,
    check_nonneg_int,
    check_origin,
    check_radius,
    check_sigma,
    check_size,
    check_truncate,
    check_weights,
    per_axis,
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

#: The dtypes scipy.ndimage's filters read and write (in native byte order).
SCIPY_DTYPES = frozenset(np.dtype(t) for t in (
    np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64,
    np.float32, np.float64, np.complex64, np.complex128))

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

#: scipy's wording for an origin outside the kernel, per function.
_ORIGIN_CORRELATE = ("Invalid origin; origin must satisfy -(len(weights) // 2) <= origin <= "
                     "(len(weights)-1) // 2")
_ORIGIN_UNIFORM = "invalid origin"


# ---------------------------------------------------------------------------------------
# scipy's input and output rules


def _input(input):
    arr = backends.as_input(input, "auto", "input", complex_ok=True, empty_ok=True, allow_0d=True)
    _check_scipy_dtype(arr.dtype, "input")
    return arr


def _check_scipy_dtype(dtype, name):
    native = np.dtype(dtype).newbyteorder("=")
    if native not in SCIPY_DTYPES:
        raise ArgumentTypeError(
            f"`{name}` has dtype {np.dtype(dtype)}, which scipy.ndimage does not filter (array type {native!r} "
            "not supported); convert it (e.g. `.astype(np.float32)`) or use sep3d's rich API (sep3d.gaussian, "
            "...), which takes float16")


def _output(output, arr, complex_result, promote):
    """scipy's ``_get_output``: ``(output array or None, result dtype)``.

    `complex_result`: the input (or the weights) is complex, so the result must be.
    `promote`: a real dtype given as a type or ``np.dtype`` is promoted to complex with
    scipy's warning (the functions that call ``_get_output(..., complex_output=True)``);
    otherwise a real output for a complex result is an error.
    """
    kind = backends.array_kind(output)
    array = None
    if output is None:
        dtype = arr.dtype.newbyteorder("=")
        if complex_result and dtype.kind != "c":
            dtype = np.promote_types(dtype, np.complex64)
    elif kind in ("numpy", "cupy", "dask"):
        if kind == "dask" or backends.array_kind(arr) == "dask":
            raise TypeError("`output` must be None or a dtype for a dask array (the result is a new lazy "
                            f"array); got {type(output).__name__}")
        if kind != backends.array_kind(arr):
            raise TypeError(f"`output` must be an array of the input's type ({type(arr).__name__}); "
                            f"got {type(output).__name__}")
        if output.shape != arr.shape:
            raise ArgumentValueError(f"`output` must have the input's shape {arr.shape}; got {output.shape} "
                                     f"({SCIPY_PHRASES['output_shape']})")
        if kind == "numpy" and not output.flags.writeable:
            raise ValueError("`output` must be writeable")
        array, dtype = output, output.dtype
        if complex_result and dtype.kind != "c":
            raise ArgumentTypeError(f"`output` must be complex for a complex result; got {dtype} "
                                    f"({SCIPY_PHRASES['output_complex']})")
    elif isinstance(output, str):
        try:
            dtype = np.dtype(output)
        except TypeError:
            raise TypeError(f"`output` must be None, an array or a dtype; got {output!r}") from None
        if complex_result and dtype.kind != "c":
            raise ArgumentTypeError(f"`output` must be complex for a complex result; got {output!r} "
                                    f"({SCIPY_PHRASES['output_complex']})")
        if not issubclass(dtype.type, np.number):
            raise ArgumentTypeError(f"`output` must name a numeric dtype; got {output!r} "
                                    f"({SCIPY_PHRASES['output_numeric']})")
    elif isinstance(output, (type, np.dtype)):
        try:
            dtype = np.dtype(output)
        except TypeError:
            raise TypeError(f"`output` must be None, an array or a dtype; got {output!r}") from None
        if complex_result and dtype.kind != "c":
            if not promote:
                raise ArgumentTypeError(f"`output` must be complex for a complex result; got {dtype} "
                                        f"({SCIPY_PHRASES['output_complex']})")
            promoted = np.promote_types(dtype, np.complex64)
            warnings.warn(f"promoting specified output dtype to complex: `output` {dtype} becomes {promoted} "
                          "for a complex result", UserWarning, stacklevel=3)
            dtype = promoted
    else:
        raise ArgumentTypeError(f"`output` must be None, an array or a dtype; got {output!r} "
                                f"({SCIPY_PHRASES['output_shape']})")
    _check_scipy_dtype(dtype, "output")
    if dtype.kind == "c" and not complex_result:
        raise ArgumentTypeError(f"`output` must be real for a real input and real weights; got {dtype} "
                                f"(array type {np.dtype(dtype).newbyteorder('=')!r} not supported)")
    return array, np.dtype(dtype)


def _one_mode(mode):
    if not isinstance(mode, str):
        raise ArgumentValueError(f"`mode` must be one of the mode names (a single string here); got {mode!r} "
                                 f"({SCIPY_PHRASES['mode']})")
    return check_mode(mode, 1)[0]


def _cval(cval, arr, complex_weights=False):
    """scipy's cval: real for a real input (a complex one only pads a complex input)."""
    if arr.dtype.kind == "c":
        return complex(check_cval(cval, complex_ok=True))
    if complex_weights:
        value = check_cval(cval, complex_ok=True)
        if isinstance(value, complex):
            raise ValueError(f"`cval` must be real for a real input; got {cval!r} "
                             "(Cannot provide a complex-valued cval when the input is real.)")
        return value
    return check_cval(cval)


# ---------------------------------------------------------------------------------------
# running scipy's structure: chains of 1-D passes, terms, their sum or magnitude
#
# A chain is a list of (axis, FIR, mode) in pass order: scipy's gaussian_filter,
# uniform_filter, sobel, prewitt and correlate1d. A term of laplace, gaussian_laplace and
# gaussian_gradient_magnitude is a chain.


def _native(dtype):
    return np.dtype(dtype).newbyteorder("=")


def _compute_dtype(dtype):
    return np.dtype(np.float32) if _native(dtype) == np.float32 else np.dtype(np.float64)


def _execute(plan, arr, dtype, into=None):
    """Run `plan` on `arr` into a new array of `dtype` (or `into`); a dask array stays lazy."""
    compute = _compute_dtype(dtype)
    if backends.array_kind(arr) == "dask":
        from . import chunked

        return chunked.run_plan(plan, arr, result_dtype=dtype, temp_dtype=compute, compute_dtype=compute)
    result = backends.empty(arr, arr.shape, dtype) if into is None else into
    backends.execute(plan, arr, [result], backend="auto", temp_dtype=compute, compute_dtype=compute)
    return result


def _chain_plan(ndim, chain, cval, arithmetic, name):
    ops, modes = [None] * ndim, [Mode.REFLECT] * ndim
    for ax, op, mode in chain:
        ops[ax], modes[ax] = op, mode
    return FilterPlan((Output((Term(1.0, tuple(ops)),)),), tuple(modes), cval, None, name,
                      tuple(ax for ax, _, _ in chain), arithmetic)


def _copy_into(arr, dtype, into):
    """scipy's ``output[...] = input`` (an empty chain)."""
    if backends.array_kind(arr) == "dask":
        return arr.astype(dtype)
    result = backends.empty(arr, arr.shape, dtype) if into is None else into
    result[...] = arr
    return result


def _real_chain(arr, chain, cval, dtype, name, into=None):
    """A chain on a real input into a real dtype: fast plan for floats, scipy's bits otherwise."""
    if not chain:
        return _copy_into(arr, dtype, into)
    arithmetic = "fast" if _native(dtype) in _FLOATS else "scipy"
    return _execute(_chain_plan(arr.ndim, chain, cval, arithmetic, name), arr, dtype, into)


def _chain(arr, chain, cval, dtype, name, into=None):
    """One chain of scipy's 1-D passes: an array of `dtype` (`into` when given)."""
    if dtype.kind != "c":
        return _real_chain(arr, chain, cval, dtype, name, into)
    part = np.empty(0, dtype).real.dtype  # a complex result comes from a complex input here
    cval = complex(cval)
    re = _real_chain(arr.real, chain, cval.real, part, name)
    im = _real_chain(arr.imag, chain, cval.imag, part, name)
    return backends.complex_from_parts(re, im, dtype, into)


def _uniform_modes(terms, ndim):
    """The mode of every axis when all terms agree on it (one plan can run them), else None."""
    modes = [None] * ndim
    for chain in terms:
        for ax, _, mode in chain:
            if modes[ax] not in (None, mode):
                return None
            modes[ax] = mode
    return tuple(Mode.REFLECT if m is None else m for m in modes)


def _run(arr, terms, combine, cval, output, dtype, name):
    """scipy's filter `terms` (chains) on `arr`: one chain (`combine` None), their sum
    ('sum', scipy's generic_laplace) or gradient magnitude ('magnitude',
    generic_gradient_magnitude), in `dtype`; returns `output` when it is an array."""
    if arr.size == 0:
        if backends.array_kind(arr) == "dask":
            return arr.astype(dtype)
        return backends.empty(arr, arr.shape, dtype) if output is None else output
    if combine is None or not terms:
        chain = terms[0] if terms else []
        return _chain(arr, chain, cval, dtype, name, output)
    modes = _uniform_modes(terms, arr.ndim)
    if _native(dtype) in _FLOATS and arr.dtype.kind != "c" and modes is not None:
        # one plan: the terms share their passes and add in the result
        term_list = []
        for chain in terms:
            ops = [None] * arr.ndim
            for ax, op, _ in chain:
                ops[ax] = op
            term_list.append(Term(1.0, tuple(ops)))
        if combine == "sum":
            plan = FilterPlan((Output(tuple(term_list)),), modes, cval, None, name)
        else:
            plan = FilterPlan(tuple(Output((t,)) for t in term_list), modes, cval, "sqrt_sum_squares", name)
        return _execute(plan, arr, dtype, output)
    return _run_terms(arr, terms, combine, cval, output, dtype, name)


def _run_terms(arr, terms, combine, cval, output, dtype, name):
    """The terms one by one, added (squared) in the output dtype, as scipy does."""
    lazy = backends.array_kind(arr) == "dask"
    xp = backends.array_module(arr)
    if output is not None and xp.may_share_memory(output, arr):
        arr = arr.copy()  # every term reads the input: keep it while the first is written
    result = _chain(arr, terms[0], cval, dtype, name, output)
    if combine == "magnitude":
        result = result * result if lazy else xp.multiply(result, result, out=result)
    for chain in terms[1:]:
        part = _chain(arr, chain, cval, dtype, name)
        if combine == "magnitude":
            part = part * part if lazy else xp.multiply(part, part, out=part)
        result = result + part if lazy else xp.add(result, part, out=result)
    if combine == "magnitude":  # scipy: np.sqrt(output, output, casting='unsafe')
        result = xp.sqrt(result).astype(dtype) if lazy else xp.sqrt(result, out=result, casting="unsafe")
    return result


# ---------------------------------------------------------------------------------------
# 1-D filters


def _correlate1d(arr, weights, axis, origin, mode, cval, output, name):
    """Correlate with the final taps `weights` (real or complex; no conjugation here)."""
    complex_weights = weights.dtype.kind == "c"
    out, dtype = _output(output, arr, arr.dtype.kind == "c" or complex_weights, promote=True)
    cval = _cval(cval, arr, complex_weights)
    if not complex_weights:
        return _run(arr, [[(axis, FIR(weights, origin), mode)]], None, cval, out, dtype, name)
    if arr.size == 0:
        return _run(arr, [], None, cval, out, dtype, name)
    # scipy's _complex_via_real_components: four (or two) real correlations
    part = np.empty(0, dtype).real.dtype

    def corr(x, taps, c):
        return _real_chain(x, [(axis, FIR(taps, origin), mode)], c, part, name)

    cval = complex(cval)
    if arr.dtype.kind == "c":
        re = corr(arr.real, weights.real, cval.real) - corr(arr.imag, weights.imag, cval.imag)
        im = corr(arr.real, weights.imag, cval.real) + corr(arr.imag, weights.real, cval.imag)
    else:
        re = corr(arr, weights.real, cval.real)
        im = corr(arr, weights.imag, cval.real)
    return backends.complex_from_parts(re, im, dtype, out)


@docfiller
def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """Correlate along one axis with `weights` (scipy.ndimage.correlate1d).

    Parameters
    ----------
    %(input)s
    weights : array_like
        1-D correlation taps; complex taps give a complex result (correlated with their
        conjugate, as scipy does).
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
    arr = _input(input)
    w = check_weights(weights, "weights", complex_ok=True)
    ax = check_axis(axis, arr.ndim)
    (origin,) = check_origin(origin, (w.size,), phrase=_ORIGIN_CORRELATE)
    return _correlate1d(arr, w.conj() if w.dtype.kind == "c" else w, ax, origin, _one_mode(mode), cval, output,
                        "correlate1d")


@docfiller
def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    """Convolve along one axis with `weights` (scipy.ndimage.convolve1d).

    Parameters
    ----------
    %(input)s
    weights : array_like
        1-D convolution kernel (real or complex).
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
    arr = _input(input)
    w = check_weights(weights, "weights", complex_ok=True)
    ax = check_axis(axis, arr.ndim)
    # the valid origins of a convolution are those of a correlation of the same size
    (origin,) = check_origin(origin, (w.size,), phrase=_ORIGIN_CORRELATE)
    flipped = -origin - (0 if w.size % 2 else 1)
    return _correlate1d(arr, w[::-1].copy(), ax, flipped, _one_mode(mode), cval, output, "convolve1d")


def _gaussian_fir(sigma, order, truncate, radius):
    return FIR(gaussian_taps(sigma, order, gaussian_radius(sigma, truncate, radius)))


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
    arr = _input(input)
    ax = check_axis(axis, arr.ndim)
    (s,) = check_sigma(sigma, 1)
    if s <= 0:
        raise ValueError(f"`sigma` must be > 0; got {sigma!r}")
    (order,) = check_nonneg_int(order, 1, "order", SCIPY_PHRASES["order"])
    (r,) = check_radius(radius, 1)
    op = _gaussian_fir(s, order, check_truncate(truncate), r)
    return _correlate1d(arr, op.taps, ax, 0, _one_mode(mode), cval, output, "gaussian_filter1d")


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

    Notes
    -----
    Integer results follow scipy's running sum bit for bit. Float results sum each
    window afresh, so a NaN or an infinity spoils only the windows that hold it; scipy's
    running sum carries it to the end of the line.

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> ndimage.uniform_filter1d(np.array([2, 8, 0, 4, 1, 9, 9, 0]), size=3).tolist()
    [4, 3, 4, 1, 4, 6, 6, 3]
    """
    arr = _input(input)
    ax = check_axis(axis, arr.ndim)
    (size,) = check_size(size, 1)
    out, dtype = _output(output, arr, arr.dtype.kind == "c", promote=True)
    (origin,) = check_origin(origin, (size,), phrase=_ORIGIN_UNIFORM)
    chain = [(ax, moving_average(size, origin), _one_mode(mode))]
    return _run(arr, [chain], None, _cval(cval, arr), out, dtype, "uniform_filter1d")


# ---------------------------------------------------------------------------------------
# N-D filters


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

    Notes
    -----
    The axes are filtered in the order of `axes`, as scipy does.

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> a = np.arange(50, step=2).reshape((5, 5))
    >>> ndimage.gaussian_filter(a, sigma=1)[0].tolist()  # scipy's integers: truncated after each axis
    [4, 6, 8, 9, 11]
    """
    arr = _input(input)
    out, dtype = _output(output, arr, arr.dtype.kind == "c", promote=False)
    axes = check_axes(axes, arr.ndim)
    n = len(axes)
    sigmas = check_sigma(sigma, n)
    orders = check_nonneg_int(order, n, "order", SCIPY_PHRASES["order"])
    modes = check_mode(mode, n)
    radii = check_radius(radius, n)
    truncate = check_truncate(truncate)
    chain = [(ax, _gaussian_fir(s, o, truncate, r), m)
             for ax, s, o, m, r in zip(axes, sigmas, orders, modes, radii) if s > _SIGMA_EPS]
    return _run(arr, [chain], None, _cval(cval, arr), out, dtype, "gaussian_filter")


def _gaussian_kwargs(kwargs, ndim):
    """gaussian_laplace's and gaussian_gradient_magnitude's ``**kwargs`` for gaussian_filter."""
    unknown = set(kwargs) - {"truncate", "radius"}
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {sorted(unknown)}; accepted: truncate, radius")
    return check_truncate(kwargs.get("truncate", 4.0)), check_radius(kwargs.get("radius"), ndim)


def _gaussian_chain(sigmas, orders, mode, truncate, radii):
    """scipy's gaussian_filter over every array axis (ascending), skipping sigma <= 1e-15."""
    return [(ax, _gaussian_fir(s, o, truncate, r), mode)
            for ax, (s, o, r) in enumerate(zip(sigmas, orders, radii)) if s > _SIGMA_EPS]


@docfiller
def gaussian_laplace(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    """Laplace filter with Gaussian second derivatives (scipy.ndimage.gaussian_laplace).

    Parameters
    ----------
    %(input)s
    sigma : float or sequence of float
        Standard deviation in voxels: one, or one per axis in `axes`. As in scipy, when
        `axes` lists every axis the sequence is read per array axis (in array order),
        whatever the order of `axes`.
    %(nd_output)s
    mode : str or sequence of str, optional
        Boundary extension; with a sequence, term ``i`` (the second derivative along
        ``axes[i]``) uses ``mode[i]`` on every axis, as in scipy.
    %(cval)s
    %(nd_axes)s
    **kwargs
        `truncate` and `radius` (one, or one per array axis), passed on to the Gaussian
        as in scipy.

    Returns
    -------
    %(nd_returns)s

    Notes
    -----
    With float outputs the terms share their smoothing passes: 8 passes in 3-D, one
    temporary volume.

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> x = np.zeros((9, 9)); x[4, 4] = 1
    >>> round(float(ndimage.gaussian_laplace(x, 1.0)[4, 4]), 6)
    -0.318312
    """
    arr = _input(input)
    out, dtype = _output(output, arr, arr.dtype.kind == "c", promote=False)
    axes = check_axes(axes, arr.ndim)
    truncate, radii = _gaussian_kwargs(kwargs, arr.ndim)
    sigmas = check_sigma(sigma, len(axes))
    if len(axes) < arr.ndim:  # scipy: sigma per entry of axes, 0 on the other axes
        full = [0.0] * arr.ndim
        for ax, s in zip(axes, sigmas):
            full[ax] = s
        sigmas = full
    modes = check_mode(mode, len(axes))
    terms = [_gaussian_chain(sigmas, [2 if a == ax else 0 for a in range(arr.ndim)], m, truncate, radii)
             for ax, m in zip(axes, modes)]
    return _run(arr, terms, "sum", _cval(cval, arr), out, dtype, "gaussian_laplace")


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

    Notes
    -----
    Integer outputs square and add in the output dtype, as scipy does (so they wrap).

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d import ndimage
    >>> ramp = np.add.outer(np.arange(8.0), 2 * np.arange(8.0))
    >>> round(float(ndimage.gaussian_gradient_magnitude(ramp, 1.0)[4, 4]), 6)
    2.23471
    """
    arr = _input(input)
    out, dtype = _output(output, arr, arr.dtype.kind == "c", promote=False)
    axes = check_axes(axes, arr.ndim)
    truncate, radii = _gaussian_kwargs(kwargs, arr.ndim)
    # scipy 1.17 passes sigma to gaussian_filter over every array axis: all axes are
    # smoothed, only those in `axes` are differentiated. A drop-in keeps that.
    sigmas = check_sigma(sigma, arr.ndim)
    modes = check_mode(mode, len(axes))
    terms = [_gaussian_chain(sigmas, [1 if a == ax else 0 for a in range(arr.ndim)], m, truncate, radii)
             for ax, m in zip(axes, modes)]
    return _run(arr, terms, "magnitude", _cval(cval, arr), out, dtype, "gaussian_gradient_magnitude")


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
    arr = _input(input)
    out, dtype = _output(output, arr, arr.dtype.kind == "c", promote=False)
    axes = check_axes(axes, arr.ndim)
    modes = check_mode(mode, len(axes))
    d2 = FIR(difference_taps(2))
    terms = [[(ax, d2, m)] for ax, m in zip(axes, modes)]
    return _run(arr, terms, "sum", _cval(cval, arr), out, dtype, "laplace")


@docfiller
def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    """N-D moving average (scipy.ndimage.uniform_filter).

    Parameters
    ----------
    %(input)s
    size : int or sequence of int, optional
        Window length per axis in `axes`; an axis whose size is 0 or 1 is left
        unfiltered, as scipy does. Default 3.
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
    arr = _input(input)
    out, dtype = _output(output, arr, arr.dtype.kind == "c", promote=True)
    axes = check_axes(axes, arr.ndim)
    n = len(axes)
    sizes = check_size(size, n, minimum=0)
    origins = per_axis(origin, n, "origin")
    modes = check_mode(mode, n)
    chain = []
    for ax, s, o, m in zip(axes, sizes, origins, modes):
        if s > 1:
            (o,) = check_origin(o, (s,), phrase=_ORIGIN_UNIFORM)
            chain.append((ax, moving_average(s, o), m))
    return _run(arr, [chain], None, _cval(cval, arr), out, dtype, "uniform_filter")


def _edge(input, axis, output, mode, cval, taps, name):
    arr = _input(input)
    ax = check_axis(axis, arr.ndim)
    out, dtype = _output(output, arr, arr.dtype.kind == "c", promote=False)
    modes = check_mode(mode, arr.ndim)
    derivative, smoothing = taps
    order = [ax] + [a for a in range(arr.ndim) if a != ax]  # scipy: the derivative first
    chain = [(a, FIR(derivative if a == ax else smoothing), modes[a]) for a in order]
    return _run(arr, [chain], None, _cval(cval, arr), out, dtype, name)


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
