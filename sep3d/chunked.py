"""Dask arrays: one ``map_overlap``-style graph per FilterPlan.

A sep3d filter given a dask array returns a lazy dask array with the input's chunks. The
whole plan (every pass, term and output) runs inside each chunk extended by the plan's
halo, so a Gaussian, a LoG or a Hessian is one overlap + one block task per chunk,
never one per pass or per filter. Boundary modes are applied inside the chunk
(``boundary="none"``): the true array edges see the mode exactly as the in-memory filter
does, and the seams see real neighbours. ``wrap`` takes its halo from the other end of
the array (``boundary="periodic"``).

- An axis whose halo reaches its length, or that is one chunk already, is not
  overlapped: it becomes (or stays) a single chunk and the mode is applied there.
- Chunks smaller than the halo are merged for the computation and the result is
  re-chunked to the input's chunks.
- Halo duplication above :data:`BLOWUP_WARNING` times the data gives a
  :class:`ChunkSizeWarning` naming the chunks :func:`suggest_chunks` would pick.
"""
from __future__ import annotations

import itertools
import math
import os
import sys
import threading
import warnings

import numpy as np

from . import backends
from .backends import threads as engine_threads
from ._validate import Mode

__all__ = ["run_plan", "suggest_chunks", "overlap_depths", "halo_blowup", "ChunkSizeWarning",
           "BLOWUP_WARNING"]

#: Warn when the overlapped blocks hold more than this many times the array's voxels.
BLOWUP_WARNING = 2.0


class ChunkSizeWarning(UserWarning):
    """Chunks so small against the filter's halo that most of the work is duplicated."""


def overlap_depths(shape, plan):
    """Per axis, the overlap depth a chunked run of `plan` needs on an array of `shape`.

    The plan's radius, or 0 where the axis is filtered as one chunk (reach >= length).
    Returns ``(depths, whole)``: the depths and the set of axes that must be one chunk.
    """
    depths, whole = [], set()
    for ax, (n, r) in enumerate(zip(shape, plan.radius)):
        if r >= n:
            whole.add(ax)
            depths.append(0)
        else:
            depths.append(r)
    return tuple(depths), whole


def halo_blowup(chunks, depths, periodic=()):
    """Voxels read by the overlapped blocks divided by the array's voxels."""
    ratio = 1.0
    for ax, (sizes, d) in enumerate(zip(chunks, depths)):
        n = sum(sizes)
        if d == 0 or len(sizes) == 1:
            continue
        padded = 0
        for i, c in enumerate(sizes):
            left = d if (i > 0 or ax in periodic) else 0
            right = d if (i < len(sizes) - 1 or ax in periodic) else 0
            padded += c + left + right
        ratio *= padded / n
    return ratio


def _bytes_per_voxel(plan, dtype):
    itemsize = np.dtype(dtype).itemsize
    return itemsize * (1 + plan.n_results + plan.schedule().n_temps)


def suggest_chunks(shape, plan, memory="128MiB", *, dtype=np.float32):
    """Chunks for running `plan` on an array of `shape` within `memory` per task.

    Parameters
    ----------
    shape : tuple of int
        The array's shape.
    plan : FilterPlan
        The plan to run (e.g. ``sep3d.filters.plan_gaussian(3, 2.0)``).
    memory : int or str, optional
        The working memory one task may use: the chunk with its halo, the plan's results
        and its temporary volumes (e.g. ``"256MiB"``; default 128 MiB, dask's own
        ``array.chunk-size``).
    dtype : dtype, optional
        The dtype the plan computes in (float32 unless the input is float64).

    Returns
    -------
    tuple of int
        A chunk shape: axes the plan reaches across whole, the others halved (the one
        whose halo costs least first) until a task fits in `memory`.

    Examples
    --------
    >>> from sep3d.filters import plan_gaussian
    >>> suggest_chunks((512, 512, 512), plan_gaussian(3, 2.0), "64MiB")
    (128, 128, 256)

    A Gaussian needs 8 bytes a float32 voxel (input and result, no temporary) and a halo
    of 8 (radius ``int(4 * 2.0 + 0.5)``) each side. The axes are halved in turn, z first
    (512^3, 256x512x512, ... 128x256x256 need 81 MiB or more), until the task fits:

    >>> 8 * (128 + 16) * (128 + 16) * (256 + 16) / 2**20, 8 * (128 + 16) * (256 + 16) ** 2 / 2**20
    (43.03125, 81.28125)
    """
    from dask.utils import parse_bytes

    shape = tuple(int(n) for n in shape)
    if len(shape) != plan.ndim:
        raise ValueError(f"`shape` must have {plan.ndim} axes for this plan; got {shape}")
    if any(n < 1 for n in shape):
        raise ValueError(f"`shape` must be positive; got {shape}")
    budget = parse_bytes(memory) if isinstance(memory, str) else int(memory)
    if budget <= 0:
        raise ValueError(f"`memory` must be a positive size; got {memory!r}")
    depths, whole = overlap_depths(shape, plan)
    per_voxel = _bytes_per_voxel(plan, dtype)
    chunks = list(shape)

    def task_bytes(c):
        return per_voxel * math.prod(ci + 2 * d if ci < n else n for ci, d, n in zip(c, depths, shape))

    while task_bytes(chunks) > budget:
        # the axis whose halving adds the least halo: largest chunk per unit of depth
        candidates = [ax for ax in range(len(shape))
                      if ax not in whole and chunks[ax] > max(2 * depths[ax], 1)]
        if not candidates:
            break
        ax = max(candidates, key=lambda a: (chunks[a] / max(depths[a], 0.5), chunks[a]))
        chunks[ax] = -(-chunks[ax] // 2)
    return tuple(chunks)


def _caller_stacklevel():
    """The warnings stacklevel of the first frame outside sep3d (the user's call)."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _engine_threads():
    """Inside a dask.distributed worker: its thread count (its share of the cores).

    Every task of a process shares one pool of CPU-kernel threads, so tasks running
    side by side in one worker never use more threads than the pool has; sizing the pool
    to the worker's threads keeps a cluster of worker processes from oversubscribing
    the cores (LocalCluster gives each process its share). Outside distributed: None
    (see :func:`_task_threads`). ``SEP3D_NUM_THREADS`` overrides this.
    """
    if os.environ.get("SEP3D_NUM_THREADS"):
        return None
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    return max(1, int(worker.state.nthreads))


def _task_threads(n_blocks):
    """CPU-kernel threads for one block task (None: the process default).

    In a distributed worker: the worker's threads (see :func:`_engine_threads`). In a
    threaded scheduler's pool thread, with at least one block per core: 1, the kernels
    running inline (dask already keeps every core busy, and a small block filtered by
    one thread avoids the hand-offs to the kernel pool). In the main thread (the
    synchronous scheduler) or with fewer blocks than cores: every core.
    """
    threads = _engine_threads()
    if threads is not None:
        if engine_threads.process_threads() != threads:
            engine_threads.set_num_threads(threads)
        return None
    if threading.current_thread() is not threading.main_thread() and n_blocks >= engine_threads.process_threads():
        return 1
    return None


def _halo_pieces(chunks, index, depths, periodic):
    """Per axis, the (neighbour block, slice of it) pieces that make block `index` + halo.

    The left neighbour's last `depth` elements, the block, the right neighbour's first
    `depth`; at the array's ends nothing (mode applied inside) or, for wrap, the other
    end's block. Also returns the left pad per axis.
    """
    per_axis, lefts = [], []
    for ax, (i, d) in enumerate(zip(index, depths)):
        sizes, nb = chunks[ax], len(chunks[ax])
        pieces, left = [], 0
        if d and (i > 0 or ax in periodic):
            j = (i - 1) % nb
            pieces.append((j, slice(sizes[j] - d, sizes[j])))
            left = d
        pieces.append((i, slice(0, sizes[i])))
        if d and (i < nb - 1 or ax in periodic):
            pieces.append(((i + 1) % nb, slice(0, d)))
        per_axis.append(pieces)
        lefts.append(left)
    return per_axis, tuple(lefts)


def _run_block(blocks, layout, lefts, core, plan, stacked, backend, dtypes, n_blocks):
    """The task of one block: assemble it with its halo, run the whole plan, keep the core.

    `blocks` are the neighbour blocks named in `layout` (one (source slices, position)
    per block); the assembled block is one allocation and one copy of each piece.
    """
    threads = _task_threads(n_blocks)
    if threads is None:
        return _filter_block(blocks, layout, lefts, core, plan, stacked, backend, dtypes)
    with engine_threads.thread_limit(threads):
        return _filter_block(blocks, layout, lefts, core, plan, stacked, backend, dtypes)


def _filter_block(blocks, layout, lefts, core, plan, stacked, backend, dtypes):
    result_dtype, temp_dtype, compute_dtype = dtypes
    xp = backends.array_module(blocks[0])
    if len(blocks) == 1:
        block = blocks[0]
    else:
        shape = tuple(max(dst[ax].stop for _, dst in layout) for ax in range(len(lefts)))
        block = xp.empty(shape, blocks[0].dtype)
        for piece, (src, dst) in zip(blocks, layout):
            block[dst] = piece[src]
    n = plan.n_results
    if (len(blocks) > 1 and not stacked and len(plan.terms()) == 1 and block.dtype == result_dtype
            and backends.engine_name(backend, block) == "cpu"):
        results = block  # a one-term plan runs in place in the block just assembled
    else:
        results = xp.empty(((n,) if stacked else ()) + block.shape, result_dtype)
    outs = list(results) if stacked else [results]
    backends.execute(plan, block, outs, backend=backend, temp_dtype=temp_dtype, compute_dtype=compute_dtype)
    if block.shape == core:
        return results
    index = (slice(None),) * stacked + tuple(slice(left, left + c) for left, c in zip(lefts, core))
    return results[index]  # a view: the core is not copied


def run_plan(plan, image, *, backend="auto", result_dtype, temp_dtype, compute_dtype, stacked=False):
    """Run `plan` lazily on the dask array `image`; returns a dask array of its chunks.

    `result_dtype` is the dtype of the result; with `stacked`, the results of a
    multi-output plan are stacked on a new leading axis (one chunk). Chunks keep their
    array type (NumPy or CuPy) whatever engine runs them: ``backend="cuda"`` on NumPy
    chunks moves each chunk to the GPU and back.
    """
    import dask.array as da
    from dask.array.overlap import ensure_minimum_chunksize
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    meta = image._meta
    backends.engine_name(backend, meta)  # a clear error before any graph is built
    xp = backends.array_module(meta)
    result_dtype = np.dtype(result_dtype)
    depths, whole = overlap_depths(image.shape, plan)
    periodic = {ax for ax, d in enumerate(depths) if d and plan.modes[ax] == Mode.WRAP}
    work_chunks = []
    for ax, (sizes, d) in enumerate(zip(image.chunks, depths)):
        if ax in whole:
            work_chunks.append((image.shape[ax],))
        elif d and len(sizes) > 1 and min(sizes) < d:
            work_chunks.append(ensure_minimum_chunksize(d, sizes))
        else:
            work_chunks.append(sizes)
    depths = tuple(0 if len(c) == 1 else d for c, d in zip(work_chunks, depths))
    periodic = {ax for ax in periodic if depths[ax]}
    work = image if tuple(work_chunks) == image.chunks else image.rechunk(tuple(work_chunks))

    blowup = halo_blowup(work.chunks, depths, periodic)
    if blowup > BLOWUP_WARNING:
        better = suggest_chunks(image.shape, plan, dtype=compute_dtype)
        warnings.warn(
            f"chunks {tuple(max(c) for c in image.chunks)} are small for this filter's halo "
            f"{tuple(depths)}: the overlapped blocks hold {blowup:.1f}x the array; chunks of "
            f"{better} (sep3d.chunked.suggest_chunks) would keep it near 1", ChunkSizeWarning,
            stacklevel=_caller_stacklevel())

    n = plan.n_results
    token = tokenize(plan, depths, sorted(periodic), stacked, backend, result_dtype.str,
                     np.dtype(temp_dtype).str, np.dtype(compute_dtype).str, work.name)
    name = f"sep3d-{plan.name}-{token}"
    dtypes = (result_dtype, np.dtype(temp_dtype), np.dtype(compute_dtype))
    n_blocks = math.prod(work.numblocks)
    graph = {}
    for index in itertools.product(*(range(nb) for nb in work.numblocks)):
        per_axis, lefts = _halo_pieces(work.chunks, index, depths, periodic)
        keys, layout = [], []
        for combo in itertools.product(*per_axis):
            keys.append((work.name,) + tuple(j for j, _ in combo))
            src = tuple(sl for _, sl in combo)
            dst, offsets = [], [0] * image.ndim
            for ax, (_, sl) in enumerate(combo):
                # position along ax: sum of the pieces before this one on that axis
                before = per_axis[ax][: per_axis[ax].index(combo[ax])]
                offsets[ax] = sum(b.stop - b.start for _, b in before)
                dst.append(slice(offsets[ax], offsets[ax] + sl.stop - sl.start))
            layout.append((src, tuple(dst)))
        core = tuple(work.chunks[ax][i] for ax, i in enumerate(index))
        out_key = (name,) + ((0,) if stacked else ()) + index
        graph[out_key] = (_run_block, keys, layout, lefts, core, plan, stacked, backend, dtypes, n_blocks)
    out_chunks = (((n,),) if stacked else ()) + work.chunks
    hlg = HighLevelGraph.from_collections(name, graph, dependencies=[work])
    result = da.Array(hlg, name, out_chunks, meta=xp.empty((0,) * (image.ndim + stacked), result_dtype))
    if tuple(work_chunks) != image.chunks:
        result = result.rechunk((((n,),) if stacked else ()) + image.chunks)
    return result
