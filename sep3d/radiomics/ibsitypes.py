"""IBSI 2 filters (:mod:`sep3d.ibsi`) as PyRadiomics image types.

Each ``get<Name>Image(inputImage, inputMask, **kwargs)`` yields ``(image, name, kwargs)``
like PyRadiomics' own generators; for scalar settings the first image is the response map.
The settings, common to every IBSI type:

``boundary``
    IBSI's names: 'zero', 'nearest', 'periodic' or 'mirror' (default; scipy's 'reflect').
``dimensions``
    3 (default) or 2: in-plane, each axial slice on its own.
``backend``
    The engine of the separable filters ('auto', 'cpu', 'numpy', 'cuda'; Gabor's
    separable terms included); FFTs (Gabor's, Simoncelli, Riesz) run on the CPU.

and per type:

- ``Sep3dMean``: ``size`` (voxels; a list gives one image per size);
- ``Sep3dLoG`` with ``variant: ibsi``: ``sigma`` (mm, a list), ``truncate`` (sigmas, 4);
- ``Sep3dLaws``: ``lawsKernel`` (``E5L5S5``: letters for x, y, z), ``lawsEnergy``,
  ``lawsDelta`` (7), ``rotationInvariant``, ``pooling`` ('max');
- ``Sep3dGabor``: ``sigma`` and ``gaborLambda`` (mm), ``gaborGamma`` (1), ``gaborTheta``
  (degrees, one orientation) or ``gaborThetaStep`` (degrees, pooled over a full turn),
  ``gaborPlanes`` ('axial' or 'orthogonal'), ``pooling`` ('mean'), ``gaborResponse``
  ('modulus', 'real', 'imaginary');
- ``Sep3dWavelet`` with ``variant: ibsi``: ``wavelet`` (PyWavelets name, 'coif1'),
  ``waveletBand`` (``LHL``: letters for x, y, z), ``level`` (1), ``rotationInvariant``,
  ``pooling`` ('mean');
- ``Sep3dSimoncelli``: ``level`` (1);
- ``Sep3dRiesz``: ``rieszOrder`` ([x, y, z]), ``rieszBase`` ('log' with ``sigma`` and
  ``truncate``, or 'simoncelli' with ``level``).

Names start ``sep3d-ibsi-`` and spell the settings (``sep3d-ibsi-laws-E5L5S5-energy-7-rot-max``).
"""
from __future__ import annotations

import numpy as np

from .. import ibsi
from ..io import ct
from .._validate import check_backend

__all__ = ["IBSI_IMAGE_TYPES", "getSep3dMeanImage", "getSep3dLawsImage", "getSep3dGaborImage",
           "getSep3dSimoncelliImage", "getSep3dRieszImage", "ibsi_log_images", "ibsi_wavelet_images"]


class _Settings:
    """Read and check one image type's settings, naming the type and the setting on error."""

    def __init__(self, image_type, kwargs):
        self.image_type, self.kwargs = image_type, kwargs

    def error(self, key, expected, value):
        return ValueError(f"`{key}` of {self.image_type} must be {expected}; got {value!r}")

    def choice(self, key, allowed, default):
        value = self.kwargs.get(key, default)
        if value not in allowed:
            raise self.error(key, f"one of {list(allowed)}", value)
        return value

    def flag(self, key, default=False):
        value = self.kwargs.get(key, default)
        if not isinstance(value, (bool, np.bool_)):
            raise self.error(key, "true or false", value)
        return bool(value)

    def integer(self, key, default, minimum):
        value = self.kwargs.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise self.error(key, f"an int >= {minimum}", value)
        return int(value)

    def number(self, key, default=None, positive=True):
        value = self.kwargs.get(key, default)
        if value is None:
            raise ValueError(f"{self.image_type} needs `{key}`")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or (positive and not value > 0):
            raise self.error(key, "a number > 0" if positive else "a number", value)
        return float(value)

    def numbers(self, key, positive=True):
        """A setting that may be a number or a list of numbers (one image each)."""
        value = self.kwargs.get(key)
        if value is None:
            raise ValueError(f"{self.image_type} needs `{key}`")
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not values:
            raise self.error(key, "a number or a non-empty list of numbers", value)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or (positive and not v > 0):
                raise self.error(key, "a number > 0 or a list of them", value)
        return values

    def common(self, image):
        """``(mode, dimensions, backend)``: the boundary as scipy's mode, checked against the image."""
        boundary = self.choice("boundary", tuple(ibsi.IBSI_BOUNDARIES), "mirror")
        dimensions = self.kwargs.get("dimensions", 3)
        if dimensions not in (2, 3) or isinstance(dimensions, bool):
            raise self.error("dimensions", "2 (in-plane, per axial slice) or 3", dimensions)
        if image.GetDimension() < dimensions:
            raise ValueError(f"{self.image_type}: a {dimensions}-D filter needs a {dimensions}-D image; "
                             f"got {image.GetDimension()}-D")
        return ibsi.IBSI_BOUNDARIES[boundary], dimensions, check_backend(self.kwargs.get("backend", "auto"))


def _array(image):
    """The image as float32 (z, y, x) (float64 kept) and its spacing in the same order."""
    arr, spacing = ct.from_sitk(image)
    return (arr if arr.dtype == np.float64 else arr.astype(np.float32)), spacing


def _number(value):
    return ("%g" % value).replace(".", "-").replace("+", "")


def _suffix(mode, dimensions):
    boundary = {v: k for k, v in ibsi.IBSI_BOUNDARIES.items()}[mode]
    return f"{boundary}-{dimensions}D"


def getSep3dMeanImage(inputImage, inputMask, **kwargs):
    """IBSI's mean filter per ``size`` (voxels): ``sep3d-ibsi-mean-<size>-<boundary>-<d>D``."""
    settings = _Settings("Sep3dMean", kwargs)
    mode, dimensions, backend = settings.common(inputImage)
    sizes = settings.numbers("size")
    for size in sizes:
        if int(size) != size:
            raise settings.error("size", "whole voxels", size)
    arr, _ = _array(inputImage)
    for size in sizes:
        values = ibsi.mean(arr, int(size), dimensions=dimensions, mode=mode, backend=backend)
        yield ct.to_sitk(values, like=inputImage), f"sep3d-ibsi-mean-{int(size)}-{_suffix(mode, dimensions)}", kwargs


def ibsi_log_images(inputImage, kwargs):
    """Sep3dLoG with ``variant: ibsi``: IBSI's LoG per ``sigma`` (mm), ``sep3d-ibsi-log-sigma-<s>-mm-...``."""
    settings = _Settings("Sep3dLoG", kwargs)
    mode, dimensions, backend = settings.common(inputImage)
    sigmas = settings.numbers("sigma")
    truncate = settings.number("truncate", 4.0)
    arr, spacing = _array(inputImage)
    for sigma in sigmas:
        values = ibsi.log(arr, sigma, spacing=spacing[-dimensions:], truncate=truncate, dimensions=dimensions,
                          mode=mode, backend=backend)
        name = f"sep3d-ibsi-log-sigma-{_number(sigma)}-mm-{_suffix(mode, dimensions)}"
        yield ct.to_sitk(values, like=inputImage), name, kwargs


def getSep3dLawsImage(inputImage, inputMask, **kwargs):
    """A Laws kernel response (or energy map): ``sep3d-ibsi-laws-<kernel>[-energy-<delta>][-rot-<pooling>]``."""
    settings = _Settings("Sep3dLaws", kwargs)
    mode, dimensions, backend = settings.common(inputImage)
    kernel = kwargs.get("lawsKernel")
    if kernel is None:
        raise ValueError("Sep3dLaws needs `lawsKernel` (e.g. E5L5S5: letters for x, y, z)")
    try:
        kernels = ibsi.laws_kernels(kernel)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`lawsKernel` of Sep3dLaws: {exc}") from None
    if len(kernels) != dimensions:
        raise settings.error("lawsKernel", f"{dimensions} kernels for `dimensions: {dimensions}`", kernel)
    energy = settings.flag("lawsEnergy")
    delta = settings.integer("lawsDelta", 7, 0)
    rotation_invariant = settings.flag("rotationInvariant")
    pooling = settings.choice("pooling", ibsi.POOLINGS, "max")
    arr, _ = _array(inputImage)
    values = ibsi.laws(arr, kernel, energy=energy, delta=delta, rotation_invariant=rotation_invariant,
                       pooling=pooling, mode=mode, backend=backend)
    name = f"sep3d-ibsi-laws-{kernel}" + (f"-energy-{delta}" if energy else "") + (
        f"-rot-{pooling}" if rotation_invariant else "") + f"-{_suffix(mode, dimensions)}"
    yield ct.to_sitk(values, like=inputImage), name, kwargs


def getSep3dGaborImage(inputImage, inputMask, **kwargs):
    """IBSI's Gabor filter per ``sigma`` (mm): ``sep3d-ibsi-gabor-sigma-<s>-lambda-<l>-gamma-<g>-...``."""
    settings = _Settings("Sep3dGabor", kwargs)
    mode, dimensions, backend = settings.common(inputImage)
    sigmas = settings.numbers("sigma")
    wavelength = settings.number("gaborLambda")
    gamma = settings.number("gaborGamma", 1.0)
    planes = settings.choice("gaborPlanes", ("axial", "orthogonal"), "axial")
    if planes == "orthogonal" and dimensions == 2:
        raise settings.error("gaborPlanes", "'axial' with `dimensions: 2`", planes)
    pooling = settings.choice("pooling", ibsi.POOLINGS, "mean")
    response = settings.choice("gaborResponse", ibsi.GABOR_RESPONSES, "modulus")
    if "gaborThetaStep" in kwargs:
        if "gaborTheta" in kwargs:
            raise ValueError("Sep3dGabor takes `gaborTheta` (one orientation) or `gaborThetaStep` (pooled "
                             "orientations), not both")
        step = settings.number("gaborThetaStep")
        theta, orientation = 0.0, f"step-{_number(step)}-{pooling}"
    else:
        step = None
        theta = settings.number("gaborTheta", 0.0, positive=False)
        orientation = f"theta-{_number(theta)}"
    arr, spacing = _array(inputImage)
    for sigma in sigmas:
        values = ibsi.gabor(arr, sigma, wavelength, gamma=gamma, theta=theta, theta_step=step, planes=planes,
                            pooling=pooling, response=response, spacing=spacing, mode=mode, backend=backend)
        name = (f"sep3d-ibsi-gabor-sigma-{_number(sigma)}-lambda-{_number(wavelength)}-gamma-{_number(gamma)}-"
                f"{orientation}-{planes}-{response}-{_suffix(mode, dimensions)}")
        yield ct.to_sitk(values, like=inputImage), name, kwargs


def ibsi_wavelet_images(inputImage, kwargs):
    """Sep3dWavelet with ``variant: ibsi``: one band, ``sep3d-ibsi-wavelet-<wavelet>-<band>-level-<n>...``."""
    settings = _Settings("Sep3dWavelet", kwargs)
    mode, dimensions, backend = settings.common(inputImage)
    wavelet = kwargs.get("wavelet", "coif1")
    band = kwargs.get("waveletBand")
    if band is None:
        raise ValueError("Sep3dWavelet with `variant: ibsi` needs `waveletBand` (e.g. LHL: letters for x, y, z)")
    if not isinstance(band, str) or len(band) != dimensions:
        raise settings.error("waveletBand", f"{dimensions} letters L/H for `dimensions: {dimensions}`", band)
    level = settings.integer("level", 1, 1)
    rotation_invariant = settings.flag("rotationInvariant")
    pooling = settings.choice("pooling", ibsi.POOLINGS, "mean")
    arr, _ = _array(inputImage)
    try:
        values = ibsi.wavelet(arr, wavelet, band, level=level, rotation_invariant=rotation_invariant,
                              pooling=pooling, mode=mode, backend=backend)
    except ValueError as exc:
        raise ValueError(f"Sep3dWavelet: {exc}") from None
    name = f"sep3d-ibsi-wavelet-{wavelet}-{band}-level-{level}" + (
        f"-rot-{pooling}" if rotation_invariant else "") + f"-{_suffix(mode, dimensions)}"
    yield ct.to_sitk(values, like=inputImage), name, kwargs


def getSep3dSimoncelliImage(inputImage, inputMask, **kwargs):
    """IBSI's Simoncelli wavelet band: ``sep3d-ibsi-simoncelli-level-<n>-<boundary>-<d>D``."""
    settings = _Settings("Sep3dSimoncelli", kwargs)
    mode, dimensions, _ = settings.common(inputImage)
    level = settings.integer("level", 1, 1)
    arr, _ = _array(inputImage)
    values = ibsi.simoncelli(arr, level, dimensions=dimensions, mode=mode)
    yield ct.to_sitk(values, like=inputImage), f"sep3d-ibsi-simoncelli-level-{level}-{_suffix(mode, dimensions)}", kwargs


def getSep3dRieszImage(inputImage, inputMask, **kwargs):
    """The Riesz transform of a LoG (per ``sigma``) or a Simoncelli band: ``sep3d-ibsi-riesz-<order>-...``."""
    settings = _Settings("Sep3dRiesz", kwargs)
    mode, dimensions, _ = settings.common(inputImage)
    order = kwargs.get("rieszOrder")
    if not isinstance(order, (list, tuple)) or len(order) != dimensions or not all(
            isinstance(o, (int, np.integer)) and not isinstance(o, bool) and o >= 0 for o in order):
        raise settings.error("rieszOrder", f"{dimensions} ints >= 0 (x, y[, z]) for `dimensions: {dimensions}`",
                             order)
    base = settings.choice("rieszBase", ibsi.RIESZ_BASES, "log")
    arr, spacing = _array(inputImage)
    label = "-".join(str(int(o)) for o in order)
    if base == "simoncelli":
        level = settings.integer("level", 1, 1)
        values = ibsi.riesz(arr, order, base="simoncelli", level=level, dimensions=dimensions, mode=mode)
        yield (ct.to_sitk(values, like=inputImage),
               f"sep3d-ibsi-riesz-{label}-simoncelli-level-{level}-{_suffix(mode, dimensions)}", kwargs)
        return
    truncate = settings.number("truncate", 4.0)
    for sigma in settings.numbers("sigma"):
        values = ibsi.riesz(arr, order, base="log", sigma=sigma, spacing=spacing[-dimensions:], truncate=truncate,
                            dimensions=dimensions, mode=mode)
        yield (ct.to_sitk(values, like=inputImage),
               f"sep3d-ibsi-riesz-{label}-log-sigma-{_number(sigma)}-mm-{_suffix(mode, dimensions)}", kwargs)


#: The IBSI-only image types (Sep3dLoG and Sep3dWavelet take ``variant: ibsi``).
IBSI_IMAGE_TYPES = {
    "Sep3dMean": getSep3dMeanImage,
    "Sep3dLaws": getSep3dLawsImage,
    "Sep3dGabor": getSep3dGaborImage,
    "Sep3dSimoncelli": getSep3dSimoncelliImage,
    "Sep3dRiesz": getSep3dRieszImage,
}
