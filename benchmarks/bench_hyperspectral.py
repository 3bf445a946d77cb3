"""Hyperspectral filter benchmark: sep3d's spatial-spectral filters against scipy, same run.

    python benchmarks/bench_hyperspectral.py [--shape 200,1000,1000] [--repeats 3] [--quick]

A float32 cube (band, y, x) from :func:`sep3d.datasets.synthetic_cube`'s spectra (noise
and a nodata region). For each case the median time of sep3d and of the equivalent
scipy calls (scipy.ndimage filters, scipy.signal.savgol_filter, numpy.tensordot) and the
ratio, plus the largest difference between the two results (relative to the largest
value). Prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np
import scipy
import scipy.ndimage as ndi
import scipy.signal as ss

import numba
import sep3d

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import median_time  # noqa: E402  (benchmarks/timing.py)


def make_cube(shape, seed=0):
    """A float32 cube of synthetic spectra, shape (band, y, x), without allocating float64 copies."""
    from sep3d.datasets import synthetic_cube

    small, _ = synthetic_cube((shape[0], 64, 64), seed=seed, nodata=False)
    rng = np.random.default_rng(seed)
    cube = np.empty(shape, np.float32)
    spectra = small.values.reshape(shape[0], -1)
    for y0 in range(0, shape[1], 64):
        pick = rng.integers(0, spectra.shape[1], size=min(64, shape[1] - y0) * shape[2])
        cube[:, y0:y0 + 64] = spectra[:, pick].reshape(shape[0], -1, shape[2])
    cube += rng.standard_normal(shape, dtype=np.float32) * np.float32(0.005)
    return cube


def rel_diff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(b)
    return float(np.abs(a[ok] - b[ok]).max() / max(np.abs(b[ok]).max(), 1e-30))


def cases(cube):
    n_bands = cube.shape[0]
    wl = np.linspace(400.0, 2500.0, n_bands)
    out = np.empty_like(cube)
    gauss = {"gaussian": {"sigma": 2.0}}
    sg = {"savgol": {"window_length": 11, "polyorder": 2}}
    sg_d1 = {"savgol": {"window_length": 11, "polyorder": 2, "deriv": 1}}
    holes = cube.copy()
    holes[:, cube.shape[1] // 3:cube.shape[1] // 3 + 40, cube.shape[2] // 2:cube.shape[2] // 2 + 60] = np.nan
    pointwise = np.random.default_rng(1).standard_normal((10, n_bands))

    def scipy_sg_gauss():
        ndi.gaussian_filter(cube, (0, 2.0, 2.0), output=out)
        return ss.savgol_filter(out, 11, 2, axis=0)

    def scipy_nodata():
        valid = ~np.isnan(holes).any(axis=0)
        filled = np.where(valid, holes, np.float32(0))
        num = ndi.gaussian_filter(filled, (0, 2.0, 2.0))
        den = ndi.gaussian_filter(valid.astype(np.float32), 2.0)
        num /= np.where(valid, den, 1)[None]
        num[:, ~valid] = np.nan
        return num

    def scipy_depthwise():
        ndi.uniform_filter(cube, (1, 5, 5), output=out)
        return np.tensordot(pointwise.astype(np.float32), out, axes=([1], [0]))

    return [
        ("spatial Gaussian sigma 2 x spectral Savitzky-Golay (11, 2)",
         lambda: sep3d.spatial_spectral(cube, spatial=gauss, spectral=sg, wavelengths=wl, output=out),
         scipy_sg_gauss),
        ("spatial Gaussian sigma 2 per band",
         lambda: sep3d.spatial_spectral(cube, spatial=gauss, output=out),
         lambda: ndi.gaussian_filter(cube, (0, 2.0, 2.0), output=out)),
        ("Savitzky-Golay first derivative (11, 2), per nm",
         lambda: sep3d.spatial_spectral(cube, spectral=sg_d1, wavelengths=wl, output=out),
         lambda: ss.savgol_filter(cube, 11, 2, deriv=1, delta=wl[1] - wl[0], axis=0)),
        ("nodata: normalised Gaussian sigma 2 (a 40x60 hole)",
         lambda: sep3d.spatial_spectral(holes, spatial=gauss),
         scipy_nodata),
        ("depthwise-separable: box 5 + 10 x C_in mixing",
         lambda: sep3d.depthwise_separable(cube, spatial={"box": {"size": 5}}, pointwise=pointwise),
         scipy_depthwise),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="200,1000,1000", help="band,y,x")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a 100x300x300 cube, 1 repeat")
    args = parser.parse_args(argv)
    shape = (100, 300, 300) if args.quick else tuple(int(v) for v in args.shape.split(","))
    repeats = 1 if args.quick else args.repeats
    cube = make_cube(shape)
    print(f"## Hyperspectral filters: cube {shape[0]} bands x {shape[1]} x {shape[2]} float32 "
          f"({cube.nbytes / 2**20:.0f} MiB), median of {repeats}")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}, "
          f"scipy {scipy.__version__}, numba {numba.__version__}, sep3d {sep3d.__version__}, "
          f"threads {sep3d.get_num_threads()}")
    print()
    print("| case | sep3d s | scipy s | vs scipy | max rel. diff |")
    print("|---|---:|---:|---:|---:|")
    for name, mine, theirs in cases(cube):
        t_mine = median_time(mine, repeats)
        t_theirs = median_time(theirs, repeats)
        diff = rel_diff(np.array(mine()), theirs())  # a copy: both may write into `out`
        print(f"| {name} | {t_mine:.3f} | {t_theirs:.3f} | {t_theirs / t_mine:.2f}x | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
