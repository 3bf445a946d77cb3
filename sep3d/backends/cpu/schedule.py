"""Running a plan's schedule on the CPU engine: the passes, the fused x-y units, layout and aliasing.

:func:`execute` takes any input layout and any output layout or dtype: it filters in the
input's C order (the plan transposed to it) and copies into outputs it cannot write in
place. :func:`run_schedule` allocates only the temporaries a step stores into and runs
each pass (:func:`run_pass` dispatches to the FIR, recursive and position-dependent
kernels) or fused x-y unit. Plans with ``arithmetic="scipy"`` go to :mod:`.exact`.
"""
from __future__ import annotations

import numpy as np

from ..._validate import Mode
from ...kernels import IIR, VaryingFIR
from ...plan import Pass
from ..common import KERNEL_DTYPES, READABLE_DTYPES, c_order_perm, cast_into, same_memory, scale_step, schedule_buffers
from ..fusion import execution_units
from .fir import run_fir_pass, run_fused_pass
from .recursive import run_recursive_pass, run_sections_pass
from .varying import run_varying_pass

__all__ = ["execute", "run_pass", "run_schedule"]


def run_pass(src, dst, axis, op, mode, cval, store, scale, compute_dtype):
    """Apply one FIR or IIR along `axis` from `src` to `dst` (C-contiguous, same shape)."""
    if Mode(mode) != Mode.CONSTANT:
        cval = 0.0  # only constant mode reads it (a NaN cval must not reach the other modes)
    if isinstance(op, IIR):
        if op.sections is not None:
            return run_sections_pass(src, dst, axis, op, mode, cval, store, scale, compute_dtype)
        return run_recursive_pass(src, dst, axis, op, mode, cval, store, scale)
    if isinstance(op, VaryingFIR):
        return run_varying_pass(src, dst, axis, op, store, scale, compute_dtype)
    return run_fir_pass(src, dst, axis, op, mode, cval, store, scale, compute_dtype)


def run_schedule(plan, image, results, temp_dtype, compute_dtype):
    """Run `plan` on the C-contiguous `image` into the C-contiguous `results`.

    Temporaries are allocated only if a step actually stores into them: an x result
    consumed inside a fused x-y pass never exists as a volume.
    """
    sched = plan.schedule()
    units = execution_units(sched.steps, image.shape, np.dtype(compute_dtype).itemsize)
    buffer = schedule_buffers(image, results, temp_dtype, compute_dtype)

    for unit in units:
        if len(unit) == 2:
            first, second = unit
            run_fused_pass(buffer(first.src), buffer(second.dst), first, second, plan.modes, plan.cval,
                           compute_dtype)
            continue
        (step,) = unit
        src, dst = buffer(step.src), buffer(step.dst)
        if isinstance(step, Pass):
            run_pass(src, dst, step.axis, step.op, plan.modes[step.axis], plan.cval,
                     step.store, step.scale, compute_dtype)
        else:
            scale_step(src, dst, step.store, step.scale)
    if sched.sqrt_results:
        for r in results:
            np.sqrt(r, out=r, casting="unsafe")
    return results

def execute(plan, image, outputs, temp_dtype, compute_dtype):
    """Run `plan` on `image` (any layout) and store into `outputs` (arrays of its shape).

    Each output may have any layout and any dtype: a result that cannot be written in
    place (non-contiguous, another layout than the input, an unsupported dtype, or
    memory shared with `image` where a multi-term plan would read it after writing)
    is computed in a fresh array and copied in. A plan with ``arithmetic="scipy"`` runs
    in :mod:`sep3d.backends.cpu.exact` (scipy.ndimage's own sums and per-pass casts).
    """
    if plan.arithmetic == "scipy":
        from . import exact

        (out,) = outputs
        exact.run_chain(plan, image, out)
        return outputs
    if image.dtype not in READABLE_DTYPES:
        image = image.astype(compute_dtype)
    perm = c_order_perm(image)
    if perm is None:
        image = np.ascontiguousarray(image)
        perm = tuple(range(image.ndim))
    work_image = image.transpose(perm)
    work_plan = plan if perm == tuple(range(image.ndim)) else plan.transpose(perm)
    single_chain = len(plan.terms()) == 1
    views, copies = [], []
    for out in outputs:
        view = out.transpose(perm)
        direct = (view.flags.c_contiguous and out.dtype in KERNEL_DTYPES
                  and (not np.may_share_memory(out, image)
                       or (single_chain and same_memory(view, work_image))))
        if direct:
            views.append(view)
        else:
            dtype = out.dtype if out.dtype in KERNEL_DTYPES else compute_dtype
            tmp = np.empty(work_image.shape, dtype)
            views.append(tmp)
            copies.append((out, tmp))
    if temp_dtype not in KERNEL_DTYPES:
        temp_dtype = compute_dtype
    run_schedule(work_plan, work_image, views, temp_dtype, compute_dtype)
    inverse = np.argsort(perm)
    for out, tmp in copies:
        cast_into(out, tmp.transpose(inverse))
    return outputs
