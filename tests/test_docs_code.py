"""The ``python`` code blocks of README.md and the documentation pages (docs/**/*.md) run as
written.

A page's blocks run in order in one namespace, in an empty folder, after the few names
the page takes as given (``GIVEN``: the volume of an earlier page, a raster file to open,
batch items). A block the line ``% test: needs a GPU`` precedes (a MyST comment, not
shown on the site) runs only where CuPy has a GPU. The docstrings' examples run as
doctests (``--doctest-modules``), the gallery in tests/test_examples.py.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from sep3d.datasets import SampleDataUnavailable

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md"] + sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
FENCE = re.compile(r"^(?P<before>.*?)^```python\n(?P<code>.*?)^```$", re.S | re.M)
NEEDS_GPU = "% test: needs a GPU"
OPTIONAL = {"radiomics", "pywt", "cupy", "pyarrow"}  # extras a page may use: missing -> skipped with the reason

CT = """
import numpy as np
import sep3d
from sep3d import datasets
from sep3d.io import ct
image, mask = datasets.synthetic_ct(shape=(24, 64, 64))
volume, spacing = ct.from_sitk(image)
"""

def name(page):
    """`page` relative to docs/ (README.md as it is)."""
    return str(page.relative_to(DOCS if DOCS in page.parents else ROOT))


#: What a page's code takes as given, by page (relative to docs/).
GIVEN = {
    "user_guide/dask_batches.md": CT + """
import dask.array
dask.array.from_array(volume.astype(np.float32), chunks=(12, 64, 64)).to_zarr("ct.zarr")
from batch_steps import smooth_case as my_step       # a picklable step: a Gaussian of a .npy case
paths = []
for name in ("case1", "case2"):
    np.save(name + ".npy", volume[:8].astype(np.float32))
    paths.append(str(Path(name + ".npy").resolve()))
""",
    "user_guide/gpu.md": CT,
    "user_guide/hyperspectral.md": CT + """
import xarray as xr
from sep3d.datasets import synthetic_cube
from sep3d.io import write_raster
cube, truth = synthetic_cube((30, 48, 48))
write_raster(cube, "scene.tif")
ct = xr.DataArray(volume, dims=("z", "y", "x"),
                  coords={d: np.arange(n) * s for d, n, s in zip("zyx", volume.shape, spacing)})
ds = xr.Dataset({name: cube.sel(band=b).drop_vars(["band", "wavelength", "fwhm"]) for name, b in [("red", 10), ("nir", 20)]})
""",
    "user_guide/planner.md": CT + """
kernel = np.add.outer(np.hanning(7)[:, None] * np.hanning(7), np.hanning(7)).astype(np.float32)
""",
    "user_guide/radiomics_ibsi.md": CT,
}


def blocks(page):
    """``(code, needs_gpu)`` for each ``python`` fence of `page`, in order."""
    found = []
    for match in FENCE.finditer(page.read_text()):
        before = match.group("before").rstrip("\n").splitlines()
        found.append((match.group("code"), bool(before) and before[-1].strip() == NEEDS_GPU))
    return found


def has_gpu():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, no driver, no device
        return False


CASES = [(page, i) for page in PAGES for i in range(len(blocks(page)))]


def test_the_pages_have_code_to_run():
    names = {name(page) for page, _ in CASES}
    assert {"README.md", "getting_started.md", "user_guide/ct_filters.md", "user_guide/hyperspectral.md"} <= names
    assert set(GIVEN) <= names, "GIVEN names a page without python code"


@pytest.mark.parametrize("page, index", CASES, ids=[f"{name(p)}[{i}]" for p, i in CASES])
def test_code_block_runs(page, index, tmp_path, monkeypatch):
    code = blocks(page)
    if code[index][1] and not has_gpu():
        pytest.skip(f"{page.name} block {index} needs a CUDA GPU (CuPy with a device)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "docs_page", "Path": Path}
    exec(compile(GIVEN.get(name(page), ""), "<given>", "exec"), namespace)
    for i, (source, needs_gpu) in enumerate(code[:index + 1]):
        if needs_gpu and i < index and not has_gpu():
            continue  # an earlier GPU block: the later ones do not depend on it
        try:
            exec(compile(source, f"{name(page)} block {i}", "exec"), namespace)
        except SampleDataUnavailable as exc:
            pytest.skip(f"{name(page)} block {i} reads a PyRadiomics sample case, which needs the package index "
                        f"once: {exc}")
        except ModuleNotFoundError as exc:
            if exc.name not in OPTIONAL:
                raise
            pytest.skip(f"{name(page)} block {i} needs {exc.name} (an optional extra), which is not installed")
