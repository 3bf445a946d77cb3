"""CPU engine: runs any FilterPlan on NumPy arrays with Numba-compiled parallel kernels.

Every pass filters one axis of a C-contiguous array seen as ``(outer, n, inner)``:

- the last axis (``inner == 1``) goes line by line: each line is copied once into a
  padded buffer with its boundary extension, then the taps sweep the buffer with the
  contiguous index innermost (vectorised);
- any other axis goes panel by panel: a ``(n + K - 1, block)`` panel of columns is copied
  with its boundary rows, then each output row is a sum of K panel rows, vectorised over
  the contiguous block;
- a recursive (IIR) operator runs as four second-order sections over a panel of columns
  (lines along the contiguous axis are transposed into it by tiles of vectors first),
  each started from its exact state before the edge, so no
  mode extends the lines. The recursion and the tile transposes are written as LLVM
  vector IR (``_strip_sections``, ``_transpose_tile`` in :mod:`.recursive`): Numba vectorises only
  innermost loops, and a recursion wants the columns as vector lanes with the row loop
  innermost and its states in registers.

Both copy their input before writing, so a pass may run in place (``src is dst``); the
plan's schedule uses that to build a chain of passes in the result array itself.
Boundary indices come from one helper (:func:`sep3d.backends.common.boundary_index`), computed once per pass.
Symmetric and antisymmetric taps (Gaussians and their derivatives) use half the
multiplies. The kernels let LLVM contract multiply-adds into FMA instructions
(``fastmath={"contract"}``, nothing else: NaN and infinity keep IEEE semantics), which
rounds once where mul + add rounds twice.

The modules, one job each:

- :mod:`.panels`: loading a panel of rows with its boundary, storing a result (shared);
- :mod:`.fir`: FIR passes (lines, panels) and the fused x-y pass;
- :mod:`.recursive`: recursive (IIR) passes, second-order sections in LLVM vector IR;
- :mod:`.varying`: position-dependent taps (Savitzky-Golay);
- :mod:`.dense`: the dense N-D correlation of ``sep3d.convolve(method="direct")``;
- :mod:`.exact`: scipy.ndimage's own arithmetic, bit for bit (``arithmetic="scipy"``);
- :mod:`.schedule`: a plan's schedule, layouts, aliasing (:func:`execute`).

Engine-neutral helpers (boundary indices, casts, layouts) are :mod:`sep3d.backends.common`;
the thread pool is :mod:`sep3d.backends.threads`. Everything here needs numba, which
sep3d imports only when this engine first runs.
"""
from __future__ import annotations

from .dense import run_dense_correlation
from .fir import run_fused_pass
from .recursive import IIR_FLOAT32_ERROR, iir_compute_dtype, run_recursive_pass, run_sections_pass
from .schedule import execute, run_pass, run_schedule
from .varying import run_varying_pass

__all__ = ["execute", "run_pass", "run_schedule", "run_fused_pass", "run_varying_pass", "run_sections_pass",
           "run_recursive_pass", "run_dense_correlation", "iir_compute_dtype", "IIR_FLOAT32_ERROR"]
