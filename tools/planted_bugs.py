"""Plant the four bugs of issue 18 one at a time and show that the test suite fails on each.

Each bug is a one-line edit that once survived the whole suite. For every bug this copies
the repository to a scratch folder, applies the edit, runs the orchestration and I/O test
files there (``tools/mutate.py``'s list) and prints how many tests failed. Exit status 1
when a planted bug leaves every test green.

Usage::

    python tools/planted_bugs.py
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutate import COPY_IGNORE, ROOT, TEST_FILES  # noqa: E402

#: name -> (file, the correct line, the planted line)
BUGS = {
    "a resumed run accepts an item when any of its outputs exists": (
        "sep3d/batch.py",
        "present = record is not None and all((folder.path / p).exists() for p in _files_of(record))",
        "present = record is not None and any((folder.path / p).exists() for p in _files_of(record))"),
    "an array written with like= drops the direction cosines": (
        "sep3d/io/ct.py",
        "image.CopyInformation(like)",
        "image.SetSpacing(like.GetSpacing()); image.SetOrigin(like.GetOrigin())"),
    "scene steps read the raw scene instead of their input": (
        "sep3d/spectral/scene.py",
        "data = outputs[step.input]\n        args = dict(step.args)",
        "data = outputs['image']\n        args = dict(step.args)"),
    "spectral.index ignores the user's band override of a built-in": (
        "sep3d/spectral/indices.py",
        "specs = {**builtin.bands, **(bands or {})}",
        "specs = dict(builtin.bands)"),
}


def main():
    tests = [t for t in TEST_FILES if (ROOT / t).exists()]
    survived = []
    for name, (path, good, bad) in BUGS.items():
        with tempfile.TemporaryDirectory(prefix="sep3d-planted-") as tmp:
            copy = Path(tmp) / "repo"
            shutil.copytree(ROOT, copy, ignore=COPY_IGNORE)
            source = (copy / path).read_text()
            if source.count(good) != 1:
                raise SystemExit(f"{path}: the line to break is not there once any more: {good!r}")
            (copy / path).write_text(source.replace(good, bad))
            env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
            run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                                  "-n", "2", *tests], cwd=copy, env=env, capture_output=True, text=True)
            failed = [line.split(" ", 1)[1].split(" - ")[0] for line in run.stdout.splitlines()
                      if line.startswith("FAILED ")]
            last = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-300:]
            print(f"{name} ({path}):\n  {last}")
            for test in failed[:6]:
                print(f"    {test}")
            if run.returncode == 0:
                survived.append(name)
    if survived:
        print(f"\nNOT CAUGHT: {survived}")
        return 1
    print(f"\nall {len(BUGS)} planted bugs make the suite fail")
    return 0


if __name__ == "__main__":
    sys.exit(main())
