"""Hyperspectral scene pipelines: open -> filter -> analyse -> write, whole or in tiles on sep3d.batch.

A spec (``pipelines/hyperspectral.yaml``, run by ``sep3d run``) has a ``scene`` section::

    name: hyperspectral
    scene:
      synthetic_cube: {shape: [120, 256, 256], seed: 0}   # or  file: path/to/scene.tif (or .hdr)
    chunks: {y: 128, x: 128}
    steps:
      - spatial_spectral: {name: denoised, spatial: {gaussian: {sigma: 45.0}},
                           spectral: {savgol: {window_length: 9, polyorder: 2}}}
      - index: {name: ndvi, input: denoised, index: ndvi}
      - pca: {name: pca, input: denoised, n_components: 8}
      - sam: {name: sam, input: denoised, library: truth}
      - region_stats: {name: regions, input: denoised, labels: truth}
    sinks: {geotiff: [denoised, ndvi, pca, sam], zarr: [denoised], quicklook: {index: ndvi}}
    tiles: {size: 128}        # optional: one sep3d.batch task per tile
    out: pipeline-output/hyperspectral

Steps run on the output named by ``input`` (default ``image``: the scene itself) in
order. Per-pixel steps (``spatial_spectral``, ``derivative``, ``continuum_removed``,
``index``, ``sam`` and the projections of ``pca``/``mnf``) are local; the statistics
(``pca``/``mnf`` fits, ``region_stats``) need the whole scene and are computed in one
streaming pass over its chunks. Sizes are in the units of the scene's coordinates
(metres, nm).

Tiled runs: the statistics are computed first over the whole scene; then each tile,
read with the halo its spatial filters need, is one :func:`sep3d.batch.run` task
(retries, manifest, resume) writing its outputs; last the tiles are mosaicked into one
GeoTIFF per output (every raster output named by a ``geotiff`` or ``zarr`` sink; the
Zarr stores and the quicklook come from whole runs). The halo makes the mosaic equal to
the whole-scene run.
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..output_folder import check_name
from ..pipeline import SpecError, check_sections, single_key

__all__ = ["ScenePipeline", "STEP_KINDS", "SINK_KINDS", "from_spec"]

#: step kind -> (what it makes, its arguments besides name/input)
STEP_KINDS = {
    "spatial_spectral": ("cube", ("spatial", "spectral", "mode", "nodata")),
    "derivative": ("cube", ("order", "window_length", "polyorder")),
    "continuum_removed": ("cube", ()),
    "index": ("map", ("index", "bands")),
    "pca": ("components", ("n_components",)),
    "mnf": ("components", ("n_components",)),
    "sam": ("angles", ("library",)),
    "region_stats": ("table", ("labels",)),
}
#: sink kinds and their options
SINK_KINDS = ("geotiff", "zarr", "quicklook")
_FIT_STEPS = ("pca", "mnf")
_SCENE_KEY = "<scene>"  # the owner of a scene run's files in its output folder's ledger


@dataclass
class SceneStep:
    kind: str
    args: dict
    name: str
    input: str = "image"


@dataclass
class ScenePipeline:
    """A hyperspectral scene through spectral steps into rasters, tables and a quicklook."""

    scene: dict
    steps: list
    sinks: dict
    out: str = "pipeline-output/hyperspectral"
    name: str = "hyperspectral"
    chunks: dict = field(default_factory=lambda: {"y": 256, "x": 256})
    tiles: dict = None
    base: Path = field(default_factory=Path.cwd)

    def __post_init__(self):
        self.validate()

    # -- validation ----------------------------------------------------------------

    def validate(self):
        if not isinstance(self.scene, dict) or len(self.scene) != 1 or \
                next(iter(self.scene)) not in ("file", "synthetic_cube"):
            raise SpecError(f"`scene` must be {{file: PATH}} or {{synthetic_cube: {{...}}}}; got {self.scene!r}")
        names = {"image"}
        for i, step in enumerate(self.steps):
            if step.kind not in STEP_KINDS:
                raise SpecError(f"steps[{i}]: unknown step {step.kind!r}; steps are {sorted(STEP_KINDS)}")
            allowed = STEP_KINDS[step.kind][1]
            unknown = [k for k in step.args if k not in allowed]
            if unknown:
                raise SpecError(f"steps[{i}] ({step.kind}): unknown argument {unknown[0]!r}; allowed: "
                                f"{sorted(allowed) + ['input', 'name']}")
            if step.input not in names:
                raise SpecError(f"steps[{i}] ({step.kind}): `input` {step.input!r} is not an earlier output; "
                                f"earlier outputs: {sorted(names)}")
            if step.input != "image" and self._kind_of(step.input) != "cube":
                raise SpecError(f"steps[{i}] ({step.kind}): `input` {step.input!r} is not a cube")
            if step.name in names:
                raise SpecError(f"steps[{i}] ({step.kind}): output name {step.name!r} is used twice")
            try:
                check_name(step.name, f"steps[{i}] ({step.kind}): output `name`")
            except ValueError as exc:
                raise SpecError(str(exc)) from None
            if step.kind == "spatial_spectral":
                from ..cube_filters import plan_spatial_spectral

                try:
                    plan_spatial_spectral((64, 16, 16), **{k: v for k, v in step.args.items()
                                                           if k in ("spatial", "spectral", "mode")})
                except (TypeError, ValueError) as exc:
                    raise SpecError(f"steps[{i}] (spatial_spectral): {exc}") from None
            names.add(step.name)
        if not isinstance(self.sinks, dict) or not self.sinks:
            raise SpecError(f"`sinks` must map sink kinds {list(SINK_KINDS)} to options; got {self.sinks!r}")
        for kind, value in self.sinks.items():
            if kind not in SINK_KINDS:
                raise SpecError(f"`sinks`: unknown sink {kind!r}; sinks are {list(SINK_KINDS)}")
            if kind in ("geotiff", "zarr"):
                for n in value or []:
                    if n not in names or n == "image":
                        raise SpecError(f"`sinks.{kind}` names {n!r}, which is not a step output "
                                        f"({sorted(names - {'image'})})")
                    if self._kind_of(n) == "table":
                        raise SpecError(f"`sinks.{kind}`: {n!r} is a table (written as CSV), not a raster")
        if self.tiles is not None:
            size = self.tiles.get("size") if isinstance(self.tiles, dict) else None
            if isinstance(size, bool) or not isinstance(size, int) or size < 8:
                raise SpecError(f"`tiles` must be {{size: N}} with an int N >= 8; got {self.tiles!r}")

    def _kind_of(self, name):
        for step in self.steps:
            if step.name == name:
                return STEP_KINDS[step.kind][0]
        return "cube" if name == "image" else None

    # -- running -------------------------------------------------------------------

    def run(self, *, out=None, client=None, scheduler=None, n_workers=None, retries=1, progress=True, force=False):
        """Run the pipeline; returns a dict with the written paths, timings and (tiled) the batch report.

        The run holds `out`'s lock and writes only its own outputs there (a file of the same
        name it did not write is refused, see :mod:`sep3d.output_folder`). Tiled reruns skip
        the tiles whose fingerprint (steps, scene file, window, version) is unchanged;
        `force` recomputes them all.
        """
        from ..output_folder import OutputFolder

        start = time.perf_counter()
        out_dir = Path(out or self.out).expanduser().absolute()
        out_dir.mkdir(parents=True, exist_ok=True)
        with OutputFolder(out_dir, what="sep3d scene") as folder:
            keep = []

            def target(name):
                """The path of an output file of this run, claimed in the folder's ledger."""
                keep.append(name)
                return folder.claim(out_dir / name, _SCENE_KEY)

            summary = self._run_in(out_dir, target, client, scheduler, n_workers, retries, progress, force)
            if "report" not in summary or not summary["report"].failed:
                folder.drop(_SCENE_KEY, keep)  # outputs of steps no longer in the spec
        summary["seconds"] = round(time.perf_counter() - start, 2)
        return summary

    def _run_in(self, out_dir, target, client, scheduler, n_workers, retries, progress, force):
        path, truth = self._scene_path(target)
        from ..io import open_raster

        cube = open_raster(path, chunks=self._chunks())
        context = {"truth": truth, "base": Path(self.base).absolute()}
        fitted, tables, seconds = self._global(cube, context)
        written = {}
        for name, table in tables.items():
            written[name] = [str(write_table(table, target(f"{name}.csv")))]
        report = None
        if self.tiles is None:
            outputs = run_steps(self.steps, cube, fitted, context, {})  # lazy: computed as it is written
            written.update(self._write(outputs, target, seconds))
            if "quicklook" in self.sinks:
                written["quicklook"] = [str(quicklook(cube, outputs, tables, truth, target("quicklook.png"),
                                                      **(self.sinks["quicklook"] or {})))]
        else:
            report, tile_written = self._run_tiles(path, cube, fitted, context, out_dir, target, client, scheduler,
                                                   n_workers, retries, progress, force)
            written.update(tile_written)
        summary = {"scene": str(path), "shape": list(cube.shape), "outputs": written, "step_seconds": seconds}
        if report is not None:
            summary["tiles"] = {"done": len(report.done), "failed": len(report.failed),
                                "skipped": len(report.skipped), "changed": len(report.changed),
                                "manifest": str(report.manifest)}
            summary["report"] = report
        return summary

    def _chunks(self):
        chunks = dict(self.chunks or {})
        chunks.setdefault("band", -1)
        return chunks

    def _scene_path(self, target):
        (kind, value), = self.scene.items()
        if kind == "file":
            path = Path(value).expanduser()
            path = path if path.is_absolute() else Path(self.base).absolute() / path
            if not path.exists():
                raise FileNotFoundError(f"`scene.file` does not exist: {path}")
            return path, None
        from ..datasets import synthetic_cube
        from ..io import write_raster

        args = dict(value or {})
        if "shape" in args:
            args["shape"] = tuple(args["shape"])
        cube, truth = synthetic_cube(**args)
        path = target("scene.tif")
        write_raster(cube, path)
        return path, truth

    def _global(self, cube, context):
        """Fits (pca/mnf) and tables (region_stats) over the whole scene, one streaming pass each."""
        fitted, tables, seconds = {}, {}, {}
        needed = [s for s in self.steps if s.kind in _FIT_STEPS or s.kind == "region_stats"]
        if not needed:
            return fitted, tables, seconds
        # the inputs of the statistics: the local steps they depend on, lazily over the whole scene
        outputs = run_steps([s for s in self.steps if s.kind not in _FIT_STEPS and s.kind != "region_stats"],
                            cube, {}, context, {}, only_cubes=True)
        from .. import spectral

        for step in needed:
            t0 = time.perf_counter()
            data = outputs[step.input]
            if step.kind == "region_stats":
                tables[step.name] = spectral.region_stats(data, _labels(step.args.get("labels"), context))
            else:
                fitted[step.name] = getattr(spectral, step.kind)(data, n_components=step.args.get("n_components"))
            seconds[step.name + " (fit)" if step.kind in _FIT_STEPS else step.name] = round(
                time.perf_counter() - t0, 3)
        return fitted, tables, seconds

    def _write(self, outputs, target, seconds):
        from ..io import write_raster

        written = {}
        for kind, suffix in (("geotiff", ".tif"), ("zarr", ".zarr")):
            for name in self.sinks.get(kind) or []:
                t0 = time.perf_counter()
                written.setdefault(name, []).append(str(write_raster(outputs[name], target(f"{name}{suffix}"))))
                seconds[f"{name} -> {kind}"] = round(time.perf_counter() - t0, 3)
        return written

    # -- tiles ---------------------------------------------------------------------

    def halo(self, cube):
        """Pixels of context a tile needs on each side: the widest spatial reach of the steps."""
        from ..cube_filters import plan_spatial_spectral
        from ..xr import coordinate_spacing

        spacing = [abs(coordinate_spacing(cube, d)) for d in ("y", "x")]
        halo = 0
        for step in self.steps:
            if step.kind == "spatial_spectral" and step.args.get("spatial") is not None:
                plan = plan_spatial_spectral((cube.sizes["band"], 64, 64), spatial=step.args["spatial"],
                                             spacing=spacing)
                halo = max(halo, *plan.radius[1:])
        return int(halo)

    def tile_windows(self, cube):
        size = int(self.tiles["size"])
        ny, nx = cube.sizes["y"], cube.sizes["x"]
        return [(y0, min(ny, y0 + size), x0, min(nx, x0 + size))
                for y0 in range(0, ny, size) for x0 in range(0, nx, size)]

    def _run_tiles(self, path, cube, fitted, context, out_dir, target, client, scheduler, n_workers, retries,
                   progress, force):
        import dataclasses
        import functools

        from .. import __version__, batch

        halo = self.halo(cube)
        ny, nx = cube.sizes["y"], cube.sizes["x"]
        items = []
        for y0, y1, x0, x1 in self.tile_windows(cube):
            items.append({"id": f"tile-y{y0:05d}-x{x0:05d}", "path": str(path), "window": [y0, y1, x0, x1],
                          "read": [max(0, y0 - halo), min(ny, y1 + halo), max(0, x0 - halo), min(nx, x1 + halo)]})
        rasters = [n for n in (self.sinks.get("geotiff") or []) + (self.sinks.get("zarr") or [])]
        rasters = list(dict.fromkeys(rasters))
        step = functools.partial(run_tile, self.steps, fitted, {"truth": context["truth"],
                                                                "base": str(context["base"])}, rasters)
        (kind, value), = self.scene.items()
        section = {"steps": [dataclasses.asdict(s) for s in self.steps], "rasters": rasters,
                   "scene": value if kind == "synthetic_cube" else batch.file_stamp(path),
                   "files": _referenced_files(self.steps, context), "sep3d": __version__}
        report = batch.run(items, step, out_dir / "tiles", client=client, scheduler=scheduler, retries=retries,
                           n_workers=n_workers, progress=progress, key=lambda it: it["id"],
                           fingerprint=functools.partial(_tile_fingerprint, section=section), force=force)
        written = {}
        if report.failed:
            return report, written
        for name in rasters:
            parts = []
            for item in items:
                record = report.done[item["id"]]
                parts.append((Path(out_dir / "tiles" / record["outputs"][name]), item["window"]))
            written[name] = [str(mosaic(parts, target(f"{name}.tif"), (ny, nx)))]
        return report, written


def _tile_fingerprint(item, section):
    return {"tile": [item["window"], item["read"]], **section}


def _referenced_files(steps, context):
    """Size and time of the files the steps name (label rasters, spectral libraries)."""
    from ..batch import file_stamp

    stamps = {}
    for step in steps:
        for value in step.args.values():
            if isinstance(value, str) and value != "truth":
                path = Path(value).expanduser()
                path = path if path.is_absolute() else Path(context["base"]) / path
                if path.exists():
                    stamps[value] = file_stamp(path)
    return stamps


def run_tile(steps, fitted, context, rasters, item, folder):
    """One tile: read it with its halo, run the local steps, crop, write one GeoTIFF per raster output."""
    from ..io import open_raster, write_raster

    y0, y1, x0, x1 = item["window"]
    r0, r1, c0, c1 = item["read"]
    cube = open_raster(item["path"], chunks=None).isel(y=slice(r0, r1), x=slice(c0, c1))
    outputs = run_steps(steps, cube, fitted, {**context, "base": Path(context["base"])}, {})
    written = {}
    for name in rasters:
        part = outputs[name].isel(y=slice(y0 - r0, y1 - r0), x=slice(x0 - c0, x1 - c0))
        written[name] = "./" + write_raster(part.compute(), Path(folder) / f"{item['id']}.{name}.tif").name
    return {"outputs": written, "window": item["window"]}


def mosaic(parts, path, shape):
    """Tiles ``[(tile.tif, (y0, y1, x0, x1))]`` into one GeoTIFF of `shape` (y, x), window by window."""
    import rasterio
    from rasterio.windows import Window

    from ..output_folder import atomic_path

    first, (fy0, _, fx0, _) = parts[0]
    with rasterio.open(first) as src:
        profile = src.profile.copy()
        tags = src.tags()
        band_tags = [src.tags(b) for b in range(1, src.count + 1)]
        descriptions = src.descriptions
        a, b, c, d, e, f = src.transform[:6]
    profile.update(height=shape[0], width=shape[1], transform=rasterio.Affine(a, b, c - a * fx0, d, e, f - e * fy0))
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.update_tags(**tags)
            for bnd, (bt, desc) in enumerate(zip(band_tags, descriptions), start=1):
                dst.update_tags(bnd, **bt)
                if desc:
                    dst.set_band_description(bnd, desc)
            for tile, (y0, y1, x0, x1) in parts:
                with rasterio.open(tile) as src:
                    dst.write(src.read(), window=Window(x0, y0, x1 - x0, y1 - y0))
    return path


# ---------------------------------------------------------------------------------------
# the steps


def run_steps(steps, cube, fitted, context, seconds, only_cubes=False):
    """Apply `steps` to `cube` (a DataArray); returns every output by name (lazy where dask)."""
    from .. import spectral

    outputs = {"image": cube}
    for step in steps:
        if only_cubes and STEP_KINDS[step.kind][0] != "cube":
            continue
        t0 = time.perf_counter()
        data = outputs[step.input]
        args = dict(step.args)
        if step.kind == "spatial_spectral":
            result = data.sep3d.spatial_spectral(**args)
        elif step.kind == "derivative":
            result = spectral.derivative(data, **args)
        elif step.kind == "continuum_removed":
            result = spectral.continuum_removed(data)
        elif step.kind == "index":
            result = spectral.index(data, args.get("index", step.name), bands=args.get("bands"))
        elif step.kind in _FIT_STEPS:
            model = fitted[step.name]
            result = model.transform(data, n_components=args.get("n_components"))
        elif step.kind == "sam":
            result = spectral.sam(data, _library(args.get("library"), context))
        else:
            continue  # region_stats: a table, computed with the statistics
        outputs[step.name] = result
        seconds[step.name] = round(time.perf_counter() - t0, 3)
    return outputs


def _truth(context, key, what):
    """The synthetic scene's truth[key] (`what` names the spec key asking for it)."""
    if context.get("truth") is None:
        raise SpecError(f"`{what}: truth` needs a synthetic_cube scene")
    return context["truth"][key]


def _spec_path(path, context, what):
    path = Path(path)
    path = path if path.is_absolute() else Path(context["base"]) / path
    if not path.exists():
        raise FileNotFoundError(f"`{what}` does not exist: {path}")
    return path


def _library(library, context):
    """Endmember spectra: 'truth' (the synthetic cube's) or a CSV (wavelength, then one column per endmember)."""
    import xarray as xr

    if library == "truth":
        return _truth(context, "endmembers", "library")
    with open(_spec_path(library, context, "library"), newline="") as fh:
        rows = list(csv.reader(fh))
    header, values = rows[0], np.array(rows[1:], dtype=np.float64)
    return xr.DataArray(values[:, 1:].T, dims=("endmember", "band"),
                        coords={"endmember": header[1:], "wavelength": ("band", values[:, 0])})


def _labels(labels, context):
    """A label raster: 'truth' (the synthetic cube's regions) or a single-band raster file."""
    if labels == "truth":
        return _truth(context, "labels", "labels")
    from ..io import open_raster

    # masked: the raster's nodata is NaN, which region_stats leaves out (never cast it to an int)
    return open_raster(_spec_path(labels, context, "labels"), chunks=None).squeeze(drop=True)


def write_table(table, path):
    """A region_stats Dataset (label, band) as CSV: label, statistic, then one column per band."""
    from ..output_folder import atomic_path

    wl = table.coords["wavelength"].values if "wavelength" in table.coords else table.coords["band"].values
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["label", "statistic"] + [f"{w:g}" for w in wl])
            for stat in table.data_vars:
                values = np.asarray(table[stat].transpose("label", ...).values)
                if values.ndim == 1:
                    values = values[:, None]
                for lab, row in zip(table.coords["label"].values, values):
                    writer.writerow([int(lab), stat] + [f"{v:.6g}" for v in np.atleast_1d(row)])
    return path


# ---------------------------------------------------------------------------------------
# quicklook


def _nearest_band(cube, nm):
    wl = cube.coords["wavelength"].values
    return int(np.argmin(np.abs(wl - nm)))


def region_names(labels, names):
    """Legend texts of region labels: label k is ``names[k - 1]`` (synthetic_cube's labels), else "region k"."""
    return [names[int(lab) - 1] if 0 < int(lab) <= len(names) else f"region {int(lab)}" for lab in labels]


def quicklook(cube, outputs, tables, truth, path, index=None, rgb=(860.0, 650.0, 560.0)):
    """A PNG: false-colour composite (NIR, red, green), an index map and mean spectra of regions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..output_folder import atomic_path

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    bands = [_nearest_band(cube, nm) for nm in rgb]
    composite = np.stack([np.asarray(cube.isel(band=b).values, dtype=np.float64) for b in bands], axis=-1)
    lo, hi = np.nanpercentile(composite, 2), np.nanpercentile(composite, 98)
    composite = np.clip((composite - lo) / max(hi - lo, 1e-12), 0, 1)
    axes[0].imshow(np.nan_to_num(composite))
    axes[0].set_title(f"false colour: {rgb[0]:g} / {rgb[1]:g} / {rgb[2]:g} nm")
    name = index or next((n for n, v in outputs.items() if v.ndim == 2), None)
    if name is not None and name in outputs:
        im = axes[1].imshow(np.asarray(outputs[name].values), cmap="RdYlGn")
        fig.colorbar(im, ax=axes[1], shrink=0.8)
        axes[1].set_title(name)
    table = next(iter(tables.values()), None)
    wl = cube.coords["wavelength"].values
    if table is not None and "mean" in table:
        names = list(truth.coords["endmember"].values) if truth is not None else []
        labels = table.coords["label"].values
        for lab, text in zip(labels, region_names(labels, names)):
            axes[2].plot(wl, table["mean"].sel(label=lab).values, label=text)
        axes[2].set_title("mean spectra of regions")
        axes[2].legend(fontsize=8)
    else:
        axes[2].plot(wl, np.nanmean(np.asarray(cube.values).reshape(cube.sizes["band"], -1), axis=1))
        axes[2].set_title("mean spectrum")
    axes[2].set_xlabel("wavelength (nm)")
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------
# spec


def from_spec(spec, base=None):
    """A :class:`ScenePipeline` from a parsed spec with a ``scene`` section."""
    check_sections(spec, ("name", "scene", "steps", "sinks", "out", "chunks", "tiles"), ("scene", "steps", "sinks"),
                    "the scene spec")
    steps, counts = [], {}
    for i, entry in enumerate(spec["steps"] or []):
        kind, args = single_key(entry, f"steps[{i}]")
        args = dict(args or {})
        counts[kind] = counts.get(kind, 0) + 1
        name = args.pop("name", kind if counts[kind] == 1 else f"{kind}-{counts[kind]}")
        steps.append(SceneStep(kind, args, name, args.pop("input", "image")))
    return ScenePipeline(spec["scene"], steps, spec["sinks"], spec.get("out", "pipeline-output/hyperspectral"),
                         spec.get("name", "hyperspectral"), spec.get("chunks") or {"y": 256, "x": 256},
                         spec.get("tiles"), Path(base) if base else Path.cwd())
