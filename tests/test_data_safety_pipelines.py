"""Pipelines and batches never delete, overwrite or silently keep stale user data.

Each test reproduces one way a run lost data before (issue 17): an output folder that
holds the cohort, case IDs and output names that leave their folder, reruns that kept
results of an older spec, two runs into one folder, workers in another directory, cohort
CSVs from Excel, malformed specs. Filtered values are checked against scipy.ndimage on
the input as SimpleITK reads it.
"""
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import distributed
import numpy as np
import pytest
import scipy.ndimage as ndi
import SimpleITK as sitk
import yaml

from batch_steps import same_name_step
from conftest import assert_close, inprocess_client
from sep3d import batch, cli, datasets, pipeline
from sep3d.output_folder import OutputConflict, OutputFolder, OutputFolderBusy
from sep3d.pipeline import SpecError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def client():
    with inprocess_client(2) as client:
        yield client


@pytest.fixture(scope="module")
def serial_client():
    """One worker thread: PyRadiomics' params parser (ruamel via pykwalify) is not thread-safe."""
    with inprocess_client(1) as client:
        yield client


def make_dataset(root, ids=("P001", "P002"), shape=(8, 18, 16)):
    """A cohort laid out as users keep it: one folder per case with image, mask and notes, a CSV at the top."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, case_id in enumerate(ids):
        folder = root / case_id
        folder.mkdir(exist_ok=True)
        image, mask = datasets.synthetic_ct(shape=shape, spacing=(2.0, 0.8, 0.8), seed=i)
        sitk.WriteImage(image, str(folder / "image.nrrd"))
        sitk.WriteImage(mask, str(folder / "mask.nrrd"))
        (folder / "notes.txt").write_text(f"clinical notes of {case_id}\n")
        rows.append({"ID": case_id, "Image": f"{case_id}/image.nrrd", "Mask": f"{case_id}/mask.nrrd"})
    with open(root / "cohort.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["ID", "Image", "Mask"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def snapshot(root):
    """Every file under `root` (sep3d's own files aside) -> its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".sep3d" not in p.parts and p.name != batch.MANIFEST}


def gaussian_reference(image_path, sigma):
    image = sitk.ReadImage(str(image_path))
    spacing = tuple(reversed(image.GetSpacing()))
    volume = sitk.GetArrayFromImage(image).astype(np.float64)
    return ndi.gaussian_filter(volume, [sigma / s for s in spacing], mode="reflect")


def spec_for(root, out, steps=None, sinks=None):
    return pipeline.from_dict({"source": {"cohort": str(root / "cohort.csv")},
                               "steps": steps or [{"gaussian": {"sigma": 1.5}}],
                               "sinks": sinks or [{"nrrd": {}}], "out": str(out)}, base=root)


# --------------------------------------------------------------------------- never delete

def test_a_run_into_the_cohort_folder_keeps_every_input_file(tmp_path, client):
    root = make_dataset(tmp_path / "dataset")
    before = snapshot(root)
    report = spec_for(root, root, sinks=[{"nrrd": {}}, {"zarr": {}}]).run(client=client, progress=False)
    assert not report.failed and len(report.done) == 2
    after = snapshot(root)
    for rel, data in before.items():  # image, mask, notes and the CSV: all there, byte for byte
        assert after[rel] == data, rel
    for case_id in ("P001", "P002"):
        result = sitk.GetArrayFromImage(sitk.ReadImage(str(root / case_id / "gaussian.nrrd")))
        assert_close(result, gaussian_reference(root / case_id / "image.nrrd", 1.5), np.float32)
        assert (root / case_id / "filters.zarr").is_dir()
    # a rerun with another sigma replaces sep3d's outputs and still touches no input
    spec_for(root, root, steps=[{"gaussian": {"sigma": 2.5}}]).run(client=client, progress=False)
    after = snapshot(root)
    assert all(after[rel] == data for rel, data in before.items())
    result = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "P001" / "gaussian.nrrd")))
    assert_close(result, gaussian_reference(root / "P001" / "image.nrrd", 2.5), np.float32)
    assert not (root / "P001" / "filters.zarr").exists()  # the sink left the spec: its output goes


def test_a_file_the_run_did_not_write_is_never_replaced(tmp_path, client):
    root = make_dataset(tmp_path / "dataset", ids=("P001",))
    users = root / "P001" / "gaussian.nrrd"
    users.write_bytes(b"the user's own gaussian.nrrd, made by another tool")
    report = spec_for(root, root).run(client=client, progress=False)
    assert list(report.failed) == ["P001"]
    assert "OutputConflict" in report.failed["P001"] and "gaussian.nrrd" in report.failed["P001"]
    assert users.read_bytes() == b"the user's own gaussian.nrrd, made by another tool"
    users.unlink()  # once the user moves it away, the case runs
    report = spec_for(root, root).run(client=client, progress=False)
    assert list(report.done) == ["P001"] and not report.failed


def test_two_items_publishing_one_file_do_not_overwrite_each_other(tmp_path, client):
    report = batch.run(["first", "second"], same_name_step, tmp_path / "out", client=client, progress=False)
    assert len(report.done) == 1 and len(report.failed) == 1
    (loser, error), = report.failed.items()
    winner, = report.done
    assert "written by item" in error and (tmp_path / "out" / "result.txt").read_text() == winner


# --------------------------------------------------------------------------- names

@pytest.mark.parametrize("bad_id", ["a/b", "../escape", "..", ".hidden", "x\\y"])
def test_case_ids_that_leave_their_folder_are_refused_before_anything_runs(tmp_path, bad_id):
    root = make_dataset(tmp_path / "dataset", ids=("P001",))
    with open(root / "cohort.csv", "a", newline="") as fh:
        csv.writer(fh).writerow([bad_id, "P001/image.nrrd", "P001/mask.nrrd"])
    out = tmp_path / "out"
    with pytest.raises(SpecError, match=r"cohort.csv, line 3, column ID: case ID .* is not a safe file name"):
        spec_for(root, out).run(progress=False)
    assert not out.exists()


def test_case_ids_equal_but_for_case_are_refused(tmp_path):
    root = make_dataset(tmp_path / "dataset", ids=("P001",))
    with open(root / "cohort.csv", "a", newline="") as fh:
        csv.writer(fh).writerow(["p001", "P001/image.nrrd", "P001/mask.nrrd"])
    with pytest.raises(SpecError, match="'P001' and 'p001' name the same file"):
        spec_for(root, tmp_path / "out").items()


@pytest.mark.parametrize("where", ["step", "store"])
def test_output_names_that_leave_the_folder_are_refused(tmp_path, where):
    steps = [{"gaussian": {"sigma": 1.0, "name": "../../escape"}}] if where == "step" else None
    sinks = [{"zarr": {"store": "../x.zarr"}}] if where == "store" else None
    with pytest.raises(SpecError, match="is not a safe file name"):
        spec_for(make_dataset(tmp_path / "d", ids=("P001",)), tmp_path / "out", steps, sinks)


# --------------------------------------------------------------------------- reruns

def test_reruns_recompute_exactly_the_cases_whose_spec_or_inputs_changed(tmp_path, client):
    root = make_dataset(tmp_path / "dataset")
    out = tmp_path / "out"
    first = spec_for(root, out).run(client=client, progress=False)
    assert sorted(first.done) == ["P001", "P002"] and not first.changed
    same = spec_for(root, out).run(client=client, progress=False)
    assert sorted(same.skipped) == ["P001", "P002"]
    changed = spec_for(root, out, steps=[{"gaussian": {"sigma": 3.0}}]).run(client=client, progress=False)
    assert sorted(changed.changed) == ["P001", "P002"] and not changed.skipped
    result = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "P002" / "gaussian.nrrd")))
    assert_close(result, gaussian_reference(root / "P002" / "image.nrrd", 3.0), np.float32)
    added = spec_for(root, out, steps=[{"gaussian": {"sigma": 3.0}}, {"box": {"size": 3, "units": "voxels"}}])
    report = added.run(client=client, progress=False)
    assert sorted(report.changed) == ["P001", "P002"] and (out / "P001" / "box.nrrd").exists()
    # one input rewritten: only its case is computed again
    image = sitk.ReadImage(str(root / "P001" / "image.nrrd"))
    sitk.WriteImage(image * 2, str(root / "P001" / "image.nrrd"))
    report = added.run(client=client, progress=False)
    assert report.changed == ["P001"] and report.skipped == ["P002"]
    result = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "P001" / "gaussian.nrrd")))
    assert_close(result, gaussian_reference(root / "P001" / "image.nrrd", 3.0), np.float32)
    forced = added.run(client=client, progress=False, force=True)
    assert sorted(forced.changed) == ["P001", "P002"]
    assert "2 recomputed (changed since the last run)" in str(forced)


def test_an_output_folder_of_an_older_sep3d_is_adopted_and_recomputed(tmp_path, client):
    """A version-1 manifest (no ledger, no fingerprints): its outputs are sep3d's, so they are replaced."""
    root = make_dataset(tmp_path / "dataset", ids=("P001",))
    out = tmp_path / "out"
    (out / "P001").mkdir(parents=True)
    (out / "P001" / "gaussian.nrrd").write_bytes(b"written by sep3d 0.0.9")
    (out / batch.MANIFEST).write_text(json.dumps({"version": 1, "failed": {}, "done": {"P001": {
        "item": "P001", "output": {"id": "P001", "outputs": {"gaussian": ["./P001/gaussian.nrrd"]}}}}}))
    report = spec_for(root, out).run(client=client, progress=False)
    assert report.changed == ["P001"] and not report.failed
    result = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "P001" / "gaussian.nrrd")))
    assert_close(result, gaussian_reference(root / "P001" / "image.nrrd", 1.5), np.float32)
    manifest = json.loads((out / batch.MANIFEST).read_text())
    assert manifest["version"] == 2 and manifest["owned"] == {"P001/gaussian.nrrd": "P001"}


def test_cli_says_which_items_are_recomputed(tmp_path, client, capsys):
    root = make_dataset(tmp_path / "dataset", ids=("P001",))
    spec = tmp_path / "bank.yaml"
    for sigma in (1.0, 2.0):
        spec.write_text(yaml.safe_dump({"source": {"cohort": str(root / "cohort.csv")},
                                        "steps": [{"gaussian": {"sigma": sigma}}], "sinks": [{"nrrd": {}}],
                                        "out": str(tmp_path / "out")}))
        assert cli.main(["run", str(spec), "--scheduler", client.scheduler.address]) == 0
    captured = capsys.readouterr()
    assert "1 item(s) done by an earlier run are computed again (their spec, inputs or sep3d version changed)" \
        in captured.err
    assert "1 done (0 from earlier runs, 1 recomputed (changed since the last run))" in captured.out


def test_tiled_scene_reruns_recompute_tiles_after_a_spec_change(tmp_path, client):
    spec = {"scene": {"synthetic_cube": {"shape": [12, 32, 32], "seed": 1, "nodata": False}},
            "chunks": {"y": 16, "x": 16}, "tiles": {"size": 16}, "sinks": {"geotiff": ["denoised"]},
            "steps": [{"spatial_spectral": {"name": "denoised", "spatial": {"gaussian": {"sigma": 30.0}}}}]}
    out = tmp_path / "out"
    path = tmp_path / "scene.yaml"
    path.write_text(yaml.safe_dump(spec))
    first = pipeline.load_spec(path).run(out=out, client=client, progress=False)
    assert first["tiles"]["done"] == 4 and first["tiles"]["changed"] == 0
    spec["steps"][0]["spatial_spectral"]["spatial"]["gaussian"]["sigma"] = 60.0
    path.write_text(yaml.safe_dump(spec))
    second = pipeline.load_spec(path).run(out=out, client=client, progress=False)
    assert second["tiles"]["changed"] == 4 and second["tiles"]["skipped"] == 0
    import rasterio

    cube = rasterio.open(out / "scene.tif").read().astype(np.float64)
    with rasterio.open(out / "denoised.tif") as src:
        res = abs(src.transform.a)
        denoised = src.read()
    ref = np.stack([ndi.gaussian_filter(band, 60.0 / res, mode="reflect") for band in cube])
    assert np.allclose(denoised, ref, rtol=0, atol=1e-5 * np.abs(cube).max())


# --------------------------------------------------------------------------- one writer

def test_a_second_run_into_a_held_folder_is_refused(tmp_path):
    root = make_dataset(tmp_path / "dataset", ids=("P001",))
    out = tmp_path / "out"
    with OutputFolder(out, what="another sep3d run"):
        with pytest.raises(OutputFolderBusy, match=rf"in use by another sep3d run on host .*, pid {os.getpid()}"):
            spec_for(root, out).run(progress=False)
        code = subprocess.run([sys.executable, "-m", "sep3d.cli", "batch", "--step", "batch_steps:smooth_case",
                               "x", "--out", str(out)], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO / "tests")})
        assert code.returncode == 2 and "is in use by another sep3d run" in code.stderr
        assert "Traceback" not in code.stderr


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(tmp_path, client):
    out = tmp_path / "out"
    with subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from sep3d.output_folder import OutputFolder
            with OutputFolder({str(out)!r}):
                print("held", flush=True)
                time.sleep(60)
            """)], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(OutputFolderBusy, match=f"pid {holder.pid}"):
                batch.run(["a"], same_name_step, out, client=client, progress=False)
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
    report = batch.run(["a"], same_name_step, out, client=client, progress=False)
    assert list(report.done) == ["a"]


# --------------------------------------------------------------------------- paths

def test_relative_paths_reach_workers_started_in_another_folder(tmp_path, monkeypatch):
    """Workers start in `elsewhere`; the client runs in `project` with relative spec, glob and out."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "specs").mkdir(parents=True)
    elsewhere.mkdir()
    image, _ = datasets.synthetic_ct(shape=(8, 12, 10), seed=0)
    (project / "scans").mkdir()
    sitk.WriteImage(image, str(project / "scans" / "c1.nrrd"))
    (project / "specs" / "bank.yaml").write_text(yaml.safe_dump(
        {"source": {"glob": "../scans/*.nrrd"}, "steps": [{"gaussian": {"sigma": 1.0}}],
         "sinks": [{"nrrd": {}}], "out": "results"}))
    monkeypatch.chdir(elsewhere)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        monkeypatch.chdir(project)
        code = cli.main(["run", "specs/bank.yaml", "--scheduler", cluster.scheduler_address])
    assert code == 0
    written = project / "results" / "c1" / "gaussian.nrrd"
    assert_close(sitk.GetArrayFromImage(sitk.ReadImage(str(written))),
                 gaussian_reference(project / "scans" / "c1.nrrd", 1.0), np.float32)
    # nothing written where the workers started (a relative NUMBA_CACHE_DIR may be, by Numba)
    assert not (elsewhere / "results").exists() and not list(elsewhere.rglob("*.nrrd"))
    manifest = json.loads((project / "results" / batch.MANIFEST).read_text())
    assert Path(manifest["done"]["c1"]["output"]["outputs"]["gaussian"][0][2:]).as_posix() == "c1/gaussian.nrrd"


# --------------------------------------------------------------------------- cohort CSV

def test_a_cohort_csv_saved_by_excel_keeps_its_id_column(tmp_path):
    root = make_dataset(tmp_path / "dataset", ids=("P001", "P002"))
    text = (root / "cohort.csv").read_text()
    (root / "cohort.csv").write_text(text, encoding="utf-8-sig")  # Excel's "CSV UTF-8" adds a BOM
    assert (root / "cohort.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert [c["id"] for c in spec_for(root, tmp_path / "out").items()] == ["P001", "P002"]
    from sep3d.radiomics.cohort import read_cohort

    assert [c["id"] for c in read_cohort(root / "cohort.csv")] == ["P001", "P002"]


@pytest.mark.parametrize("label, expected", [("1.0", 1), ("2", 2), (" 3 ", 3), ("", None)])
def test_cohort_labels_written_as_floats_are_accepted(tmp_path, label, expected):
    from sep3d.radiomics.cohort import read_cohort

    path = tmp_path / "cohort.csv"
    path.write_text(f"ID,Image,Mask,Label\nP1,a.nrrd,b.nrrd,{label}\n")
    case, = read_cohort(path)
    assert case["label"] == expected
    assert case["image"] == str(tmp_path / "a.nrrd")  # relative to the CSV, absolute


@pytest.mark.parametrize("row, match", [
    ("P1,a.nrrd,b.nrrd,1.5", r"cohort.csv, line 3, column Label: '1.5' is not an integer label"),
    ("P1,a.nrrd,b.nrrd,one", r"cohort.csv, line 3, column Label: 'one' is not an integer label"),
    ("P1,,b.nrrd,1", r"cohort.csv, line 3, column Image: empty"),
    ("P1,a.nrrd,,1", r"cohort.csv, line 3, column Mask: empty"),
])
def test_bad_cohort_cells_name_their_line_and_column(tmp_path, row, match):
    from sep3d.radiomics.cohort import read_cohort

    path = tmp_path / "cohort.csv"
    path.write_text(f"ID,Image,Mask,Label\nP0,a.nrrd,b.nrrd,1\n{row}\n")
    with pytest.raises(ValueError, match=match):
        read_cohort(path)


# --------------------------------------------------------------------------- clear errors

@pytest.mark.parametrize("text, match", [
    ("steps: [gaussian: {sigma: 1}\nsinks: [nrrd]\n", r"not valid YAML at line \d+, column \d+"),
    ("source: {glob: 'nothing-here/*.nrrd'}\nsteps: [gaussian: {sigma: 1}]\nsinks: [nrrd]\n",
     r"`source.glob` matches no file: .*nothing-here"),
])
def test_malformed_specs_end_with_one_line_and_no_traceback(tmp_path, text, match):
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    run = subprocess.run([sys.executable, "-m", "sep3d.cli", "run", str(spec), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sep3d run: ")
    import re

    assert re.search(match, lines[0])


# --------------------------------------------------------------------------- radiomics

requires_radiomics = pytest.mark.skipif(
    __import__("importlib").util.find_spec("radiomics") is None,
    reason="PyRadiomics (the `radiomics` extra) is not installed")


@requires_radiomics
def test_radiomics_rerun_after_changing_the_params_file_recomputes_the_rows(tmp_path, serial_client):
    from radiomics import featureextractor

    from sep3d.radiomics.cohort import extract_cohort

    root = make_dataset(tmp_path / "dataset", ids=("P001", "P002"))
    params = tmp_path / "params.yaml"
    out = tmp_path / "features.csv"
    settings = {"imageType": {"Original": {}}, "featureClass": {"firstorder": ["Mean"]}}
    params.write_text(yaml.safe_dump(settings))
    rows, report = extract_cohort(root / "cohort.csv", params, out, client=serial_client, progress=False)
    assert len(rows) == 2 and "original_firstorder_Median" not in rows[0]
    settings["featureClass"]["firstorder"].append("Median")
    params.write_text(yaml.safe_dump(settings))
    rows, report = extract_cohort(root / "cohort.csv", params, out, client=serial_client, progress=False)
    assert sorted(report.changed) == ["P001", "P002"]
    with open(out, newline="") as fh:
        table = {row["ID"]: row for row in csv.DictReader(fh)}
    reference = featureextractor.RadiomicsFeatureExtractor(str(params)).execute(
        str(root / "P002" / "image.nrrd"), str(root / "P002" / "mask.nrrd"))
    assert float(table["P002"]["original_firstorder_Median"]) == pytest.approx(
        float(reference["original_firstorder_Median"]), rel=1e-12)


@requires_radiomics
def test_radiomics_out_naming_a_user_file_is_refused_before_any_work(tmp_path, client):
    from sep3d.radiomics.cohort import extract_cohort

    root = make_dataset(tmp_path / "dataset", ids=("P001",))
    cohort = (root / "cohort.csv").read_bytes()
    params = {"imageType": {"Original": {}}, "featureClass": {"firstorder": ["Mean"]}}
    with pytest.raises(OutputConflict, match="cohort.csv exists and was not written by sep3d"):
        extract_cohort(root / "cohort.csv", params, root / "cohort.csv", client=client, progress=False)
    assert (root / "cohort.csv").read_bytes() == cohort
    assert not (root / "cohort.cases" / batch.MANIFEST).exists() or not json.loads(
        (root / "cohort.cases" / batch.MANIFEST).read_text())["done"]


def test_scene_region_stats_on_a_label_raster_whose_nodata_is_zero(tmp_path):
    """The label raster opens masked (nodata 0 -> NaN): no region -2147483648, means as numpy's."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(5)
    cube = rng.normal(100.0, 10.0, (4, 16, 16)).astype(np.float32)
    labels = np.zeros((16, 16), np.uint8)
    labels[2:8, 2:8], labels[9:14, 3:12] = 3, 7
    profile = {"driver": "GTiff", "width": 16, "height": 16, "crs": "EPSG:32633",
               "transform": from_origin(500000, 4100000, 30, 30)}
    with rasterio.open(tmp_path / "scene.tif", "w", count=4, dtype="float32", **profile) as dst:
        dst.write(cube)
    with rasterio.open(tmp_path / "labels.tif", "w", count=1, dtype="uint8", nodata=0, **profile) as dst:
        dst.write(labels[None])
    path = tmp_path / "scene.yaml"
    path.write_text(yaml.safe_dump({"scene": {"file": "scene.tif"}, "sinks": {"geotiff": []},
                                    "steps": [{"region_stats": {"name": "regions", "labels": "labels.tif"}}]}))
    pipeline.load_spec(path).run(out=tmp_path / "out", progress=False)
    with open(tmp_path / "out" / "regions.csv", newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["statistic"] == "mean"]
    assert sorted(int(float(r["label"])) for r in rows) == [3, 7]
    for row in rows:
        mask = labels == int(float(row["label"]))
        values = [float(v) for k, v in row.items() if k not in ("label", "statistic")]
        np.testing.assert_allclose(values, cube[:, mask].astype(np.float64).mean(axis=1), rtol=1e-5)  # CSV: 6 digits


# --------------------------------------------------------------------------- stale results


@requires_radiomics
def test_radiomics_tables_say_what_the_last_run_found(tmp_path, serial_client):
    from radiomics import featureextractor

    from sep3d.radiomics.cohort import extract_cohort

    root = make_dataset(tmp_path / "dataset", ids=("P001", "P002"))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"imageType": {"Original": {}}, "featureClass": {"firstorder": ["Mean"]}}))
    out, failures = tmp_path / "features.csv", tmp_path / "features-failures.csv"
    extract_cohort(root / "cohort.csv", params, out, client=serial_client, progress=False)
    assert out.exists() and not failures.exists()
    masks = {i: (root / i / "mask.nrrd").read_bytes() for i in ("P001", "P002")}
    for i in masks:  # every mask emptied: no case can be extracted
        mask = sitk.ReadImage(str(root / i / "mask.nrrd"))
        sitk.WriteImage(mask * 0, str(root / i / "mask.nrrd"))
    rows, report = extract_cohort(root / "cohort.csv", params, out, client=serial_client, progress=False)
    assert rows == [] and sorted(report.failed) == ["P001", "P002"]
    failed = json.loads((tmp_path / "features.cases" / batch.MANIFEST).read_text())["failed"]
    assert {k: v["attempts"] for k, v in failed.items()} == {"P001": 1, "P002": 1}   # no retry by default
    assert not out.exists()                        # no table from the earlier run pretends to be this one's
    with open(failures, newline="") as fh:
        failed_rows = list(csv.DictReader(fh))
    assert sorted(r["ID"] for r in failed_rows) == ["P001", "P002"]
    assert all(r["error"].endswith("empty mask: no voxel has label 1 (labels present: [0])") for r in failed_rows)
    for i, data in masks.items():
        (root / i / "mask.nrrd").write_bytes(data)
    rows, report = extract_cohort(root / "cohort.csv", params, out, client=serial_client, progress=False)
    assert not failures.exists() and not report.failed
    with open(out, newline="") as fh:
        table = {row["ID"]: row for row in csv.DictReader(fh)}
    reference = featureextractor.RadiomicsFeatureExtractor(str(params)).execute(
        str(root / "P001" / "image.nrrd"), str(root / "P001" / "mask.nrrd"))
    assert float(table["P001"]["original_firstorder_Mean"]) == pytest.approx(
        float(reference["original_firstorder_Mean"]), rel=1e-12)


@pytest.mark.parametrize("tiles", [None, {"size": 10}])
def test_a_scene_rerun_without_a_step_removes_that_step_output_and_nothing_else(tmp_path, tiles, client):
    spec = {"scene": {"synthetic_cube": {"shape": [12, 20, 20], "seed": 1, "nodata": False}},
            "steps": [{"spatial_spectral": {"name": "denoised", "spatial": {"gaussian": {"sigma": 30.0}}}},
                      {"index": {"name": "ndvi", "input": "denoised", "index": "ndvi"}}],
            "sinks": {"geotiff": ["denoised", "ndvi"]}, **({"tiles": tiles} if tiles else {})}
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    path = tmp_path / "scene.yaml"
    path.write_text(yaml.safe_dump(spec))
    pipeline.load_spec(path).run(out=out, client=client, progress=False)
    assert (out / "ndvi.tif").exists()
    spec["steps"], spec["sinks"] = spec["steps"][:1], {"geotiff": ["denoised"]}
    path.write_text(yaml.safe_dump(spec))
    pipeline.load_spec(path).run(out=out, client=client, progress=False)
    assert not (out / "ndvi.tif").exists()
    assert (out / "notes.txt").read_text() == "mine"
    import rasterio

    with rasterio.open(out / "scene.tif") as src:
        cube, res = src.read().astype(np.float64), abs(src.transform.a)
    with rasterio.open(out / "denoised.tif") as src:
        denoised = src.read()
    ref = np.stack([ndi.gaussian_filter(band, 30.0 / res, mode="reflect") for band in cube])
    assert np.allclose(denoised, ref, rtol=0, atol=1e-5 * np.abs(cube).max())
