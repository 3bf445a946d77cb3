"""The CPU engines' thread pool: how many threads run sep3d's compiled kernels, and where.

Plain Python and the standard library (no numba), so that ``import sep3d`` and the
settings below work whichever engine later runs. The Numba engine's kernels release the
GIL and run their chunks of work here (:func:`parallel`); chunked runs cap the threads a
task may use with :func:`thread_limit`.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["set_num_threads", "get_num_threads", "process_threads", "thread_limit", "parallel",
           "threads_from_environment"]

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


def threads_from_environment(value):
    """The thread count ``SEP3D_NUM_THREADS`` asks for (a positive int, as text)."""
    try:
        n = int(value.strip())
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"the environment variable SEP3D_NUM_THREADS must be a positive integer (threads for "
                         f"sep3d's CPU kernels); got {value!r}")
    return n


if os.environ.get("SEP3D_NUM_THREADS"):
    set_num_threads(threads_from_environment(os.environ["SEP3D_NUM_THREADS"]))


def parallel(count, threads, work):
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


def process_threads():
    """The process-wide thread count (:func:`set_num_threads`), ignoring any :func:`thread_limit`."""
    return _threads["n"]
