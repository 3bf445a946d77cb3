"""Backend registry: which engine runs a plan, chosen from the array type.

Three engines run plans: ``"cpu"`` (Numba-compiled, threaded: :mod:`sep3d.backends.cpu`),
``"numpy"`` (NumPy and scipy only: :mod:`sep3d.backends.numpy_engine`) and ``"cuda"``
(CuPy RawKernels: :mod:`sep3d.backends.cuda`). ``backend="auto"`` follows the input:
NumPy arrays run on the CPU engine (on the NumPy engine, with one
:class:`NumbaUnavailableWarning`, where numba cannot be imported), CuPy arrays on the CUDA
engine. A named backend forces its engine and moves the data (the result has the input's
array type). CuPy and dask inputs are recognised by their module without importing
either library, and each engine is imported when it first runs, so importing sep3d needs
neither a GPU nor numba.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .._validate import check_array_meta, check_backend, check_image
from .common import numba_import_error

__all__ = ["array_kind", "array_module", "engine_name", "as_input", "empty", "complex_from_parts", "execute",
           "numba_import_error", "require_numba", "NumbaUnavailableWarning"]


class NumbaUnavailableWarning(RuntimeWarning):
    """``backend="auto"`` runs on the NumPy engine because numba cannot be imported."""


_fallback_warned = []


def _host_engine():
    """'cpu', or 'numpy' when numba cannot be imported (warning once per process)."""
    error = numba_import_error()
    if error is None:
        return "cpu"
    if not _fallback_warned:
        _fallback_warned.append(True)
        warnings.warn(f"numba cannot be imported ({error}): sep3d runs on its NumPy/SciPy engine "
                      "(backend='numpy'), which gives the same results more slowly; install numba for the "
                      "compiled CPU engine", NumbaUnavailableWarning, stacklevel=4)
    return "numpy"


def array_kind(array):
    """'numpy', 'cupy', 'dask' or 'other', from the array's type (no imports)."""
    if isinstance(array, np.ndarray):
        return "numpy"
    module = type(array).__module__.split(".")[0]
    if module in ("cupy", "dask"):
        return module
    return "other"


def array_module(array):
    """NumPy, or CuPy for a CuPy array (imported only then)."""
    if array_kind(array) == "cupy":
        import cupy

        return cupy
    return np


def engine_name(backend, array):
    """'cpu', 'numpy' or 'cuda': the engine that runs `backend` on this array."""
    backend = check_backend(backend)
    kind = array_kind(array)
    if kind == "dask":  # the engine that runs its chunks
        kind = array_kind(array._meta)
    if backend == "auto":
        return "cuda" if kind == "cupy" else _host_engine()
    return backend


def require_numba(backend="cpu"):
    """Raise a clear ImportError when the Numba engine cannot run."""
    error = numba_import_error()
    if error is not None:
        raise ImportError(f"backend={backend!r} is sep3d's Numba engine, and numba cannot be imported ({error}); "
                          "install numba, or use backend='numpy' (or 'auto', which falls back to it)") from error


def as_input(array, backend="auto", name="image", *, complex_ok=False, empty_ok=False, allow_0d=False):
    """Check `array` for `backend` (before any conversion) and return it as a valid input.

    CuPy arrays stay on the device and dask arrays stay lazy (their dtype, rank and size
    are checked); anything else becomes a NumPy array. `complex_ok` and `empty_ok`: see
    :func:`sep3d._validate.check_array_meta`.
    """
    engine_name(backend, array)  # rejects array types no engine takes, before np.asarray copies them
    kind = array_kind(array)
    if kind == "dask":
        if array_kind(array._meta) not in ("numpy", "cupy"):
            raise TypeError(f"`{name}` must be a dask array of NumPy or CuPy chunks; "
                            f"got chunks of {type(array._meta).__name__}")
        if any(math.isnan(n) for n in array.shape):
            raise ValueError(f"`{name}` must have known chunk sizes; got shape {array.shape} "
                             "(call .compute_chunk_sizes() first)")
    if kind in ("cupy", "dask"):
        check_array_meta(array, name, complex_ok=complex_ok, empty_ok=empty_ok, allow_0d=allow_0d)
        return array
    return check_image(array, name, complex_ok=complex_ok, empty_ok=empty_ok, allow_0d=allow_0d)


def empty(like, shape, dtype):
    """An uninitialised result of `like`'s array type."""
    return array_module(like).empty(shape, dtype)


def complex_from_parts(re, im, dtype, into=None):
    """A complex array of `dtype` from its real and imaginary parts (NumPy, CuPy or dask).

    NumPy and CuPy parts are written into `into` (or a new array); dask parts give a
    lazy array, one task per block.
    """
    dtype = np.dtype(dtype)
    if array_kind(re) == "dask":
        import dask.array as da

        meta = array_module(re._meta).empty((0,) * re.ndim, dtype)
        return da.map_blocks(_pack_complex, re, im, dtype, dtype=dtype, meta=meta)
    return _pack_complex(re, im, dtype, into)


def _pack_complex(re, im, dtype, into=None):
    out = empty(re, re.shape, dtype) if into is None else into
    out.real[...] = re
    out.imag[...] = im
    return out


def execute(plan, image, outputs, *, backend="auto", temp_dtype, compute_dtype):
    """Run `plan` on `image` into `outputs` with the chosen engine; returns `outputs`.

    `outputs` have `image`'s array type. ``backend='cpu'`` or ``'numpy'`` on a CuPy array
    runs on the host and copies the results back to the device; so does a plan with
    ``arithmetic="scipy"`` (scipy.ndimage's bits, computed by a host engine).
    """
    engine = engine_name(backend, image)
    temp_dtype, compute_dtype = np.dtype(temp_dtype), np.dtype(compute_dtype)
    if plan.arithmetic == "scipy" and engine == "cuda":  # scipy.ndimage's own sums: a host engine
        engine = _host_engine()
    if engine == "cuda":
        from . import cuda

        return cuda.execute(plan, image, outputs, temp_dtype, compute_dtype)
    if engine == "cpu":
        require_numba(backend)
        from . import cpu as host_engine
    else:
        from . import numpy_engine as host_engine

    if array_kind(image) == "cupy":
        host = [np.empty(o.shape, o.dtype) for o in outputs]
        host_engine.execute(plan, image.get(), host, temp_dtype, compute_dtype)  # sync
        xp = array_module(image)
        for out, values in zip(outputs, host):
            out[...] = xp.asarray(values)
        return outputs
    return host_engine.execute(plan, image, outputs, temp_dtype, compute_dtype)
