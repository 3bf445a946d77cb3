"""Write docs/api/index.rst: an autosummary entry for every public function and class.

    python tools/api_index.py          # rewrite the file
    python tools/api_index.py --check  # exit 1 if the file is not what it would write

Every callable in the ``__all__`` of the modules of :data:`MODULES`, listed once (a name a
package re-exports stays under the first module that lists it). tests/test_docs.py runs
the check, so a new public function without an API page fails the suite.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "docs" / "api" / "index.rst"

#: The modules of the reference, in page order.
MODULES = ["sep3d", "sep3d.ndimage", "sep3d.ibsi", "sep3d.xr", "sep3d.chunked", "sep3d.plan", "sep3d.kernels",
           "sep3d.planner", "sep3d.calibration", "sep3d.batch", "sep3d.pipeline", "sep3d.io.ct", "sep3d.io.raster",
           "sep3d.io", "sep3d.spectral", "sep3d.radiomics", "sep3d.radiomics.statistics", "sep3d.radiomics.ibsi2",
           "sep3d.radiomics.ibsitypes", "sep3d.datasets", "sep3d.versions"]

TITLES = {"sep3d": "Filters (``sep3d``)", "sep3d.ndimage": "scipy.ndimage drop-in (``sep3d.ndimage``)",
          "sep3d.ibsi": "IBSI 2 filters (``sep3d.ibsi``)", "sep3d.xr": "xarray accessor (``sep3d.xr``)"}


def entries():
    """``[(module, [names])]``: the public callables of each module, each object once."""
    seen, out = set(), []
    for name in MODULES:
        module = importlib.import_module(name)
        names = []
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr, None)
            if attr.startswith("_") or obj is None or inspect.ismodule(obj) or not callable(obj) or id(obj) in seen:
                continue
            seen.add(id(obj))
            names.append(attr)
        if names:
            out.append((name, names))
    return out


def render():
    lines = ["API reference", "=============", "",
             "Every public function and class, by module (generated from the docstrings). A name",
             "re-exported by a package is listed once, where it is first listed here.", ""]
    for module, names in entries():
        title = TITLES.get(module, f"``{module}``")
        lines += [title, "-" * len(title), "", f".. currentmodule:: {module}", "", ".. autosummary::",
                  "   :toctree: generated/", ""]
        lines += [f"   {n}" for n in names] + [""]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python tools/api_index.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
