"""Feature extraction over a cohort: a PyRadiomics batch CSV on sep3d.batch.

:func:`extract_cohort` reads a cohort CSV with PyRadiomics' batch columns (``Image``,
``Mask``, optional ``Label``, optional ``ID``; relative paths are relative to the CSV),
runs ``RadiomicsFeatureExtractor(params).execute(image, mask, label)`` for every case as
one :func:`sep3d.batch.run` task (a LocalCluster of worker processes by default, any
scheduler address when given) with sep3d's image types registered in every worker, and
writes one row per case (diagnostics + features) to CSV or Parquet.

Cases are checked before extraction and a bad one fails alone, with its reason in the
manifest and in ``<out>-failures.csv``: a missing or unreadable file, a mask with no
voxel of the label, an image/mask geometry mismatch. A rerun resumes: every done case
keeps its row (``<out stem>.cases/<ID>.json``) and is not computed again.
"""
from __future__ import annotations

import csv
import json
import math
import numbers
from pathlib import Path

import numpy as np

from ..versions import pyradiomics_build

__all__ = ["CaseError", "real_feature", "read_cohort", "read_volume", "check_case", "extract_case", "extract_cohort",
           "write_table", "RadiomicsPipeline"]


class CaseError(ValueError):
    """A case that cannot be extracted (its reason is recorded, the cohort goes on)."""


def read_cohort(path):
    """The cases of a PyRadiomics batch CSV as dicts ``{id, image, mask, label}``.

    Columns ``Image``, ``Mask``, optional ``Label`` (``1`` or ``1.0``) and ``ID``;
    relative paths are relative to the CSV and returned absolute; a UTF-8 byte-order
    mark is ignored (see :func:`sep3d.pipeline.read_cohort_csv`).

    Raises
    ------
    FileNotFoundError
        `path` does not exist.
    ValueError
        No ``Image``/``Mask`` column, no rows, a bad cell (named by line and column), an
        unsafe ID (``/``, ``..``) or two rows with the same ``ID``.
    """
    from ..pipeline import read_cohort_csv

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"`cohort` does not exist: {path}")
    return read_cohort_csv(path, need_mask=True)


def read_volume(path, what):
    """A NRRD/NIfTI/MHA file or a DICOM series folder as a SimpleITK image; CaseError if it cannot be read."""
    import SimpleITK as sitk

    from ..io import ct

    if not path:
        raise CaseError(f"missing {what}: the cohort row gives no path")
    p = Path(path)
    if not p.exists():
        raise CaseError(f"missing {what} file: {p}")
    try:
        return ct.read_dicom_series(p) if p.is_dir() else sitk.ReadImage(str(p))
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CaseError(f"unreadable {what} {p}: {first}") from None


def check_case(image, mask, label, tolerance=1e-3, correct_mask=False):
    """Raise CaseError for a geometry mismatch or a mask without voxels of `label`."""
    import SimpleITK as sitk

    if image.GetDimension() != mask.GetDimension():
        raise CaseError(f"image/mask geometry mismatch: {image.GetDimension()}-D image, "
                        f"{mask.GetDimension()}-D mask")
    if not correct_mask:
        for what, a, b in (("size", image.GetSize(), mask.GetSize()),
                           ("spacing", image.GetSpacing(), mask.GetSpacing()),
                           ("origin", image.GetOrigin(), mask.GetOrigin()),
                           ("direction", image.GetDirection(), mask.GetDirection())):
            if not np.allclose(a, b, rtol=0, atol=tolerance if what != "size" else 0):
                raise CaseError(f"image/mask geometry mismatch: {what} {tuple(a)} vs {tuple(b)} "
                                f"(set correctMask: true to resample the mask)")
    values = sitk.GetArrayViewFromImage(mask)
    if not np.any(values == label):
        found = np.unique(values)
        raise CaseError(f"empty mask: no voxel has label {label} (labels present: {found[:10].tolist()})")


def _jsonable(value):
    value = real_feature(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    return str(value)


def real_feature(value):
    """A PyRadiomics feature value with its one-element array unwrapped and a real complex made real.

    With NumPy >= 2.5, PyRadiomics returns some shape features (axis lengths, elongation,
    flatness: square roots of covariance eigenvalues) as complex128 whose imaginary part
    is zero; they are real numbers. A complex value with a non-zero imaginary part is
    returned as it is.
    """
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real) and value.imag == 0:
        value = float(value.real)
    return value


def extract_case(params, case, folder):
    """One case: register sep3d's types, read, check, extract; writes ``<id>.json`` into `folder`.

    A :func:`sep3d.batch.run` step. `params` is a params file path or a dict.
    """
    import logging
    import time

    import radiomics
    from radiomics import featureextractor

    from .registration import register

    register()
    radiomics.setVerbosity(logging.ERROR)
    start = time.perf_counter()
    extractor = (featureextractor.RadiomicsFeatureExtractor(str(params)) if not isinstance(params, dict)
                 else featureextractor.RadiomicsFeatureExtractor(dict(params)))
    settings = extractor.settings
    label = case.get("label") or settings.get("label", 1)
    image = read_volume(case["image"], "image")
    mask = read_volume(case["mask"], "mask")
    check_case(image, mask, label, settings.get("geometryTolerance") or 1e-3, settings.get("correctMask", False))
    result = extractor.execute(image, mask, label=label)
    row = {"ID": case["id"], "Image": case["image"], "Mask": case["mask"], "Label": label}
    row.update({k: _jsonable(v) for k, v in result.items()})
    row["sep3d_seconds"] = round(time.perf_counter() - start, 3)
    path = Path(folder) / f"{case['id']}.json"
    with open(path, "w") as fh:
        json.dump(row, fh)
    return [str(path)]


def write_table(rows, path):
    """Rows (dicts) to CSV or Parquet by suffix; columns in first-seen order."""
    path = Path(path)
    columns = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    from ..output_folder import atomic_path

    if path.suffix == ".parquet":
        import pandas as pd

        try:
            with atomic_path(path) as tmp:
                pd.DataFrame(rows, columns=columns).to_parquet(tmp)
        except ImportError as exc:
            raise ImportError("writing Parquet needs pyarrow (pip install pyarrow), or use a .csv `out`") from exc
        return path
    if path.suffix != ".csv":
        raise ValueError(f"`out` must end in .csv or .parquet; got {path.name!r}")
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return path


def extract_cohort(cohort, params, out, *, client=None, scheduler=None, n_workers=None, retries=0,
                   progress=True, force=False):
    """Extract features for every case of `cohort`; one row per case into `out`.

    Parameters
    ----------
    cohort : str or Path or list of dict
        A PyRadiomics batch CSV (see :func:`read_cohort`) or its cases.
    params : str or Path or dict
        A PyRadiomics params file (sep3d's image types may be used) or the same mapping.
    out : str or Path
        ``features.csv`` or ``features.parquet``. Per-case rows are kept in
        ``<out stem>.cases/`` (the batch manifest too), failures in ``<out stem>-failures.csv``.
        An existing `out` that sep3d did not write is refused before any work.
    client, scheduler, n_workers, retries, progress
        As for :func:`sep3d.batch.run` (`retries` defaults to 0 here: a bad case fails
        the same way every time).
    force : bool, optional
        Extract every case again. Otherwise a rerun extracts only the cases whose
        fingerprint changed: the params (file content), the image/mask files (size and
        time), the label, sep3d's and PyRadiomics' versions.

    Returns
    -------
    rows : list of dict
        One per extracted case, in cohort order.
    report : sep3d.batch.Report
        ``.failed`` maps each failed case id to its reason.

    Raises
    ------
    FileNotFoundError
        `cohort` or `params` file missing.
    ValueError
        Bad cohort CSV, a params file PyRadiomics rejects, a bad `out` suffix.
    sep3d.output_folder.OutputConflict
        `out` exists and was not written by sep3d.
    sep3d.output_folder.OutputFolderBusy
        Another run writes the same `out`.
    """
    import functools

    from .. import batch
    from ..output_folder import OutputFolder, check_name, check_unique_names
    from ..pipeline import case_fingerprint
    from .registration import register

    register()
    out = Path(out).expanduser().absolute()
    if out.suffix not in (".csv", ".parquet"):
        raise ValueError(f"`out` must end in .csv or .parquet; got {out.name!r}")
    if not isinstance(params, dict):
        params = Path(params).expanduser().resolve()
        if not params.exists():
            raise FileNotFoundError(f"`params` does not exist: {params}")
    _validate_params(params)
    cases = read_cohort(cohort) if not isinstance(cohort, list) else cohort
    for case in cases:
        check_name(case.get("id"), "a case `id`")
    check_unique_names([case["id"] for case in cases], "the case IDs")
    failures = out.with_name(out.stem + "-failures.csv")
    step = functools.partial(extract_case, params if isinstance(params, dict) else str(params))
    section = {"params": params if isinstance(params, dict) else _file_digest(params),
               "pyradiomics": pyradiomics_build() or "unknown"}
    with OutputFolder(out.with_name(out.stem + ".cases"), what="sep3d radiomics") as folder:
        folder.check(out, "<table>")  # a file the user owns (the cohort CSV itself...) is refused up front
        folder.check(failures, "<failures>")
        report = batch.run(cases, step, folder, client=client, scheduler=scheduler, retries=retries,
                           n_workers=n_workers, progress=progress, key=lambda case: case["id"],
                           fingerprint=functools.partial(case_fingerprint, section=section), force=force)
        rows = []
        for case in cases:
            paths = report.done.get(case["id"])
            if paths:
                with open(paths[0]) as fh:
                    rows.append(json.load(fh))
        if rows:
            write_table(rows, folder.claim(out, "<table>"))
        else:
            folder.release(out)  # no case extracted: no table from an earlier run pretends otherwise
        if report.failed:
            write_table([{"ID": k, "error": v} for k, v in report.failed.items()], folder.claim(failures, "<failures>"))
        else:
            folder.release(failures)
    return rows, report


def _file_digest(path):
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _validate_params(params):
    """Fail early (in this process) on a params file PyRadiomics rejects."""
    from radiomics import featureextractor

    try:
        featureextractor.RadiomicsFeatureExtractor(params if isinstance(params, dict) else str(params))
    except Exception as exc:  # pykwalify's SchemaError and friends
        raise ValueError(f"`params` is not a valid PyRadiomics params file ({params}): {exc}") from None


class RadiomicsPipeline:
    """A pipeline spec with a ``radiomics`` section (run by ``sep3d run``)::

        name: ct-radiomics
        source: {sample_cases: [brain1, lung1]}     # or cohort: cases.csv, files, glob
        radiomics: {params: ct-radiomics-params.yaml}
        out: pipeline-output/ct-radiomics/features.csv
    """

    def __init__(self, source, params, out, name="radiomics", base=None, compare=None):
        from ..pipeline import SpecError

        self.name, self.base = name, Path(base or Path.cwd())
        self.source = source
        params = Path(params)
        self.params = (params if params.is_absolute() else self.base / params).absolute()
        if not self.params.exists():
            raise SpecError(f"`radiomics.params` does not exist: {self.params}")
        self.out = Path(out)
        if self.out.suffix not in (".csv", ".parquet"):
            raise SpecError(f"`out` of a radiomics pipeline is a .csv or .parquet file; got {str(out)!r}")
        self.compare = compare

    @classmethod
    def from_spec(cls, spec, base=None):
        from ..pipeline import SpecError

        allowed = ("name", "source", "radiomics", "out")
        unknown = [k for k in spec if k not in allowed]
        if unknown:
            raise SpecError(f"unknown key {unknown[0]!r} in a radiomics spec; allowed: {list(allowed)}")
        section = spec["radiomics"] or {}
        if not isinstance(section, dict) or "params" not in section:
            raise SpecError("`radiomics` must be a mapping with `params` (a PyRadiomics params file)")
        extra = [k for k in section if k not in ("params", "compare")]
        if extra:
            raise SpecError(f"`radiomics`: unknown key {extra[0]!r}; allowed: ['params', 'compare']")
        return cls(spec.get("source"), section["params"], spec.get("out", "radiomics-output/features.csv"),
                   spec.get("name", "radiomics"), base, section.get("compare"))

    def items(self):
        from ..pipeline import SpecError, source_items

        if "cohort" in (self.source or {}):
            path = Path(self.source["cohort"]).expanduser()
            return read_cohort(path if path.is_absolute() else self.base.absolute() / path)
        cases = source_items(self.source, self.base)
        if any(c["image"].startswith("synthetic:") for c in cases):
            raise SpecError("a radiomics pipeline needs real cases with masks (no synthetic fallback)")
        return [{"id": c["id"], "image": c["image"], "mask": c["mask"], "label": None} for c in cases]

    def run(self, *, client=None, scheduler=None, retries=0, n_workers=None, progress=True, out=None, force=False):
        out = Path(out) if out else self.out
        if out.suffix not in (".csv", ".parquet"):
            out = out / "features.csv"
        return extract_cohort(self.items(), self.params, out, client=client, scheduler=scheduler,
                              n_workers=n_workers, retries=retries, progress=progress, force=force)


def table_head(rows, n=5, features=("original_firstorder_Mean",)):
    """A short text table of the first rows: ID and a few features (sep3d's first)."""
    if not rows:
        return "(no rows)"
    keys = [k for k in rows[0] if "_" in k and not k.startswith("diagnostics") and k not in ("sep3d_seconds",)]
    picked = [k for k in keys if k.startswith("sep3d-") and k.endswith("firstorder_Mean")][:3]
    picked += [k for k in features if k in rows[0]]
    picked = picked or keys[:4]
    n_features = len([k for k in keys if not k.startswith("diagnostics")])
    widths = [max(8, len(k)) for k in picked]
    lines = [f"{len(rows)} case(s) x {n_features} features; first rows:",
             "  " + "ID".ljust(10) + "  ".join(k.rjust(w) for k, w in zip(picked, widths))]
    for row in rows[:n]:
        cells = [f"{row[k]:.6g}" if isinstance(row.get(k), float) else str(row.get(k)) for k in picked]
        lines.append("  " + str(row["ID"]).ljust(10) + "  ".join(c.rjust(w) for c, w in zip(cells, widths)))
    return "\n".join(lines)


#: sep3d image type -> the PyRadiomics built-in it reproduces (default variant)
BUILTIN_COUNTERPART = {"Sep3dLoG": "LoG", "Sep3dWavelet": "Wavelet", "Sep3dGradient": "Gradient"}


def builtin_params(params):
    """The same params with every sep3d type that has a built-in counterpart replaced by it (others dropped)."""
    out = dict(params)
    types = {}
    for name, settings in (params.get("imageType") or {}).items():
        settings = dict(settings or {})
        if name in BUILTIN_COUNTERPART:
            if settings.pop("variant", None) not in (None, "itk", "pyradiomics"):
                continue
            settings.pop("backend", None)
            types[BUILTIN_COUNTERPART[name]] = settings
        elif not name.startswith("Sep3d"):
            types[name] = settings
    out["imageType"] = types
    return out


def compare_builtin(cases, params, case_id):
    """Time one case with the params' sep3d types and with their built-in counterparts; compare features.

    Returns a printable summary (time of each extraction, the speed-up, how many features
    were compared and the largest relative difference).
    """
    import logging
    import time

    import radiomics
    import yaml
    from radiomics import featureextractor

    from .registration import register

    register()
    radiomics.setVerbosity(logging.ERROR)
    case = next((c for c in cases if c["id"] == case_id), None)
    if case is None:
        return f"compare: no case {case_id!r} in the source"
    with open(params) as fh:
        mine = yaml.safe_load(fh)
    theirs = builtin_params(mine)
    image, mask = read_volume(case["image"], "image"), read_volume(case["mask"], "mask")
    times, results = {}, {}
    for label, p in (("built-in", theirs), ("sep3d", mine)):
        extractor = featureextractor.RadiomicsFeatureExtractor(p)
        t0 = time.perf_counter()
        results[label] = extractor.execute(image, mask, label=case.get("label") or extractor.settings.get("label", 1))
        times[label] = time.perf_counter() - t0
    worst, count = 0.0, 0
    for key, value in results["sep3d"].items():
        ref = results["built-in"].get(key[len("sep3d-"):]) if key.startswith("sep3d-") else None
        if ref is None:
            continue
        a, b = float(real_feature(value)), float(real_feature(ref))
        worst = max(worst, abs(a - b) / max(abs(b), 1e-6))
        count += 1
    types = ", ".join(BUILTIN_COUNTERPART[t] for t in (mine.get("imageType") or {}) if t in BUILTIN_COUNTERPART)
    return (f"{case_id}: RadiomicsFeatureExtractor.execute with built-in {types}: {times['built-in']:.2f} s; "
            f"with sep3d's types: {times['sep3d']:.2f} s -> {times['built-in'] / times['sep3d']:.1f}x faster; "
            f"{count} features compared, largest relative difference {worst:.2g}")
