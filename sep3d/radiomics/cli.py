"""``sep3d-radiomics``: PyRadiomics' own command line with sep3d's image types registered.

Every argument, input (a single image + mask, or a batch CSV), ``-j`` parallel jobs,
``--validate`` and every output format are PyRadiomics' (``sep3d-radiomics --help``);
a params file may use ``Sep3dLoG``, ``Sep3dWavelet``, ``Sep3dGaussian``,
``Sep3dGradient`` and ``Sep3dDoG`` with sep3d's settings. Registration happens when this
module is imported, so the worker processes of ``-j`` (forked, or spawned: they import
the entry script, which imports this module) have the types too.
"""
from __future__ import annotations

import sys

from .registration import register

try:
    register()  # at import: the `-j` worker processes import this module too
except ImportError:  # no PyRadiomics: main() says so
    pass


def main(argv=None):
    """Run PyRadiomics' command line (``radiomics.scripts.parse_args``) with the plugin loaded."""
    register()
    from radiomics import scripts

    if argv is not None:
        sys.argv = ["sep3d-radiomics", *argv]
    else:
        sys.argv[0] = "sep3d-radiomics"
    return scripts.parse_args()


if __name__ == "__main__":
    sys.exit(main())
