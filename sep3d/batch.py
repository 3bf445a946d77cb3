"""Run one task per item (a CT case, a raster tile) on dask.distributed, safely.

:func:`run` maps ``step(item, out_dir)`` over the items on a cluster (a LocalCluster of
worker processes on this machine by default, or any scheduler address) and guarantees:

- **Atomic results.** Each item's step writes into its own staging folder inside
  `out_dir`; only when the step returns are its files moved into `out_dir` (one
  ``os.replace`` each, same filesystem), so `out_dir` never holds a half-written result
  whatever happens to the worker.
- **A manifest.** ``out_dir/manifest.json`` records every done item (its outputs, time,
  worker) and every failed one (the error and its traceback), rewritten atomically after
  each item; a rerun skips the done items whose outputs still exist and retries the rest.
- **Failures stay per item.** An exception, a corrupt input or a worker process that
  dies is retried `retries` times, then recorded; the batch goes on and nothing finished
  is lost.
- Tasks return paths and small records, never arrays; GPU steps (``gpu=True``) ask for
  ``resources={"GPU": 1}``; a progress line shows done/failed/remaining.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["run", "Report", "item_key", "atomic_path", "MANIFEST"]

#: The manifest's file name inside `out_dir`.
MANIFEST = "manifest.json"
_STAGING = ".staging"


def item_key(item):
    """The manifest key of an item: the path for str/PathLike, sorted JSON otherwise."""
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    try:
        return json.dumps(item, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(item)


class atomic_path:
    """``with atomic_path(final) as tmp:`` write `tmp`; it becomes `final` on success only.

    The temporary sits next to `final` (same filesystem) and is renamed with
    ``os.replace``; on an exception it is removed and `final` is left as it was. Works
    for files and for folders (a Zarr store).
    """

    def __init__(self, final):
        self.final = Path(final)
        self.tmp = self.final.with_name(f".{self.final.name}.{uuid.uuid4().hex[:8]}.tmp")

    def __enter__(self):
        self.final.parent.mkdir(parents=True, exist_ok=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            _replace(self.tmp, self.final)
        else:
            _remove(self.tmp)
        return False


def _remove(path):
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _replace(src, dst):
    """Move `src` onto `dst` (file or folder): a rename, the old `dst` removed first."""
    src, dst = Path(src), Path(dst)
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    os.replace(src, dst)


@dataclass
class Report:
    """What a batch did.

    Attributes
    ----------
    done : dict
        item -> what its step returned, paths pointing into `out_dir` (items that are
        not hashable are keyed by :func:`item_key`). Includes items done by earlier runs.
    failed : dict
        item -> the error text (type and message) after the retries.
    skipped : list
        Items found done in the manifest and not run again.
    manifest : Path
        ``out_dir/manifest.json``.
    seconds : float
        Wall time of this run.
    """

    done: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    manifest: Path = None
    seconds: float = 0.0

    def __str__(self):
        return (f"{len(self.done)} done ({len(self.skipped)} from earlier runs), {len(self.failed)} failed, "
                f"{self.seconds:.1f} s; manifest: {self.manifest}")


def _load_manifest(path):
    if not path.exists():
        return {"version": 1, "done": {}, "failed": {}}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not a sep3d batch manifest (invalid JSON: {exc}); move it away "
                         "to start a fresh batch") from None
    if not isinstance(manifest, dict) or not {"done", "failed"} <= set(manifest):
        raise ValueError(f"{path} is not a sep3d batch manifest (no 'done'/'failed' sections)")
    return manifest


def _write_manifest(path, manifest):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))


def _outputs_exist(record, out_dir):
    paths = _paths_in(record.get("output"))
    return all((out_dir / p).exists() for p in paths)


def _paths_in(value):
    """Relative output paths named in a step's (rewritten) result."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in _paths_in(v)]
    if isinstance(value, (list, tuple)):
        return [p for v in value for p in _paths_in(v)]
    if isinstance(value, str) and value.startswith("./"):
        return [value[2:]]
    return []


def _publish(value, staging, out_dir, moved):
    """Rewrite staging paths in a step's result to their place in `out_dir`."""
    if isinstance(value, dict):
        return {k: _publish(v, staging, out_dir, moved) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_publish(v, staging, out_dir, moved) for v in value]
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        try:
            rel = path.resolve().relative_to(staging.resolve())
        except ValueError:
            return os.fspath(value) if isinstance(value, os.PathLike) else value
        top = rel.parts[0] if rel.parts else ""
        if top in moved:
            return "./" + rel.as_posix()
    return value


def _run_item(step, item, out_dir, staging_root):
    """The task: run `step` into a private staging folder, then move its files in place."""
    out_dir = Path(out_dir)
    staging = Path(staging_root) / uuid.uuid4().hex
    staging.mkdir(parents=True)
    start = time.perf_counter()
    try:
        result = step(item, staging)
        moved = set()
        for entry in sorted(staging.iterdir()):
            _replace(entry, out_dir / entry.name)
            moved.add(entry.name)
        if result is None:
            result = ["./" + name for name in sorted(moved)]
        else:
            result = _publish(result, staging, out_dir, moved)
        json.dumps(result, default=str)  # small and serialisable, or an error now
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    worker = None
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        pass
    return {"output": result, "seconds": round(time.perf_counter() - start, 3), "worker": worker}


class _Progress:
    def __init__(self, total, enabled, stream=None):
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = None

    def show(self, done, failed, final=False):
        if not self.enabled:
            return
        remaining = self.total - done - failed
        line = f"sep3d batch: {done} done, {failed} failed, {remaining} remaining"
        if self.tty:
            print("\r" + line, end="\n" if final else "", file=self.stream, flush=True)
        elif line != self.last and (final or remaining % max(1, self.total // 10) == 0):
            print(line, file=self.stream, flush=True)
            self.last = line


def _local_client(n_workers, gpu, retries):
    import dask
    from distributed import Client, LocalCluster

    cores = os.cpu_count() or 1
    workers = max(1, min(n_workers or cores, cores))
    # a task whose worker dies is retried `retries` times, then recorded as failed
    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", resources={"GPU": 1} if gpu else None)
    return Client(cluster), cluster


def run(items, step, out_dir, *, client=None, scheduler=None, retries=1, gpu=False, n_workers=None,
        progress=True, key=item_key):
    """Run ``step(item, folder)`` for every item on dask.distributed; one task per item.

    Parameters
    ----------
    items : iterable
        The work: paths, dicts, tuples... anything picklable. Keys in the manifest come
        from `key` and must be unique.
    step : callable
        ``step(item, folder) -> result``, picklable (a module-level function). It writes
        its files into `folder` (a private staging folder; they are moved into `out_dir`
        when it returns) and returns their paths, a small JSON-able record, or None (the
        list of files written). Paths inside `folder` are reported relative to
        `out_dir` as ``"./name"``.
    out_dir : str or Path
        Where results and ``manifest.json`` go (created if needed).
    client : distributed.Client, optional
        An existing client. Default: a LocalCluster of worker processes on this machine
        (one thread each, up to `n_workers`, default one per core), closed afterwards.
    scheduler : str, optional
        A scheduler address (``tcp://host:8786``) to connect to instead.
    retries : int, optional
        How many times a failing item is tried again before it is recorded as failed
        (also how many worker deaths a task may cause on the default LocalCluster).
    gpu : bool, optional
        Each task asks for ``resources={"GPU": 1}`` (workers must declare ``GPU``; the
        default LocalCluster then gives each worker one).
    n_workers : int, optional
        Workers of the default LocalCluster.
    progress : bool, optional
        Print done/failed/remaining to standard error.
    key : callable, optional
        item -> manifest key (default :func:`item_key`).

    Returns
    -------
    Report
        ``.done`` (item -> result), ``.failed`` (item -> error text), also kept in
        ``out_dir/manifest.json``.

    Raises
    ------
    ValueError
        Duplicate item keys, a bad `retries`, an unreadable manifest.
    TypeError
        `step` not callable; both `client` and `scheduler` given.
    """
    if not callable(step):
        raise TypeError(f"`step` must be a callable step(item, out_dir); got {step!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"`retries` must be an int >= 0; got {retries!r}")
    if client is not None and scheduler is not None:
        raise TypeError("give either `client` or `scheduler`, not both")
    items = list(items)
    keys = [key(item) for item in items]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"`items` must have unique keys; repeated: {dupes[:5]}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    manifest = _load_manifest(manifest_path)
    staging_root = out_dir / _STAGING
    shutil.rmtree(staging_root, ignore_errors=True)  # leftovers of killed tasks
    staging_root.mkdir()

    def label(item, k):
        try:
            hash(item)
            return item
        except TypeError:
            return k

    start = time.perf_counter()
    report = Report(manifest=manifest_path)
    todo = []
    for item, k in zip(items, keys):
        record = manifest["done"].get(k)
        if record is not None and _outputs_exist(record, out_dir):
            report.done[label(item, k)] = _absolute(record["output"], out_dir)
            report.skipped.append(label(item, k))
        else:
            manifest["done"].pop(k, None)
            todo.append((item, k))

    bar = _Progress(len(items), progress)
    bar.show(len(report.done), 0)
    own = None
    if todo:
        if client is None:
            if scheduler is not None:
                from distributed import Client

                client = Client(scheduler)
                own = (client, None)
            else:
                own = _local_client(n_workers or len(todo), gpu, retries)
                client = own[0]
        try:
            _run_on(client, todo, step, out_dir, staging_root, retries, gpu, manifest, manifest_path,
                    report, bar, label)
        finally:
            if own is not None:
                own[0].close()
                if own[1] is not None:
                    own[1].close()
    _write_manifest(manifest_path, manifest)
    shutil.rmtree(staging_root, ignore_errors=True)
    report.seconds = time.perf_counter() - start
    bar.show(len(report.done), len(report.failed), final=True)
    return report


def _absolute(value, out_dir):
    if isinstance(value, dict):
        return {k: _absolute(v, out_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_absolute(v, out_dir) for v in value]
    if isinstance(value, str) and value.startswith("./"):
        return str(out_dir / value[2:])
    return value


def _run_on(client, todo, step, out_dir, staging_root, retries, gpu, manifest, manifest_path, report, bar,
            label):
    from distributed import as_completed

    futures = {}
    for item, k in todo:
        future = client.submit(_run_item, step, item, str(out_dir), str(staging_root), key=f"sep3d-batch-{uuid.uuid4().hex}",
                               retries=retries, pure=False, resources={"GPU": 1} if gpu else None)
        futures[future] = (item, k)
    for future in as_completed(futures):
        item, k = futures.pop(future)
        if future.status == "error":
            exc = future.exception()
            tb = "".join(traceback.format_exception(type(exc), exc, future.traceback()))
            error = f"{type(exc).__name__}: {exc}"
            manifest["failed"][k] = {"item": k, "error": error, "traceback": tb, "attempts": retries + 1}
            report.failed[label(item, k)] = error
        else:
            record = future.result()
            record["item"] = k
            manifest["done"][k] = record
            manifest["failed"].pop(k, None)
            report.done[label(item, k)] = _absolute(record["output"], out_dir)
        future.release()
        _write_manifest(manifest_path, manifest)
        bar.show(len(report.done), len(report.failed))
