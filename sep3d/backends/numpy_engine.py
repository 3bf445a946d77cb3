"""NumPy/SciPy engine (``backend="numpy"``): runs any FilterPlan with NumPy and scipy, no compiled code of sep3d's.

It runs where numba cannot be imported (a new Python, an unusual platform):
``backend="auto"`` falls back to it with one warning. It is also a second, independent
implementation of the plan's semantics, which the tests hold the Numba engine to.

Each step of the plan's schedule (:meth:`~sep3d.plan.FilterPlan.schedule`) becomes
whole-array NumPy/SciPy calls:

- an :class:`~sep3d.kernels.FIR` pass is ``scipy.ndimage.correlate1d`` with the plan's
  mode, cval and the operator's origin (a moving average is ``uniform_filter1d``, its
  running sum), divided by the operator's divisor;
- an :class:`~sep3d.kernels.IIR` pass extends each line as
  :func:`~sep3d.backends.common.recursive_extension` documents (``nearest``: none, the
  recursion's own steady state; other modes: the operator's reach, where the impulse
  response holds less than :data:`~sep3d.kernels.RECURSIVE_TOLERANCE` of its mass), then
  runs the causal and the anticausal recursions, each started in the steady state of
  its first sample (ITK's initialisation, scipy's ``lfilter_zi``), in float64 and
  vectorised across the lines: as the operator's four second-order sections where it
  has them, else its direct form;
- a :class:`~sep3d.kernels.VaryingFIR` pass is a matrix product along the axis, in float64;
- stores (write, add, their squares), scales, the zero source and the square root of a
  combine follow the schedule exactly as the Numba engine does.

``arithmetic="scipy"`` plans (sep3d.ndimage's integer and bool results) are scipy's own
1-D filters run pass by pass into the result's dtype, in place from the second pass, as
scipy.ndimage's separable filters run them: scipy's bits by construction.

Results are computed in fresh arrays of the compute dtype and cast into the outputs at
the end, so any output layout, dtype or overlap with the input is safe. The cost is a
temporary volume per pass and scipy's single thread (BENCHMARKS.md has the figures).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .._validate import Mode
from ..kernels import FIR, IIR, VaryingFIR
from ..plan import WRITE, Pass
from .common import KERNEL_DTYPES, cast_into, recursive_extension, scale_step, schedule_buffers, scipy_chain

__all__ = ["execute", "fir_pass", "recursive_pass", "varying_pass", "SCIPY_MODES"]

#: scipy.ndimage's name of each boundary mode.
SCIPY_MODES = {Mode.REFLECT: "reflect", Mode.MIRROR: "mirror", Mode.NEAREST: "nearest", Mode.WRAP: "wrap",
               Mode.CONSTANT: "constant"}


def fir_pass(src, axis, op, mode, cval, dtype, out=None):
    """The FIR `op` along `axis` of `src`, into `out` (may be `src`) or a new array of `dtype` (float)."""
    if out is None:
        out = np.empty(src.shape, dtype)
    mode_name = SCIPY_MODES[Mode(mode)]
    if op.kind == "moving_average":
        ndi.uniform_filter1d(src, op.size, axis, output=out, mode=mode_name, cval=cval, origin=op.origin)
        return out
    ndi.correlate1d(src, op.taps, axis, output=out, mode=mode_name, cval=cval, origin=op.origin)
    if op.divisor != 1.0:
        out /= out.dtype.type(op.divisor)
    return out


def recursive_pass(src, axis, op, mode, cval):
    """The IIR `op` along `axis` of `src`, as a new float64 array (see the module docstring).

    The axis is moved first and the other axes flattened, so each step of the recursion
    is one vectorised NumPy operation over every line at once (rows of ``(n, lines)``).
    """
    shape = src.shape
    n = shape[axis]
    rows = np.moveaxis(np.asarray(src, dtype=np.float64), axis, 0).reshape(n, -1)
    ext, idx = recursive_extension(n, op, mode)
    padded = rows[np.maximum(idx, 0)] if ext else np.ascontiguousarray(rows)
    if ext and np.any(idx < 0):
        padded[idx < 0] = cval
    if op.sections is not None:
        causal = [((s[0], s[1]), (s[2], s[3])) for s in op.sections[:2]]
        anticausal = [((0.0, s[0], s[1]), (s[2], s[3])) for s in op.sections[2:]]
    else:  # the direct form: one 4th-order recursion each way
        causal = [(op.coef[0:4], op.coef[4:8])]
        anticausal = [(np.concatenate([[0.0], op.coef[8:12]]), op.coef[4:8])]
    result = np.zeros(padded.shape)
    for b, a in causal:
        steady_recursion(b, a, padded, result)
    backward = padded[::-1]
    for b, a in anticausal:
        steady_recursion(b, a, backward, result[::-1])
    out = result[ext:ext + n].reshape((n,) + tuple(np.delete(shape, axis)))
    return np.moveaxis(out, 0, axis)


def steady_recursion(b, a, x, acc):
    """Add ``y[t] = sum_k b[k] x[t - k] - sum_k a[k] y[t - 1 - k]`` along the rows of `x` to `acc`.

    The recursion starts as if the first row had been there forever (its steady state:
    ``y = x[0] sum(b) / (1 + sum(a))``, ITK's initialisation and scipy's ``lfilter_zi``).
    Each step is a few whole-row operations (every line at once).
    """
    b = [float(v) for v in b]
    a = [float(v) for v in a]
    n_rows = x.shape[0]
    steady = x[0] * (sum(b) / (1.0 + sum(a)))
    history = [steady] * len(a)  # y[t-1], y[t-2], ...
    scratch = np.empty(x.shape[1:])
    for t in range(n_rows):
        y = np.multiply(x[t], b[0])
        for k in range(1, len(b)):
            if b[k] != 0.0:
                np.multiply(x[max(t - k, 0)], b[k], out=scratch)
                y += scratch
        for k, ak in enumerate(a):
            np.multiply(history[k], ak, out=scratch)
            y -= scratch
        acc[t] += y
        history = [y] + history[:-1]


def varying_pass(src, axis, op):
    """The position-dependent `op` along `axis` of `src` (a matrix product), as a new float64 array.

    In float64 whatever the data: BLAS sums in an order that depends on the array's size,
    so a float32 product would round differently in a chunk than in the whole array.
    """
    n = src.shape[axis]
    if n != op.length:
        raise ValueError(f"the operator on axis {axis} is made for length {op.length}; the axis has {n}")
    lines = np.moveaxis(np.asarray(src, dtype=np.float64), axis, -1)
    return np.moveaxis(lines @ op.matrix().T, -1, axis)


def _run_pass(src, step, mode, cval, compute_dtype, out=None):
    """One pass: an FIR into `out` when given, else every kind into a new array."""
    if Mode(mode) != Mode.CONSTANT:
        cval = 0.0  # only constant mode reads it (a NaN cval must not reach the other modes)
    op = step.op
    if isinstance(op, IIR):
        return recursive_pass(src, step.axis, op, mode, cval)
    if isinstance(op, VaryingFIR):
        return varying_pass(src, step.axis, op)
    if isinstance(op, FIR):
        return fir_pass(src, step.axis, op, mode, cval, compute_dtype, out=out)
    raise TypeError(f"no NumPy pass for operator {op!r}")


def run_schedule(plan, image, results, temp_dtype, compute_dtype):
    """Run `plan`'s schedule on `image` into the float arrays `results` (one per plan result)."""
    sched = plan.schedule()
    buffer = schedule_buffers(image, results, temp_dtype, compute_dtype)

    for step in sched.steps:
        src, dst = buffer(step.src), buffer(step.dst)
        if not isinstance(step, Pass):
            scale_step(src, dst, step.store, step.scale)
            continue
        # scipy writes an FIR pass straight into its buffer (in place too)
        direct = isinstance(step.op, FIR) and step.store == WRITE and dst.dtype == compute_dtype
        value = _run_pass(src, step, plan.modes[step.axis], plan.cval, compute_dtype, out=dst if direct else None)
        if not direct:
            scale_step(value, dst, step.store, step.scale)
        elif step.scale != 1.0:
            dst *= dst.dtype.type(step.scale)
    if sched.sqrt_results:
        for r in results:
            np.sqrt(r, out=r)
    return results


def run_scipy_chain(plan, image, output):
    """An ``arithmetic="scipy"`` plan as scipy.ndimage runs its separable filters: one
    scipy 1-D filter per axis, into `output`'s dtype, in place from the second pass on."""
    term, axes = scipy_chain(plan)
    if not axes:  # scipy: output[...] = input, NumPy's assignment
        output[...] = image
        return output
    stored = np.empty(image.shape, output.dtype.newbyteorder("="))
    src = image
    for ax in axes:
        op, mode = term.ops[ax], SCIPY_MODES[Mode(plan.modes[ax])]
        cval = plan.cval if Mode(plan.modes[ax]) == Mode.CONSTANT else 0.0
        if op.kind == "moving_average":
            ndi.uniform_filter1d(src, op.size, ax, output=stored, mode=mode, cval=cval, origin=op.origin)
        elif op.divisor == 1.0:
            ndi.correlate1d(src, op.taps, ax, output=stored, mode=mode, cval=cval, origin=op.origin)
        else:
            raise NotImplementedError("arithmetic='scipy' runs taps without a divisor or moving averages")
        src = stored
    if stored.dtype == np.bool_:  # the bytes scipy wrote (2.0 is stored as 2): true where non-zero
        np.not_equal(stored.view(np.uint8), 0, out=output)
    else:
        np.copyto(output, stored, casting="unsafe")
    return output


def execute(plan, image, outputs, temp_dtype, compute_dtype):
    """Run `plan` on `image` (any layout) and store into `outputs` (arrays of its shape)."""
    if plan.arithmetic == "scipy":
        (out,) = outputs
        run_scipy_chain(plan, image, out)
        return outputs
    compute_dtype = np.dtype(compute_dtype)
    if image.dtype.newbyteorder("=") not in KERNEL_DTYPES:  # scipy reads float32/64 (float16 it refuses)
        image = image.astype(compute_dtype)
    if temp_dtype not in KERNEL_DTYPES:
        temp_dtype = compute_dtype
    results = [np.empty(image.shape, out.dtype if out.dtype in KERNEL_DTYPES else compute_dtype)
               for out in outputs]
    run_schedule(plan, image, results, temp_dtype, compute_dtype)
    for out, values in zip(outputs, results):
        cast_into(out, values)
    return outputs
