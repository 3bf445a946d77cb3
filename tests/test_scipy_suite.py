"""scipy.ndimage's own test suite (the installed ``test_filters.py``) run against sep3d.ndimage.

A nested pytest run of ``scipy.ndimage.tests.test_filters`` with the functions sep3d
covers substituted (``tests/scipy_suite_plugin.py``): every test that calls one of them
is a test of sep3d, with scipy's own inputs, expected values, error classes and messages
-- an oracle nobody here wrote. The complex tests compare with scipy's own functions.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import scipy

import sep3d.ndimage

TESTS = Path(__file__).parent

#: At least this many of scipy's tests call a covered function (1111 with scipy 1.17.1):
#: a floor that fails if the substitution silently stops reaching the tests.
MIN_COVERED = 1000


@pytest.fixture(scope="module")
def scipy_suite(tmp_path_factory):
    work = tmp_path_factory.mktemp("scipy-suite")
    (work / "pytest.ini").write_text("[pytest]\n")
    report = work / "report.json"
    env = dict(os.environ, SEP3D_SCIPY_SUITE_REPORT=str(report),
               PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    env.pop("PYTEST_XDIST_WORKER", None)
    cmd = [sys.executable, "-m", "pytest", "-p", "scipy_suite_plugin", "-p", "no:cacheprovider", "-p", "no:xdist",
           "-q", "--no-header", "-c", str(work / "pytest.ini"), "--rootdir", str(work),
           "--pyargs", "scipy.ndimage.tests.test_filters"]
    run = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1500)
    assert report.exists(), f"the scipy suite did not run:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return json.loads(report.read_text()), run


def test_every_covered_function_is_substituted(scipy_suite):
    summary, _ = scipy_suite
    assert summary["substituted"] == sorted(sep3d.ndimage.__all__)
    assert summary["covered"] >= MIN_COVERED, (scipy.__version__, summary["covered"])


def test_scipys_test_filters_pass_on_sep3d_ndimage(scipy_suite):
    summary, run = scipy_suite
    failures = "\n\n".join(f"{k}\n{summary['messages'][k]}" for k in summary["failed"][:10])
    assert not summary["failed"], f"{len(summary['failed'])} of scipy's tests fail on sep3d:\n{failures}"
    assert summary["passed"] + len(summary["skipped"]) == summary["covered"], run.stdout[-3000:]


def test_the_complex_tests_are_among_them(scipy_suite):
    summary, _ = scipy_suite
    passed_complex = [k for k in summary["outcomes"] if "complex" in k and summary["outcomes"][k] == "passed"]
    assert len(passed_complex) >= 200, len(passed_complex)
