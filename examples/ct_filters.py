"""Filter a CT volume with physical spacing and look at the plan sep3d runs.

    python examples/ct_filters.py

Uses the synthetic phantom (no download); swap in ``sep3d.datasets.sample_case("lung1")``
for a real scan.
"""
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

sep3d.describe(sep3d.laplacian_of_gaussian, volume, 4.0, spacing=spacing)
ct.write_image(blobs, "lesion_log.nrrd", like=image)  # same origin, spacing, direction as the scan
print(f"wrote lesion_log.nrrd ({blobs.dtype})")
