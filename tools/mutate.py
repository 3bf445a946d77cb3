"""Mutation testing of sep3d's orchestration and I/O modules (``make mutate``).

A mutant is sep3d with one small, plausible bug planted: a flipped comparison, ``and`` for
``or``, a dropped ``not``, a changed constant, ``+`` for ``-``, ``all`` for ``any``, a deleted
call statement, ``return None`` for a computed value. For each one the tests that execute
the mutated line run (fastest first, stopping at the first failure) in a scratch copy of
the repository; the mutant is *killed* when one fails or it runs past its time limit, and
*survives* when they all pass. A mutant on a line no test executes survives without a run.

How it runs:

1. Coverage, once per state of the sources and tests: the chosen test files run under
   coverage.py with the pytest node id as the coverage context, which maps every line of
   the mutated modules to the tests that execute it (and records each test's duration).
2. Mutants, until the time budget is spent: sites are enumerated from each module's AST
   (never inside ``raise`` statements, f-strings, docstrings, annotations or logging
   calls) and taken round-robin across the modules in a fixed shuffled order, so a short
   budget samples every module. Each job slot is a scratch copy of the repository under
   ``.mutate/``; a forked child (the parent imported the heavy third-party packages
   once) puts the slot first on ``sys.path`` and ``PYTHONPATH`` (so CLI subprocesses and
   dask workers import the mutant too) and runs pytest on the selected node ids.
3. Results are kept in ``.mutate/results.json``: a killed mutant stays killed while its
   module's source is unchanged; a survivor is run again once the tests change, before
   any mutant not yet run. So after adding tests a rerun first judges the survivors again.

The report lists each module's kill rate and every survivor (file:line and the change);
``--fresh`` forgets earlier results.

Usage::

    python tools/mutate.py [--minutes 30] [--jobs 2] [--module sep3d/batch.py ...] [--fresh]
"""
from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutate"

#: the orchestration and I/O modules (issue 18)
MODULES = (
    "sep3d/batch.py",
    "sep3d/output_folder.py",
    "sep3d/pipeline.py",
    "sep3d/spectral/scene.py",
    "sep3d/radiomics/cohort.py",
    "sep3d/radiomics/imagetypes.py",
    "sep3d/io/ct.py",
    "sep3d/io/raster.py",
    "sep3d/spectral/indices.py",
)

#: the test files that exercise them (the numerical core has its own, much larger suite)
TEST_FILES = (
    "tests/test_batch.py",
    "tests/test_output_folder.py",
    "tests/test_pipeline.py",
    "tests/test_pipeline_values.py",
    "tests/test_scene_pipeline.py",
    "tests/test_data_safety_ct.py",
    "tests/test_data_safety_pipelines.py",
    "tests/test_data_safety_rasters.py",
    "tests/test_real_layouts.py",
    "tests/test_raster.py",
    "tests/test_radiomics.py",
    "tests/test_spectral.py",
    "tests/test_spatial_spectral.py",
    "tests/test_xr.py",
    "tests/test_io_datasets_demo.py",
    "tests/test_errors.py",
)

#: how many of a module's fastest tests run a mutant on a line executed only at import
IMPORT_TIME_TESTS = 40

#: suffix of the coverage context of a test's fixture setup and teardown
FIXTURE = "|fixture"

#: what the scratch copies leave out
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", ".mutate", "demo-output", "__pycache__", "*.pyc",
                                     "*.egg-info", ".hypothesis", ".pytest_cache", "benchmarks")

_SWAP_COMPARE = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
                 ast.GtE: ast.Gt, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
_SWAP_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult}
_SWAP_CALL = {"all": "any", "any": "all", "min": "max", "max": "min"}
_LOGGING = {"debug", "info", "warning", "error", "exception", "critical"}
_SYMBOL = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Is: "is",
           ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
           ast.Div: "/", ast.FloorDiv: "//"}


@dataclass(frozen=True)
class Mutant:
    module: str
    index: int  # the n-th site of the module, in AST order
    line: int
    change: str

    @property
    def key(self):
        return f"{self.module}:{self.index}"


class _Sites(ast.NodeTransformer):
    """Enumerates the mutation sites of a module; with `target`, applies that one."""

    def __init__(self, target=None):
        self.target = target
        self.found = []  # (line, change)

    def _site(self, node, change, make):
        k = len(self.found)
        self.found.append((node.lineno, change))
        return make() if k == self.target else None

    # subtrees never mutated: error messages, f-strings, docstrings, annotations, logging
    def visit_Raise(self, node):
        return node

    def visit_JoinedStr(self, node):
        return node

    def visit_AnnAssign(self, node):
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_arg(self, node):
        return node

    def _body_without_docstring(self, node):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        return body

    def visit_FunctionDef(self, node):
        for field in ("decorator_list",):
            setattr(node, field, [self.visit(d) for d in getattr(node, field)])
        node.args.defaults = [self.visit(d) for d in node.args.defaults]
        node.args.kw_defaults = [d if d is None else self.visit(d) for d in node.args.kw_defaults]
        start = len(node.body) - len(self._body_without_docstring(node))
        node.body = node.body[:start] + self._visit_body(node.body[start:])
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        start = len(node.body) - len(self._body_without_docstring(node))
        node.body = node.body[:start] + self._visit_body(node.body[start:])
        return node

    def visit_Module(self, node):
        start = len(node.body) - len(self._body_without_docstring(node))
        node.body = node.body[:start] + self._visit_body(node.body[start:])
        return node

    def _visit_body(self, body):
        out = []
        for stmt in body:
            new = self.visit(stmt)
            if isinstance(new, list):
                out.extend(new)
            elif new is not None:
                out.append(new)
        return out or [ast.Pass()]

    def generic_visit(self, node):
        for field, old in ast.iter_fields(node):
            if isinstance(old, list) and old and isinstance(old[0], ast.stmt):
                setattr(node, field, self._visit_body(old))
            elif isinstance(old, list):
                setattr(node, field, [self.visit(v) if isinstance(v, ast.AST) else v for v in old])
            elif isinstance(old, ast.AST):
                setattr(node, field, self.visit(old))
        return node

    # -- the mutations --------------------------------------------------------------
    def visit_Expr(self, node):
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in _LOGGING:
            return node
        node = self.generic_visit(node)
        if isinstance(call, ast.Call):
            done = self._site(node, f"delete `{ast.unparse(call)[:60]}`", lambda: ast.copy_location(ast.Pass(), node))
            return done or node
        return node

    def visit_Return(self, node):
        node = self.generic_visit(node)
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            return self._site(node, "return None",
                              lambda: ast.copy_location(ast.Return(value=ast.Constant(None)), node)) or node
        return node

    def visit_Compare(self, node):
        node = self.generic_visit(node)
        for i, op in enumerate(node.ops):
            new = _SWAP_COMPARE.get(type(op))
            if new is not None:
                def make(i=i, new=new):
                    node.ops[i] = new()
                    return node
                self._site(node, f"{_SYMBOL[type(op)]} -> {_SYMBOL[new]}", make)
        return node

    def visit_BoolOp(self, node):
        node = self.generic_visit(node)
        new, word = (ast.Or, "and -> or") if isinstance(node.op, ast.And) else (ast.And, "or -> and")
        return self._site(node, word, lambda: ast.copy_location(ast.BoolOp(op=new(), values=node.values), node)) \
            or node

    def visit_UnaryOp(self, node):
        node = self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return self._site(node, "drop `not`", lambda: node.operand) or node
        return node

    def _negate_test(self, node):
        node = self.generic_visit(node)
        test = node.test
        if not isinstance(test, (ast.Compare, ast.BoolOp, ast.UnaryOp)):
            def make():
                node.test = ast.copy_location(ast.UnaryOp(op=ast.Not(), operand=test), test)
                return node
            self._site(test, f"`{ast.unparse(test)[:40]}` -> `not ...`", make)
        return node

    visit_If = visit_While = visit_IfExp = _negate_test

    def visit_BinOp(self, node):
        node = self.generic_visit(node)
        new = _SWAP_BINOP.get(type(node.op))
        strings = any(isinstance(side, (ast.JoinedStr, ast.Constant)) and isinstance(getattr(side, "value", ""), str)
                      for side in (node.left, node.right))
        if new is not None and not strings:
            return self._site(node, f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[new]}",
                              lambda: ast.copy_location(ast.BinOp(left=node.left, op=new(), right=node.right), node)) \
                or node
        return node

    def visit_AugAssign(self, node):
        node = self.generic_visit(node)
        new = _SWAP_BINOP.get(type(node.op))
        if new is not None:
            def make():
                node.op = new()
                return node
            self._site(node, f"{_SYMBOL[type(node.op)]}= -> {_SYMBOL[new]}=", make)
        return node

    def visit_Call(self, node):
        node = self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in _SWAP_CALL:
            new = _SWAP_CALL[node.func.id]

            def make():
                node.func = ast.copy_location(ast.Name(id=new, ctx=ast.Load()), node.func)
                return node
            self._site(node, f"{node.func.id}() -> {new}()", make)
        return node

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, bool):
            return self._site(node, f"{value} -> {not value}",
                              lambda: ast.copy_location(ast.Constant(not value), node)) or node
        if isinstance(value, (int, float)):
            new = 1 if value == 0 else value + 1
            new = type(value)(new)
            return self._site(node, f"{value!r} -> {new!r}", lambda: ast.copy_location(ast.Constant(new), node)) \
                or node
        return node


def sites(source):
    finder = _Sites()
    finder.visit(ast.parse(source))
    return finder.found


def mutate(source, index):
    """The source with mutation site `index` applied."""
    applier = _Sites(target=index)
    tree = applier.visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree))


def users_of_import_time_lines(source):
    """line run at import -> the lines that use what it defines (its names, loaded elsewhere).

    A constant, a default argument or a dataclass field is evaluated when the module is
    imported, before any test starts, so coverage cannot say which tests use it; the tests
    that run the lines reading the names its statement binds can.
    """
    tree = ast.parse(source)
    loads = {}
    for node in ast.walk(tree):
        name = node.id if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) else \
            node.attr if isinstance(node, ast.Attribute) else None
        if name is not None:
            loads.setdefault(name, set()).add(node.lineno)

    def bound(stmt):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return {stmt.name}
        targets = stmt.targets if isinstance(stmt, ast.Assign) else \
            [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) else []
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}

    users = {}

    def add(span, used):
        for line in span:
            users.setdefault(line, set()).update(used - set(span))

    for node in ast.walk(tree):   # every def, nested ones too: defaults and decorators -> its body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            add(range(first, node.body[0].lineno),
                set(range(node.body[0].lineno, node.end_lineno + 1)) | loads.get(node.name, set()))
    scopes = [(tree.body, set())]
    for body, owners in scopes:   # module and class statements -> the lines loading their names
        for stmt in body:
            names = bound(stmt) | owners
            if isinstance(stmt, ast.ClassDef):
                scopes.append((stmt.body, names))
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                add(range(stmt.lineno, stmt.end_lineno + 1), set().union(*(loads.get(n, set()) for n in names)))
    return users


def _digest(paths):
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p).encode())
        h.update((ROOT / p).read_bytes() if (ROOT / p).exists() else b"-")
    return h.hexdigest()[:16]


# -- 1. coverage: line -> tests -------------------------------------------------------
def collect_coverage(modules, tests, out):
    """Run `tests` under coverage with the node id as context (in a subprocess)."""
    subprocess.run([sys.executable, __file__, "--collect-into", str(out), "--module", *modules, "--tests", *tests],
                   cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _collect(out, modules, tests):
    import coverage
    import pytest

    cov = coverage.Coverage(data_file=None, include=[str(ROOT / m) for m in modules])
    durations = {}

    shared = {}   # test -> the module- or session-scoped fixtures it uses

    class Contexts:
        """Coverage context = the test's node id; ``<id>|fixture`` while fixtures are set up or torn down."""

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item):
            shared[item.nodeid] = sorted(name for name, defs in item._fixtureinfo.name2fixturedefs.items()
                                         if defs and defs[-1].scope != "function")
            start = time.perf_counter()
            yield
            durations[item.nodeid] = time.perf_counter() - start
            cov.switch_context("")

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_setup(self, item):
            cov.switch_context(item.nodeid + FIXTURE)
            yield

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_call(self, item):
            cov.switch_context(item.nodeid)
            yield

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_teardown(self, item):
            cov.switch_context(item.nodeid + FIXTURE)
            yield

        def pytest_runtest_logreport(self, report):
            if report.failed:
                failed.append(report.nodeid)

    failed = []
    cov.start()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests], plugins=[Contexts()])
    cov.stop()
    data = cov.get_data()
    lines = {}
    for m in modules:
        by_line = data.contexts_by_lineno(str(ROOT / m))
        lines[m] = {str(n): sorted(c for c in ctx if c) for n, ctx in by_line.items()}
    Path(out).write_text(json.dumps({"lines": lines, "durations": durations, "shared": shared, "failed": failed,
                                     "code": int(code)}))


# -- 2. the mutant runs ---------------------------------------------------------------
def _preimport():
    """Import the heavy third-party packages once, so each forked child starts fast.

    Not pytest plugins (zarr, hypothesis): pytest could no longer rewrite their asserts.
    """
    for name in ("numpy", "scipy.ndimage", "scipy.signal", "numba", "dask.array", "distributed", "xarray",
                 "rioxarray", "rasterio", "SimpleITK", "yaml", "spectral", "radiomics", "pywt"):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - an optional package: its tests skip
            pass


def _start(slot, nodeids, timeout):
    pid = os.fork()
    if pid:
        return pid, time.monotonic() + timeout
    try:  # the child: never returns
        os.setpgid(0, 0)
        os.chdir(slot)
        sys.path.insert(0, str(slot))
        os.environ["PYTHONPATH"] = os.pathsep.join([str(slot), os.environ.get("PYTHONPATH", "")])
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        sys.dont_write_bytecode = True
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        import pytest
        code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                            "-W", "ignore::pytest.PytestAssertRewriteWarning", *nodeids])
    except BaseException:  # noqa: BLE001 - reported as an error of the run, with its traceback
        import traceback
        (Path(slot) / "mutant-error.txt").write_text(traceback.format_exc())
        code = 3
    os._exit(int(code))


def run_mutants(mutants, selection, durations, minutes, jobs, results, save):
    _preimport()
    slots = []
    for j in range(jobs):
        slot = WORK / f"slot{j}"
        if slot.exists():
            shutil.rmtree(slot)
        shutil.copytree(ROOT, slot, ignore=COPY_IGNORE)
        slots.append(slot)
    free = list(range(jobs))
    running = {}  # pid -> (slot index, mutant, deadline, started)
    deadline = time.monotonic() + 60 * minutes
    queue = list(mutants)
    while queue or running:
        while queue and free and time.monotonic() < deadline:
            mutant = queue.pop(0)
            j = free.pop()
            source = (ROOT / mutant.module).read_text()
            (slots[j] / mutant.module).write_text(mutate(source, mutant.index))
            ids = selection[mutant.key]
            limit = 30 + 3 * sum(durations.get(i, 1.0) for i in ids)
            pid, until = _start(slots[j], ids, limit)
            running[pid] = (j, mutant, until, time.monotonic())
        if not running:
            break
        time.sleep(0.05)
        for pid, (j, mutant, until, started) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            outcome = None
            if done:
                code = os.waitstatus_to_exitcode(status)
                outcome = {0: "survived", 1: "killed", 2: "killed"}.get(code, f"error {code}")
            elif time.monotonic() > until:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
                outcome = "timeout"
            if outcome:
                del running[pid]
                shutil.copy2(ROOT / mutant.module, slots[j] / mutant.module)
                free.append(j)
                results[mutant.key] = {"outcome": outcome, "line": mutant.line, "change": mutant.change,
                                       "seconds": round(time.monotonic() - started, 1)}
                save()
                print(f"  {outcome:9s} {mutant.module}:{mutant.line}  {mutant.change}", flush=True)
    return len(queue)


# -- 3. the report --------------------------------------------------------------------
def report(mutants, results, not_run):
    rows = []
    total = {"mutants": 0, "uncovered": 0, "killed": 0, "survived": 0, "other": 0}
    survivors = []
    for module in sorted({m.module for m in mutants}):
        mine = [m for m in mutants if m.module == module]
        counts = {"mutants": len(mine), "uncovered": 0, "killed": 0, "survived": 0, "other": 0}
        for m in mine:
            r = results.get(m.key)
            if r is None:
                continue
            kind = {"killed": "killed", "timeout": "killed", "survived": "survived",
                    "uncovered": "uncovered"}.get(r["outcome"], "other")
            counts[kind] += 1
            if kind in ("survived", "uncovered"):
                survivors.append(f"{module}:{m.line}  {m.change}  ({r['outcome']})")
        for k in total:
            total[k] += counts[k]
        rows.append((module, counts))
    rows.append(("all", total))
    # the kill rate of the mutants run; the mutants on lines no test executes are counted
    # over the whole module (they need no run), and the estimate combines the two
    print("\n| module | mutants | on lines no test runs | run | killed | survived | other | killed / run | "
          "estimated kill rate |")
    print("|---|---|---|---|---|---|---|---|---|")
    for module, c in rows:
        run = c["killed"] + c["survived"]
        rate = c["killed"] / run if run else None
        covered = 1 - c["uncovered"] / c["mutants"] if c["mutants"] else 0.0
        print(f"| {module} | {c['mutants']} | {c['uncovered']} | {run + c['other']} | {c['killed']} | "
              f"{c['survived']} | {c['other']} | {'-' if rate is None else f'{100 * rate:.1f}%'} | "
              f"{'-' if rate is None else f'{100 * rate * covered:.1f}%'} |")
    if not_run:
        print(f"\n{not_run} mutants not run within the time budget (run `make mutate` again to continue).")
    (WORK / "survivors.txt").write_text("\n".join(survivors) + "\n")
    print(f"{len(survivors)} survivors listed in {WORK / 'survivors.txt'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="time budget for the mutant runs")
    parser.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    parser.add_argument("--module", nargs="+", default=list(MODULES))
    parser.add_argument("--tests", nargs="+", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="forget the results of earlier runs")
    parser.add_argument("--collect-into", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    tests = args.tests or [t for t in TEST_FILES if (ROOT / t).exists()]
    if args.collect_into:
        return _collect(args.collect_into, args.module, tests)

    WORK.mkdir(exist_ok=True)
    state = _digest(list(args.module) + tests + ["tests/conftest.py", "tools/mutate.py"])
    coverage_file = WORK / f"coverage-{state}.json"
    if not coverage_file.exists():
        print(f"coverage of {len(tests)} test files over {len(args.module)} modules ...", flush=True)
        t0 = time.monotonic()
        collect_coverage(args.module, tests, coverage_file)
        print(f"  {time.monotonic() - t0:.0f} s", flush=True)
    cov = json.loads(coverage_file.read_text())
    if cov["failed"]:
        raise SystemExit(f"the tests fail without any mutant; fix them first: {cov['failed'][:5]}")

    results_file = WORK / "results.json"
    store = {} if args.fresh or not results_file.exists() else json.loads(results_file.read_text())
    tests_digest = _digest(tests + ["tests/conftest.py", "tools/mutate.py"])
    mutants, selection, results = [], {}, {}
    per_module, again = [], []
    fixture_tests = {}   # test -> the tests sharing its module fixtures (tests_of's memo)
    for module in args.module:
        source = (ROOT / module).read_text()
        digest = hashlib.sha256(source.encode()).hexdigest()[:16]
        kept = store.get(module, {})
        fresh_module = kept.get("source") != digest
        mine = [Mutant(module, i, line, change) for i, (line, change) in enumerate(sites(source))]
        lines = {n: tests_of(ids, cov["shared"], fixture_tests) for n, ids in cov["lines"][module].items()}
        by_speed = functools.partial(sorted, key=lambda i: cov["durations"].get(i, 1.0))
        # lines run only at import (constants, defaults, decorators): the tests of the lines
        # that use what they define; else the module's fastest tests stand in
        module_tests = by_speed({i for ids in lines.values() for i in ids})[:IMPORT_TIME_TESTS]
        users = users_of_import_time_lines(source)
        for m in mine:
            earlier = None if fresh_module else kept.get("results", {}).get(str(m.index))
            ids = by_speed(lines.get(str(m.line), []))
            if not ids and str(m.line) in lines:
                ids = by_speed({i for n in users.get(m.line, ()) for i in lines.get(str(n), [])}) or module_tests
            selection[m.key] = ids
            if not ids:
                results[m.key] = {"outcome": "uncovered", "line": m.line, "change": m.change}
            elif earlier and (earlier["outcome"] in ("killed", "timeout") or earlier.get("tests") == tests_digest):
                results[m.key] = earlier
            elif earlier:
                again.append(m)   # a survivor of older tests: judged again first
        random.Random(f"{args.seed}:{module}").shuffle(mine)   # each module's order its own
        per_module.append([m for m in mine if m.key not in results and m not in again])
        store[module] = {"source": digest, "results": kept.get("results", {}) if not fresh_module else {}}
        mutants.extend(mine)
    queue = again + [m for group in _round_robin(per_module) for m in group]

    def save():
        for key, r in results.items():
            module, index = key.rsplit(":", 1)
            store[module]["results"][index] = {**r, "tests": tests_digest}
        results_file.write_text(json.dumps(store))

    print(f"{len(mutants)} mutants in {len(args.module)} modules; {len(queue)} to run "
          f"({args.jobs} jobs, {args.minutes:g} min budget)", flush=True)
    not_run = run_mutants(queue, selection, cov["durations"], args.minutes, args.jobs, results, save)
    save()
    report(mutants, results, not_run)
    return 0


def tests_of(contexts, shared, memo):
    """The tests behind coverage contexts: a line run while a test's fixtures were set up also
    belongs to the tests of the same file that share its module- or session-scoped fixtures
    (a module fixture runs once, under the first test that asks for it)."""
    tests = set()
    for context in contexts:
        if not context.endswith(FIXTURE):
            tests.add(context)
            continue
        test = context[:-len(FIXTURE)]
        if test not in memo:
            mine, where = set(shared.get(test, ())), test.split("::")[0]
            memo[test] = {test} | ({t for t, fixtures in shared.items()
                                     if t.split("::")[0] == where and mine & set(fixtures)} if mine else set())
        tests |= memo[test]
    return sorted(tests)


def _round_robin(groups):
    longest = max((len(g) for g in groups), default=0)
    for k in range(longest):
        yield [g[k] for g in groups if k < len(g)]


if __name__ == "__main__":
    sys.exit(main())
