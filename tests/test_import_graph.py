"""sep3d's import graph: no private names imported across modules, no new import cycles.

The graph is read from the source with ``ast`` (no import is run), counting function-level
imports too: a lazy import is still a dependency of the design. Edges go from a module to
each sep3d module it imports (``from . import x`` of a submodule counts as that submodule).
A private name (``_x``, not a dunder) of another module, imported or used as an attribute
of an imported module, fails the test: what is shared becomes a public name of its owner.

There is no import cycle: the pipeline core names the modules that run other kinds of
spec (``pipeline.SPEC_KINDS``) instead of importing them, the planner's cost model runs no
filter (timing is :mod:`sep3d.calibration`), and what two CPU kernels share is a module of
its own.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sep3d"

def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_from(module, node):
    """The absolute module name of an ``ImportFrom`` node inside `module`."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def scan():
    """``(edges, private_uses)`` of the whole package."""
    edges, private = {}, []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound = {}  # local name -> sep3d module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = imported_from(module, node)
                if not target.startswith("sep3d"):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    dest = sub if sub in MODULES else target
                    if sub in MODULES:
                        bound[alias.asname or alias.name] = sub
                    if dest in MODULES and dest != module:
                        edges.setdefault(module, set()).add(dest)
                    if (alias.name.startswith("_") and not alias.name.startswith("__") and sub not in MODULES
                            and dest != module):
                        private.append(f"{module}: from {target} import {alias.name} (line {node.lineno})")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in MODULES and alias.name != module:
                        edges.setdefault(module, set()).add(alias.name)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and bound[node.value.id] != module):
                private.append(f"{module}: {bound[node.value.id]}.{node.attr} (line {node.lineno})")
    return edges, private


def cycles(edges):
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(set(edges) | {w for targets in edges.values() for w in targets}):
        if v not in index:
            visit(v)
    return set(found)


def test_the_scan_sees_imports_and_cycles():
    """The checker itself: a known edge, a function-level edge, and a made-up cycle."""
    edges, _ = scan()
    assert "sep3d.plan" in edges["sep3d.filters"]                  # module level
    assert "sep3d.chunked" in edges["sep3d.filters"]               # inside a function
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset("abc")}
    assert cycles({"a": {"b"}, "b": set()}) == set()


def test_no_private_name_is_imported_across_modules():
    _, private = scan()
    assert private == [], "\n".join(private)


def test_no_import_cycles():
    found = cycles(scan()[0])
    assert not found, f"import cycles: {[sorted(c) for c in found]}"
