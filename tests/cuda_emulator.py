"""Run sep3d's CUDA kernel sources on the CPU: a test oracle for the dispatch and the kernels.

The ``.cu`` files are compiled unchanged with g++ against ``cuda_emulator.h`` (threads as
fibers, ``__syncthreads`` as a scheduler switch, blocks one after another), one shared
library per kernel specialisation family, cached on disk by content hash. An
:class:`EmulatedDevice` stands in for :class:`sep3d.backends.cuda.CupyDevice`: NumPy
arrays are device memory, allocations are poisoned with NaN, launches call the compiled
kernels through ctypes with the very grid, block, shared-memory size and arguments the
engine computed. It says nothing about speed or about races between truly parallel
threads; the GPU check (benchmarks/gpu_check.sh) covers those.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import numpy as np

from sep3d.backends import cuda

HERE = pathlib.Path(__file__).parent
CACHE = pathlib.Path(os.environ.get("SEP3D_EMULATOR_CACHE", pathlib.Path(tempfile.gettempdir()) / "sep3d-cuda-emulator"))
COMPILER = shutil.which("g++") or shutil.which("c++")

_CT = {"int": ctypes.c_int32, "long long": ctypes.c_int64, "float": ctypes.c_float, "double": ctypes.c_double}


def _family(expr):
    """Name expressions that differ only in MODE share one library."""
    kernel, params = re.fullmatch(r"(\w+)<(.*)>", expr).groups()
    values = [v.strip() for v in params.split(",")]
    template = cuda.KERNELS[kernel].template
    mode_at = template.index("MODE")
    return kernel, values, mode_at


def _library(expr):
    kernel, values, mode_at = _family(expr)
    sig = cuda.KERNELS[kernel]
    ctype = values[0]
    exprs = []
    for mode in range(5):
        v = list(values)
        v[mode_at] = str(mode)
        exprs.append(f"{kernel}<{', '.join(v)}>")
    lines = [f'#include "{HERE / "cuda_emulator.h"}"', cuda.kernel_source(sig.source)]
    for mode, e in enumerate(exprs):
        casts = ", ".join(f"*({t.replace('T', ctype) if t != 'T' else ctype}*)a[{i}]"
                          for i, t in enumerate(sig.args))
        lines.append(
            f'extern "C" int launch_{mode}(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, '
            f"unsigned bz, unsigned long shared, int reverse, void** a) {{\n"
            f"  return emu_launch(dim3{{gx, gy, gz}}, dim3{{bx, by, bz}}, shared, reverse, [=] {{ {e}({casts}); }});\n}}")
    code = "\n".join(lines)
    digest = hashlib.sha256((code + (HERE / "cuda_emulator.h").read_text()).encode()).hexdigest()[:16]
    CACHE.mkdir(parents=True, exist_ok=True)
    so = CACHE / f"{kernel}-{digest}.so"
    if not so.exists():
        src = CACHE / f"{kernel}-{digest}-{os.getpid()}.cpp"
        src.write_text(code)
        tmp = CACHE / f"{kernel}-{digest}-{os.getpid()}.so"
        subprocess.run([COMPILER, "-std=c++17", "-O1", "-fPIC", "-shared", "-w", "-o", str(tmp), str(src)],
                       check=True, capture_output=True, text=True)
        os.replace(tmp, so)  # atomic: parallel test workers may build the same library
        src.unlink()
    return ctypes.CDLL(str(so))


_libraries = {}


class EmulatedDevice:
    """The CUDA engine's device interface on the CPU (see the module docstring)."""

    xp = np
    oom_error = MemoryError

    def __init__(self, max_shared=cuda.DEFAULT_SHARED_BYTES, reverse=False, free=1 << 40, host_arrays=True):
        self.host_arrays = host_arrays  # False: NumPy arrays play CuPy arrays (already on the device)
        self.max_shared = max_shared
        self.reverse = reverse
        self.free = free
        self.launches = []
        self._keep = []

    def empty(self, shape, dtype):
        return np.full(shape, np.nan, dtype)  # poisoned: an element never written stays NaN

    def to_device(self, host):
        arr = np.array(host, copy=True, order="C")
        self._keep.append(arr)
        return arr

    def to_host(self, arr):
        return np.array(arr)

    def is_host(self, arr):
        return self.host_arrays

    def pointer_array(self, arrays):
        return self.to_device(np.array([a.ctypes.data for a in arrays], np.uint64))

    def free_bytes(self):
        return self.free

    def release_cache(self):
        pass

    def launch(self, launch):
        self.launches.append(launch)
        expr = launch.name_expression
        lib_key = _family_key(expr)
        if lib_key not in _libraries:
            _libraries[lib_key] = _library(expr)
        lib = _libraries[lib_key]
        _, values, mode_at = _family(expr)
        fn = getattr(lib, f"launch_{values[mode_at]}")
        sig = cuda.KERNELS[launch.kernel]
        ctype = values[0]
        holders = []
        for value, t in zip(launch.args, sig.args):
            if "*" in t:
                assert isinstance(value, np.ndarray) and value.flags.c_contiguous, t
                holders.append(ctypes.c_void_p(value.ctypes.data))
            else:
                holders.append(_CT[ctype if t == "T" else t](value))
        argv = (ctypes.c_void_p * len(holders))(*[ctypes.cast(ctypes.pointer(h), ctypes.c_void_p) for h in holders])
        status = fn(*[ctypes.c_uint(v) for v in launch.grid], *[ctypes.c_uint(v) for v in launch.block],
                    ctypes.c_ulong(launch.shared_bytes), ctypes.c_int(int(self.reverse)), argv)
        if status:
            raise AssertionError(f"{expr}: threads of a block reached different numbers of __syncthreads")


def _family_key(expr):
    kernel, values, mode_at = _family(expr)
    values[mode_at] = "MODE"
    return f"{kernel}<{', '.join(values)}>"
