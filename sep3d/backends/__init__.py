"""Backend registry: which engine runs a plan, chosen from the array type.

``backend="auto"`` follows the input: NumPy arrays run on the CPU engine. CuPy and dask
inputs are recognised by their module without importing either library, so importing
sep3d never needs a GPU.
"""
from __future__ import annotations

import numpy as np

from .._validate import check_backend, check_image

__all__ = ["array_kind", "select", "as_input", "execute"]


def array_kind(array):
    """'numpy', 'cupy', 'dask' or 'other', from the array's type (no imports)."""
    if isinstance(array, np.ndarray):
        return "numpy"
    module = type(array).__module__.split(".")[0]
    if module in ("cupy", "dask"):
        return module
    return "other"


def select(backend, array):
    """The engine module for `backend` and this array."""
    backend = check_backend(backend)
    kind = array_kind(array)
    if kind in ("cupy", "dask"):
        raise NotImplementedError(
            f"{kind} arrays are not supported by this version of sep3d; "
            "convert the input to a NumPy array first"
        )
    if backend == "cuda":
        raise NotImplementedError(
            "`backend='cuda'` is not available in this version of sep3d; use 'cpu' or 'auto'"
        )
    from . import cpu

    return cpu


def as_input(array, backend="auto", name="image"):
    """Check `array` for `backend` (before any conversion) and return it as a valid NumPy input."""
    select(backend, array)  # rejects array types no engine takes, before np.asarray copies them
    return check_image(array, name)


def execute(plan, image, outputs, *, backend="auto", temp_dtype, compute_dtype):
    """Run `plan` on `image` into `outputs` with the chosen engine; returns `outputs`."""
    engine = select(backend, image)
    return engine.execute(plan, image, outputs, np.dtype(temp_dtype), np.dtype(compute_dtype))
