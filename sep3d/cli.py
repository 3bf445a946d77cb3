"""The ``sep3d`` command."""
from __future__ import annotations

import argparse
import sys

from . import __version__


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sep3d", description="3-D separable filters for CT and hyperspectral data")
    parser.add_argument("--version", action="version", version=f"sep3d {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="filter a sample CT case, write NRRD + a quicklook PNG, time against scipy")
    demo.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    demo.add_argument("--case", default="lung1", choices=["brain1", "brain2", "breast1", "lung1", "lung2"],
                      help="PyRadiomics sample case (default: lung1)")
    demo.add_argument("--synthetic", action="store_true", help="use the synthetic CT phantom instead")
    demo.add_argument("--repeats", type=int, default=3, help="timing repeats for sep3d (best of)")

    args = parser.parse_args(argv)
    if args.command == "demo":
        from . import demo as demo_module

        demo_module.run(args.out, case=args.case, synthetic=args.synthetic, repeats=args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
