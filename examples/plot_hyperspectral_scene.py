"""
A hyperspectral scene: smoothing, indices, spectral angles
==========================================================

A georeferenced reflectance cube (band, y, x) with wavelengths in nm and a CRS, here the
synthetic scene whose endmembers and abundances are known. Smooth it in space (metres) and
along the spectrum (Savitzky-Golay on the true wavelengths), compute NDVI, map each pixel
to its nearest endmember by spectral angle and score that against the truth, then write a
GeoTIFF and read it back::

    python examples/plot_hyperspectral_scene.py

Swap in ``sep3d.io.open_raster("scene.tif")`` (or ENVI, NetCDF, Zarr) for a real scene. The
GeoTIFF goes to ``$SEP3D_EXAMPLE_OUT`` (default: a temporary folder).
"""
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from sep3d import spectral
from sep3d.datasets import synthetic_cube
from sep3d.io import open_raster, write_raster

cube, truth = synthetic_cube((90, 128, 128), noise=0.05)   # 30 m pixels, 400-2500 nm
smooth = cube.sep3d.spatial_spectral(spatial={"gaussian": {"sigma": 30.0}},           # metres
                                     spectral={"savgol": {"window_length": 9, "polyorder": 2}})

ndvi = spectral.index(smooth, "ndvi")
angles = spectral.sam(smooth, truth["endmembers"])         # (endmember, y, x), radians
valid = truth["labels"] > 0                                # labels: 1 + dominant endmember, 0 = nodata
nearest = angles.fillna(np.inf).argmin("endmember").where(valid)

# %%
# Spectral angles on the raw and on the smoothed cube, scored against the known labels
# where one endmember makes up at least 80% of the pixel (mixed pixels have no right answer).
# Water is dark (~0.01 beyond 750 nm): 20% of vegetation in a water pixel tips its angle
# towards vegetation, so water is where the misses are.
pure = valid & (truth["abundance"].max("endmember") >= 0.8)
for name, data in [("raw", cube), ("smoothed", smooth)]:
    label = 1 + spectral.sam(data, truth["endmembers"]).fillna(np.inf).argmin("endmember")
    accuracy = float((label == truth["labels"]).where(pure).mean())
    print(f"SAM labels on the {name} cube: {100 * accuracy:.1f}% of {int(pure.sum())} nearly pure pixels right")
print(f"NDVI over vegetation {float(ndvi.where(truth['labels'] == 1).mean()):.2f}, "
      f"over water {float(ndvi.where(truth['labels'] == 3).mean()):.2f}")

# %%
# Written as a float32 GeoTIFF (the filter's values, not the source's storage encoding)
# and read back with its wavelengths and CRS.
out = os.environ.get("SEP3D_EXAMPLE_OUT") or tempfile.mkdtemp(prefix="sep3d-example-")
path = os.path.join(out, "smooth.tif")
write_raster(smooth, path)
back = open_raster(path)
assert np.allclose(back.wavelength, cube.wavelength) and back.rio.crs == cube.rio.crs
assert np.allclose(back.values, smooth.values, equal_nan=True)
print(f"wrote {path} ({back.dtype}, {back.sizes['band']} bands, {back.rio.crs})")

# %%
# NDVI, the nearest endmember, and one pixel's spectrum before and after smoothing.
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
ndvi.plot(ax=axes[0], cmap="RdYlGn", vmin=-1, vmax=1)
axes[0].set_title("NDVI (smoothed)")
classes = nearest.plot(ax=axes[1], cmap="viridis", levels=[-0.5, 0.5, 1.5, 2.5], cbar_kwargs={"ticks": [0, 1, 2]})
classes.colorbar.ax.set_yticklabels([str(name) for name in truth.endmember.values])
classes.colorbar.set_label("")
axes[1].set_title("nearest endmember (spectral angle)")
pixel = dict(y=int(cube.sizes["y"] // 3), x=int(cube.sizes["x"] // 3))
axes[2].plot(cube.wavelength, cube.isel(pixel), lw=0.8, label="raw")
axes[2].plot(cube.wavelength, smooth.isel(pixel), lw=1.5, label="smoothed")
axes[2].set_xlabel("wavelength (nm)")
axes[2].set_ylabel("reflectance")
axes[2].legend()
for ax in axes[:2]:
    ax.set_aspect("equal")
fig.tight_layout()
