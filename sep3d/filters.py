"""The rich filter API: physical spacing, multi-output filters, arbitrary separable kernels.

Every function here builds a :class:`~sep3d.plan.FilterPlan` (``<name>.plan`` in
:data:`PLANNERS`, also reachable through :func:`describe`) and hands it to a backend.
dtype rule: float64 in -> float64 out, everything else (float32, integers, bool) ->
float32.
"""
from __future__ import annotations

import dataclasses
import io
import math
from dataclasses import dataclass

import numpy as np

from . import backends
from .backends import fusion
from ._docs import docfiller
from ._validate import (
    check_axes,
    check_cval,
    check_method,
    check_modes_on_axes,
    check_origin,
    check_positive,
    check_radius,
    check_sigma,
    check_size,
    check_spacing,
    check_truncate,
    check_weights,
    per_axis,
)
from .kernels import FIR, gaussian_radius, gaussian_taps, moving_average, recursive_gaussian
from .plan import FilterPlan, Output, Term, cost

__all__ = [
    "run_plan",
    "gaussian",
    "gaussian_derivative",
    "laplacian_of_gaussian",
    "gradient_magnitude",
    "hessian",
    "difference_of_gaussians",
    "box",
    "separable",
    "describe",
    "hessian_components",
    "PLANNERS",
]


# ---------------------------------------------------------------------------------------
# shared pieces


class _Geometry:
    """Validated axes, per-axis modes and spacing of one call.

    ``axes`` is also the order of the passes (FilterPlan.axis_order), scipy's: with
    constant mode and a non-zero cval the order changes the values.
    """

    def __init__(self, ndim, axes, mode, spacing, shape=None):
        self.ndim = ndim
        self.shape = None if shape is None else tuple(int(n) for n in shape)
        self.axes = check_axes(axes, ndim)
        self.spacing = check_spacing(spacing, ndim)
        self.modes = check_modes_on_axes(mode, self.axes, ndim)

    def px(self, values):
        """Physical values per filtered axis -> voxels."""
        return [v / self.spacing[ax] for v, ax in zip(values, self.axes)]

    def length(self, ax):
        """The line length along `ax`, None when the plan is made without a shape."""
        return None if self.shape is None else self.shape[ax]


def _gaussian_op(sigma_px, order, truncate, radius, method="fir", length=None):
    if method == "auto":
        from .planner import gaussian_method

        method = gaussian_method(sigma_px, order, gaussian_radius(sigma_px, truncate, radius), length)
    if method == "recursive":
        if order > 2:
            raise ValueError(f"`order` must be <= 2 with method='recursive'; got {order}")
        return recursive_gaussian(sigma_px, order)
    r = gaussian_radius(sigma_px, truncate, radius)
    return FIR(gaussian_taps(sigma_px, order, r))


def _smoothing_ops(geo, sigma_px, truncate, radii, method="fir"):
    """One Gaussian per filtered axis (identity where sigma is 0)."""
    ops = [None] * geo.ndim
    for ax, s, r in zip(geo.axes, sigma_px, radii):
        if s > 0:
            ops[ax] = _gaussian_op(s, 0, truncate, r, method, geo.length(ax))
    return ops


def _derivative_ops(geo, sigma_px, truncate, radii, orders, method="fir"):
    """Gaussian derivative ops; `orders` maps axis -> derivative order."""
    ops = _smoothing_ops(geo, sigma_px, truncate, radii, method)
    for ax, s, r in zip(geo.axes, sigma_px, radii):
        order = orders.get(ax, 0)
        if order:
            if s <= 0:
                raise ValueError(f"`sigma` must be > 0 on axis {ax}, which takes a derivative; got 0")
            ops[ax] = _gaussian_op(s, order, truncate, r, method, geo.length(ax))
    return ops


def _image(image, backend):
    """A filter's input: any numeric dtype (complex included), empty arrays too."""
    return backends.as_input(image, backend, complex_ok=True, empty_ok=True)


def result_dtype(image, output):
    """float64 for float64 input (or a float64 `output`), else float32; complex for complex input."""
    out_dtype = getattr(output, "dtype", None) if output is not None else None
    wide = image.dtype.kind in "fc" and np.finfo(image.dtype).bits >= 64
    if image.dtype.kind == "c":
        return np.dtype(np.complex128 if wide or out_dtype == np.complex128 else np.complex64)
    return np.dtype(np.float64 if wide or out_dtype == np.float64 else np.float32)


def check_output(output, image, shape, name="output"):
    kind = backends.array_kind(image)
    if backends.array_kind(output) != kind:
        raise TypeError(f"`{name}` must be an array of the input's type ({type(image).__name__}) or None; "
                        f"got {type(output).__name__}")
    if output.shape != tuple(shape):
        raise ValueError(f"`{name}` must have shape {tuple(shape)}; got {output.shape}")
    allowed = (np.complex64, np.complex128) if image.dtype.kind == "c" else (np.float32, np.float64)
    if output.dtype not in allowed:
        names = " or ".join(np.dtype(t).name for t in allowed)
        raise TypeError(f"`{name}` must be {names} for a {image.dtype} input; got {output.dtype}")
    if kind == "numpy" and not output.flags.writeable:
        raise ValueError(f"`{name}` must be writeable")
    return output


def run_plan(plan, image, *, backend="auto", output=None, stacked=False):
    """Run a :class:`~sep3d.plan.FilterPlan` on `image`: what every filter of this module does.

    Parameters
    ----------
    plan : FilterPlan
        Built for ``image.ndim`` axes.
    image : array_like
        NumPy, CuPy or dask; any numeric dtype.
    backend, output
        As for the filters.
    stacked : bool
        Return one leading entry per plan output (a multi-output plan); else the plan
        must have one result.

    Returns
    -------
    array
        float32 (float64 for float64 input), the input's array type.
    """
    arr = _image(image, backend)
    if plan.ndim != arr.ndim:
        raise ValueError(f"`plan` filters {plan.ndim} axes; `image` has {arr.ndim}")
    if not stacked and plan.n_results != 1:
        raise ValueError(f"`plan` has {plan.n_results} results: pass stacked=True")
    return _run(plan, arr, backend, output, stacked)


def _run(plan, image, backend, output, stacked=False):
    """Allocate (or check) the result, run the plan, return the result.

    A stacked result has one leading entry per plan result (the Hessian's components).
    The result has the input's array type (NumPy, CuPy, or a lazy dask array). A complex
    input runs the plan on its real part and, with ``cval = 0``, on its imaginary part.
    """
    dtype = result_dtype(image, output)
    shape = (plan.n_results,) + image.shape if stacked else image.shape
    if backends.array_kind(image) == "dask":
        if output is not None:
            raise TypeError("`output` must be None for a dask array (the result is a new lazy array); "
                            f"got {type(output).__name__}")
        if image.size == 0:
            import dask.array as da

            return da.zeros(shape, dtype=dtype, meta=image._meta)
        if dtype.kind == "c":
            re = _run_lazy(plan, image.real, backend, dtype, stacked)
            im = _run_lazy(dataclasses.replace(plan, cval=0.0), image.imag, backend, dtype, stacked)
            return backends.complex_from_parts(re, im, dtype)
        return _run_lazy(plan, image, backend, dtype, stacked)
    if output is None:
        result = backends.empty(image, shape, dtype)
    else:
        result = check_output(output, image, shape)
    if image.size == 0:
        return result
    if dtype.kind == "c":
        part = _real_dtype(dtype)
        re, im = backends.empty(image, shape, part), backends.empty(image, shape, part)
        _execute(plan, image.real, re, backend, stacked)
        _execute(dataclasses.replace(plan, cval=0.0), image.imag, im, backend, stacked)
        return backends.complex_from_parts(re, im, dtype, into=result)
    _execute(plan, image, result, backend, stacked)
    return result


def _real_dtype(dtype):
    """float32 for complex64, float64 for complex128 (and a real dtype itself)."""
    return np.empty(0, dtype).real.dtype


def _run_lazy(plan, image, backend, dtype, stacked):
    from . import chunked

    part = _real_dtype(dtype)
    return chunked.run_plan(plan, image, backend=backend, result_dtype=part, temp_dtype=part,
                            compute_dtype=part, stacked=stacked)


def _execute(plan, image, result, backend, stacked):
    outs = list(result) if stacked else [result]
    backends.execute(plan, image, outs, backend=backend, temp_dtype=result.dtype, compute_dtype=result.dtype)


# ---------------------------------------------------------------------------------------
# planners (validate everything but the array and return a FilterPlan)


def plan_gaussian(ndim, sigma, *, order=0, spacing=None, axes=None, mode="reflect", cval=0.0,
                  truncate=4.0, radius=None, method="fir", shape=None):
    geo = _Geometry(ndim, axes, mode, spacing, shape)
    n = len(geo.axes)
    sig = geo.px(check_sigma(sigma, n))
    orders = dict(zip(geo.axes, _orders(order, n)))
    truncate = check_truncate(truncate)
    radii = check_radius(radius, n)
    ops = _derivative_ops(geo, sig, truncate, radii, orders, check_method(method))
    scale = 1.0
    for ax, o in orders.items():
        scale /= geo.spacing[ax] ** o
    name = "gaussian" if not any(orders.values()) else "gaussian_derivative"
    return FilterPlan((Output((Term(scale, tuple(ops)),)),), geo.modes, check_cval(cval), None, name, geo.axes)


def plan_gaussian_derivative(ndim, sigma, order, **kwargs):
    """:func:`gaussian_derivative`'s planner (its `order` is positional)."""
    return plan_gaussian(ndim, sigma, order=order, **kwargs)


def _orders(order, n):
    orders = []
    for o in per_axis(order, n, "order"):
        if isinstance(o, bool) or not isinstance(o, (int, np.integer)) or o < 0:
            raise ValueError(f"`order` must be a non-negative int or one per axis; got {o!r}")
        orders.append(int(o))
    return orders


def plan_laplacian_of_gaussian(ndim, sigma, *, normalize=False, spacing=None, axes=None,
                               mode="reflect", cval=0.0, truncate=4.0, radius=None, method="fir",
                               shape=None):
    geo = _Geometry(ndim, axes, mode, spacing, shape)
    n = len(geo.axes)
    sigma_phys = check_sigma(sigma, n)
    sig = geo.px(sigma_phys)
    truncate = check_truncate(truncate)
    radii = check_radius(radius, n)
    method = check_method(method)
    terms = []
    for ax, s_phys in zip(geo.axes, sigma_phys):
        ops = _derivative_ops(geo, sig, truncate, radii, {ax: 2}, method)
        scale = s_phys ** 2 / geo.spacing[ax] ** 2 if normalize else 1.0 / geo.spacing[ax] ** 2
        terms.append(Term(scale, tuple(ops)))
    return FilterPlan((Output(tuple(terms)),), geo.modes, check_cval(cval), None, "laplacian_of_gaussian", geo.axes)


def plan_gradient_magnitude(ndim, sigma, *, spacing=None, axes=None, mode="reflect", cval=0.0,
                            truncate=4.0, radius=None):
    geo = _Geometry(ndim, axes, mode, spacing)
    n = len(geo.axes)
    sig = geo.px(check_sigma(sigma, n))
    truncate = check_truncate(truncate)
    radii = check_radius(radius, n)
    outputs = tuple(
        Output((Term(1.0 / geo.spacing[ax], tuple(_derivative_ops(geo, sig, truncate, radii, {ax: 1}))),))
        for ax in geo.axes
    )
    if not outputs:  # no axes: the magnitude of an empty gradient, zero
        return FilterPlan((Output(()),), geo.modes, check_cval(cval), None, "gradient_magnitude", geo.axes)
    return FilterPlan(outputs, geo.modes, check_cval(cval), "sqrt_sum_squares", "gradient_magnitude", geo.axes)


def hessian_components(ndim, axes=None):
    """The (i, j) axis pairs of :func:`hessian`'s components, in order (upper triangle)."""
    axes = check_axes(axes, ndim)
    return [(a, b) for i, a in enumerate(axes) for b in axes[i:]]


def plan_hessian(ndim, sigma, *, spacing=None, axes=None, mode="reflect", cval=0.0, truncate=4.0,
                 radius=None):
    geo = _Geometry(ndim, axes, mode, spacing)
    n = len(geo.axes)
    sig = geo.px(check_sigma(sigma, n))
    truncate = check_truncate(truncate)
    radii = check_radius(radius, n)
    outputs = []
    for a, b in hessian_components(ndim, geo.axes):
        orders = {a: 2} if a == b else {a: 1, b: 1}
        ops = _derivative_ops(geo, sig, truncate, radii, orders)
        outputs.append(Output((Term(1.0 / (geo.spacing[a] * geo.spacing[b]), tuple(ops)),)))
    if not outputs:
        raise ValueError(f"`axes` must name at least one axis for a Hessian; got {tuple(geo.axes)}")
    return FilterPlan(tuple(outputs), geo.modes, check_cval(cval), None, "hessian", geo.axes)


def plan_difference_of_gaussians(ndim, low_sigma, high_sigma=None, *, spacing=None, axes=None,
                                 mode="reflect", cval=0.0, truncate=4.0, method="fir", shape=None):
    geo = _Geometry(ndim, axes, mode, spacing, shape)
    n = len(geo.axes)
    low = check_sigma(low_sigma, n, "low_sigma")
    high = tuple(1.6 * s for s in low) if high_sigma is None else check_sigma(high_sigma, n, "high_sigma")
    if any(h < l for h, l in zip(high, low)):
        raise ValueError(f"`high_sigma` must be >= `low_sigma` on every axis; got {high} and {low}")
    truncate = check_truncate(truncate)
    method = check_method(method)
    none = (None,) * n
    terms = (
        Term(1.0, tuple(_smoothing_ops(geo, geo.px(low), truncate, none, method))),
        Term(-1.0, tuple(_smoothing_ops(geo, geo.px(high), truncate, none, method))),
    )
    return FilterPlan((Output(terms),), geo.modes, check_cval(cval), None, "difference_of_gaussians", geo.axes)


def plan_box(ndim, size, *, spacing=None, axes=None, mode="reflect", cval=0.0, origin=0):
    geo = _Geometry(ndim, axes, mode, spacing)
    n = len(geo.axes)
    if spacing is None:
        sizes = check_size(size, n)
    else:
        sizes = tuple(max(1, int(round(v))) for v in geo.px(check_positive(size, n, "size")))
    origins = check_origin(origin, sizes)
    ops = [None] * ndim
    for ax, s, o in zip(geo.axes, sizes, origins):
        if s > 1:
            ops[ax] = moving_average(s, o)
    return FilterPlan((Output((Term(1.0, tuple(ops)),)),), geo.modes, check_cval(cval), None, "box", geo.axes)


def plan_separable(ndim, kernels, *, spacing=None, support=None, axes=None, mode="reflect", cval=0.0,
                   origin=0):
    geo = _Geometry(ndim, axes, mode, spacing)
    n = len(geo.axes)
    if callable(kernels) or (isinstance(kernels, np.ndarray) and kernels.ndim == 1) or (
        isinstance(kernels, (list, tuple)) and kernels and np.isscalar(kernels[0])
    ):
        kernels = [kernels] * n
    kernels = per_axis(list(kernels) if isinstance(kernels, (list, tuple)) else kernels, n, "kernels")
    if any(callable(k) for k in kernels):
        if support is None:
            raise ValueError("`support` (the kernel half-width, physical units) is needed for callable kernels")
        supports = check_positive(support, n, "support")
    taps = []
    for i, (ax, k) in enumerate(zip(geo.axes, kernels)):
        if callable(k):
            half = int(np.floor(supports[i] / geo.spacing[ax] + 1e-9))
            x = np.arange(-half, half + 1) * geo.spacing[ax]
            try:
                values = np.asarray(k(x), dtype=np.float64)
            except Exception as exc:
                raise ValueError(f"`kernels` callable for axis {ax} failed on the sample offsets: {exc}") from exc
            if values.shape != x.shape:
                raise ValueError(f"`kernels` callable for axis {ax} must return one weight per offset "
                                 f"({x.size}); got shape {values.shape}")
            k = values
        taps.append(None if k is None else check_weights(k, "kernels"))
    origins = check_origin(origin, [1 if t is None else t.size for t in taps])
    ops = [None] * ndim
    for ax, t, o in zip(geo.axes, taps, origins):
        if t is not None:
            ops[ax] = FIR(t, o)
    return FilterPlan((Output((Term(1.0, tuple(ops)),)),), geo.modes, check_cval(cval), None, "separable", geo.axes)


# ---------------------------------------------------------------------------------------
# filters


@docfiller
def gaussian(image, sigma, *, spacing=None, axes=None, mode="reflect", cval=0.0, truncate=4.0,
             radius=None, method="fir", backend="auto", output=None):
    """Gaussian smoothing, one separable pass per axis.

    Parameters
    ----------
    %(image)s
    %(sigma)s
        0 leaves an axis unfiltered.
    %(spacing)s
    %(axes)s
    %(mode)s
    %(cval)s
    %(truncate)s
    %(radius)s
    %(method)s
    %(backend)s
    %(output)s

    Returns
    -------
    ndarray
        The smoothed image. %(filter_dtype_rule)s

    Raises
    ------
    ValueError
        Negative or NaN `sigma`, unknown `mode`, wrong number of `spacing` values,
        `axes` out of range, a 0-d input.
    TypeError
        A non-numeric input.

    See Also
    --------
    sep3d.ndimage.gaussian_filter : the scipy.ndimage-compatible form.

    Notes
    -----
    Equal to ``scipy.ndimage.gaussian_filter(image, sigma / spacing)``. Cost: one pass
    per axis, ``2 * radius + 1`` taps each (half the multiplies, the kernel being
    symmetric), run in place in the result: no temporary volume.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi, sep3d
    >>> ct = np.zeros((5, 5), dtype=np.int16); ct[2, 2] = 1000
    >>> smooth = sep3d.gaussian(ct, 1.0, spacing=(1.0, 2.0))   # 1 mm: 1 voxel on y, 0.5 on x
    >>> smooth.dtype, bool(smooth[2, 1] < smooth[1, 2])
    (dtype('float32'), True)
    >>> bool(np.allclose(smooth, ndi.gaussian_filter(ct.astype(float), (1.0, 0.5)), atol=1e-2))
    True
    """
    arr = _image(image, backend)
    plan = plan_gaussian(arr.ndim, sigma, spacing=spacing, axes=axes, mode=mode, cval=cval,
                         truncate=truncate, radius=radius, method=method, shape=arr.shape)
    return _run(plan, arr, backend, output)


@docfiller
def gaussian_derivative(image, sigma, order, *, spacing=None, axes=None, mode="reflect", cval=0.0,
                        truncate=4.0, radius=None, method="fir", backend="auto", output=None):
    """A Gaussian derivative of any order per axis, per physical unit when `spacing` is given.

    Parameters
    ----------
    %(image)s
    %(sigma)s
    order : int or sequence of int
        Derivative order, one for all filtered axes or one per axis in `axes`.
    %(spacing)s
    %(axes)s
    %(mode)s
    %(cval)s
    %(truncate)s
    %(radius)s
    %(method)s
    %(backend)s
    %(output)s

    Returns
    -------
    ndarray
        ``d^n (G * image) / dx^n``, divided by ``spacing ** order`` per axis.
        %(filter_dtype_rule)s

    Raises
    ------
    ValueError
        As :func:`gaussian`, plus a negative `order` or a derivative on an axis whose
        sigma is 0.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi, sep3d
    >>> ramp = np.arange(40.0)            # slope 1 per voxel = 2 per mm at 0.5 mm
    >>> d = sep3d.gaussian_derivative(ramp, 1.0, 1, spacing=0.5)   # sigma 1 mm = 2 voxels
    >>> bool(np.allclose(d, ndi.gaussian_filter1d(ramp, 2.0, order=1) / 0.5))
    True

    Not exactly 2: on a ramp the derivative taps return the slope times the variance of
    the sampled Gaussian truncated at 4 sigma over sigma^2, 0.99965 here:

    >>> round(float(d[20]), 4)
    1.9993
    """
    arr = _image(image, backend)
    plan = plan_gaussian_derivative(arr.ndim, sigma, order, spacing=spacing, axes=axes, mode=mode,
                                    cval=cval, truncate=truncate, radius=radius, method=method,
                                    shape=arr.shape)
    return _run(plan, arr, backend, output)


@docfiller
def laplacian_of_gaussian(image, sigma, *, normalize=False, spacing=None, axes=None, mode="reflect",
                          cval=0.0, truncate=4.0, radius=None, method="fir", backend="auto", output=None):
    """Laplacian of Gaussian (sum of second derivatives), optionally scale-normalised.

    Parameters
    ----------
    %(image)s
    %(sigma)s
    normalize : bool, optional
        Multiply each axis' term by ``sigma ** 2`` (physical units): the scale-normalised
        LoG used for blob detection and by PyRadiomics.
    %(spacing)s
    %(axes)s
    %(mode)s
    %(cval)s
    %(truncate)s
    %(radius)s
    %(method)s
    %(backend)s
    %(output)s

    Returns
    -------
    ndarray
        %(filter_dtype_rule)s

    Notes
    -----
    One plan of ``ndim`` terms that share their smoothing passes: in 3-D, 8 passes
    (scipy.ndimage.gaussian_laplace runs 9 and a temporary per term).

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi, sep3d
    >>> x = np.zeros((9, 9)); x[4, 4] = 1
    >>> bool(sep3d.laplacian_of_gaussian(x, 1.0)[4, 4] < 0)
    True
    >>> bool(np.allclose(sep3d.laplacian_of_gaussian(x, 1.0), ndi.gaussian_laplace(x, 1.0)))
    True
    """
    arr = _image(image, backend)
    plan = plan_laplacian_of_gaussian(arr.ndim, sigma, normalize=normalize, spacing=spacing, axes=axes,
                                      mode=mode, cval=cval, truncate=truncate, radius=radius, method=method,
                                      shape=arr.shape)
    return _run(plan, arr, backend, output)


@docfiller
def gradient_magnitude(image, sigma, *, spacing=None, axes=None, mode="reflect", cval=0.0,
                       truncate=4.0, radius=None, backend="auto", output=None):
    """Gaussian gradient magnitude, per physical unit when `spacing` is given.

    Parameters
    ----------
    %(image)s
    %(sigma)s
    %(spacing)s
    %(axes)s
    %(mode)s
    %(cval)s
    %(truncate)s
    %(radius)s
    %(backend)s
    %(output)s

    Returns
    -------
    ndarray
        ``sqrt(sum_i (dG/dx_i * image) ** 2)``. %(filter_dtype_rule)s

    Notes
    -----
    The components share their smoothing passes and their squares are summed as they
    are produced: 8 passes in 3-D, one temporary volume.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi, sep3d
    >>> ramp = np.add.outer(np.arange(16.0), 2 * np.arange(16.0))   # |grad| = sqrt(5)
    >>> bool(np.allclose(sep3d.gradient_magnitude(ramp, 1.0), ndi.gaussian_gradient_magnitude(ramp, 1.0)))
    True

    sqrt(5) = 2.23607 times the variance over sigma^2 of the sampled Gaussian truncated at
    4 sigma (0.99993), as scipy's taps give:

    >>> round(float(sep3d.gradient_magnitude(ramp, 1.0)[8, 8]), 4)
    2.2359
    """
    arr = _image(image, backend)
    plan = plan_gradient_magnitude(arr.ndim, sigma, spacing=spacing, axes=axes, mode=mode, cval=cval,
                                   truncate=truncate, radius=radius)
    return _run(plan, arr, backend, output)


@docfiller
def hessian(image, sigma, *, spacing=None, axes=None, mode="reflect", cval=0.0, truncate=4.0,
            radius=None, backend="auto", output=None):
    """All second Gaussian derivatives in one call.

    Parameters
    ----------
    %(image)s
    %(sigma)s
    %(spacing)s
    %(axes)s
    %(mode)s
    %(cval)s
    %(truncate)s
    %(radius)s
    %(backend)s
    output : ndarray, optional
        float32 or float64 array of shape ``(m,) + image.shape``.

    Returns
    -------
    ndarray
        Shape ``(m,) + image.shape`` with ``m = n (n + 1) / 2`` for ``n`` filtered axes:
        the upper triangle of the Hessian in the order of :func:`hessian_components`
        (3-D: zz, zy, zx, yy, yx, xx). %(filter_dtype_rule)s

    Examples
    --------
    >>> import numpy as np, scipy.ndimage as ndi, sep3d
    >>> sep3d.hessian(np.zeros((5, 6, 7)), 1.0).shape   # 3 axes: 3 * 4 / 2 = 6 components
    (6, 5, 6, 7)
    >>> vol = np.random.default_rng(0).random((5, 6, 7))
    >>> bool(np.allclose(sep3d.hessian(vol, 1.0)[1], ndi.gaussian_filter(vol, 1.0, order=(1, 1, 0))))  # zy
    True
    """
    arr = _image(image, backend)
    plan = plan_hessian(arr.ndim, sigma, spacing=spacing, axes=axes, mode=mode, cval=cval,
                        truncate=truncate, radius=radius)
    return _run(plan, arr, backend, output, stacked=True)


@docfiller
def difference_of_gaussians(image, low_sigma, high_sigma=None, *, spacing=None, axes=None,
                            mode="reflect", cval=0.0, truncate=4.0, method="fir", backend="auto", output=None):
    """Band-pass: the Gaussian at `low_sigma` minus the Gaussian at `high_sigma`.

    Parameters
    ----------
    %(image)s
    low_sigma, high_sigma : float or sequence of float
        Standard deviations (physical units with `spacing`); `high_sigma` defaults to
        ``1.6 * low_sigma`` and must not be smaller.
    %(spacing)s
    %(axes)s
    %(mode)s
    %(cval)s
    %(truncate)s
    %(method)s
    %(backend)s
    %(output)s

    Returns
    -------
    ndarray
        %(filter_dtype_rule)s

    Examples
    --------
    >>> import numpy as np, sep3d
    >>> # both Gaussians sum to one, so a constant is kept by each and their difference is 0
    >>> float(np.abs(sep3d.difference_of_gaussians(np.ones((6, 6)), 1.0)).max()) < 1e-6
    True
    """
    arr = _image(image, backend)
    plan = plan_difference_of_gaussians(arr.ndim, low_sigma, high_sigma, spacing=spacing, axes=axes,
                                        mode=mode, cval=cval, truncate=truncate, method=method,
                                        shape=arr.shape)
    return _run(plan, arr, backend, output)


@docfiller
def box(image, size, *, spacing=None, axes=None, mode="reflect", cval=0.0, origin=0, backend="auto",
        output=None):
    """Moving average (uniform filter) over a box.

    Parameters
    ----------
    %(image)s
    size : int or float, or a sequence
        Box width per filtered axis: voxels, or physical units when `spacing` is given
        (rounded to the nearest whole number of voxels, at least 1).
    %(spacing)s
    %(axes)s
    %(mode)s
    %(cval)s
    origin : int or sequence of int, optional
        Shift of the box, scipy.ndimage's meaning.
    %(backend)s
    %(output)s

    Returns
    -------
    ndarray
        %(filter_dtype_rule)s

    Examples
    --------
    >>> import numpy as np, sep3d
    >>> sep3d.box(np.arange(5.0), 3, mode="nearest").tolist()   # means of 3 over 0 0 1 2 3 4 4
    [0.3333333333333333, 1.0, 2.0, 3.0, 3.6666666666666665]
    """
    arr = _image(image, backend)
    plan = plan_box(arr.ndim, size, spacing=spacing, axes=axes, mode=mode, cval=cval, origin=origin)
    return _run(plan, arr, backend, output)


@docfiller
def separable(image, kernels, *, spacing=None, support=None, axes=None, mode="reflect", cval=0.0, origin=0,
              backend="auto", output=None):
    """Correlate with arbitrary 1-D kernels, one per axis: taps, or functions of physical offset.

    Parameters
    ----------
    %(image)s
    kernels : 1-D array_like or callable, or a sequence of them (or None)
        One kernel for every filtered axis, or one per axis in `axes` (None skips that
        axis). An array holds correlation taps in voxels (``scipy.ndimage.correlate1d``'s
        meaning). A callable ``f(x) -> weights`` is sampled at the physical offsets
        ``x = k * spacing`` for ``|x| <= support``, so one function gives the right taps
        on every axis whatever its voxel size.
    %(spacing)s
        Used to sample callable kernels; array taps are always in voxels.
    support : float or sequence of float, optional
        Half-width of callable kernels in physical units (one, or one per axis in
        `axes`); required when a kernel is callable.
    %(axes)s
    %(mode)s
    %(cval)s
    origin : int or sequence of int, optional
        Shift of each kernel, scipy.ndimage's meaning.
    %(backend)s
    %(output)s

    Returns
    -------
    ndarray
        %(filter_dtype_rule)s

    Raises
    ------
    ValueError
        Kernels that are empty, not 1-D or not finite; a callable without `support`,
        or one that does not return one weight per offset.

    Examples
    --------
    >>> import numpy as np, sep3d
    >>> # correlation: x[i - 1] - x[i + 1] over the nearest extension 0 0 1 2 3 3
    >>> sep3d.separable(np.arange(4.0), [1.0, 0.0, -1.0], mode="nearest").tolist()
    [-1.0, -2.0, -2.0, -1.0]
    >>> # a 2 mm support is 2 / spacing voxels each side: 1, 2, 4, so 3, 5 and 9 taps
    >>> tent = lambda x: np.maximum(0.0, 1.0 - np.abs(x) / 2.0)   # 2 mm half-width
    >>> sep3d.describe(sep3d.separable, (8, 8, 8), tent, spacing=(2.0, 1.0, 0.5), support=2.0,
    ...                file=False).taps_per_axis
    {0: [3], 1: [5], 2: [9]}
    """
    arr = _image(image, backend)
    plan = plan_separable(arr.ndim, kernels, spacing=spacing, support=support, axes=axes, mode=mode,
                          cval=cval, origin=origin)
    return _run(plan, arr, backend, output)


#: filter function -> its planner (same arguments, with ``ndim`` for the image).
PLANNERS = {
    gaussian: plan_gaussian,
    gaussian_derivative: plan_gaussian_derivative,
    laplacian_of_gaussian: plan_laplacian_of_gaussian,
    gradient_magnitude: plan_gradient_magnitude,
    hessian: plan_hessian,
    difference_of_gaussians: plan_difference_of_gaussians,
    box: plan_box,
    separable: plan_separable,
}


#: filters whose planner takes the array's shape (not only its rank): filter -> planner(shape, ...)
SHAPE_PLANNERS = {}
#: filters that are not one plan and describe themselves: filter -> describer(shape, ..., file=)
DESCRIBERS = {}


# ---------------------------------------------------------------------------------------
# describe


@dataclass(frozen=True)
class PlanDescription:
    """What :func:`describe` reports about a plan."""

    name: str
    n_passes: int
    n_temps: int
    halo: tuple
    taps_per_axis: dict
    macs_per_voxel: int
    direct_macs_per_voxel: int
    text: str

    def __str__(self):
        return self.text


def describe(plan_or_filter, *args, file=None, **kwargs):
    """Print how a filter runs: its passes, taps per axis, halo and arithmetic.

    Parameters
    ----------
    plan_or_filter : FilterPlan or a sep3d filter function
        A plan, or a filter of :mod:`sep3d` followed by the arguments of a call to it
        (the image, or only its shape as a tuple, then the filter's arguments).
    file : file-like, optional
        Where to print; default standard output. Pass ``False`` to print nothing.

    Returns
    -------
    PlanDescription
        The figures printed, with the text in ``.text``.

    Examples
    --------
    >>> import sep3d
    >>> d = sep3d.describe(sep3d.gaussian, (64, 64, 64), 2.0, file=False)
    >>> d.n_passes, d.macs_per_voxel, d.direct_macs_per_voxel   # radius 8: 17 taps, 3 x 17, 17^3
    (3, 51, 4913)
    """
    shape = None
    if isinstance(plan_or_filter, FilterPlan):
        plan = plan_or_filter
    elif plan_or_filter in PLANNERS or plan_or_filter in SHAPE_PLANNERS or plan_or_filter in DESCRIBERS:
        if not args:
            raise TypeError("describe(filter, image_or_shape, ...) needs the image or its shape")
        target, rest = args[0], args[1:]
        for key in ("backend", "output", "nodata", "bias"):
            kwargs.pop(key, None)
        shape = tuple(target) if isinstance(target, tuple) else np.shape(target)
        if plan_or_filter in DESCRIBERS:
            return DESCRIBERS[plan_or_filter](shape, *rest, file=file, **kwargs)
        if plan_or_filter in SHAPE_PLANNERS:
            plan = SHAPE_PLANNERS[plan_or_filter](shape, *rest, **kwargs)
        else:
            plan = PLANNERS[plan_or_filter](len(shape), *rest, **kwargs)
    else:
        raise TypeError(f"`plan_or_filter` must be a FilterPlan or a sep3d filter; got {plan_or_filter!r}")
    desc = _describe(plan, shape)
    if file is not False:
        print(desc.text, file=file)
    return desc


def _describe(plan, shape=None):
    """The report; with a shape, also how the CPU engine groups the passes."""
    sched = plan.schedule()
    fused, n_temps = set(), sched.n_temps
    if shape is not None:
        units = fusion.execution_units(sched.steps, shape, 4)
        fused = {id(step) for unit in units if len(unit) == 2 for step in unit}
        n_temps = len(fusion.allocated_temps(units))
    separable_macs, direct_macs = cost(plan)
    taps = {}
    for _, term in plan.terms():
        for ax, op in enumerate(term.ops):
            if op is not None:
                taps.setdefault(ax, set()).add(op.size)
    taps = {ax: sorted(v) for ax, v in sorted(taps.items())}
    buf = io.StringIO()
    n_terms = len(plan.terms())
    print(f"{plan.name}: {len(plan.outputs)} output(s), {n_terms} term(s), "
          f"combine={plan.combine or 'none'}", file=buf)
    print(f"  halo per axis (left, right): {list(plan.halo)}", file=buf)
    print(f"  taps per axis: {taps}", file=buf)
    where = f" for shape {tuple(shape)} on the CPU" if shape is not None else ""
    print(f"  passes: {len(sched.passes)}, temporary volumes{where}: {n_temps}", file=buf)
    for i, step in enumerate(sched.steps):
        if hasattr(step, "axis"):
            if hasattr(step.op, "reach"):
                what = f"{step.op.label} (reach {step.op.reach})"
            elif hasattr(step.op, "starts"):
                what = f"{step.op.label}: {step.op.size} taps per sample"
            else:
                what = f"{step.op.size:3d} taps (symmetry {step.op.symmetry:+d})"
            print(f"    {i + 1:2d}. axis {step.axis}: {what}  {_ref(step.src)} -> {_ref(step.dst)}"
                  f"{_store_text(step)}{'  [fused x-y]' if id(step) in fused else ''}", file=buf)
        else:
            print(f"    {i + 1:2d}. scale {_ref(step.src)} -> {_ref(step.dst)}{_store_text(step)}", file=buf)
    ratio = direct_macs / separable_macs if separable_macs else math.inf
    print(f"  multiply-adds per voxel: {separable_macs} separable vs {direct_macs} direct N-D "
          f"({ratio:.1f}x fewer)", file=buf)
    return PlanDescription(plan.name, len(sched.passes), n_temps, plan.halo, taps,
                           separable_macs, direct_macs, buf.getvalue().rstrip())


def _ref(ref):
    return ref[0] if len(ref) == 1 else f"{ref[0]}[{ref[1]}]"


def _store_text(step):
    kind = ("", " (add)", " (square)", " (add square)")[step.store]
    scale = "" if step.scale == 1.0 else f" x {step.scale:.6g}"
    return scale + kind
