"""What sep3d runs with here: Python, the engines, the PyRadiomics build, CuPy.

``sep3d --version`` and the demo print :func:`report`; cohort fingerprints record
:func:`pyradiomics_build`. Nothing here imports PyRadiomics or CuPy (installed
distributions are read from their metadata); the numba check imports numba once.
"""
from __future__ import annotations

import importlib.util
import platform
from importlib.metadata import PackageNotFoundError, packages_distributions, version

__all__ = ["pyradiomics_build", "cupy_build", "cpu_engine", "report"]


def _distributions(module):
    """'name version' of every installed distribution that provides the top-level `module`."""
    found = []
    for dist in sorted(set(packages_distributions().get(module, []))):
        try:
            found.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:  # pragma: no cover - metadata without a version
            found.append(dist)
    return found


def pyradiomics_build():
    """The installed PyRadiomics, e.g. ``'pyradiomics-bhklab 3.1.4'`` or ``'pyradiomics 3.0.1'``; None if absent.

    Any build that provides the ``radiomics`` module counts (the ``radiomics`` extra
    installs ``pyradiomics-bhklab``; a PyRadiomics installed otherwise is kept and used).
    Two distributions providing it are both named (one has overwritten the other's files).
    A ``radiomics`` importable without distribution metadata (a source checkout) is
    named by its folder.
    """
    found = _distributions("radiomics")
    if len(found) > 1:  # e.g. sep3d[radiomics] installed over a PyRadiomics the user had
        return ", ".join(found) + " (both provide the `radiomics` module: its files are the last installed one's)"
    if found:
        return found[0]
    spec = importlib.util.find_spec("radiomics")
    if spec is None:
        return None
    return f"radiomics from {spec.submodule_search_locations[0] if spec.submodule_search_locations else spec.origin}"


def cupy_build():
    """The installed CuPy distribution (e.g. ``'cupy-cuda12x 13.3.0'``), or None."""
    found = _distributions("cupy")
    return ", ".join(found) if found else None


def cpu_engine():
    """Which engine ``backend='auto'`` runs NumPy arrays on here, and why."""
    from .backends import numba_import_error

    error = numba_import_error()
    if error is None:
        return f"Numba engine (numba {version('numba')})"
    return f"NumPy/SciPy engine (numba cannot be imported: {error})"


def report():
    """Lines for ``sep3d --version``: sep3d, Python, CPU engine, PyRadiomics, CuPy."""
    from . import __version__

    radiomics = pyradiomics_build() or 'not installed (pip install "sep3d[radiomics]")'
    cupy = cupy_build() or 'not installed (pip install "sep3d[gpu]")'
    return "\n".join([
        f"sep3d {__version__}",
        f"Python {platform.python_version()} ({platform.system()} {platform.machine()})",
        f"CPU engine: {cpu_engine()}",
        f"PyRadiomics: {radiomics}",
        f"CuPy: {cupy}",
    ])
