"""Position-dependent taps (:class:`~sep3d.kernels.VaryingFIR`, e.g. Savitzky-Golay at the edges).

Each output sample along the axis has its own taps and window start; the pass runs over
panels of columns like the FIR passes.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .. import threads as thread_pool
from ..threads import get_num_threads
from .panels import load_panel, panel_block, store_row

__all__ = ["run_varying_pass"]


@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_varying(src, dst, w, starts, idx, store, scale, block, start, stop):
    """A position-dependent FIR along the middle axis of (outer, n, inner) views, panels start..stop.

    Output row ``i`` is ``sum_k w[i, k] * row[starts[i] + k]`` of the panel (the whole
    axis, every window inside it). The views may be strided; in place is allowed.
    """
    _, n, inner = src.shape
    size = w.shape[1]
    n_blocks = (inner + block - 1) // block
    panel = np.empty((n, block), w.dtype)
    acc = np.empty(block, w.dtype)
    for task in range(start, stop):
        o = task // n_blocks
        b0 = (task % n_blocks) * block
        width = min(block, inner - b0)
        load_panel(panel, src, o, idx, b0, width, 0.0)
        for i in range(n):
            s = starts[i]
            w0 = w[i, 0]
            for b in range(width):
                acc[b] = w0 * panel[s, b]
            for k in range(1, size):
                wk = w[i, k]
                for b in range(width):
                    acc[b] += wk * panel[s + k, b]
            store_row(dst[o, i, b0:b0 + width], acc, width, store, scale, 1.0)

def run_varying_pass(src, dst, axis, op, store, scale, compute_dtype):
    """Apply the position-dependent `op` (a :class:`~sep3d.kernels.VaryingFIR`) along `axis`."""
    shape = src.shape
    n = shape[axis]
    if n != op.length:
        raise ValueError(f"the operator on axis {axis} is made for length {op.length}; the axis has {n}")
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    if inner == 1:  # lines along the contiguous axis: columns of the transposed view
        s3, d3 = src.reshape(outer, n).T[None], dst.reshape(outer, n).T[None]
        outer, inner = 1, outer
    else:
        s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
    w = op.weights.astype(compute_dtype)
    threads = get_num_threads()
    block = panel_block(outer, n, inner, 1, w.itemsize, threads)
    tasks = outer * -(-inner // block)
    idx = np.arange(n, dtype=np.int64)
    dt = w.dtype.type
    thread_pool.parallel(tasks, threads, lambda a, b: _pass_varying(
        s3, d3, w, op.starts, idx, store, dt(scale), block, a, b))
