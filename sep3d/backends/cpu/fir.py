"""FIR passes: one axis of a ``(outer, n, inner)`` array, lines or panels, and the fused x-y pass.

The last axis (``inner == 1``) goes line by line: each line is copied once into a padded
buffer with its boundary extension, then the taps sweep the buffer with the contiguous
index innermost (vectorised). Any other axis goes panel by panel: a ``(n + K - 1, block)``
panel of columns is copied with its boundary rows, then each output row is a sum of K
panel rows, vectorised over the contiguous block. :func:`run_fused_pass` runs an x and a y
pass in one sweep over the planes (the x result never exists as a volume). Symmetric and
antisymmetric taps use half the multiplies.

Inner loops index arrays with the bare range variable (slices, not ``buf[i + j]``): Numba
then drops its negative-index handling and LLVM vectorises the loop (5x here).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .. import threads as thread_pool
from ..common import boundary_index
from ..threads import get_num_threads
from .panels import load_panel, panel_block, store_row

__all__ = ["run_fir_pass", "run_fused_pass"]


@njit(cache=True, nogil=True, fastmath={"contract"})
def _fill(buf, row, idx, left, n, cval):
    """Copy one line into its padded buffer, applying the boundary extension."""
    for t in range(left):
        j = idx[t]
        buf[t] = row[j] if j >= 0 else cval
    mid = buf[left:left + n]
    for i in range(n):
        mid[i] = row[i]
    for t in range(left + n, buf.shape[0]):
        j = idx[t]
        buf[t] = row[j] if j >= 0 else cval

@njit(cache=True, nogil=True, fastmath={"contract"})
def _correlate(acc, buf, w, sym, count):
    """acc[i] = sum_j w[j] * buf[i + j] for i < count; symmetric taps use half the multiplies."""
    size = w.shape[0]
    if sym != 0:
        r = size // 2
        c = w[r]
        centre = buf[r:r + count]
        for i in range(count):
            acc[i] = c * centre[i]
        for j in range(r):
            wj = w[j]
            lo = buf[j:j + count]
            hi = buf[size - 1 - j:size - 1 - j + count]
            if sym > 0:
                for i in range(count):
                    acc[i] += wj * (lo[i] + hi[i])
            else:
                for i in range(count):
                    acc[i] += wj * (lo[i] - hi[i])
    else:
        w0 = w[0]
        for i in range(count):
            acc[i] = w0 * buf[i]
        for j in range(1, size):
            wj = w[j]
            seg = buf[j:j + count]
            for i in range(count):
                acc[i] += wj * seg[i]

@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_lines(src, dst, w, idx, left, cval, sym, store, scale, divisor, start, stop):
    """Filter lines start..stop along the last axis of (lines, n) arrays; in place is allowed."""
    n = src.shape[1]
    buf = np.empty(idx.shape[0], w.dtype)
    acc = np.empty(n, w.dtype)
    for line in range(start, stop):
        _fill(buf, src[line], idx, left, n, cval)
        _correlate(acc, buf, w, sym, n)
        store_row(dst[line], acc, n, store, scale, divisor)

@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_panels(src, dst, w, idx, cval, sym, store, scale, divisor, block, start, stop):
    """Filter panels start..stop along the middle axis of (outer, n, inner) arrays.

    Panel ``task`` covers columns ``(task % n_blocks) * block`` onwards of slab
    ``task // n_blocks``; in place is allowed.
    """
    _, n, inner = src.shape
    m = idx.shape[0]
    n_blocks = (inner + block - 1) // block
    panel = np.empty((m, block), w.dtype)
    acc = np.empty(block, w.dtype)
    for task in range(start, stop):
        o = task // n_blocks
        b0 = (task % n_blocks) * block
        width = min(block, inner - b0)
        load_panel(panel, src, o, idx, b0, width, cval)
        for i in range(n):
            _correlate_rows(acc, panel, i, w, sym, width)
            store_row(dst[o, i, b0:b0 + width], acc, width, store, scale, divisor)

@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_planes(src, dst, wx, idx_x, left_x, sym_x, div_x, wy, idx_y, sym_y, div_y, cval, store, scale,
                 start, stop):
    """Filter planes start..stop of (outer, ny, nx) arrays along x, then y, in cache.

    Each x-filtered row goes straight into the y panel (with the y boundary rows), so
    the intermediate never travels to memory: two passes for the price of one. In place
    is allowed (a plane is read whole before it is written).
    """
    _, ny, nx = src.shape
    m = idx_y.shape[0]
    one = wx.dtype.type(1.0)
    buf = np.empty(idx_x.shape[0], wx.dtype)
    acc_x = np.empty(nx, wx.dtype)
    panel = np.empty((m, nx), wx.dtype)
    acc = np.empty(nx, wx.dtype)
    for o in range(start, stop):
        for t in range(m):
            j = idx_y[t]
            if j >= 0:
                _fill(buf, src[o, j], idx_x, left_x, nx, cval)
                _correlate(acc_x, buf, wx, sym_x, nx)
                store_row(panel[t], acc_x, nx, 0, one, div_x)
            else:
                prow = panel[t]
                for b in range(nx):
                    prow[b] = cval
        for i in range(ny):
            _correlate_rows(acc, panel, i, wy, sym_y, nx)
            store_row(dst[o, i], acc, nx, store, scale, div_y)

@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_planes_yx(src, dst, wy, idx_y, sym_y, div_y, wx, idx_x, left_x, sym_x, div_x, cval, store, scale,
                    start, stop):
    """Filter planes start..stop of (outer, ny, nx) arrays along y, then x, in cache.

    The plane is loaded once as a y panel (with its boundary rows); each y-filtered row
    is stored in the middle of the x line buffer, extended there and filtered along x
    straight into `dst`. The arithmetic of each pass is that of the separate line and
    panel kernels, so the result equals the two passes run one after the other, bit for
    bit. In place is allowed (the plane is read whole before it is written).
    """
    _, ny, nx = src.shape
    m = idx_y.shape[0]
    one = wy.dtype.type(1.0)
    panel = np.empty((m, nx), wy.dtype)
    buf = np.empty(idx_x.shape[0], wy.dtype)
    mid = buf[left_x:left_x + nx]
    acc = np.empty(nx, wy.dtype)
    for o in range(start, stop):
        load_panel(panel, src, o, idx_y, 0, nx, cval)
        for i in range(ny):
            _correlate_rows(acc, panel, i, wy, sym_y, nx)
            store_row(mid, acc, nx, 0, one, div_y)
            _fill(buf, mid, idx_x, left_x, nx, cval)
            _correlate(acc, buf, wx, sym_x, nx)
            store_row(dst[o, i], acc, nx, store, scale, div_x)

@njit(cache=True, nogil=True, fastmath={"contract"})
def _correlate_rows(acc, panel, i, w, sym, width):
    """acc[b] = sum_j w[j] * panel[i + j, b] for b < width."""
    size = w.shape[0]
    if sym != 0:
        r = size // 2
        c = w[r]
        centre = panel[i + r]
        for b in range(width):
            acc[b] = c * centre[b]
        for j in range(r):
            wj = w[j]
            lo = panel[i + j]
            hi = panel[i + size - 1 - j]
            if sym > 0:
                for b in range(width):
                    acc[b] += wj * (lo[b] + hi[b])
            else:
                for b in range(width):
                    acc[b] += wj * (lo[b] - hi[b])
    else:
        first = panel[i]
        w0 = w[0]
        for b in range(width):
            acc[b] = w0 * first[b]
        for j in range(1, size):
            wj = w[j]
            row = panel[i + j]
            for b in range(width):
                acc[b] += wj * row[b]

def run_fused_pass(src, dst, first, second, modes, cval, compute_dtype):
    """The x and y passes `first` and `second` (either order) in one sweep over the planes."""
    shape = src.shape
    ny, nx = shape[-2:]
    outer = int(np.prod(shape[:-2], dtype=np.int64))
    x, y = (first, second) if first.axis == len(shape) - 1 else (second, first)
    wx, wy = x.op.taps.astype(compute_dtype), y.op.taps.astype(compute_dtype)
    dt = wx.dtype.type
    idx_x = boundary_index(nx, x.op.left, x.op.size, int(modes[-1]))
    idx_y = boundary_index(ny, y.op.left, y.op.size, int(modes[-2]))
    s3, d3 = src.reshape(outer, ny, nx), dst.reshape(outer, ny, nx)
    if x is first:
        thread_pool.parallel(outer, get_num_threads(), lambda a, b: _pass_planes(
            s3, d3, wx, idx_x, x.op.left, x.op.symmetry, dt(x.op.divisor), wy, idx_y,
            y.op.symmetry, dt(y.op.divisor), dt(cval), second.store, dt(second.scale), a, b))
    else:
        thread_pool.parallel(outer, get_num_threads(), lambda a, b: _pass_planes_yx(
            s3, d3, wy, idx_y, y.op.symmetry, dt(y.op.divisor), wx, idx_x, x.op.left, x.op.symmetry,
            dt(x.op.divisor), dt(cval), second.store, dt(second.scale), a, b))


def run_fir_pass(src, dst, axis, op, mode, cval, store, scale, compute_dtype):
    """Apply the FIR `op` along `axis` from `src` to `dst` (C-contiguous, same shape).

    Lines along the last axis, panels of columns along the others; `cval` only for constant mode.
    """
    shape = src.shape
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    n = shape[axis]
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    w = op.taps.astype(compute_dtype)
    cval, scale, divisor = w.dtype.type(cval), w.dtype.type(scale), w.dtype.type(op.divisor)
    idx = boundary_index(n, op.left, op.size, int(mode))
    threads = get_num_threads()
    if inner == 1:
        s2, d2 = src.reshape(outer, n), dst.reshape(outer, n)
        thread_pool.parallel(outer, threads, lambda a, b: _pass_lines(
            s2, d2, w, idx, op.left, cval, op.symmetry, store, scale, divisor, a, b))
    else:
        block = panel_block(outer, n, inner, op.size, w.itemsize, threads)
        tasks = outer * -(-inner // block)
        s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
        thread_pool.parallel(tasks, threads, lambda a, b: _pass_panels(
            s3, d3, w, idx, cval, op.symmetry, store, scale, divisor, block, a, b))
