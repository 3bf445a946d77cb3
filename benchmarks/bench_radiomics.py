"""PyRadiomics end to end: built-in LoG / Wavelet vs sep3d's image types, and a cohort on 1 vs 2 workers.

For lung1 (512x512x48), in the same run: ``RadiomicsFeatureExtractor.execute`` (all
feature classes, default settings) with the built-in LoG (sigma 1..5 mm) and Wavelet,
and with Sep3dLoG / Sep3dWavelet; the filtering alone (the image-type generator drained);
the largest relative feature difference. Then feature parity of Sep3dLoG / Sep3dWavelet
/ Sep3dGradient on all five sample cases, and the five-case cohort through
``sep3d.radiomics.extract_cohort`` on 1 and 2 workers. Times are medians of `--repeats`
runs after one warm-up. Prints a Markdown table and writes benchmarks/results/radiomics.md.
"""
from __future__ import annotations

import argparse
import csv
import logging
import sys
import tempfile
import time
from pathlib import Path

import radiomics
from radiomics import featureextractor, imageoperations

import sep3d.radiomics as sr
from sep3d import datasets

sys.path.insert(0, str(Path(__file__).parent))
from timing import machine, median_time  # noqa: E402  (benchmarks/timing.py)

radiomics.setVerbosity(logging.ERROR)
sr.register()

SIGMAS = [1.0, 2.0, 3.0, 4.0, 5.0]
PAIRS = (("LoG", "Sep3dLoG", {"sigma": SIGMAS}), ("Wavelet", "Sep3dWavelet", {}))


def extractor(name, settings):
    ex = featureextractor.RadiomicsFeatureExtractor()
    ex.disableAllImageTypes()
    ex.enableImageTypes(**{name: dict(settings)})
    return ex


def worst_difference(mine, ref):
    worst, n = 0.0, 0
    for key, value in mine.items():
        if key.startswith("sep3d-"):
            b = float(ref[key[len("sep3d-"):]])
            worst = max(worst, abs(float(value) - b) / max(abs(b), 1e-6))
            n += 1
    return worst, n


def lung1_rows(repeats):
    image, mask = datasets.sample_case("lung1")
    rows = []
    for builtin, mine, settings in PAIRS:
        times, filt, results = {}, {}, {}
        for name in (builtin, mine):
            ex = extractor(name, settings)
            times[name] = median_time(lambda: results.__setitem__(name, ex.execute(image, mask)), repeats)
            gen = getattr(imageoperations, f"get{name}Image")
            filt[name] = median_time(lambda: [None for _ in gen(image, mask, **settings)], repeats)
        worst, n = worst_difference(results[mine], results[builtin])
        rows.append((builtin, times[builtin], times[mine], filt[builtin], filt[mine], worst, n))
    return rows


def parity_rows():
    rows = []
    params = {"imageType": {"LoG": {"sigma": SIGMAS}, "Sep3dLoG": {"sigma": SIGMAS}, "Wavelet": {},
                            "Sep3dWavelet": {}, "Gradient": {}, "Sep3dGradient": {}}}
    for case in datasets.SAMPLE_CASES:
        image, mask = datasets.sample_case(case)
        result = featureextractor.RadiomicsFeatureExtractor(params).execute(image, mask)
        worst = {}
        for key, value in result.items():
            if key.startswith("sep3d-"):
                kind = key.split("-")[1].split("_")[0]
                kind = "wavelet" if kind.startswith("wavelet") else kind
                b = float(result[key[len("sep3d-"):]])
                worst[kind] = max(worst.get(kind, 0.0), abs(float(value) - b) / max(abs(b), 1e-6))
        rows.append((case, worst["log"], worst["wavelet"], worst["gradient"]))
    return rows


def cohort_rows(params):
    folder = datasets.fetch_sample_cases()
    out = []
    with tempfile.TemporaryDirectory(prefix="sep3d-bench-cohort-") as tmp:
        tmp = Path(tmp)
        cohort = tmp / "cohort.csv"
        with open(cohort, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["ID", "Image", "Mask"])
            for case in datasets.SAMPLE_CASES:
                w.writerow([case, folder / f"{case}_image.nrrd", folder / f"{case}_label.nrrd"])
        for workers in (1, 2):
            start = time.perf_counter()
            rows, report = sr.extract_cohort(cohort, params, tmp / f"w{workers}" / "features.csv", n_workers=workers,
                                             progress=False)
            out.append((workers, time.perf_counter() - start, len(rows), len(report.failed)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing (median)")
    parser.add_argument("--params", default=str(Path(__file__).parents[1] / "pipelines" / "ct-radiomics-params.yaml"),
                        help="params file for the cohort run")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "radiomics.md"))
    args = parser.parse_args()
    lines = [f"Machine: {machine()}; PyRadiomics {radiomics.__version__}", "",
             f"lung1 (512x512x48), RadiomicsFeatureExtractor.execute, all feature classes; median of {args.repeats}",
             "",
             "| image type | built-in execute (s) | sep3d execute (s) | speed-up | built-in filtering (s) | "
             "sep3d filtering (s) | filtering speed-up | features compared | max rel. difference |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, tb, tm, fb, fm, worst, n in lung1_rows(args.repeats):
        label = f"{name} sigma 1..5 mm" if name == "LoG" else f"{name} (coif1, level 1)"
        lines.append(f"| {label} | {tb:.2f} | {tm:.2f} | {tb / tm:.2f}x | {fb:.2f} | {fm:.2f} | {fb / fm:.2f}x | "
                     f"{n} | {worst:.2g} |")
    lines += ["", "Feature parity on every sample case (largest relative difference over all features; "
              "LoG sigma 1..5, Wavelet, Gradient):", "",
              "| case | Sep3dLoG vs LoG | Sep3dWavelet vs Wavelet | Sep3dGradient vs Gradient |", "|---|---|---|---|"]
    for case, log, wav, grad in parity_rows():
        lines.append(f"| {case} | {log:.2g} | {wav:.2g} | {grad:.2g} |")
    cohort = cohort_rows(args.params)
    lines += ["", f"Cohort: 5 sample cases through `sep3d radiomics` ({Path(args.params).name}), LocalCluster "
              "start included:", "", "| workers | seconds | cases done | failed | throughput vs 1 worker |",
              "|---|---|---|---|---|"]
    for workers, seconds, done, failed in cohort:
        lines.append(f"| {workers} | {seconds:.1f} | {done} | {failed} | {cohort[0][1] / seconds:.2f}x |")
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
