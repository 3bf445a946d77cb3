"""What the benchmark scripts share: the median timing, the machine line and the printed report."""
from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np
import scipy

import sep3d


def median_time(func, repeats):
    """The median wall time of `repeats` calls of `func`, after one warm-up call."""
    func()  # warm-up: numba compile or cache load, FFT plans, page faults
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine(extra=""):
    """CPU model, cores, sep3d's threads and the library versions, for a report's first line."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, sep3d threads {sep3d.get_num_threads()}; Python "
            f"{platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}{extra}")


def print_report(lines, out=None):
    """Print the report's `lines`; with `out`, also write them to that file."""
    text = "\n".join(lines)
    print(text)
    if out:
        with open(out, "w") as fh:
            fh.write(text + "\n")
