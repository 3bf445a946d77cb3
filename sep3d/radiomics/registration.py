"""Registering sep3d's image types with PyRadiomics (:func:`register`), and the params schema.

Its own module so that :mod:`sep3d.radiomics.cohort` (whose workers register the types)
and the package's ``__init__`` import it, not each other.
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from .imagetypes import IMAGE_TYPES

__all__ = ["register", "registered", "SETTINGS_SCHEMA"]

#: sep3d's own per-image-type settings, as PyRadiomics' params schema (pykwalify) rules.
SETTINGS_SCHEMA = {
    "backend": {"type": "str", "enum": ["auto", "cpu", "numpy", "cuda"]},
    "variant": {"type": "str", "enum": ["itk", "gaussian", "pyradiomics", "atrous", "ibsi"]},
    "dogRatio": {"type": "float", "range": {"min-ex": 1}},
    # IBSI 2 image types (sep3d.radiomics.ibsitypes); the generators check values and combinations
    "boundary": {"type": "str", "enum": ["zero", "nearest", "periodic", "mirror"]},
    "dimensions": {"type": "int", "enum": [2, 3]},
    "size": {"type": "any"},
    "truncate": {"type": "float", "range": {"min-ex": 0}},
    "lawsKernel": {"type": "str"},
    "lawsEnergy": {"type": "bool"},
    "lawsDelta": {"type": "int", "range": {"min": 0}},
    "rotationInvariant": {"type": "bool"},
    "pooling": {"type": "str", "enum": ["max", "min", "mean", "sum"]},
    "gaborLambda": {"type": "float", "range": {"min-ex": 0}},
    "gaborGamma": {"type": "float", "range": {"min-ex": 0}},
    "gaborTheta": {"type": "float"},
    "gaborThetaStep": {"type": "float", "range": {"min-ex": 0}},
    "gaborPlanes": {"type": "str", "enum": ["axial", "orthogonal"]},
    "gaborResponse": {"type": "str", "enum": ["modulus", "real", "imaginary"]},
    "waveletBand": {"type": "str"},
    "rieszOrder": {"type": "seq", "sequence": [{"type": "int", "range": {"min": 0}}]},
    "rieszBase": {"type": "str", "enum": ["log", "simoncelli"]},
}

_lock = threading.Lock()
_state = {"schema": None}


def _radiomics():
    try:
        import radiomics
        import radiomics.featureextractor  # noqa: F401  (it imports the validation files by name)
        import radiomics.imageoperations  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sep3d.radiomics.register() needs PyRadiomics: pip install \"sep3d[radiomics]\" (it installs "
            f"pyradiomics-bhklab, a build of PyRadiomics for Python 3.10-3.13); the import failed: {exc}") from exc
    return radiomics


def register():
    """Add sep3d's image types to PyRadiomics (idempotent; safe in fork and spawn workers).

    Sets ``radiomics.imageoperations.get<Name>Image`` for every name in
    :data:`IMAGE_TYPES`, appends the names to the list ``radiomics.getImageTypes()``
    returns (PyRadiomics validates params against that cached list), and points
    PyRadiomics' parameter validation at a schema that also accepts sep3d's keys
    (:data:`SETTINGS_SCHEMA`). A spawned worker process must call it again (the
    ``sep3d-radiomics`` command does so at import).

    Returns
    -------
    list of str
        The registered image type names.

    Raises
    ------
    ImportError
        PyRadiomics is not installed.
    """
    radiomics = _radiomics()
    with _lock:
        types = radiomics.getImageTypes()
        for name, func in IMAGE_TYPES.items():
            setattr(radiomics.imageoperations, f"get{name}Image", func)
            if name not in types:
                types.append(name)
        current = radiomics.getParameterValidationFiles
        original = getattr(current, "sep3d_original", current)
        if _state["schema"] is None or not Path(_state["schema"]).exists():
            _state["schema"] = _write_schema(original()[0])
        schema, funcs = _state["schema"], original()[1]

        def getParameterValidationFiles():
            """PyRadiomics' params schema extended with sep3d's settings, and its validation functions."""
            return schema, funcs

        getParameterValidationFiles.sep3d_original = original
        radiomics.getParameterValidationFiles = getParameterValidationFiles
        radiomics.featureextractor.getParameterValidationFiles = getParameterValidationFiles
    return list(IMAGE_TYPES)


def registered():
    """True when every sep3d image type is known to the imported PyRadiomics."""
    try:
        import radiomics
    except ImportError:
        return False
    return all(name in radiomics.getImageTypes() for name in IMAGE_TYPES)


def _write_schema(original):
    """PyRadiomics' params schema (file `original`) with :data:`SETTINGS_SCHEMA` added, in a private file."""
    import radiomics
    import yaml

    with open(original) as fh:
        schema = yaml.safe_load(fh)
    # imageType's per-type settings are the same map as `setting` (a YAML anchor in the
    # original file, two separate dicts after loading): extend both
    settings = schema["mapping"]["setting"]["mapping"]
    per_type = schema["mapping"]["imageType"]["mapping"]
    for rules in [settings] + [rule.get("mapping", {}) for rule in per_type.values()]:
        for key, rule in SETTINGS_SCHEMA.items():
            rules.setdefault(key, rule)
    folder = Path(tempfile.gettempdir()) / f"sep3d-radiomics-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"paramSchema-{radiomics.__version__}.yaml"
    tmp = folder / f".{final.name}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        yaml.safe_dump(schema, fh, sort_keys=False)
    os.replace(tmp, final)
    return str(final)
