"""Spectral benchmark: sep3d.spectral against Spectral Python, and an out-of-core PCA.

    python benchmarks/bench_spectral.py [--shape 200x1000x1000] [--quick] [--repeats 3]
                                        [--peer-repeats 1] [--memory-limit 1GiB] [--out table.md]

(a) In memory, one float32 cube ``band x y x`` (default 200 x 1000 x 1000; 100 x 256 x 256
with ``--quick``), NumPy band-first for sep3d and the same values band-last for Spectral
Python: PCA statistics + projection to 10 components, MNF statistics, SAM against three
endmembers, continuum removal on a pixel subset. A markdown table gives the median time
of each (``median_time`` of benchmarks/timing.py: one warm-up, then the median of the repeats)
and sep3d's speed-up; a check line says the two agree.

(b) Out of core: a cube of twice ``--memory-limit`` is written to a Zarr store chunk by
chunk (never whole in memory), then a fresh Python process, whose private writable
memory is capped at the limit with ``RLIMIT_DATA`` (an allocation past it fails with
MemoryError, so the limit binds; ``MALLOC_ARENA_MAX=2``), opens it with dask, runs the streaming PCA (one pass)
and writes the 10-component projection to another Zarr store. Its peak RSS
(``getrusage(RUSAGE_CHILDREN)``) is printed against the cube size and the limit.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

_UNITS = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 10**3, "mb": 10**6, "gb": 10**9}


def parse_bytes(text):
    """'1GiB', '512MiB', '2e9' -> bytes."""
    t = text.strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if t.endswith(unit):
            return int(float(t[: -len(unit)]) * _UNITS[unit])
    return int(float(t))


def parse_shape(text):
    parts = [int(p) for p in text.lower().split("x")]
    if len(parts) != 3 or min(parts) < 2:
        raise argparse.ArgumentTypeError(f"--shape must be BANDSxYxX (e.g. 200x1000x1000); got {text!r}")
    return tuple(parts)


def endmember_spectra(nbands):
    """The three endmember spectra of sep3d.datasets.synthetic_cube (vegetation, soil, water)."""
    from sep3d.datasets import synthetic_cube

    _, truth = synthetic_cube((nbands, 4, 4), nodata=False)
    return truth["endmembers"].values, truth["wavelength"].values


def cube_block(endmembers, y0, y1, x0, x1, ny, nx, seed=0, noise=0.005):
    """One block ``(band, y1 - y0, x1 - x0)`` float32 of a deterministic scene.

    Abundances are smooth functions of the global pixel position (so blocks written
    separately form one scene), mixed through a softmax; Gaussian noise is drawn per
    block; a disc of pixels near the centre is nodata (NaN).
    """
    yy = (np.arange(y0, y1, dtype=np.float64) / ny)[:, None]
    xx = (np.arange(x0, x1, dtype=np.float64) / nx)[None, :]
    fields = np.stack([np.sin(2 * np.pi * (1.3 * yy + 0.7 * xx) + k) + np.cos(2 * np.pi * (2.1 * xx - 0.4 * yy) + 2 * k)
                       for k in range(endmembers.shape[0])])
    w = np.exp(fields / 0.5)
    w /= w.sum(axis=0)
    block = np.einsum("eb,eyx->byx", endmembers, w).astype(np.float32)
    rng = np.random.default_rng([seed, y0, x0])
    block += noise * rng.standard_normal(block.shape, dtype=np.float32)
    hole = (yy - 0.5) ** 2 + (xx - 0.5) ** 2 <= 0.05 ** 2
    block[:, hole] = np.nan
    return block


def make_cube(shape, seed=0):
    nbands, ny, nx = shape
    ends, wl = endmember_spectra(nbands)
    cube = np.empty(shape, np.float32)
    step = max(1, (64 * 2**20) // (nbands * nx * 8))
    for y0 in range(0, ny, step):
        cube[:, y0:y0 + step] = cube_block(ends, y0, min(ny, y0 + step), 0, nx, ny, nx, seed)
    return cube, ends, wl


# ---------------------------------------------------------------------------------------
# (a) in memory


def bench_in_memory(shape, repeats, peer_repeats):
    import spectral

    from timing import median_time
    from sep3d import spectral as sp

    cube, ends, wl = make_cube(shape)
    valid = np.isfinite(cube).all(axis=0)
    # Spectral Python raises on NaN: it gets the nodata pixels filled with the mean spectrum
    # (the same pixel count, so the same work); sep3d gets the NaN cube and skips them itself.
    img = np.ascontiguousarray(np.moveaxis(cube, 0, -1))
    img[~valid] = np.nanmean(img[valid], axis=0)
    nbands, ny, nx = shape
    rows = []

    def spy_pca():
        pc = spectral.principal_components(img)
        return pc, pc.reduce(num=10).transform(img)            # an ndarray: computed here

    def s3_pca():
        r = sp.pca(cube)
        return r, r.transform(cube, 10)

    rows.append(("PCA statistics + projection to 10 components", spy_pca, s3_pca))
    rows.append(("MNF statistics (noise: lower-right differences)",
                 lambda: spectral.mnf(spectral.calc_stats(img), spectral.noise_from_diffs(img)),
                 lambda: sp.mnf(cube, noise="lowerright")))
    rows.append(("SAM, 3 endmembers", lambda: spectral.spectral_angles(img, ends), lambda: sp.sam(cube, ends)))
    sub = min(ny, nx, 100 if nbands * ny * nx > 2e7 else 50)
    cr_cube = np.ascontiguousarray(cube[:, :sub, :sub].astype(np.float64))
    cr_img = np.ascontiguousarray(np.moveaxis(cr_cube, 0, -1))
    rows.append((f"continuum removal ({sub}x{sub} pixels)",
                 lambda: spectral.remove_continuum(cr_img, wl), lambda: sp.continuum_removed(cr_cube, wavelength=wl)))

    lines = [f"### {nbands} bands x {ny} x {nx} float32 ({cube.nbytes / 2**20:.0f} MiB), "
             f"{(~valid).sum()} nodata pixels",
             "",
             "Spectral Python raises on NaN: it gets the nodata pixels filled with the mean spectrum; "
             "sep3d gets the NaN cube. Median of the repeats after one warm-up run.",
             "",
             "| case | Spectral Python s | sep3d s | speed-up |",
             "|---|---:|---:|---:|"]
    for name, theirs, ours in rows:
        t_ours = median_time(ours, repeats)
        t_theirs = median_time(theirs, peer_repeats)
        lines.append(f"| {name} | {t_theirs:.3f} | {t_ours:.3f} | {t_theirs / t_ours:.1f}x |")
        print(lines[-1], file=sys.stderr, flush=True)

    # agreement on the valid pixels (Spectral's statistics include the filled ones: compare
    # SAM, which is per pixel, and PCA on a cube without nodata)
    pc, _ = spy_pca()
    r = sp.pca(np.moveaxis(img, -1, 0))
    rel = np.abs(r.eigenvalues[:10] - np.real(pc.eigenvalues[:10])).max() / pc.eigenvalues[0]
    ang = np.abs(sp.sam(cube, ends)[:, valid].T - spectral.spectral_angles(img, ends)[valid]).max()
    lines += ["", f"Check: PCA eigenvalues (first 10) agree to {rel:.1e} of the largest; SAM angles to "
                  f"{ang:.1e} rad (sep3d float32 output)."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# (b) out of core


def write_zarr(path, shape, chunk, seed=0):
    """Write the scene to a Zarr store chunk by chunk; never more than one chunk in memory."""
    import zarr

    nbands, ny, nx = shape
    ends, _ = endmember_spectra(nbands)
    arr = zarr.create_array(store=path, shape=shape, chunks=(nbands, chunk, chunk), dtype="float32",
                            compressors=None, fill_value=float("nan"), overwrite=True)
    for y0 in range(0, ny, chunk):
        for x0 in range(0, nx, chunk):
            y1, x1 = min(ny, y0 + chunk), min(nx, x0 + chunk)
            arr[:, y0:y1, x0:x1] = cube_block(ends, y0, y1, x0, x1, ny, nx, seed)
    return path


def child(args):
    """The out-of-core run, in a fresh process with RLIMIT_DATA = the limit."""
    limit = args["limit"]
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    import dask
    import dask.array as da
    import xarray as xr

    from sep3d import spectral as sp

    data = da.from_zarr(args["store"])
    cube = xr.DataArray(data, dims=("band", "y", "x"))
    with dask.config.set(scheduler="threads", num_workers=args["workers"]):
        t0 = time.perf_counter()
        result = sp.pca(cube, n_components=10)
        t1 = time.perf_counter()
        result.transform(cube).data.to_zarr(args["out"], overwrite=True)
        t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"stats_s": t1 - t0, "projection_s": t2 - t1, "n_pixels": int(result.n_pixels),
                      "peak_rss": peak, "first_eigenvalue": float(result.eigenvalues[0])}))


def bench_out_of_core(limit, nbands, workers, store=None):
    cube_bytes = 2 * limit
    side = math.ceil(math.sqrt(cube_bytes / (4 * nbands)))
    shape = (nbands, side, side)
    # chunks of about limit / 32, a multiple of 16 pixels on a side: a process holds a few
    # chunks at a time per thread (zarr's bytes and the decoded array, the task's temporaries)
    chunk = max(16, int(math.sqrt(limit / 32 / (4 * nbands))) // 16 * 16)
    tmp = tempfile.mkdtemp(prefix="sep3d-bench-spectral-")
    path = store or os.path.join(tmp, "cube.zarr")
    try:
        t0 = time.perf_counter()
        write_zarr(path, shape, chunk)
        t_write = time.perf_counter() - t0
        args = {"store": path, "out": os.path.join(tmp, "scores.zarr"), "limit": limit, "workers": workers}
        # two malloc arenas: freed chunk buffers are reused instead of spread over per-thread arenas
        env = dict(os.environ, MALLOC_ARENA_MAX="2")
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(args)],
                              capture_output=True, text=True, env=env)
        peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        actual = 4 * nbands * side * side
        head = (f"### Out of core: {nbands} x {side} x {side} float32 = {actual / 2**30:.2f} GiB in Zarr "
                f"(chunks {nbands} x {chunk} x {chunk}, {actual / 2**20 / (side / chunk) ** 2:.0f} MiB), "
                f"memory limit {limit / 2**30:.2f} GiB (RLIMIT_DATA), {workers} dask threads; written in "
                f"{t_write:.1f} s")
        if proc.returncode != 0:
            return head + f"\n\nFAILED under the limit (exit {proc.returncode}):\n```\n{proc.stderr[-3000:]}\n```"
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        return "\n".join([
            head, "",
            "| streaming PCA stats s | projection to 10 PCs -> Zarr s | valid pixels | peak RSS | "
            "peak / cube | peak / limit |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {res['stats_s']:.1f} | {res['projection_s']:.1f} | {res['n_pixels']} | "
            f"{peak_children / 2**20:.0f} MiB | {peak_children / actual:.2f} | {peak_children / limit:.2f} |",
            "",
            f"(peak RSS from getrusage(RUSAGE_CHILDREN); the child's own RUSAGE_SELF says "
            f"{res['peak_rss'] / 2**20:.0f} MiB)",
        ])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def machine():
    import spectral

    from timing import machine as cpu_machine  # benchmarks/timing.py

    return cpu_machine(f", Spectral Python {spectral.__version__}")


def main():
    from timing import print_report  # benchmarks/timing.py

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=parse_shape, help="BANDSxYxX of the in-memory cube (default 200x1000x1000)")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run): 100x256x256, 768MiB limit")
    parser.add_argument("--repeats", type=int, default=3, help="runs per sep3d timing (median)")
    parser.add_argument("--peer-repeats", type=int, default=1, help="runs per Spectral Python timing (median)")
    parser.add_argument("--memory-limit", type=parse_bytes, help="out-of-core memory limit (default 1GiB; "
                                                                 "768MiB with --quick); the cube is twice it")
    parser.add_argument("--workers", type=int, default=2, help="dask threads of the out-of-core run")
    parser.add_argument("--store", help="where to write the out-of-core Zarr cube (default: a temporary folder)")
    parser.add_argument("--skip-in-memory", action="store_true")
    parser.add_argument("--skip-out-of-core", action="store_true")
    parser.add_argument("--out", help="also write the report to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    shape = args.shape or ((100, 256, 256) if args.quick else (200, 1000, 1000))
    limit = args.memory_limit or parse_bytes("768MiB" if args.quick else "1GiB")
    parts = [f"Machine: {machine()}", ""]
    if not args.skip_out_of_core:  # first: RUSAGE_CHILDREN then covers only this child
        parts += [bench_out_of_core(limit, shape[0], args.workers, args.store), ""]
    if not args.skip_in_memory:
        parts += [bench_in_memory(shape, args.repeats, args.peer_repeats), ""]
    print_report(parts, args.out)


if __name__ == "__main__":
    main()
