"""Every script in examples/ runs (on the CPU, well under a minute), says what it did, and
writes only where it is told (``$SEP3D_EXAMPLE_OUT``): the docs gallery runs them too."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

FOLDER = Path(__file__).parent.parent / "examples"
EXAMPLES = sorted(FOLDER.glob("*.py"))


def test_the_gallery_has_examples():
    assert EXAMPLES and all(p.name.startswith("plot_") for p in EXAMPLES)  # sphinx-gallery runs plot_*.py


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    before = set(FOLDER.iterdir())
    env = dict(os.environ, SEP3D_EXAMPLE_OUT=str(tmp_path), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(script)], cwd=FOLDER, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout
    assert any(tmp_path.iterdir())
    assert set(FOLDER.iterdir()) == before  # nothing written into the source tree
    lines = script.read_text().lstrip('"\n ').splitlines()
    assert len(lines) > 1 and set(lines[1]) == {"="}, "a gallery script opens with an rST title"
