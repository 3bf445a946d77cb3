"""CPU benchmark: sep3d against scipy.ndimage and SimpleITK, same run, medians and ratios.

    python benchmarks/bench_cpu.py [--repeats 5] [--quick] [--out table.md]

Prints a markdown table per volume (256^3 and 512x512x128 float32): the median time of
each implementation, sep3d's speed-up over each peer, and sep3d's time in multiples of
the memory-copy floor (one ``np.copyto`` of the volume). Then sep3d.ndimage on an int16
volume into int16 (scipy's bits, checked) and on a Fortran-ordered float32 volume. Then the peak extra memory of a
3-D Gaussian and the first-call compile time (fresh process, empty and warm cache).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import tracemalloc

import numpy as np
import scipy.ndimage as ndi
import SimpleITK as sitk

import numba
import sep3d
from sep3d import ndimage as s3
import timing  # benchmarks/timing.py (the script's folder is on sys.path)
from timing import median_time, print_report


def sitk_filter(flt, vol_img):
    return lambda: flt.Execute(vol_img)


def cases(vol):
    img = sitk.GetImageFromArray(vol)
    out = np.empty_like(vol)
    rows = []
    for sigma in (1, 2, 4):
        g = sitk.SmoothingRecursiveGaussianImageFilter()
        g.SetSigma(float(sigma))
        rows.append((f"Gaussian sigma {sigma}",
                     lambda s=sigma: s3.gaussian_filter(vol, s, output=out),
                     lambda s=sigma: ndi.gaussian_filter(vol, s, output=out),
                     sitk_filter(g, img), 3))
    log = sitk.LaplacianRecursiveGaussianImageFilter()
    log.SetSigma(2.0)
    rows.append(("LoG sigma 2", lambda: s3.gaussian_laplace(vol, 2, output=out),
                 lambda: ndi.gaussian_laplace(vol, 2, output=out), sitk_filter(log, img), None))
    ggm = sitk.GradientMagnitudeRecursiveGaussianImageFilter()
    ggm.SetSigma(2.0)
    rows.append(("gradient magnitude sigma 2", lambda: s3.gaussian_gradient_magnitude(vol, 2, output=out),
                 lambda: ndi.gaussian_gradient_magnitude(vol, 2, output=out), sitk_filter(ggm, img), None))
    box = sitk.BoxMeanImageFilter()
    box.SetRadius(2)
    rows.append(("uniform size 5", lambda: s3.uniform_filter(vol, 5, output=out),
                 lambda: ndi.uniform_filter(vol, 5, output=out), sitk_filter(box, img), None))
    return rows


def bench_volume(shape, repeats, peer_repeats):
    vol = np.random.default_rng(0).random(shape, dtype=np.float32)
    dst = np.empty_like(vol)
    copy = median_time(lambda: np.copyto(dst, vol), max(repeats, 7))
    lines = [
        f"### {shape[2]}x{shape[1]}x{shape[0]} (x, y, z) float32 ({vol.nbytes / 2**20:.0f} MiB); "
        f"memory-copy floor {copy * 1e3:.1f} ms",
        "",
        "| filter | sep3d ms | scipy.ndimage ms | SimpleITK ms | vs scipy | vs SimpleITK | sep3d / copy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, ours, theirs, itk, copies in cases(vol):
        t_ours = median_time(ours, repeats)
        t_scipy = median_time(theirs, peer_repeats)
        t_itk = median_time(itk, peer_repeats)
        floor = f"{t_ours / copy:.1f}x" + (f" ({t_ours / (copies * copy):.2f}x of {copies} copies)" if copies else "")
        lines.append(f"| {name} | {t_ours * 1e3:.1f} | {t_scipy * 1e3:.1f} | {t_itk * 1e3:.1f} | "
                     f"{t_scipy / t_ours:.1f}x faster | {t_itk / t_ours:.1f}x faster | {floor} |")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def bench_int16(shape, repeats, peer_repeats):
    """sep3d.ndimage on an int16 CT-like volume into int16: scipy's bits (per-pass truncation)."""
    vol = np.random.default_rng(0).integers(-1024, 3000, size=shape).astype(np.int16)
    out = np.empty_like(vol)
    fortran = np.asfortranarray(vol.astype(np.float32))
    fortran_out = np.asfortranarray(np.empty(shape, np.float32))
    rows = [
        ("Gaussian sigma 2", lambda: s3.gaussian_filter(vol, 2, output=out),
         lambda: ndi.gaussian_filter(vol, 2, output=out)),
        ("LoG sigma 2", lambda: s3.gaussian_laplace(vol, 2, output=out),
         lambda: ndi.gaussian_laplace(vol, 2, output=out)),
        ("uniform size 5", lambda: s3.uniform_filter(vol, 5, output=out),
         lambda: ndi.uniform_filter(vol, 5, output=out)),
        ("Sobel", lambda: s3.sobel(vol, 0, output=out), lambda: ndi.sobel(vol, 0, output=out)),
        ("uniform_filter1d size 5 along x (one pass)", lambda: s3.uniform_filter1d(vol, 5, output=out),
         lambda: ndi.uniform_filter1d(vol, 5, output=out)),
        ("Gaussian sigma 2, float32 Fortran-ordered", lambda: s3.gaussian_filter(fortran, 2, output=fortran_out),
         lambda: ndi.gaussian_filter(fortran, 2, output=fortran_out)),
    ]
    lines = [
        f"### {shape[2]}x{shape[1]}x{shape[0]} (x, y, z) int16 into int16 (sep3d.ndimage: scipy's bits)",
        "",
        "| filter | sep3d ms | scipy.ndimage ms | vs scipy | equal to scipy |",
        "|---|---:|---:|---:|---|",
    ]
    for name, ours, theirs in rows:
        t_ours = median_time(ours, repeats)
        t_scipy = median_time(theirs, peer_repeats)
        if "Fortran" in name:
            same = "float32, to rounding"
        else:
            ours()
            mine = out.copy()
            theirs()
            same = "bit for bit" if np.array_equal(mine, out) else "NO"
        lines.append(f"| {name} | {t_ours * 1e3:.1f} | {t_scipy * 1e3:.1f} | {t_scipy / t_ours:.1f}x faster | "
                     f"{same} |")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def peak_extra_memory(shape):
    """Peak bytes NumPy allocates during a 3-D Gaussian, beyond the output, in volumes."""
    vol = np.random.default_rng(0).random(shape, dtype=np.float32)
    sep3d.gaussian(vol, 2.0)
    tracemalloc.start()
    out = sep3d.gaussian(vol, 2.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    extra = peak - out.nbytes
    return f"Peak extra memory of sep3d.gaussian(256^3 float32, 2): {extra / 2**20:.2f} MiB " \
           f"({extra / vol.nbytes:.3f} volumes; NumPy allocations traced, output excluded)"


def compile_times():
    code = ("import time, numpy as np; t=time.perf_counter(); import sep3d; "
            "x=np.random.rand(8, 9, 10).astype(np.float32); sep3d.gaussian(x, 1.0); "
            "sep3d.laplacian_of_gaussian(x, 1.0); print(time.perf_counter()-t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout)
        warm = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout)
    return (f"First call (import + float32 Gaussian + LoG) in a fresh process: {cold:.1f} s with an empty "
            f"Numba cache, {warm:.2f} s with the cache a previous process wrote")


def machine():
    return timing.machine(f", Numba {numba.__version__}, SimpleITK {sitk.Version.VersionString()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per sep3d timing (median)")
    parser.add_argument("--peer-repeats", type=int, default=3, help="runs per peer timing (median)")
    parser.add_argument("--quick", action="store_true", help="only 128^3 (a smoke run)")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args()
    shapes = [(128, 128, 128)] if args.quick else [(256, 256, 256), (128, 512, 512)]
    parts = [f"Machine: {machine()}", ""]
    for shape in shapes:
        parts += [bench_volume(shape, args.repeats, args.peer_repeats), ""]
    parts += [bench_int16(shapes[0], args.repeats, args.peer_repeats), ""]
    parts += [peak_extra_memory((256, 256, 256)), "", compile_times()]
    print_report(parts, args.out)


if __name__ == "__main__":
    main()
