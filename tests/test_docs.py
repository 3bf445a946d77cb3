"""The documentation site's sources: every public function has an API page, the examples run.

Building the site itself is ``make docs`` (Sphinx, warnings as errors); this checks what can
go stale without a build.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
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


def test_every_example_runs_and_writes_only_where_it_is_told(tmp_path):
    examples = sorted((ROOT / "examples").glob("plot_*.py"))
    assert examples, "examples/plot_*.py: the gallery's sources"
    env = dict(os.environ, SEP3D_EXAMPLE_OUT=str(tmp_path), MPLBACKEND="Agg")
    before = set((ROOT / "examples").iterdir())
    for script in examples:
        done = subprocess.run([sys.executable, str(script)], cwd=ROOT / "examples", env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{script.name}: {done.stderr[-2000:]}"
        first = script.read_text().lstrip('"\n ').splitlines()
        assert first and set(first[1]) == {"="}, f"{script.name} must open with an rST title (sphinx-gallery)"
    assert set((ROOT / "examples").iterdir()) == before      # nothing written into the source tree
    assert any(tmp_path.iterdir())
