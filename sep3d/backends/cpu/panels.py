"""What the FIR, recursive, varying and exact passes share: a panel of rows with its boundary, a stored result.

:func:`load_panel` copies rows (the boundary extension included, `cval` where the index is
-1) into a panel; :func:`store_row` writes, adds or adds the squares of an accumulator,
scaled; :func:`panel_block` sizes a panel to the L2 cache and the threads. The FIR,
recursive and position-dependent passes and scipy's arithmetic (:mod:`.exact`) use them.
"""
from __future__ import annotations

from numba import njit


__all__ = ["load_panel", "store_row", "panel_block"]


@njit(cache=True, nogil=True, fastmath={"contract"})
def load_panel(panel, src, o, idx, b0, width, cval):
    """Rows ``idx`` of slab `o` of (outer, n, inner) `src`, columns b0..b0+width, into ``panel[:, :width]``.

    Row ``t`` of the panel is source row ``idx[t]`` (the boundary extension), or `cval`
    where ``idx[t]`` is -1.
    """
    for t in range(idx.shape[0]):
        j = idx[t]
        prow = panel[t]
        if j >= 0:
            row = src[o, j, b0:b0 + width]
            for b in range(width):
                prow[b] = row[b]
        else:
            for b in range(width):
                prow[b] = cval


@njit(cache=True, nogil=True, fastmath={"contract"})
def store_row(dst, acc, count, store, scale, divisor):
    """dst[i] (store)= scale * acc[i] / divisor, store in WRITE, ADD, WRITE_SQUARE, ADD_SQUARE."""
    if divisor != 1:
        for i in range(count):
            acc[i] = acc[i] / divisor
    if store == 0:
        for i in range(count):
            dst[i] = scale * acc[i]
    elif store == 1:
        for i in range(count):
            dst[i] += scale * acc[i]
    elif store == 2:
        for i in range(count):
            v = scale * acc[i]
            dst[i] = v * v
    else:
        for i in range(count):
            v = scale * acc[i]
            dst[i] += v * v

def panel_block(outer, n, inner, size, itemsize, threads):
    """Columns per panel: the panel fits in L2 and there is work for every thread."""
    budget = 512 * 1024  # bytes of panel per task
    block = max(16, budget // ((n + size - 1) * itemsize))
    block = min(inner, (block // 16) * 16 or 16)
    while block > 16 and outer * -(-inner // block) < 4 * threads:
        block = max(16, (block // 2 // 16) * 16)
    return min(block, inner)
