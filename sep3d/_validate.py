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


def check_image(image, name="image"):
    """Return `image` as a NumPy array of a real numeric dtype with at least one element."""
    if isinstance(image, np.ndarray):
        arr = image
    else:
        try:
            arr = np.asarray(image)
        except Exception as exc:  # an object NumPy cannot take at all
            raise TypeError(f"`{name}` must be an array; got {type(image).__name__}") from exc
    check_array_meta(arr, name)
    if not arr.dtype.isnative:  # big-endian data (FITS, some NRRD/raw files): one conversion
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def check_array_meta(arr, name="image"):
    """Check dtype, rank and size of any array-like with NumPy attributes (CuPy included)."""
    if np.dtype(arr.dtype).kind == "c":
        raise TypeError(
            f"`{name}` must be real (bool, integer or float); got complex dtype {arr.dtype}; "
            "filter the real and imaginary parts separately"
        )
    if np.dtype(arr.dtype).kind not in "biuf":
        raise TypeError(f"`{name}` must have a bool, integer or float dtype; got {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"`{name}` must have at least one dimension; got a 0-d array")
    if arr.size == 0:
        raise ValueError(f"`{name}` must not be empty; got shape {arr.shape}")


def check_axes(axes, ndim, name="axes"):
    """Normalise `axes` (None, an int or a sequence of ints) to a tuple of distinct axes."""
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, numbers.Integral):
        axes = (axes,)
    try:
        axes = tuple(axes)
    except TypeError:
        raise TypeError(f"`{name}` must be None, an int or a sequence of ints; got {axes!r}") from None
    out = []
    for ax in axes:
        if isinstance(ax, bool) or not isinstance(ax, numbers.Integral):
            raise TypeError(f"`{name}` must hold ints; got {ax!r}")
        if not -ndim <= ax < ndim:
            raise ValueError(f"`{name}` entries must be in [-{ndim}, {ndim - 1}] for a {ndim}-d input; got {ax}")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"`{name}` must not repeat an axis; got {axes!r}")
    return tuple(out)


def check_axis(axis, ndim, name="axis"):
    """Normalise one axis index."""
    if not _is_int(axis):
        raise TypeError(f"`{name}` must be an int; got {axis!r}")
    return check_axes((axis,), ndim, name)[0]


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def per_axis(value, n, name):
    """Broadcast a scalar to `n` values, or check a sequence has exactly `n`."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        return (value,) * n
    values = tuple(np.asarray(value).tolist()) if isinstance(value, np.ndarray) else tuple(value)
    if len(values) != n:
        raise ValueError(f"`{name}` must be a scalar or have one value per axis ({n}); got {len(values)} values")
    return values


def _real(value, name):
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
    t = _real(truncate, name)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"`{name}` must be finite and > 0; got {truncate!r}")
    return t


def check_nonneg_int(value, n, name):
    """Per-axis non-negative ints (radius, derivative order)."""
    return _check_ints(value, n, name, 0, "a non-negative int")


def _check_ints(value, n, name, minimum, what):
    out = []
    for v in per_axis(value, n, name):
        if not _is_int(v):
            raise TypeError(f"`{name}` must be {what}; got {v!r}")
        if v < minimum:
            raise ValueError(f"`{name}` must be {what}; got {v!r}")
        out.append(int(v))
    return tuple(out)


def check_radius(radius, n, name="radius"):
    if radius is None:
        return (None,) * n
    return check_nonneg_int(radius, n, name)


def check_mode(mode, n, name="mode"):
    """Per-axis boundary modes as Mode codes."""
    out = []
    for m in per_axis(mode, n, name):
        if not isinstance(m, str) or m not in MODES:
            raise ValueError(f"`{name}` must be one of {sorted(MODES)}; got {m!r}")
        out.append(MODES[m])
    return tuple(out)


def check_modes_on_axes(mode, axes, ndim, name="mode"):
    """Modes given per entry of `axes`, spread over all `ndim` array axes (reflect elsewhere)."""
    full = [Mode.REFLECT] * ndim
    for ax, m in zip(axes, check_mode(mode, len(axes), name)):
        full[ax] = m
    return tuple(full)


def check_cval(cval, name="cval"):
    return _real(cval, name)


def check_size(size, n, name="size"):
    """Per-axis filter sizes: ints >= 1."""
    return _check_ints(size, n, name, 1, "a positive int")


def check_origin(origin, sizes, name="origin"):
    """Per-axis origins, each within the filter: -(size // 2) <= origin <= (size - 1) // 2."""
    out = []
    for o, size in zip(per_axis(origin, len(sizes), name), sizes):
        if not _is_int(o):
            raise TypeError(f"`{name}` must be an int; got {o!r}")
        if not -(size // 2) <= o <= (size - 1) // 2:
            raise ValueError(
                f"`{name}` must lie in [{-(size // 2)}, {(size - 1) // 2}] for a filter of size {size}; got {o}"
            )
        out.append(int(o))
    return tuple(out)


def check_weights(weights, name="weights"):
    """A 1-D, non-empty, finite, real array of filter taps (float64)."""
    w = np.asarray(weights)
    if np.iscomplexobj(w):
        raise TypeError(f"`{name}` must be real; got complex dtype {w.dtype}")
    if w.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must be numeric; got dtype {w.dtype}")
    if w.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional; got shape {w.shape}")
    if w.size == 0:
        raise ValueError(f"`{name}` must hold at least one tap; got an empty array")
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"`{name}` must be finite; got {w!r}")
    return w


def check_backend(backend, name="backend"):
    allowed = ("auto", "cpu", "cuda")
    if backend not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}; got {backend!r}")
    return backend


#: Ways to apply a Gaussian (and its derivatives): sampled taps, or ITK's recursive filter.
GAUSSIAN_METHODS = ("fir", "recursive", "auto")


def check_method(method, name="method"):
    if method not in GAUSSIAN_METHODS:
        raise ValueError(f"`{name}` must be one of {list(GAUSSIAN_METHODS)}; got {method!r}")
    return method
