"""Picklable batch steps for the tests (worker processes import this module by name)."""
import os
from pathlib import Path

import numpy as np

import sep3d


def smooth_case(item, folder):
    """Read a .npy case, write its Gaussian-smoothed volume; 'raise'/'die' cases misbehave."""
    path = Path(item)
    if path.stem.startswith("raise"):
        raise RuntimeError(f"step failed on purpose for {path.name}")
    volume = np.load(path)  # a corrupt file raises here
    out = Path(folder) / f"{path.stem}-smooth.npy"
    np.save(out, sep3d.gaussian(volume, 1.5, mode="nearest"))
    if path.stem.startswith("die"):
        os._exit(1)  # the worker process dies after writing: nothing may leak into out_dir
    return str(out)


def record_step(item, folder):
    """A step returning a small record with two files."""
    a = Path(folder) / f"{item['id']}-a.txt"
    b = Path(folder) / f"{item['id']}-b.txt"
    a.write_text(str(item["value"]))
    b.write_text(str(item["value"] * 2))
    return {"id": item["id"], "files": [str(a), str(b)], "value": item["value"]}


def half_written(item, folder):
    """Writes part of its output, then fails."""
    (Path(folder) / f"{item}.partial").write_text("half")
    raise OSError(f"disk trouble on {item}")


def engine_threads(_):
    """How many CPU-kernel threads a chunked filter uses inside this worker."""
    import dask
    import dask.array as da

    lazy = da.from_array(np.ones((32, 32, 32), np.float32), chunks=16)
    with dask.config.set(scheduler="sync"):
        sep3d.gaussian(lazy, 1.0).compute()
    return sep3d.get_num_threads()


def same_name_step(item, folder):
    """Every item writes the same file name (a badly named output): the second must not overwrite the first."""
    (Path(folder) / "result.txt").write_text(str(item))


def flaky_step(item, folder):
    """Writes its value, or fails while the file named by item['fail_if'] exists."""
    if Path(item["fail_if"]).exists():
        raise RuntimeError(f"{item['id']} fails on purpose")
    out = Path(folder) / f"{item['id']}.txt"
    out.write_text(str(item["value"]))
    return str(out)
