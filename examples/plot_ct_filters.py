"""
CT filters with physical spacing
================================

Filter a CT volume in millimetres (not voxels), look at the plan sep3d runs, and write a
result with the scan's geometry. Uses the synthetic phantom (no download); swap in
``sep3d.datasets.sample_case("lung1")`` for a real scan::

    python examples/plot_ct_filters.py

The result file goes to ``$SEP3D_EXAMPLE_OUT`` (default: a temporary folder).
"""
import os
import tempfile

import matplotlib.pyplot as plt

import sep3d
from sep3d import datasets
from sep3d.io import ct

image, mask = datasets.synthetic_ct(shape=(40, 128, 128), spacing=(2.5, 0.7, 0.7))
volume, spacing = ct.from_sitk(image)  # (z, y, x) array and spacing in the same order

smooth = sep3d.gaussian(volume, 1.5, spacing=spacing)                        # sigma 1.5 mm
blobs = sep3d.laplacian_of_gaussian(volume, 4.0, spacing=spacing, normalize=True)
edges = sep3d.gradient_magnitude(volume, 1.0, spacing=spacing, mode="nearest")
hess = sep3d.hessian(volume, 2.0, spacing=spacing)                          # (6, z, y, x)

lesion = ct.from_sitk(mask)[0].astype(bool)
print(f"mean LoG inside the lesion {blobs[lesion].mean():.1f}, outside {blobs[~lesion].mean():.1f}")
print(f"strongest edge {edges.max():.0f} HU/mm; Hessian components {hess.shape[0]}")

# %%
# The plan: passes, taps per axis, halo and multiply-adds per voxel against the N-D kernel.
sep3d.describe(sep3d.laplacian_of_gaussian, volume, 4.0, spacing=spacing)

# %%
# One axial slice through the lesion, each filter in its own units.
z = int(lesion.any(axis=(1, 2)).nonzero()[0].mean())
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
for ax, (title, data) in zip(axes, [("CT (HU)", volume), ("Gaussian 1.5 mm", smooth),
                                    ("LoG 4 mm, normalised", blobs), ("gradient (HU/mm)", edges)]):
    ax.imshow(data[z], cmap="gray")
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()

out = os.environ.get("SEP3D_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="sep3d-example-")
path = os.path.join(out, "lesion_log.nrrd")
ct.write_image(blobs, path, like=image)  # same origin, spacing, direction as the scan
print(f"wrote {path} ({blobs.dtype})")
