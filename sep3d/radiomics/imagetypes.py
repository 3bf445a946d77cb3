"""PyRadiomics image types computed by sep3d: the generator functions.

Each ``get<Name>Image(inputImage, inputMask, **kwargs)`` follows PyRadiomics' generator
contract: it yields ``(image, name, kwargs)`` with ``image`` a SimpleITK image of the
input's size, origin, spacing and direction. Names are PyRadiomics' own prefixed with
``sep3d-`` (``sep3d-log-sigma-1-0-mm-3D``, ``sep3d-wavelet-LLH``), so that a built-in type
and its sep3d counterpart can run in one extraction and be compared key by key.

Settings read here besides PyRadiomics' own (``sigma``, ``wavelet``, ``level``,
``start_level``, ``gradientUseSpacing``, ``force2D``, ``force2Ddimension``):

``backend``
    'auto' (default; the CPU for SimpleITK's NumPy arrays), 'cpu' or 'cuda'.
IBSI 2's filters and their settings are in :mod:`sep3d.radiomics.ibsitypes`.

``variant``
    Sep3dLoG: 'itk' (default; PyRadiomics' LoG: ITK's recursive Gaussian, normalised
    across scale, nearest boundary) or 'gaussian' (sampled Gaussian derivatives,
    truncated at 4 sigma). Sep3dWavelet: 'pyradiomics' (default; its level semantics,
    filters never upsampled) or 'atrous' (the true undecimated transform, filters
    upsampled by 2 per level). Sep3dGaussian and Sep3dDoG: 'gaussian' (default,
    sampled) or 'itk' (recursive).
``dogRatio``
    Sep3dDoG: the larger sigma is ``dogRatio * sigma`` (default 1.6).
"""
from __future__ import annotations

import logging

import numpy as np
import SimpleITK as sitk

from .. import backends, filters
from ..kernels import FIR
from ..plan import FilterPlan, Output, Term
from .._validate import Mode, check_backend
from .ibsitypes import IBSI_IMAGE_TYPES, ibsi_log_images, ibsi_wavelet_images

logger = logging.getLogger("sep3d.radiomics")

__all__ = ["IMAGE_TYPES", "getSep3dLoGImage", "getSep3dWaveletImage", "getSep3dGaussianImage",
           "getSep3dGradientImage", "getSep3dDoGImage", "wavelet_plan"]

LOG_VARIANTS = ("itk", "gaussian", "ibsi")
WAVELET_VARIANTS = ("pyradiomics", "atrous", "ibsi")
SMOOTHING_VARIANTS = ("gaussian", "itk")


def _variant(kwargs, allowed, image_type):
    variant = kwargs.get("variant", allowed[0])
    if variant not in allowed:
        raise ValueError(f"`variant` of {image_type} must be one of {list(allowed)}; got {variant!r}")
    return variant


def _backend(kwargs):
    return check_backend(kwargs.get("backend", "auto"))


def _array(image):
    """The image as a NumPy array (z, y, x) and its spacing in the same order."""
    return sitk.GetArrayFromImage(image), tuple(float(s) for s in reversed(image.GetSpacing()))


def _image(values, like):
    out = sitk.GetImageFromArray(np.ascontiguousarray(values), isVector=False)
    out.CopyInformation(like)
    return out


def _sigma_name(prefix, sigma):
    return "%s-sigma-%s-mm-3D" % (prefix, str(sigma).replace(".", "-"))


def _sigmas(inputImage, kwargs, image_type):
    """PyRadiomics' LoG skip rules: nothing below 4 voxels on an axis; a sigma only if the image holds it."""
    size = np.array(inputImage.GetSize())
    spacing = np.array(inputImage.GetSpacing())
    if np.min(size) < 4:
        logger.warning("%s: image too small (size %s): every axis needs >= 4 voxels", image_type, size)
        return
    for sigma in kwargs.get("sigma", []):
        if not sigma > 0:
            logger.warning("%s: sigma must be > 0; skipping %g", image_type, sigma)
            continue
        if not np.all(size >= np.ceil(sigma / spacing) + 1):
            logger.warning("%s: sigma %g / spacing %s + 1 exceeds the image size %s; skipping", image_type,
                           sigma, spacing, size)
            continue
        yield sigma


def _per_sigma(inputImage, kwargs, image_type, prefix, method, compute):
    """Yield ``compute(array, sigma, spacing, method, backend)`` as a derived image per kept sigma."""
    backend = _backend(kwargs)
    arr = spacing = None
    for sigma in _sigmas(inputImage, kwargs, image_type):
        if arr is None:  # read once, only if some sigma is kept
            arr, spacing = _array(inputImage)
        if method == "recursive":
            # ITK recurses in double and rounds once: so does this (float32 recursion
            # would differ by up to ~2e-6 of the range at sigma 5 mm)
            values = compute(arr.astype(np.float64), sigma, spacing, method, backend)
            if arr.dtype != np.float64:
                values = values.astype(np.float32)
        else:
            values = compute(arr, sigma, spacing, method, backend)
        yield _image(values, inputImage), _sigma_name(prefix, sigma), kwargs


def getSep3dLoGImage(inputImage, inputMask, **kwargs):
    """Laplacian of Gaussian per sigma (mm): PyRadiomics' LoG on sep3d's engines.

    The default variant 'itk' is the filter PyRadiomics' LoG runs (SimpleITK's
    LaplacianRecursiveGaussian, normalised across scale: sigma^2 times the Laplacian in
    physical units, nearest boundary) computed with sep3d's recursive operator; 'gaussian'
    uses sampled Gaussian second derivatives; 'ibsi' is IBSI 2's LoG (:mod:`.ibsitypes`).
    Names: ``sep3d-log-sigma-<s>-mm-3D`` (and ``sep3d-log-gaussian-sigma-<s>-mm-3D`` for
    the 'gaussian' variant).
    """
    variant = _variant(kwargs, LOG_VARIANTS, "Sep3dLoG")
    if variant == "ibsi":
        yield from ibsi_log_images(inputImage, kwargs)
        return
    itk = variant == "itk"
    yield from _per_sigma(
        inputImage, kwargs, "Sep3dLoG", "sep3d-log" if itk else "sep3d-log-gaussian", "recursive" if itk else "fir",
        lambda arr, sigma, spacing, method, backend: filters.laplacian_of_gaussian(
            arr, sigma, normalize=True, spacing=spacing, mode="nearest", method=method, backend=backend))


def getSep3dGaussianImage(inputImage, inputMask, **kwargs):
    """Gaussian smoothing per sigma (mm), nearest boundary: ``sep3d-gaussian-sigma-<s>-mm-3D``."""
    itk = _variant(kwargs, SMOOTHING_VARIANTS, "Sep3dGaussian") == "itk"
    yield from _per_sigma(
        inputImage, kwargs, "Sep3dGaussian", "sep3d-gaussian", "recursive" if itk else "fir",
        lambda arr, sigma, spacing, method, backend: filters.gaussian(
            arr, sigma, spacing=spacing, mode="nearest", method=method, backend=backend))


def getSep3dDoGImage(inputImage, inputMask, **kwargs):
    """Difference of Gaussians per sigma (mm): G(sigma) - G(dogRatio * sigma): ``sep3d-dog-sigma-<s>-mm-3D``."""
    itk = _variant(kwargs, SMOOTHING_VARIANTS, "Sep3dDoG") == "itk"
    ratio = float(kwargs.get("dogRatio", 1.6))
    if not ratio > 1:
        raise ValueError(f"`dogRatio` of Sep3dDoG must be > 1; got {ratio!r}")
    yield from _per_sigma(
        inputImage, kwargs, "Sep3dDoG", "sep3d-dog", "recursive" if itk else "fir",
        lambda arr, sigma, spacing, method, backend: filters.difference_of_gaussians(
            arr, sigma, sigma * ratio, spacing=spacing, mode="nearest", method=method, backend=backend))


def gradient_plan(ndim, spacing):
    """Central differences divided by the spacing, nearest boundary, root of the sum of squares.

    ITK's GradientMagnitudeImageFilter (PyRadiomics' Gradient) as a FilterPlan.
    """
    outputs = []
    for ax in range(ndim):
        ops = [None] * ndim
        ops[ax] = FIR(np.array([-0.5, 0.0, 0.5]))
        outputs.append(Output((Term(1.0 / spacing[ax], tuple(ops)),)))
    return FilterPlan(tuple(outputs), (Mode.NEAREST,) * ndim, 0.0, "sqrt_sum_squares", "gradient")


def getSep3dGradientImage(inputImage, inputMask, **kwargs):
    """Gradient magnitude: PyRadiomics' Gradient (central differences, edge replication): ``sep3d-gradient``."""
    backend = _backend(kwargs)
    arr, spacing = _array(inputImage)
    if not kwargs.get("gradientUseSpacing", True):
        spacing = (1.0,) * arr.ndim
    # float64 inside and one rounding at the end, as ITK does: float32 results then agree to
    # the last bit almost everywhere (features such as the robust MAD pick voxels by rank)
    values = filters.run_plan(gradient_plan(arr.ndim, spacing), arr.astype(np.float64), backend=backend)
    if arr.dtype != np.float64:
        values = values.astype(np.float32)
    yield _image(values, inputImage), "sep3d-gradient", kwargs


def _wavelet_ops(wavelet, step):
    """Low- and high-pass correlation FIRs of one undecimated level, filters spaced by `step`.

    pywt's stationary transform computes ``y[n] = sum_k h[k] x[(n - step*k + step*L/2) mod N]``
    (L = filter length); as correlation taps that is h reversed (zeros between taps when
    step > 1) with the origin below.
    """
    ops = []
    for h in (wavelet.dec_lo, wavelet.dec_hi):
        h = np.asarray(h, dtype=np.float64)
        length = h.size
        up = np.zeros((length - 1) * step + 1)
        up[::step] = h
        left = step * (length // 2 - 1)
        ops.append(FIR(up[::-1].copy(), origin=left - up.size // 2))
    return ops


def wavelet_plan(ndim, axes, wavelet, step=1):
    """One undecimated level on `axes` (in pywt's axes order): 2**len(axes) outputs, 'wrap' boundary.

    Outputs in PyRadiomics' order: the decomposition names (letter i for axes[i]; L
    low-pass, H high-pass) in lexicographic order of pywt's 'a'/'d' keys, LL..L first.
    Returns ``(plan, names)``.
    """
    lo, hi = _wavelet_ops(wavelet, step)
    names, outputs = [], []
    n = len(axes)
    for code in range(2 ** n):
        letters = ["H" if (code >> (n - 1 - i)) & 1 else "L" for i in range(n)]
        ops = [None] * ndim
        for letter, ax in zip(letters, axes):
            ops[ax] = hi if letter == "H" else lo
        names.append("".join(letters))
        outputs.append(Output((Term(1.0, tuple(ops)),)))
    return FilterPlan(tuple(outputs), (Mode.WRAP,) * ndim, 0.0, None, "wavelet"), names


def getSep3dWaveletImage(inputImage, inputMask, **kwargs):
    """The stationary wavelet decomposition: PyRadiomics' Wavelet on sep3d's engines.

    Default variant 'pyradiomics': its semantics exactly (float64; odd axes padded by one
    voxel with 'wrap' and cropped back; each level is a one-level transform of the previous
    approximation with the same, never upsampled, filters; `start_level` levels skipped;
    per level the 7 details in the order LLH, LHL, LHH, HLL, HLH, HHL, HHH, then the final
    approximation LLL). 'atrous': the true undecimated transform (filters upsampled by 2
    per level, pywt.swtn's multi-level semantics). 'ibsi': one IBSI 2 band
    (:mod:`.ibsitypes`). Names ``sep3d-wavelet-LLH``,
    ``sep3d-wavelet2-LLH``... (``sep3d-atrous-...`` for 'atrous').
    """
    import pywt

    variant = _variant(kwargs, WAVELET_VARIANTS, "Sep3dWavelet")
    if variant == "ibsi":
        yield from ibsi_wavelet_images(inputImage, kwargs)
        return
    backend = _backend(kwargs)
    wavelet = kwargs.get("wavelet", "coif1")
    if not isinstance(wavelet, pywt.Wavelet):
        wavelet = pywt.Wavelet(wavelet)
    level = int(kwargs.get("level", 1))
    start_level = int(kwargs.get("start_level", 0))
    if level < 1 or start_level < 0:
        raise ValueError(f"Sep3dWavelet needs `level` >= 1 and `start_level` >= 0; got {level} and {start_level}")
    arr = sitk.GetArrayFromImage(inputImage)
    ndim = arr.ndim
    axes = list(range(ndim - 1, -1, -1))
    if kwargs.get("force2D", False):
        axes.remove(kwargs.get("force2Ddimension", 0))
    shape = arr.shape
    padding = tuple((0, 1 if dim % 2 else 0) for dim in shape)
    data = np.pad(arr.astype(np.float64), padding, "wrap")
    crop = tuple(slice(None, -1 if dim % 2 else None) for dim in shape)
    prefix = "sep3d-wavelet" if variant == "pyradiomics" else "sep3d-atrous"
    n_out = 2 ** len(axes)
    results = np.empty((n_out,) + data.shape, np.float64)
    for lev in range(start_level + level):
        step = 2 ** lev if variant == "atrous" else 1
        plan, names = wavelet_plan(ndim, axes, wavelet, step)
        # details of skipped levels are never needed: only the approximation then
        wanted = plan if lev >= start_level else FilterPlan(plan.outputs[:1], plan.modes, 0.0, None, "wavelet")
        outs = list(results[:wanted.n_results])
        backends.execute(wanted, data, outs, backend=backend, temp_dtype=np.float64, compute_dtype=np.float64)
        data = results[0].copy()
        if lev < start_level:
            continue
        idx = lev - start_level + 1
        for k in range(1, n_out):
            name = f"{prefix}-{names[k]}" if idx == 1 else f"{prefix}{idx}-{names[k]}"
            yield _image(results[k][crop], inputImage), name, kwargs
    approx = "L" * len(axes)
    name = f"{prefix}-{approx}" if level == 1 else f"{prefix}{level}-{approx}"
    yield _image(data[crop], inputImage), name, kwargs


#: Image type name -> generator, as registered by :func:`sep3d.radiomics.register`.
IMAGE_TYPES = {
    "Sep3dLoG": getSep3dLoGImage,
    "Sep3dWavelet": getSep3dWaveletImage,
    "Sep3dGaussian": getSep3dGaussianImage,
    "Sep3dGradient": getSep3dGradientImage,
    "Sep3dDoG": getSep3dDoGImage,
    **IBSI_IMAGE_TYPES,
}
