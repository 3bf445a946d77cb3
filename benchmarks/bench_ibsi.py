"""IBSI 2 filters: sep3d against MIRP (a compliant reference implementation), same input, same run.

    python benchmarks/bench_ibsi.py [--mirp-python PATH] [--repeats 3] [--case phantom|lung1] [--quick] [--out F]

`make bench-ibsi` builds MIRP's own virtualenv (``.venvs/mirp``: ``pip install mirp``, whose
pins may clash with sep3d's) and runs this. For each configuration (IBSI 2 Phase-2
parameters on a 1 mm grid, mirror boundary unless named) the table gives the median time
of sep3d and of MIRP over `--repeats` runs, the speed-up, and the largest difference of the
two response maps in % of MIRP's range (IBSI's criterion is 1%). MIRP runs in a subprocess
(``benchmarks/mirp_filters.py``, timed there on the filter call alone); without a MIRP
interpreter only sep3d's times are printed.

Inputs (``--case``): a 48x256x256 float32 CT-like volume (``sep3d.datasets.synthetic_ct``,
1 mm voxels; the default), or the PyRadiomics sample case lung1 as it is stored (48x512x512,
0.57 x 0.57 x 5 mm, as float32). On lung1's anisotropic grid MIRP simplifies (one LoG sigma
in voxels, the larger in-plane spacing for Gabor): its maps differ from IBSI's definition
there, so the difference column is about MIRP, the times are what counts.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sep3d import datasets, ibsi

from timing import machine, median_time, print_report  # benchmarks/timing.py (the script's folder is on sys.path)

HERE = Path(__file__).resolve().parent

#: name -> (what, sep3d call(volume, spacing)); the names are mirp_filters.py's configurations.
CONFIGS = {
    "log": ("LoG 1.5 mm (4 sigma)", lambda x, sp: ibsi.log(x, 1.5, spacing=sp)),
    "laws": ("Laws E5L5S5 energy 7, rot.-inv. max",
             lambda x, sp: ibsi.laws(x, "E5L5S5", energy=True, delta=7, rotation_invariant=True, pooling="max")),
    "gabor": ("Gabor 5 mm / 2 mm, gamma 1.5, 22.5 deg steps, 3 planes",
              lambda x, sp: ibsi.gabor(x, 5.0, 2.0, gamma=1.5, theta_step=22.5, planes="orthogonal", spacing=sp)),
    "db3_l1": ("db3 LLH level 1, rot.-inv. mean",
               lambda x, sp: ibsi.wavelet(x, "db3", "LLH", level=1, rotation_invariant=True, pooling="mean")),
    "db3_l2": ("db3 HHH level 2, rot.-inv. mean",
               lambda x, sp: ibsi.wavelet(x, "db3", "HHH", level=2, rotation_invariant=True, pooling="mean")),
    "simoncelli_l2": ("Simoncelli level 2, periodic", lambda x, sp: ibsi.simoncelli(x, 2, mode="wrap")),
}


def default_mirp_python():
    env = os.environ.get("SEP3D_MIRP_PYTHON")
    if env:
        return env
    local = HERE.parent / ".venvs" / "mirp" / "bin" / "python"
    return str(local) if local.exists() else None


def run_mirp(python, volume, spacing, repeats, names):
    """MIRP's times and response maps (``{name: seconds}``, ``{name: array}``) from its own interpreter."""
    with tempfile.TemporaryDirectory(prefix="sep3d-mirp-") as tmp:
        path = Path(tmp) / "volume.npy"
        np.save(path, volume)
        cmd = [python, str(HERE / "mirp_filters.py"), "--input", str(path), "--spacing",
               ",".join(str(s) for s in spacing), "--out", tmp, "--repeats", str(repeats), "--only", ",".join(names)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"MIRP run failed ({' '.join(cmd)}):\n{done.stderr[-3000:]}")
        report = json.loads(done.stdout)
        maps = {name: np.load(Path(tmp) / f"{name}.npy") for name in names}
    return report, maps


def table(label, volume, spacing, repeats, mirp_python, names):
    lines = [f"### {label}: {'x'.join(map(str, volume.shape[::-1]))} (x, y, z) float32, spacing "
             f"{'x'.join(f'{s:g}' for s in spacing[::-1])} mm; median of {repeats} runs", ""]
    ours = {}
    for name in names:
        _, call = CONFIGS[name]
        ours[name] = (median_time(lambda: call(volume, spacing), repeats), call(volume, spacing))
        print(f"  sep3d {name}: {ours[name][0]:.3f} s", file=sys.stderr, flush=True)
    if mirp_python is None:
        lines += ["| configuration | sep3d s |", "|---|---:|"]
        lines += [f"| {CONFIGS[n][0]} | {ours[n][0]:.3f} |" for n in names]
        return lines, None
    report, maps = run_mirp(mirp_python, volume, spacing, repeats, names)
    lines += ["| configuration | sep3d s | MIRP s | speed-up | max difference, % of range |",
              "|---|---:|---:|---:|---:|"]
    for name in names:
        t, ours_map = ours[name]
        ref = maps[name].astype(np.float64)
        error = 100.0 * float(np.abs(ours_map - ref).max() / (ref.max() - ref.min()))
        mirp_s = report["times"][name]
        lines.append(f"| {CONFIGS[name][0]} | {t:.3f} | {mirp_s:.2f} | {mirp_s / t:.0f}x | {error:.2g} |")
    return lines, report["mirp_version"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirp-python", default=default_mirp_python(),
                        help="MIRP's interpreter (default: $SEP3D_MIRP_PYTHON, else .venvs/mirp/bin/python)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing (median)")
    parser.add_argument("--only", help="comma-separated configurations (default: all): " + ", ".join(CONFIGS))
    parser.add_argument("--case", default="phantom", choices=["phantom", "lung1"],
                        help="the 48x256x256 CT-like phantom (default) or the sample case lung1")
    parser.add_argument("--quick", action="store_true", help="a 24x96x96 volume (a smoke run)")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args()
    names = list(CONFIGS) if args.only is None else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configurations {unknown}; known: {list(CONFIGS)}")
    if args.case == "lung1":
        case, _ = datasets.sample_case("lung1")
        inputs = [("lung1", sitk.GetArrayFromImage(case).astype(np.float32),
                   tuple(float(s) for s in reversed(case.GetSpacing())))]
    else:
        shape = (24, 96, 96) if args.quick else (48, 256, 256)
        image, _ = datasets.synthetic_ct(shape=shape, spacing=(1.0, 1.0, 1.0), seed=0)
        inputs = [("CT-like phantom", sitk.GetArrayFromImage(image).astype(np.float32), (1.0, 1.0, 1.0))]
    lines = [f"Machine: {machine()}", ""]
    versions = set()
    for label, volume, spacing in inputs:
        block, version = table(label, volume, spacing, args.repeats, args.mirp_python, names)
        versions.add(version)
        lines += block + [""]
    if args.mirp_python is None:
        lines.append("MIRP not run: give --mirp-python or run `make bench-ibsi` (it builds .venvs/mirp).")
    else:
        lines.append(f"MIRP {', '.join(sorted(v for v in versions if v))} ({args.mirp_python}).")
    print_report(lines, args.out)


if __name__ == "__main__":
    main()
