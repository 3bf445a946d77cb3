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
- the boundary extension is :func:`~sep3d.backends.common.boundary_index` (scipy's).
- the store is scipy's C cast (:func:`~sep3d.backends.common.c_cast_into`; for bool the byte
  scipy writes, which the next pass reads back: 2.0 stays 2, 0.5 becomes 0), and the
  next pass reads the stored values.

It is slower than the fast kernels (float64 sums, a cast per pass) and is used only
where the bits are the promise: integer and bool outputs of sep3d.ndimage.
The bits are those of scipy built without fused multiply-adds, as its x86-64 wheels are
(tests/test_ndimage.py and scipy's own suite check them on every run); a scipy compiled
to contract ``a * b + c`` (GCC's default on aarch64) rounds some sums differently.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..common import READABLE_DTYPES, boundary_index, c_cast_into, scipy_chain
from .. import threads as thread_pool
from ..threads import get_num_threads
from .panels import load_panel

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


# Every kernel below computes each output sample with scipy's operations in scipy's order;
# the loops run over many samples (or columns) at once with the taps outermost, which
# changes nothing in any one sample's sums and lets LLVM vectorise across samples. No
# fastmath: a fused multiply-add would round once where scipy rounds twice.


@njit(cache=True, nogil=True)
def _correlate_rows(acc, panel, c, w, sym, size1, size2, count):
    """acc[b] = output sample at panel row `c` (its centre) for columns b < count, scipy's sums."""
    if sym != 0:
        first = panel[c]
        wc = w[size1]
        for b in range(count):
            acc[b] = first[b] * wc
        for jj in range(-size1, 0):
            lo = panel[c + jj]
            hi = panel[c - jj]
            wj = w[size1 + jj]
            if sym > 0:
                for b in range(count):
                    acc[b] += (lo[b] + hi[b]) * wj
            else:
                for b in range(count):
                    acc[b] += (lo[b] - hi[b]) * wj
    else:
        last = panel[c + size2]
        wl = w[size1 + size2]
        for b in range(count):
            acc[b] = last[b] * wl
        for jj in range(-size1, size2):
            row = panel[c + jj]
            wj = w[size1 + jj]
            for b in range(count):
                acc[b] += row[b] * wj


@njit(cache=True, nogil=True)
def _correlate_line(buf, out, w, sym, size1, size2):
    """One line from its extended buffer (the line's samples as the vector lanes)."""
    n = out.shape[0]
    if sym != 0:
        wc = w[size1]
        centre = buf[size1:size1 + n]
        for i in range(n):
            out[i] = centre[i] * wc
        for jj in range(-size1, 0):
            wj = w[size1 + jj]
            lo = buf[size1 + jj:size1 + jj + n]
            hi = buf[size1 - jj:size1 - jj + n]
            if sym > 0:
                for i in range(n):
                    out[i] += (lo[i] + hi[i]) * wj
            else:
                for i in range(n):
                    out[i] += (lo[i] - hi[i]) * wj
    else:
        wl = w[size1 + size2]
        last = buf[size1 + size2:size1 + size2 + n]
        for i in range(n):
            out[i] = last[i] * wl
        for jj in range(-size1, size2):
            wj = w[size1 + jj]
            seg = buf[size1 + jj:size1 + jj + n]
            for i in range(n):
                out[i] += seg[i] * wj


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
    """Lines start..stop of (lines, n) float64 arrays along the last axis."""
    buf = np.empty(idx.shape[0])
    for line in range(start, stop):
        row = src[line]
        for t in range(idx.shape[0]):
            j = idx[t]
            buf[t] = row[j] if j >= 0 else cval
        if uniform:
            _uniform_line(buf, dst[line], w.shape[0])
        else:
            _correlate_line(buf, dst[line], w, sym, size1, size2)


@njit(cache=True, nogil=True)
def _pass_panels(src, dst, w, sym, size1, size2, uniform, idx, cval, block, start, stop):
    """Panels start..stop of (outer, n, inner) float64 arrays along the middle axis (columns as lanes)."""
    _, n, inner = src.shape
    size = w.shape[0]
    n_blocks = (inner + block - 1) // block
    panel = np.empty((idx.shape[0], block))
    acc = np.empty(block)
    for task in range(start, stop):
        o = task // n_blocks
        b0 = (task % n_blocks) * block
        width = min(block, inner - b0)
        load_panel(panel, src, o, idx, b0, width, cval)
        if uniform:  # every column's running sum
            for b in range(width):
                acc[b] = 0.0
            for j in range(size):
                prow = panel[j]
                for b in range(width):
                    acc[b] += prow[b]
            out = dst[o, 0, b0:b0 + width]
            for b in range(width):
                out[b] = acc[b] / size
            for i in range(1, n):
                add = panel[i + size - 1]
                sub = panel[i - 1]
                out = dst[o, i, b0:b0 + width]
                for b in range(width):
                    acc[b] += add[b] - sub[b]
                    out[b] = acc[b] / size
        else:
            for i in range(n):
                _correlate_rows(acc, panel, i + size1, w, sym, size1, size2, width)
                out = dst[o, i, b0:b0 + width]
                for b in range(width):
                    out[b] = acc[b]


def _run_pass(src, dst, axis, op, mode, cval):
    """One scipy 1-D pass of the FIR `op` along `axis`: C-contiguous `src` (a readable dtype)
    into the C-contiguous float64 `dst`."""
    shape = src.shape
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    n = shape[axis]
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    size1 = op.size // 2
    size2 = op.size - size1 - 1
    idx = boundary_index(n, op.left, op.size, int(mode))
    uniform = op.kind == "moving_average"  # scipy's running sum (uniform_filter1d)
    sym = scipy_symmetry(op.taps)
    threads = get_num_threads()
    if inner == 1:
        s2, d2 = src.reshape(outer, n), dst.reshape(outer, n)
        thread_pool.parallel(outer, threads, lambda a, b: _pass_lines(
            s2, d2, op.taps, sym, size1, size2, uniform, idx, float(cval), a, b))
        return
    block = min(inner, 256)
    while block > 16 and outer * -(-inner // block) < 4 * threads:
        block //= 2
    tasks = outer * -(-inner // block)
    s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
    thread_pool.parallel(tasks, threads, lambda a, b: _pass_panels(
        s3, d3, op.taps, sym, size1, size2, uniform, idx, float(cval), block, a, b))


def run_chain(plan, image, output):
    """Run the one-term FIR plan `plan` on `image` into `output` as scipy.ndimage would.

    The passes run in the plan's axis order; each reads the previous one's result as
    stored in `output`'s dtype (for bool, the byte scipy writes). Returns `output`.
    """
    term, axes = scipy_chain(plan)
    if not axes:  # scipy: output[...] = input, NumPy's assignment
        output[...] = image
        return output
    dtype = output.dtype.newbyteorder("=")
    stored_dtype = np.dtype(np.uint8) if dtype == np.bool_ else dtype
    # the kernels read the readable dtypes directly (the others as float64, exactly)
    src = image if image.dtype in READABLE_DTYPES else image.astype(np.float64)
    src = np.ascontiguousarray(src)
    result = np.empty(image.shape, np.float64)
    stored = np.empty(image.shape, stored_dtype)
    for ax in axes:
        _run_pass(src, result, ax, term.ops[ax], plan.modes[ax], plan.cval)
        c_cast_into(stored, result)
        # what the next pass reads back: the stored values, as doubles
        src = stored if stored.dtype in READABLE_DTYPES else stored.astype(np.float64)
    if dtype == np.bool_:
        np.not_equal(stored, 0, out=output)
    else:
        np.copyto(output, stored, casting="unsafe")
    return output
