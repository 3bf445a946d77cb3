"""Measuring this machine for the planner: :func:`calibrate` and :func:`measure_methods`.

:mod:`sep3d.planner` is the cost model (work and bytes per method, turned into seconds by
per-machine constants) and never runs a filter. This module runs them: :func:`calibrate`
times each method on random volumes and writes the constants the planner reads
(:func:`sep3d.planner.load_calibration`); :func:`measure_methods` times every row of a
:func:`sep3d.planner.plan_methods` table (``sep3d plan --measure``).
"""
from __future__ import annotations

import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi
from scipy import fft

from .convolution import convolve, separable_correlate
from .filters import gaussian
from .kernels import gaussian_taps
from .planner import (DEFAULT_CONSTANTS, calibration_path, check_cost_backend, check_kernel, fft_padded,
                      load_calibration, method_costs, plan_methods, separable_rank)

__all__ = ["calibrate", "measure_methods", "MEASURE_LIMIT_S"]

#: Methods predicted to take longer than this are not measured (:func:`measure_methods`).
MEASURE_LIMIT_S = 30.0


def median_seconds(func, repeats=3):
    func()  # warm-up: numba compilation, FFT plans, page faults
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def method_runner(method, kern, image):
    """A no-argument callable that runs `method` once on `image`."""

    if method == "recursive":
        return lambda: gaussian(image, kern.sigma, method="recursive")
    if method == "separable":
        if kern.is_gaussian:
            return lambda: gaussian(image, kern.sigma, method="fir")
        if kern.array.ndim == 1:
            return lambda: ndi.correlate1d(image, kern.array, axis=0)
        sk = separable_rank(kern.array)[1]
        return lambda: separable_correlate(image, sk)
    dense = dense_kernel(kern).astype(image.dtype)
    if method == "direct":
        return lambda: convolve(image, dense, method="direct")
    return lambda: fft_correlate(image, dense)


def dense_kernel(kern):
    if not kern.is_gaussian:
        return kern.array
    dense = np.ones(())
    for s, k in zip(kern.sigma, kern.shape):
        dense = np.multiply.outer(dense, gaussian_taps(s, 0, k // 2) if s > 0 else np.ones(1))
    return dense


def fft_correlate(image, kernel):
    """Correlation through a zero-padded real FFT (timing stand-in for the fft method)."""
    padded = fft_padded(image.shape, kernel.shape)
    axes = tuple(range(image.ndim))
    spec = fft.rfftn(image, padded, axes=axes)
    spec *= np.conj(fft.rfftn(kernel, padded, axes=axes))
    full = fft.irfftn(spec, padded, axes=axes)
    return full[tuple(slice(0, n) for n in image.shape)]


def calibrate(*, backend="cpu", quick=False, path=None):
    """Measure this machine's throughput per method and cache it as JSON.

    Parameters
    ----------
    backend : {'cpu'}, optional
    quick : bool, optional
        64^3 volumes and two kernel sizes per method (a few seconds) instead of 256^3
        and three sizes (about 15 s on 2 cores: lines of 256, the size where the
        recursive boundary states and the caches behave as on real scans).
    path : str or Path, optional
        Where to write; default :func:`calibration_path`.

    Returns
    -------
    dict
        The constants (as :func:`load_calibration` returns them) plus ``"path"`` and
        ``"measurements"`` (method, kernel, work, bytes, seconds).

    Raises
    ------
    NotImplementedError
        A backend without a cost model.

    Notes
    -----
    Each run is the median of 3 after one warm-up call, on float32 random data:
    direct = ``sep3d.convolve(method='direct')`` (its copy at ``bytes_per_s``, measured
    first, taken off); separable = ``sep3d.gaussian(method='fir')``
    (rank 1, sum(k) taps); fft = ``scipy.fft.rfftn`` + ``irfftn`` on the padded volume;
    recursive = ``sep3d.gaussian(method='recursive')``. ``work_per_s[m]`` is the median
    of ``work / seconds`` over the runs of ``m``; for fft a line ``seconds = overhead +
    work / rate`` is fitted to its runs (a transform has a fixed cost besides n log n); ``bytes_per_s`` comes from a copy of the
    volume. The other overheads are not fitted.
    """
    check_cost_backend(backend)
    n = 64 if quick else 256
    dims = (n, n, n)
    dt = np.dtype(np.float32)
    image = np.random.default_rng(0).standard_normal(dims).astype(dt)
    cases = {
        "direct": [np.ones((k,) * 3) for k in ((3, 5) if quick else (3, 5, 7))],
        "separable": [("gaussian", s) for s in ((1.0, 3.0) if quick else (1.0, 3.0, 6.0))],
        "fft": [np.ones((k,) * 3) for k in ((3, 31) if quick else (3, 31, 63))],
        "recursive": [("gaussian", s) for s in ((2.0,) if quick else (2.0, 8.0))],
    }
    dst = np.empty_like(image)
    bandwidth = 2 * image.nbytes / median_seconds(lambda: np.copyto(dst, image))
    measurements, rates = [], {}
    fft_overhead = DEFAULT_CONSTANTS["overhead_s"]["fft"]
    for method, kernels in cases.items():
        ratios = []
        for kernel in kernels:
            kern = check_kernel(kernel, 3)
            entry = method_costs(kern, dims, dt)[method]
            secs = median_seconds(method_runner(method, kern, image))
            busy = secs - entry["bytes"] / bandwidth if method == "direct" else secs  # less its copy
            ratios.append(entry["work"] / max(busy, 0.1 * secs))
            measurements.append({"method": method, "kernel": kern.describe(), "work": entry["work"],
                                 "bytes": entry["bytes"], "seconds": secs})
        rates[method] = float(np.median(ratios))
        if method == "fft":  # a transform has a fixed cost besides its n log n: fit both
            work = np.array([m["work"] for m in measurements if m["method"] == "fft"])
            secs = np.array([m["seconds"] for m in measurements if m["method"] == "fft"])
            slope, c0 = np.polyfit(work, secs, 1)
            if slope > 0:
                rates["fft"] = float(1.0 / slope)
                fft_overhead = float(min(max(c0, 0.0), secs.min()))
    path = Path(path) if path is not None else calibration_path(backend)
    data = {"backend": backend, "node": platform.node(), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "quick": bool(quick), "work_per_s": rates, "bytes_per_s": bandwidth,
            "overhead_s": {**DEFAULT_CONSTANTS["overhead_s"], "fft": fft_overhead}, "measurements": measurements}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    result = load_calibration(backend, path=path)
    result.update(path=str(path), measurements=measurements)
    return result


def measure_methods(kernel, shape, dtype=np.float32, backend="cpu", *, calibration=None):
    """:func:`sep3d.planner.plan_methods`, each method also run once on random data of `shape`.

    After a warm-up call; methods predicted above 30 s are marked skipped.

    Examples
    --------
    >>> table = measure_methods(("gaussian", 1.0), (12, 12, 12))
    >>> all(row.measured_s > 0 for row in table.rows)
    True
    """
    table = plan_methods(kernel, shape, dtype, backend, calibration=calibration)
    kern = check_kernel(kernel, len(table.shape))
    image, rows = None, []
    for row in table.rows:
        if row.predicted_s > MEASURE_LIMIT_S:
            rows.append(dataclasses.replace(row, skipped=True))
            continue
        if image is None:
            dt = np.result_type(np.dtype(table.dtype), np.float32)
            image = np.random.default_rng(0).standard_normal(table.shape).astype(dt)
        rows.append(dataclasses.replace(row, measured_s=median_seconds(method_runner(row.method, kern, image),
                                                                       repeats=1)))
    return dataclasses.replace(table, rows=tuple(rows))
