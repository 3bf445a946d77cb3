"""A long differential-fuzzing campaign of both API layers against scipy.ndimage.

The cases and checks of ``tests/fuzz_cases.py`` (the CI tests run a bounded number of
them), run for many more examples without stopping at the first failure: every case's
outcome is counted, and the first failures of each kind are printed.

    python benchmarks/fuzz_campaign.py [--examples N] [--layer ndimage|rich|both] [--seed S]

Prints a table: cases run, outcomes (ok, refused as scipy refuses, refused
deliberately) and failures by kind (crash, wrong value, wrong error, layout).
"""
from __future__ import annotations

import argparse
import collections
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from fuzz_cases import FuzzFailure, ndimage_cases, rich_cases, run_case  # noqa: E402


def campaign(strategy, examples, start_seed, counts, failures):
    @seed(start_seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=["generate"],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(case):
        try:
            outcome = run_case(case)
        except FuzzFailure as exc:
            counts[exc.kind] += 1
            if len(failures[exc.kind]) < 5:
                failures[exc.kind].append(str(exc)[:600])
            return
        counts[outcome] += 1

    one()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000, help="cases per layer (default 5000)")
    parser.add_argument("--layer", choices=("ndimage", "rich", "both"), default="both")
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args(argv)
    layers = ("ndimage", "rich") if args.layer == "both" else (args.layer,)
    rows = []
    all_failures = collections.defaultdict(list)
    for layer in layers:
        counts = collections.Counter()
        t0 = time.perf_counter()
        campaign(ndimage_cases() if layer == "ndimage" else rich_cases(), args.examples, args.seed, counts,
                 all_failures)
        rows.append((layer, counts, time.perf_counter() - t0))
    kinds = ("ok", "refused (as scipy)", "refused (deliberate)", "crash", "wrong value", "wrong error", "layout")
    print("| layer | cases | " + " | ".join(kinds) + " | seconds |")
    print("|---|---:|" + "---:|" * len(kinds) + "---:|")
    for layer, counts, secs in rows:
        print(f"| {layer} | {sum(counts.values())} | " + " | ".join(str(counts[k]) for k in kinds) + f" | {secs:.0f} |")
    for kind, messages in all_failures.items():
        print(f"\nfirst failures of kind {kind!r}:")
        for m in messages:
            print("  -", m)
    return 1 if all_failures else 0


if __name__ == "__main__":
    sys.exit(main())
