"""Pipelines: a source of items, filter steps, sinks and an output folder, run on sep3d.batch.

A pipeline is the Python object :class:`Pipeline` or the same thing as a YAML spec (see
``pipelines/*.yaml``), run by ``sep3d run SPEC.yaml`` or :meth:`Pipeline.run`::

    name: ct-filter-bank
    source: {sample_cases: [brain1, lung1]}      # or files / glob / cohort (CSV)
    steps:
      - gaussian: {sigma: 1.5}                     # sizes in mm: the scan's spacing is used
      - laplacian_of_gaussian: {sigma: 3.0, normalize: true, name: log-3mm}
      - gradient_magnitude: {sigma: 1.0, input: gaussian}   # chained on another output
    sinks:
      - nrrd: {}                                   # one volume per output, source geometry
      - zarr: {chunks: [32, 128, 128]}             # one store per case, an array per output
    out: pipeline-output/ct-filter-bank

Every item (a case: image, optional mask, id) is one task of :func:`sep3d.batch.run`, so
a pipeline gets its retries, manifest, resume and atomic results. Specs are validated
before anything runs: an unknown section, step, sink or argument is an error naming it
and the allowed ones; filter arguments are checked by building their plans.

Steps come from :data:`STEPS` (every sep3d filter) and sinks from :data:`SINKS`;
:func:`register_step` and :func:`register_sink` add more (later integrations register
radiomics features and spectral analyses that way).
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import glob as globmod
import inspect
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import batch, filters
from .output_folder import atomic_path, check_name, check_unique_names

__all__ = ["Pipeline", "Step", "Sink", "load_spec", "register_step", "register_sink", "STEPS", "SINKS",
           "SOURCES", "SpecError", "PIPELINE_KEYS", "SPEC_KINDS", "register_spec_kind"]


class SpecError(ValueError):
    """A pipeline spec that does not validate; the message names the key at fault."""


#: step name -> (function(image, ..., spacing=...), its planner or None)
STEPS = {}
#: sink name -> function(outputs, case, folder, **options) -> list of written paths
SINKS = {}
#: source kinds a spec may use
SOURCES = ("files", "glob", "cohort", "sample_cases")
#: keys every step takes besides its function's arguments
STEP_KEYS = ("name", "input", "units")


def register_step(name, function, planner=None):
    """Make ``function(image, **args)`` available as a pipeline step called `name`."""
    STEPS[name] = (function, planner)


def register_sink(name, function):
    """Make ``function(outputs, case, folder, **options)`` available as a sink."""
    SINKS[name] = function


for _func, _planner in filters.PLANNERS.items():
    register_step(_func.__name__, _func, _planner)


def _arguments(function):
    """The keyword arguments a step function takes (not the image, output or spacing)."""
    params = inspect.signature(function).parameters
    return [p for p in list(params)[1:] if p not in ("output", "spacing")]


@dataclass(frozen=True)
class Step:
    """One filter step: `kind` (a :data:`STEPS` name) with its arguments.

    ``name`` names its output (default: the kind, numbered when repeated), ``input`` the
    output it filters (default ``"image"``: the case itself), ``units`` is ``"physical"``
    (sizes in the scan's units, mm for CT; default) or ``"voxels"``.
    """

    kind: str
    args: dict = field(default_factory=dict)
    name: str = None
    input: str = "image"
    units: str = "physical"

    def check(self, where):
        try:
            check_name(self.name, f"{where}: output `name`")
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        if self.kind not in STEPS:
            raise SpecError(f"{where}: unknown step {self.kind!r}; steps are {sorted(STEPS)}")
        function, planner = STEPS[self.kind]
        allowed = _arguments(function)
        unknown = [k for k in self.args if k not in allowed]
        if unknown:
            raise SpecError(f"{where} ({self.kind}): unknown argument {unknown[0]!r}; allowed: "
                            f"{sorted(allowed + list(STEP_KEYS))}")
        if self.units not in ("physical", "voxels"):
            raise SpecError(f"{where} ({self.kind}): `units` must be 'physical' or 'voxels'; got {self.units!r}")
        if planner is not None:
            args = {k: (tuple(v) if isinstance(v, list) and k != "kernels" else v)
                    for k, v in self.args.items() if k != "backend"}
            try:
                planner(3, **args)
            except (TypeError, ValueError) as exc:
                raise SpecError(f"{where} ({self.kind}): {exc}") from None


@dataclass(frozen=True)
class Sink:
    """Where outputs go: `kind` (a :data:`SINKS` name) with its options."""

    kind: str
    options: dict = field(default_factory=dict)

    def check(self, where):
        if self.kind not in SINKS:
            raise SpecError(f"{where}: unknown sink {self.kind!r}; sinks are {sorted(SINKS)}")
        allowed = list(inspect.signature(SINKS[self.kind]).parameters)[3:]
        unknown = [k for k in self.options if k not in allowed]
        if unknown:
            raise SpecError(f"{where} ({self.kind}): unknown option {unknown[0]!r}; allowed: {sorted(allowed)}")
        if "store" in self.options:
            try:
                check_name(self.options["store"], f"{where} ({self.kind}): `store`")
            except ValueError as exc:
                raise SpecError(str(exc)) from None


@dataclass
class Pipeline:
    """A source, filter steps, sinks and an output folder.

    Parameters
    ----------
    source : dict
        One of ``{"files": [paths]}``, ``{"glob": "data/*.nrrd"}``, ``{"cohort":
        "cases.csv"}`` (PyRadiomics batch columns: Image, optional Mask and ID) or
        ``{"sample_cases": [names]}`` (PyRadiomics' sample data, downloaded once; with
        ``"fallback": "synthetic"`` a synthetic phantom when offline).
    steps : list of Step
    sinks : list of Sink
    out : str or Path
        The output folder: one subfolder per case, and the batch manifest.
    name : str
    base : Path
        Relative paths in `source` are relative to this folder (the spec's folder).
    """

    source: dict
    steps: list
    sinks: list
    out: str = "pipeline-output"
    name: str = "pipeline"
    base: Path = field(default_factory=Path.cwd)

    def __post_init__(self):
        self.steps = _named([Step(s) if isinstance(s, str) else s for s in self.steps])
        self.sinks = [Sink(s) if isinstance(s, str) else s for s in self.sinks]
        self.validate()

    def validate(self):
        """Check everything a run needs before it starts; raises SpecError."""
        if not isinstance(self.source, dict) or len(set(self.source) & set(SOURCES)) != 1:
            raise SpecError(f"`source` must have exactly one of {list(SOURCES)}; got {self.source!r}")
        extra = set(self.source) - set(SOURCES) - {"fallback"}
        if extra:
            raise SpecError(f"`source`: unknown key {sorted(extra)[0]!r}; allowed: {list(SOURCES) + ['fallback']}")
        if not self.steps:
            raise SpecError("`steps` must list at least one step")
        names = {"image"}
        for i, step in enumerate(self.steps):
            step.check(f"steps[{i}]")
            if step.input not in names:
                raise SpecError(f"steps[{i}] ({step.kind}): `input` {step.input!r} is not an earlier output; "
                                f"earlier outputs: {sorted(names)}")
            if step.name in names:
                raise SpecError(f"steps[{i}] ({step.kind}): output name {step.name!r} is used twice")
            names.add(step.name)
        if not self.sinks:
            raise SpecError("`sinks` must list at least one sink")
        for i, sink in enumerate(self.sinks):
            sink.check(f"sinks[{i}]")

    def items(self):
        """The cases: dicts with ``id``, ``image`` and ``mask`` (a path or None)."""
        return source_items(self.source, Path(self.base))

    def run(self, *, client=None, scheduler=None, retries=1, n_workers=None, progress=True, out=None, force=False):
        """Run every case through the steps and sinks on :func:`sep3d.batch.run`.

        A rerun into the same `out` skips the cases whose outputs exist and whose
        fingerprint (the steps and sinks, the input files' size and time, sep3d's version)
        is unchanged; `force` recomputes every case. Paths are made absolute here, so
        workers started in another folder read and write the same files.

        Returns the batch :class:`~sep3d.batch.Report`: ``.done`` maps each case id to
        ``{"outputs": {name: [paths]}, "shape": ..., "spacing": ..., "seconds": ...}``.
        """
        out_dir = Path(out or self.out).expanduser().absolute()
        cases = self.items()
        step = functools.partial(run_case, self.steps, self.sinks)
        section = {"steps": [dataclasses.asdict(s) for s in self.steps],
                   "sinks": [dataclasses.asdict(s) for s in self.sinks]}
        return batch.run(cases, step, out_dir, client=client, scheduler=scheduler, retries=retries,
                         n_workers=n_workers, progress=progress, key=lambda case: case["id"],
                         fingerprint=functools.partial(case_fingerprint, section=section), force=force)


def _named(steps):
    """Give every step an output name: its kind, numbered when repeated."""
    counts, out = {}, []
    for step in steps:
        counts[step.kind] = counts.get(step.kind, 0) + 1
    seen = {}
    for step in steps:
        if step.name is None:
            seen[step.kind] = seen.get(step.kind, 0) + 1
            name = step.kind if counts[step.kind] == 1 else f"{step.kind}-{seen[step.kind]}"
            step = Step(step.kind, step.args, name, step.input, step.units)
        out.append(step)
    return out


def _case_id(value, where):
    try:
        return check_name(value, "case ID")
    except ValueError as exc:
        raise SpecError(f"{where}: {exc}") from None


def read_cohort_csv(path, *, need_mask=False):
    """The cases of a cohort CSV (PyRadiomics' batch columns) as dicts ``{id, image, mask, label}``.

    Columns: ``Image``, ``Mask`` (required when `need_mask`), optional ``Label`` and
    ``ID``. Relative paths are relative to the CSV's folder and returned absolute. A
    UTF-8 byte-order mark (Excel's "CSV UTF-8") and spaces around column names are
    ignored; a ``Label`` may be written ``1`` or ``1.0``. IDs default to ``case_<n>``.

    Raises
    ------
    SpecError
        A missing column, an empty file, a bad cell (the message names the line and
        the column), an unsafe or repeated ID.
    """
    path = Path(path).absolute()
    if not path.is_file():
        raise SpecError(f"the cohort CSV does not exist: {path}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        reader.fieldnames = [(name or "").strip() for name in (reader.fieldnames or [])]
        rows = [(reader.line_num, row) for row in reader]
    columns = reader.fieldnames
    need = ["Image", "Mask"] if need_mask else ["Image"]
    missing = [c for c in need if c not in columns]
    if missing or not rows:
        raise SpecError(f"{path}: a cohort CSV needs the columns {need} (PyRadiomics' batch columns Image, "
                        f"Mask, optional Label and ID) and at least one row; got columns {columns} and "
                        f"{len(rows)} row(s)")

    def cell(row, column):
        value = row.get(column)
        return value.strip() if isinstance(value, str) else None

    def resolve(value):
        p = Path(os.path.expanduser(value))
        return str(p if p.is_absolute() else path.parent / p)

    cases = []
    for i, (line, row) in enumerate(rows):
        where = f"{path.name}, line {line}"
        image, mask = cell(row, "Image"), cell(row, "Mask")
        if not image:
            raise SpecError(f"{where}, column Image: empty (every row needs an image path)")
        if need_mask and not mask:
            raise SpecError(f"{where}, column Mask: empty (every row needs a mask path)")
        label = cell(row, "Label")
        if label:
            try:
                number = float(label)
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or number != int(number):
                raise SpecError(f"{where}, column Label: {label!r} is not an integer label value")
            label = int(number)
        else:
            label = None
        case_id = cell(row, "ID") or f"case_{i + 1}"
        cases.append({"id": _case_id(case_id, f"{where}, column ID"), "image": resolve(image),
                      "mask": resolve(mask) if mask else None, "label": label})
    try:
        check_unique_names([c["id"] for c in cases], f"{path.name}: the IDs")
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    return cases


def source_items(source, base):
    base = Path(base).absolute()  # workers may run in another folder: every path is absolute

    def resolve(p):
        p = Path(os.path.expanduser(str(p)))
        return str(p if p.is_absolute() else base / p)

    def from_path(path, mask=None, case_id=None, where="`source`"):
        name = Path(path).name
        for suffix in (".nii.gz", ".nrrd", ".nii", ".mha", ".mhd", ".npy"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        return {"id": _case_id(case_id or name, where), "image": path, "mask": mask}

    if "files" in source:
        files = source["files"]
        if isinstance(files, str) or not files:
            raise SpecError("`source.files` must be a non-empty list of paths")
        items = [from_path(resolve(f), where=f"source.files[{i}]") for i, f in enumerate(files)]
    elif "glob" in source:
        pattern = resolve(source["glob"])
        items = [from_path(p, where=f"`source.glob` match {p}") for p in sorted(globmod.glob(pattern))]
        if not items:
            raise SpecError(f"`source.glob` matches no file: {pattern}")
    elif "cohort" in source:
        items = [{"id": c["id"], "image": c["image"], "mask": c["mask"]}
                 for c in read_cohort_csv(resolve(source["cohort"]))]
    else:
        from . import datasets

        names = source["sample_cases"]
        names = list(datasets.SAMPLE_CASES) if names in ("all", None) else list(names)
        for n in names:
            if n not in datasets.SAMPLE_CASES:
                raise SpecError(f"`source.sample_cases`: unknown case {n!r}; cases are {list(datasets.SAMPLE_CASES)}")
        try:
            folder = datasets.fetch_sample_cases()
            items = [from_path(str(folder / f"{n}_image.nrrd"), str(folder / f"{n}_label.nrrd"), n)
                     for n in names]
        except datasets.SampleDataUnavailable:
            if source.get("fallback") != "synthetic":
                raise
            items = [{"id": f"synthetic-{i}", "image": f"synthetic:{i}", "mask": None} for i in range(len(names))]
    try:
        check_unique_names([it["id"] for it in items], "`source` gives the cases")
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    return items


def case_fingerprint(case, section):
    """What produced a case's outputs: `section` (the spec's steps/params), its input files, the version."""
    from . import __version__

    inputs = {k: batch.file_stamp(case.get(k)) if case.get(k) and not str(case.get(k)).startswith("synthetic:")
              else case.get(k) for k in ("image", "mask")}
    return {"section": section, "inputs": inputs, "label": case.get("label"), "sep3d": __version__}


def _read_case(case):
    from .io import ct

    image = case["image"]
    if image.startswith("synthetic:"):
        from . import datasets

        sitk_image, _ = datasets.synthetic_ct(seed=int(image.split(":")[1]))
    else:
        sitk_image = ct.read_image(image)
    volume, spacing = ct.from_sitk(sitk_image)
    return sitk_image, volume, spacing


def run_case(steps, sinks, case, folder):
    """One case through the steps and sinks, written into `folder` (a batch step)."""
    start = time.perf_counter()
    sitk_image, volume, spacing = _read_case(case)
    outputs, seconds = {"image": volume}, {}
    for step in _named(steps):
        function, _ = STEPS[step.kind]
        args = dict(step.args)
        if step.units == "physical" and "spacing" in inspect.signature(function).parameters:
            args["spacing"] = spacing
        t0 = time.perf_counter()
        outputs[step.name] = function(outputs[step.input], **args)
        seconds[step.name] = round(time.perf_counter() - t0, 4)
    del outputs["image"]
    case_dir = Path(folder) / case["id"]
    case_dir.mkdir(parents=True, exist_ok=True)
    written = {name: [] for name in outputs}
    for sink in sinks:
        for name, paths in SINKS[sink.kind](outputs, {**case, "sitk": sitk_image, "spacing": spacing},
                                            case_dir, **sink.options).items():
            written[name].extend(str(p) for p in paths)
    return {"id": case["id"], "outputs": written, "shape": list(volume.shape),
            "spacing": [float(s) for s in spacing], "filter_seconds": seconds,
            "seconds": round(time.perf_counter() - start, 3)}


def _volume_sink(suffix):
    def sink(outputs, case, folder, compress=True):
        from .io import ct

        written = {}
        for name, array in outputs.items():
            if array.ndim == volume_ndim(case):
                written[name] = [ct.write_image(np.asarray(array), folder / f"{name}{suffix}", like=case["sitk"],
                                                compress=compress)]
            else:  # stacked outputs (the Hessian's components): one file each
                written[name] = [ct.write_image(np.asarray(part), folder / f"{name}-{k}{suffix}", like=case["sitk"],
                                                compress=compress) for k, part in enumerate(array)]
        return written

    sink.__name__ = f"write_{suffix.strip('.').replace('.', '_')}"
    return sink


def volume_ndim(case):
    return case["sitk"].GetDimension()


def zarr_sink(outputs, case, folder, chunks=None, store="filters.zarr"):
    """One Zarr store per case, an array per output, spacing/origin/direction in attrs.

    Written with zarr itself (not dask: inside a batch task dask would ship the arrays
    through the scheduler), into a temporary store renamed when complete.
    """
    import zarr

    path = Path(folder) / store
    sitk_image = case["sitk"]
    written = {}
    with atomic_path(path) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        root.attrs.update({"spacing_zyx": [float(s) for s in case["spacing"]],
                           "origin_xyz": list(sitk_image.GetOrigin()),
                           "direction_xyz": list(sitk_image.GetDirection()),
                           "source": str(case["image"])})
        for name, array in outputs.items():
            array = np.asarray(array)
            chunk = array.shape if chunks is None else tuple(min(c, n) for c, n in zip(
                ((1,) * (array.ndim - len(chunks))) + tuple(chunks), array.shape))
            stored = zarr.open_array(store=str(tmp), path=name, mode="w", shape=array.shape, chunks=chunk,
                                     dtype=array.dtype)
            stored[...] = array
            written[name] = [path]
    return written


register_sink("nrrd", _volume_sink(".nrrd"))
register_sink("nifti", _volume_sink(".nii.gz"))
register_sink("mha", _volume_sink(".mha"))
register_sink("zarr", zarr_sink)


def load_spec(path, **overrides):
    """Read a YAML pipeline spec into a validated :class:`Pipeline`.

    Relative source paths are relative to the spec's folder; `out` is relative to the
    current folder. `overrides` replace top-level keys (e.g. ``out=...``).
    """
    import yaml

    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise FileNotFoundError(f"pipeline spec not found: {path}")
    try:
        with open(path, encoding="utf-8-sig") as fh:
            spec = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{path}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    if not isinstance(spec, dict):
        raise SpecError(f"{path}: a pipeline spec is a mapping with keys source, steps, sinks, out")
    spec.update({k: v for k, v in overrides.items() if v is not None})
    for key, target in SPEC_KINDS.items():
        if key in spec:  # a kind of spec another module runs (a scene, a radiomics cohort)
            return _load_target(target)(spec, base=path.parent)
    return from_dict(spec, base=path.parent)


#: The top-level keys of a pipeline spec (:func:`from_dict`).
PIPELINE_KEYS = ("name", "source", "steps", "sinks", "out")

#: Kinds of spec other modules run, by the top-level key that marks them: key ->
#: ``"module:callable"`` taking ``(spec, base=...)``. Named, not imported: the pipeline core
#: depends on none of them; the module is imported when a spec of its kind is loaded.
#: Other packages add kinds with :func:`register_spec_kind`.
SPEC_KINDS = {
    "scene": "sep3d.spectral.scene:from_spec",                   # a hyperspectral scene
    "radiomics": "sep3d.radiomics.cohort:RadiomicsPipeline.from_spec",  # features of a cohort
}


def register_spec_kind(key, target):
    """Run specs with a top-level `key` by `target`: a callable ``(spec, base=...)`` or ``"module:callable"``."""
    if not isinstance(key, str) or not key or key in PIPELINE_KEYS:
        raise ValueError(f"`key` must be a top-level spec key other than the pipeline's own; got {key!r}")
    if not (callable(target) or (isinstance(target, str) and ":" in target)):
        raise TypeError(f"`target` must be a callable or 'module:callable'; got {target!r}")
    SPEC_KINDS[key] = target


def _load_target(target):
    if callable(target):
        return target
    import importlib

    module, _, attribute = target.partition(":")
    obj = importlib.import_module(module)
    for name in attribute.split("."):
        obj = getattr(obj, name)
    return obj


def from_dict(spec, base=None):
    """A :class:`Pipeline` from a spec mapping (the parsed YAML)."""
    check_sections(spec, PIPELINE_KEYS, ("source", "steps", "sinks"), "the spec")
    steps = []
    for i, entry in enumerate(spec["steps"] or []):
        kind, args = single_key(entry, f"steps[{i}]")
        args = dict(args or {})
        extra = {k: args.pop(k) for k in STEP_KEYS if k in args}
        steps.append(Step(kind, args, **extra))
    sinks = []
    for i, entry in enumerate(spec["sinks"] or []):
        kind, options = single_key(entry, f"sinks[{i}]")
        sinks.append(Sink(kind, dict(options or {})))
    return Pipeline(spec["source"], steps, sinks, spec.get("out", "pipeline-output"),
                    spec.get("name", "pipeline"), Path(base) if base else Path.cwd())


def check_sections(spec, allowed, required, where):
    """Every key of `spec` in `allowed`, every key of `required` present (else SpecError)."""
    unknown = [k for k in spec if k not in allowed]
    if unknown:
        raise SpecError(f"unknown key {unknown[0]!r} in {where}; allowed: {list(allowed)}")
    for key in required:
        if key not in spec:
            raise SpecError(f"the spec needs a `{key}` section")


def single_key(entry, where):
    if isinstance(entry, str):
        return entry, {}
    if not isinstance(entry, dict) or len(entry) != 1:
        raise SpecError(f"{where} must be a name or a one-key mapping like {{gaussian: {{sigma: 1.5}}}}; got {entry!r}")
    (kind, args), = entry.items()
    if args is not None and not isinstance(args, dict):
        raise SpecError(f"{where} ({kind}): arguments must be a mapping; got {args!r}")
    return kind, args
