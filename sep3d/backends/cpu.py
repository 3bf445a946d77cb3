"""CPU engine: runs any FilterPlan on NumPy arrays with Numba-compiled parallel kernels.

Every pass filters one axis of a C-contiguous array seen as ``(outer, n, inner)``:

- the last axis (``inner == 1``) goes line by line: each line is copied once into a
  padded buffer with its boundary extension, then the taps sweep the buffer with the
  contiguous index innermost (vectorised);
- any other axis goes panel by panel: a ``(n + K - 1, block)`` panel of columns is copied
  with its boundary rows, then each output row is a sum of K panel rows, vectorised over
  the contiguous block;
- a recursive (IIR) operator runs as four second-order sections over a panel of columns
  (lines along the contiguous axis are transposed in 8 x 8 tiles first), each started
  from its exact state before the edge (:func:`_section_boundaries`), so no mode extends
  the lines.

Both copy their input before writing, so a pass may run in place (``src is dst``); the
plan's schedule uses that to build a chain of passes in the result array itself.
Boundary indices come from one helper (:func:`boundary_index`), computed once per pass.
Symmetric and antisymmetric taps (Gaussians and their derivatives) use half the
multiplies. The kernels let LLVM contract multiply-adds into FMA instructions
(``fastmath={"contract"}``, nothing else: NaN and infinity keep IEEE semantics), which
rounds once where mul + add rounds twice.
"""
from __future__ import annotations

import functools
import os
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from .._validate import Mode
from ..kernels import FIR, IIR, VaryingFIR, section_response
from ..plan import ADD, ADD_SQUARE, WRITE, WRITE_SQUARE, Pass

__all__ = ["execute", "boundary_index", "set_num_threads", "get_num_threads", "KERNEL_DTYPES"]

#: Result and temporary dtypes the kernels store directly. Other results (integers, bool,
#: float16) are computed in float and cast once at the end: integers are truncated toward
#: zero and wrap like a C cast, as scipy.ndimage's are, but without rounding the
#: intermediate passes.
KERNEL_DTYPES = frozenset((np.dtype(np.float32), np.dtype(np.float64)))


_threads = {"n": os.cpu_count() or 1, "pool": None, "pid": None}


def set_num_threads(n):
    """Set how many threads the CPU kernels use (default: the cores of the machine)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"`n` must be a positive int; got {n!r}")
    if n < 1:
        raise ValueError(f"`n` must be a positive int; got {n!r}")
    with _pool_lock:
        if int(n) != _threads["n"] and _threads["pool"] is not None:
            _threads["pool"].shutdown(wait=False)
            _threads["pool"] = None
        _threads["n"] = int(n)


def get_num_threads():
    """How many threads the CPU kernels use (in this thread: see :func:`thread_limit`)."""
    return getattr(_local, "n", None) or _threads["n"]


_local = threading.local()


@contextlib.contextmanager
def thread_limit(n):
    """Run the CPU kernels called from this thread on at most `n` threads (1: inline).

    Chunked runs use it: when a dask scheduler already runs one task per core, each
    task's kernels run inline in its own thread instead of handing work to the pool.
    """
    previous = getattr(_local, "n", None)
    _local.n = max(1, min(int(n), _threads["n"]))
    try:
        yield
    finally:
        _local.n = previous


_pool_lock = threading.Lock()

if os.environ.get("SEP3D_NUM_THREADS"):
    set_num_threads(int(os.environ["SEP3D_NUM_THREADS"]))


def _parallel(count, threads, work):
    """Run ``work(start, stop)`` over ``range(count)`` split into chunks on the thread pool.

    The kernels release the GIL, so chunks run truly in parallel. Chunks are a few per
    thread for balance; one thread or little work runs inline.
    """
    n_chunks = min(count, 4 * threads)
    if threads == 1 or n_chunks == 1:
        work(0, count)
        return
    with _pool_lock:
        # a pool inherited through fork() has no threads in the child: make a new one
        if _threads["pool"] is None or _threads["pid"] != os.getpid():
            _threads["pool"] = ThreadPoolExecutor(threads, thread_name_prefix="sep3d")
            _threads["pid"] = os.getpid()
        pool = _threads["pool"]
    per = -(-count // n_chunks)
    futures = [pool.submit(work, a, min(count, a + per)) for a in range(0, count, per)]
    for f in futures:
        f.result()


# ---------------------------------------------------------------------------------------
# boundary handling: one helper, scipy.ndimage's extension rules for every mode


@functools.lru_cache(maxsize=256)
def boundary_index(n, left, size, mode):
    """Source index of every sample of a padded line, or -1 where the value is `cval`.

    The padded line has ``n + size - 1`` samples; sample ``t`` stands for position
    ``t - left`` of the axis. Reflect (half-sample symmetric), mirror (whole-sample),
    nearest, wrap and constant follow scipy.ndimage, also when the reach exceeds `n`
    (the extension repeats periodically).
    """
    t = np.arange(n + size - 1, dtype=np.int64) - left
    mode = Mode(mode)
    if mode == Mode.REFLECT:
        t = np.mod(t, 2 * n)
        t = np.where(t >= n, 2 * n - 1 - t, t)
    elif mode == Mode.MIRROR:
        if n == 1:
            t = np.zeros_like(t)
        else:
            t = np.mod(t, 2 * n - 2)
            t = np.where(t >= n, 2 * n - 2 - t, t)
    elif mode == Mode.NEAREST:
        t = np.clip(t, 0, n - 1)
    elif mode == Mode.WRAP:
        t = np.mod(t, n)
    else:  # constant
        t = np.where((t < 0) | (t >= n), -1, t)
    t.setflags(write=False)
    return t


# ---------------------------------------------------------------------------------------
# kernels


# Inner loops index arrays with the bare range variable (slices, not ``buf[i + j]``):
# Numba then drops its negative-index handling and LLVM vectorises the loop (5x here).


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
def _store(dst, acc, count, store, scale, divisor):
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


@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_lines(src, dst, w, idx, left, cval, sym, store, scale, divisor, start, stop):
    """Filter lines start..stop along the last axis of (lines, n) arrays; in place is allowed."""
    n = src.shape[1]
    buf = np.empty(idx.shape[0], w.dtype)
    acc = np.empty(n, w.dtype)
    for line in range(start, stop):
        _fill(buf, src[line], idx, left, n, cval)
        _correlate(acc, buf, w, sym, n)
        _store(dst[line], acc, n, store, scale, divisor)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _load_panel(panel, src, o, idx, b0, width, cval):
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
        _load_panel(panel, src, o, idx, b0, width, cval)
        for i in range(n):
            _correlate_rows(acc, panel, i, w, sym, width)
            _store(dst[o, i, b0:b0 + width], acc, width, store, scale, divisor)


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
                _store(panel[t], acc_x, nx, 0, one, div_x)
            else:
                prow = panel[t]
                for b in range(nx):
                    prow[b] = cval
        for i in range(ny):
            _correlate_rows(acc, panel, i, wy, sym_y, nx)
            _store(dst[o, i], acc, nx, store, scale, div_y)


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


@njit(cache=True, nogil=True, fastmath={"contract"})
def _recursive_columns(panel, fwd, back, c, width):
    """The IIR `c` down the columns ``[:width]`` of `panel` (float64, one extended line per column).

    `fwd` gets the causal and `back` the anticausal part; each recursion starts in the
    steady state of a constant extension by the edge sample (ITK's boundary coefficients).
    Two-index loads on a few arrays (not row views) keep the column loops vectorised.
    """
    m = panel.shape[0]
    n0, n1, n2, n3 = c[0], c[1], c[2], c[3]
    d1, d2, d3, d4 = c[4], c[5], c[6], c[7]
    m1, m2, m3, m4 = c[8], c[9], c[10], c[11]
    bn1, bn2, bn3, bn4 = c[12], c[13], c[14], c[15]
    bm1, bm2, bm3, bm4 = c[16], c[17], c[18], c[19]
    for b in range(width):  # the first four outputs: the edge value stands in before the line
        v = panel[0, b]
        a0 = v * n0 + v * n1 + v * n2 + v * n3 - (v * bn1 + v * bn2 + v * bn3 + v * bn4)
        a1 = panel[1, b] * n0 + v * n1 + v * n2 + v * n3 - (a0 * d1 + v * bn2 + v * bn3 + v * bn4)
        a2 = panel[2, b] * n0 + panel[1, b] * n1 + v * n2 + v * n3 - (a1 * d1 + a0 * d2 + v * bn3 + v * bn4)
        a3 = (panel[3, b] * n0 + panel[2, b] * n1 + panel[1, b] * n2 + v * n3
              - (a2 * d1 + a1 * d2 + a0 * d3 + v * bn4))
        fwd[0, b] = a0
        fwd[1, b] = a1
        fwd[2, b] = a2
        fwd[3, b] = a3
    for t in range(4, m):
        t1, t2, t3, t4 = t - 1, t - 2, t - 3, t - 4
        for b in range(width):
            fwd[t, b] = ((panel[t, b] * n0 + panel[t1, b] * n1 + panel[t2, b] * n2 + panel[t3, b] * n3)
                         - (fwd[t1, b] * d1 + fwd[t2, b] * d2 + fwd[t3, b] * d3 + fwd[t4, b] * d4))
    e = m - 1
    for b in range(width):  # anticausal, from the far end
        v = panel[e, b]
        a0 = v * m1 + v * m2 + v * m3 + v * m4 - (v * bm1 + v * bm2 + v * bm3 + v * bm4)
        a1 = v * m1 + v * m2 + v * m3 + v * m4 - (a0 * d1 + v * bm2 + v * bm3 + v * bm4)
        a2 = panel[e - 1, b] * m1 + v * m2 + v * m3 + v * m4 - (a1 * d1 + a0 * d2 + v * bm3 + v * bm4)
        a3 = (panel[e - 2, b] * m1 + panel[e - 1, b] * m2 + v * m3 + v * m4
              - (a2 * d1 + a1 * d2 + a0 * d3 + v * bm4))
        back[e, b] = a0
        back[e - 1, b] = a1
        back[e - 2, b] = a2
        back[e - 3, b] = a3
    for t in range(m - 5, -1, -1):
        t1, t2, t3, t4 = t + 1, t + 2, t + 3, t + 4
        for b in range(width):
            back[t, b] = ((panel[t1, b] * m1 + panel[t2, b] * m2 + panel[t3, b] * m3 + panel[t4, b] * m4)
                          - (back[t1, b] * d1 + back[t2, b] * d2 + back[t3, b] * d3 + back[t4, b] * d4))


@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_recursive(src, dst, c, idx, ext, cval, store, scale, block, start, stop):
    """An IIR along the middle axis of (outer, n, inner) views, panels start..stop.

    Panel ``task`` covers columns ``(task % n_blocks) * block`` onwards of slab
    ``task // n_blocks``. The views may be strided (a line axis that is contiguous in
    memory is seen as (1, n, lines)). In place is allowed (a panel is read whole first).
    """
    _, n, inner = src.shape
    m = idx.shape[0]
    n_blocks = (inner + block - 1) // block
    panel = np.empty((m, block), np.float64)
    fwd = np.empty((m, block), np.float64)
    back = np.empty((m, block), np.float64)
    row = np.empty(block, np.float64)
    for task in range(start, stop):
        o = task // n_blocks
        b0 = (task % n_blocks) * block
        width = min(block, inner - b0)
        _load_panel(panel, src, o, idx, b0, width, cval)
        _recursive_columns(panel, fwd, back, c, width)
        for i in range(n):
            t = ext + i
            for b in range(width):
                row[b] = fwd[t, b] + back[t, b]
            _store(dst[o, i, b0:b0 + width], row, width, store, scale, 1.0)


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
        _load_panel(panel, src, o, idx, b0, width, 0.0)
        for i in range(n):
            s = starts[i]
            w0 = w[i, 0]
            for b in range(width):
                acc[b] = w0 * panel[s, b]
            for k in range(1, size):
                wk = w[i, k]
                for b in range(width):
                    acc[b] += wk * panel[s + k, b]
            _store(dst[o, i, b0:b0 + width], acc, width, store, scale, 1.0)


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
    block = _panel_block(outer, n, inner, 1, w.itemsize, threads)
    tasks = outer * -(-inner // block)
    idx = np.arange(n, dtype=np.int64)
    dt = w.dtype.type
    _parallel(tasks, threads, lambda a, b: _pass_varying(
        s3, d3, w, op.starts, idx, store, dt(scale), block, a, b))


# ---------------------------------------------------------------------------------------
# dense N-D correlation (method='direct' of sep3d.convolve)


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
    _parallel(tasks, get_num_threads(), lambda a, b: _pass_dense(e2, o2, rows, shifts, taps, bases, block, a, b))


#: float32 data recurses in float32 sections while the operator's rounding bound
#: (:attr:`~sep3d.kernels.IIR.float32_error`) stays below this fraction of the data's
#: scale -- a twentieth or less of Deriche's own approximation error (~2e-4 of the peak
#: for the smoothing kernel) -- and in float64 beyond (wide sigmas).
IIR_FLOAT32_ERROR = 2e-5


@njit(cache=True, nogil=True, fastmath={"contract"})
def _section(X, Y, p0, p1, a1, a2, y1, y2, xm, width):
    """``Y[t] = p0 X[t] + p1 X[t-1] - a1 Y[t-1] - a2 Y[t-2]`` down the rows of X (columns ``:width``).

    The rows before the first are given: ``y1`` = Y[-1], ``y2`` = Y[-2], ``xm`` = X[-1].
    One section per loop: one written row against four read rows, which LLVM vectorises.
    """
    m = X.shape[0]
    x0 = X[0]
    r0 = Y[0]
    for b in range(width):
        r0[b] = (p0 * x0[b] + p1 * xm[b]) - (a1 * y1[b] + a2 * y2[b])
    if m > 1:
        x1 = X[1]
        r1 = Y[1]
        for b in range(width):
            r1[b] = (p0 * x1[b] + p1 * x0[b]) - (a1 * r0[b] + a2 * y1[b])
    for t in range(2, m):
        xt = X[t]
        xp = X[t - 1]
        yt = Y[t]
        ya = Y[t - 1]
        yb = Y[t - 2]
        for b in range(width):
            yt[b] = (p0 * xt[b] + p1 * xp[b]) - (a1 * ya[b] + a2 * yb[b])


@njit(cache=True, nogil=True, fastmath={"contract"})
def _boundary_states(P, I, wi, wv, wn, bias, cval, width):
    """The rows before each section's first: ``I[j] = sum_k wv[j, k] P[wi[j, k]] + bias[j] * cval``.

    Rows j = 2s, 2s + 1 are Y[-1], Y[-2] of section s (causal 0, 1; anticausal 2, 3).
    Four rows of P per sweep of ``I[j]``: the loads, not the multiply-adds, bound it.
    """
    for j in range(wn.shape[0]):
        out = I[j]
        c = bias[j] * cval
        for b in range(width):
            out[b] = c
        count = wn[j]
        k = 0
        while k + 4 <= count:
            w0, w1, w2, w3 = wv[j, k], wv[j, k + 1], wv[j, k + 2], wv[j, k + 3]
            r0, r1, r2, r3 = P[wi[j, k]], P[wi[j, k + 1]], P[wi[j, k + 2]], P[wi[j, k + 3]]
            for b in range(width):
                out[b] += (w0 * r0[b] + w1 * r1[b]) + (w2 * r2[b] + w3 * r3[b])
            k += 4
        while k < count:
            w = wv[j, k]
            row = P[wi[j, k]]
            for b in range(width):
                out[b] += w * row[b]
            k += 1


@njit(cache=True, nogil=True, fastmath={"contract"})
def _edge_row(out, P, j, cval, width):
    """Row ``j`` of the line (or `cval` where j is -1) into `out`."""
    if j >= 0:
        row = P[j]
        for b in range(width):
            out[b] = row[b]
    else:
        for b in range(width):
            out[b] = cval


@njit(cache=True, nogil=True, fastmath={"contract"})
def _sections_panel(P, Q, W, I, sec, wi, wv, wn, bias, edges, cval, width):
    """The IIR as four sections over a panel of columns.

    P holds the line (rows 0..n-1) and Q the anticausal input reversed and shifted
    (``Q[s]`` = x[n - s] for s >= 1; row 0, x[n], is filled here). The causal sections
    write ``W[0]``, ``W[1]`` in line order, the anticausal ones ``W[2]``, ``W[3]`` in Q
    order: the output at t is ``W0[t] + W1[t] + W2[n-1-t] + W3[n-1-t]``. `edges` = the
    source rows of x[-1], x[n], x[n + 1] (-1: `cval`).
    """
    _boundary_states(P, I, wi, wv, wn, bias, cval, width)
    _edge_row(I[8], P, edges[0], cval, width)  # x[-1]
    _edge_row(Q[0], P, edges[1], cval, width)  # x[n]
    _edge_row(I[9], P, edges[2], cval, width)  # x[n + 1]
    for k in range(2):
        _section(P, W[k], sec[k, 0], sec[k, 1], sec[k, 2], sec[k, 3], I[2 * k], I[2 * k + 1], I[8], width)
    for k in range(2, 4):
        _section(Q, W[k], sec[k, 0], sec[k, 1], sec[k, 2], sec[k, 3], I[2 * k], I[2 * k + 1], I[9], width)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _sum_sections(W, t, acc, width):
    """The output row t of the panel: the two causal sections plus the two anticausal ones."""
    n = W.shape[1] - 1
    c0 = W[0, t]
    c1 = W[1, t]
    a0 = W[2, n - 1 - t]
    a1 = W[3, n - 1 - t]
    for b in range(width):
        acc[b] = (c0[b] + c1[b]) + (a0[b] + a1[b])


@njit(cache=True, nogil=True, fastmath={"contract"})
def _sum_sections_into(W, t, out, scale, width):
    """:func:`_sum_sections` times `scale` written straight into `out` (the WRITE store)."""
    n = W.shape[1] - 1
    c0 = W[0, t]
    c1 = W[1, t]
    a0 = W[2, n - 1 - t]
    a1 = W[3, n - 1 - t]
    for b in range(width):
        out[b] = scale * ((c0[b] + c1[b]) + (a0[b] + a1[b]))


@njit(cache=True, nogil=True)
def _section_workspace(n, w, dt):
    """P, Q, W (4 x (n + 1) x w) and I (10 x w), P and Q staggered by a cache line.

    Panels of a power-of-two size would otherwise start on the same cache sets.
    """
    size = n * w + 16
    flat = np.empty(2 * size + 10 * w, dt)
    P = flat[:n * w].reshape((n, w))
    Q = flat[size:size + n * w].reshape((n, w))
    W = np.empty((4, n + 1, w), dt)  # n + 1 rows: the four panels start on different cache sets
    I = flat[2 * size:2 * size + 10 * w].reshape((10, w))
    return P, Q, W, I


@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_sections(src, dst, sec, wi, wv, wn, bias, edges, cval, store, scale, block, start, stop):
    """The IIR (as sections) along the middle axis of (outer, n, inner) views, panels start..stop.

    Panel ``task`` covers columns ``(task % n_blocks) * block`` onwards of slab
    ``task // n_blocks``. In place is allowed (the panel is read whole first).
    """
    _, n, inner = src.shape
    dt = sec.dtype
    n_blocks = (inner + block - 1) // block
    w = block + 8
    P, Q, W, I = _section_workspace(n, w, dt)
    acc = np.empty(w, dt)
    for task in range(start, stop):
        o = task // n_blocks
        b0 = (task % n_blocks) * block
        width = min(block, inner - b0)
        for t in range(n):
            row = src[o, t, b0:b0 + width]
            pr = P[t]
            for b in range(width):
                pr[b] = row[b]
            if t > 0:
                qr = Q[n - t]
                for b in range(width):
                    qr[b] = row[b]
        _sections_panel(P, Q, W, I, sec, wi, wv, wn, bias, edges, cval, width)
        for t in range(n):
            if store == 0:
                _sum_sections_into(W, t, dst[o, t, b0:b0 + width], scale, width)
            else:
                _sum_sections(W, t, acc, width)
                _store(dst[o, t, b0:b0 + width], acc, width, store, scale, 1.0)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _pass_sections_lines(src, dst, sec, wi, wv, wn, bias, edges, cval, store, scale, block, start, stop):
    """The IIR (as sections) along the last axis of (lines, n) arrays, `block` lines per panel.

    The lines are transposed into a panel (one line per column), filtered as columns and
    transposed back. In place is allowed.
    """
    lines, n = src.shape
    dt = sec.dtype
    w = block + 8
    P, Q, W, I = _section_workspace(n, w, dt)
    out = np.empty((n, w), dt)
    line_out = np.empty(n, dt)
    for task in range(start, stop):
        l0 = task * block
        width = min(block, lines - l0)
        for b0 in range(0, width, 8):  # transpose in 8 x 8 tiles: both sides stay in L1
            b1 = min(b0 + 8, width)
            for t0 in range(0, n, 8):
                t1 = min(t0 + 8, n)
                for b in range(b0, b1):
                    line = src[l0 + b]
                    for t in range(t0, t1):
                        P[t, b] = line[t]
        for t in range(1, n):
            pr = P[t]
            qr = Q[n - t]
            for b in range(width):
                qr[b] = pr[b]
        _sections_panel(P, Q, W, I, sec, wi, wv, wn, bias, edges, cval, width)
        for t in range(n):
            _sum_sections(W, t, out[t], width)
        if store == 0:
            for b0 in range(0, width, 8):
                b1 = min(b0 + 8, width)
                for t0 in range(0, n, 8):
                    t1 = min(t0 + 8, n)
                    for b in range(b0, b1):
                        line = dst[l0 + b]
                        for t in range(t0, t1):
                            line[t] = scale * out[t, b]
        else:
            for b in range(width):
                for t in range(n):
                    line_out[t] = out[t, b]
                _store(dst[l0 + b], line_out, n, store, scale, 1.0)


@functools.lru_cache(maxsize=256)
def _section_boundaries(op, n, mode):
    """Weights giving each section's two states before its first row from the line (and cval).

    A causal section's state ``Y[-1 - j] = sum_i h[i] x[-1 - j - i]`` over the extension of
    the line by `mode`, ``h`` the section's impulse response, up to the operator's reach;
    the mass beyond (``sum h`` is exact: (p0 + p1) / (1 + a1 + a2)) goes to the sample at
    the reach, so that ``nearest`` is the exact steady state of ITK's initialisation. The
    anticausal sections read x[n + 1 + j + i] the same way. Returns (indices, weights,
    counts, cval weights, edge rows) for :func:`_pass_sections`.
    """
    reach = op.reach
    far = reach + 4
    idx = boundary_index(n, far, 2 * far + 1, int(mode))  # positions -far .. n + far - 1

    def source(position):
        return int(idx[position + far])

    rows = []
    for k, section in enumerate(op.sections):
        h = section_response(section, reach + 1)
        total = (section[0] + section[1]) / (1.0 + section[2] + section[3])
        for j in range(2):
            dense = np.zeros(n + 1)  # the last slot: cval
            if k < 2:
                positions = -1 - j - np.arange(reach + 1)
            else:
                positions = n + 1 + j + np.arange(reach + 1)
            src = idx[positions + far]
            np.add.at(dense, np.where(src < 0, n, src), h)
            tail = source(int(positions[-1]))
            dense[n if tail < 0 else tail] += total - h.sum()
            rows.append(dense)
    dense = np.array(rows)
    counts = np.count_nonzero(dense[:, :n], axis=1)
    width = max(1, int(counts.max()))
    indices = np.zeros((8, width), np.int64)
    weights = np.zeros((8, width), np.float64)
    for r in range(8):
        nz = np.nonzero(dense[r, :n])[0]
        indices[r, :nz.size] = nz
        weights[r, :nz.size] = dense[r, nz]
    edges = np.array([source(-1), source(n), source(n + 1)], np.int64)
    return indices, weights, counts.astype(np.int64), dense[:, n].copy(), edges


def iir_compute_dtype(op, compute_dtype):
    """float32 for float32 work when the operator's rounding bound allows it, else float64."""
    if np.dtype(compute_dtype) == np.float32 and op.float32_error <= IIR_FLOAT32_ERROR:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def run_sections_pass(src, dst, axis, op, mode, cval, store, scale, compute_dtype):
    """Apply the IIR `op` along `axis` as second-order sections (see :class:`~sep3d.kernels.IIR`)."""
    shape = src.shape
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    n = shape[axis]
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    dt = iir_compute_dtype(op, compute_dtype)
    indices, weights, counts, bias, edges = _section_boundaries(op, n, int(mode))
    sec = op.sections.astype(dt)
    weights, bias = weights.astype(dt), bias.astype(dt)
    cval, scale = dt.type(cval), dt.type(scale)
    threads = get_num_threads()
    if inner == 1:
        s2, d2 = src.reshape(outer, n), dst.reshape(outer, n)
        block = 256
        while block > 8 and -(-outer // block) < 4 * threads:
            block //= 2
        tasks = -(-outer // block)
        _parallel(tasks, threads, lambda a, b: _pass_sections_lines(
            s2, d2, sec, indices, weights, counts, bias, edges, cval, store, scale, block, a, b))
        return
    s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
    budget = 1536 * 1024  # bytes of the six panels per task (an L2's share)
    block = max(16, budget // (6 * n * dt.itemsize) // 16 * 16)
    block = min(block, 256)
    while block > 16 and outer * -(-inner // block) < 4 * threads:
        block = max(16, block // 2 // 16 * 16)
    block = min(block, inner)
    tasks = outer * -(-inner // block)
    _parallel(tasks, threads, lambda a, b: _pass_sections(
        s3, d3, sec, indices, weights, counts, bias, edges, cval, store, scale, block, a, b))


def recursive_extension(n, op, mode):
    """Samples added on each side of a line before the recursion, and the source index of each.

    ``nearest`` is the recursion's own boundary (no extension; short lines get 4 edge
    copies, the same thing); every other mode extends by the operator's reach.
    """
    if Mode(mode) == Mode.NEAREST:
        ext = 0 if n >= 4 else 4
    else:
        ext = op.reach
    return ext, boundary_index(n, ext, 2 * ext + 1, int(mode))


def run_recursive_pass(src, dst, axis, op, mode, cval, store, scale):
    """Apply the IIR `op` along `axis` from `src` to `dst` (C-contiguous, same shape); float64 inside."""
    shape = src.shape
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    n = shape[axis]
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    ext, idx = recursive_extension(n, op, mode)
    if inner == 1:  # lines along the contiguous axis: columns of the transposed view
        s3, d3 = src.reshape(outer, n).T[None], dst.reshape(outer, n).T[None]
        outer, inner = 1, outer
    else:
        s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
    threads = get_num_threads()
    block = 64
    while block > 8 and outer * -(-inner // block) < 4 * threads:
        block //= 2
    tasks = outer * -(-inner // block)
    coef = op.coef
    _parallel(tasks, threads, lambda a, b: _pass_recursive(
        s3, d3, coef, idx, ext, float(cval), store, float(scale), block, a, b))


# ---------------------------------------------------------------------------------------
# running a schedule


def _panel_block(outer, n, inner, size, itemsize, threads):
    """Columns per panel: the panel fits in L2 and there is work for every thread."""
    budget = 512 * 1024  # bytes of panel per task
    block = max(16, budget // ((n + size - 1) * itemsize))
    block = min(inner, (block // 16) * 16 or 16)
    while block > 16 and outer * -(-inner // block) < 4 * threads:
        block = max(16, (block // 2 // 16) * 16)
    return min(block, inner)


def run_pass(src, dst, axis, op, mode, cval, store, scale, compute_dtype):
    """Apply one FIR or IIR along `axis` from `src` to `dst` (C-contiguous, same shape)."""
    if isinstance(op, IIR):
        if op.sections is not None:
            return run_sections_pass(src, dst, axis, op, mode, cval, store, scale, compute_dtype)
        return run_recursive_pass(src, dst, axis, op, mode, cval, store, scale)
    if isinstance(op, VaryingFIR):
        return run_varying_pass(src, dst, axis, op, store, scale, compute_dtype)
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
        _parallel(outer, threads, lambda a, b: _pass_lines(
            s2, d2, w, idx, op.left, cval, op.symmetry, store, scale, divisor, a, b))
    else:
        block = _panel_block(outer, n, inner, op.size, w.itemsize, threads)
        tasks = outer * -(-inner // block)
        s3, d3 = src.reshape(outer, n, inner), dst.reshape(outer, n, inner)
        _parallel(tasks, threads, lambda a, b: _pass_panels(
            s3, d3, w, idx, cval, op.symmetry, store, scale, divisor, block, a, b))


#: Largest y panel (bytes) for which the x and y passes of a plane are fused.
FUSED_PANEL_BYTES = 3 * 512 * 1024


def fusable(steps, i, shape, itemsize, threads):
    """True when steps[i] (an x pass) and steps[i + 1] (a y pass reading it) can run fused.

    The fused kernel never stores the x result, so its buffer must be the y pass's own
    destination or a temporary that no later step reads before overwriting it.
    """
    if i + 1 >= len(steps):
        return False
    first, second = steps[i], steps[i + 1]
    ndim = len(shape)
    if not (isinstance(first, Pass) and isinstance(second, Pass) and ndim >= 2
            and isinstance(first.op, FIR) and isinstance(second.op, FIR)
            and first.axis == ndim - 1 and second.axis == ndim - 2 and first.dst == second.src
            and first.store == WRITE and first.scale == 1.0
            and (shape[-2] + second.op.size - 1) * shape[-1] * itemsize <= FUSED_PANEL_BYTES
            and int(np.prod(shape[:-2], dtype=np.int64)) >= 2 * threads):
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


def run_fused_pass(src, dst, first, second, modes, cval, compute_dtype):
    """The x pass `first` and the y pass `second` in one sweep over the planes."""
    shape = src.shape
    ny, nx = shape[-2:]
    outer = int(np.prod(shape[:-2], dtype=np.int64))
    wx, wy = first.op.taps.astype(compute_dtype), second.op.taps.astype(compute_dtype)
    dt = wx.dtype.type
    idx_x = boundary_index(nx, first.op.left, first.op.size, int(modes[-1]))
    idx_y = boundary_index(ny, second.op.left, second.op.size, int(modes[-2]))
    s3, d3 = src.reshape(outer, ny, nx), dst.reshape(outer, ny, nx)
    _parallel(outer, get_num_threads(), lambda a, b: _pass_planes(
        s3, d3, wx, idx_x, first.op.left, first.op.symmetry, dt(first.op.divisor), wy, idx_y,
        second.op.symmetry, dt(second.op.divisor), dt(cval), second.store, dt(second.scale), a, b))


def scale_step(src, dst, store, scale, xp=np):
    """``dst (store)= scale * src`` elementwise; `xp` is the array module (NumPy or CuPy)."""
    value = src * dst.dtype.type(scale) if scale != 1.0 else src
    if store in (WRITE_SQUARE, ADD_SQUARE):
        value = value * value
    if store in (WRITE, WRITE_SQUARE):
        xp.copyto(dst, value, casting="unsafe")
    else:
        xp.add(dst, value, out=dst, casting="unsafe")


def run_schedule(plan, image, results, temp_dtype, compute_dtype):
    """Run `plan` on the C-contiguous `image` into the C-contiguous `results`.

    Temporaries are allocated only if a step actually stores into them: an x result
    consumed inside a fused x-y pass never exists as a volume.
    """
    sched = plan.schedule()
    units = execution_units(sched.steps, image.shape, np.dtype(compute_dtype).itemsize)
    temps = {}

    def buffer(ref):
        if ref[0] == "input":
            return image
        if ref[0] == "result":
            return results[ref[1]]
        if ref not in temps:
            temps[ref] = np.empty(image.shape, temp_dtype)
        return temps[ref]

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


# ---------------------------------------------------------------------------------------
# layout, aliasing and dtypes around a schedule


def c_order_perm(arr):
    """Axes permutation that makes `arr` C-contiguous without a copy, or None."""
    if arr.flags.c_contiguous:
        return tuple(range(arr.ndim))
    if arr.flags.f_contiguous:
        return tuple(reversed(range(arr.ndim)))
    perm = tuple(sorted(range(arr.ndim), key=lambda a: -abs(arr.strides[a])))
    if arr.transpose(perm).flags.c_contiguous:
        return perm
    return None


def execute(plan, image, outputs, temp_dtype, compute_dtype):
    """Run `plan` on `image` (any layout) and store into `outputs` (arrays of its shape).

    Each output may have any layout and any dtype: a result that cannot be written in
    place (non-contiguous, another layout than the input, an unsupported dtype, or
    memory shared with `image` where a multi-term plan would read it after writing)
    is computed in a fresh array and copied in.
    """
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
                       or (single_chain and _same_memory(view, work_image))))
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


def cast_into(out, values, xp=np):
    """Store float `values` in `out` as a C cast would: integers truncated and wrapped.

    `xp` is the array module of both arrays (NumPy or CuPy).
    """
    if out.dtype.kind in "iu":
        with np.errstate(invalid="ignore"):
            xp.copyto(out, values.astype(np.int64), casting="unsafe")
    elif out.dtype.kind == "b":
        xp.copyto(out, values != 0)
    else:
        xp.copyto(out, values, casting="unsafe")


def _same_memory(a, b):
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides and a.shape == b.shape)
