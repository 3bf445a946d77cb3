"""pytest plugin: run scipy.ndimage's own ``test_filters.py`` against sep3d.ndimage.

Loaded with ``-p scipy_suite_plugin`` (``tests/`` on ``PYTHONPATH``) in a pytest run of
``--pyargs scipy.ndimage.tests.test_filters``. Before the test module is imported it
replaces the functions sep3d.ndimage covers in the ``scipy.ndimage`` namespace, so every
``ndimage.<name>`` the tests call (also in their parametrize lists) is sep3d's; scipy's
internals call their own module-level functions and are untouched. The test module's
complex reference helper (``_complex_correlate``) keeps scipy's functions, so complex
results are checked against scipy, not against sep3d.

Each substituted function counts its calls per test. At the end the plugin writes a JSON
report to ``$SEP3D_SCIPY_SUITE_REPORT``: how many tests called sep3d ("covered"), and the
outcome of each covered test.
"""
from __future__ import annotations

import functools
import json
import os
import types

import pytest

_state = {"current": None, "called": set(), "outcomes": {}, "originals": {}}


def _counting(name, func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if _state["current"] is not None:
            _state["called"].add(_state["current"])
        return func(*args, **kwargs)

    wrapper.__sep3d_substitute__ = name
    return wrapper


def pytest_configure(config):
    import scipy.ndimage

    import sep3d.ndimage

    try:  # scipy >= 1.16 marks its tests' array-API support by function object
        from scipy._lib._array_api import xp_capabilities_table
    except ImportError:  # scipy 1.15 (the last for Python 3.10) has no such table
        xp_capabilities_table = {}

    for name in sep3d.ndimage.__all__:  # the scipy.ndimage functions sep3d covers
        original = getattr(scipy.ndimage, name)
        substitute = _counting(name, getattr(sep3d.ndimage, name))
        _state["originals"][name] = original
        # the tests look their array-API marks up by function object
        if original in xp_capabilities_table:
            xp_capabilities_table[substitute] = xp_capabilities_table[original]
        setattr(scipy.ndimage, name, substitute)


def pytest_collection_modifyitems(session, config, items):
    """Point the complex reference helper of each test module back at scipy's functions."""
    import scipy.ndimage

    reference = types.SimpleNamespace(**{name: getattr(scipy.ndimage, name) for name in dir(scipy.ndimage)
                                         if not name.startswith("__")})
    for name, func in _state["originals"].items():
        setattr(reference, name, func)
    seen = set()
    for item in items:
        module = getattr(item, "module", None)
        if module is None or id(module) in seen:
            continue
        seen.add(id(module))
        helper = getattr(module, "_complex_correlate", None)
        if isinstance(helper, types.FunctionType):
            namespace = dict(helper.__globals__, ndimage=reference)
            module._complex_correlate = types.FunctionType(helper.__code__, namespace, helper.__name__,
                                                           helper.__defaults__, helper.__closure__)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _state["current"] = item.nodeid
    try:
        yield
    finally:
        _state["current"] = None


def pytest_runtest_logreport(report):
    if report.nodeid not in _state["called"]:
        return
    previous = _state["outcomes"].get(report.nodeid)
    if report.failed or previous is None or report.when == "call":
        if previous == "failed":
            return
        _state["outcomes"][report.nodeid] = {
            "outcome": report.outcome,
            "message": (str(report.longrepr)[-2000:] if report.failed else ""),
        }


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("SEP3D_SCIPY_SUITE_REPORT")
    if not path:
        return
    outcomes = _state["outcomes"]
    summary = {
        "covered": len(outcomes),
        "passed": sum(o["outcome"] == "passed" for o in outcomes.values()),
        "failed": sorted(k for k, o in outcomes.items() if o["outcome"] == "failed"),
        "skipped": sorted(k for k, o in outcomes.items() if o["outcome"] == "skipped"),
        "messages": {k: o["message"] for k, o in outcomes.items() if o["outcome"] == "failed"},
        "outcomes": {k: o["outcome"] for k, o in outcomes.items()},
        "substituted": sorted(_state["originals"]),
    }
    with open(path, "w") as fh:
        json.dump(summary, fh, indent=1)
