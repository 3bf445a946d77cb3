"""
IBSI 2 filters and rotation invariance
======================================

The filters of the Image Biomarker Standardisation Initiative (IBSI 2) on a CT volume:
Laws texture energy, an undecimated Daubechies wavelet band, a Gabor filter and a LoG, each
rotation-invariant where IBSI asks for it. A rotation-invariant response of a rotated scan
is the rotated response of the scan; this script checks that against ``np.rot90``::

    python examples/plot_ibsi_filters.py

``sep3d ibsi2 --data DIR`` checks the same filters against IBSI's consensus maps. The result
file goes to ``$SEP3D_EXAMPLE_OUT`` (default: a temporary folder).
"""
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from sep3d import datasets, ibsi
from sep3d.io import ct

image, mask = datasets.synthetic_ct(shape=(32, 96, 96), spacing=(1.0, 1.0, 1.0))
volume, spacing = ct.from_sitk(image)
volume = volume.astype(np.float32)

# IBSI boundary names: "mirror" is scipy's "reflect", "zero" is "constant", "periodic" is "wrap".
responses = {
    "Laws E5L5S5 energy,\nrot.-inv. max": ibsi.laws(volume, "E5L5S5", energy=True, delta=7,
                                                    rotation_invariant=True, pooling="max"),
    "db3 LLH level 2,\nrot.-inv. mean": ibsi.wavelet(volume, "db3", "LLH", level=2,
                                                    rotation_invariant=True, pooling="mean"),
    "Gabor 5 mm, lambda 2 mm,\n8 orientations": ibsi.gabor(volume, 5.0, 2.0, gamma=1.5, theta_step=45,
                                                          spacing=spacing, mode="reflect"),
    "LoG 2 mm": ibsi.log(volume, 2.0, spacing=spacing),
}

# %%
# Rotation invariance, checked: filter the scan turned by 90 degrees in the axial plane and
# turn the result back. Laws and the wavelet pool over the 24 rotations of the cube, Gabor
# over a full turn of orientations in the plane; the LoG is isotropic.
turned = np.ascontiguousarray(np.rot90(volume, 1, axes=(1, 2)))
again = {
    "Laws": ibsi.laws(turned, "E5L5S5", energy=True, delta=7, rotation_invariant=True, pooling="max"),
    "wavelet": ibsi.wavelet(turned, "db3", "LLH", level=2, rotation_invariant=True, pooling="mean"),
    "Gabor": ibsi.gabor(turned, 5.0, 2.0, gamma=1.5, theta_step=45, spacing=spacing, mode="reflect"),
    "LoG": ibsi.log(turned, 2.0, spacing=spacing),
}
for (title, response), (name, rotated) in zip(responses.items(), again.items()):
    back = np.rot90(rotated, -1, axes=(1, 2))
    error = np.abs(back - response).max() / np.ptp(response)
    print(f"{name:8s} rotated scan vs rotated response: {100 * error:.1e}% of range")
    assert error < 1e-4, name

# One orientation alone is not invariant: the same check on the unpooled Laws kernel.
plain = ibsi.laws(volume, "E5L5S5", energy=True, delta=7)
back = np.rot90(ibsi.laws(turned, "E5L5S5", energy=True, delta=7), -1, axes=(1, 2))
print(f"Laws without pooling: {100 * np.abs(back - plain).max() / np.ptp(plain):.0f}% of range")

# %%
# One axial slice through the lesion.
lesion = ct.from_sitk(mask)[0].astype(bool)
z = int(lesion.any(axis=(1, 2)).nonzero()[0].mean())
fig, axes = plt.subplots(1, 5, figsize=(15, 3.8))
for ax, (title, data) in zip(axes, [("CT (HU)", volume), *responses.items()]):
    ax.imshow(data[z], cmap="gray")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.tight_layout()

out = os.environ.get("SEP3D_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="sep3d-example-")
path = os.path.join(out, "laws_energy.nrrd")
ct.write_image(responses["Laws E5L5S5 energy,\nrot.-inv. max"], path, like=image)
print(f"wrote {path}")
