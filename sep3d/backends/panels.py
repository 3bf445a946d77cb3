"""The Numba kernel both CPU passes load their input with: a panel of rows, boundary included.

Shared by the fast kernels (:mod:`sep3d.backends.cpu`) and scipy's arithmetic
(:mod:`sep3d.backends.exact`), so that neither imports the other.
"""
from __future__ import annotations

from numba import njit

__all__ = ["load_panel"]


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
