"""Hyperspectral scene pipelines (sep3d run with a `scene` section): whole and tiled on sep3d.batch.

The denoised scene is checked against scipy (ndimage Gaussian per band, then
scipy.signal.savgol_filter along the bands); the tiled run's mosaics against the whole
run's rasters (the halo makes them equal); spec errors name the key at fault.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import scipy.ndimage as ndi
import scipy.signal as ss
import yaml

from conftest import inprocess_client
from sep3d import pipeline
from sep3d.io import open_raster
from sep3d.spectral import scene as scene_module

SPEC = {
    "name": "tiny-scene",
    "scene": {"synthetic_cube": {"shape": [40, 44, 52], "seed": 3, "nodata": False}},
    "chunks": {"y": 24, "x": 24},
    "steps": [
        {"spatial_spectral": {"name": "denoised", "spatial": {"gaussian": {"sigma": 45.0}},
                              "spectral": {"savgol": {"window_length": 7, "polyorder": 2}}}},
        {"index": {"name": "ndvi", "input": "denoised", "index": "ndvi"}},
        {"pca": {"name": "pca", "input": "denoised", "n_components": 4}},
        {"sam": {"name": "sam", "input": "denoised", "library": "truth"}},
        {"region_stats": {"name": "regions", "input": "denoised", "labels": "truth"}},
    ],
    "sinks": {"geotiff": ["denoised", "ndvi", "pca", "sam"], "zarr": ["denoised"], "quicklook": {"index": "ndvi"}},
}


def write_spec(tmp_path, **changes):
    spec = {**SPEC, **changes}
    path = tmp_path / "scene.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("whole")
    spec = pipeline.load_spec(write_spec(tmp))
    return spec.run(out=tmp / "out"), tmp / "out"


def test_whole_scene_run_writes_every_output_and_denoises_like_scipy(whole_run):
    summary, out = whole_run
    for name in ("denoised", "ndvi", "pca", "sam"):
        assert (out / f"{name}.tif").exists(), name
    assert (out / "denoised.zarr").is_dir() and (out / "regions.csv").exists()
    assert (out / "quicklook.png").read_bytes()[:4] == b"\x89PNG"
    scene = open_raster(out / "scene.tif", chunks=None)
    denoised = open_raster(out / "denoised.tif", chunks=None)
    ref = ss.savgol_filter(ndi.gaussian_filter(scene.values.astype(np.float64), (0, 1.5, 1.5)), 7, 2, axis=0)
    np.testing.assert_allclose(denoised.values, ref, rtol=0, atol=1e-5 * np.abs(ref).max() + 1e-6)
    np.testing.assert_allclose(denoised.wavelength.values, scene.wavelength.values)
    assert denoised.rio.crs == scene.rio.crs and denoised.rio.transform() == scene.rio.transform()
    zarr_copy = open_raster(out / "denoised.zarr", chunks=None)
    np.testing.assert_array_equal(zarr_copy.values, denoised.values)
    pca = open_raster(out / "pca.tif", chunks=None)
    assert pca.shape == (4, 44, 52)
    rows = (out / "regions.csv").read_text().splitlines()
    assert rows[0].startswith("label,statistic,") and len(rows) > 1


def test_tiled_run_mosaics_equal_the_whole_run(whole_run, tmp_path):
    _, whole = whole_run
    spec = pipeline.load_spec(write_spec(tmp_path, tiles={"size": 16}))
    assert spec.halo(open_raster(whole / "scene.tif", chunks=None)) == 6  # sigma 1.5 px, truncate 4
    summary = spec.run(out=tmp_path / "tiled", n_workers=2, progress=False)
    assert summary["tiles"]["done"] == 3 * 4 and summary["tiles"]["failed"] == 0
    for name in ("denoised", "ndvi", "pca", "sam"):
        with rasterio.open(whole / f"{name}.tif") as a, rasterio.open(tmp_path / "tiled" / f"{name}.tif") as b:
            assert a.crs == b.crs and a.transform == b.transform and a.descriptions == b.descriptions
            assert a.tags() == b.tags()
            assert [a.tags(i) for i in range(1, a.count + 1)] == [b.tags(i) for i in range(1, b.count + 1)]
            np.testing.assert_allclose(b.read(), a.read(), rtol=1e-6, atol=1e-6, err_msg=name)
        if name == "denoised":  # the band tags say each band's wavelength: synthetic_cube's linspace
            with rasterio.open(tmp_path / "tiled" / "denoised.tif") as b:
                got = [float(b.tags(i)["wavelength"]) for i in range(1, b.count + 1)]
            np.testing.assert_allclose(got, np.linspace(400, 2500, 40), rtol=1e-6)
    again = spec.run(out=tmp_path / "tiled", n_workers=1, progress=False)  # resume: nothing left to do
    assert again["tiles"]["skipped"] == 12


def test_library_csv_and_label_raster_from_files(whole_run, tmp_path):
    """`library: file.csv` and `labels: file.tif` give what `truth` gives."""
    _, whole = whole_run
    from sep3d.datasets import synthetic_cube
    from sep3d.io import write_raster

    _, truth = synthetic_cube((40, 44, 52), seed=3, nodata=False)
    lib = truth["endmembers"]
    rows = ["wavelength," + ",".join(lib.endmember.values)]
    rows += [f"{float(w)!r}," + ",".join(repr(float(v)) for v in lib.values[:, i]) for i, w in enumerate(lib.wavelength.values)]
    (tmp_path / "lib.csv").write_text("\n".join(rows) + "\n")
    write_raster(truth["labels"], tmp_path / "labels.tif")
    steps = SPEC["steps"][:1] + [{"sam": {"name": "sam", "input": "denoised", "library": "lib.csv"}},
                                 {"region_stats": {"name": "regions", "input": "denoised", "labels": "labels.tif"}}]
    spec = pipeline.load_spec(write_spec(tmp_path, steps=steps, sinks={"geotiff": ["sam"]}))
    spec.run(out=tmp_path / "o")
    with rasterio.open(whole / "sam.tif") as a, rasterio.open(tmp_path / "o" / "sam.tif") as b:
        np.testing.assert_allclose(b.read(), a.read(), rtol=1e-6)
    assert (tmp_path / "o" / "regions.csv").read_text() == (whole / "regions.csv").read_text()
    missing = pipeline.load_spec(write_spec(tmp_path, steps=steps[:2] + [{"sam": {"name": "s2", "input": "denoised",
                                                                                  "library": "nope.csv"}}],
                                            sinks={"geotiff": ["sam"]}))
    with pytest.raises(FileNotFoundError, match="`library` does not exist"):
        missing.run(out=tmp_path / "o2")
    no_truth = pipeline.load_spec(write_spec(tmp_path, scene={"file": str(whole / "scene.tif")}))
    with pytest.raises(pipeline.SpecError, match=r"`(labels|library): truth` needs a synthetic_cube scene"):
        no_truth.run(out=tmp_path / "o3")


def test_unnamed_steps_of_one_kind_are_named_kind_then_kind_2(tmp_path):
    steps = [{"derivative": {"order": 1, "window_length": 5}}, {"derivative": {"order": 2, "window_length": 7}}]
    spec = pipeline.load_spec(write_spec(tmp_path, steps=steps, sinks={"geotiff": ["derivative", "derivative-2"]}))
    spec.run(out=tmp_path / "o")
    scene = open_raster(tmp_path / "o" / "scene.tif", chunks=None)
    x = scene.values.astype(np.float64)
    delta = float(np.diff(scene.wavelength.values).mean())  # evenly spaced bands (synthetic_cube)
    for name, (order, window) in (("derivative", (1, 5)), ("derivative-2", (2, 7))):
        # polyorder: the documented default max(2, order + 1)
        ref = ss.savgol_filter(x, window, max(2, order + 1), deriv=order, delta=delta, axis=0)
        got = open_raster(tmp_path / "o" / f"{name}.tif", chunks=None).values
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_sep3d_run_cli_with_tiles(tmp_path):
    path = write_spec(tmp_path, steps=SPEC["steps"][:2], sinks={"geotiff": ["ndvi"]})
    done = subprocess.run([sys.executable, "-m", "sep3d.cli", "run", str(path), "--out", str(tmp_path / "o"),
                           "--tiles", "32", "--workers", "1"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "ndvi" in done.stdout and (tmp_path / "o" / "ndvi.tif").exists()


@pytest.mark.parametrize("change, match", [
    (dict(scene={"url": "x"}), "`scene` must be"),
    (dict(steps=[{"median": {}}]), "unknown step 'median'"),
    (dict(steps=[{"pca": {"n_components": 2, "whiten": True}}]), "unknown argument 'whiten'"),
    (dict(steps=[{"index": {"index": "ndvi", "input": "denoised"}}]), "is not an earlier output"),
    (dict(steps=[{"index": {"index": "ndvi", "name": "a"}}, {"pca": {"input": "a"}}]), "'a' is not a cube"),
    (dict(steps=[{"spatial_spectral": {"spatial": {"gaussian": {}}}}]), r"needs \['sigma'\]"),
    (dict(sinks={"png": {}}), "unknown sink 'png'"),
    (dict(sinks={"geotiff": ["nothing"]}), "'nothing', which is not a step output"),
    (dict(sinks={"geotiff": ["regions"]}), "is a table"),
    (dict(tiles={"size": 2}), "`tiles` must be"),
    (dict(colour="red"), "unknown key 'colour'"),
])
def test_spec_errors_name_the_key(tmp_path, change, match):
    with pytest.raises(pipeline.SpecError, match=match):
        pipeline.load_spec(write_spec(tmp_path, **change))


def test_the_shipped_spec_validates():
    spec = pipeline.load_spec(Path(__file__).parents[1] / "pipelines" / "hyperspectral.yaml")
    assert isinstance(spec, scene_module.ScenePipeline)
    assert [s.kind for s in spec.steps][:2] == ["spatial_spectral", "index"]


def test_quicklook_legend_names_the_dominant_endmember_of_each_label():
    from sep3d.datasets import synthetic_cube

    _, truth = synthetic_cube((12, 10, 10), seed=0)
    names = list(truth.coords["endmember"].values)
    # synthetic_cube documents labels = 1 + index of the dominant endmember
    assert scene_module.region_names([1, 2, 3], names) == names
    assert scene_module.region_names([0, 4, 7], names) == ["region 0", "region 4", "region 7"]
    assert scene_module.region_names([2], []) == ["region 2"]


@pytest.mark.parametrize("options, expected", [({"index": "ndvi"}, {"index": "ndvi"}), (None, {})])
def test_quicklook_options_of_the_spec_reach_the_quicklook(tmp_path, monkeypatch, options, expected):
    seen = []

    def recorder(cube, outputs, tables, truth, path, **kwargs):
        seen.append(kwargs)
        path.write_bytes(b"\x89PNG")
        return path

    monkeypatch.setattr(scene_module, "quicklook", recorder)
    steps = [{"index": {"name": "ndvi", "index": "ndvi"}}, {"index": {"name": "ndwi", "index": "ndwi"}}]
    spec = pipeline.load_spec(write_spec(tmp_path, steps=steps, sinks={"geotiff": ["ndwi"], "quicklook": options}))
    spec.run(out=tmp_path / "o")
    assert seen == [expected]


def test_a_scene_spec_without_sinks_is_refused(tmp_path):
    with pytest.raises(pipeline.SpecError, match=r"^`sinks` must map sink kinds .* got \{\}$"):
        pipeline.load_spec(write_spec(tmp_path, sinks={}))


def test_the_scene_is_opened_with_every_band_in_one_chunk(tmp_path, monkeypatch):
    # rioxarray's default is one band per chunk: every spectral step would then rechunk
    from sep3d.io import raster

    seen = []
    real = raster.open_raster

    def recording(path, **kwargs):
        seen.append(kwargs.get("chunks"))
        return real(path, **kwargs)

    monkeypatch.setattr(raster, "open_raster", recording)
    monkeypatch.setattr("sep3d.io.open_raster", recording)
    spec = pipeline.load_spec(write_spec(tmp_path, steps=SPEC["steps"][:2], sinks={"geotiff": ["ndvi"]}))
    spec.run(out=tmp_path / "o")
    assert seen and seen[0] == {"y": 24, "x": 24, "band": -1}


def test_a_tiled_rerun_recomputes_every_tile_when_the_spectral_library_changes(whole_run, tmp_path):
    from sep3d.datasets import synthetic_cube

    _, truth = synthetic_cube((40, 44, 52), seed=3, nodata=False)
    lib = truth["endmembers"]
    rows = ["wavelength," + ",".join(lib.endmember.values)]
    rows += [f"{float(w)!r}," + ",".join(repr(float(v)) for v in lib.values[:, i])
             for i, w in enumerate(lib.wavelength.values)]
    (tmp_path / "lib.csv").write_text("\n".join(rows) + "\n")
    steps = SPEC["steps"][:1] + [{"sam": {"name": "sam", "input": "denoised", "library": "lib.csv"}}]
    path = write_spec(tmp_path, steps=steps, sinks={"geotiff": ["sam"]}, tiles={"size": 32})
    with inprocess_client(1) as client:
        first = pipeline.load_spec(path).run(out=tmp_path / "o", client=client, progress=False)
        assert first["tiles"]["done"] == 4
        (tmp_path / "lib.csv").write_text("\n".join(rows[:-1]) + "\n")      # one band fewer: other angles
        second = pipeline.load_spec(path).run(out=tmp_path / "o", client=client, progress=False)
    assert second["tiles"]["changed"] == 4 and second["tiles"]["skipped"] == 0
