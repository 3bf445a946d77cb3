"""IBSI 2 separable filters (sep3d.ibsi) against the IBSI's Phase-1 consensus response maps.

Oracle: the 33 consensus maps of IBSI 2 Phase 1 (a response map passes when every voxel
is within 1% of the consensus map's range), read from ``$SEP3D_IBSI2_DATA`` or
``../shared/ibsi2`` next to the repository; the tests that need them skip with that
reason when the folder is absent. The rotation logic is also checked without the data:
pooling over rotated kernels equals pooling over rotated images (np.rot90) filtered with
the kernel itself.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from sep3d import ibsi

from conftest import HOST_ENGINES

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEP3D_IBSI2_DATA") or ROOT.parent / "shared" / "ibsi2")
needs_data = pytest.mark.skipif(not (DATA / "reference_response_maps").is_dir(),
                                reason=f"IBSI 2 reference data not found at {DATA} (set SEP3D_IBSI2_DATA)")

B = ibsi.IBSI_BOUNDARIES
SPACING = 2.0  # the digital phantoms' voxel size, mm

#: Phase-1 configurations of the README's table: id -> (phantom, filter call).
PHASE1 = {
    "1_a_1": ("checkerboard", lambda x, e: ibsi.mean(x, 15, mode=B["zero"], backend=e)),
    "1_a_2": ("checkerboard", lambda x, e: ibsi.mean(x, 15, mode=B["nearest"], backend=e)),
    "1_a_3": ("checkerboard", lambda x, e: ibsi.mean(x, 15, mode=B["periodic"], backend=e)),
    "1_a_4": ("checkerboard", lambda x, e: ibsi.mean(x, 15, mode=B["mirror"], backend=e)),
    "1_b_1": ("impulse", lambda x, e: ibsi.mean(x, 15, dimensions=2, mode=B["zero"], backend=e)),
    "2_a": ("impulse", lambda x, e: ibsi.log(x, 3.0, spacing=(SPACING,) * 3, mode=B["zero"], backend=e)),
    "2_b": ("checkerboard", lambda x, e: ibsi.log(x, 5.0, spacing=(SPACING,) * 3, mode=B["mirror"], backend=e)),
    "2_c": ("checkerboard", lambda x, e: ibsi.log(x, 5.0, spacing=(SPACING,) * 2, dimensions=2, mode=B["mirror"],
                                                  backend=e)),
    "3_a_1": ("impulse", lambda x, e: ibsi.laws(x, "E5L5S5", mode=B["zero"], backend=e)),
    "3_a_2": ("impulse", lambda x, e: ibsi.laws(x, "E5L5S5", rotation_invariant=True, mode=B["zero"], backend=e)),
    "3_a_3": ("impulse", lambda x, e: ibsi.laws(x, "E5L5S5", rotation_invariant=True, energy=True, delta=7,
                                                mode=B["zero"], backend=e)),
    "3_b_1": ("checkerboard", lambda x, e: ibsi.laws(x, "E3W5R5", mode=B["mirror"], backend=e)),
    "3_b_2": ("checkerboard", lambda x, e: ibsi.laws(x, "E3W5R5", rotation_invariant=True, mode=B["mirror"],
                                                     backend=e)),
    "3_b_3": ("checkerboard", lambda x, e: ibsi.laws(x, "E3W5R5", rotation_invariant=True, energy=True,
                                                     mode=B["mirror"], backend=e)),
    "3_c_1": ("checkerboard", lambda x, e: ibsi.laws(x, "L5S5", mode=B["mirror"], backend=e)),
    "3_c_2": ("checkerboard", lambda x, e: ibsi.laws(x, "L5S5", rotation_invariant=True, mode=B["mirror"],
                                                     backend=e)),
    "3_c_3": ("checkerboard", lambda x, e: ibsi.laws(x, "L5S5", rotation_invariant=True, energy=True,
                                                     mode=B["mirror"], backend=e)),
    "5_a_1": ("impulse", lambda x, e: ibsi.wavelet(x, "db2", "LHL", mode=B["zero"], backend=e)),
    "5_a_2": ("impulse", lambda x, e: ibsi.wavelet(x, "db2", "LHL", rotation_invariant=True, pooling="mean",
                                                   mode=B["zero"], backend=e)),
    "6_a_1": ("sphere", lambda x, e: ibsi.wavelet(x, "coif1", "HHL", mode=B["periodic"], backend=e)),
    "6_a_2": ("sphere", lambda x, e: ibsi.wavelet(x, "coif1", "HHL", rotation_invariant=True, mode=B["periodic"],
                                                  backend=e)),
    "7_a_1": ("checkerboard", lambda x, e: ibsi.wavelet(x, "haar", "LLL", level=2, rotation_invariant=True,
                                                        mode=B["mirror"], backend=e)),
    "7_a_2": ("checkerboard", lambda x, e: ibsi.wavelet(x, "haar", "HHH", level=2, rotation_invariant=True,
                                                        mode=B["mirror"], backend=e)),
}

#: Gabor (by FFT per plane, no engine choice yet): id -> (phantom, filter call).
PHASE1_GABOR = {
    "4_a_1": ("impulse", lambda x: ibsi.gabor(x, 10.0, 4.0, gamma=0.5, theta=60, spacing=(SPACING,) * 3,
                                              mode=B["zero"])),
    "4_a_2": ("impulse", lambda x: ibsi.gabor(x, 10.0, 4.0, gamma=0.5, theta_step=45, planes="orthogonal",
                                              spacing=(SPACING,) * 3, mode=B["zero"])),
    "4_b_1": ("sphere", lambda x: ibsi.gabor(x, 20.0, 8.0, gamma=2.5, theta=225, spacing=(SPACING,) * 3,
                                             mode=B["mirror"])),
    "4_b_2": ("sphere", lambda x: ibsi.gabor(x, 20.0, 8.0, gamma=2.5, theta_step=22.5, planes="orthogonal",
                                             spacing=(SPACING,) * 3, mode=B["mirror"])),
}


#: Simoncelli and Riesz (by FFT, defined in the Fourier domain): id -> (phantom, filter call).
PHASE1_FOURIER = {
    "8_a_1": ("checkerboard", lambda x: ibsi.simoncelli(x, 1, mode=B["periodic"])),
    "8_a_2": ("checkerboard", lambda x: ibsi.simoncelli(x, 2, mode=B["periodic"])),
    "8_a_3": ("checkerboard", lambda x: ibsi.simoncelli(x, 3, mode=B["periodic"])),
    "9_a": ("impulse", lambda x: ibsi.riesz(x, (1, 0, 0), sigma=3.0, spacing=(SPACING,) * 3, mode=B["zero"])),
    "9_b_1": ("sphere", lambda x: ibsi.riesz(x, (0, 2, 0), sigma=3.0, spacing=(SPACING,) * 3, mode=B["zero"])),
    "10_b_1": ("pattern_1", lambda x: ibsi.riesz(x, (0, 2, 0), base="simoncelli", level=1, mode=B["nearest"])),
}

def read(path):
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # (z, y, x), x the first NIfTI axis


@needs_data
@pytest.mark.parametrize("engine", HOST_ENGINES)
@pytest.mark.parametrize("config", sorted(PHASE1))
def test_phase1_response_maps_match_the_consensus(config, engine):
    phantom, run = PHASE1[config]
    image = read(DATA / "digital_phantom" / phantom / "image" / f"{phantom}.nii.gz").astype(np.float32)
    ref = read(DATA / "reference_response_maps" / f"{config}-ValidCRM.nii.gz").astype(np.float64)
    out = run(image, engine)
    assert out.shape == ref.shape and out.dtype == np.float32
    error = np.abs(out - ref).max() / (ref.max() - ref.min())
    assert error <= 0.01, f"{config}: {100 * error:.3g}% of the range (IBSI's criterion: 1%)"
    assert error <= 1e-3  # what sep3d reaches (0.034% at worst, the LoG of 2.b): a regression shows here


@needs_data
@pytest.mark.parametrize("config", sorted(PHASE1_GABOR))
def test_phase1_gabor_maps_match_the_consensus(config):
    phantom, run = PHASE1_GABOR[config]
    image = read(DATA / "digital_phantom" / phantom / "image" / f"{phantom}.nii.gz").astype(np.float32)
    ref = read(DATA / "reference_response_maps" / f"{config}-ValidCRM.nii.gz").astype(np.float64)
    out = run(image)
    error = np.abs(out - ref).max() / (ref.max() - ref.min())
    assert error <= 0.01, f"{config}: {100 * error:.3g}% of the range (IBSI's criterion: 1%)"
    assert error <= 2e-3  # what sep3d reaches (0.09% at worst, 4.b.2)


@needs_data
@pytest.mark.parametrize("config", sorted(PHASE1_FOURIER))
def test_phase1_fourier_maps_match_the_consensus(config):
    phantom, run = PHASE1_FOURIER[config]
    image = read(DATA / "digital_phantom" / phantom / "image" / f"{phantom}.nii.gz").astype(np.float32)
    ref = read(DATA / "reference_response_maps" / f"{config}-ValidCRM.nii.gz").astype(np.float64)
    out = run(image)
    assert out.shape == ref.shape and out.dtype == np.float32
    error = np.abs(out - ref).max() / (ref.max() - ref.min())
    assert error <= 0.01, f"{config}: {100 * error:.3g}% of the range (IBSI's criterion: 1%)"
    assert error <= 4e-3  # what sep3d reaches (0.38% at worst, 8.a.1, whose band reaches the grid's corners)


@pytest.mark.parametrize("shape", [(9, 11, 13), (8, 10, 12)])
def test_riesz_of_order_zero_is_the_separable_log_and_second_orders_sum_to_minus_it(shape):
    """Oracles: the separable LoG plan (periodic), and the identity sum_a nu_a^2 / |nu|^2 = 1."""
    x = np.random.default_rng(5).normal(size=shape)
    log = ibsi.log(x, 1.2, mode="wrap")
    np.testing.assert_allclose(ibsi.riesz(x, (0, 0, 0), sigma=1.2, mode="wrap"), log, atol=1e-10)
    seconds = sum(ibsi.riesz(x, o, sigma=1.2, mode="wrap") for o in [(2, 0, 0), (0, 2, 0), (0, 0, 2)])
    # On an odd grid the DC sample is 0 in every Riesz component (|nu| = 0): compare without it.
    np.testing.assert_allclose(seconds - seconds.mean(), -(log - log.mean()), atol=1e-10)
    assert abs(seconds.mean()) < 1e-12 or shape[0] % 2 == 0


def test_simoncelli_bands_tile_the_spectrum_and_the_fft_matches_numpys_complex_one():
    """Levels 1..4 are a tight frame on an odd grid (squares sum to 1 between 1/16 and 1/2),
    and the real-FFT path equals numpy's complex FFT with the transfer function as given."""
    shape = (15, 17, 19)
    nu = np.sqrt(sum(np.meshgrid(*[g * g for g in ibsi.ibsi_frequencies(shape)], indexing="ij")))
    squares = sum(ibsi.simoncelli_transfer(shape, j) ** 2 for j in range(1, 5))
    inside = (nu >= 1 / 16) & (nu <= 1 / 2)
    np.testing.assert_allclose(squares[inside], 1.0, atol=1e-12)
    x = np.random.default_rng(6).normal(size=(8, 10, 12))
    h = ibsi.simoncelli_transfer(x.shape, 2) * ibsi.riesz_transfer(x.shape, (1, 0, 1))
    expected = np.fft.ifftn(np.fft.fftn(x) * h).real
    np.testing.assert_allclose(ibsi.riesz(x, (1, 0, 1), base="simoncelli", level=2, mode="wrap"), expected,
                               atol=1e-12)
    two_d = ibsi.simoncelli(x, 1, dimensions=2, mode="wrap")
    h2 = ibsi.simoncelli_transfer(x.shape[1:], 1)
    np.testing.assert_allclose(two_d, np.fft.ifft2(np.fft.fft2(x) * h2).real, atol=1e-12)

def test_gabor_kernel_is_ibsis_formula_on_the_grid():
    """Direct evaluation of the formula at a few physical offsets (rows y, columns x)."""
    k = ibsi.gabor_kernel(2.0, 3.0, 0.5, np.radians(30), spacing=(0.5, 1.0), truncate=2.0)
    ry, rx = k.shape[0] // 2, k.shape[1] // 2
    assert (ry, rx) == (16, 8)                       # 2 * sigma / gamma = 8 mm: 16 rows of 0.5 mm, 8 columns
    for i, j in [(0, 0), (3, -2), (-16, 8), (5, 7)]:
        y, x = 0.5 * i, 1.0 * j
        u, v = x * np.cos(np.radians(30)) + y * np.sin(np.radians(30)), -x * np.sin(np.radians(30)) + y * np.cos(np.radians(30))
        expected = np.exp(-(u * u + 0.25 * v * v) / 8.0) * np.exp(2j * np.pi * u / 3.0)
        assert np.isclose(k[ry + i, rx + j], expected, rtol=1e-12, atol=1e-15)


def image_rotations(x):
    """The 24 right-angle rotations of a cube as (rotate, unrotate) pairs, from np.rot90."""
    found, seen = [], set()
    probe = np.arange(27).reshape(3, 3, 3)
    steps = [(1, (0, 1)), (1, (0, 2)), (1, (1, 2))]
    for seq in itertools.product(range(4), repeat=3):
        def rotate(a, seq=seq, inverse=False):
            ops = [(k, axes) for k, (_, axes) in zip(seq, steps)]
            for k, axes in (reversed(ops) if inverse else ops):
                a = np.rot90(a, -k if inverse else k, axes)
            return a
        key = rotate(probe).tobytes()
        if key not in seen:
            seen.add(key)
            found.append((rotate, lambda a, r=rotate: r(a, inverse=True)))
    assert len(found) == 24
    return found


@pytest.mark.parametrize("pooling", ["max", "min", "mean", "sum"])
@pytest.mark.parametrize("kernel", ["E5L5S5", "E3W5R5", "L3E3S3"])
def test_rotation_invariance_equals_pooling_over_rotated_images(kernel, pooling):
    """conv(x, R k) = R conv(R^-1 x, k) on a periodic cube: the kernel rotations ibsi.rotations
    builds must give the same pool as filtering the 24 rotated images with the kernel itself."""
    x = np.random.default_rng(0).normal(size=(12, 12, 12))
    got = ibsi.laws(x, kernel, rotation_invariant=True, pooling=pooling, mode="wrap")
    responses = [undo(ibsi.laws(rot(x).copy(), kernel, mode="wrap")) for rot, undo in image_rotations(x)]
    stack = np.stack(responses)
    # repeated kernels count once in sep3d's pool: compare max/min directly, mean over the distinct ones
    if pooling == "max":
        ref = stack.max(0)
    elif pooling == "min":
        ref = stack.min(0)
    else:
        distinct = {r.round(12).tobytes(): r for r in responses}
        ref = np.sum(list(distinct.values()), axis=0)
        if pooling == "mean":
            ref = ref / len(distinct)
    # (a kernel with an antisymmetric factor has rotations in +- pairs: its mean and sum vanish)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(stack).max())


def test_rotations_collapse_symmetric_and_equal_kernels():
    l5, e5, s5 = (ibsi.LAWS_KERNELS[k] for k in ("L5", "E5", "S5"))
    assert len(ibsi.rotations([l5, l5, l5])) == 1          # symmetric, equal on every axis
    assert len(ibsi.rotations([s5, l5, e5])) == 12         # flips of the two symmetric axes collapse
    assert len(ibsi.rotations(ibsi.laws_kernels("E3W5R5"))) == 24
    assert len(ibsi.rotations(ibsi.laws_kernels("L5S5"))) == 2  # in-plane: 90 degrees swaps, 180 changes nothing
    assert len(ibsi.rotations(ibsi.laws_kernels("E5S5"))) == 4


def test_laws_kernel_names_and_normalisation():
    s5, l5, e5 = ibsi.laws_kernels("E5L5S5")              # listed from x: E5 is the last axis
    np.testing.assert_array_equal(e5, np.array([-1, -2, 0, 2, 1]) / np.sqrt(10))
    np.testing.assert_array_equal(l5, np.array([1, 4, 6, 4, 1]) / np.sqrt(70))
    for taps in ibsi.LAWS_KERNELS.values():
        assert np.isclose(np.sum(taps ** 2), 1.0)


def test_wavelet_kernels_are_pywavelets_taps_dilated_at_level_two():
    import pywt

    db2, haar = pywt.Wavelet("db2"), pywt.Wavelet("haar")
    z, y, x = ibsi.wavelet_kernels("db2", "LHL")
    # 4 taps centred at index 2 (len // 2), as an odd kernel centred at its middle: a zero after them
    np.testing.assert_array_equal(x, np.append(db2.dec_lo, 0.0))
    np.testing.assert_array_equal(y, np.append(db2.dec_hi, 0.0))
    np.testing.assert_array_equal(z, x)
    # level 2: the level-1 low-pass, then the high-pass with a zero between its taps and after the last
    _, x2 = ibsi.wavelet_kernels("haar", "HH", 2)
    level2 = np.convolve(haar.dec_lo, [haar.dec_hi[0], 0.0, haar.dec_hi[1], 0.0])  # centre 1 + 2 = 3
    np.testing.assert_allclose(x2, np.concatenate([level2, [0.0, 0.0]]))


@pytest.mark.parametrize("call, error, match", [
    (lambda x: ibsi.laws(x, "E5L5Q5"), ValueError, "`kernel` must be made of"),
    (lambda x: ibsi.laws(x, "E5L"), ValueError, "`kernel` must name 2 or 3 Laws kernels"),
    (lambda x: ibsi.laws(x, "E5L5S5", rotation_invariant=True, pooling="median"), ValueError, "`pooling` must be one of"),
    (lambda x: ibsi.laws(x[0], "E5L5S5"), ValueError, "`image` must have at least 3 axes"),
    (lambda x: ibsi.mean(x, 5, dimensions=4), ValueError, "`dimensions` must be 2"),
    (lambda x: ibsi.wavelet(x, "db99", "LHL"), ValueError, "`wavelet` must be a PyWavelets discrete wavelet"),
    (lambda x: ibsi.wavelet(x, "db2", "LXL"), ValueError, "`band` must be 2 or 3 letters"),
    (lambda x: ibsi.wavelet(x, "db2", "LHL", level=0), ValueError, "`level` must be an int >= 1"),
    (lambda x: ibsi.gabor(x, 2.0, 3.0, response="phase"), ValueError, "`response` must be one of"),
    (lambda x: ibsi.gabor(x, 2.0, 3.0, planes="coronal"), ValueError, "`planes` must be one of"),
    (lambda x: ibsi.gabor(x[0, 0], 2.0, 3.0), ValueError, "`image` must have at least 2 axes"),
    (lambda x: ibsi.gabor(x, 2.0, 3.0, mode="periodic"), ValueError, "`mode` must be one of"),
    (lambda x: ibsi.simoncelli(x, 0), ValueError, "`level` must be an int >= 1"),
    (lambda x: ibsi.simoncelli(x, 1, mode="periodic"), ValueError, "`mode` must be one of"),
    (lambda x: ibsi.riesz(x, (1, 0, 0, 0), sigma=1.0), ValueError, "`order` must be 2 or 3 ints"),
    (lambda x: ibsi.riesz(x, (1, -1, 0), sigma=1.0), ValueError, "`order` must be 2 or 3 ints"),
    (lambda x: ibsi.riesz(x, (1, 0, 0)), ValueError, "`sigma` is needed with base='log'"),
    (lambda x: ibsi.riesz(x, (1, 0, 0), base="gabor"), ValueError, "`base` must be one of"),
])
def test_bad_arguments_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call(np.zeros((6, 6, 6), np.float32))


# ---------------------------------------------------------------------------------------
# Phase 2: the 18 intensity statistics of the filtered CT phantom inside its mask

needs_ct = pytest.mark.skipif(not (DATA / "ct_phantom" / "image.nii.gz").is_file(),
                              reason=f"IBSI 2 CT phantom not found at {DATA} (set SEP3D_IBSI2_DATA; it is CC-BY-NC "
                                     "and not in the repository)")

#: Phase-2 configurations with the filters sep3d has so far: "A" 2-D on the original grid,
#: "B" 3-D on the 1 mm grid (mirror boundary, sep3d's default).
PHASE2 = {
    "1": (lambda x, sp: x, lambda x: x),
    "2": (lambda x, sp: ibsi.mean(x, 5, dimensions=2), lambda x: ibsi.mean(x, 5)),
    "3": (lambda x, sp: ibsi.log(x, 1.5, spacing=sp, dimensions=2), lambda x: ibsi.log(x, 1.5, spacing=(1.0,) * 3)),
    "4": (lambda x, sp: ibsi.laws(x, "L5E5", energy=True, delta=7, rotation_invariant=True, pooling="max"),
          lambda x: ibsi.laws(x, "L5E5E5", energy=True, delta=7, rotation_invariant=True, pooling="max")),
    "6": (lambda x, sp: ibsi.wavelet(x, "db3", "LH", rotation_invariant=True, pooling="mean"),
          lambda x: ibsi.wavelet(x, "db3", "LLH", rotation_invariant=True, pooling="mean")),
    "5": (lambda x, sp: ibsi.gabor(x, 5.0, 2.0, gamma=1.5, theta_step=22.5, spacing=(3.0,) + tuple(sp)),
          lambda x: ibsi.gabor(x, 5.0, 2.0, gamma=1.5, theta_step=22.5, planes="orthogonal", spacing=(1.0,) * 3)),
    "7": (lambda x, sp: ibsi.wavelet(x, "db3", "HH", level=2, rotation_invariant=True, pooling="mean"),
          lambda x: ibsi.wavelet(x, "db3", "HHH", level=2, rotation_invariant=True, pooling="mean")),
    "8": (lambda x, sp: ibsi.simoncelli(x, 1, dimensions=2, mode=B["periodic"]),
          lambda x: ibsi.simoncelli(x, 1, mode=B["periodic"])),
    "9": (lambda x, sp: ibsi.simoncelli(x, 2, dimensions=2, mode=B["periodic"]),
          lambda x: ibsi.simoncelli(x, 2, mode=B["periodic"])),
}


@pytest.fixture(scope="module")
def ct_phantom():
    from sep3d.radiomics.statistics import resample_isotropic, resegment

    image = sitk.ReadImage(str(DATA / "ct_phantom" / "image.nii.gz"))
    mask = sitk.ReadImage(str(DATA / "ct_phantom" / "mask.nii.gz"))
    original = sitk.GetArrayFromImage(image).astype(np.float32)
    resampled = sitk.GetArrayFromImage(resample_isotropic(image, 1.0, fill=-1000.0)).astype(np.float32)
    resampled_mask = sitk.GetArrayFromImage(resample_isotropic(mask, 1.0, mask=True))
    return {
        "A": (original, resegment(sitk.GetArrayFromImage(mask), original, -1000, 400), image.GetSpacing()[1::-1]),
        "B": (resampled, resegment(resampled_mask, resampled, -1000, 400), (1.0,) * 3),
    }


def phase2_reference():
    import csv

    ref = {}
    with open(DATA / "reference_values.csv", newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            if row["consensus_value"]:  # 8.B's quartile coefficient has no consensus
                ref.setdefault(row["filter_id"], {})[row["feature_tag"]] = (float(row["consensus_value"]),
                                                                           float(row["tolerance"]))
    return ref


@needs_ct
@pytest.mark.parametrize("variant", ["A", "B"])
@pytest.mark.parametrize("config", sorted(PHASE2))
def test_phase2_statistics_match_the_consensus(ct_phantom, config, variant):
    from sep3d.radiomics.statistics import STATISTICS, intensity_statistics

    image, roi, spacing = ct_phantom[variant]
    two_d, three_d = PHASE2[config]
    filtered = two_d(image, spacing) if variant == "A" else three_d(image)
    stats = intensity_statistics(filtered[roi])
    assert tuple(stats) == STATISTICS
    expected = phase2_reference()[f"{config}.{variant}"]
    off = {tag: f"{stats[tag]:.4g} vs {value} +- {tol}" for tag, (value, tol) in expected.items()
           if not abs(stats[tag] - value) <= tol}
    assert not off, f"{config}.{variant}: {off}"
    assert len(expected) == (17 if config == "8" and variant == "B" else 18)  # 8.B's qcod has no consensus


def test_intensity_statistics_against_scipy_stats():
    from scipy import stats as st

    from sep3d.radiomics.statistics import intensity_statistics

    x = np.random.default_rng(3).gamma(2.0, 50.0, size=5000) - 40.0
    got = intensity_statistics(x)
    np.testing.assert_allclose(got["stat_var"], np.var(x), rtol=1e-12)
    np.testing.assert_allclose(got["stat_skew"], st.skew(x), rtol=1e-10)
    np.testing.assert_allclose(got["stat_kurt"], st.kurtosis(x, fisher=True), rtol=1e-10)   # excess
    np.testing.assert_allclose(got["stat_iqr"], st.iqr(x), rtol=1e-12)
    np.testing.assert_allclose(got["stat_medad"], np.mean(np.abs(x - np.median(x))), rtol=1e-12)
    p25, p75 = np.percentile(x, [25, 75])
    np.testing.assert_allclose(got["stat_qcod"], (p75 - p25) / (p75 + p25), rtol=1e-12)
    np.testing.assert_allclose(got["stat_rms"], np.sqrt(np.mean(x ** 2)), rtol=1e-12)
    with pytest.raises(ValueError, match="at least one value"):
        intensity_statistics([])
