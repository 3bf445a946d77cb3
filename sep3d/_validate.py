"""Argument validators: one per kind of argument, every message names the parameter.

Every public function of sep3d checks its arguments here, so a user mistake always
raises a ValueError or TypeError that says which argument was wrong, what was allowed
and what was received.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from enum import IntEnum

import numpy as np

try:
    from numpy.exceptions import AxisError
except ImportError:  # NumPy < 1.25
    from numpy import AxisError

__all__ = ["ArgumentValueError", "ArgumentTypeError", "AxisError", "Mode", "MODES"]


class ArgumentValueError(ValueError, RuntimeError):
    """A bad argument value that scipy.ndimage reports as a RuntimeError.

    A ValueError like every bad value in sep3d, and a RuntimeError too, so code written
    for scipy.ndimage (``except RuntimeError``, ``pytest.raises(RuntimeError, ...)``)
    catches it. The message names the argument and contains scipy's own phrase.
    """


class ArgumentTypeError(TypeError, RuntimeError):
    """A bad argument type or dtype that scipy.ndimage reports as a RuntimeError (see
    :class:`ArgumentValueError`)."""


#: scipy.ndimage's wording for each mistake, which sep3d's messages contain.
SCIPY_PHRASES = {
    "sequence": "sequence argument must have length equal to input rank",
    "mode": "boundary mode not supported",
    "axes_unique": "axes must be unique",
    "weights": "no filter weights given",
    "radius": "Radius must be a nonnegative integer.",
    "order": "order must be non-negative",
    "size": "incorrect filter size",
    "output_shape": "output shape not correct",
    "output_complex": "output must have complex dtype",
    "output_numeric": "output must have numeric dtype",
}


class Mode(IntEnum):
    """Boundary modes; the codes are shared by every backend (a CUDA header mirrors them)."""

    REFLECT = 0
    MIRROR = 1
    NEAREST = 2
    WRAP = 3
    CONSTANT = 4


#: scipy.ndimage names accepted for filters, with the mode each one means.
MODES = {
    "reflect": Mode.REFLECT,
    "grid-mirror": Mode.REFLECT,
    "mirror": Mode.MIRROR,
    "nearest": Mode.NEAREST,
    "wrap": Mode.WRAP,
    "grid-wrap": Mode.WRAP,
    "constant": Mode.CONSTANT,
    "grid-constant": Mode.CONSTANT,
}


def check_image(image, name="image", *, complex_ok=False, empty_ok=False, allow_0d=False):
    """Return `image` as a NumPy array of a numeric dtype (native byte order), see :func:`check_array_meta`."""
    if isinstance(image, np.ndarray):
        arr = image
    else:
        try:
            arr = np.asarray(image)
        except Exception as exc:  # an object NumPy cannot take at all
            raise TypeError(f"`{name}` must be an array; got {type(image).__name__}") from exc
    check_array_meta(arr, name, complex_ok=complex_ok, empty_ok=empty_ok, allow_0d=allow_0d)
    if not arr.dtype.isnative:  # big-endian data (FITS, some NRRD/raw files): one conversion
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def check_array_meta(arr, name="image", *, complex_ok=False, empty_ok=False, allow_0d=False):
    """Check dtype, rank and size of any array-like with NumPy attributes (CuPy and dask included).

    A real numeric dtype (complex too with `complex_ok`), at least one dimension (unless
    `allow_0d`), and at least one element unless `empty_ok` (the filters return an empty
    result for an empty input, as scipy.ndimage does).
    """
    kind = np.dtype(arr.dtype).kind
    if kind == "c" and not complex_ok:
        raise TypeError(
            f"`{name}` must be real (bool, integer or float); got complex dtype {arr.dtype}; "
            "filter the real and imaginary parts separately"
        )
    if kind not in "biufc":
        allowed = "bool, integer, float or complex" if complex_ok else "bool, integer or float"
        raise ArgumentTypeError(f"`{name}` must have a {allowed} dtype; got {arr.dtype} "
                                f"(array type {np.dtype(arr.dtype)!r} not supported)")
    if arr.ndim == 0 and not allow_0d:
        raise ValueError(f"`{name}` must have at least one dimension; got a 0-d array")
    if arr.size == 0 and not empty_ok:
        raise ValueError(f"`{name}` must not be empty; got shape {arr.shape}")


def check_axes(axes, ndim, name="axes"):
    """Normalise `axes` (None, an int or a sequence of ints) to a tuple of distinct axes."""
    if axes is None:
        return tuple(range(ndim))
    axes = _item(axes)
    if isinstance(axes, numbers.Integral):
        axes = (axes,)
    try:
        axes = tuple(axes)
    except TypeError:
        raise TypeError(f"`{name}` must be None, an int or a sequence of ints; got {axes!r} "
                        "(axes must be an integer, iterable of integers, or None)") from None
    out = []
    for ax in map(_item, axes):
        if not _is_int(ax):
            raise TypeError(f"`{name}` must hold ints; got {ax!r} "
                            f"('{type(ax).__name__}' object cannot be interpreted as an integer)")
        if not -ndim <= ax < ndim:
            raise ValueError(f"`{name}` entries must be in [-{ndim}, {ndim - 1}] for a {ndim}-d input; got {ax} "
                             f"(specified axis: {ax} is out of range)")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"`{name}` must not repeat an axis ({SCIPY_PHRASES['axes_unique']}); got {axes!r}")
    return tuple(out)


def check_axis(axis, ndim, name="axis"):
    """Normalise one axis index; out of range is numpy's AxisError (a ValueError and IndexError)."""
    axis = _item(axis)
    if not _is_int(axis):
        raise TypeError(f"`{name}` must be an int; got {axis!r} "
                        f"('{type(axis).__name__}' object cannot be interpreted as an integer)")
    if not -ndim <= axis < ndim:
        allowed = f"be in [-{ndim}, {ndim - 1}] for a {ndim}-d input" if ndim else "index an axis (a 0-d input has none)"
        raise AxisError(f"`{name}` must {allowed}; got {axis} "
                        f"(axis {axis} is out of bounds for array of dimension {ndim})")
    return int(axis) % ndim


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _item(value):
    """A 0-d array's value (scipy takes ``np.array(2)`` wherever it takes 2); anything else as is."""
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def per_axis(value, n, name):
    """Broadcast a scalar (a 0-d array too) to `n` values, or check a sequence has exactly `n`."""
    value = _item(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        return (value,) * n
    values = tuple(np.asarray(value).tolist()) if isinstance(value, np.ndarray) else tuple(value)
    if len(values) != n:
        raise ArgumentValueError(f"`{name}` must be a scalar or have one value per axis ({n}); got "
                                 f"{len(values)} values ({SCIPY_PHRASES['sequence']})")
    return values


def _real(value, name):
    value = _item(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number; got {value!r}")
    return float(value)


def check_sigma(sigma, n, name="sigma"):
    """Per-axis sigmas: finite and >= 0."""
    out = []
    for s in per_axis(sigma, n, name):
        s = _real(s, name)
        if not math.isfinite(s) or s < 0:
            raise ValueError(f"`{name}` must be finite and >= 0; got {s!r}")
        out.append(s)
    return tuple(out)


def check_positive(value, n, name):
    """Per-axis values that must be finite and > 0 (spacing, physical sizes)."""
    out = []
    for v in per_axis(value, n, name):
        v = _real(v, name)
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"`{name}` must be finite and > 0; got {v!r}")
        out.append(v)
    return tuple(out)


def check_spacing(spacing, ndim, name="spacing"):
    """Voxel spacing in array-axis order: None (all ones), a scalar or one value per axis."""
    if spacing is None:
        return (1.0,) * ndim
    return check_positive(spacing, ndim, name)


def check_truncate(truncate, name="truncate"):
    """Gaussian truncation in sigmas: finite and >= 0 (0 keeps the centre tap only)."""
    t = _real(truncate, name)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"`{name}` must be finite and >= 0; got {truncate!r}")
    return t


def check_nonneg_int(value, n, name, phrase=None):
    """Per-axis non-negative ints (derivative order); `phrase`: scipy's words for a negative one."""
    return check_ints(value, n, name, 0, "a non-negative int", phrase)


def check_ints(value, n, name, minimum, what, phrase=None, error=ValueError):
    out = []
    note = f" ({phrase})" if phrase else ""
    for v in per_axis(value, n, name):
        if not _is_int(v):
            raise TypeError(f"`{name}` must be {what}; got {v!r}")
        if v < minimum:
            raise error(f"`{name}` must be {what}; got {v!r}{note}")
        out.append(int(v))
    return tuple(out)


def check_radius(radius, n, name="radius"):
    """Per-axis Gaussian radii: None (from `truncate`) or non-negative ints (a ValueError otherwise, as scipy)."""
    if radius is None:
        return (None,) * n
    out = []
    for r in map(_item, per_axis(radius, n, name)):
        if r is None:
            out.append(None)
            continue
        if not _is_int(r) or r < 0:
            raise ValueError(f"`{name}` must be a non-negative int or None; got {r!r} ({SCIPY_PHRASES['radius']})")
        out.append(int(r))
    return tuple(out)


def check_mode(mode, n, name="mode"):
    """Per-axis boundary modes as Mode codes."""
    out = []
    for m in per_axis(mode, n, name):
        if not isinstance(m, str) or m not in MODES:
            raise ArgumentValueError(f"`{name}` must be one of {sorted(MODES)}; got {m!r} ({SCIPY_PHRASES['mode']})")
        out.append(MODES[m])
    return tuple(out)


def check_modes_on_axes(mode, axes, ndim, name="mode"):
    """Modes given per entry of `axes`, spread over all `ndim` array axes (reflect elsewhere)."""
    full = [Mode.REFLECT] * ndim
    for ax, m in zip(axes, check_mode(mode, len(axes), name)):
        full[ax] = m
    return tuple(full)


def check_cval(cval, name="cval", *, complex_ok=False):
    """The constant outside the array: a real number (complex with `complex_ok`); NaN is allowed."""
    cval = _item(cval)
    if complex_ok:
        if isinstance(cval, numbers.Complex) and not isinstance(cval, (bool, numbers.Real)):
            return complex(cval)
    return _real(cval, name)


def check_size(size, n, name="size", minimum=1):
    """Per-axis filter sizes: ints >= `minimum` (scipy's ``incorrect filter size`` below it)."""
    return check_ints(size, n, name, minimum, "a positive int" if minimum == 1 else f"an int >= {minimum}",
                       SCIPY_PHRASES["size"], ArgumentValueError)


def check_origin(origin, sizes, name="origin", phrase=None):
    """Per-axis origins, each within the filter: -(size // 2) <= origin <= (size - 1) // 2.

    `phrase` is scipy's wording for the caller's function, added to the message.
    """
    out = []
    note = f" ({phrase})" if phrase else ""
    for o, size in zip(map(_item, per_axis(origin, len(sizes), name)), sizes):
        if not _is_int(o):
            raise TypeError(f"`{name}` must be an int; got {o!r}")
        if not -(size // 2) <= o <= (size - 1) // 2:
            raise ValueError(
                f"`{name}` must lie in [{-(size // 2)}, {(size - 1) // 2}] for a filter of size {size}; got {o}{note}"
            )
        out.append(int(o))
    return tuple(out)


def check_weights(weights, name="weights", *, complex_ok=False):
    """A 1-D, non-empty, finite array of filter taps: float64, or complex128 with `complex_ok`."""
    w = np.asarray(weights)
    if np.iscomplexobj(w) and not complex_ok:
        raise TypeError(f"`{name}` must be real; got complex dtype {w.dtype}")
    if w.dtype.kind not in "biufc":
        raise TypeError(f"`{name}` must be numeric; got dtype {w.dtype}")
    if w.ndim != 1:
        raise ArgumentValueError(f"`{name}` must be one-dimensional; got shape {w.shape} ({SCIPY_PHRASES['weights']})")
    if w.size == 0:
        raise ArgumentValueError(f"`{name}` must hold at least one tap; got an empty array "
                                 f"({SCIPY_PHRASES['weights']})")
    w = w.astype(np.complex128 if w.dtype.kind == "c" else np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"`{name}` must be finite; got {w!r}")
    return w


#: Engines a ``backend=`` argument names: "auto" (by array type), the Numba CPU engine, the
#: NumPy/SciPy engine, the CUDA engine.
BACKENDS = ("auto", "cpu", "numpy", "cuda")


def check_backend(backend, name="backend"):
    allowed = BACKENDS
    if backend not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}; got {backend!r}")
    return backend


#: Ways to apply a Gaussian (and its derivatives): sampled taps, or ITK's recursive filter.
GAUSSIAN_METHODS = ("fir", "recursive", "auto")


def check_method(method, name="method"):
    if method not in GAUSSIAN_METHODS:
        raise ValueError(f"`{name}` must be one of {list(GAUSSIAN_METHODS)}; got {method!r}")
    return method
