"""Engine-neutral helpers every engine shares: boundary indices, layout, casts, scaling, and
whether numba imports (:func:`numba_import_error`).

Nothing here compiles anything or needs a device: the Numba engine (:mod:`sep3d.backends.cpu`),
the NumPy/SciPy engine (:mod:`sep3d.backends.numpy_engine`) and the CUDA engine
(:mod:`sep3d.backends.cuda`) import these, so that each of them imports without the
others' libraries.
"""
from __future__ import annotations

import functools

import numpy as np

from .._validate import Mode
from ..plan import ADD_SQUARE, WRITE, WRITE_SQUARE, ZERO

__all__ = ["KERNEL_DTYPES", "READABLE_DTYPES", "boundary_index", "recursive_extension", "scale_step",
           "schedule_buffers", "scipy_chain", "c_order_perm", "c_cast_into", "cast_into", "same_memory",
           "numba_import_error"]

#: Result and temporary dtypes the kernels store directly. Other results (integers, bool,
#: float16) are computed in float and cast once at the end: integers are truncated toward
#: zero and wrap like a C cast, as scipy.ndimage's are, but without rounding the
#: intermediate passes.
KERNEL_DTYPES = frozenset((np.dtype(np.float32), np.dtype(np.float64)))

#: Input dtypes the kernels read directly (CT's int16, microscopy's uint16, images' uint8,
#: floats); others (bool, int32, int64, float16, ...) are converted to the compute dtype
#: first, one copy instead of a compiled variant of every kernel per dtype.
READABLE_DTYPES = frozenset(np.dtype(t) for t in (np.uint8, np.int16, np.uint16, np.float32, np.float64))


@functools.lru_cache(maxsize=256)
def boundary_index(n, left, size, mode):
    """Source index of every sample of a padded line, or -1 where the value is `cval`.

    The padded line has ``n + size - 1`` samples; sample ``t`` stands for position
    ``t - left`` of the axis. Reflect (half-sample symmetric), mirror (whole-sample),
    nearest, wrap and constant follow scipy.ndimage, also when the reach exceeds `n`
    (the extension repeats periodically).
    """
    t = np.arange(n + size - 1, dtype=np.int64) - left
    mode = Mode(mode)
    if mode == Mode.REFLECT:
        t = np.mod(t, 2 * n)
        t = np.where(t >= n, 2 * n - 1 - t, t)
    elif mode == Mode.MIRROR:
        if n == 1:
            t = np.zeros_like(t)
        else:
            t = np.mod(t, 2 * n - 2)
            t = np.where(t >= n, 2 * n - 2 - t, t)
    elif mode == Mode.NEAREST:
        t = np.clip(t, 0, n - 1)
    elif mode == Mode.WRAP:
        t = np.mod(t, n)
    else:  # constant
        t = np.where((t < 0) | (t >= n), -1, t)
    t.setflags(write=False)
    return t


def recursive_extension(n, op, mode):
    """Samples added on each side of a line before the recursion, and the source index of each.

    ``nearest`` is the recursion's own boundary (no extension; short lines get 4 edge
    copies, the same thing); every other mode extends by the operator's reach.
    """
    if Mode(mode) == Mode.NEAREST:
        ext = 0 if n >= 4 else 4
    else:
        ext = op.reach
    return ext, boundary_index(n, ext, 2 * ext + 1, int(mode))


def scale_step(src, dst, store, scale, xp=np):
    """``dst (store)= scale * src`` elementwise, in `dst`'s dtype; `xp`: NumPy or CuPy."""
    if src.dtype != dst.dtype:  # square a uint8 input in the result's float dtype, not in uint8
        src = src.astype(dst.dtype)
    value = src * dst.dtype.type(scale) if scale != 1.0 else src
    if store in (WRITE_SQUARE, ADD_SQUARE):
        value = value * value
    if store in (WRITE, WRITE_SQUARE):
        xp.copyto(dst, value, casting="unsafe")
    else:
        xp.add(dst, value, out=dst, casting="unsafe")


def schedule_buffers(image, results, temp_dtype, compute_dtype):
    """``buffer(ref)``: the array a schedule reference names (:class:`~sep3d.plan.Pass` src/dst).

    ``("input",)`` is `image`, ``("result", k)`` is ``results[k]``, :data:`~sep3d.plan.ZERO`
    a zero of `compute_dtype`, and a ``("temp", i)`` is allocated (`image`'s shape,
    `temp_dtype`) the first time it is asked for, so a temporary no step uses never exists.
    """
    temps = {}

    def buffer(ref):
        if ref[0] == "input":
            return image
        if ref == ZERO:
            return np.zeros((), compute_dtype)
        if ref[0] == "result":
            return results[ref[1]]
        if ref not in temps:
            temps[ref] = np.empty(image.shape, temp_dtype)
        return temps[ref]

    return buffer


def scipy_chain(plan):
    """The term of an ``arithmetic="scipy"`` plan and its filtered axes in pass order."""
    (term,) = plan.outputs[0].terms
    if term.scale != 1.0:
        raise NotImplementedError("arithmetic='scipy' runs terms of scale 1 (scipy's 1-D passes)")
    return term, [ax for ax in plan.pass_order() if term.ops[ax] is not None]


def c_order_perm(arr):
    """Axes permutation that makes `arr` C-contiguous without a copy, or None."""
    if arr.flags.c_contiguous:
        return tuple(range(arr.ndim))
    if arr.flags.f_contiguous:
        return tuple(reversed(range(arr.ndim)))
    perm = tuple(sorted(range(arr.ndim), key=lambda a: -abs(arr.strides[a])))
    if arr.transpose(perm).flags.c_contiguous:
        return perm
    return None


def c_cast_into(dst, values, xp=np):
    """Store float `values` in the integer array `dst` as scipy.ndimage's C code stores them.

    NumPy's cast of float64 to an integer dtype (``copyto`` with unsafe casting, the same
    cast as ``astype``) is the C cast scipy's compiled code makes on the same machine:
    truncation toward zero, wrapping within the range of the machine's conversion. uint32
    goes through int64, as scipy's compiler does (NumPy's own uint32 cast differs out of
    range). For a bool result pass a uint8 `dst`: it receives the byte scipy writes
    (``(npy_bool)value``: 0.5 gives 0, 2.0 gives 2). `xp`: NumPy or CuPy.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        if dst.dtype.newbyteorder("=") == np.uint32:
            values = values.astype(np.int64)
        xp.copyto(dst, values, casting="unsafe")


def cast_into(out, values, xp=np):
    """Store float `values` in `out` as scipy's C cast would (see :func:`c_cast_into`).

    `xp` is the array module of both arrays (NumPy or CuPy). A bool `out` holds whether
    the stored byte is non-zero.
    """
    if out.dtype.kind == "b":
        byte = xp.empty(out.shape, np.uint8)
        c_cast_into(byte, values, xp)
        xp.not_equal(byte, 0, out=out)
    elif out.dtype.kind in "iu":
        c_cast_into(out, values, xp)
    else:
        xp.copyto(out, values, casting="unsafe")


def same_memory(a, b):
    """True when `a` and `b` are the same view of the same memory (data pointer, strides, shape)."""
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides and a.shape == b.shape)


@functools.lru_cache(maxsize=None)
def numba_import_error():
    """None when the Numba engine can run, else the ImportError that stops it (checked once)."""
    try:
        import llvmlite  # noqa: F401
        import numba  # noqa: F401
    except ImportError as exc:  # also a module blocked with sys.modules[name] = None
        return exc
    return None
