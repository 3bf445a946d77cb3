"""MIRP reference timings for the IBSI 2 filter configurations.

This script is run with MIRP's own interpreter (a separate virtualenv holding
``mirp``), not with the project's: ``benchmarks/bench_ibsi.py`` calls it as a
subprocess, so it must not import sep3d. Usage::

    /tmp/mirpenv/bin/python benchmarks/mirp_filters.py --input VOLUME.npy \\
        --spacing 1,1,1 --out DIR --repeats 3 [--only log,gabor]

VOLUME.npy is a float32 (z, y, x) array; --spacing is in mm, z,y,x order. For
each configuration the script builds MIRP's filter object the way MIRP's own
workflow does (``StandardWorkflow.transform_images``: settings object ->
``<Filter>(image, settings, name)`` -> ``generate_object()`` ->
``transform(image)``), on a ``GenericImage`` wrapping the array, with no
resampling or other pre-processing. Only filter construction + ``transform`` is
timed (median of --repeats, ``time.perf_counter``). The last response map is
saved as DIR/<name>.npy (float32, same shape) and one JSON object
``{"mirp_version": ..., "times": {name: seconds}}`` is printed on stdout.
Everything else goes to stderr.

Boundary names are scipy's, as MIRP passes them to scipy.ndimage / np.pad:
IBSI "mirror" (d c b a | a b c d) is MIRP ``"reflect"``; IBSI "periodic" is
``"wrap"``. (MIRP's own default, ``"mirror"``, is scipy mirror and NOT the IBSI
one.) MIRP applies Laws max pooling over the 24 rotations first and computes
the energy map of the pooled response. Gabor with rotation invariance in 3D
(by_slice=False) filters in the three orthogonal planes (stack axes 0, 1, 2)
for each of the 16 orientations and mean-pools all 48 modulus maps, i.e. the
mean over orientations averaged over the planes (IBSI 2 config 5.B).
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

MIRROR = "reflect"  # IBSI mirror in scipy / MIRP naming

# name -> (MIRP filter kernel name, ImageTransformationSettingsClass keywords)
CONFIGS = {
    "log": ("laplacian_of_gaussian", dict(
        laplacian_of_gaussian_sigma=1.5,
        laplacian_of_gaussian_kernel_truncate=4.0,
        laplacian_of_gaussian_pooling_method="none",
        laplacian_of_gaussian_boundary_condition=MIRROR)),
    "laws": ("laws", dict(
        laws_kernel="E5L5S5", laws_compute_energy=True, laws_delta=7,
        laws_rotation_invariance=True, laws_pooling_method="max",
        laws_boundary_condition=MIRROR)),
    "gabor": ("gabor", dict(
        gabor_sigma=5.0, gabor_lambda=2.0, gabor_gamma=1.5,
        gabor_theta=0.0, gabor_theta_step=22.5, gabor_response="modulus",
        gabor_rotation_invariance=True, gabor_pooling_method="mean",
        gabor_boundary_condition=MIRROR)),
    "db3_l1": ("separable_wavelet", dict(
        separable_wavelet_families="db3", separable_wavelet_set="LLH",
        separable_wavelet_decomposition_level=1, separable_wavelet_stationary=True,
        separable_wavelet_rotation_invariance=True,
        separable_wavelet_pooling_method="mean",
        separable_wavelet_boundary_condition=MIRROR)),
    "db3_l2": ("separable_wavelet", dict(
        separable_wavelet_families="db3", separable_wavelet_set="HHH",
        separable_wavelet_decomposition_level=2, separable_wavelet_stationary=True,
        separable_wavelet_rotation_invariance=True,
        separable_wavelet_pooling_method="mean",
        separable_wavelet_boundary_condition=MIRROR)),
    "simoncelli_l2": ("nonseparable_wavelet", dict(
        nonseparable_wavelet_families="simoncelli",
        nonseparable_wavelet_decomposition_level=2,
        nonseparable_wavelet_response="real",
        nonseparable_wavelet_boundary_condition="wrap")),
}


def filter_class(kernel):
    """MIRP filter class for a kernel name (as in StandardWorkflow.transform_images)."""
    if kernel == "laplacian_of_gaussian":
        from mirp._imagefilters.laplacian_of_gaussian import LaplacianOfGaussianFilter as cls
    elif kernel == "laws":
        from mirp._imagefilters.laws import LawsFilter as cls
    elif kernel == "gabor":
        from mirp._imagefilters.gabor import GaborFilter as cls
    elif kernel == "separable_wavelet":
        from mirp._imagefilters.separable_wavelet import SeparableWaveletFilter as cls
    elif kernel == "nonseparable_wavelet":
        from mirp._imagefilters.nonseparable_wavelet import NonseparableWaveletFilter as cls
    elif kernel == "mean":
        from mirp._imagefilters.mean import MeanFilter as cls
    else:
        raise ValueError(f"unsupported kernel {kernel!r}")
    return cls


def make_settings(kernel, params, by_slice=False):
    """MIRP settings object with only the image transformation configured."""
    from mirp.settings.generic import SettingsClass
    return SettingsClass(
        by_slice=by_slice, filter_kernels=kernel,
        response_map_feature_families="none", **params)


def make_image(volume, spacing, by_slice=False):
    """Wrap a (z, y, x) array in a MIRP GenericImage (no resampling)."""
    from mirp._images.generic_image import GenericImage
    return GenericImage(
        image_data=volume, image_spacing=tuple(float(s) for s in spacing),
        image_origin=(0.0, 0.0, 0.0), image_orientation=np.identity(3),
        separate_slices=by_slice, image_modality="generic", sample_name="bench")


def apply_filter(cls, kernel, settings, image):
    """Run MIRP filter class cls on image; returns the response voxel grid."""
    filt = cls(image=image, settings=settings, name=kernel)
    objs = list(filt.generate_object())
    if len(objs) != 1:
        raise RuntimeError(f"{kernel}: expected one filter object, got {len(objs)}")
    return objs[0].transform(image=image).get_voxel_grid()


def mirp_response(kernel, params, volume, spacing, by_slice=False):
    """Convenience: one MIRP response map for an array (used by sanity checks)."""
    settings = make_settings(kernel, params, by_slice)
    image = make_image(volume, spacing, by_slice)
    return apply_filter(filter_class(kernel), kernel, settings, image)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--spacing", default="1,1,1", help="mm, z,y,x order")
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default=None, help="comma-separated config names")
    args = ap.parse_args(argv)

    import warnings
    from importlib.metadata import version
    import pywt  # noqa: F401  (imported lazily inside MIRP; keep it out of the timings)
    import scipy.fft  # noqa: F401
    import scipy.ndimage  # noqa: F401
    warnings.simplefilter("ignore")  # MIRP warns e.g. on anisotropic spacing

    spacing = [float(s) for s in args.spacing.split(",")]
    if len(spacing) != 3:
        ap.error("--spacing needs three values (z,y,x)")
    names = list(CONFIGS) if args.only is None else [
        n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration(s): {', '.join(unknown)}; known: {', '.join(CONFIGS)}")

    volume = np.load(args.input).astype(np.float32, copy=False)
    if volume.ndim != 3:
        ap.error(f"expected a 3-D (z, y, x) array, got shape {volume.shape}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    times = {}
    for name in names:
        kernel, params = CONFIGS[name]
        cls = filter_class(kernel)
        settings = make_settings(kernel, params)
        image = make_image(volume, spacing)
        runs = []
        for _ in range(max(1, args.repeats)):
            t0 = time.perf_counter()
            response = apply_filter(cls, kernel, settings, image)
            runs.append(time.perf_counter() - t0)
        response = np.asarray(response, dtype=np.float32)
        if response.shape != volume.shape:
            raise RuntimeError(f"{name}: response shape {response.shape} != {volume.shape}")
        np.save(out_dir / f"{name}.npy", response)
        times[name] = statistics.median(runs)
        print(f"[mirp_filters] {name}: {times[name]:.3f} s "
              f"(runs: {', '.join(f'{t:.3f}' for t in runs)})", file=sys.stderr)

    print(json.dumps({"mirp_version": version("mirp"), "times": times}))


if __name__ == "__main__":
    main()
