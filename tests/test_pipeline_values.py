"""Every output of every shipped pipeline spec, value-checked against an independent computation.

The specs in ``pipelines/`` run as shipped (their steps, sinks and params), on small
inputs: a synthetic scene of fewer pixels, two small synthetic CT cases instead of the
PyRadiomics samples. Each written output is then recomputed from the step's *declared
input*, read back from disk with a reader sep3d does not own (rasterio, SimpleITK, zarr,
csv), by a library sep3d does not own:

- hyperspectral.yaml: scipy.ndimage + scipy.signal (denoise, derivative), numpy (the
  indices from their published band centres, PCA by eigen-decomposition, MNF by the
  generalised eigenproblem of signal and noise covariances, region statistics), Spectral
  Python (SAM angles);
- ct-filter-bank.yaml: scipy.ndimage in float64 with the sigmas in mm over the spacing;
- ct-radiomics.yaml: PyRadiomics' own extractor with its built-in LoG, Wavelet and
  Gradient image types and the same settings.

So a step that reads the wrong input, a sink that writes the wrong array or geometry, or
a params override that is ignored, fails here even where two sep3d runs would agree.
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import scipy.linalg
import scipy.ndimage as ndi
import scipy.signal as ss
import SimpleITK as sitk
import yaml
import zarr

from sep3d import datasets, pipeline

from conftest import assert_close, inprocess_client

PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"


def shipped(name):
    with open(PIPELINES / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_tif(path):
    """A GeoTIFF as float64 (band, y, x) with its nodata as NaN, read by rasterio alone."""
    with rasterio.open(path) as src:
        data = src.read(masked=True).astype(np.float64)
        return data.filled(np.nan), src.transform, src.crs, src.descriptions


# ---------------------------------------------------------------------------------------
# hyperspectral.yaml

SCENE_SHAPE = (40, 36, 44)          # bands, y, x: linspace(400, 2500, 40) nm, 30 m pixels


@pytest.fixture(scope="module")
def scene_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hyperspectral")
    spec = shipped("hyperspectral.yaml")
    assert set(spec["scene"]) == {"synthetic_cube"}
    spec["scene"]["synthetic_cube"]["shape"] = list(SCENE_SHAPE)   # a smaller scene, same seed, nodata disc
    spec["chunks"] = {"y": 24, "x": 24}
    path = tmp / "hyperspectral.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp / "out"
    start = time.perf_counter()
    summary = pipeline.load_spec(path).run(out=out, progress=False)
    wall = time.perf_counter() - start
    steps = {next(iter(s.values()))["name"]: (next(iter(s)), next(iter(s.values()))) for s in spec["steps"]}
    return spec, steps, out, summary, wall


def savgol_bands(cube, *args, **kwargs):
    """scipy.signal.savgol_filter along the bands of the pixels with every band finite (NaN elsewhere).

    scipy's edge fit rejects NaN, so the nodata pixels are left out of it: their spectra are NaN.
    """
    valid = np.isfinite(cube).all(axis=0)
    out = np.full(cube.shape, np.nan)
    out[:, valid] = ss.savgol_filter(cube[:, valid], *args, axis=0, **kwargs)
    return out


def step_input(scene_run, name):
    """The declared input of step `name`, as written by the run (the scene or an earlier output)."""
    _, steps, out = scene_run[:3]
    source = steps[name][1].get("input", "image")
    return read_tif(out / ("scene.tif" if source == "image" else f"{source}.tif"))[0]


def test_every_sink_of_the_hyperspectral_spec_is_written(scene_run):
    spec, _, out = scene_run[:3]
    for name in spec["sinks"]["geotiff"]:
        assert (out / f"{name}.tif").is_file(), name
    for name in spec["sinks"]["zarr"]:
        assert (out / f"{name}.zarr").is_dir(), name
    assert (out / "quicklook.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "region-stats.csv").is_file()


def test_scene_is_the_declared_synthetic_cube(scene_run):
    spec, _, out = scene_run[:3]
    cube, truth = datasets.synthetic_cube(**spec["scene"]["synthetic_cube"])
    values, transform, crs, _ = read_tif(out / "scene.tif")
    np.testing.assert_array_equal(values, cube.values.astype(np.float64))
    assert np.isnan(values).any()                                   # the nodata disc is there
    assert transform == cube.rio.transform() and crs == cube.rio.crs


def test_denoised_is_a_gaussian_per_band_then_savitzky_golay_along_the_bands(scene_run):
    spec, steps, out = scene_run[:3]
    kind, args = steps["denoised"]
    scene = step_input(scene_run, "denoised")
    sigma_px = args["spatial"]["gaussian"]["sigma"] / 30.0          # metres over the 30 m pixels
    savgol = args["spectral"]["savgol"]
    # nodata: normalised convolution (Knutsson & Westin 1993), the documented default:
    # Gaussian of the valid pixels over the Gaussian of the validity mask, NaN where invalid
    valid = np.isfinite(scene).all(axis=0)
    smooth = ndi.gaussian_filter(np.where(valid, scene, 0.0), (0, sigma_px, sigma_px)) \
        / ndi.gaussian_filter(valid.astype(np.float64), sigma_px)
    smooth[:, ~valid] = np.nan
    ref = savgol_bands(smooth, savgol["window_length"], savgol["polyorder"])
    got, transform, crs, _ = read_tif(out / "denoised.tif")
    assert_close(got.astype(np.float32), ref, np.float32)           # NaN spreads like scipy's
    stored = zarr.open_group(str(out / "denoised.zarr"), mode="r")
    name = next(k for k in stored.array_keys() if stored[k].ndim == 3)
    np.testing.assert_array_equal(np.asarray(stored[name][...], dtype=np.float64), got)


@pytest.mark.parametrize("name, centres, formula", [
    # Rouse et al. 1974 at Sentinel-2 B8/B4; McFeeters 1996 at B3/B8; Barnes et al. 2000
    ("ndvi", (842.0, 665.0), lambda a, b: (a - b) / (a + b)),
    ("ndwi", (560.0, 842.0), lambda a, b: (a - b) / (a + b)),
    ("ndre", (790.0, 720.0), lambda a, b: (a - b) / (a + b)),
])
def test_indices_are_their_published_formulas_on_the_nearest_bands_of_their_input(scene_run, name, centres,
                                                                                  formula):
    data = step_input(scene_run, name)
    wl = np.linspace(400.0, 2500.0, SCENE_SHAPE[0])                  # synthetic_cube's documented bands
    a, b = (data[int(np.argmin(np.abs(wl - c)))] for c in centres)
    ref = formula(a, b)
    got = read_tif(scene_run[2] / f"{name}.tif")[0][0]
    assert_close(got.astype(np.float32), ref, np.float32)
    raw = read_tif(scene_run[2] / "scene.tif")[0]
    from_raw = formula(*(raw[int(np.argmin(np.abs(wl - c)))] for c in centres))
    assert np.nanmax(np.abs(from_raw - ref)) > 1e-3                 # the input matters: not the raw scene


def test_first_derivative_is_savitzky_golay_in_per_nm(scene_run):
    _, steps, out = scene_run[:3]
    args = steps["first-derivative"][1]
    data = step_input(scene_run, "first-derivative")
    delta = (2500.0 - 400.0) / (SCENE_SHAPE[0] - 1)
    ref = savgol_bands(data, args["window_length"], args.get("polyorder", 2), deriv=args["order"], delta=delta)
    stored = zarr.open_group(str(out / "first-derivative.zarr"), mode="r")
    name = next(k for k in stored.array_keys() if stored[k].ndim == 3)
    assert_close(np.asarray(stored[name][...]), ref, np.float32)


def valid_pixels(cube):
    """(n, band) float64 pixels whose every band is finite, and their mask."""
    valid = np.isfinite(cube).all(axis=0)
    return np.moveaxis(cube, 0, -1)[valid], valid


def compare_scores(got, ref, valid):
    """Component scores up to the sign of each component (eigenvectors have no sign)."""
    for k in range(got.shape[0]):
        g, r = got[k][valid], ref[..., k]
        sign = np.sign(np.dot(g, r))
        assert_close((sign * g).astype(np.float32), r, np.float32)
        assert np.isnan(got[k][~valid]).all()


def test_pca_scores_are_projections_on_the_covariance_eigenvectors(scene_run):
    _, steps, out = scene_run[:3]
    k = steps["pca"][1]["n_components"]
    pixels, valid = valid_pixels(step_input(scene_run, "pca"))
    mean = pixels.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(pixels, rowvar=False))   # ascending
    ref = (pixels - mean) @ vectors[:, ::-1][:, :k]
    compare_scores(read_tif(out / "pca.tif")[0], ref, valid)


def test_mnf_scores_whiten_the_noise_of_right_hand_pixel_differences(scene_run):
    _, steps, out = scene_run[:3]
    k = steps["mnf"][1]["n_components"]
    cube = step_input(scene_run, "mnf")                              # the raw scene (no `input`)
    pixels, valid = valid_pixels(cube)
    x = np.moveaxis(cube, 0, -1)
    deltas = (x[:, :-1] - x[:, 1:]).reshape(-1, x.shape[-1])        # Green et al.: neighbour differences
    deltas = deltas[np.isfinite(deltas).all(axis=1)]
    noise = np.cov(deltas, rowvar=False) / 2.0
    signal = np.cov(pixels, rowvar=False)
    values, vectors = scipy.linalg.eigh(signal, noise)              # vectors^T noise vectors = I
    ref = (pixels - pixels.mean(axis=0)) @ vectors[:, ::-1][:, :k]
    compare_scores(read_tif(out / "mnf.tif")[0], ref, valid)


def test_sam_angles_are_spectral_python_spectral_angles(scene_run):
    spectral = pytest.importorskip("spectral", reason="Spectral Python (the `test` extra) is not installed")
    spec, _, out = scene_run[:3]
    _, truth = datasets.synthetic_cube(**spec["scene"]["synthetic_cube"])
    data = step_input(scene_run, "sam")
    pixels, valid = valid_pixels(data)
    ref = spectral.spectral_angles(pixels[None], truth["endmembers"].values)[0]   # (n, endmember)
    got, _, _, descriptions = read_tif(out / "sam.tif")
    assert got.shape[0] == truth.sizes["endmember"]
    for e in range(got.shape[0]):
        assert_close(got[e][valid].astype(np.float32), ref[:, e], np.float32)


def test_region_statistics_are_per_label_means_and_deviations_of_the_input(scene_run):
    spec, steps, out = scene_run[:3]
    _, truth = datasets.synthetic_cube(**spec["scene"]["synthetic_cube"])
    labels = truth["labels"].values
    data = step_input(scene_run, "region-stats")
    with open(out / "region-stats.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    wl = np.linspace(400.0, 2500.0, SCENE_SHAPE[0])
    np.testing.assert_allclose([float(w) for w in rows[0][2:]], wl, rtol=1e-5)
    table = {(int(r[0]), r[1]): np.array(r[2:], dtype=np.float64) for r in rows[1:]}
    found = sorted({lab for lab, _ in table})
    present = sorted(int(v) for v in np.unique(labels[np.isfinite(labels)]) if v != 0)
    assert found == present
    for lab in found:
        pixels = np.moveaxis(data, 0, -1)[labels == lab]
        pixels = pixels[np.isfinite(pixels).all(axis=1)]
        np.testing.assert_allclose(table[lab, "mean"], pixels.mean(axis=0), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(table[lab, "std"], pixels.std(axis=0), rtol=1e-5, atol=1e-7)
        assert table[lab, "count"][0] == len(pixels)


def test_the_scene_summary_lists_every_written_file_and_plausible_timings(scene_run):
    spec, _, out, summary, wall = scene_run
    expected = {name: [str(out / f"{name}.tif")] for name in spec["sinks"]["geotiff"]}
    for name in spec["sinks"]["zarr"]:
        expected.setdefault(name, []).append(str(out / f"{name}.zarr"))
    expected["region-stats"] = [str(out / "region-stats.csv")]
    expected["quicklook"] = [str(out / "quicklook.png")]
    assert summary["outputs"] == expected
    assert all(Path(p).exists() for paths in expected.values() for p in paths)
    assert 0 < summary["seconds"] <= wall + 0.01
    assert summary["step_seconds"] and all(0 <= t <= wall for t in summary["step_seconds"].values())


def test_quicklook_is_a_png_of_the_documented_size(scene_run):
    import matplotlib.image as mpimg

    image = mpimg.imread(scene_run[2] / "quicklook.png")
    assert image.shape[:2] == (368, 1200)                          # 15 x 4.6 inches at 80 dpi


# ---------------------------------------------------------------------------------------
# ct-filter-bank.yaml


def write_cases(folder, n=2):
    paths = []
    for i in range(n):
        image, mask = datasets.synthetic_ct(shape=(10, 30, 26), spacing=(2.0, 0.7, 0.9), seed=i)
        image.SetOrigin((-12.5, 30.0, 4.0 * i))
        image.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))   # a rotated in-plane acquisition
        mask.CopyInformation(image)
        sitk.WriteImage(image, str(folder / f"case{i}.nrrd"))
        sitk.WriteImage(mask, str(folder / f"case{i}_mask.nrrd"))
        paths.append(folder / f"case{i}.nrrd")
    return paths


@pytest.fixture(scope="module")
def bank_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bank")
    paths = write_cases(tmp)
    spec = shipped("ct-filter-bank.yaml")
    out = tmp / "out"
    path = tmp / "ct-filter-bank.yaml"
    path.write_text(yaml.safe_dump({**spec, "source": {"files": [str(p) for p in paths]}, "out": str(out)}))
    with inprocess_client(1) as client:
        start = time.perf_counter()
    with inprocess_client(1) as client:
        report = pipeline.load_spec(path).run(client=client, progress=False)
    return spec, paths, out, report, time.perf_counter() - start


def physical_reference(kind, args, volume, spacing):
    """scipy.ndimage in float64 of one filter-bank step, sizes in mm over the spacing (z, y, x)."""
    sigma = np.divide(args["sigma"], spacing)
    if kind == "gaussian":
        return ndi.gaussian_filter(volume, sigma)
    if kind == "laplacian_of_gaussian":
        # sum over axes of the second derivative per mm^2; normalize: times sigma^2 (mm^2)
        terms = [ndi.gaussian_filter(volume, sigma, order=tuple(2 * (a == b) for b in range(3))) / spacing[a] ** 2
                 for a in range(3)]
        return sum(terms) * (args["sigma"] ** 2 if args.get("normalize") else 1.0)
    if kind == "gradient_magnitude":
        return np.sqrt(sum((ndi.gaussian_filter(volume, sigma, order=tuple(int(a == b) for b in range(3)))
                            / spacing[a]) ** 2 for a in range(3)))
    raise AssertionError(kind)


def test_every_output_of_the_filter_bank_is_scipy_on_its_declared_input(bank_run):
    spec, paths, out, report, wall = bank_run
    assert sorted(report.done) == ["case0", "case1"] and not report.failed
    for path in paths:
        source = sitk.ReadImage(str(path))
        volume = sitk.GetArrayFromImage(source).astype(np.float64)
        spacing = np.array(source.GetSpacing()[::-1])
        outputs = {"image": volume}
        case_dir = out / path.stem
        store = zarr.open_group(str(case_dir / "filters.zarr"), mode="r")
        for entry in spec["steps"]:
            (kind, args), = entry.items()
            name = args.get("name", kind)
            ref = physical_reference(kind, args, outputs[args.get("input", "image")], spacing)
            written = sitk.ReadImage(str(case_dir / f"{name}.nrrd"))
            header = (case_dir / f"{name}.nrrd").read_bytes().split(b"\n\n", 1)[0]
            assert b"encoding: gzip" in header                        # the sink's default: compressed
            assert written.GetSpacing() == source.GetSpacing() and written.GetOrigin() == source.GetOrigin()
            assert written.GetDirection() == source.GetDirection()
            assert_close(sitk.GetArrayFromImage(written), ref, np.float32)
            assert_close(store[name][...], ref, np.float32)
            assert store[name].chunks == tuple(min(c, n) for c, n in zip(spec["sinks"][1]["zarr"]["chunks"],
                                                                        volume.shape))
            outputs[name] = ref
        assert store.attrs["direction_xyz"] == list(source.GetDirection())
        assert store.attrs["origin_xyz"] == list(source.GetOrigin())
        np.testing.assert_allclose(store.attrs["spacing_zyx"], spacing)
        names = [args.get("name", kind) for (kind, args), in (e.items() for e in spec["steps"])]
        recorded = report.done[path.stem]["outputs"]
        assert sorted(recorded) == sorted(names)
        for name in names:
            assert recorded[name] == [str(case_dir / f"{name}.nrrd"), str(case_dir / "filters.zarr")]
        timings = report.done[path.stem]["filter_seconds"]
        assert sorted(timings) == sorted(names) and all(0 <= t <= wall for t in timings.values())
        assert 0 < report.done[path.stem]["seconds"] <= wall
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(0 <= record["seconds"] <= wall for record in manifest["done"].values())


# ---------------------------------------------------------------------------------------
# ct-radiomics.yaml

radiomics_only = pytest.mark.skipif(
    __import__("importlib").util.find_spec("radiomics") is None,
    reason="PyRadiomics (the `radiomics` extra) is not installed")

#: sep3d image type -> PyRadiomics' built-in one, and the relative tolerance the params
#: file's comment promises
BUILT_IN = {"Sep3dLoG": ("LoG", 1e-4), "Sep3dWavelet": ("Wavelet", 1e-6), "Sep3dGradient": ("Gradient", 1e-5),
            "Original": ("Original", 1e-12)}


@radiomics_only
def test_radiomics_spec_features_are_pyradiomics_built_in_filters(tmp_path):
    from radiomics import featureextractor

    from sep3d.radiomics import cohort

    image, mask = datasets.synthetic_ct(shape=(14, 40, 36), spacing=(2.5, 0.8, 0.9), seed=4)
    sitk.WriteImage(image, str(tmp_path / "case.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "case_mask.nrrd"))
    (tmp_path / "cohort.csv").write_text(f"ID,Image,Mask\ncase,{tmp_path / 'case.nrrd'},"
                                         f"{tmp_path / 'case_mask.nrrd'}\n")
    spec = shipped("ct-radiomics.yaml")
    params_path = PIPELINES / spec["radiomics"]["params"]
    out = tmp_path / "features.csv"
    path = tmp_path / "ct-radiomics.yaml"
    path.write_text(yaml.safe_dump({**spec, "source": {"cohort": str(tmp_path / "cohort.csv")},
                                    "radiomics": {"params": str(params_path), "compare": "case"},
                                    "out": str(out)}))
    spec_run = pipeline.load_spec(path)
    with inprocess_client(1) as client:
        rows, _ = spec_run.run(client=client, progress=False)
    with open(out, newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    table = out.read_bytes()
    with inprocess_client(1) as client:                    # a rerun: nothing changed, nothing recomputed
        again, report = spec_run.run(client=client, progress=False)
    assert report.skipped == ["case"] and again == rows and out.read_bytes() == table
    (returned,) = rows                                     # the Python API's row: numbers as numbers
    assert isinstance(returned["original_firstorder_Mean"], float)
    assert isinstance(returned["diagnostics_Mask-original_VoxelNum"], int)
    assert 0 < returned["sep3d_seconds"] < 600

    params = yaml.safe_load(params_path.read_text())
    built_in = {BUILT_IN[k][0]: v for k, v in params["imageType"].items()}
    extractor = featureextractor.RadiomicsFeatureExtractor({**params, "imageType": built_in})
    ref = extractor.execute(str(tmp_path / "case.nrrd"), str(tmp_path / "case_mask.nrrd"))
    # NumPy >= 2.5: PyRadiomics' shape features come as complex128 with a zero imaginary part
    assert all(np.imag(v) == 0 for k, v in ref.items() if not k.startswith("diagnostics"))
    features = {k: float(np.real(v)) for k, v in ref.items() if not k.startswith("diagnostics")}
    compared = 0
    for name, value in features.items():
        kind = name.split("_")[0]
        ours = name if kind == "original" else "sep3d-" + name
        tol = next(t for b, t in BUILT_IN.values() if kind.lower().startswith(b.lower()))
        assert ours in row, f"{ours} missing from the spec's CSV"
        assert float(row[ours]) == pytest.approx(value, rel=tol, abs=1e-9), ours
        compared += 1
    assert compared > 1000                     # 3 LoG sigmas, 8 wavelet bands, gradient, original
    # what `sep3d run` prints: the table head and the comparison with the built-in types
    n_features = len(features)
    head = cohort.table_head(rows).splitlines()
    assert head[0] == f"1 case(s) x {n_features} features; first rows:"
    columns = head[1].split()
    assert columns[0] == "ID" and "original_firstorder_Mean" in columns
    cells = dict(zip(columns, head[2].split()))
    assert cells["ID"] == "case"
    assert float(cells["original_firstorder_Mean"]) == pytest.approx(features["original_firstorder_Mean"], rel=1e-5)
    sep3d_columns = [c for c in columns if c.startswith("sep3d-")]
    assert sep3d_columns and all(float(cells[c]) == pytest.approx(features[c[len("sep3d-"):]], rel=1e-4)
                                 for c in sep3d_columns)
    summary = cohort.compare_builtin(spec_run.items(), spec_run.params, spec_run.compare)
    filtered = [k for k in features if not k.startswith("original_")]
    assert f"{len(filtered)} features compared" in summary, summary
    worst = float(summary.rsplit("largest relative difference ", 1)[1])
    assert 0 <= worst < 1e-4                                      # the params file's promise
    assert "built-in LoG, Wavelet, Gradient" in summary
    # the diagnostics of the original image and mask (not the configuration, which names
    # other image types): the same numbers, tuples and strings as PyRadiomics reports them
    diagnostics = {k: v for k, v in ref.items() if k.startswith("diagnostics_") and "Configuration" not in k
                   and "Versions" not in k}
    assert len(diagnostics) >= 15                 # image and mask: hash, spacing, size, voxel counts ...
    for name, value in diagnostics.items():
        value = value.item() if isinstance(value, np.ndarray) and value.size == 1 else value
        assert row[name] == str(value), name


# ---------------------------------------------------------------------------------------
# ibsi2-radiomics.yaml + ibsi2-params.yaml

@radiomics_only
def test_ibsi2_spec_runs_every_ibsi_image_type_and_its_mean_filter_is_scipys(tmp_path):
    """Oracle for Sep3dMean: scipy.ndimage.uniform_filter (reflect) on PyRadiomics' own
    resampled, cropped image, inside its re-segmented mask (the other types are proved
    against the IBSI consensus in test_ibsi*.py)."""
    from radiomics import imageoperations

    image, mask = datasets.synthetic_ct(shape=(12, 40, 36), spacing=(2.0, 0.8, 0.9), seed=7)
    sitk.WriteImage(image, str(tmp_path / "case.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "case_mask.nrrd"))
    (tmp_path / "cohort.csv").write_text(f"ID,Image,Mask\ncase,{tmp_path / 'case.nrrd'},"
                                         f"{tmp_path / 'case_mask.nrrd'}\n")
    spec = shipped("ibsi2-radiomics.yaml")
    params_path = PIPELINES / spec["radiomics"]["params"]
    params = yaml.safe_load(params_path.read_text())
    out = tmp_path / "features.csv"
    path = tmp_path / "ibsi2.yaml"
    path.write_text(yaml.safe_dump({**spec, "source": {"cohort": str(tmp_path / "cohort.csv")},
                                    "radiomics": {"params": str(params_path)}, "out": str(out)}))
    with inprocess_client(1) as client:
        pipeline.load_spec(path).run(client=client, progress=False)
    with open(out, newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    prefixes = {key.split("_firstorder_")[0] for key in row if "_firstorder_" in key}
    assert len(prefixes) == len(params["imageType"]) == 8                # Original + 7 IBSI types
    assert sum(p.startswith("sep3d-ibsi-") for p in prefixes) == 7
    assert all(np.isfinite(float(row[f"{p}_firstorder_Mean"])) for p in prefixes)

    setting = params["setting"]
    resampled, roi = imageoperations.resampleImage(
        image, mask, resampledPixelSpacing=setting["resampledPixelSpacing"], interpolator=sitk.sitkBSpline,
        label=1, padDistance=5)
    values = sitk.GetArrayFromImage(resampled).astype(np.float64)
    low, high = setting["resegmentRange"]
    inside = (sitk.GetArrayFromImage(roi) == 1) & (values >= low) & (values <= high)
    expected = ndi.uniform_filter(values, params["imageType"]["Sep3dMean"]["size"], mode="reflect")[inside]
    assert float(row["sep3d-ibsi-mean-5-mirror-3D_firstorder_Mean"]) == pytest.approx(expected.mean(), rel=1e-5)
    assert float(row["sep3d-ibsi-mean-5-mirror-3D_firstorder_Maximum"]) == pytest.approx(expected.max(), rel=1e-5)
