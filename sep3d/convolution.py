"""N-D convolution with an arbitrary dense kernel: direct, separable (low-rank) or FFT.

:func:`convolve` has exactly ``scipy.ndimage.convolve``'s meaning (the kernel is
flipped, the centre is ``shape // 2`` and `origin` is mirrored as scipy does, also for
even sizes) and picks one of three algorithms:

``'direct'``
    the dense correlation with the flipped kernel (``scipy.ndimage.correlate``,
    ``cupyx.scipy.ndimage.correlate``, or per dask block on an explicitly extended array);
``'separable'``
    :func:`sep3d.decompose.decompose` of the flipped kernel, run as ``rank`` products of
    1-D passes by sep3d's engines (exact to the decomposition's `tol`);
``'fft'``
    the image extended by the kernel's reach with the boundary mode, multiplied with the
    kernel in the Fourier domain (``scipy.fft`` / ``cupy.fft``), cropped;
``'auto'``
    :func:`sep3d.planner.choose_method` picks one (see :func:`convolve`'s Notes).
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

from . import backends
from ._docs import docfiller
from ._validate import Mode, check_cval, check_mode, check_origin, per_axis
from .decompose import SeparableKernel, decompose
from .filters import check_output, result_dtype, run_plan

__all__ = ["convolve", "separable_correlate", "METHODS"]

#: Algorithms :func:`convolve` accepts.
METHODS = ("auto", "direct", "separable", "fft")

#: numpy.pad's name for each scipy.ndimage boundary mode (same extension, any pad width).
_NUMPY_PAD = {
    Mode.REFLECT: "symmetric",  # d c b a | a b c d | d c b a
    Mode.MIRROR: "reflect",  # d c b | a b c d | c b a
    Mode.NEAREST: "edge",
    Mode.WRAP: "wrap",
    Mode.CONSTANT: "constant",
}
#: scipy.ndimage's canonical filter-mode name for each mode code.
_SCIPY_NAME = {Mode.REFLECT: "reflect", Mode.MIRROR: "mirror", Mode.NEAREST: "nearest",
               Mode.WRAP: "wrap", Mode.CONSTANT: "constant"}


# ---------------------------------------------------------------------------------------
# validation and geometry


def _check_conv_kernel(kernel, ndim):
    k = np.asarray(kernel)
    if np.iscomplexobj(k):
        raise TypeError(f"`kernel` must be real; got complex dtype {k.dtype}")
    if k.dtype.kind not in "biuf":
        raise TypeError(f"`kernel` must be numeric; got dtype {k.dtype}")
    if k.ndim != ndim:
        raise ValueError(f"`kernel` must have as many dimensions as `image` ({ndim}); "
                         f"got {k.ndim}-D with shape {k.shape}")
    if k.size == 0:
        raise ValueError(f"`kernel` must not be empty; got shape {k.shape}")
    k = k.astype(np.float64)
    if not np.all(np.isfinite(k)):
        raise ValueError("`kernel` must be finite; got NaN or infinite values")
    return k


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {list(METHODS)}; got {method!r}")
    return method


def _check_tol(tol):
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating, np.integer)):
        raise TypeError(f"`tol` must be a real number; got {tol!r}")
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"`tol` must be a finite number > 0; got {tol!r}")
    return float(tol)


def _correlation_origins(origins, shape):
    """scipy.ndimage.convolve's rule: the flipped kernel's origin is ``-origin``, one less
    for an even size."""
    return tuple(-o - (1 if s % 2 == 0 else 0) for o, s in zip(origins, shape))


def _reach(corr_origins, shape):
    """(before, after) samples of the extension each axis needs: the correlation centre
    ``c = s // 2 + origin`` and ``s - 1 - c``."""
    out = []
    for o, s in zip(corr_origins, shape):
        c = s // 2 + o
        out.append((c, s - 1 - c))
    return tuple(out)


def extend_boundary(arr, reach, modes, cval):
    """`arr` extended by `reach` per axis with scipy.ndimage's boundary `modes`.

    numpy.pad's modes repeat the extension periodically for pads longer than the axis,
    as scipy.ndimage does. dask's pad does not, so dask arrays gather the extension by
    index (``take`` with numpy.pad of the index range) instead.
    """
    kind = backends.array_kind(arr)
    if kind == "dask":
        import dask.array as da

        for ax, ((before, after), mode) in enumerate(zip(reach, modes)):
            if before == after == 0:
                continue
            if mode == Mode.CONSTANT:
                pad = [(0, 0)] * arr.ndim
                pad[ax] = (before, after)
                arr = da.pad(arr, pad, mode="constant", constant_values=cval)
            else:
                idx = np.pad(np.arange(arr.shape[ax]), (before, after), mode=_NUMPY_PAD[mode])
                arr = da.take(arr, idx, axis=ax)
        return arr
    if kind == "numpy":
        return _extend_numpy(arr, reach, modes, cval)
    xp = backends.array_module(arr)
    for ax, ((before, after), mode) in enumerate(zip(reach, modes)):
        if before == after == 0:
            continue
        pad = [(0, 0)] * arr.ndim
        pad[ax] = (before, after)
        if mode == Mode.CONSTANT:
            arr = xp.pad(arr, pad, mode="constant", constant_values=cval)
        else:
            arr = xp.pad(arr, pad, mode=_NUMPY_PAD[mode])
    return arr


def _extend_numpy(arr, reach, modes, cval):
    """:func:`extend_boundary` for NumPy in one allocation: the array is copied once into the
    middle, then each axis's two slabs are filled from what is already there (numpy.pad
    copies the whole array once per padded axis)."""
    ext = np.empty(tuple(n + b + a for n, (b, a) in zip(arr.shape, reach)), arr.dtype)
    ext[tuple(slice(b, b + n) for n, (b, _) in zip(arr.shape, reach))] = arr
    for ax, ((before, after), mode, n) in enumerate(zip(reach, modes, arr.shape)):
        if before == after == 0:
            continue
        # axes before `ax` are extended already: their whole length; later axes: the middle
        region = [slice(None)] * ax + [slice(None)] + [slice(b, b + m) for m, (b, _) in
                                                        zip(arr.shape[ax + 1:], reach[ax + 1:])]
        for part in (slice(0, before), slice(before + n, before + n + after)):
            target = region.copy()
            target[ax] = part
            if mode == Mode.CONSTANT:
                ext[tuple(target)] = cval
            else:
                idx = np.pad(np.arange(n), (before, after), mode=_NUMPY_PAD[mode])[part] + before
                source = region.copy()
                source[ax] = idx
                ext[tuple(target)] = ext[tuple(source)]
    return ext


def _crop(arr, reach, shape):
    return arr[tuple(slice(b, b + n) for (b, _), n in zip(reach, shape))]


# ---------------------------------------------------------------------------------------
# the three algorithms; each returns a new array of dtype `dtype` and `arr`'s type


def _correlate_fn(arr):
    if backends.array_kind(arr) == "cupy":
        from cupyx.scipy.ndimage import correlate
    else:
        from scipy.ndimage import correlate
    return correlate


#: dtypes sep3d's own dense correlation computes in (others go to scipy.ndimage.correlate).
_DENSE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _dense_numpy(arr, weights, reach, modes, cval):
    """The valid correlation of `arr` extended by `reach` (sep3d's threaded CPU kernel)."""
    backends.require_numba()
    from .backends.cpu import run_dense_correlation

    ext = np.ascontiguousarray(extend_boundary(arr, reach, modes, cval))
    out = np.empty(arr.shape, arr.dtype)
    run_dense_correlation(ext, np.ascontiguousarray(weights), out)
    return out


def _valid_by_chunks(arr, valid, reach, modes, cval, dtype):
    """A dask array's result through ``valid(block)``, the valid correlation of one block.

    The array is extended by `reach` with the modes first, then each chunk gets the reach
    of its neighbours as overlap: the valid part of the overlapped chunk is what
    map_overlap keeps (the rest of the block is zeros, trimmed away).
    """
    depth = {ax: r for ax, r in enumerate(reach)}
    ext = extend_boundary(arr.astype(dtype), reach, modes, cval)

    def block(x):
        xp = backends.array_module(x)
        out = xp.zeros(x.shape, dtype)
        inner = tuple(slice(b, n - a) for (b, a), n in zip(reach, x.shape))
        if all(s.stop > s.start for s in inner):
            out[inner] = valid(x)
        return out

    out = ext.map_overlap(block, depth=depth, boundary="none", trim=True, dtype=dtype,
                          meta=ext._meta.astype(dtype))
    return _crop(out, reach, arr.shape)


def _dense_valid(x, flipped, dtype, engine):
    """The valid correlation of one NumPy or CuPy block with the (flipped) kernel."""
    if backends.array_kind(x) == "numpy" and dtype in _DENSE_DTYPES and engine == "cpu":
        backends.require_numba()
        from .backends.cpu import run_dense_correlation

        out = np.empty(tuple(n - k + 1 for n, k in zip(x.shape, flipped.shape)), dtype)
        run_dense_correlation(np.ascontiguousarray(x, dtype=dtype), flipped.astype(dtype), out)
        return out
    xp = backends.array_module(x)
    corr = _correlate_fn(x)(x.astype(dtype, copy=False), xp.asarray(flipped), output=dtype, mode="constant")
    origin = tuple(k // 2 for k in flipped.shape)  # scipy centres the kernel at k // 2
    return corr[tuple(slice(c, n - (k - 1 - c)) for c, n, k in zip(origin, x.shape, flipped.shape))]


def _direct(arr, flipped, corr_origins, modes, mode_names, cval, dtype, engine):
    """The dense correlation: sep3d's threaded kernel on the CPU engine, else scipy's or cupyx's."""
    kind = backends.array_kind(arr)
    reach = _reach(corr_origins, flipped.shape)
    if kind == "dask":
        return _valid_by_chunks(arr, lambda x: _dense_valid(x, flipped, dtype, engine), reach, modes, cval, dtype)
    if kind == "numpy" and dtype in _DENSE_DTYPES and engine == "cpu":
        return _dense_numpy(arr.astype(dtype, copy=False), flipped.astype(dtype), reach, modes, cval)
    xp = backends.array_module(arr)
    weights = xp.asarray(flipped)
    correlate = _correlate_fn(arr)
    if len(set(modes)) == 1:  # scipy takes one mode: use it directly (its own name)
        return correlate(arr.astype(dtype, copy=False), weights, output=dtype, mode=_SCIPY_NAME[modes[0]],
                         cval=cval, origin=corr_origins)
    ext = extend_boundary(arr.astype(dtype, copy=False), reach, modes, cval)
    out = correlate(ext, weights, output=dtype, mode="constant", cval=0.0, origin=corr_origins)
    return _crop(out, reach, arr.shape)


#: Decompositions computed by method='separable', by kernel and tol (a few, most recent kept).
_DECOMPOSED = {}


def _decomposed(kernel, tol):
    """``decompose(kernel, tol=tol)``, computed once per kernel (CP-ALS costs more than a small filter)."""
    key = (kernel.shape, kernel.dtype.str, hashlib.sha1(np.ascontiguousarray(kernel).tobytes()).hexdigest(), tol)
    if key not in _DECOMPOSED:
        if len(_DECOMPOSED) >= 16:
            _DECOMPOSED.pop(next(iter(_DECOMPOSED)))
        _DECOMPOSED[key] = decompose(kernel, tol=tol)
    return _DECOMPOSED[key]


def _separable(arr, flipped, corr_origins, mode_names, modes, cval, tol, backend, output, dtype):
    given = output
    squeeze = flipped.ndim == 1  # decompose takes 2-D/3-D kernels: add an axis of size 1
    if squeeze:
        flipped = flipped[None]
        arr = arr[None]
        corr_origins = (0,) + corr_origins
        mode_names = ("reflect",) + mode_names
        modes = (Mode.REFLECT,) + modes
        if output is not None:
            output = output[None]
    if flipped.ndim not in (2, 3):
        raise NotImplementedError(
            f"method='separable' supports 1-D, 2-D and 3-D kernels; got {flipped.ndim}-D; "
            "use method='direct' or 'fft'")
    result = _run_decomposed(_decomposed(flipped, tol), arr, mode_names, modes, cval, corr_origins, backend,
                             output, dtype)
    if given is not None:
        return given  # the caller's array itself, not the view of it a 1-D kernel ran in
    return result[0] if squeeze else result


def _fft_valid(x, kernel, dtype, workers=-1):
    """The valid convolution of one block with `kernel` through real FFTs of fast lengths.

    ``x.shape - kernel.shape + 1`` outputs: output i of the linear convolution sits at
    ``i + s - 1``. `workers` is scipy.fft's thread count (1 inside dask tasks).
    """
    import scipy.fft

    sizes = tuple(scipy.fft.next_fast_len(n, real=True) for n in x.shape)
    axes = tuple(range(x.ndim))
    crop = tuple(slice(s - 1, n) for s, n in zip(kernel.shape, x.shape))
    if backends.array_kind(x) == "cupy":
        import cupy

        k = cupy.asarray(kernel.astype(dtype))
        spec = cupy.fft.rfftn(x.astype(dtype, copy=False), s=sizes, axes=axes) * cupy.fft.rfftn(k, s=sizes, axes=axes)
        full = cupy.fft.irfftn(spec, s=sizes, axes=axes)
    else:
        k = kernel.astype(dtype)
        spec = scipy.fft.rfftn(x.astype(dtype, copy=False), s=sizes, axes=axes, workers=workers)
        spec *= scipy.fft.rfftn(k, s=sizes, axes=axes, workers=workers)
        full = scipy.fft.irfftn(spec, s=sizes, axes=axes, workers=workers)
    return full[crop].astype(dtype, copy=False)


def _fft(arr, kernel, corr_origins, modes, cval, dtype):
    reach = _reach(corr_origins, kernel.shape)
    if backends.array_kind(arr) == "dask":  # one transform per overlapped chunk, one thread each
        return _valid_by_chunks(arr, lambda x: _fft_valid(x, kernel, dtype, workers=1), reach, modes, cval, dtype)
    return _fft_valid(extend_boundary(arr.astype(dtype, copy=False), reach, modes, cval), kernel, dtype)


def _auto(kernel, arr, dtype, tol, backend):
    """The planner's choice; a dask array is costed by its largest chunk with its overlap
    (every method then runs once per chunk)."""
    shape = arr.shape
    if backends.array_kind(arr) == "dask":
        shape = tuple(max(c) + k - 1 for c, k in zip(arr.chunks, kernel.shape))
    try:
        from .planner import BACKENDS, choose_method
    except ImportError:  # the rule of thumb the planner refines
        return _fallback_method(kernel, shape, tol)
    engine = backends.engine_name(backend, arr)
    if engine not in BACKENDS:  # no cost model for this engine (CUDA): the rule of thumb
        return _fallback_method(kernel, shape, tol)
    return choose_method(kernel, shape, dtype, engine)


def _fallback_method(kernel, shape, tol):
    """'separable' when ``rank * sum(kernel.shape) < prod(kernel.shape)``, else 'fft'."""
    if kernel.ndim in (2, 3) and np.any(kernel):
        rank = decompose(kernel, tol=tol).rank
        if rank * sum(kernel.shape) < math.prod(kernel.shape):
            return "separable"
    return "fft"


# ---------------------------------------------------------------------------------------
# the public function


@docfiller
def convolve(image, kernel, *, method="auto", mode="reflect", cval=0.0, origin=0, tol=1e-6,
             backend="auto", output=None):
    """N-D convolution with a dense kernel, ``scipy.ndimage.convolve``'s meaning.

    Parameters
    ----------
    image : array_like
        Input array (NumPy, CuPy or dask), any real dtype, as many dimensions as `kernel`.
    kernel : array_like
        Real, finite, non-empty convolution kernel; the centre is ``shape // 2`` (shifted
        by `origin`), as in ``scipy.ndimage.convolve``.
    method : {'auto', 'direct', 'separable', 'fft'}, optional
        Algorithm; see Notes. Default 'auto'.
    %(mode)s
    %(cval)s
    origin : int or sequence of int, optional
        Shift of the kernel, scipy.ndimage.convolve's meaning, per axis
        ``-(size // 2) <= origin <= (size - 1) // 2``. Default 0.
    tol : float, optional
        Relative Frobenius error allowed in the decomposition of ``method='separable'``
        (also used by the 'auto' fallback). Default 1e-6.
    %(backend)s
    %(output)s

    Returns
    -------
    ndarray
        ``scipy.ndimage.convolve(image, kernel, mode=mode, cval=cval, origin=origin)``,
        of the input's array type (dask: lazy). %(dtype_rule)s

    Raises
    ------
    ValueError
        `kernel` of another rank than `image`, empty or non-finite; an unknown `method`
        or `mode`; an `origin` outside the kernel; `tol` <= 0; an `output` of another shape.
    TypeError
        A complex or non-numeric `kernel` or `image`; an `output` of another array type
        or dtype; an `output` with a dask input.
    NotImplementedError
        ``method='separable'`` with a kernel of more than 3 dimensions.

    See Also
    --------
    separable_correlate : correlation through the low-rank decomposition.
    scipy.ndimage.convolve : the reference.

    Notes
    -----
    Convolution is correlation with the flipped kernel; as in scipy the origin becomes
    ``-origin``, minus one for an even size. Boundary: every mode is the dense filter's
    extension, for every method, also for kernels longer than the axis (the extension
    repeats periodically, as scipy's).

    Cost per voxel and accuracy, for a kernel of shape ``k``:

    - 'direct': ``prod(k)`` multiply-adds (zero taps skipped), accumulated in the
      result's dtype. NumPy (float32/float64 results): sep3d's threaded kernel over a
      copy of the image extended by the mode, four taps per sweep of each output row;
      CuPy: ``cupyx.scipy.ndimage.correlate``; dask: the array is extended by the
      kernel's reach (every mode), then each chunk with its overlap is correlated by the
      same kernels (``map_overlap``).
    - 'separable': ``R * sum(k)`` multiply-adds for a decomposition of rank ``R``
      (:func:`~sep3d.decompose.decompose` of the flipped kernel at `tol`); exact only to
      `tol`: the result differs from the dense one by at most
      ``relative_error * ||kernel||_F * ||patch||_2``. NumPy, CuPy and dask through
      sep3d's engines; 1-D, 2-D and 3-D kernels.
    - 'fft': ``O(log n)`` per voxel of the extended array (``shape + k - 1``, rounded
      up to a fast FFT length); rounding about 1e-6 of ``max|result|`` in float32 and
      1e-14 in float64 (float32 input is transformed in single precision). NumPy
      (``scipy.fft``, all cores) and CuPy (``cupy.fft``); dask: one transform per
      chunk with its overlap (the kernel's reach), one thread per task.
    - 'auto': ``sep3d.planner.choose_method(kernel, shape, dtype, engine)``, ``shape``
      the image's (dask: its largest chunk with the overlap, since every method then
      runs per chunk); for an engine without a cost model (CUDA) or without that
      module: 'separable' when ``R * sum(k) < prod(k)`` (``R`` the rank at `tol`, 2-D/3-D
      kernels), else 'fft'.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    >>> convolve(x, np.array([1.0, 2.0, 3.0]), method="direct").tolist()
    [0.0, 1.0, 2.0, 3.0, 0.0, 0.0]
    >>> k = np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0])
    >>> img = np.arange(16.0).reshape(4, 4)
    >>> a = convolve(img, k, method="fft", mode="nearest")
    >>> b = convolve(img, k, method="separable", mode="nearest")
    >>> bool(np.allclose(a, b)), a[1].round(10).tolist()
    (True, [4.0, 8.0, 8.0, 4.0])
    """
    method = _check_method(method)
    arr = backends.as_input(image, backend)
    k = _check_conv_kernel(kernel, arr.ndim)
    modes = check_mode(mode, k.ndim)
    mode_names = tuple(per_axis(mode, k.ndim, "mode"))
    cval = check_cval(cval)
    origins = check_origin(origin, k.shape)
    tol = _check_tol(tol)
    dtype = result_dtype(arr, output)
    kind = backends.array_kind(arr)
    if output is not None:
        if kind == "dask":
            raise TypeError("`output` must be None for a dask array (the result is a new lazy array); "
                            f"got {type(output).__name__}")
        check_output(output, arr, arr.shape)
    if method == "auto":
        method = _auto(k, arr, dtype, tol, backend)
        _check_method(method)
    corr_origins = _correlation_origins(origins, k.shape)
    flipped = np.ascontiguousarray(k[(slice(None, None, -1),) * k.ndim])
    if method == "separable":
        return _separable(arr, flipped, corr_origins, mode_names, modes, cval, tol, backend, output, dtype)
    if kind == "numpy" and backends.engine_name(backend, arr) == "cuda":
        raise NotImplementedError(f"method={method!r} runs NumPy arrays on the CPU only; "
                                  "pass a CuPy array or use method='separable' for backend='cuda'")
    if method == "direct":
        result = _direct(arr, flipped, corr_origins, modes, mode_names, cval, dtype,
                         backends.engine_name(backend, arr))
    else:
        result = _fft(arr, k, corr_origins, modes, cval, dtype)
    if output is not None:
        output[...] = result
        return output
    return result


@docfiller
def separable_correlate(image, kernel, *, rank=None, tol=None, mode="reflect", cval=0.0, backend="auto",
                        output=None):
    """Correlate with a dense 2-D/3-D kernel through its low-rank separable decomposition.

    Parameters
    ----------
    image : array_like
        Input array (NumPy, CuPy or dask) with as many dimensions as `kernel`.
    kernel : array_like or SeparableKernel
        The correlation kernel (``scipy.ndimage.correlate``'s meaning, centre at
        ``shape // 2``), or a decomposition from :func:`decompose`.
    rank, tol : optional
        Passed to :func:`decompose` (not with a :class:`SeparableKernel`).
    %(mode)s
    %(cval)s
    %(backend)s
    %(output)s

    Returns
    -------
    ndarray
        ``scipy.ndimage.correlate(image, decompose(kernel).to_dense(), mode=..., cval=...)``.
        %(dtype_rule)s

    Raises
    ------
    ValueError
        An image whose rank differs from the kernel's; `rank`/`tol` with a
        SeparableKernel; see :func:`decompose` for the kernel, `rank` and `tol`.

    Notes
    -----
    Cost: ``rank * sum(kernel.shape)`` multiply-adds per voxel against
    ``prod(kernel.shape)`` for the dense kernel. With ``mode='constant'`` and a non-zero
    `cval` the image is shifted by ``-cval`` and ``cval * sum(K_R)`` added back, which is
    the dense correlation's padding (each 1-D pass would otherwise pad with `cval`).
    Backends: NumPy, CuPy, dask (lazy result).

    Examples
    --------
    >>> import numpy as np
    >>> k = np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0])         # Sobel
    >>> separable_correlate(np.arange(9.0).reshape(3, 3), k, mode="nearest").round(12).tolist()
    [[-4.0, -8.0, -4.0], [-4.0, -8.0, -4.0], [-4.0, -8.0, -4.0]]
    """
    if isinstance(kernel, SeparableKernel):
        if rank is not None or tol is not None:
            raise ValueError("`rank` and `tol` must be None when `kernel` is already a SeparableKernel")
        sk = kernel
    else:
        sk = decompose(kernel, rank, tol)
    arr = backends.as_input(image, backend)
    if arr.ndim != sk.ndim:
        raise ValueError(f"`image` must have as many dimensions as `kernel` ({sk.ndim}); got {arr.ndim}")
    modes = check_mode(mode, sk.ndim)
    cval = check_cval(cval)
    return _run_decomposed(sk, arr, per_axis(mode, sk.ndim, "mode"), modes, cval, None, backend, output,
                           result_dtype(arr, output))


def _run_decomposed(sk, arr, mode_names, modes, cval, origins, backend, output, dtype):
    """Run the plan of the separable terms `sk`, with a constant boundary's `cval` made exact.

    Every 1-D pass of a term would pad with `cval`; for a non-zero `cval` with a constant
    mode the image is shifted by ``-cval`` (padding with 0) and ``cval * sum(K)`` added back.
    """
    if cval == 0 or Mode.CONSTANT not in modes:
        return run_plan(sk.plan(mode_names, cval, origins), arr, backend=backend, output=output)
    shifted = arr.astype(dtype) - dtype.type(cval)
    result = run_plan(sk.plan(mode_names, 0.0, origins), shifted, backend=backend, output=output)
    offset = dtype.type(cval * float(sk.to_dense().sum()))
    if backends.array_kind(result) == "dask":
        return (result + offset).astype(dtype)
    result += offset
    return result
