"""Run one task per item (a CT case, a raster tile) on dask.distributed, safely.

:func:`run` maps ``step(item, out_dir)`` over the items on a cluster (a LocalCluster of
worker processes on this machine by default, or any scheduler address) and guarantees:

- **One writer per output folder.** The run holds `out_dir`'s lock
  (:class:`~sep3d.output_folder.OutputFolder`); a second run into it is refused.
- **Atomic results, never over a file the run did not write.** Each item's step writes
  into its own staging folder inside `out_dir`; when the step returns, its files are
  moved into `out_dir` (one rename each) if none of them would replace a file this item
  did not write earlier; otherwise the item fails with the file named. Folders are merged
  file by file, so an `out_dir` that also holds the inputs keeps them.
- **A manifest.** ``out_dir/manifest.json`` records every done item (its outputs, files,
  fingerprint, time, worker), every failed one (the error and its traceback) and which
  item wrote which file, rewritten atomically after each item.
- **Reruns recompute what changed.** A done item is skipped only when its outputs still
  exist and its fingerprint (``fingerprint(item)``: the spec section, the input files'
  size and time, sep3d's version) is the one recorded; ``force=True`` recomputes all.
  Files an item wrote before and does not write again are removed.
- **Failures stay per item.** An exception, a corrupt input or a worker process that
  dies is retried `retries` times, then recorded; the batch goes on and nothing finished
  is lost.
- Tasks return paths and small records, never arrays; GPU steps (``gpu=True``) ask for
  ``resources={"GPU": 1}``; a progress line shows done/failed/remaining.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .output_folder import MANIFEST, OutputConflict, OutputFolder, atomic_path, paths_in, remove_path

__all__ = ["run", "Report", "item_key", "atomic_path", "MANIFEST", "fingerprint", "file_stamp"]


def item_key(item):
    """The manifest key of an item: the path for str/PathLike, sorted JSON otherwise."""
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    try:
        return json.dumps(item, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(item)


def file_stamp(path):
    """What identifies the content of `path` cheaply: ``[size, mtime_ns]`` (every file of a folder).

    None for a missing path (a rerun after the file appears sees a change).
    """
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        return sorted([p.relative_to(path).as_posix(), *file_stamp(p)]
                      for p in path.rglob("*") if p.is_file())
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def fingerprint(value):
    """A short stable hash of a JSON-able `value` (what produced an item's outputs)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


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
        Items found done in the manifest (same fingerprint, outputs present) and not run again.
    changed : list
        Items done by an earlier run and computed again because their fingerprint changed
        (or because `force` was given).
    manifest : Path
        ``out_dir/manifest.json``.
    seconds : float
        Wall time of this run.
    """

    done: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    manifest: Path = None
    seconds: float = 0.0

    def __str__(self):
        redone = f", {len(self.changed)} recomputed (changed since the last run)" if self.changed else ""
        return (f"{len(self.done)} done ({len(self.skipped)} from earlier runs{redone}), {len(self.failed)} failed, "
                f"{self.seconds:.1f} s; manifest: {self.manifest}")


def _relative_result(value, staging):
    """A step's result with the paths inside `staging` written as ``"./relative/path"``."""
    if isinstance(value, dict):
        return {k: _relative_result(v, staging) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_relative_result(v, staging) for v in value]
    if isinstance(value, (str, os.PathLike)):
        try:
            rel = Path(value).resolve().relative_to(staging.resolve())
        except ValueError:
            return os.fspath(value) if isinstance(value, os.PathLike) else value
        if rel.parts:
            return "./" + rel.as_posix()
    return value


def _run_item(step, item, staging_root):
    """The task: run `step` into a private staging folder; the client publishes its files."""
    staging = Path(staging_root) / uuid.uuid4().hex
    staging.mkdir(parents=True)
    start = time.perf_counter()
    try:
        result = step(item, staging)
        if result is not None:
            result = _relative_result(result, staging)
        json.dumps(result, default=str)  # small and serialisable, or an error now
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    worker = None
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        pass
    return {"output": result, "staging": str(staging), "seconds": round(time.perf_counter() - start, 3),
            "worker": worker}


class _Progress:
    def __init__(self, total, enabled, stream=None):
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = None

    def say(self, text):
        if self.enabled:
            print(f"sep3d batch: {text}", file=self.stream, flush=True)

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
    # a task whose worker dies is retried `retries` times, then recorded as failed; a worker
    # holds only the task it runs (saturation 1.0), so a task queued behind one that kills
    # its worker is not counted among the suspects of that death
    with dask.config.set({"distributed.scheduler.allowed-failures": retries,
                          "distributed.scheduler.worker-saturation": 1.0}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", resources={"GPU": 1} if gpu else None)
    return Client(cluster), cluster


def run(items, step, out_dir, *, client=None, scheduler=None, retries=1, gpu=False, n_workers=None,
        progress=True, key=item_key, fingerprint=None, force=False):
    """Run ``step(item, folder)`` for every item on dask.distributed; one task per item.

    Parameters
    ----------
    items : iterable
        The work: paths, dicts, tuples... anything picklable. Keys in the manifest come
        from `key` and must be unique. Paths in items must be absolute when the workers
        may run in another folder (a `scheduler` address): resolve them first.
    step : callable
        ``step(item, folder) -> result``, picklable (a module-level function). It writes
        its files into `folder` (a private staging folder; they are moved into `out_dir`
        when it returns) and returns their paths, a small JSON-able record, or None (the
        list of files written). Paths inside `folder` are reported relative to
        `out_dir` as ``"./name"``.
    out_dir : str or Path or sep3d.output_folder.OutputFolder
        Where results and ``manifest.json`` go (created if needed). It may hold other
        files: they are never replaced or removed. An entered
        :class:`~sep3d.output_folder.OutputFolder` is used as it is (its holder keeps the lock).
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
    fingerprint : callable, optional
        item -> a JSON-able description of what produces its outputs (settings, input
        :func:`file_stamp`, versions). A done item whose fingerprint differs from the
        recorded one is computed again. Default: items are done once done.
    force : bool, optional
        Compute every item again, done or not.

    Returns
    -------
    Report
        ``.done`` (item -> result), ``.failed`` (item -> error text), ``.changed`` (items
        recomputed because they changed), also kept in ``out_dir/manifest.json``.

    Raises
    ------
    ValueError
        Duplicate item keys, a bad `retries`, an unreadable manifest.
    TypeError
        `step` not callable; both `client` and `scheduler` given.
    sep3d.output_folder.OutputFolderBusy
        Another run is writing into `out_dir`.
    """
    if not callable(step):
        raise TypeError(f"`step` must be a callable step(item, out_dir); got {step!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"`retries` must be an int >= 0; got {retries!r}")
    if client is not None and scheduler is not None:
        raise TypeError("give either `client` or `scheduler`, not both")
    if fingerprint is not None and not callable(fingerprint):
        raise TypeError(f"`fingerprint` must be a callable item -> JSON-able value; got {fingerprint!r}")
    items = list(items)
    keys = [key(item) for item in items]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"`items` must have unique keys; repeated: {dupes[:5]}")
    prints = [None if fingerprint is None else _fingerprint_of(fingerprint, item) for item in items]
    if isinstance(out_dir, OutputFolder):  # the caller holds the folder (and writes more into it)
        if out_dir.manifest is None:
            raise ValueError("`out_dir` as an OutputFolder must be entered (`with OutputFolder(...)`) first")
        return _run_in(out_dir, items, keys, prints, step, client, scheduler, retries, gpu, n_workers, progress,
                       force)
    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    with OutputFolder(out_dir, what="a sep3d batch") as folder:
        return _run_in(folder, items, keys, prints, step, client, scheduler, retries, gpu, n_workers, progress,
                       force)


def _fingerprint_of(function, item):
    value = function(item)
    return value if isinstance(value, str) else fingerprint(value)


def _label(item, k):
    try:
        hash(item)
        return item
    except TypeError:
        return k


def _run_in(folder, items, keys, prints, step, client, scheduler, retries, gpu, n_workers, progress, force):
    manifest = folder.manifest
    staging_root = folder.staging_root()
    start = time.perf_counter()
    report = Report(manifest=folder.manifest_path)
    todo = []
    for item, k, fp in zip(items, keys, prints):
        record = manifest["done"].get(k)
        present = record is not None and all((folder.path / p).exists() for p in _files_of(record))
        if present and not force and (fp is None or record.get("fingerprint") == fp):
            report.done[_label(item, k)] = _absolute(record["output"], folder.path)
            report.skipped.append(_label(item, k))
            continue
        if record is not None and present:
            report.changed.append(_label(item, k))
        todo.append((item, k, fp))

    bar = _Progress(len(items), progress)
    if report.changed:
        why = "--force / force=True" if force else "their spec, inputs or sep3d version changed"
        bar.say(f"{len(report.changed)} item(s) done by an earlier run are computed again ({why})")
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
            _run_on(client, todo, step, staging_root, retries, gpu, folder, report, bar)
        finally:
            if own is not None:
                own[0].close()
                if own[1] is not None:
                    own[1].close()
    folder.save()
    folder.remove_staging()
    report.seconds = time.perf_counter() - start
    bar.show(len(report.done), len(report.failed), final=True)
    return report


def _files_of(record):
    """The files an item's record says it wrote (older manifests: the paths in its output)."""
    return record["files"] if "files" in record else paths_in(record.get("output"))


def _absolute(value, out_dir):
    if isinstance(value, dict):
        return {k: _absolute(v, out_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_absolute(v, out_dir) for v in value]
    if isinstance(value, str) and value.startswith("./"):
        return str(out_dir / value[2:])
    return value


def _record_failure(folder, report, item, k, error, tb, attempts):
    folder.manifest["failed"][k] = {"item": k, "error": error, "traceback": tb, "attempts": attempts}
    folder.manifest["done"].pop(k, None)
    report.failed[_label(item, k)] = error


def _run_on(client, todo, step, staging_root, retries, gpu, folder, report, bar):
    from distributed import as_completed

    manifest = folder.manifest
    futures = {}
    for item, k, fp in todo:
        future = client.submit(_run_item, step, item, str(staging_root), key=f"sep3d-batch-{uuid.uuid4().hex}",
                               retries=retries, pure=False, resources={"GPU": 1} if gpu else None)
        futures[future] = (item, k, fp)
    for future in as_completed(futures):
        item, k, fp = futures.pop(future)
        if future.status == "error":
            exc = future.exception()
            tb = "".join(traceback.format_exception(type(exc), exc, future.traceback()))
            _record_failure(folder, report, item, k, f"{type(exc).__name__}: {exc}", tb, retries + 1)
            folder.save()
        else:
            record = future.result()
            staging = Path(record.pop("staging"))

            def done(files, record=record, item=item, k=k, fp=fp):
                if record["output"] is None:
                    record["output"] = ["./" + rel for rel in files]
                record.update(item=k, files=files, fingerprint=fp)
                manifest["done"][k] = record
                manifest["failed"].pop(k, None)
                report.done[_label(item, k)] = _absolute(record["output"], folder.path)

            try:
                folder.publish(staging, k, record=done)  # saves the manifest
            except OutputConflict as exc:  # the item's files stay unpublished; nothing is replaced
                _record_failure(folder, report, item, k, f"OutputConflict: {exc}", "", 1)
                folder.save()
            finally:
                remove_path(staging)
        future.release()
        bar.show(len(report.done), len(report.failed))
