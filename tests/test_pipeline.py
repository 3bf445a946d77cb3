"""Pipelines: specs validated up front, cases through filters and sinks on the batch runner."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import SimpleITK as sitk
import yaml
import zarr

from conftest import assert_close, inprocess_client
from sep3d import cli, datasets, pipeline
from sep3d.io import ct

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client():
    with inprocess_client(2) as client:
        yield client


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Three small synthetic CT cases as NRRD (different spacings) and a cohort CSV."""
    folder = tmp_path_factory.mktemp("cases")
    rows = []
    for i, spacing in enumerate([(2.5, 0.8, 0.8), (1.0, 0.7, 0.9), (3.0, 1.0, 1.0)]):
        image, mask = datasets.synthetic_ct(shape=(12, 32, 28), spacing=spacing, seed=i)
        image.SetOrigin((10.0 * i, -5.0, 3.0))
        sitk.WriteImage(image, str(folder / f"case{i}.nrrd"))
        sitk.WriteImage(mask, str(folder / f"case{i}_label.nrrd"))
        rows.append({"Image": f"case{i}.nrrd", "Mask": f"case{i}_label.nrrd", "ID": f"patient-{i}"})
    rows.append({"Image": "missing.nrrd", "Mask": "", "ID": "patient-missing"})
    with open(folder / "cohort.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["Image", "Mask", "ID"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


SPEC = """
name: test-bank
source: {glob: "case?.nrrd"}
steps:
  - gaussian: {sigma: 1.5, mode: nearest}
  - laplacian_of_gaussian: {sigma: 2.0, normalize: true, name: log}
  - gradient_magnitude: {sigma: 1.0, input: gaussian}
  - hessian: {sigma: [1, 1, 1], units: voxels}
sinks:
  - nrrd: {}
  - zarr: {chunks: [4, 16, 16]}
out: OUT
"""


def scipy_spec_outputs(vol, spacing):
    """The SPEC's outputs from scipy.ndimage in float64, each on the step's declared input.

    `vol` is the case as float64, `spacing` its (z, y, x) spacing in mm. Physical units:
    sigma / spacing voxels, and a derivative along axis a divided by spacing[a] per order.
    """
    spacing = np.asarray(spacing, dtype=float)
    unit = np.eye(3, dtype=int)
    smooth = ndi.gaussian_filter(vol, 1.5 / spacing, mode="nearest")
    # scale-normalised LoG (normalize: true): sigma^2 x the sum of the physical second derivatives
    log = 2.0 ** 2 * sum(ndi.gaussian_filter(vol, 2.0 / spacing, order=2 * unit[a]) / spacing[a] ** 2
                         for a in range(3))
    # gradient_magnitude's input is the gaussian step's output, as the pipeline holds it (float32)
    g32 = smooth.astype(np.float32).astype(np.float64)
    grad = np.sqrt(sum((ndi.gaussian_filter(g32, 1.0 / spacing, order=unit[a]) / spacing[a]) ** 2
                       for a in range(3)))
    # units: voxels -> sigma 1 voxel and derivatives per voxel; components in upper-triangle order
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    hess = np.stack([ndi.gaussian_filter(vol, 1.0, order=unit[a] + unit[b]) for a, b in pairs])
    return {"gaussian": smooth, "log": log, "gradient_magnitude": grad, "hessian": hess}


def test_spec_runs_every_case_through_filters_and_sinks(cases, tmp_path, client):
    spec_path = cases / "bank.yaml"
    spec_path.write_text(SPEC.replace("OUT", str(tmp_path / "out")))
    report = pipeline.load_spec(spec_path).run(client=client, progress=False)
    assert sorted(report.done) == ["case0", "case1", "case2"] and not report.failed
    for i in range(3):
        src = sitk.ReadImage(str(cases / f"case{i}.nrrd"))
        vol, spacing = ct.from_sitk(src)
        refs = scipy_spec_outputs(vol.astype(np.float64), spacing)
        out_dir = tmp_path / "out" / f"case{i}"
        store = zarr.open_group(str(out_dir / "filters.zarr"), mode="r")
        assert store.attrs["spacing_zyx"] == list(spacing)
        nrrd = {name: [out_dir / f"{name}.nrrd"] for name in ("gaussian", "log", "gradient_magnitude")}
        nrrd["hessian"] = [out_dir / f"hessian-{k}.nrrd" for k in range(6)]  # one file per component
        for name, ref in refs.items():
            # the zarr sink: the whole output (the Hessian stacked), chunks (4, 16, 16) per volume
            assert store[name].dtype == np.float32
            assert store[name].chunks == (1,) * (ref.ndim - 3) + (4, 16, 16)
            assert_close(store[name][...], ref, np.float32)
            # the nrrd sink: every file with the source's geometry and the same values
            for path, part in zip(nrrd[name], ref.reshape((-1,) + ref.shape[-3:])):
                written = sitk.ReadImage(str(path))
                assert written.GetSpacing() == src.GetSpacing() and written.GetOrigin() == src.GetOrigin()
                assert written.GetDirection() == src.GetDirection()
                assert_close(sitk.GetArrayFromImage(written), part, np.float32)
        # the record lists exactly what the sinks wrote, and that is everything in the folder
        record = report.done[f"case{i}"]
        assert record["outputs"] == {name: [str(p) for p in paths] + [str(out_dir / "filters.zarr")]
                                     for name, paths in nrrd.items()}
        listed = {Path(p).name for paths in record["outputs"].values() for p in paths}
        assert listed == {p.name for p in out_dir.iterdir()}


def test_cohort_source_records_a_missing_case_and_finishes_the_rest(cases, tmp_path, client):
    bank = pipeline.Pipeline({"cohort": "cohort.csv"}, [pipeline.Step("gaussian", {"sigma": 1.0})], ["nrrd"],
                             out=tmp_path / "out", base=cases)
    report = bank.run(client=client, progress=False)
    assert sorted(report.done) == ["patient-0", "patient-1", "patient-2"]
    assert list(report.failed) == ["patient-missing"]
    assert "FileNotFoundError" in report.failed["patient-missing"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "missing.nrrd" in manifest["failed"]["patient-missing"]["error"]
    assert manifest["failed"]["patient-missing"]["attempts"] == 2      # Pipeline.run's default: one retry


@pytest.mark.parametrize("spec,match", [
    ({"steps": [{"gausian": {"sigma": 1}}]}, r"steps\[0\]: unknown step 'gausian'; steps are \["),
    ({"steps": [{"gaussian": {"sigma": 1, "sigmas": 2}}]}, r"unknown argument 'sigmas'; allowed: \[.*'sigma'"),
    ({"steps": [{"gaussian": {"sigma": -1}}]}, r"steps\[0\] \(gaussian\): `sigma` must be"),
    ({"steps": [{"gaussian": {"sigma": 1, "input": "log"}}]}, r"`input` 'log' is not an earlier output"),
    ({"steps": [{"gaussian": {"sigma": 1, "units": "mm"}}]}, r"`units` must be 'physical' or 'voxels'"),
    ({"sinks": [{"zarr": {"chunk": [1, 2, 3]}}]}, r"sinks\[0\] \(zarr\): unknown option 'chunk'; allowed"),
    ({"sinks": [{"tiff": {}}]}, r"unknown sink 'tiff'"),
    ({"source": {"glob": "*.nrrd", "files": ["a"]}}, r"`source` must have exactly one of"),
    ({"outdir": "x"}, r"unknown key 'outdir' in the spec; allowed"),
    ({"steps": []}, r"`steps` must list at least one step"),
    ({"steps": [["gaussian"]]}, r"steps\[0\] must be a name or a one-key mapping"),
])
def test_specs_are_validated_up_front(spec, match):
    full = {"source": {"glob": "*.nrrd"}, "steps": [{"gaussian": {"sigma": 1}}], "sinks": ["nrrd"]}
    full.update(spec)
    with pytest.raises(pipeline.SpecError, match=match):
        pipeline.from_dict(full)


def test_shipped_specs_validate():
    bank = pipeline.load_spec(REPO / "pipelines" / "ct-filter-bank.yaml")
    assert [s.name for s in bank.steps] == ["gaussian", "log-3mm", "gradient_magnitude"]
    assert [s.kind for s in bank.sinks] == ["nrrd", "zarr"]


def test_cli_run_and_batch_on_a_scheduler_address(cases, tmp_path, client, capsys):
    spec_path = tmp_path / "bank.yaml"
    spec_path.write_text(SPEC.replace("OUT", "unused").replace('"case?.nrrd"', f'"{cases}/case?.nrrd"'))
    code = cli.main(["run", str(spec_path), "--scheduler", client.scheduler.address, "--out", str(tmp_path / "o")])
    assert code == 0 and (tmp_path / "o" / "case2" / "log.nrrd").exists()
    assert "3 done (0 from earlier runs), 0 failed" in capsys.readouterr().out
    np.save(tmp_path / "vol.npy", np.ones((6, 6, 6), np.float32))
    code = cli.main(["batch", "--step", "batch_steps:smooth_case", str(tmp_path / "vol.npy"),
                     str(tmp_path / "raise-2.npy"), "--out", str(tmp_path / "b"),
                     "--scheduler", client.scheduler.address, "--retries", "0"])
    out = capsys.readouterr().out
    assert code == 1 and "1 done" in out and "failed: " in out and "raise-2.npy" in out
    assert np.allclose(np.load(tmp_path / "b" / "vol-smooth.npy"), 1.0)
    with pytest.raises(SystemExit):
        cli.main(["batch", "--step", "no_such_module:f", "x", "--out", str(tmp_path / "c")])
    assert "cannot import --step" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", str(tmp_path / "nope.yaml")])
    assert "pipeline spec not found" in capsys.readouterr().err


def test_load_spec_overrides_replace_top_level_keys(cases, tmp_path, client):
    spec_path = cases / "override.yaml"
    spec_path.write_text(yaml.safe_dump({"source": {"files": [str(cases / "case0.nrrd")]},
                                         "steps": [{"gaussian": {"sigma": 1.0}}], "sinks": ["nrrd"],
                                         "out": str(tmp_path / "not-here")}))
    spec = pipeline.load_spec(spec_path, out=str(tmp_path / "here"), name=None)   # None: keep the spec's
    spec.run(client=client, progress=False)
    assert (tmp_path / "here" / "case0" / "gaussian.nrrd").exists() and not (tmp_path / "not-here").exists()


def test_step_arguments_must_be_a_mapping():
    with pytest.raises(pipeline.SpecError, match=r"^steps\[0\] \(gaussian\): arguments must be a mapping; got \[1\.5\]$"):
        pipeline.from_dict({"source": {"files": ["a.nrrd"]}, "steps": [{"gaussian": [1.5]}], "sinks": ["nrrd"]})


def test_a_cohort_csv_needs_a_mask_column_only_when_asked(tmp_path):
    (tmp_path / "c.nrrd").write_text("")
    (tmp_path / "cohort.csv").write_text("ID,Image\nc,c.nrrd\n")
    rows = pipeline.read_cohort_csv(tmp_path / "cohort.csv")
    assert [r["image"] for r in rows] == [str(tmp_path / "c.nrrd")]
    with pytest.raises(pipeline.SpecError, match=r"needs the columns \['Image', 'Mask'\]"):
        pipeline.read_cohort_csv(tmp_path / "cohort.csv", need_mask=True)


def test_source_files_must_be_a_list():
    with pytest.raises(pipeline.SpecError, match=r"`source.files` must"):
        pipeline.from_dict({"source": {"files": "a.nrrd"}, "steps": [{"gaussian": {"sigma": 1.0}}], "sinks": ["nrrd"]}).items()


def test_the_nifti_sink_writes_the_filtered_volume_with_its_geometry(cases, tmp_path, client):
    bank = pipeline.Pipeline({"files": [str(cases / "case0.nrrd")]}, [pipeline.Step("gaussian", {"sigma": 1.5})],
                             [pipeline.Sink("nifti", {})], out=tmp_path / "out")
    bank.run(client=client, progress=False)
    source = sitk.ReadImage(str(cases / "case0.nrrd"))
    written = sitk.ReadImage(str(tmp_path / "out" / "case0" / "gaussian.nii.gz"))
    spacing = np.array(source.GetSpacing()[::-1])
    ref = ndi.gaussian_filter(sitk.GetArrayFromImage(source).astype(np.float64), 1.5 / spacing)
    assert_close(sitk.GetArrayFromImage(written), ref, np.float32)
    np.testing.assert_allclose(written.GetSpacing(), source.GetSpacing(), rtol=1e-6)   # NIfTI: float32 geometry
    np.testing.assert_allclose(written.GetOrigin(), source.GetOrigin(), atol=1e-4)


def test_a_spec_kind_registered_by_name_or_callable_runs_its_specs(tmp_path):
    """The pipeline core dispatches on a top-level key without importing the module that runs it."""
    from sep3d import pipeline

    seen = []
    spec = tmp_path / "custom.yaml"
    spec.write_text("custom: {size: 3}\nout: x\n")
    try:
        pipeline.register_spec_kind("custom", lambda spec, base=None: seen.append((spec, base)) or "ran")
        assert pipeline.load_spec(spec) == "ran"
        assert seen == [({"custom": {"size": 3}, "out": "x"}, tmp_path)]
        pipeline.register_spec_kind("custom", "math:sqrt")  # "module:callable", imported on use: it is called
        with pytest.raises(TypeError, match="keyword argument"):
            pipeline.load_spec(spec)
    finally:
        pipeline.SPEC_KINDS.pop("custom", None)
    assert "custom" not in pipeline.SPEC_KINDS
    assert set(pipeline.SPEC_KINDS) == {"scene", "radiomics"}
    with pytest.raises(ValueError, match="`key` must be a top-level spec key other than the pipeline's own"):
        pipeline.register_spec_kind("steps", lambda spec, base=None: None)
    with pytest.raises(TypeError, match="`target` must be a callable or 'module:callable'"):
        pipeline.register_spec_kind("other", "no-colon")
