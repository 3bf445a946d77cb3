"""CUDA engine: runs any FilterPlan on CuPy arrays with the RawKernels in ``cuda/*.cu``.

Three kernels cover every plan (the CUDA sources say how each works):

- ``fused3d``: every term of a plan over the last three axes in one sweep (2.5-D tile in
  shared memory marching along z with a register queue): one read of the input, one
  write per output. Gaussians, LoG (three terms), gradient components, Hessians and
  wavelet levels with small radii go here;
- ``axis_strided``: one pass along a strided axis (coalesced warps, a register queue per
  thread walking down its column);
- ``axis_contiguous``: one pass along the contiguous axis (a shared-memory row segment
  with its halo, four outputs per thread).

Plans the fused kernel does not take (wide kernels, more than three operators on an axis,
different modes per axis, constant mode with a non-zero cval where the pass order
matters, integer-exact moving averages) run pass by pass from the plan's schedule.

Tap counts are bucketed (:data:`TAP_BUCKETS`, :data:`Z_BUCKETS`): the taps are arguments
and are zero-padded to the bucket, so a new sigma reuses a compiled kernel. Compiled
modules are memoised per (device, kernel name expression); the name expression holds
every specialisation key (kernel, dtype, bucket, mode).

All of the planning here (which kernel, launch geometry, the fused kernel's tables, slabs)
is plain Python on shapes and operators, testable without a GPU; the device itself is
reached through a small object (:class:`CupyDevice`) with ``empty``, ``launch`` and
friends. CuPy is imported only when a GPU run is asked for.
"""
from __future__ import annotations

import functools
import importlib.resources
import re
import time
from dataclasses import dataclass

import numpy as np

from .._validate import Mode
from ..kernels import IIR, VaryingFIR
from ..plan import ADD, ADD_SQUARE, ZERO, Pass
from .common import boundary_index, c_order_perm, cast_into, numba_import_error, recursive_extension, scale_step

__all__ = ["execute", "CudaUnavailableError", "TAP_BUCKETS", "Z_BUCKETS", "KERNELS", "instantiations",
           "kernel_source", "fused_spec", "pass_launch", "slab_plan", "run_plan", "compile_seconds"]

#: Compile-time tap counts of the per-axis kernels; longer operators use the ``*_any`` kernels.
TAP_BUCKETS = (3, 5, 7, 9, 13, 17, 25, 33, 49, 65)
#: Compile-time z windows (planes in the register queue) of the fused kernel.
Z_BUCKETS = (1, 3, 5, 7, 9, 13, 17)
#: Outputs per thread of the contiguous-axis kernel (``CONTIG_P`` in its source).
CONTIG_P = 4

_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
#: NVRTC options of every compile (the architecture is added by CuPy for the device).
COMPILE_OPTIONS = ("-std=c++17",)


class CudaUnavailableError(RuntimeError):
    """``backend='cuda'`` was asked for on a machine without CuPy or without a CUDA GPU."""


@dataclass(frozen=True)
class KernelSignature:
    """A kernel's source file, template parameters and argument C types (``T`` = dtype)."""

    source: str
    template: tuple
    args: tuple


KERNELS = {
    "axis_strided": KernelSignature(
        "axis_strided.cu", ("T", "K", "MODE"),
        ("const T*", "T*", "const T*", "int", "int", "long long", "long long", "int", "T", "int", "T", "T")),
    "axis_strided_any": KernelSignature(
        "axis_strided.cu", ("T", "MODE"),
        ("const T*", "T*", "const T*", "int", "int", "int", "long long", "long long", "int", "T", "int", "T",
         "T")),
    "axis_contiguous": KernelSignature(
        "axis_contiguous.cu", ("T", "K", "MODE"),
        ("const T*", "T*", "const T*", "int", "int", "long long", "T", "int", "T", "T")),
    "axis_contiguous_any": KernelSignature(
        "axis_contiguous.cu", ("T", "MODE"),
        ("const T*", "T*", "const T*", "int", "int", "int", "long long", "T", "int", "T", "T")),
    "axis_recursive": KernelSignature(
        "axis_recursive.cu", ("T", "MODE"),
        ("const T*", "T*", "double*", "const double*", "int", "int", "long long", "long long", "T", "int", "T")),
    "fused3d": KernelSignature(
        "fused3d.cu", ("T", "MODE", "KZ", "NP"),
        ("const T*", "T* const*", "const int*", "const T*", "long long")),
}


@functools.lru_cache(maxsize=None)
def kernel_source(filename):
    """The CUDA C of one kernel file with the shared header in front (no #include needed)."""
    root = importlib.resources.files(__package__) / "cuda"
    return (root / "common.cuh").read_text() + "\n" + (root / filename).read_text()


@functools.lru_cache(maxsize=None)
def source_defines(filename):
    """Integer ``#define NAME expr`` constants of a kernel source, evaluated in order."""
    values = {}
    for name, expr in re.findall(r"^#define\s+(\w+)\s+([^\n]+)$", kernel_source(filename), re.M):
        expr = expr.split("//")[0].strip()
        if not re.fullmatch(r"[\w\s+\-*/()]+", expr):
            continue
        try:
            values[name] = int(eval(expr, {"__builtins__": {}}, dict(values)))  # arithmetic on known names
        except (NameError, SyntaxError, TypeError):
            continue
    return values


def name_expression(kernel, dtype, *params):
    """``kernel<T, ...>``: the specialisation key of a launch."""
    return f"{kernel}<{', '.join([_CTYPES[np.dtype(dtype)], *map(str, params)])}>"


def instantiations():
    """Every name expression the dispatcher can ask for, by source file."""
    max_pairs = source_defines("fused3d.cu")["F3_MAXP"]
    out = {}
    for dtype in _CTYPES:
        for mode in Mode:
            m = int(mode)
            for k in TAP_BUCKETS:
                out.setdefault("axis_strided.cu", []).append(name_expression("axis_strided", dtype, k, m))
                out.setdefault("axis_contiguous.cu", []).append(name_expression("axis_contiguous", dtype, k, m))
            out["axis_strided.cu"].append(name_expression("axis_strided_any", dtype, m))
            out["axis_contiguous.cu"].append(name_expression("axis_contiguous_any", dtype, m))
            out.setdefault("axis_recursive.cu", []).append(name_expression("axis_recursive", dtype, m))
            for kz in Z_BUCKETS:
                for n_pairs in range(1, max_pairs + 1):
                    out.setdefault("fused3d.cu", []).append(name_expression("fused3d", dtype, m, kz, n_pairs))
    return out


def _bucket(size, buckets):
    for b in buckets:
        if size <= b:
            return b
    return None


# ---------------------------------------------------------------------------------------
# launches (plain data, so that the dispatch can be tested without a GPU)


@dataclass(frozen=True)
class Launch:
    kernel: str
    params: tuple  # template parameters after the dtype
    dtype: np.dtype
    grid: tuple
    block: tuple
    shared_bytes: int
    args: tuple

    @property
    def name_expression(self):
        return name_expression(self.kernel, self.dtype, *self.params)

    @property
    def source(self):
        return KERNELS[self.kernel].source


def _shape3(shape, axis):
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return outer, shape[axis], inner


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


#: Blocks per launch the geometry aims for (a few per SM of a large GPU).
TARGET_BLOCKS = 4 * 132
#: Shared memory a block may use without an opt-in (every CUDA GPU since sm_20).
DEFAULT_SHARED_BYTES = 48 * 1024


def pass_launch(shape, axis, op, mode, cval, store, scale, dtype, src, dst, taps,
                max_shared=DEFAULT_SHARED_BYTES):
    """The launch of one 1-D pass along `axis` of C-contiguous arrays of `shape`.

    `taps` is the device array of the operator's taps zero-padded to the bucket (see
    :func:`padded_taps`). Returns a :class:`Launch`.
    """
    dtype = np.dtype(dtype)
    t = dtype.type
    outer, n, inner = _shape3(shape, axis)
    k = _bucket(op.size, TAP_BUCKETS)
    tail = (t(cval), np.int32(store), t(scale), t(op.divisor))
    if inner == 1:
        rows = outer
        bx = min(128, _round_up(-(-n // CONTIG_P), 32))
        by = max(1, min(256 // bx, rows))
        size = k or op.size
        shared = by * (CONTIG_P * bx + size - 1) * dtype.itemsize
        if shared > max_shared and by > 1:
            by = 1
            shared = (CONTIG_P * bx + size - 1) * dtype.itemsize
        if shared <= max_shared:
            grid = (-(-n // (CONTIG_P * bx)), min(-(-rows // by), 65535), 1)
            if k:
                return Launch("axis_contiguous", (k, int(mode)), dtype, grid, (bx, by, 1), shared,
                              (src, dst, taps, np.int32(op.left), np.int32(n), np.int64(rows)) + tail)
            return Launch("axis_contiguous_any", (int(mode),), dtype, grid, (bx, by, 1), shared,
                          (src, dst, taps, np.int32(op.size), np.int32(op.left), np.int32(n), np.int64(rows))
                          + tail)
        # a kernel too wide for a shared row segment: the strided kernel takes any axis
    bx = min(128, _round_up(inner, 32))
    gx = -(-inner // bx)
    gz = min(outer, 65535)
    reach = k or op.size
    seg = n
    while gx * gz * -(-n // seg) < TARGET_BLOCKS and seg > max(16, 2 * reach):
        seg = -(-seg // 2)
    seg = max(seg, -(-n // 65535))
    grid = (gx, -(-n // seg), gz)
    if k:
        return Launch("axis_strided", (k, int(mode)), dtype, grid, (bx, 1, 1), 0,
                      (src, dst, taps, np.int32(op.left), np.int32(n), np.int64(inner), np.int64(outer),
                       np.int32(seg)) + tail)
    return Launch("axis_strided_any", (int(mode),), dtype, grid, (bx, 1, 1), 0,
                  (src, dst, taps, np.int32(op.size), np.int32(op.left), np.int32(n), np.int64(inner),
                   np.int64(outer), np.int32(seg)) + tail)


def recursive_launch(shape, axis, op, mode, cval, store, scale, dtype, src, dst, coef, work):
    """The launch of one IIR pass along `axis`: one thread per line.

    `coef` is the device copy of ``op.coef`` (float64) and `work` a float64 device array of
    at least :func:`recursive_work_size` elements.
    """
    dtype = np.dtype(dtype)
    t = dtype.type
    outer, n, inner = _shape3(shape, axis)
    ext, _ = recursive_extension(n, op, mode)
    lines = outer * inner
    block = 128
    grid = (-(-lines // block), 1, 1)
    return Launch("axis_recursive", (int(mode),), dtype, grid, (block, 1, 1), 0,
                  (src, dst, work, coef, np.int32(n), np.int32(ext), np.int64(inner), np.int64(outer),
                   t(cval), np.int32(store), t(scale)))


def recursive_work_size(shape, axis, op, mode):
    """float64 elements of scratch an IIR pass needs (the causal part of every extended line)."""
    outer, n, inner = _shape3(shape, axis)
    ext, _ = recursive_extension(n, op, mode)
    return outer * inner * (n + 2 * ext)


def padded_taps(op, dtype):
    """The operator's taps zero-padded on the right to its bucket (or as they are)."""
    k = _bucket(op.size, TAP_BUCKETS) or op.size
    taps = np.zeros(k, dtype)
    taps[:op.size] = op.taps
    return taps


# ---------------------------------------------------------------------------------------
# the fused kernel


@dataclass(frozen=True)
class FusedSpec:
    """Tables and geometry of one fused3d launch (all host-side)."""

    mode: int
    kz: int
    n_pairs: int
    meta: np.ndarray  # int32
    coef: np.ndarray  # float64, cast to the dtype at launch
    batch: int
    grid: tuple
    block: tuple
    shared_bytes: int
    n_outputs: int  # arrays written (1 with the sqrt combine)


#: Output tile of a fused block (threads in x, y).
FUSED_TILE = (32, 8)


def fused_spec(plan, shape, dtype, max_shared=DEFAULT_SHARED_BYTES):
    """The fused launch for `plan` on C-contiguous `shape`, or a string saying why not."""
    d = source_defines("fused3d.cu")
    ndim = len(shape)
    if ndim < 2:
        return "1-D input"
    axes = list(range(max(0, ndim - 3), ndim))  # (z,) y, x
    if plan.order_matters:
        return "constant mode with cval != 0 (the pass order matters)"
    terms = sorted(plan.terms(), key=lambda kt: kt[0])
    filtered = set()
    for _, term in terms:
        for ax, op in enumerate(term.ops):
            if op is None:
                continue
            if isinstance(op, IIR):
                return "a recursive (IIR) operator"
            if isinstance(op, VaryingFIR):
                return "a position-dependent operator (local fits)"
            if ax not in axes:
                return "an operator on an axis before the last three"
            if op.divisor != 1:
                return "an integer-exact moving average (divisor)"
            filtered.add(ax)
    if not filtered:
        return "no operator"
    modes = {int(plan.modes[ax]) for ax in filtered}
    if len(modes) > 1:
        return "different modes per axis"
    if len(terms) > d["F3_MAXTERMS"] or plan.n_results > d["F3_MAXTERMS"]:
        return "too many terms"
    if any(not out.terms for out in plan.outputs):
        return "an output without terms"
    z_ax = ndim - 3 if ndim >= 3 else None

    def filters(ax):
        found = {}
        for _, term in terms:
            op = None if ax is None else term.ops[ax]
            found.setdefault(None if op is None else op.key, op)
        return found

    per_axis = {}
    for name, ax in (("z", z_ax), ("y", ndim - 2), ("x", ndim - 1)):
        found = filters(ax)
        if len(found) > d["F3_MAXF"]:
            return f"more than {d['F3_MAXF']} operators on {name}"
        per_axis[name] = list(found.items())

    def reach(name):
        ops = [op for _, op in per_axis[name] if op is not None]
        return (max((op.left for op in ops), default=0), max((op.right for op in ops), default=0))

    (hzl, hzr), (hyl, hyr), (hxl, hxr) = reach("z"), reach("y"), reach("x")
    limit = (d["F3_MAXT"] - 1) // 2
    if max(hyl, hyr, hxl, hxr) > limit:
        return f"x or y reach above {limit}"
    kz = _bucket(hzl + hzr + 1, Z_BUCKETS)
    if kz is None:
        return f"z window above {Z_BUCKETS[-1]}"
    index = {name: {key: i for i, (key, _) in enumerate(ops)} for name, ops in per_axis.items()}
    pairs = []
    term_rows = []
    for k, term in terms:
        key = (lambda ax: None if ax is None or term.ops[ax] is None else term.ops[ax].key)
        fy, fx = index["y"][key(ndim - 2)], index["x"][key(ndim - 1)]
        if (fy, fx) not in pairs:
            pairs.append((fy, fx))
        term_rows.append((index["z"][key(z_ax)], pairs.index((fy, fx)), k, term.scale))
    if len(pairs) > d["F3_MAXP"]:
        return f"more than {d['F3_MAXP']} (y, x) operator pairs"

    meta = np.zeros(d["F3_META"], np.int32)
    coef = np.zeros(d["F3_COEF"], np.float64)
    nz = shape[z_ax] if z_ax is not None else 1
    ny, nx = shape[-2], shape[-1]
    batch = int(np.prod(shape[:-3], dtype=np.int64)) if ndim > 3 else 1
    for name, base_left, base_size, base_coef in (("x", "F3_FX_LEFT", "F3_FX_SIZE", "F3_X"),
                                                   ("y", "F3_FY_LEFT", "F3_FY_SIZE", "F3_Y")):
        for f, (_, op) in enumerate(per_axis[name]):
            taps, left = (np.ones(1), 0) if op is None else (op.taps, op.left)
            meta[d[base_left] + f] = left
            meta[d[base_size] + f] = taps.size
            coef[d[base_coef] + f * d["F3_MAXT"]: d[base_coef] + f * d["F3_MAXT"] + taps.size] = taps
    for f, (_, op) in enumerate(per_axis["z"]):
        taps, left = (np.ones(1), 0) if op is None else (op.taps, op.left)
        start = d["F3_Z"] + f * d["F3_MAXZ"] + hzl - left
        coef[start:start + taps.size] = taps
    for p, (fy, fx) in enumerate(pairs):
        meta[d["F3_PAIR_FY"] + p], meta[d["F3_PAIR_FX"] + p] = fy, fx
    for t, (fz, pair, out, scale) in enumerate(term_rows):
        meta[d["F3_TERM_FZ"] + t], meta[d["F3_TERM_PAIR"] + t], meta[d["F3_TERM_OUT"] + t] = fz, pair, out
        coef[d["F3_SCALE"] + t] = scale

    tx, ty = FUSED_TILE
    rows, cols = ty + hyl + hyr, tx + hxl + hxr
    shared = (d["F3_COEF"] + rows * cols + len(per_axis["x"]) * rows * tx) * np.dtype(dtype).itemsize
    if shared > max_shared:
        return f"needs {shared} bytes of shared memory (> {max_shared})"
    gx, gy = -(-nx // tx), -(-ny // ty)
    if gy > 65535:
        return "y axis too long for the grid"
    z_chunk = nz
    while gx * gy * -(-nz // z_chunk) * min(batch, 8) < TARGET_BLOCKS and z_chunk > max(8, 2 * kz):
        z_chunk = -(-z_chunk // 2)
    n_zchunks = -(-nz // z_chunk)
    if n_zchunks > 65535:
        return "z axis too long for the grid"
    meta[d["F3_NZ"]], meta[d["F3_NY"]], meta[d["F3_NX"]] = nz, ny, nx
    meta[d["F3_ZCHUNK"]], meta[d["F3_NZCHUNKS"]] = z_chunk, n_zchunks
    meta[d["F3_HZL"]] = hzl
    meta[d["F3_HYL"]], meta[d["F3_HYR"]], meta[d["F3_HXL"]], meta[d["F3_HXR"]] = hyl, hyr, hxl, hxr
    meta[d["F3_NFX"]] = len(per_axis["x"])
    meta[d["F3_NTERMS"]] = len(term_rows)
    meta[d["F3_NOUT"]] = len(plan.outputs)
    meta[d["F3_SQRT"]] = 1 if plan.combine == "sqrt_sum_squares" else 0
    grid = (gx, gy, n_zchunks * min(batch, 65535 // n_zchunks))
    return FusedSpec(modes.pop(), kz, len(pairs), meta, coef, batch, grid, (tx, ty, 1), shared,
                     plan.n_results)


# ---------------------------------------------------------------------------------------
# running a plan on a device


def run_plan(plan, image, results, temp_dtype, dtype, device, fused=True):
    """Run `plan` on the C-contiguous device array `image` into C-contiguous `results`.

    `results` have the compute `dtype`. Uses the fused kernel when the plan allows it
    (and `fused` is true), else the schedule pass by pass.
    """
    spec = fused_spec(plan, image.shape, dtype, device.max_shared) if fused else None
    if isinstance(spec, FusedSpec):
        outs = device.pointer_array(results[:spec.n_outputs])
        launch = Launch("fused3d", (spec.mode, spec.kz, spec.n_pairs), np.dtype(dtype), spec.grid, spec.block,
                        spec.shared_bytes,
                        (image, outs, device.to_device(spec.meta), device.to_device(spec.coef.astype(dtype)),
                         np.int64(spec.batch)))
        device.launch(launch)
        return results
    run_schedule(plan, image, results, temp_dtype, dtype, device)
    return results


def run_schedule(plan, image, results, temp_dtype, dtype, device):
    """The plan's schedule pass by pass on the device.

    The per-axis kernels cannot run in place (neighbouring blocks read the halo a block
    writes), so each logical buffer of the schedule is bound to a physical array and an
    in-place pass writes into a free array and rebinds: a chain of three in-place passes
    in a result ping-pongs between the result and one scratch array and ends in the
    result without a copy.
    """
    sched = plan.schedule()
    xp = device.xp
    bound = {("input",): image, ZERO: xp.zeros((), np.dtype(dtype))}
    homes = {}
    for k, r in enumerate(results):
        bound[("result", k)] = homes[("result", k)] = r
    spare = []

    def scratch(ref, dtype):
        """A free array for an in-place pass on `ref`: its own result array when free."""
        home = homes.get(ref)
        if home is not None and not any(v is home for v in bound.values()):
            return home
        for i, arr in enumerate(spare):
            if arr.dtype == dtype:
                return spare.pop(i)
        return device.empty(image.shape, dtype)

    def buffer(ref):
        if ref not in bound:  # a temporary, first stored into here
            bound[ref] = device.empty(image.shape, np.dtype(temp_dtype))
        return bound[ref]

    for step in sched.steps:
        src = buffer(step.src)
        if isinstance(step, Pass) and isinstance(step.op, VaryingFIR):
            # a small dense matrix along the axis (cuBLAS); the product is a new array, so
            # in place is fine
            varying_pass(xp, src, buffer(step.dst), step.axis, step.op, step.store, step.scale)
            continue
        if step.dst == step.src and isinstance(step, Pass):
            dst = scratch(step.dst, src.dtype)
            if step.store in (ADD, ADD_SQUARE):
                xp.copyto(dst, src)
            device.launch(_pass(plan, step, src, dst, dtype, device))
            bound[step.dst] = dst
            if not any(src is h for h in homes.values()):  # a result's own array waits for its result
                spare.append(src)
            continue
        dst = buffer(step.dst)
        if isinstance(step, Pass):
            device.launch(_pass(plan, step, src, dst, dtype, device))
        else:
            scale_step(src, dst, step.store, step.scale, xp)
    for k, r in enumerate(results):
        if bound[("result", k)] is not r:
            xp.copyto(r, bound[("result", k)])
    if sched.sqrt_results:
        for r in results:
            xp.sqrt(r, out=r)


def varying_pass(xp, src, dst, axis, op, store, scale):
    """A :class:`~sep3d.kernels.VaryingFIR` along `axis` as its dense matrix (``xp``: the array module)."""
    if src.shape[axis] != op.length:
        raise ValueError(f"the operator on axis {axis} is made for length {op.length}; the axis has "
                         f"{src.shape[axis]}")
    matrix = xp.asarray(op.matrix().astype(src.dtype))
    product = xp.moveaxis(xp.tensordot(matrix, src, axes=([1], [axis])), 0, axis)
    scale_step(product, dst, store, scale, xp)


def _pass(plan, step, src, dst, dtype, device):
    mode = plan.modes[step.axis]
    cval = plan.cval if mode == Mode.CONSTANT else 0.0  # a NaN cval must not reach the other modes
    if isinstance(step.op, IIR):
        work = device.empty((recursive_work_size(src.shape, step.axis, step.op, mode),), np.dtype(np.float64))
        coef = device.to_device(np.array(step.op.coef))
        return recursive_launch(src.shape, step.axis, step.op, mode, cval, step.store, step.scale, dtype,
                                src, dst, coef, work)
    taps = device.to_device(padded_taps(step.op, dtype))
    return pass_launch(src.shape, step.axis, step.op, mode, cval, step.store, step.scale,
                       dtype, src, dst, taps, device.max_shared)


# ---------------------------------------------------------------------------------------
# slabs: a volume too big for the device, along its slowest axis


@dataclass(frozen=True)
class Slab:
    """Output rows ``[start, stop)`` of axis 0, computed from input rows ``rows`` (remapped,
    -1 = cval), of which the result rows are ``[crop, crop + stop - start)``."""

    start: int
    stop: int
    rows: np.ndarray
    crop: int


def slab_plan(n, halo, row_bytes, budget_bytes, mode):
    """Split axis 0 (length `n`, `halo` = (left, right) reach) into slabs that fit.

    `row_bytes` is the device memory one row of a slab needs (input, results and
    temporaries together); `budget_bytes` what may be used. Raises MemoryError when not
    even a single output row with its halo fits.
    """
    left, right = halo
    rows_fit = budget_bytes // max(1, row_bytes)
    per_slab = rows_fit - left - right
    if per_slab < 1:
        raise MemoryError(
            f"the GPU has room for {rows_fit} rows of the slowest axis but one output row needs "
            f"{left + right + 1} (the filter's reach); use backend='cpu' or a dask array")
    count = -(-n // per_slab)
    per_slab = -(-n // count)  # even slabs
    idx = boundary_index(n, left, left + right + 1, int(mode))  # index t: position t - left
    slabs = []
    for start in range(0, n, per_slab):
        stop = min(n, start + per_slab)
        slabs.append(Slab(start, stop, idx[start:stop + left + right], left))
    return slabs


# ---------------------------------------------------------------------------------------
# the device


class CupyDevice:
    """The current CuPy device: allocation, transfers, compiled-module memo, launches."""

    def __init__(self):
        import cupy

        self.xp = cupy
        self._cupy = cupy
        self.oom_error = cupy.cuda.memory.OutOfMemoryError
        self.id = cupy.cuda.runtime.getDevice()
        attrs = cupy.cuda.runtime.getDeviceProperties(self.id)
        self.max_shared = int(attrs.get("sharedMemPerBlock", DEFAULT_SHARED_BYTES))
        self.name = attrs["name"].decode() if isinstance(attrs["name"], bytes) else str(attrs["name"])

    def empty(self, shape, dtype):
        return self._cupy.empty(shape, dtype)

    def to_device(self, host):
        return self._cupy.asarray(host)

    def to_host(self, arr):
        return arr.get()  # sync

    def is_host(self, arr):
        return isinstance(arr, np.ndarray)

    def pointer_array(self, arrays):
        return self._cupy.asarray(np.array([a.data.ptr for a in arrays], np.uint64))

    def free_bytes(self):
        free, _ = self._cupy.cuda.runtime.memGetInfo()  # sync
        pool = self._cupy.get_default_memory_pool()
        return free + pool.free_bytes()

    def release_cache(self):
        self._cupy.get_default_memory_pool().free_all_blocks()

    def launch(self, launch):
        fn = _function(self.id, launch.source, launch.name_expression)
        fn(launch.grid, launch.block, launch.args, shared_mem=launch.shared_bytes)


_compile_log = {}


def compile_seconds():
    """Seconds spent compiling each kernel specialisation in this process (name -> s)."""
    return dict(_compile_log)


@functools.lru_cache(maxsize=None)
def _function(device_id, source, name):
    import cupy

    start = time.perf_counter()
    module = cupy.RawModule(code=kernel_source(source), options=COMPILE_OPTIONS, name_expressions=(name,))
    fn = module.get_function(name)  # compiles (or loads CuPy's on-disk cache)
    _compile_log[name] = time.perf_counter() - start
    return fn


@functools.lru_cache(maxsize=1)
def _probe():
    """The CupyDevice, or the reason there is none (probed once per process)."""
    try:
        import cupy
    except ImportError as exc:
        return f"CuPy is not installed ({exc}); install sep3d[gpu]"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing: CuPy raises its own runtime errors
        return f"no CUDA driver or GPU is available ({exc})"
    if count < 1:
        return "no CUDA GPU is visible"
    return CupyDevice()


def device():
    """The current GPU as a :class:`CupyDevice`; CudaUnavailableError if there is none."""
    found = _probe()
    if isinstance(found, str):
        host = "backend='cpu'" if numba_import_error() is None else "backend='numpy' (numba cannot be imported)"
        raise CudaUnavailableError(f"`backend='cuda'` needs a CUDA GPU: {found}; use {host}")
    return found


# ---------------------------------------------------------------------------------------
# layout, transfers and memory around run_plan


def execute(plan, image, outputs, temp_dtype, compute_dtype, dev=None):
    """Run `plan` on `image` (CuPy or NumPy, any layout) into `outputs` (of the same kind).

    NumPy inputs are moved to the GPU and the results back. A volume whose working set
    does not fit in free device memory is processed in slabs along its slowest axis with
    the halo the plan needs; a CuPy input whose results do not fit raises MemoryError.
    `dev` defaults to the current GPU (tests pass an emulated one).
    """
    dev = dev or device()
    xp = dev.xp
    dtype = np.dtype(compute_dtype)
    temp_dtype = dtype if np.dtype(temp_dtype) not in _CTYPES else np.dtype(temp_dtype)
    on_host = dev.is_host(image)
    perm = c_order_perm(image)
    if perm is None:
        image = (np.ascontiguousarray if on_host else xp.ascontiguousarray)(image)
        perm = tuple(range(image.ndim))
    work_image = image.transpose(perm)
    work_plan = plan if perm == tuple(range(image.ndim)) else plan.transpose(perm)
    inverse = tuple(np.argsort(perm))
    n_work = len(outputs) + work_plan.schedule().n_temps + (1 if on_host or work_image.dtype != dtype else 0)
    need = work_image.size * dtype.itemsize * (n_work + 1)

    def direct(out):
        """`out` seen in the working layout, when the kernels may write into it."""
        if on_host or out.dtype != dtype:
            return None
        view = out.transpose(perm)
        if not view.flags.c_contiguous or xp.may_share_memory(out, image):
            return None
        return view

    results = None
    views = [direct(out) for out in outputs]
    if need < 0.8 * dev.free_bytes():
        try:
            src = _to_compute(xp, work_image, dtype)
            results = [dev.empty(work_image.shape, dtype) if v is None else v for v in views]
            run_plan(work_plan, src, results, temp_dtype, dtype, dev)
        except dev.oom_error:
            results = None
            dev.release_cache()
    if results is None:
        results = _run_slabs(work_plan, work_image, len(outputs), temp_dtype, dtype, dev, on_host)
    for out, res, view in zip(outputs, results, views):
        if res is view:
            continue  # the kernels wrote into the output itself
        res = res.transpose(inverse)
        if on_host:
            cast_into(out, dev.to_host(res))  # sync
        else:
            cast_into(out, res, xp)
    return outputs


def _to_compute(xp, work_image, dtype):
    arr = xp.asarray(work_image)
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    return xp.ascontiguousarray(arr)


def _run_slabs(plan, image, n_outputs, temp_dtype, dtype, dev, on_host):
    """Run the plan slab by slab along axis 0; results on the host for host input."""
    xp = dev.xp
    sched = plan.schedule()
    if plan.order_matters and plan.modes[0] == Mode.CONSTANT and sched.passes and sched.passes[0].axis != 0:
        raise MemoryError("the volume does not fit on the GPU and this plan (constant mode with cval != 0, "
                          "axis 0 not filtered first) cannot run in slabs; use backend='cpu'")
    row_elems = int(np.prod(image.shape[1:], dtype=np.int64))
    per_row = row_elems * dtype.itemsize * (2 + n_outputs + sched.n_temps)
    lib = np if on_host else xp
    try:
        results = [lib.empty(image.shape, dtype) for _ in range(n_outputs)]
    except dev.oom_error:
        need = n_outputs * image.size * dtype.itemsize
        raise MemoryError(f"the {n_outputs} result array(s) of this filter ({need / 2**30:.2f} GiB) do not fit "
                          "on the GPU; pass a NumPy array with backend='cuda' (processed in slabs) or use "
                          "backend='cpu'") from None
    budget = int(0.7 * dev.free_bytes())
    for slab in slab_plan(image.shape[0], plan.halo[0], per_row, budget, plan.modes[0]):
        valid = slab.rows >= 0
        part = lib.empty((slab.rows.size,) + image.shape[1:], image.dtype)
        part[lib.asarray(valid)] = image[lib.asarray(slab.rows[valid])]
        part[lib.asarray(~valid)] = plan.cval
        src = _to_compute(xp, part, dtype)
        outs = [dev.empty(src.shape, dtype) for _ in range(n_outputs)]
        run_plan(plan, src, outs, temp_dtype, dtype, dev)
        for res, out in zip(results, outs):
            piece = out[slab.crop:slab.crop + slab.stop - slab.start]
            res[slab.start:slab.stop] = dev.to_host(piece) if on_host else piece  # sync
        del src, outs
    return results
