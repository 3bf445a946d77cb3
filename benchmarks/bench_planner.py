"""Planner benchmark: every method on a grid of kernels, and how often the planner's pick is (near) the fastest.

    python benchmarks/bench_planner.py [--shape 256,256,256] [--sizes 3,7,15,31,63] [--quick]

For each kernel (a sampled Gaussian of that size, a random rank-3 kernel, a random full
kernel; size k per axis) on a float32 volume, the time of every applicable method
through sep3d's public paths (``sep3d.convolve(method=...)`` for direct / separable /
fft, ``sep3d.gaussian(method="fir" | "recursive")`` for the Gaussian), median of 3 (one
run above 2 s); a method the planner predicts above 30 s is not run. The planner first
calibrates this machine (``sep3d.calibration.calibrate``, into a temporary file). A cell
counts as a hit when the pick's measured time is within 15% of the fastest measured
method. Then the recursive Gaussian at sigma 16 against the FIR path.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import scipy.ndimage as ndi

import sep3d
from sep3d import calibration, planner

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def timed(func, repeats=3):
    func()  # warm-up: compile, page faults
    start = time.perf_counter()
    func()
    first = time.perf_counter() - start
    if first > 2.0:
        return first
    times = [first]
    for _ in range(repeats - 1):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def kernels(size, ndim, seed=0):
    rng = np.random.default_rng(seed)
    sigma = (size - 1) / 8.0  # truncate 4: radius = (size - 1) / 2
    yield "gaussian", ("gaussian", (sigma,) * ndim), sigma
    rank3 = sum(np.multiply.outer(np.multiply.outer(rng.standard_normal(size), rng.standard_normal(size)),
                                  rng.standard_normal(size)) for _ in range(3))
    yield "random rank-3", rank3, None
    yield "random full", rng.standard_normal((size,) * ndim), None


def runners(kind, kernel, sigma, image):
    if kind == "gaussian":
        radius = int(round(4 * sigma))
        dense = calibration.dense_kernel(planner.check_kernel(kernel, image.ndim)).astype(np.float32)
        return {"separable": lambda: sep3d.gaussian(image, sigma, radius=radius),
                "recursive": lambda: sep3d.gaussian(image, sigma, method="recursive"),
                "direct": lambda: sep3d.convolve(image, dense, method="direct"),
                "fft": lambda: sep3d.convolve(image, dense, method="fft")}
    return {m: (lambda m=m: sep3d.convolve(image, kernel, method=m)) for m in ("direct", "separable", "fft")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="256,256,256")
    parser.add_argument("--sizes", default="3,7,15,31,63")
    parser.add_argument("--quick", action="store_true", help="64^3, sizes 3,7,15")
    args = parser.parse_args(argv)
    shape = (64, 64, 64) if args.quick else tuple(int(v) for v in args.shape.split(","))
    sizes = (3, 7, 15) if args.quick else tuple(int(v) for v in args.sizes.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        constants = calibration.calibrate(quick=args.quick, path=os.path.join(tmp, "calibration.json"))
        print(f"calibrated in {time.perf_counter() - start:.1f} s: work/s "
              + ", ".join(f"{k} {v:.2g}" for k, v in constants["work_per_s"].items())
              + f"; memory {constants['bytes_per_s']:.2g} B/s")
    image = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    print(f"\n## Planner grid: {'x'.join(map(str, shape))} float32, {os.cpu_count()} cores, "
          f"sep3d threads {sep3d.get_num_threads()}\n")
    print("| kernel | size | direct s | separable s | fft s | recursive s | fastest | pick | pick / fastest | hit |")
    print("|---|---:|---:|---:|---:|---:|---|---|---:|---|")
    hits = cells = 0
    for size in sizes:
        for kind, kernel, sigma in kernels(size, len(shape)):
            table = planner.plan_methods(kernel, shape, np.float32, calibration=constants)
            run = runners(kind, kernel, sigma, image)
            measured = {}
            for row in table.rows:
                if row.method not in run:
                    continue
                if row.predicted_s > calibration.MEASURE_LIMIT_S:
                    measured[row.method] = None  # predicted far slower: not run
                    continue
                measured[row.method] = timed(run[row.method])
            done = {m: t for m, t in measured.items() if t is not None}
            fastest = min(done, key=done.get)
            pick = table.choice
            ratio = done[pick] / done[fastest] if pick in done else float("inf")
            hit = ratio <= 1.15
            hits += hit
            cells += 1
            cols = []
            for m in ("direct", "separable", "fft", "recursive"):
                t = measured.get(m, "n/a")
                cols.append("n/a" if t == "n/a" else ("skipped" if t is None else f"{t:.3f}"))
            print(f"| {kind} | {size} | " + " | ".join(cols) + f" | {fastest} | {pick} | {ratio:.2f} | "
                  f"{'yes' if hit else 'no'} |", flush=True)
    print(f"\npick within 15% of the fastest in {hits} of {cells} cells ({100 * hits / cells:.0f}%; target >= 90%)")
    sigma = 16.0
    print(f"\nGaussian sigma {sigma:g} on {'x'.join(map(str, shape))} {image.dtype} (129 taps per axis):")
    print("| mode | scipy.ndimage s | sep3d FIR s | sep3d recursive s | recursive / FIR speed | recursive / scipy speed |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode in ("reflect", "nearest"):
        ref = timed(lambda: ndi.gaussian_filter(image, sigma, mode=mode))
        fir = timed(lambda: sep3d.gaussian(image, sigma, mode=mode))
        rec = timed(lambda: sep3d.gaussian(image, sigma, mode=mode, method="recursive"))
        print(f"| {mode} | {ref:.3f} | {fir:.3f} | {rec:.3f} | {fir / rec:.2f}x | {ref / rec:.1f}x |", flush=True)
    print("target: recursive >= 5x the FIR speed")

if __name__ == "__main__":
    main()
