"""sep3d: 3-D separable and spatial-spectral filters for CT volumes and hyperspectral rasters.

Two layers share one engine:

- :mod:`sep3d.ndimage` is a drop-in for scipy.ndimage's separable filters;
- the functions here (:func:`gaussian`, :func:`laplacian_of_gaussian`, ...) add physical
  spacing, multi-output filters and arbitrary separable kernels.

Both take NumPy, CuPy and dask arrays (:mod:`sep3d.chunked`); importing sep3d registers
the ``.sep3d`` accessor on xarray objects (:mod:`sep3d.xr`).

Every filter builds a :class:`~sep3d.plan.FilterPlan`; :func:`describe` prints it.
"""
import importlib.util

from . import calibration, chunked, ibsi, kernels, ndimage, plan, planner
from ._validate import ArgumentTypeError, ArgumentValueError
from .backends.threads import get_num_threads, set_num_threads
from .filters import (
    box,
    describe,
    difference_of_gaussians,
    gaussian,
    gaussian_derivative,
    gradient_magnitude,
    hessian,
    hessian_components,
    laplacian_of_gaussian,
    separable,
)
from .convolution import convolve, separable_correlate
from .cube_filters import depthwise_separable, spatial_spectral
from .decompose import SeparableKernel, decompose
from .plan import FilterPlan

if importlib.util.find_spec("xarray") is not None:  # a dependency; absent only on bare GPU images
    from . import xr  # registers the .sep3d accessor

__version__ = "0.1.0"

__all__ = [
    "ArgumentTypeError",
    "ArgumentValueError",
    "FilterPlan",
    "SeparableKernel",
    "box",
    "calibration",
    "chunked",
    "convolve",
    "decompose",
    "depthwise_separable",
    "describe",
    "difference_of_gaussians",
    "gaussian",
    "gaussian_derivative",
    "get_num_threads",
    "gradient_magnitude",
    "hessian",
    "hessian_components",
    "ibsi",
    "kernels",
    "laplacian_of_gaussian",
    "ndimage",
    "plan",
    "planner",
    "separable",
    "separable_correlate",
    "set_num_threads",
    "spatial_spectral",
]
