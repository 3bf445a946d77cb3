"""sep3d's filters as PyRadiomics image types, its command line, and cohort extraction.

:func:`register` adds the image types of :data:`IMAGE_TYPES` (``Sep3dLoG``,
``Sep3dWavelet``, ``Sep3dGaussian``, ``Sep3dGradient``, ``Sep3dDoG``, and IBSI 2's
``Sep3dMean``, ``Sep3dLaws``, ``Sep3dGabor``, ``Sep3dSimoncelli``, ``Sep3dRiesz``) to PyRadiomics, so
that a params file like ``imageType: {Sep3dLoG: {sigma: [1.0, 3.0]}, Sep3dWavelet: {}}``
runs through the ordinary ``RadiomicsFeatureExtractor(params).execute(image, mask)``.
:func:`extract_cohort` runs a PyRadiomics batch CSV on :mod:`sep3d.batch` (the
``sep3d radiomics`` command). PyRadiomics is the ``radiomics`` extra; importing this
package does not need it, :func:`register` does.
"""
from __future__ import annotations

from .cohort import CaseError, extract_cohort, read_cohort
from .imagetypes import IMAGE_TYPES
from .registration import SETTINGS_SCHEMA, register, registered

__all__ = ["register", "registered", "IMAGE_TYPES", "SETTINGS_SCHEMA", "extract_cohort", "read_cohort",
           "CaseError"]
