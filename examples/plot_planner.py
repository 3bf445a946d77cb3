"""
The planner: direct, separable or FFT for any kernel
====================================================

``sep3d.convolve`` takes any dense 3-D kernel. A ball is not separable, but it is a sum of
a few separable terms (``sep3d.decompose``); the planner predicts what each way of running
it costs on this machine (direct taps, R separable terms, FFT) and ``method="auto"`` runs
the cheapest. This script predicts and measures every method for balls of growing radius,
and checks the result against ``scipy.ndimage.convolve``::

    python examples/plot_planner.py

``sep3d calibrate`` fits the cost constants to the machine (stored per user); without it
the planner uses defaults. The table goes to ``$SEP3D_EXAMPLE_OUT`` (default: a temporary
folder).
"""
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import scipy.ndimage as ndi

import sep3d
from sep3d import calibration


def ball(radius):
    z, y, x = np.mgrid[(slice(-radius, radius + 1),) * 3]
    return (z * z + y * y + x * x <= radius * radius).astype(np.float32)


shape = (48, 96, 96)
volume = np.random.default_rng(0).normal(size=shape).astype(np.float32)

# %%
# Predicted and measured seconds per method (each method run once on random data).
radii = [1, 2, 3, 4, 6]
tables = {r: calibration.measure_methods(ball(r), shape) for r in radii}
print(tables[4])

# %%
# ``method="auto"`` against scipy's direct convolution in float64.
kernel = ball(4)
auto = sep3d.convolve(volume, kernel, method="auto", mode="reflect")
reference = ndi.convolve(volume.astype(np.float64), kernel.astype(np.float64), mode="reflect")
error = np.abs(auto - reference).max() / np.abs(reference).max()
print(f"convolve(method='auto') chose {tables[4].choice}: max error {error:.1e} of the largest value")
assert error < 1e-5

# %%
# The ball as a sum of separable terms: the error left after each rank.
terms = sep3d.decompose(ball(6).astype(np.float64), tol=1e-6)
print(f"ball radius 6: rank {terms.rank}, relative error {terms.relative_error:.1e}")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
for method, marker in [("direct", "o"), ("separable", "s"), ("fft", "^")]:
    rows = [(r, tables[r][method]) for r in radii if method in tables[r].methods]
    line, = left.plot([r for r, _ in rows], [row.measured_s for _, row in rows], marker=marker, label=method)
    left.plot([r for r, _ in rows], [row.predicted_s for _, row in rows], ls="--", color=line.get_color())
left.set_yscale("log")
left.set_xlabel("ball radius (voxels)")
left.set_ylabel("seconds on 48x96x96 float32")
left.set_title("measured (solid) and predicted (dashed)")
left.legend()
right.semilogy(range(1, len(terms.errors_by_rank) + 1), terms.errors_by_rank, marker="o")
right.set_xlabel("separable terms")
right.set_ylabel("relative error")
right.set_title("ball radius 6 as a sum of separable terms")
fig.tight_layout()

out = os.environ.get("SEP3D_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="sep3d-example-")
path = os.path.join(out, "methods.txt")
with open(path, "w") as f:
    f.write("\n\n".join(str(tables[r]) for r in radii) + "\n")
print(f"wrote {path}")
