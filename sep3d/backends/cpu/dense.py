"""The dense N-D correlation behind ``sep3d.convolve(method="direct")`` on the CPU engine.

The extended array is read in rows; each output row accumulates, per non-zero kernel row,
a 1-D correlation of the matching extended row, threaded over output rows.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .. import threads as thread_pool
from ..threads import get_num_threads

__all__ = ["run_dense_correlation"]


@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_dense(ext, out, rows, shifts, weights, bases, block, start, stop):
    """Valid correlation of (rows, Xe) `ext` into (rows_out, X) `out`, tasks start..stop.

    Tap k adds ``weights[k] * ext[base + rows[k], x + shifts[k]]`` to ``out[r, x]`` (``base =
    bases[r]``); task = (output row, block of `block` samples along the last axis). Four
    taps per sweep of the accumulator: the loads, not the multiply-adds, bound it.
    """
    width = out.shape[1]
    taps = weights.shape[0]
    n_blocks = (width + block - 1) // block
    acc = np.empty(block, weights.dtype)
    for task in range(start, stop):
        r = task // n_blocks
        x0 = (task % n_blocks) * block
        count = min(block, width - x0)
        base = bases[r]
        for x in range(count):
            acc[x] = 0.0
        k = 0
        while k + 4 <= taps:
            w0, w1, w2, w3 = weights[k], weights[k + 1], weights[k + 2], weights[k + 3]
            s0 = ext[base + rows[k], x0 + shifts[k]:x0 + shifts[k] + count]
            s1 = ext[base + rows[k + 1], x0 + shifts[k + 1]:x0 + shifts[k + 1] + count]
            s2 = ext[base + rows[k + 2], x0 + shifts[k + 2]:x0 + shifts[k + 2] + count]
            s3 = ext[base + rows[k + 3], x0 + shifts[k + 3]:x0 + shifts[k + 3] + count]
            for x in range(count):
                acc[x] += (w0 * s0[x] + w1 * s1[x]) + (w2 * s2[x] + w3 * s3[x])
            k += 4
        while k < taps:
            w0 = weights[k]
            s0 = ext[base + rows[k], x0 + shifts[k]:x0 + shifts[k] + count]
            for x in range(count):
                acc[x] += w0 * s0[x]
            k += 1
        dst = out[r]
        for x in range(count):
            dst[x0 + x] = acc[x]

def run_dense_correlation(ext, weights, out):
    """``out[i] = sum_j weights[j] * ext[i + j]`` over every N-D tap j (a valid correlation).

    `ext` is the input already extended by the kernel's reach (``ext.shape == out.shape +
    weights.shape - 1``), C-contiguous, of the compute dtype, as is `weights`; `out` is a
    C-contiguous array of that dtype. Zero taps are skipped. The output rows along the last
    axis are shared out to the thread pool.
    """
    nd = ext.ndim
    lead_ext, lead_out = ext.shape[:-1], out.shape[:-1]
    if out.size == 0:
        return
    nz = np.nonzero(weights)
    if nz[0].size == 0:
        out[...] = 0
        return
    rows = (np.ravel_multi_index(nz[:-1], lead_ext) if nd > 1 else np.zeros(nz[0].size, np.intp)).astype(np.int64)
    shifts = nz[-1].astype(np.int64)
    taps = np.ascontiguousarray(weights[nz])
    n_rows = int(np.prod(lead_out, dtype=np.int64))
    if nd > 1:
        bases = np.ravel_multi_index(np.unravel_index(np.arange(n_rows), lead_out), lead_ext).astype(np.int64)
    else:
        bases = np.zeros(1, np.int64)
    e2 = ext.reshape(-1, ext.shape[-1])
    o2 = out.reshape(-1, out.shape[-1])
    width = out.shape[-1]
    block = min(width, 2048)  # the accumulator stays in L1
    tasks = n_rows * -(-width // block)
    thread_pool.parallel(tasks, get_num_threads(),
                         lambda a, b: _pass_dense(e2, o2, rows, shifts, taps, bases, block, a, b))
