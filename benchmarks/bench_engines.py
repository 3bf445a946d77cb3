"""The two CPU engines side by side: Numba (backend="cpu") and NumPy/SciPy (backend="numpy").

    python benchmarks/bench_engines.py [--repeats 5] [--quick] [--out table.md]

What a user without numba pays: one markdown table, a row per kind of plan (FIR
Gaussian, LoG's three terms, gradient magnitude's combine, moving average, recursive
Gaussian, position-dependent Savitzky-Golay along the bands), median times of both
engines and of scipy.ndimage (or scipy.signal) on the same input in the same run, and
the ratios. Every row first checks that the two engines agree (float32 tolerance).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import scipy.ndimage as ndi
from scipy.signal import savgol_filter

import sep3d

from timing import machine, median_time, print_report  # benchmarks/timing.py (the script's folder is on sys.path)


def rows(vol, cube, wl):
    savgol = {"savgol": {"window_length": 11, "polyorder": 2, "deriv": 1}}
    return [
        ("Gaussian sigma 2 (FIR)", lambda b: sep3d.gaussian(vol, 2.0, backend=b),
         lambda: ndi.gaussian_filter(vol, 2.0)),
        ("LoG sigma 2 (3 terms)", lambda b: sep3d.laplacian_of_gaussian(vol, 2.0, backend=b),
         lambda: ndi.gaussian_laplace(vol, 2.0)),
        ("gradient magnitude sigma 2 (combine)", lambda b: sep3d.gradient_magnitude(vol, 2.0, backend=b),
         lambda: ndi.gaussian_gradient_magnitude(vol, 2.0)),
        ("box size 5 (moving average)", lambda b: sep3d.box(vol, 5, backend=b),
         lambda: ndi.uniform_filter(vol, 5)),
        ("Gaussian sigma 4, recursive (IIR)", lambda b: sep3d.gaussian(vol, 4.0, method="recursive", backend=b),
         lambda: ndi.gaussian_filter(vol, 4.0)),
        (f"Savitzky-Golay d/dnm along {cube.shape[0]} bands (varying taps)",
         lambda b: sep3d.spatial_spectral(cube, spectral=savgol, wavelengths=wl, backend=b),
         lambda: savgol_filter(cube, 11, 2, deriv=1, delta=wl[1] - wl[0], axis=0)),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per timing (median)")
    parser.add_argument("--quick", action="store_true", help="128^3 and a small cube (a smoke run)")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (128, 128, 128) if args.quick else (256, 256, 256)
    cube_shape = (64, 128, 128) if args.quick else (200, 256, 256)
    vol = rng.random(shape, dtype=np.float32)
    cube = rng.random(cube_shape, dtype=np.float32)
    wl = np.linspace(400.0, 2500.0, cube_shape[0])
    import numba

    lines = [f"Machine: {machine(f', Numba {numba.__version__}')}", "",
             f"Volume {shape[2]}x{shape[1]}x{shape[0]} (x, y, z) float32; cube {cube_shape} (band, y, x) float32; "
             f"median of {args.repeats} runs each.", "",
             "| plan | Numba engine ms | NumPy engine ms | scipy ms | NumPy / Numba | NumPy engine vs scipy |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, ours, peer in rows(vol, cube, wl):
        a, b = ours("cpu"), ours("numpy")
        scale = float(np.abs(b).max())
        if not np.abs(a.astype(np.float64) - b).max() <= 1e-5 * scale + 1e-6:
            raise SystemExit(f"{name}: the engines disagree")
        t_cpu = median_time(lambda: ours("cpu"), args.repeats)
        t_np = median_time(lambda: ours("numpy"), args.repeats)
        t_peer = median_time(peer, max(3, args.repeats // 2))
        lines.append(f"| {name} | {t_cpu * 1e3:.1f} | {t_np * 1e3:.1f} | {t_peer * 1e3:.1f} | "
                     f"{t_np / t_cpu:.1f}x slower | {t_peer / t_np:.2f}x |")
        print(lines[-1], file=sys.stderr, flush=True)
    print_report(lines, args.out)


if __name__ == "__main__":
    main()
