"""The ``sep3d`` command."""
from __future__ import annotations

import argparse
import os
import sys


class _VersionAction(argparse.Action):
    """``--version``: the report of :func:`sep3d.versions.report` (computed only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .versions import report

        print(report())
        parser.exit()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sep3d", description="3-D separable filters for CT and hyperspectral data")
    parser.add_argument("--version", action=_VersionAction,
                        help="show sep3d's version, its CPU engine, PyRadiomics and CuPy builds, and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="filter a sample CT case, write NRRD + a quicklook PNG, time against scipy")
    demo.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    demo.add_argument("--case", default="lung1", choices=["brain1", "brain2", "breast1", "lung1", "lung2"],
                      help="PyRadiomics sample case (default: lung1)")
    demo.add_argument("--synthetic", action="store_true", help="use the synthetic CT phantom instead")
    demo.add_argument("--repeats", type=int, default=3, help="timing repeats for sep3d (best of)")

    run = sub.add_parser("run", help="run a pipeline spec (YAML) on sep3d.batch")
    run.add_argument("spec", help="the pipeline spec, e.g. pipelines/ct-filter-bank.yaml")
    _cluster_options(run)
    run.add_argument("--out", help="output folder (default: the spec's `out`)")
    run.add_argument("--tiles", type=int, help="scene specs: run in tiles of N x N pixels, one batch task each")
    run.add_argument("--force", action="store_true",
                     help="recompute every item (default: only those whose spec section or inputs changed)")

    bat = sub.add_parser("batch", help="run a Python step(item, out_dir) over items, one task each")
    bat.add_argument("--step", required=True, help="the step as module:function (importable on the workers)")
    bat.add_argument("items", nargs="*", help="the items (paths, ...)")
    bat.add_argument("--items-file", help="a file with one item per line")
    bat.add_argument("--out", required=True, help="output folder (results + manifest.json)")
    bat.add_argument("--force", action="store_true", help="run every item again (default: items done are skipped)")
    _cluster_options(bat)

    rad = sub.add_parser("radiomics", help="PyRadiomics features for a cohort CSV (sep3d's image types allowed)")
    rad.add_argument("cohort", help="a CSV with PyRadiomics' batch columns: Image, Mask, optional Label, ID")
    rad.add_argument("--params", required=True, help="a PyRadiomics params file (YAML/JSON)")
    rad.add_argument("--out", required=True, help="features.csv or features.parquet (one row per case)")
    rad.add_argument("--force", action="store_true",
                     help="extract every case again (default: only cases whose params or files changed)")
    _cluster_options(rad, retries=0)

    cal = sub.add_parser("calibrate", help="measure this machine's speed per method (direct/separable/fft/recursive)")
    cal.add_argument("--backend", default="cpu", choices=["cpu"], help="backend to calibrate (default: cpu)")
    cal.add_argument("--quick", action="store_true", help="small volumes, a few seconds")

    pln = sub.add_parser("plan", help="predict the time of each way to apply a kernel, and the choice")
    pln.add_argument("--shape", required=True, help="array shape, e.g. 512,512,300")
    pln.add_argument("--kernel", required=True,
                     help="gaussian:sigma=6, box:size=7, random:size=15[,rank=3][,seed=0] or a .npy file")
    pln.add_argument("--dtype", default="float32", help="array dtype (default: float32)")
    pln.add_argument("--backend", default="cpu", choices=["cpu"], help="backend (default: cpu)")
    pln.add_argument("--measure", action="store_true", help="also run each method once on random data")

    ib = sub.add_parser("ibsi2", help="IBSI 2 compliance: every Phase-1 map and Phase-2 configuration, pass/fail")
    ib.add_argument("--data", required=True,
                    help="the IBSI 2 data folder (digital_phantom/, reference_response_maps/, ct_phantom/, "
                         "reference_values.csv)")
    ib.add_argument("--phase", default="all", choices=["1", "2", "all"], help="which phase (default: all)")
    ib.add_argument("--backend", default="auto", choices=["auto", "cpu", "numpy", "cuda"],
                    help="engine of the separable filters (default: auto)")
    ib.add_argument("--only", help="comma-separated test ids (e.g. 2.a,8.a.1,5.B)")

    args = parser.parse_args(argv)
    if args.command == "ibsi2":
        return _ibsi2_command(parser, args)
    if args.command in ("calibrate", "plan"):
        return _planner_command(parser, args)
    if args.command == "demo":
        from . import demo as demo_module

        demo_module.run(args.out, case=args.case, synthetic=args.synthetic, repeats=args.repeats)
        return 0
    if args.command == "run":
        from . import pipeline

        try:
            spec = pipeline.load_spec(args.spec)
        except (pipeline.SpecError, FileNotFoundError) as exc:
            parser.exit(2, f"sep3d run: {exc}\n")
        if args.tiles is not None:
            if not hasattr(spec, "tiles"):
                parser.exit(2, "sep3d run: --tiles applies to scene specs (a `scene` section) only\n")
            spec.tiles = {"size": args.tiles}
            try:
                spec.validate()
            except pipeline.SpecError as exc:
                parser.exit(2, f"sep3d run: {exc}\n")
        try:
            report = spec.run(scheduler=args.scheduler, retries=args.retries, n_workers=args.workers,
                              out=args.out, force=args.force)
        except _run_errors() as exc:
            parser.exit(2, f"sep3d run: {exc}\n")
        if isinstance(report, dict):  # a scene spec: a summary
            return _finish_scene(report)
        if isinstance(report, tuple):  # a radiomics spec: (rows, report)
            return _finish_features(*report, spec)
        return _finish(report)
    if args.command == "radiomics":
        from .radiomics import cohort

        try:
            rows, report = cohort.extract_cohort(args.cohort, args.params, args.out, scheduler=args.scheduler,
                                                 n_workers=args.workers, retries=args.retries, force=args.force)
        except (ImportError, *_run_errors()) as exc:
            parser.exit(2, f"sep3d radiomics: {exc}\n")
        return _finish_features(rows, report)
    from . import batch

    step = _import_step(parser, args.step)
    items = list(args.items)
    if args.items_file:
        with open(args.items_file) as fh:
            items += [line.strip() for line in fh if line.strip()]
    if not items:
        parser.exit(2, "sep3d batch: no items (give paths or --items-file)\n")
    # workers may run in another folder: an item naming an existing path is sent absolute
    items = [os.path.abspath(item) if os.path.exists(item) else item for item in items]
    try:
        report = batch.run(items, step, os.path.abspath(args.out), scheduler=args.scheduler, retries=args.retries,
                           n_workers=args.workers, fingerprint=_item_fingerprint, force=args.force)
    except _run_errors() as exc:
        parser.exit(2, f"sep3d batch: {exc}\n")
    return _finish(report)


def _ibsi2_command(parser, args):
    import time

    from .radiomics import ibsi2

    only = None if args.only is None else [t.strip() for t in args.only.split(",") if t.strip()]
    try:  # run() checks the data folder and the ids before the first configuration
        counts = {}
        start = time.perf_counter()
        for result in ibsi2.run(args.data, args.phase, args.backend, only):
            print(ibsi2.format_result(result), flush=True)
            passed, total = counts.get(result.phase, (0, 0))
            counts[result.phase] = (passed + result.passed, total + 1)
    except ValueError as exc:
        parser.exit(2, f"sep3d ibsi2: {exc}\n")
    summary = ", ".join(f"Phase {phase}: {passed}/{total} passed" for phase, (passed, total) in sorted(counts.items()))
    print(f"{summary or 'nothing run'} ({time.perf_counter() - start:.1f} s, backend {args.backend})")
    return 0 if counts and all(passed == total for passed, total in counts.values()) else 1


def _item_fingerprint(item):
    """An item that names a file is done again when the file changes."""
    from . import __version__, batch

    return {"item": batch.file_stamp(item) if os.path.exists(item) else None, "sep3d": __version__}


def _run_errors():
    """What a run reports as one line: a bad spec or cohort, a missing file, a busy or conflicting output folder."""
    from .output_folder import OutputConflict, OutputFolderBusy

    return (ValueError, FileNotFoundError, NotADirectoryError, OutputFolderBusy, OutputConflict)


def _planner_command(parser, args):
    import numpy as np

    from . import calibration, planner

    if args.command == "calibrate":
        constants = calibration.calibrate(backend=args.backend, quick=args.quick)
        for method, rate in constants["work_per_s"].items():
            print(f"  {method:<10s} {rate:10.3g} work/s   overhead {constants['overhead_s'][method]:.1e} s")
        print(f"  {'memory':<10s} {constants['bytes_per_s']:10.3g} bytes/s")
        print(f"calibration written to {constants['path']}")
        return 0
    try:
        shape = tuple(int(s) for s in args.shape.split(","))
    except ValueError:
        parser.exit(2, f"sep3d plan: --shape must be ints joined by ','; got {args.shape!r}\n")
    try:
        kernel = planner.parse_kernel(args.kernel, ndim=len(shape))
        if args.measure:
            table = calibration.measure_methods(kernel, shape, np.dtype(args.dtype), args.backend)
        else:
            table = planner.plan_methods(kernel, shape, np.dtype(args.dtype), args.backend)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        parser.exit(2, f"sep3d plan: {exc}\n")
    print(table)
    return 0


def _cluster_options(parser, retries=1):
    parser.add_argument("--scheduler", help="a dask.distributed scheduler address (default: a LocalCluster "
                                            "of worker processes on this machine)")
    parser.add_argument("--workers", type=int, help="workers of the LocalCluster (default: one per core)")
    parser.add_argument("--retries", type=int, default=retries,
                        help=f"tries again per failing item (default: {retries})")


def _import_step(parser, spec):
    import importlib

    module, _, name = spec.partition(":")
    if not module or not name:
        parser.exit(2, f"sep3d batch: --step must be module:function; got {spec!r}\n")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        parser.exit(2, f"sep3d batch: cannot import --step {spec!r}: {exc}\n")


def _finish_features(rows, report, spec=None):
    from .radiomics import cohort

    print(cohort.table_head(rows))
    print(report)
    for item, error in report.failed.items():
        print(f"  failed: {item}: {error}")
    if spec is not None and getattr(spec, "compare", None):
        print(cohort.compare_builtin(spec.items(), spec.params, spec.compare))
    return 1 if report.failed else 0


def _finish_scene(summary):
    shape = "x".join(str(s) for s in summary["shape"])
    print(f"scene {summary['scene']} ({shape} band, y, x) in {summary['seconds']:.1f} s")
    for name, secs in summary["step_seconds"].items():  # fits, tables, then each output computed + written
        print(f"  {name:<32s} {secs:8.2f} s")
    for name, paths in summary["outputs"].items():
        print(f"  {name:<24s} -> {', '.join(paths)}")
    if "report" in summary:
        return _finish(summary["report"])
    return 0


def _finish(report):
    print(report)
    for item, error in report.failed.items():
        print(f"  failed: {item}: {error}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
