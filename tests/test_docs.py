"""The documentation site's sources: every public function has an API page.

Building the site itself is ``make docs`` (Sphinx, warnings as errors); this checks what can
go stale without a build (tests/test_examples.py runs the gallery's scripts).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_api_index():
    spec = importlib.util.spec_from_file_location("api_index", ROOT / "tools" / "api_index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_lists_every_public_callable():
    api = load_api_index()
    assert api.main(["--check"]) == 0, "docs/api/index.rst is out of date: python tools/api_index.py"
    listed = {name for _, names in api.entries() for name in names}
    import sep3d

    for name in ("gaussian", "convolve", "separable_correlate", "FilterPlan"):
        assert name in listed and name in sep3d.__all__
    for module, name in [("sep3d.ibsi", "riesz"), ("sep3d.calibration", "measure_methods"),
                         ("sep3d.pipeline", "register_spec_kind"), ("sep3d.radiomics.ibsi2", "run")]:
        assert name in dict(api.entries())[module], (module, name)
