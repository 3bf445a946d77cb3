"""IBSI 2 PyRadiomics image types (Sep3dMean, Sep3dLoG variant ibsi, Sep3dLaws, Sep3dGabor,
Sep3dWavelet variant ibsi, Sep3dSimoncelli, Sep3dRiesz) against outside references.

Oracles: the IBSI's Phase-1 consensus response maps (the first image each generator yields,
from settings as a params file holds them) and its Phase-2 consensus statistics, computed
by PyRadiomics' own ``RadiomicsFeatureExtractor`` (firstorder, resegmentRange) from a
params file. Data from ``$SEP3D_IBSI2_DATA`` or ``../shared/ibsi2``; skipped with that
reason when absent (the CT phantom is CC-BY-NC, not in the repository).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from sep3d.radiomics.imagetypes import IMAGE_TYPES

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEP3D_IBSI2_DATA") or ROOT.parent / "shared" / "ibsi2")
needs_data = pytest.mark.skipif(not (DATA / "reference_response_maps").is_dir(),
                                reason=f"IBSI 2 reference data not found at {DATA} (set SEP3D_IBSI2_DATA)")
needs_ct = pytest.mark.skipif(not (DATA / "ct_phantom" / "image.nii.gz").is_file(),
                              reason=f"IBSI 2 CT phantom not found at {DATA} (set SEP3D_IBSI2_DATA)")

#: Phase-1 configurations as image-type settings: id -> (phantom, image type, settings).
PHASE1 = {
    "1_a_1": ("checkerboard", "Sep3dMean", {"size": 15, "boundary": "zero"}),
    "1_a_3": ("checkerboard", "Sep3dMean", {"size": [15], "boundary": "periodic"}),
    "1_b_1": ("impulse", "Sep3dMean", {"size": 15, "boundary": "zero", "dimensions": 2}),
    "2_a": ("impulse", "Sep3dLoG", {"variant": "ibsi", "sigma": [3.0], "boundary": "zero"}),
    "2_b": ("checkerboard", "Sep3dLoG", {"variant": "ibsi", "sigma": [5.0], "truncate": 4.0}),
    "2_c": ("checkerboard", "Sep3dLoG", {"variant": "ibsi", "sigma": [5.0], "dimensions": 2}),
    "3_a_3": ("impulse", "Sep3dLaws", {"lawsKernel": "E5L5S5", "lawsEnergy": True, "lawsDelta": 7,
                                       "rotationInvariant": True, "pooling": "max", "boundary": "zero"}),
    "3_b_1": ("checkerboard", "Sep3dLaws", {"lawsKernel": "E3W5R5"}),
    "3_c_2": ("checkerboard", "Sep3dLaws", {"lawsKernel": "L5S5", "rotationInvariant": True, "dimensions": 2}),
    "4_a_1": ("impulse", "Sep3dGabor", {"sigma": [10.0], "gaborLambda": 4.0, "gaborGamma": 0.5, "gaborTheta": 60,
                                        "boundary": "zero"}),
    "4_b_2": ("sphere", "Sep3dGabor", {"sigma": [20.0], "gaborLambda": 8.0, "gaborGamma": 2.5,
                                       "gaborThetaStep": 22.5, "gaborPlanes": "orthogonal"}),
    "5_a_2": ("impulse", "Sep3dWavelet", {"variant": "ibsi", "wavelet": "db2", "waveletBand": "LHL", "level": 1,
                                          "rotationInvariant": True, "pooling": "mean", "boundary": "zero"}),
    "6_a_1": ("sphere", "Sep3dWavelet", {"variant": "ibsi", "wavelet": "coif1", "waveletBand": "HHL",
                                         "boundary": "periodic"}),
    "7_a_2": ("checkerboard", "Sep3dWavelet", {"variant": "ibsi", "wavelet": "haar", "waveletBand": "HHH",
                                               "level": 2, "rotationInvariant": True}),
    "8_a_2": ("checkerboard", "Sep3dSimoncelli", {"level": 2, "boundary": "periodic"}),
    "9_a": ("impulse", "Sep3dRiesz", {"rieszOrder": [1, 0, 0], "rieszBase": "log", "sigma": [3.0],
                                      "boundary": "zero"}),
    "10_b_1": ("pattern_1", "Sep3dRiesz", {"rieszOrder": [0, 2, 0], "rieszBase": "simoncelli", "level": 1,
                                           "boundary": "nearest"}),
}


@needs_data
@pytest.mark.parametrize("config", sorted(PHASE1))
def test_first_image_is_the_consensus_response_map(config):
    phantom, image_type, settings = PHASE1[config]
    image = sitk.ReadImage(str(DATA / "digital_phantom" / phantom / "image" / f"{phantom}.nii.gz"))
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "reference_response_maps" / f"{config}-ValidCRM.nii.gz")))
    ref = ref.astype(np.float64)
    out, name, kwargs = next(IMAGE_TYPES[image_type](image, None, **settings))
    assert name.startswith("sep3d-ibsi-") and kwargs == settings
    assert out.GetSize() == image.GetSize() and out.GetSpacing() == image.GetSpacing()
    assert out.GetOrigin() == image.GetOrigin() and out.GetDirection() == image.GetDirection()
    values = sitk.GetArrayFromImage(out).astype(np.float64)
    error = np.abs(values - ref).max() / (ref.max() - ref.min())
    assert error <= 0.01, f"{config} through {image_type}: {100 * error:.3g}% of the range"


def test_a_list_of_sigmas_or_sizes_yields_one_image_each_with_distinct_names():
    image = sitk.GetImageFromArray(np.random.default_rng(1).normal(size=(12, 14, 16)).astype(np.float32))
    image.SetSpacing((0.8, 0.8, 2.0))
    logs = list(IMAGE_TYPES["Sep3dLoG"](image, None, variant="ibsi", sigma=[1.0, 2.5]))
    means = list(IMAGE_TYPES["Sep3dMean"](image, None, size=[3, 5]))
    gabors = list(IMAGE_TYPES["Sep3dGabor"](image, None, sigma=[1.0, 2.0], gaborLambda=2.0))
    rieszes = list(IMAGE_TYPES["Sep3dRiesz"](image, None, rieszOrder=[0, 1, 1], sigma=[1.0, 2.0]))
    for images in (logs, means, gabors, rieszes):
        assert len(images) == 2 and images[0][1] != images[1][1]
        assert not np.allclose(sitk.GetArrayFromImage(images[0][0]), sitk.GetArrayFromImage(images[1][0]))
    assert logs[0][1] == "sep3d-ibsi-log-sigma-1-mm-mirror-3D"
    assert gabors[1][1] == "sep3d-ibsi-gabor-sigma-2-lambda-2-gamma-1-theta-0-axial-modulus-mirror-3D"


@pytest.mark.parametrize("image_type, settings, match", [
    ("Sep3dMean", {"size": 5, "boundary": "reflect"}, "`boundary` of Sep3dMean must be one of"),
    ("Sep3dMean", {"size": 5, "dimensions": 4}, "`dimensions` of Sep3dMean must be 2"),
    ("Sep3dMean", {"size": 2.5}, "`size` of Sep3dMean must be whole voxels"),
    ("Sep3dMean", {}, "Sep3dMean needs `size`"),
    ("Sep3dLaws", {"lawsKernel": "E5L5"}, "`lawsKernel` of Sep3dLaws must be 3 kernels for `dimensions: 3`"),
    ("Sep3dLaws", {"lawsKernel": "E5Q5S5"}, "`lawsKernel` of Sep3dLaws"),
    ("Sep3dLaws", {"lawsKernel": "E5L5S5", "pooling": "median"}, "`pooling` of Sep3dLaws must be one of"),
    ("Sep3dLaws", {"lawsKernel": "E5L5S5", "lawsEnergy": "yes"}, "`lawsEnergy` of Sep3dLaws must be true or false"),
    ("Sep3dGabor", {"sigma": [2.0]}, "Sep3dGabor needs `gaborLambda`"),
    ("Sep3dGabor", {"sigma": [2.0], "gaborLambda": 3.0, "gaborTheta": 0, "gaborThetaStep": 45}, "not both"),
    ("Sep3dGabor", {"sigma": [2.0], "gaborLambda": 3.0, "gaborPlanes": "orthogonal", "dimensions": 2},
     "`gaborPlanes` of Sep3dGabor must be 'axial' with `dimensions: 2`"),
    ("Sep3dWavelet", {"variant": "ibsi"}, "needs `waveletBand`"),
    ("Sep3dWavelet", {"variant": "ibsi", "waveletBand": "LH"}, "`waveletBand` of Sep3dWavelet must be 3 letters"),
    ("Sep3dWavelet", {"variant": "ibsi", "waveletBand": "LHL", "wavelet": "db99"}, "Sep3dWavelet: `wavelet`"),
    ("Sep3dSimoncelli", {"level": 0}, "`level` of Sep3dSimoncelli must be an int >= 1"),
    ("Sep3dRiesz", {"rieszOrder": [1, 0]}, "`rieszOrder` of Sep3dRiesz must be 3 ints"),
    ("Sep3dRiesz", {"rieszOrder": [1, 0, 0]}, "Sep3dRiesz needs `sigma`"),
    ("Sep3dRiesz", {"rieszOrder": [1, 0, 0], "rieszBase": "gabor"}, "`rieszBase` of Sep3dRiesz must be one of"),
    ("Sep3dLaws", {}, "Sep3dLaws needs `lawsKernel`"),
    ("Sep3dLaws", {"lawsKernel": "E5L5S5", "lawsDelta": -1}, "`lawsDelta` of Sep3dLaws must be an int >= 0"),
    ("Sep3dLaws", {"lawsKernel": "E5L5S5", "rotationInvariant": 1}, "`rotationInvariant` of Sep3dLaws must be true"),
    ("Sep3dGabor", {"sigma": [2.0], "gaborLambda": 3.0, "gaborThetaStep": 0}, "`gaborThetaStep` of Sep3dGabor must"),
    ("Sep3dGabor", {"sigma": [], "gaborLambda": 3.0}, "`sigma` of Sep3dGabor must be a number or a non-empty list"),
    ("Sep3dGabor", {"sigma": [-1.0], "gaborLambda": 3.0}, "`sigma` of Sep3dGabor must be a number > 0"),
    ("Sep3dLoG", {"variant": "ibsi", "sigma": [1.0], "truncate": 0}, "`truncate` of Sep3dLoG must be a number > 0"),
])
def test_bad_settings_name_the_image_type_and_the_setting(image_type, settings, match):
    image = sitk.GetImageFromArray(np.zeros((6, 6, 6), np.float32))
    with pytest.raises(ValueError, match=match):
        next(IMAGE_TYPES[image_type](image, None, **settings))


#: PyRadiomics firstorder feature -> (IBSI tag, offset: PyRadiomics' value minus IBSI's).
FIRSTORDER = {"Mean": ("stat_mean", 0), "Variance": ("stat_var", 0), "Skewness": ("stat_skew", 0),
              "Kurtosis": ("stat_kurt", 3), "Median": ("stat_median", 0), "Minimum": ("stat_min", 0),
              "10Percentile": ("stat_p10", 0), "90Percentile": ("stat_p90", 0), "Maximum": ("stat_max", 0),
              "InterquartileRange": ("stat_iqr", 0), "Range": ("stat_range", 0),
              "MeanAbsoluteDeviation": ("stat_mad", 0), "RobustMeanAbsoluteDeviation": ("stat_rmad", 0),
              "Energy": ("stat_energy", 0), "RootMeanSquared": ("stat_rms", 0)}

#: Phase-2 "A" configurations (2-D, no interpolation, mirror) as one params file's image types.
PHASE2_A = {
    "2.A": ("Sep3dMean", {"size": 5, "dimensions": 2}),
    "3.A": ("Sep3dLoG", {"variant": "ibsi", "sigma": [1.5], "dimensions": 2}),
    "4.A": ("Sep3dLaws", {"lawsKernel": "L5E5", "lawsEnergy": True, "lawsDelta": 7, "rotationInvariant": True,
                          "pooling": "max", "dimensions": 2}),
    "5.A": ("Sep3dGabor", {"sigma": [5.0], "gaborLambda": 2.0, "gaborGamma": 1.5, "gaborThetaStep": 22.5,
                           "dimensions": 2}),
    "6.A": ("Sep3dWavelet", {"variant": "ibsi", "wavelet": "db3", "waveletBand": "LH", "rotationInvariant": True,
                             "dimensions": 2}),
    "9.A": ("Sep3dSimoncelli", {"level": 2, "boundary": "periodic", "dimensions": 2}),
}


@needs_ct
def test_phase2_2d_statistics_through_radiomics_feature_extractor(tmp_path):
    """PyRadiomics' extractor, one params file, features next to the built-in Original ones."""
    pytest.importorskip("radiomics", reason="PyRadiomics is the `radiomics` extra")
    import csv

    import yaml
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    from sep3d import radiomics as sr

    sr.register()
    params = {"setting": {"resegmentRange": [-1000, 400], "label": 1, "binWidth": 25},
              "imageType": {"Original": {}, **dict(PHASE2_A.values())},
              "featureClass": {"firstorder": list(FIRSTORDER)}}
    path = tmp_path / "ibsi2-a.yaml"
    path.write_text(yaml.safe_dump(params))
    features = RadiomicsFeatureExtractor(str(path)).execute(str(DATA / "ct_phantom" / "image.nii.gz"),
                                                            str(DATA / "ct_phantom" / "mask.nii.gz"))
    consensus = {}
    with open(DATA / "reference_values.csv", newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            if row["consensus_value"]:
                consensus[(row["filter_id"], row["feature_tag"])] = (float(row["consensus_value"]),
                                                                      float(row["tolerance"]))
    prefixes = {"1.A": "original"}
    for test_id, (image_type, _) in PHASE2_A.items():
        (prefix,) = {key.split("_firstorder_")[0] for key in features
                     if key.startswith("sep3d-ibsi-" + image_type[5:].lower())}
        prefixes[test_id] = prefix
    off = []
    for test_id, prefix in prefixes.items():
        for feature, (tag, offset) in FIRSTORDER.items():
            value, tol = consensus[(test_id, tag)]
            got = float(features[f"{prefix}_firstorder_{feature}"]) - offset
            if not abs(got - value) <= tol:
                off.append(f"{test_id} {tag}: {got:.4g} vs {value} +- {tol}")
    assert not off, off
    assert len(prefixes) == 7


def test_a_3d_filter_on_a_2d_image_says_so():
    image = sitk.GetImageFromArray(np.zeros((6, 6), np.float32))
    with pytest.raises(ValueError, match="Sep3dMean: a 3-D filter needs a 3-D image; got 2-D"):
        next(IMAGE_TYPES["Sep3dMean"](image, None, size=3))
    out, _, _ = next(IMAGE_TYPES["Sep3dMean"](image, None, size=3, dimensions=2))
    assert out.GetSize() == image.GetSize()
