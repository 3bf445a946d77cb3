"""Compile CUDA C to PTX with NVRTC through ctypes (no GPU, no CuPy needed).

NVRTC comes from the ``nvidia-cuda-nvrtc-cu12`` wheel (in the test extra on Linux).
"""
from __future__ import annotations

import ctypes
import glob
import os


def library():
    """The NVRTC shared library, or None when the wheel is not installed."""
    try:
        import nvidia.cuda_nvrtc as pkg
    except ImportError:
        return None
    for root in pkg.__path__:
        found = sorted(glob.glob(os.path.join(root, "lib", "libnvrtc.so*")))
        found = [f for f in found if "alt" not in os.path.basename(f)]
        if found:
            return ctypes.CDLL(found[0])
    return None


def compile_ptx(lib, source, name_expressions, options):
    """Compile `source` instantiating `name_expressions`; returns (ok, log, ptx_bytes)."""
    prog = ctypes.c_void_p()
    check = _checker(lib)
    check(lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"sep3d.cu", 0, None, None))
    try:
        for expr in name_expressions:
            check(lib.nvrtcAddNameExpression(prog, expr.encode()))
        opts = [o.encode() for o in options]
        argv = (ctypes.c_char_p * len(opts))(*opts)
        status = lib.nvrtcCompileProgram(prog, len(opts), argv)
        size = ctypes.c_size_t()
        check(lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size)))
        log = ctypes.create_string_buffer(size.value)
        check(lib.nvrtcGetProgramLog(prog, log))
        ptx_size = 0
        if status == 0:
            psize = ctypes.c_size_t()
            check(lib.nvrtcGetPTXSize(prog, ctypes.byref(psize)))
            ptx_size = psize.value
        return status == 0, log.value.decode(errors="replace"), ptx_size
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def _checker(lib):
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p

    def check(status):
        if status != 0:
            raise RuntimeError(f"NVRTC error {status}: {lib.nvrtcGetErrorString(status).decode()}")

    return check
