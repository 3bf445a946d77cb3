"""Run the test suite on every supported Python: one virtualenv per interpreter (``make test-pythons``).

For each version (default 3.10 3.11 3.12 3.13) it finds an interpreter (``pythonX.Y`` on
PATH, else the newest pyenv ``versions/X.Y.*``), creates or refreshes ``.venvs/pyX.Y``
with ``pip install -e ".[radiomics,test]"`` (plain pip, as a user would; redone only when
pyproject.toml changes), runs pytest there and prints one table row per version: passed,
failed, skipped, install and test seconds. Exits non-zero when a version fails or has no
interpreter.

``--suite full`` (default) runs the whole suite; ``--suite core`` the filters, the NumPy
engine, chunked runs, the PyRadiomics image types and the shipped pipelines' value checks
(CI runs that on the newest Python).
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ("3.10", "3.11", "3.12", "3.13")
CORE = ["tests/test_filters.py", "tests/test_ndimage.py", "tests/test_recursive.py", "tests/test_numpy_engine.py",
        "tests/test_chunked.py", "tests/test_radiomics.py", "tests/test_pipeline_values.py"]


def find_interpreter(version):
    """A working Python `version` (X.Y): on PATH, else pyenv's newest X.Y.*; None if absent."""
    candidates = [shutil.which(f"python{version}")]
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    installed = glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}"))

    def patch(path):
        match = re.search(rf"versions/{re.escape(version)}\.(\d+)", path)
        return int(match.group(1)) if match else -1

    candidates += sorted(installed, key=patch, reverse=True)
    for exe in filter(None, candidates):
        probe = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:  # a pyenv shim of another version fails here
            return exe
    return None


def ensure_venv(version, exe, log):
    """The venv's python, (re)built when pyproject.toml changed; returns (python, seconds spent)."""
    venv = ROOT / ".venvs" / f"py{version}"
    python = venv / "bin" / "python"
    stamp = venv / ".stamp"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python, 0.0
    start = time.perf_counter()
    steps = [[exe, "-m", "venv", str(venv)],
             [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
             [str(python), "-m", "pip", "install", "--quiet", "-e", ".[radiomics,test]"]]
    for cmd in steps:
        if subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
            raise RuntimeError(f"Python {version}: `{' '.join(cmd)}` failed (see {log.name})")
    stamp.write_text(digest)
    return python, time.perf_counter() - start


def run_tests(version, python, suite, workers, log):
    """pytest in the venv; returns (counts, seconds)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(python.parent.parent / "numba-cache"))
    env.pop("SEP3D_BLOCK_NUMBA", None)
    cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers)]
    cmd += CORE if suite == "core" else []
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log.write(proc.stdout + proc.stderr)
    log.flush()
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {key: int(n) for n, key in re.findall(r"(\d+) (passed|failed|skipped|errors?)", summary)}
    counts["errors"] = counts.pop("error", 0) + counts.pop("errors", 0)
    counts["ok"] = proc.returncode == 0
    return counts, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", nargs="+", default=list(VERSIONS), help="Python versions (X.Y)")
    parser.add_argument("--suite", choices=["full", "core"], default="full", help="what to run on each")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (default 2)")
    args = parser.parse_args(argv)
    logs = ROOT / ".venvs" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rows, ok = [], True
    for version in args.versions:
        exe = find_interpreter(version)
        if exe is None:
            rows.append((version, "MISSING", "", "", "", "", ""))
            print(f"Python {version}: no interpreter (not on PATH as python{version}, not in pyenv)", flush=True)
            ok = False
            continue
        with open(logs / f"py{version}.log", "w") as log:
            try:
                python, install_s = ensure_venv(version, exe, log)
            except RuntimeError as exc:
                rows.append((version, "NO VENV", "", "", "", "", ""))
                print(exc, flush=True)
                ok = False
                continue
            counts, test_s = run_tests(version, python, args.suite, args.workers, log)
        ok &= counts["ok"]
        full = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                              capture_output=True, text=True).stdout.strip()
        rows.append((full, "PASS" if counts["ok"] else "FAIL",
                     counts.get("passed", 0), counts.get("failed", 0) + counts["errors"], counts.get("skipped", 0),
                     f"{install_s:.0f}", f"{test_s:.0f}"))
        print(f"Python {full}: {rows[-1][1]}, {rows[-1][2]} passed, {rows[-1][3]} failed, {rows[-1][4]} skipped, "
              f"{test_s:.0f} s (log: {logs / f'py{version}.log'})", flush=True)
    print(f"\nsuite: {args.suite}")
    print(f"{'Python':<8} {'result':<10} {'passed':>7} {'failed':>7} {'skipped':>8} {'install s':>10} {'tests s':>8}")
    for row in rows:
        print(f"{row[0]:<8} {row[1]!s:<10} {row[2]!s:>7} {row[3]!s:>7} {row[4]!s:>8} {row[5]!s:>10} "
              f"{row[6]!s:>8}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
