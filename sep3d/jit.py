"""Numba's ``njit`` and ``prange`` for sep3d's small analysis kernels, or plain Python without numba.

The spectral analyses (continuum hulls, spectral angles, region and noise moments) loop
over pixels in a few compiled functions. Where numba cannot be imported they run as the
same Python functions: the same results, far more slowly (the filters themselves run on
the NumPy engine, :mod:`sep3d.backends.numpy_engine`). Importing this module never fails.
"""
from __future__ import annotations

from .backends import numba_import_error

__all__ = ["njit", "prange", "COMPILED"]

#: True when the kernels are compiled by numba.
COMPILED = numba_import_error() is None

if COMPILED:
    from numba import njit, prange
else:
    prange = range

    def njit(*args, **options):
        """Without numba: the function itself (``@njit``, ``@njit(...)`` and ``njit(...)(f)`` forms)."""
        if len(args) == 1 and callable(args[0]) and not options:
            return args[0]
        return lambda function: function
