"""sep3d's PyRadiomics image types, their registration, the CLI wrapper and cohort extraction.

Oracles: PyRadiomics' own built-in image types (LoG, Wavelet, Gradient) run in the same
extraction, PyWavelets (``pywt.swtn``) for the a-trous variant, scipy.ndimage float64 for
the sampled-Gaussian variants. The parity tests run on a synthetic CT phantom always (no
download, no cache) and on PyRadiomics' brain1 sample case too when it is cached or can be
downloaded.
"""
import csv
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.ndimage as ndi
import SimpleITK as sitk
import yaml

radiomics = pytest.importorskip("radiomics", reason="PyRadiomics (the `radiomics` extra) is not installed")
pywt = pytest.importorskip("pywt", reason="PyWavelets (the `radiomics` extra) is not installed")

from pykwalify.errors import SchemaError  # noqa: E402  (PyRadiomics' params validator)
from radiomics import featureextractor, imageoperations  # noqa: E402

import sep3d.radiomics as sr  # noqa: E402
from conftest import assert_close  # noqa: E402
from sep3d import datasets  # noqa: E402
from sep3d.pipeline import SpecError, load_spec  # noqa: E402
from sep3d.radiomics import cohort  # noqa: E402

radiomics.setVerbosity(logging.ERROR)
sr.register()

#: the issue's parity bounds, relative to the built-in feature (absolute floor in brackets)
PARITY = {"log": (1e-4, 1e-6), "wavelet": (1e-6, 1e-9), "gradient": (1e-5, 1e-9)}


#: the synthetic parity case: thick slices (anisotropic spacing, sigma 0.5 mm below one slice),
#: odd sizes on z and x (Wavelet pads those by one voxel) and a lesion of ~700 voxels over 7
#: slices, enough for every texture class; small enough that both cases' extractions take seconds
PARITY_PHANTOM = {"shape": (15, 64, 71), "spacing": (3.0, 1.5, 1.25), "seed": 0}


@pytest.fixture(scope="module", params=["phantom", "brain1"])
def parity_case(request):
    """The image and mask every parity test runs on: the synthetic phantom always, brain1 when it can be had."""
    if request.param == "phantom":
        image, mask = datasets.synthetic_ct(**PARITY_PHANTOM)
        assert sitk.GetArrayFromImage(mask).sum() >= 500  # texture features need a real ROI
        return image, mask
    try:
        return datasets.sample_case("brain1")
    except datasets.SampleDataUnavailable as exc:
        pytest.skip(f"the brain1 sample case needs the package index once: {exc}")


def phantom(shape=(12, 40, 36), spacing=(2.5, 0.8, 0.9), seed=0):
    image, mask = datasets.synthetic_ct(shape=shape, spacing=spacing, seed=seed)
    return image, mask


def generated(name, image, mask, **kwargs):
    return {n: im for im, n, _ in getattr(imageoperations, f"get{name}Image")(image, mask, **kwargs)}


def test_register_is_idempotent_and_extends_the_cached_type_list():
    assert sr.register() == list(sr.IMAGE_TYPES)
    sr.register()
    types = radiomics.getImageTypes()
    for name in sr.IMAGE_TYPES:
        assert types.count(name) == 1
        assert getattr(imageoperations, f"get{name}Image") is sr.IMAGE_TYPES[name]
    assert sr.registered()


def test_params_schema_accepts_sep3d_keys_and_rejects_bad_values():
    ok = {"imageType": {"Sep3dLoG": {"sigma": [1.0], "backend": "cpu", "variant": "gaussian"},
                        "Sep3dDoG": {"sigma": [1.0], "dogRatio": 2.0}, "LoG": {"sigma": [1.0]}}}
    extractor = featureextractor.RadiomicsFeatureExtractor(ok)
    assert set(extractor.enabledImagetypes) == {"Sep3dLoG", "Sep3dDoG", "LoG"}
    # a bad value of a sep3d key fails PyRadiomics' own schema validation (the extended schema)
    with pytest.raises(SchemaError, match=r"Enum 'bogus' does not exist\. Path: '/imageType/Sep3dLoG/variant'"):
        featureextractor.RadiomicsFeatureExtractor({"imageType": {"Sep3dLoG": {"variant": "bogus"}}})
    # an unknown type fails PyRadiomics' image-type check, which lists the registered ones
    with pytest.raises(ValueError, match=r"^Image Type Sep3dNope is not recognized\. Available image types are "
                                         r"\[.*'Sep3dLoG', 'Sep3dWavelet', 'Sep3dGaussian', 'Sep3dGradient', "
                                         r"'Sep3dDoG', 'Sep3dMean', 'Sep3dLaws', 'Sep3dGabor', 'Sep3dSimoncelli', "
                                         r"'Sep3dRiesz'\]$"):
        featureextractor.RadiomicsFeatureExtractor({"imageType": {"Sep3dNope": {}}})
    # IBSI 2 settings: their enums are in the schema too (IBSI boundary names, not scipy's)
    with pytest.raises(SchemaError, match=r"Enum 'reflect' does not exist\. Path: '/imageType/Sep3dMean/boundary'"):
        featureextractor.RadiomicsFeatureExtractor({"imageType": {"Sep3dMean": {"size": 3, "boundary": "reflect"}}})
    with pytest.raises(SchemaError, match=r"Enum 'coronal' does not exist\. Path: '/imageType/Sep3dGabor/gaborPlanes'"):
        featureextractor.RadiomicsFeatureExtractor({"imageType": {"Sep3dGabor": {"sigma": [1.0], "gaborLambda": 2.0,
                                                                                 "gaborPlanes": "coronal"}}})


def test_features_match_the_builtin_types_in_one_extraction(parity_case):
    """Every feature of Sep3dLoG / Sep3dWavelet / Sep3dGradient against its built-in twin, key by key."""
    image, mask = parity_case
    params = {"imageType": {"LoG": {"sigma": [1.0, 3.0]}, "Sep3dLoG": {"sigma": [1.0, 3.0]},
                            "Wavelet": {}, "Sep3dWavelet": {}, "Gradient": {}, "Sep3dGradient": {}}}
    result = featureextractor.RadiomicsFeatureExtractor(params).execute(image, mask)
    builtin = [key for key in result if key.startswith(("log-", "wavelet", "gradient_"))]
    assert sorted(key for key in result if key.startswith("sep3d-")) == sorted(f"sep3d-{key}" for key in builtin)
    compared = {}
    for key in builtin:
        ref, value = float(result[key]), float(result[f"sep3d-{key}"])
        kind = key.split("-")[0].split("_")[0].rstrip("0123456789")
        rel, floor = PARITY[kind]
        assert abs(value - ref) <= max(rel * abs(ref), floor), (key, value, ref)
        compared[kind] = compared.get(kind, 0) + 1
    # every feature class of every derived image was compared: 2 sigmas, 8 wavelet bands, 1 gradient
    assert compared["log"] >= 2 * 90 and compared["wavelet"] >= 8 * 90 and compared["gradient"] >= 90, compared


#: (sep3d type, built-in type, settings, tolerance relative to the built-in image's largest |value|,
#: images the built-in yields): float32 rounding for the ITK filters, float64 for the wavelet
VOXEL_PARITY = [
    pytest.param("Sep3dLoG", "LoG", {"sigma": [0.5, 2.0, 5.0]}, 1e-6, 3, id="log"),
    pytest.param("Sep3dWavelet", "Wavelet", {}, 1e-12, 8, id="wavelet-coif1"),
    pytest.param("Sep3dWavelet", "Wavelet", {"wavelet": "db2", "level": 2, "start_level": 1}, 1e-12, 15,
                 id="wavelet-db2-level2-start1"),
    pytest.param("Sep3dWavelet", "Wavelet", {"force2D": True, "force2Ddimension": 0}, 1e-12, 4, id="wavelet-2d"),
    pytest.param("Sep3dGradient", "Gradient", {}, 1e-6, 1, id="gradient"),
    pytest.param("Sep3dGradient", "Gradient", {"gradientUseSpacing": False}, 1e-6, 1, id="gradient-no-spacing"),
]


@pytest.mark.parametrize("name, builtin, kwargs, tol, n_images", VOXEL_PARITY)
def test_voxels_match_the_builtin_filters(parity_case, name, builtin, kwargs, tol, n_images):
    image, mask = parity_case
    mine, ref = generated(name, image, mask, **kwargs), generated(builtin, image, mask, **kwargs)
    assert len(ref) == n_images
    assert list(mine) == [f"sep3d-{n}" for n in ref]  # names and yield order
    for (n, a), b in zip(mine.items(), ref.values()):
        assert a.GetSize() == b.GetSize() and a.GetSpacing() == b.GetSpacing()
        assert a.GetOrigin() == b.GetOrigin() and a.GetDirection() == b.GetDirection()
        assert a.GetPixelID() == b.GetPixelID(), n
        va, vb = sitk.GetArrayFromImage(a).astype(np.float64), sitk.GetArrayFromImage(b).astype(np.float64)
        assert np.abs(va - vb).max() <= tol * np.abs(vb).max(), n


def test_atrous_variant_is_the_true_undecimated_transform():
    image, mask = phantom(shape=(8, 20, 12))  # even sizes divisible by 4: pywt.swtn's requirement
    arr = sitk.GetArrayFromImage(image).astype(np.float64)
    got = generated("Sep3dWavelet", image, mask, variant="atrous", level=2, wavelet="db2")
    ref = pywt.swtn(arr, "db2", level=2, axes=(2, 1, 0))  # deepest level first
    levels = {1: ref[1], 2: ref[0]}
    for name, im in got.items():
        prefix, code = name.rsplit("-", 1)
        lev = 2 if prefix.endswith("atrous2") else 1
        key = code.replace("L", "a").replace("H", "d")
        if code == "LLL":
            lev = 2
        np.testing.assert_allclose(sitk.GetArrayFromImage(im), levels[lev][key], rtol=0, atol=1e-10)
    assert len(got) == 15


def test_sampled_gaussian_variants_match_scipy():
    image, mask = phantom()
    arr = sitk.GetArrayFromImage(image).astype(np.float64)
    spacing = np.array(image.GetSpacing()[::-1])
    sigma = 2.0
    log = sitk.GetArrayFromImage(generated("Sep3dLoG", image, mask, sigma=[sigma], variant="gaussian")[
        "sep3d-log-gaussian-sigma-2-0-mm-3D"])
    ref = sum(ndi.gaussian_filter(arr, sigma / spacing, order=[2 if a == ax else 0 for a in range(3)],
                                  mode="nearest") / spacing[ax] ** 2 for ax in range(3)) * sigma ** 2
    assert np.abs(log - ref).max() <= 1e-5 * np.abs(ref).max() + 1e-6
    smooth = sitk.GetArrayFromImage(generated("Sep3dGaussian", image, mask, sigma=[sigma])[
        "sep3d-gaussian-sigma-2-0-mm-3D"])
    ref = ndi.gaussian_filter(arr, sigma / spacing, mode="nearest")
    assert np.abs(smooth - ref).max() <= 1e-5 * np.abs(ref).max() + 1e-6
    dog = sitk.GetArrayFromImage(generated("Sep3dDoG", image, mask, sigma=[sigma], dogRatio=2.0)[
        "sep3d-dog-sigma-2-0-mm-3D"])
    ref = ref - ndi.gaussian_filter(arr, 2 * sigma / spacing, mode="nearest")
    assert np.abs(dog - ref).max() <= 1e-5 * np.abs(ref).max() + 1e-6


def small_image(shape, spacing):
    rng = np.random.default_rng(0)
    image = sitk.GetImageFromArray((rng.standard_normal(shape) * 100).astype(np.int16))
    image.SetSpacing(spacing[::-1])
    mask = sitk.GetImageFromArray(np.ones(shape, np.uint8))
    mask.CopyInformation(image)
    return image, mask


def test_size_and_sigma_skip_rules_follow_pyradiomics():
    image, mask = small_image((5, 24, 24), (5.0, 1.0, 1.0))
    kwargs = {"sigma": [1.0, 30.0]}  # 30 mm needs > 6 slices of 5 mm
    names = list(generated("LoG", image, mask, **kwargs))
    assert names == ["log-sigma-1-0-mm-3D"]
    assert [n[len("sep3d-"):] for n in generated("Sep3dLoG", image, mask, **kwargs)] == names
    tiny, tiny_mask = small_image((3, 24, 24), (1.0, 1.0, 1.0))
    assert generated("Sep3dLoG", tiny, tiny_mask, sigma=[1.0]) == generated("LoG", tiny, tiny_mask, sigma=[1.0]) == {}
    # the boundary: 4 voxels on the smallest axis is enough for PyRadiomics, 3 is not
    four, four_mask = small_image((4, 24, 24), (1.0, 1.0, 1.0))
    built_in = list(generated("LoG", four, four_mask, sigma=[1.0]))
    assert built_in == ["log-sigma-1-0-mm-3D"]
    assert [n[len("sep3d-"):] for n in generated("Sep3dLoG", four, four_mask, sigma=[1.0])] == built_in


def test_bad_settings_name_the_setting():
    image, mask = phantom()
    with pytest.raises(ValueError, match="`variant` of Sep3dLoG must be one of"):
        generated("Sep3dLoG", image, mask, sigma=[1.0], variant="fir")
    with pytest.raises(ValueError, match="`dogRatio` of Sep3dDoG must be > 1"):
        generated("Sep3dDoG", image, mask, sigma=[1.0], dogRatio=0.5)
    with pytest.raises(ValueError, match="`backend` must be one of"):
        generated("Sep3dGradient", image, mask, backend="gpu")


def write_case(folder, name, image, mask):
    ip, mp = folder / f"{name}_image.nrrd", folder / f"{name}_label.nrrd"
    sitk.WriteImage(image, str(ip))
    sitk.WriteImage(mask, str(mp))
    return ip, mp


PARAMS = {"imageType": {"Original": {}, "Sep3dGradient": {}, "Sep3dLoG": {"sigma": [2.0]}},
          "featureClass": {"firstorder": []}}


def test_cohort_extraction_records_failures_and_resumes(tmp_path):
    image, mask = phantom(seed=1)
    good = write_case(tmp_path, "good", image, mask)
    other_image, other_mask = phantom(shape=(12, 40, 30), seed=2)
    _, wrong_mask = write_case(tmp_path, "other", other_image, other_mask)
    empty = sitk.Image(mask.GetSize(), mask.GetPixelID())
    empty.CopyInformation(mask)
    _, empty_mask = write_case(tmp_path, "empty", image, empty)
    (tmp_path / "broken.nrrd").write_text("not an image")
    rows = [("good", good[0].name, good[1].name), ("missing", "nowhere.nrrd", good[1].name),
            ("mismatch", good[0].name, wrong_mask.name), ("emptymask", good[0].name, empty_mask.name),
            ("unreadable", "broken.nrrd", good[1].name)]
    csv_path = tmp_path / "cohort.csv"
    with open(csv_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Image", "Mask"])
        w.writerows(rows)
    out = tmp_path / "out" / "features.csv"
    table, report = sr.extract_cohort(csv_path, PARAMS, out, n_workers=1, progress=False)
    assert [r["ID"] for r in table] == ["good"]
    reasons = report.failed
    assert "missing image file" in reasons["missing"]
    assert "geometry mismatch" in reasons["mismatch"]
    assert "empty mask" in reasons["emptymask"]
    assert "unreadable image" in reasons["unreadable"]
    with open(out, newline="") as fh:
        written = list(csv.DictReader(fh))
    assert written[0]["ID"] == "good"
    # the features are PyRadiomics' own extraction of that case
    ref = featureextractor.RadiomicsFeatureExtractor(PARAMS).execute(str(good[0]), str(good[1]))
    for key in ("original_firstorder_Mean", "sep3d-gradient_firstorder_Mean",
                "sep3d-log-sigma-2-0-mm-3D_firstorder_Energy"):
        assert float(written[0][key]) == pytest.approx(float(ref[key]), rel=1e-12)
    with open(out.with_name("features-failures.csv"), newline="") as fh:
        assert {r["ID"] for r in csv.DictReader(fh)} == {"missing", "mismatch", "emptymask", "unreadable"}
    again, report2 = sr.extract_cohort(csv_path, PARAMS, out, n_workers=1, progress=False)
    assert report2.skipped == ["good"] and again == table


def test_cohort_rejects_bad_inputs_with_named_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="`cohort` does not exist"):
        sr.read_cohort(tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_text("Path,Label\nx.nrrd,1\n")
    with pytest.raises(ValueError, match="PyRadiomics' batch columns Image, Mask"):
        sr.read_cohort(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="`out` must end in .csv or .parquet"):
        sr.extract_cohort(tmp_path / "bad.csv", PARAMS, tmp_path / "f.xlsx")
    with pytest.raises(ValueError, match="`params` is not a valid PyRadiomics params file"):
        sr.extract_cohort(tmp_path / "bad.csv", {"imageType": {"Sep3dLoG": {"variant": 3}}}, tmp_path / "f.csv")


def test_sep3d_radiomics_cli_runs_a_batch_with_parallel_jobs(tmp_path):
    image, mask = phantom(seed=3)
    a = write_case(tmp_path, "a", image, mask)
    b = write_case(tmp_path, "b", *phantom(seed=4))
    batch_csv = tmp_path / "batch.csv"
    batch_csv.write_text(f"ID,Image,Mask\na,{a[0]},{a[1]}\nb,{b[0]},{b[1]}\n")
    params = tmp_path / "params.yaml"
    params.write_text("imageType:\n  Sep3dGradient: {}\n  Gradient: {}\nfeatureClass:\n  firstorder: []\n")
    out = tmp_path / "features.csv"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "sep3d.radiomics.cli", str(batch_csv), "--param", str(params),
                           "-o", str(out), "-f", "csv", "-j", "2"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["ID"] for r in rows] == ["a", "b"]
    for row in rows:
        assert float(row["sep3d-gradient_firstorder_Mean"]) == pytest.approx(float(row["gradient_firstorder_Mean"]),
                                                                            rel=1e-5)
    proc = subprocess.run([sys.executable, "-m", "sep3d.radiomics.cli", str(a[0]), str(a[1]), "--param",
                           str(params), "--validate"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_radiomics_pipeline_spec_is_validated(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text(json.dumps(PARAMS))
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"source: {{files: [a.nrrd]}}\nradiomics: {{params: p.yaml, colour: red}}\nout: f.csv\n")
    with pytest.raises(SpecError, match="unknown key 'colour'"):
        load_spec(spec)
    spec.write_text("source: {files: [a.nrrd]}\nradiomics: {params: missing.yaml}\nout: f.csv\n")
    with pytest.raises(SpecError, match="`radiomics.params` does not exist"):
        load_spec(spec)
    spec.write_text("source: {files: [a.nrrd]}\nradiomics: {params: p.yaml}\nout: features.txt\n")
    with pytest.raises(SpecError, match=r"a \.csv or \.parquet file"):
        load_spec(spec)


def test_builtin_params_swap_sep3d_types_for_their_counterparts():
    params = {"imageType": {"Original": {}, "Sep3dLoG": {"sigma": [1.0], "backend": "cpu"}, "Sep3dWavelet": {},
                            "Sep3dDoG": {"sigma": [1.0]}, "Sep3dGradient": {"variant": "pyradiomics"}}}
    assert cohort.builtin_params(params)["imageType"] == {"Original": {}, "LoG": {"sigma": [1.0]}, "Wavelet": {},
                                                          "Gradient": {}}


@pytest.mark.parametrize("what", ["spacing", "origin"])
@pytest.mark.parametrize("offset, accepted", [(1e-5, True), (1e-2, False)])
def test_mask_geometry_tolerance_is_pyradiomics_geometry_tolerance(what, offset, accepted):
    from radiomics import featureextractor

    from sep3d.radiomics.cohort import CaseError, check_case

    image, mask = phantom()
    values = list(getattr(mask, f"Get{what.capitalize()}")())
    values[0] += offset
    getattr(mask, f"Set{what.capitalize()}")(values)
    # the oracle: PyRadiomics' own extractor with the same geometryTolerance (1e-3)
    extractor = featureextractor.RadiomicsFeatureExtractor(geometryTolerance=1e-3)
    extractor.disableAllFeatures()
    extractor.enableFeatureClassByName("firstorder")
    try:
        extractor.execute(image, mask)
        pyradiomics_accepts = True
    except ValueError:
        pyradiomics_accepts = False
    assert pyradiomics_accepts == accepted
    if accepted:
        check_case(image, mask, 1, tolerance=1e-3)
    else:
        with pytest.raises(CaseError, match=rf"^image/mask geometry mismatch: {what} "):
            check_case(image, mask, 1, tolerance=1e-3)


def test_dog_is_the_difference_of_two_gaussians_with_ratio_1_6_by_default():
    image, mask = phantom()
    (name, result), = generated("Sep3dDoG", image, mask, sigma=[2.0]).items()
    assert name == "sep3d-dog-sigma-2-0-mm-3D"
    volume = sitk.GetArrayFromImage(image).astype(np.float64)
    px = np.divide(2.0, image.GetSpacing()[::-1])
    # G(sigma) - G(1.6 sigma), sigma in mm over the spacing, PyRadiomics' nearest boundary
    ref = ndi.gaussian_filter(volume, px, mode="nearest") - ndi.gaussian_filter(volume, 1.6 * px, mode="nearest")
    assert_close(sitk.GetArrayFromImage(result), ref, np.float32)
    with pytest.raises(ValueError, match=r"`dogRatio` of Sep3dDoG must be > 1; got 1\.0"):
        generated("Sep3dDoG", image, mask, sigma=[2.0], dogRatio=1.0)


def test_a_sigma_is_kept_exactly_when_pyradiomics_keeps_it():
    # PyRadiomics keeps sigma when every axis has size >= ceil(sigma / spacing) + 1 voxels:
    # 8 slices of 2 mm hold sigma 14 mm (ceil 7 + 1 = 8) but not 14.5 mm (8 + 1 = 9)
    image, mask = small_image((8, 24, 24), (2.0, 1.0, 1.0))
    kwargs = {"sigma": [14.0, 14.5]}
    built_in = list(generated("LoG", image, mask, **kwargs))
    assert built_in == ["log-sigma-14-0-mm-3D"]
    assert [n[len("sep3d-"):] for n in generated("Sep3dLoG", image, mask, **kwargs)] == built_in


def test_the_installed_pyradiomics_build_is_named_from_its_distribution_metadata():
    from importlib.metadata import PackageNotFoundError, distribution

    from sep3d.versions import pyradiomics_build

    # the oracle: whichever of the two known distributions is installed, read from its own metadata
    found = []
    for name in ("pyradiomics", "pyradiomics-bhklab"):
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        assert "radiomics/__init__.py" in {str(f) for f in dist.files}  # it provides the module
        found.append(f"{dist.metadata['Name']} {dist.version}")
    assert found
    if len(found) == 1:
        assert pyradiomics_build() == found[0]
    else:
        assert pyradiomics_build().startswith(", ".join(sorted(found)) + " (both provide the `radiomics` module")


@pytest.mark.parametrize("section", [{"compare": "lung1"}, "params.yaml"])
def test_a_radiomics_spec_needs_a_params_mapping(tmp_path, section):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"source": {"files": ["a.nrrd"]}, "radiomics": section}))
    with pytest.raises(SpecError, match=r"^`radiomics` must be a mapping with `params`"):
        load_spec(path)


def test_a_case_without_a_label_uses_pyradiomics_default_label_1(tmp_path):
    image, mask = phantom()
    ip, mp = write_case(tmp_path, "c", image, mask)
    params = {"imageType": {"Original": {}}, "featureClass": {"firstorder": ["Mean"]}}   # no label setting
    (path,) = cohort.extract_case(params, {"id": "c", "image": str(ip), "mask": str(mp), "label": None}, tmp_path)
    with open(path) as fh:
        row = json.load(fh)
    reference = featureextractor.RadiomicsFeatureExtractor(params).execute(str(ip), str(mp))   # label 1
    assert row["Label"] == 1
    assert row["original_firstorder_Mean"] == pytest.approx(float(reference["original_firstorder_Mean"]), rel=1e-12)


def test_extract_case_registers_the_sep3d_types_itself(tmp_path, monkeypatch):
    # a fresh worker process has imported radiomics but not registered sep3d's image types
    types = radiomics.getImageTypes()                  # PyRadiomics' cached list
    kept = list(types)
    for name in sr.IMAGE_TYPES:
        monkeypatch.delattr(imageoperations, f"get{name}Image", raising=False)
    types[:] = [t for t in kept if t not in sr.IMAGE_TYPES]
    try:
        assert not sr.registered()
        image, mask = phantom()
        ip, mp = write_case(tmp_path, "c", image, mask)
        params = {"imageType": {"Sep3dLoG": {"sigma": [2.0]}}, "featureClass": {"firstorder": ["Mean"]}}
        (path,) = cohort.extract_case(params, {"id": "c", "image": str(ip), "mask": str(mp), "label": 1}, tmp_path)
    finally:
        types[:] = kept
    with open(path) as fh:
        row = json.load(fh)
    assert "sep3d-log-sigma-2-0-mm-3D_firstorder_Mean" in row


def test_sigma_zero_and_wavelet_level_zero_are_refused_like_pyradiomics():
    image, mask = small_image((8, 24, 24), (2.0, 1.0, 1.0))
    built_in = list(generated("LoG", image, mask, sigma=[0.0, 2.0]))     # PyRadiomics skips sigma 0
    assert built_in == ["log-sigma-2-0-mm-3D"]
    assert [n[len("sep3d-"):] for n in generated("Sep3dLoG", image, mask, sigma=[0.0, 2.0])] == built_in
    with pytest.raises(ValueError, match=r"`level` >= 1 and `start_level` >= 0; got 0 and 0"):
        generated("Sep3dWavelet", image, mask, level=0)


def test_complex_feature_values_with_no_imaginary_part_are_written_as_real_numbers(tmp_path):
    """NumPy >= 2.5 makes PyRadiomics return shape features as complex128 with a zero
    imaginary part; the rows and the CSV hold the real number, not "(0.93+0j)"."""
    assert cohort.real_feature(np.complex128(0.9372958843232535 + 0j)) == 0.9372958843232535
    assert type(cohort.real_feature(np.array([np.complex128(5 + 0j)]))) is float
    assert cohort.real_feature(np.complex128(1 + 2j)) == 1 + 2j  # a truly complex value stays complex
    assert cohort.real_feature(np.float64(2.5)) == 2.5 and cohort.real_feature(np.array(3)) == 3
