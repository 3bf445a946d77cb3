"""scipy.ndimage's own arithmetic, bit for bit: the CPU engine's ``arithmetic="scipy"`` plans.

sep3d.ndimage promises scipy.ndimage's integer and bool results exactly. scipy computes
each 1-D pass in float64 and stores it in the output's dtype with a C cast before the
next pass reads it back, so an integer result is truncated after every pass; whether a
value lands on one side of an integer or the other depends on the last bit of each sum.
This module reproduces those sums operation for operation (no fused multiply-add):

- ``correlate1d`` (``NI_Correlate1D``): odd kernels whose taps are symmetric (or
  antisymmetric) to within ``DBL_EPSILON`` are folded, ``acc = x[0] w[0]`` then
  ``acc += (x[-j] +- x[j]) w[-j]`` from the outermost pair inwards, with the taps of the
  left half; other kernels start from the last tap, then add the others from the first.
- ``uniform_filter1d`` (``NI_UniformFilter1D``): a running sum, ``tmp += x[i + size - 1]
  - x[i - 1]``, divided by the size for every sample.
- the boundary extension is :func:`~sep3d.backends.cpu.boundary_index` (scipy's).
- the store is :func:`~sep3d.backends.cpu.c_cast`, scipy's C cast (for bool the byte
  scipy writes, which the next pass reads back: 2.0 stays 2, 0.5 becomes 0).

It is slower than the fast kernels (float64 throughout, one copy per pass) and is used
only where the bits are the promise: integer and bool outputs of sep3d.ndimage.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .cpu import boundary_index, c_cast, get_num_threads, parallel

__all__ = ["run_chain", "scipy_symmetry"]

_DBL_EPSILON = float(np.finfo(np.float64).eps)


def scipy_symmetry(taps):
    """+1 / -1 when scipy folds the taps as symmetric / antisymmetric, else 0 (odd sizes only)."""
    size = taps.size
    if size % 2 == 0:
        return 0
    r = size // 2
    right, left = taps[r + 1:], taps[:r][::-1]
    if np.all(np.abs(right - left) <= _DBL_EPSILON):
        return 1
    if np.all(np.abs(right + left) <= _DBL_EPSILON):
        return -1
    return 0


@njit(cache=True, nogil=True)
def _correlate_line(buf, out, w, sym, size1, size2):
    """One output line from its extended buffer, in scipy's order of operations."""
    for i in range(out.shape[0]):
        c = i + size1
        if sym > 0:
            acc = buf[c] * w[size1]
            for jj in range(-size1, 0):
                acc += (buf[c + jj] + buf[c - jj]) * w[size1 + jj]
        elif sym < 0:
            acc = buf[c] * w[size1]
            for jj in range(-size1, 0):
                acc += (buf[c + jj] - buf[c - jj]) * w[size1 + jj]
        else:
            acc = buf[c + size2] * w[size1 + size2]
            for jj in range(-size1, size2):
                acc += buf[c + jj] * w[size1 + jj]
        out[i] = acc


@njit(cache=True, nogil=True)
def _uniform_line(buf, out, size):
    """scipy's running sum over `size` samples."""
    tmp = 0.0
    for j in range(size):
        tmp += buf[j]
    out[0] = tmp / size
    for i in range(1, out.shape[0]):
        tmp += buf[i + size - 1] - buf[i - 1]
        out[i] = tmp / size


@njit(cache=True, nogil=True)
def _pass_lines(src, dst, w, sym, size1, size2, uniform, idx, cval, start, stop):
    """Lines start..stop of (outer, n, inner) float64 arrays along the middle axis."""
    _, n, inner = src.shape
    buf = np.empty(idx.shape[0])
    out = np.empty(n)
    for line in range(start, stop):
        o, k = line // inner, line % inner
        for t in range(idx.shape[0]):
            j = idx[t]
            buf[t] = src[o, j, k] if j >= 0 else cval
        if uniform:
            _uniform_line(buf, out, w.shape[0])
        else:
            _correlate_line(buf, out, w, sym, size1, size2)
        for i in range(n):
            dst[o, i, k] = out[i]


def _run_pass(src, dst, axis, op, mode, cval):
    """One scipy 1-D pass of the FIR `op` along `axis` of the C-contiguous float64 `src`."""
    shape = src.shape
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    n = shape[axis]
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    size1 = op.size // 2
    size2 = op.size - size1 - 1
    idx = boundary_index(n, op.left, op.size, int(mode))
    uniform = op.kind == "moving_average"  # scipy's running sum (uniform_filter1d)
    sym = scipy_symmetry(op.taps)
    s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
    parallel(outer * inner, get_num_threads(), lambda a, b: _pass_lines(
        s3, d3, op.taps, sym, size1, size2, uniform, idx, float(cval), a, b))


def run_chain(plan, image, output):
    """Run the one-term FIR plan `plan` on `image` into `output` as scipy.ndimage would.

    The passes run in the plan's axis order; each reads the previous one's result as
    stored in `output`'s dtype. Returns `output`.
    """
    (term,) = plan.outputs[0].terms
    if term.scale != 1.0:
        raise NotImplementedError("arithmetic='scipy' runs terms of scale 1 (scipy's 1-D passes)")
    axes = [ax for ax in plan.pass_order() if term.ops[ax] is not None]
    if not axes:  # scipy: output[...] = input, NumPy's assignment
        output[...] = image
        return output
    dtype = output.dtype.newbyteorder("=")
    work = np.array(image, dtype=np.float64, order="C")
    result = np.empty_like(work)
    stored = None
    for ax in axes:
        _run_pass(work, result, ax, term.ops[ax], plan.modes[ax], plan.cval)
        stored = c_cast(result, dtype)
        work[...] = stored  # what the next pass reads back
    if dtype == np.bool_:
        np.not_equal(stored, 0, out=output)
    else:
        np.copyto(output, stored, casting="unsafe")
    return output
