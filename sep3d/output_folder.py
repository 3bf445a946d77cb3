"""The output folder of a run: one writer at a time, and only its own files replaced.

A run (a batch, a pipeline, a scene) holds its output folder through :class:`OutputFolder`:

- **One writer.** ``<folder>/.sep3d/lock`` is locked (``flock``) for the whole run and
  holds the host, PID and command of the holder. A second run into the same folder is
  refused with :class:`OutputFolderBusy` naming the holder. The kernel releases the lock
  when the holder dies, so a crashed run never leaves a stale lock behind (where
  ``flock`` is missing, the lock file itself is the lock and a dead holder on this host
  is detected by its PID).
- **A ledger of owned files.** ``manifest.json`` lists every file the runs into this
  folder have written (``owned``: path relative to the folder -> the item that wrote
  it). Publishing replaces a file only when the ledger says the same item wrote it; a
  file it did not write, or one another item wrote, is never touched: that item fails
  with :class:`OutputConflict` naming the file. Folders are merged file by file, so an
  output folder that also holds the inputs (``dataset/P001/image.nrrd``) keeps them. A
  Zarr store is one output (replaced whole, as it was written whole).
- **Safe names.** :func:`check_name` refuses the names that would leave the folder or
  publish over each other (``/``, ``..``, a leading dot, control characters).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
import uuid
from pathlib import Path

__all__ = ["OutputFolder", "OutputFolderBusy", "OutputConflict", "check_name", "check_unique_names",
           "MANIFEST", "atomic_path", "replace_path", "remove_path"]

#: The manifest's file name inside the folder.
MANIFEST = "manifest.json"
#: sep3d's private folder inside an output folder (the lock, the staging area).
PRIVATE = ".sep3d"
_STORE_MARKERS = (".zgroup", ".zarray", "zarr.json")
_FORBIDDEN = set('/\\:*?"<>|')

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class OutputFolderBusy(RuntimeError):
    """Another run holds the output folder's lock."""


class OutputConflict(FileExistsError):
    """Publishing would replace a file this item did not write."""


def check_name(value, what):
    """`value` as a file/folder name that stays inside its folder; ValueError otherwise.

    A name may not be empty, ``.`` or ``..``, start with a dot (hidden, and ``.sep3d`` is
    reserved), hold a path separator, a control character or one of ``:*?"<>|``.

    >>> check_name("P001", "case ID")
    'P001'
    >>> check_name("../x", "case ID")
    Traceback (most recent call last):
    ValueError: case ID '../x' is not a safe file name: it may not start with '.' (hidden names and '..' are refused)
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string; got {value!r}")
    if value != value.strip():
        problem = "it has leading or trailing spaces"
    elif value.startswith("."):
        problem = "it may not start with '.' (hidden names and '..' are refused)"
    elif any(c in _FORBIDDEN for c in value):
        problem = f"it may not contain any of {''.join(sorted(_FORBIDDEN))}"
    elif any(ord(c) < 32 or ord(c) == 127 for c in value):
        problem = "it contains a control character"
    else:
        return value
    raise ValueError(f"{what} {value!r} is not a safe file name: {problem}")


def check_unique_names(names, what):
    """Raise ValueError when two names are equal ignoring case (one file on macOS/Windows)."""
    seen = {}
    for name in names:
        if name.casefold() in seen:
            raise ValueError(f"{what} {seen[name.casefold()]!r} and {name!r} name the same file (repeated, or "
                             "equal on a case-insensitive filesystem); make them unique")
        seen[name.casefold()] = name


def remove_path(path):
    """Remove a file, a link or a folder tree (nothing if it is absent)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def replace_path(src, dst):
    """Move `src` onto `dst` (file or folder) with a rename; an old `dst` is removed first."""
    src, dst = Path(src), Path(dst)
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    os.replace(src, dst)


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
            replace_path(self.tmp, self.final)
        else:
            remove_path(self.tmp)
        return False


def load_manifest(path):
    """The manifest at `path` (a fresh one if absent); ValueError if it is not a sep3d manifest."""
    path = Path(path)
    if not path.exists():
        return {"version": 2, "done": {}, "failed": {}, "owned": {}}
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a sep3d batch manifest (invalid JSON: {exc}); move it away "
                         "to start a fresh batch") from None
    if not isinstance(manifest, dict) or not {"done", "failed"} <= set(manifest):
        raise ValueError(f"{path} is not a sep3d batch manifest (no 'done'/'failed' sections)")
    if "owned" not in manifest:  # written by sep3d < 0.2: what its records name was written by them
        manifest["owned"] = {}
        for key, record in manifest["done"].items():
            for rel in paths_in(record.get("output")):
                manifest["owned"].setdefault(rel, key)
    manifest["version"] = 2
    return manifest


def paths_in(value):
    """Relative output paths (``"./..."``) named in a step's recorded result."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in paths_in(v)]
    if isinstance(value, (list, tuple)):
        return [p for v in value for p in paths_in(v)]
    if isinstance(value, str) and value.startswith("./"):
        return [value[2:]]
    return []


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputFolder:
    """An output folder held by this process: ``with OutputFolder(path) as folder: ...``.

    Entering takes the lock (or raises :class:`OutputFolderBusy`) and reads the
    manifest; leaving writes the manifest and releases the lock. See the module
    docstring for the guarantees.
    """

    def __init__(self, path, what="sep3d run"):
        self.path = Path(path).absolute()
        self.what = what
        self.manifest_path = self.path / MANIFEST
        self.private = self.path / PRIVATE
        self.manifest = None
        self._fd = None
        self._token = None

    # -- the lock ------------------------------------------------------------------

    def __enter__(self):
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"the output folder {self.path} is a file")
        self.private.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self.manifest = load_manifest(self.manifest_path)
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.save()
        finally:
            self._unlock()
        return False

    def _holder_text(self):
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": self._token,
                           "since": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)[:500],
                           "what": self.what})

    def _busy(self, lock_path):
        try:
            holder = json.loads(Path(lock_path).read_text() or "{}")
        except (OSError, json.JSONDecodeError):
            holder = {}
        who = (f"{holder.get('what', 'a sep3d run')} on host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, "
               f"since {holder.get('since', '?')}")
        return OutputFolderBusy(f"the output folder {self.path} is in use by {who}; wait for it to finish or "
                                "choose another output folder (two runs into one folder would corrupt each "
                                "other's results)")

    def _lock(self):
        lock_path = self.private / "lock"
        self._token = uuid.uuid4().hex
        if fcntl is not None:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise self._busy(lock_path) from None
            os.ftruncate(fd, 0)
            os.write(fd, self._holder_text().encode())
            self._fd = fd
            return
        for _ in range(2):  # pragma: no cover - platforms without flock
            try:
                fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                try:
                    holder = json.loads(lock_path.read_text() or "{}")
                except (OSError, json.JSONDecodeError):
                    holder = {}
                if holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", 0) or 0)):
                    lock_path.unlink(missing_ok=True)  # its holder died: a stale lock
                    continue
                raise self._busy(lock_path) from None
            os.write(fd, self._holder_text().encode())
            os.close(fd)
            self._fd = -1
            return
        raise self._busy(lock_path)

    def _unlock(self):
        if self._fd is None:
            return
        if self._fd >= 0:
            os.close(self._fd)  # releases the flock; the file stays (removing it would race)
        else:  # pragma: no cover - platforms without flock
            (self.private / "lock").unlink(missing_ok=True)
        self._fd = None

    # -- the manifest and the ledger -------------------------------------------------

    def save(self):
        """Write the manifest (atomically)."""
        if self.manifest is None:
            return
        with atomic_path(self.manifest_path) as tmp:
            tmp.write_text(json.dumps(self.manifest, indent=1, sort_keys=True, default=str))

    @property
    def owned(self):
        return self.manifest["owned"]

    def _rel(self, path):
        path = Path(path)
        path = path if path.is_absolute() else self.path / path
        return Path(os.path.relpath(os.path.abspath(path), self.path)).as_posix()

    def claim(self, path, key):
        """Record that `key` writes `path` (inside or next to the folder) and return its absolute path.

        Raises :class:`OutputConflict` if `path` exists and was not written by `key`.
        """
        rel = self._rel(path)
        self._check(rel, key)
        self.owned[rel] = key
        self.save()
        return self.path / rel

    def check(self, path, key):
        """Raise :class:`OutputConflict` if `key` may not write `path`; nothing is recorded."""
        self._check(self._rel(path), key)

    def release(self, path):
        """Remove `path` and forget it, if the ledger says a run wrote it."""
        rel = self._rel(path)
        if rel in self.owned:
            remove_path(self.path / rel)
            del self.owned[rel]

    def _check(self, rel, key):
        dst = Path(os.path.normpath(self.path / rel))
        owner = self.owned.get(rel)
        if owner is not None and owner != key:
            raise OutputConflict(f"{dst} was written by item {owner!r}; item {key!r} would replace it "
                                 "(two items publish the same file: make their names unique)")
        if owner is None and (dst.exists() or dst.is_symlink()):
            raise OutputConflict(f"{dst} exists and was not written by sep3d into this output folder; "
                                 "it is left alone: move it away or choose another output folder")
        for parent in Path(rel).parents:
            if parent != Path(".") and (self.path / parent).exists() and not (self.path / parent).is_dir():
                raise OutputConflict(f"{self.path / parent} is a file, so {dst} cannot be written")

    def publish(self, staging, key, record=None):
        """Move the files of `staging` into the folder; returns their relative paths.

        Every file (and every Zarr store, as one unit) is checked first: if any would
        replace a file `key` did not write, nothing moves and :class:`OutputConflict` is
        raised. Then the ledger is updated (the files `key` wrote before and not now are
        forgotten), ``record(paths)`` lets the caller note the item in the manifest, the
        manifest is saved (once), and last the files are moved (one rename each) and the
        forgotten ones removed. A crash after the save leaves an item whose files are
        incomplete, which a rerun computes again.
        """
        staging = Path(staging)
        units = list(_units(staging, staging))
        problems = []
        for _, rel in units:
            try:
                self._check(rel, key)
            except OutputConflict as exc:
                problems.append(str(exc))
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise OutputConflict(problems[0] + more)
        rels = [rel for _, rel in units]
        stale = [rel for rel, owner in self.owned.items() if owner == key and rel not in set(rels)]
        for rel in stale:
            del self.owned[rel]
        for rel in rels:
            self.owned[rel] = key
        if record is not None:
            record(rels)
        self.save()  # the claim is on disk before any file moves
        for src, rel in units:
            dst = self.path / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            replace_path(src, dst)
        for rel in stale:  # what this item wrote before and not now (a removed step or sink)
            remove_path(self.path / rel)
        return rels

    def drop(self, key, keep):
        """Remove the files `key` wrote earlier that it did not write again (in `keep`)."""
        keep = set(keep)
        for rel, owner in list(self.owned.items()):
            if owner == key and rel not in keep:
                remove_path(self.path / rel)
                del self.owned[rel]

    # -- staging -------------------------------------------------------------------

    def staging_root(self):
        """A fresh staging area inside the folder (leftovers of killed tasks removed)."""
        root = self.private / "staging"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        return root

    def remove_staging(self):
        shutil.rmtree(self.private / "staging", ignore_errors=True)


def _units(root, folder):
    """``(source, relative path)`` for every file under `folder`; a Zarr store is one unit."""
    for entry in sorted(Path(folder).iterdir()):
        if entry.is_dir() and not entry.is_symlink() and not any((entry / m).exists() for m in _STORE_MARKERS):
            yield from _units(root, entry)
        else:
            yield entry, entry.relative_to(root).as_posix()
