"""The documentation site's sources: every public function has an API page.

Building the site itself is ``make docs`` (Sphinx, warnings as errors); this checks what can
go stale without a build (tests/test_examples.py runs the gallery's scripts).
"""
from __future__ import annotations

import importlib.util
import re
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


def module_map():
    """``{path: text}`` of the module map in docs/architecture.md (continuation lines joined)."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    block = page.split("## Module map", 1)[1].split("```", 2)[1]
    entries, head = {}, None
    for line in block.splitlines():
        if line.startswith(" ") and head:
            entries[head] += " " + line.strip()
        elif line.strip():
            head, text = re.match(r"([^\s,]+(?:, [^\s,]+)*)\s*(.*)", line).groups()
            entries[head] = text
    return entries


def test_the_architecture_module_map_matches_the_tree():
    entries = module_map()
    named = set()
    for head, text in entries.items():
        first, *others = [part.strip() for part in head.split(",")]
        if not first.startswith("sep3d/"):
            continue
        folder = first.rsplit("/", 1)[0] if not first.endswith("/") else first.rstrip("/")
        paths = [first] + [f"{folder}/{name}" for name in others]
        for path in paths:
            assert (ROOT / path).exists(), f"docs/architecture.md names {path}, which is not in the tree"
        if first.endswith("/"):  # a package described in its line: its modules by name
            paths = [f"{folder}/{word}.py" for word in re.findall(r"\b(\w+) \(", text)]
        named.update(paths)
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "sep3d").rglob("*.py") if p.name != "__init__.py"}
    modules.add("sep3d/backends/__init__.py")  # the engine registry lives in the package itself
    assert modules - named == set(), "modules missing from the architecture page's module map"
    assert {p for p in named if p.endswith(".py")} - modules - {"sep3d/backends/__init__.py"} == set()
