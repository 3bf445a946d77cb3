"""How the Numba engine groups a schedule's steps: an x pass and the y pass that reads it
(or the reverse) run as one sweep over the planes when the y panel fits in cache.

Plain Python on the schedule and a shape (no numba), so :func:`sep3d.describe` can report
the grouping without importing the engine.
"""
from __future__ import annotations

import numpy as np

from ..kernels import FIR
from ..plan import WRITE, WRITE_SQUARE, Pass
from .threads import get_num_threads

__all__ = ["FUSED_PANEL_BYTES", "fusable", "execution_units", "allocated_temps"]


#: Largest y panel (bytes) for which the x and y passes of a plane are fused.
FUSED_PANEL_BYTES = 3 * 512 * 1024


def fusable(steps, i, shape, itemsize, threads):
    """True when steps[i] and steps[i + 1] are the x and y passes of the planes, fusable.

    Either order fuses: x then y (the y pass reads the x result) or y then x. The fused
    kernel never stores the first pass's result, so its buffer must be the second pass's
    own destination or a temporary that no later step reads before overwriting it.
    """
    if i + 1 >= len(steps):
        return False
    first, second = steps[i], steps[i + 1]
    ndim = len(shape)
    if not (isinstance(first, Pass) and isinstance(second, Pass) and ndim >= 2
            and isinstance(first.op, FIR) and isinstance(second.op, FIR)
            and {first.axis, second.axis} == {ndim - 1, ndim - 2} and first.dst == second.src
            and first.store == WRITE and first.scale == 1.0
            and int(np.prod(shape[:-2], dtype=np.int64)) >= 2 * threads):
        return False
    y_op = second.op if second.axis == ndim - 2 else first.op
    if (shape[-2] + y_op.size - 1) * shape[-1] * itemsize > FUSED_PANEL_BYTES:
        return False
    if second.dst == first.dst:
        return True
    if first.dst[0] != "temp":
        return False
    for later in steps[i + 2:]:
        if later.src == first.dst:
            return False
        if later.dst == first.dst:
            return later.store in (WRITE, WRITE_SQUARE)
    return True


def execution_units(steps, shape, itemsize):
    """The schedule's steps grouped as the engine runs them: fused x-y pairs or single steps."""
    threads = get_num_threads()
    units, i = [], 0
    while i < len(steps):
        if fusable(steps, i, shape, itemsize, threads):
            units.append((steps[i], steps[i + 1]))
            i += 2
        else:
            units.append((steps[i],))
            i += 1
    return units


def allocated_temps(units):
    """Temporaries a run of `units` stores into (the others are never allocated)."""
    stored = set()
    for unit in units:
        dst = unit[-1].dst
        if dst[0] == "temp":
            stored.add(dst)
    return stored
