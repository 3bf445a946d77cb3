"""The demo pipeline: a real CT/MR case through sep3d's filters, timed against scipy.ndimage.

``sep3d demo`` loads a PyRadiomics sample case (a synthetic CT phantom when it cannot be
fetched), applies a Gaussian, a scale-normalised LoG and a gradient magnitude with the
scan's physical spacing, writes the filtered volumes as NRRD with the source geometry,
draws a quicklook PNG (orthogonal slices before/after) and prints one timing line per
filter against the equivalent scipy.ndimage call.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi

from . import datasets, filters
from .io import ct

FILTERS = (
    # name, sep3d call, equivalent scipy call (sigma in voxels), sigma in mm
    ("gaussian", lambda v, s, sp: filters.gaussian(v, s, spacing=sp),
     lambda v, s, sp: ndi.gaussian_filter(v, np.divide(s, sp)), 1.5),
    ("log", lambda v, s, sp: filters.laplacian_of_gaussian(v, s, spacing=sp, normalize=True),
     lambda v, s, sp: _scipy_log(v, s, sp), 3.0),
    ("gradient_magnitude", lambda v, s, sp: filters.gradient_magnitude(v, s, spacing=sp),
     lambda v, s, sp: _scipy_gradient(v, s, sp), 1.5),
)


def _scipy_log(vol, sigma, spacing):
    total = np.zeros(vol.shape, np.float32)
    for axis in range(vol.ndim):
        order = [0] * vol.ndim
        order[axis] = 2
        total += ndi.gaussian_filter(vol, np.divide(sigma, spacing), order=order) * (sigma / spacing[axis]) ** 2
    return total


def _scipy_gradient(vol, sigma, spacing):
    total = np.zeros(vol.shape, np.float32)
    for axis in range(vol.ndim):
        order = [0] * vol.ndim
        order[axis] = 1
        total += (ndi.gaussian_filter(vol, np.divide(sigma, spacing), order=order) / spacing[axis]) ** 2
    return np.sqrt(total)


def _best_of(func, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def load_case(case, synthetic=False):
    """(image, mask, label) for the demo: the sample case, or the phantom when unavailable."""
    if not synthetic:
        try:
            image, mask = datasets.sample_case(case)
            return image, mask, f"PyRadiomics sample case {case!r}"
        except datasets.SampleDataUnavailable as exc:
            print(f"sample case unavailable ({str(exc).splitlines()[0]}); using the synthetic phantom")
    image, mask = datasets.synthetic_ct()
    return image, mask, "synthetic CT phantom"


def run(out_dir="demo-output", case="lung1", synthetic=False, repeats=3):
    """Run the demo; returns the paths written."""
    from .versions import report

    print(report())  # what runs here: the CPU engine, the PyRadiomics build, CuPy
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    image, mask, label = load_case(case, synthetic)
    volume, spacing = ct.from_sitk(image)
    print(f"{label}: shape {volume.shape} (z, y, x), spacing {tuple(round(s, 4) for s in spacing)} mm, "
          f"{volume.dtype}")
    filters.gaussian(volume[:4, :8, :8], 1.0)  # compile (or load cached) kernels before timing
    vol32 = volume.astype(np.float32)
    written, results = [], {}
    for name, ours, theirs, sigma in FILTERS:
        t_ours, result = _best_of(lambda: ours(volume, sigma, spacing), repeats)
        t_ref, reference = _best_of(lambda: theirs(vol32, sigma, spacing), 1)
        err = float(np.abs(result - reference).max() / max(1e-12, float(np.abs(reference).max())))
        print(f"  {name:<19} sigma {sigma} mm: sep3d {t_ours * 1e3:8.1f} ms   scipy.ndimage {t_ref * 1e3:8.1f} ms"
              f"   speed-up {t_ref / t_ours:5.1f}x   max rel. difference {err:.1e}")
        path = ct.write_image(result, out_dir / f"{case if 'sample' in label else 'phantom'}_{name}.nrrd", like=image)
        written.append(path)
        results[name] = result
    png = quicklook(volume, results, ct.from_sitk(mask)[0], spacing, out_dir / "quicklook.png", label)
    written.append(png)
    print(f"wrote {len(written)} files to {out_dir}/: " + ", ".join(p.name for p in written))
    return written


def quicklook(volume, results, mask, spacing, path, title):
    """Orthogonal slices through the lesion centre: the scan and each filtered volume."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centre = [int(round(c)) for c in ndi.center_of_mass(mask)] if mask.any() else [n // 2 for n in volume.shape]
    panels = [("input", volume)] + list(results.items())
    fig, axes = plt.subplots(3, len(panels), figsize=(3.2 * len(panels), 9))
    views = (("axial", lambda v: v[centre[0]], spacing[1] / spacing[2]),
             ("coronal", lambda v: v[:, centre[1]], spacing[0] / spacing[2]),
             ("sagittal", lambda v: v[:, :, centre[2]], spacing[0] / spacing[1]))
    for col, (name, vol) in enumerate(panels):
        for row, (view, take, aspect) in enumerate(views):
            ax = axes[row, col]
            sl = take(vol)
            lo, hi = np.percentile(sl, [1, 99])
            ax.imshow(sl, cmap="gray", vmin=lo, vmax=hi, aspect=aspect, origin="lower" if row else "upper")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name)
            if col == 0:
                ax.set_ylabel(view)
    fig.suptitle(f"sep3d demo: {title}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
