"""Chunked, out-of-core and batch benchmarks: sep3d on dask against its peers, same run.

    python benchmarks/bench_dask.py [--repeats 5] [--quick] [--skip-big] [--out table.md]

1. 256^3 float32 in 128^3 chunks, Gaussian sigma 2 (threaded scheduler): sep3d chunked
   against sep3d in memory (the overhead), scipy.ndimage in memory, and dask-image (or,
   without it, the same map_overlap of scipy.ndimage it builds).
2. A 1024x1024x512 float32 volume (2 GiB) stored as Zarr, LoG sigma 2 Zarr-to-Zarr on a
   LocalCluster of 2 worker processes with 3 GiB of memory in total: wall time, peak RSS
   of the workers (sampled), against the in-memory path on a 512^3 slice scaled by 4.
3. Batch: 16 synthetic CT cases (64x256x256 int16) through a Gaussian/LoG/gradient bank
   to NRRD on sep3d.batch, LocalCluster of 1 vs 2 workers: throughput ratio.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi

import dask
import dask.array as da
import sep3d
from sep3d import chunked
from sep3d.filters import plan_laplacian_of_gaussian

from timing import median_time, print_report  # benchmarks/timing.py (benchmarks/ is on sys.path)


def chunked_overhead(repeats, n=256, chunk=128):
    rng = np.random.default_rng(0)
    vol = rng.standard_normal((n, n, n), dtype=np.float32)
    lazy = da.from_array(vol, chunks=chunk)
    out = np.empty_like(vol)
    try:
        from dask_image.ndfilters import gaussian_filter as dask_image_gaussian
        peer_name = "dask-image"
    except ImportError:
        dask_image_gaussian = None
        peer_name = "dask map_overlap + scipy"

    def peer():
        if dask_image_gaussian is not None:
            return dask_image_gaussian(lazy, 2.0).compute()
        return lazy.map_overlap(ndi.gaussian_filter, depth=8, boundary="none", sigma=2.0).compute()

    with dask.config.set(scheduler="threads"):
        rows = {
            "sep3d in memory (new result)": median_time(lambda: sep3d.gaussian(vol, 2.0), repeats),
            "sep3d in memory (output=)": median_time(lambda: sep3d.gaussian(vol, 2.0, output=out), repeats),
            "sep3d chunked .compute()": median_time(lambda: sep3d.gaussian(lazy, 2.0).compute(), repeats),
            "sep3d chunked da.store(into)": median_time(
                lambda: da.store(sep3d.gaussian(lazy, 2.0), out, lock=False), repeats),
            "scipy.ndimage in memory": median_time(lambda: ndi.gaussian_filter(vol, 2.0, output=out), repeats),
            peer_name + " .compute()": median_time(peer, repeats),
        }
    ref = ndi.gaussian_filter(vol.astype(np.float64), 2.0)
    err = float(np.abs(sep3d.gaussian(lazy, 2.0).compute() - ref).max() / np.abs(ref).max())
    base = rows["sep3d chunked .compute()"]
    lines = [f"### Chunked vs in memory: {n}^3 float32, {chunk}^3 chunks, Gaussian sigma 2 "
             f"(threaded scheduler, median of {repeats})", "",
             "| implementation | median time | time / sep3d chunked .compute() |", "|---|---:|---:|"]
    for name, t in rows.items():
        lines.append(f"| {name} | {t * 1e3:.0f} ms | {t / base:.2f} |")
    lines += ["", "Chunked overhead: `.compute()` / in memory (new result) "
              f"**{base / rows['sep3d in memory (new result)']:.2f}x**; `da.store` into an array / in memory "
              f"(output=) **{rows['sep3d chunked da.store(into)'] / rows['sep3d in memory (output=)']:.2f}x**; "
              f"{peer_name} / scipy in memory: {rows[peer_name + ' .compute()'] / rows['scipy.ndimage in memory']:.2f}x; "
              f"sep3d chunked is {rows[peer_name + ' .compute()'] / base:.1f}x faster than {peer_name}. "
              f"Max error of the chunked result vs scipy float64: {err:.1e} of max|ref|.", ""]
    return lines


class RssSampler:
    """Samples the summed RSS of the cluster's worker processes (psutil, by pid)."""

    def __init__(self, client, every=0.2):
        import psutil

        pids = client.run(os.getpid).values()
        self.procs = [psutil.Process(pid) for pid in pids]
        self.every, self.peak, self.peak_one = every, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            rss = []
            for p in self.procs:
                try:
                    rss.append(p.memory_info().rss)
                except Exception:
                    pass
            if rss:
                self.peak = max(self.peak, sum(rss))
                self.peak_one = max(self.peak_one, max(rss))
            time.sleep(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def out_of_core(workdir, shape=(512, 1024, 1024)):
    """LoG sigma 2, Zarr to Zarr, on 2 workers x 1.5 GiB (3 GiB total) for a 2 GiB volume."""
    from distributed import Client, LocalCluster

    plan = plan_laplacian_of_gaussian(3, 2.0)
    chunks = chunked.suggest_chunks(shape, plan, "160MiB")
    src, dst = str(Path(workdir) / "in.zarr"), str(Path(workdir) / "out.zarr")
    gib = np.prod(shape) * 4 / 2**30
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        da.random.default_rng(0).standard_normal(shape, dtype=np.float32, chunks=chunks).to_zarr(src, overwrite=True)
    write_s = time.perf_counter() - t0

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1.5GiB",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        with RssSampler(client) as rss:
            t0 = time.perf_counter()
            lazy = da.from_zarr(src)
            sep3d.laplacian_of_gaussian(lazy, 2.0).to_zarr(dst, overwrite=True)
            zarr_s = time.perf_counter() - t0
    # the in-memory path on a 512^3 slice, same machine, scaled to the whole volume
    import zarr

    part = np.asarray(zarr.open_array(src, mode="r")[:, :512, :512])
    out = np.empty_like(part)
    mem_s = median_time(lambda: sep3d.laplacian_of_gaussian(part, 2.0, output=out), 3)
    scale = np.prod(shape) / part.size
    ref = ndi.gaussian_laplace(part[:64, :128, :128].astype(np.float64), 2.0)
    got = np.asarray(zarr.open_array(dst, mode="r")[:64, :128, :128])
    inner = (slice(0, 56), slice(0, 120), slice(0, 120))  # away from the slice's own cut faces
    err = float(np.abs(got[inner] - ref[inner]).max() / np.abs(ref).max())
    return [f"### Out of core: {shape[2]}x{shape[1]}x{shape[0]} float32 ({gib:.1f} GiB) Zarr -> LoG sigma 2 -> Zarr",
            "", f"LocalCluster 2 worker processes x 1 thread, memory_limit 1.5 GiB each (3 GiB total); "
            f"chunks {chunks} (`suggest_chunks(shape, plan, '160MiB')`).", "",
            "| measure | value |", "|---|---:|",
            f"| Zarr -> LoG -> Zarr wall time | {zarr_s:.1f} s |",
            f"| peak RSS, both workers summed | {rss.peak / 2**30:.2f} GiB |",
            f"| peak RSS, one worker | {rss.peak_one / 2**30:.2f} GiB |",
            f"| in memory, 512^3 slice (2 threads) | {mem_s:.2f} s |",
            f"| in memory scaled x{scale:.0f} (no I/O) | {mem_s * scale:.1f} s |",
            f"| out of core / scaled in memory | {zarr_s / (mem_s * scale):.2f}x |",
            f"| writing the input Zarr (for scale) | {write_s:.1f} s |", "",
            f"Max error of the out-of-core result vs scipy float64 on a 64x128x128 corner: {err:.1e} of max|ref|.", ""]


def bank_step(item, folder):
    """A batch step: one synthetic case through Gaussian / LoG / gradient to NRRD."""
    from sep3d import datasets
    from sep3d.io import ct

    image, _ = datasets.synthetic_ct(shape=(64, 256, 256), spacing=(2.0, 0.7, 0.7), seed=int(item))
    vol, spacing = ct.from_sitk(image)
    outs = {"gaussian": sep3d.gaussian(vol, 1.5, spacing=spacing),
            "log": sep3d.laplacian_of_gaussian(vol, 3.0, spacing=spacing, normalize=True),
            "grad": sep3d.gradient_magnitude(vol, 1.0, spacing=spacing)}
    return [str(ct.write_image(v, Path(folder) / f"case{item}-{k}.nrrd", like=image)) for k, v in outs.items()]


def batch_throughput(workdir, n_cases=16):
    from sep3d import batch

    rows = {}
    for workers in (1, 2):
        out = Path(workdir) / f"batch-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        report = batch.run([str(i) for i in range(n_cases)], bank_step, out, n_workers=workers, progress=False)
        assert len(report.done) == n_cases, report.failed
        rows[workers] = report.seconds
    return [f"### Batch: {n_cases} synthetic cases (64x256x256) through Gaussian/LoG/gradient to NRRD", "",
            "| workers | wall time (incl. cluster start) | cases/s |", "|---:|---:|---:|",
            *(f"| {w} | {t:.1f} s | {n_cases / t:.2f} |" for w, t in rows.items()), "",
            f"Throughput 2 workers / 1 worker: **{rows[1] / rows[2]:.2f}x**.", ""]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller volumes (a smoke run)")
    parser.add_argument("--skip-big", action="store_true", help="skip the 2 GiB out-of-core run")
    parser.add_argument("--out", help="also write the tables to this file")
    args = parser.parse_args()
    lines = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, numpy {np.__version__}, dask {dask.__version__}, "
             f"sep3d {sep3d.__version__}", ""]
    lines += chunked_overhead(args.repeats, n=128 if args.quick else 256, chunk=64 if args.quick else 128)
    with tempfile.TemporaryDirectory(prefix="sep3d-bench-", dir=os.environ.get("SEP3D_BENCH_TMP")) as tmp:
        if not args.skip_big:
            lines += out_of_core(tmp, shape=(128, 256, 256) if args.quick else (512, 1024, 1024))
        lines += batch_throughput(tmp, n_cases=4 if args.quick else 16)
    print_report(lines, args.out)


if __name__ == "__main__":
    main()
