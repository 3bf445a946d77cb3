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
from sep3d.radiomics import ibsi2

from conftest import HOST_ENGINES

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEP3D_IBSI2_DATA") or ROOT.parent / "shared" / "ibsi2")
needs_data = pytest.mark.skipif(not (DATA / "reference_response_maps").is_dir(),
                                reason=f"IBSI 2 reference data not found at {DATA} (set SEP3D_IBSI2_DATA)")

B = ibsi.IBSI_BOUNDARIES
SPACING = 2.0  # the digital phantoms' voxel size, mm

#: Phase-1 configurations run by FFT, whatever the engine (Gabor, Simoncelli, Riesz).
FFT_CONFIGS = {test_id for test_id in ibsi2.PHASE1 if test_id.split(".")[0] in ("4", "8", "9", "10")}


def read(path):
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # (z, y, x), x the first NIfTI axis


@needs_data
@pytest.mark.parametrize("engine", HOST_ENGINES)
@pytest.mark.parametrize("config", sorted(set(ibsi2.PHASE1) - FFT_CONFIGS))
def test_phase1_separable_maps_match_the_consensus(config, engine):
    (result,) = ibsi2.phase1(DATA, engine, only=[config])
    assert result.passed, ibsi2.format_result(result)  # IBSI's criterion: 1% of the consensus map's range
    assert result.error <= 0.1  # what sep3d reaches (0.034% at worst, the LoG of 2.b): a regression shows here


@needs_data
@pytest.mark.parametrize("config", sorted(FFT_CONFIGS))
def test_phase1_fft_maps_match_the_consensus(config):
    (result,) = ibsi2.phase1(DATA, "auto", only=[config])
    assert result.passed, ibsi2.format_result(result)
    # what sep3d reaches: 0.09% (Gabor 4.b.2), 0.38% (Simoncelli 8.a.1, whose band reaches the grid's corners)
    assert result.error <= 0.4


@needs_data
def test_phase1_maps_are_float32_like_the_consensus():
    image = read(DATA / "digital_phantom" / "impulse" / "image" / "impulse.nii.gz")
    for test_id in ("2.a", "3.a.3", "4.a.1", "8.a.1", "9.a"):
        out = ibsi2.PHASE1[test_id][2](image, "auto")
        assert out.dtype == np.float32, test_id
        assert out.shape == image.shape


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

@pytest.mark.parametrize("method", ["fft", "separable"])
@pytest.mark.parametrize("response, pooling, mode", [("modulus", "max", "reflect"), ("real", "mean", "constant"),
                                                      ("imaginary", "max", "nearest"), ("imaginary", "sum", "wrap")])
def test_gabor_orientations_planes_and_parts_match_direct_convolution(response, pooling, mode, method):
    """Oracle: scipy.ndimage.convolve of each plane with the real and imaginary kernels, one
    orientation at a time, pooled by NumPy (sep3d shares conjugate orientations and FFTs)."""
    from scipy import ndimage

    x = np.random.default_rng(8).normal(size=(7, 12, 13))
    spacing = (1.5, 1.0, 0.8)
    got = ibsi.gabor(x, 1.6, 2.5, gamma=0.7, theta_step=45, planes="orthogonal", pooling=pooling,
                     response=response, spacing=spacing, truncate=2.0, mode=mode, method=method, rtol=1e-9)
    part = {"modulus": np.abs, "real": np.real, "imaginary": np.imag}[response]
    planes = []
    for axes in [(1, 2), (0, 2), (0, 1)]:
        responses = []
        for angle in range(0, 360, 45):
            k = ibsi.gabor_kernel(1.6, 2.5, 0.7, np.radians(angle), spacing=tuple(spacing[a] for a in axes),
                                  truncate=2.0)
            k = np.expand_dims(k, [a for a in range(3) if a not in axes][0])
            responses.append(part(ndimage.convolve(x, k.real, mode=mode) + 1j * ndimage.convolve(x, k.imag, mode=mode)))
        stack = np.stack(responses)
        planes.append({"max": stack.max(0), "mean": stack.mean(0), "sum": stack.sum(0)}[pooling])
    np.testing.assert_allclose(got, np.mean(planes, axis=0), atol=1e-8)


def test_gabor_terms_reach_their_accuracy_with_few_terms():
    """Oracle: the kernel itself (numpy outer products); gamma = 1 and axis-aligned kernels are rank 1."""
    for gamma, theta, rank in [(1.0, 30, 1), (1.5, 0, 1), (1.5, 90, 1), (1.5, 45, None)]:
        k = ibsi.gabor_kernel(5.0, 2.0, gamma, np.radians(theta))
        for rtol in (1e-2, 1e-4, 1e-6):
            terms = ibsi.gabor_terms(k, rtol)
            approx = sum(np.outer(c, r) for c, r in terms)
            assert np.linalg.norm(approx - k) <= rtol * np.linalg.norm(k) * (1 + 1e-9)
            assert rank is None or len(terms) == rank
            assert len(terms) < 12


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


ROTATED_FILTERS = {
    "laws E5L5S5": lambda x, **kw: ibsi.laws(x, "E5L5S5", mode="wrap", **kw),
    "laws E3W5R5": lambda x, **kw: ibsi.laws(x, "E3W5R5", mode="wrap", **kw),
    "laws L3E3S3": lambda x, **kw: ibsi.laws(x, "L3E3S3", mode="wrap", **kw),
    "db3 LLH": lambda x, **kw: ibsi.wavelet(x, "db3", "LLH", mode="wrap", **kw),
    "coif1 HHL": lambda x, **kw: ibsi.wavelet(x, "coif1", "HHL", mode="wrap", **kw),
    "db2 LHH level 2": lambda x, **kw: ibsi.wavelet(x, "db2", "LHH", level=2, mode="wrap", **kw),
    "haar HHH level 2": lambda x, **kw: ibsi.wavelet(x, "haar", "HHH", level=2, mode="wrap", **kw),
    # a boundary at every level (not periodic): the stages run one after the other
    "db3 LLH level 2 reflect": lambda x, **kw: ibsi.wavelet(x, "db3", "LLH", level=2, mode="reflect", **kw),
    "coif1 HLH level 3 reflect": lambda x, **kw: ibsi.wavelet(x, "coif1", "HLH", level=3, mode="reflect", **kw),
}


@pytest.mark.parametrize("pooling", ["max", "min", "mean", "sum"])
@pytest.mark.parametrize("kernel", sorted(ROTATED_FILTERS))
def test_rotation_invariance_equals_pooling_over_rotated_images(kernel, pooling):
    """conv(x, R k) = R conv(R^-1 x, k) on a periodic cube: the kernel rotations ibsi.rotations
    builds (the few terms of a linear pool, the +- pairs of a max/min pool) must give the same
    pool as filtering the 24 rotated images with the kernel itself."""
    run = ROTATED_FILTERS[kernel]
    x = np.random.default_rng(0).normal(size=(16, 16, 16))
    got = run(x, rotation_invariant=True, pooling=pooling)
    responses = [undo(run(rot(x).copy())) for rot, undo in image_rotations(x)]
    stack = np.stack(responses)
    # repeated kernels count once in sep3d's pool: compare max/min directly, mean over the distinct ones
    if pooling == "max":
        ref = stack.max(0)
    elif pooling == "min":
        ref = stack.min(0)
    else:
        distinct = []  # equal up to rounding: one response
        for r in responses:
            if not any(np.allclose(r, d, rtol=0, atol=1e-9) for d in distinct):
                distinct.append(r)
        ref = np.sum(distinct, axis=0)
        if pooling == "mean":
            ref = ref / len(distinct)
    # (a kernel with an antisymmetric factor has rotations in +- pairs: its mean and sum vanish)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(stack).max())


@pytest.mark.parametrize("pooling", ["max", "mean"])
@pytest.mark.parametrize("name", ["L5E5", "db3 LH"])
def test_in_plane_rotation_invariance_equals_pooling_over_rotated_slices(name, pooling):
    x = np.random.default_rng(1).normal(size=(3, 14, 14))
    run = ((lambda a, **kw: ibsi.laws(a, "L5E5", mode="wrap", **kw)) if name == "L5E5" else
           (lambda a, **kw: ibsi.wavelet(a, "db3", "LH", mode="wrap", **kw)))
    stack = np.stack([np.rot90(run(np.rot90(x, k, (1, 2)).copy()), -k, (1, 2)) for k in range(4)])
    got = run(x, rotation_invariant=True, pooling=pooling)
    ref = stack.max(0) if pooling == "max" else np.mean(list({r.round(12).tobytes(): r for r in stack}.values()), 0)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(stack).max())


@pytest.mark.parametrize("mode", ["reflect", "nearest", "constant", "wrap"])
@pytest.mark.parametrize("wavelet, band, level", [("db3", "HHH", 2), ("db2", "LHL", 3), ("coif1", "HL", 2)])
def test_wavelet_levels_apply_the_boundary_level_by_level(wavelet, band, level, mode):
    """Oracle: scipy.ndimage.convolve1d, one level after the other, every level extended by
    the boundary (IBSI's undecimated transform, as MIRP computes it): the low-pass dilated
    by 2**(j-1) at each level below `level`, then the band's filters dilated by 2**(level-1)."""
    import pywt
    from scipy import ndimage

    w = pywt.Wavelet(wavelet)
    x = np.random.default_rng(4).normal(size=(9, 30, 34))
    ref = x.copy()
    axes = list(range(3 - len(band), 3))
    for j in range(1, level + 1):
        for axis, letter in zip(axes, band[::-1]):  # letters from x: the last axis first
            taps = np.asarray(w.dec_lo if (j < level or letter == "L") else w.dec_hi)
            taps = np.append(taps, [0.0] * (1 - taps.size % 2))  # odd: centred at the even taps' len // 2
            dilated = np.zeros((taps.size - 1) * 2 ** (j - 1) + 1)
            dilated[::2 ** (j - 1)] = taps
            ref = ndimage.convolve1d(ref, dilated, axis=axis, mode=mode)
    got = ibsi.wavelet(x, wavelet, band, level=level, mode=mode)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_a_rotation_mean_is_a_few_terms():
    """L, L, H: 3 terms (symmetric parts, one per axis the H part takes); H, H, H: one; a kernel
    with an antisymmetric factor: none (its rotations come in +- pairs)."""
    assert len(ibsi.rotation_mean_terms(ibsi.wavelet_kernels("db3", "LLH"))) == 3
    assert len(ibsi.rotation_mean_terms(ibsi.wavelet_kernels("db3", "HHH", 2))) == 1
    assert ibsi.rotation_mean_terms(ibsi.laws_kernels("E5L5S5")) == []
    assert len(ibsi._signed_groups(ibsi.rotations(ibsi.laws_kernels("E5L5S5")))) == 6


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
    (lambda x: ibsi.gabor(x, 2.0, 3.0, method="direct"), ValueError, "`method` must be one of"),
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

@pytest.fixture(scope="module")
def ct_phantom():
    return ibsi2.ct_phantom(DATA)


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
@pytest.mark.parametrize("config", sorted(ibsi2.PHASE2))
def test_phase2_statistics_match_the_consensus(ct_phantom, config, variant):
    from sep3d.radiomics.statistics import STATISTICS, intensity_statistics

    image, roi, spacing = ct_phantom[variant]
    _, two_d, three_d = ibsi2.PHASE2[config]
    filtered = two_d(image, spacing, "auto") if variant == "A" else three_d(image, "auto")
    stats = intensity_statistics(filtered[roi])
    assert tuple(stats) == STATISTICS
    expected = phase2_reference()[f"{config}.{variant}"]
    off = {tag: f"{stats[tag]:.4g} vs {value} +- {tol}" for tag, (value, tol) in expected.items()
           if not abs(stats[tag] - value) <= tol}
    assert not off, f"{config}.{variant}: {off}"
    assert len(expected) == (17 if config == "8" and variant == "B" else 18)  # 8.B's qcod has no consensus


@needs_data
def test_ibsi2_command_runs_phase1_and_fails_on_a_map_it_does_not_match(tmp_path, capsys):
    from sep3d.cli import main

    assert main(["ibsi2", "--data", str(DATA), "--phase", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("PASS  1 ") for line in lines) == 33 == len(ibsi2.PHASE1)
    assert lines[-1].startswith("Phase 1: 33/33 passed")
    # A data folder whose 2.a consensus map is 2% of its range off: that line fails, the exit code says so.
    for name in ("digital_phantom", "ct_phantom", "reference_values.csv"):
        (tmp_path / name).symlink_to(DATA / name)
    maps = tmp_path / "reference_response_maps"
    maps.mkdir()
    for f in (DATA / "reference_response_maps").iterdir():
        (maps / f.name).symlink_to(f)
    ref = sitk.ReadImage(str(DATA / "reference_response_maps" / "2_a-ValidCRM.nii.gz"))
    arr = sitk.GetArrayFromImage(ref)
    arr[0, 0, 0] += 0.02 * (arr.max() - arr.min())
    (maps / "2_a-ValidCRM.nii.gz").unlink()
    shifted = sitk.GetImageFromArray(arr)
    shifted.CopyInformation(ref)
    sitk.WriteImage(shifted, str(maps / "2_a-ValidCRM.nii.gz"))
    assert main(["ibsi2", "--data", str(tmp_path), "--phase", "1", "--only", "2.a,2.b"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  1  2.a" in out and "PASS  1  2.b" in out and "Phase 1: 1/2 passed" in out


@needs_ct
def test_ibsi2_command_runs_phase2(capsys):
    from sep3d.cli import main

    assert main(["ibsi2", "--data", str(DATA), "--phase", "2", "--only", "1.A,8.B"]) == 0
    out = capsys.readouterr().out
    assert "PASS  2  1.A" in out and "PASS  2  8.B" in out and "Phase 2: 2/2 passed" in out


def test_ibsi2_command_names_what_the_data_folder_lacks(tmp_path, capsys):
    from sep3d.cli import main

    (tmp_path / "digital_phantom").mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["ibsi2", "--data", str(tmp_path), "--phase", "1"])
    assert exit_.value.code == 2
    assert "lacks ['reference_response_maps']" in capsys.readouterr().err
    # a folder laid out as the IBSI's (empty files will do: the ids are checked before any is read)
    (tmp_path / "reference_response_maps").mkdir()
    (tmp_path / "ct_phantom").mkdir()
    for name in ("ct_phantom/image.nii.gz", "ct_phantom/mask.nii.gz", "reference_values.csv"):
        (tmp_path / name).touch()
    with pytest.raises(SystemExit) as exit_:
        main(["ibsi2", "--data", str(tmp_path), "--only", "2.z"])
    assert exit_.value.code == 2
    assert "unknown test ids ['2.z']" in capsys.readouterr().err


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


@needs_data
@pytest.mark.parametrize("config, phantom, call", [
    ("2_a", "impulse", lambda a: a.sep3d.ibsi.log(3.0, dims=("z", "y", "x"), mode="constant")),
    ("3_a_3", "impulse", lambda a: a.sep3d.ibsi.laws("E5L5S5", energy=True, rotation_invariant=True,
                                                     dims=("z", "y", "x"), mode="constant")),
    ("4_a_1", "impulse", lambda a: a.sep3d.ibsi.gabor(10.0, 4.0, gamma=0.5, theta=60, dims=("z", "y", "x"),
                                                      mode="constant")),
    ("9_a", "impulse", lambda a: a.sep3d.ibsi.riesz((1, 0, 0), sigma=3.0, dims=("z", "y", "x"), mode="constant")),
    ("2_c", "checkerboard", lambda a: a.sep3d.ibsi.log(5.0, dimensions=2, dims=("z", "y", "x"))),
    ("8_a_2", "checkerboard", lambda a: a.sep3d.ibsi.simoncelli(2, dims=("z", "y", "x"), mode="wrap")),
])
@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
def test_xarray_accessor_with_mm_coordinates_and_dask_matches_the_consensus(config, phantom, call, lazy):
    """Dimensions stored as (x, y, z) with 2 mm coordinates: the accessor moves them to (z, y, x),
    takes the spacing from the coordinates, keeps dask lazy, and gives the consensus map back."""
    import xarray as xr

    image = read(DATA / "digital_phantom" / phantom / "image" / f"{phantom}.nii.gz").astype(np.float32)
    ref = read(DATA / "reference_response_maps" / f"{config}-ValidCRM.nii.gz").astype(np.float64)
    coords = {d: SPACING * np.arange(n) for d, n in zip("zyx", image.shape)}
    da = xr.DataArray(image, dims=("z", "y", "x"), coords=coords, name="ct").transpose("x", "y", "z")
    if lazy:
        da = da.chunk({"x": 32, "y": 64, "z": 32})
    out = call(da)
    assert out.dims == ("x", "y", "z") and out.name == "ct" and float(out.x[1]) == SPACING
    assert (type(out.data).__module__.startswith("dask")) == lazy
    values = out.transpose("z", "y", "x").values.astype(np.float64)
    assert np.abs(values - ref).max() <= 0.01 * (ref.max() - ref.min())


def test_xarray_accessor_names_bad_dims():
    import xarray as xr

    da = xr.DataArray(np.zeros((4, 5, 6)), dims=("z", "y", "x"))
    with pytest.raises(ValueError, match="`dims` must name 2 or 3 distinct dimensions"):
        da.sep3d.ibsi.mean(3, dims=("z", "t"))
    with pytest.raises(ValueError, match="`units` must be one of"):
        da.sep3d.ibsi.log(1.0, units="mm")


@pytest.mark.parametrize("name, call", [
    ("mean", lambda x: ibsi.mean(x, 3)),
    ("log", lambda x: ibsi.log(x, 1.0)),
    ("laws max", lambda x: ibsi.laws(x, "E5L5S5", rotation_invariant=True, energy=True)),
    ("wavelet mean level 2", lambda x: ibsi.wavelet(x, "db2", "LLH", level=2, rotation_invariant=True)),
    ("wavelet max level 2", lambda x: ibsi.wavelet(x, "db2", "LLH", level=2, rotation_invariant=True,
                                                   pooling="max")),
    ("gabor fft", lambda x: ibsi.gabor(x, 1.0, 2.0, gamma=0.5, theta_step=90, method="fft")),
    ("gabor separable", lambda x: ibsi.gabor(x, 1.0, 2.0, gamma=0.5, theta_step=90, method="separable")),
    ("simoncelli", lambda x: ibsi.simoncelli(x, 1)),
    ("riesz", lambda x: ibsi.riesz(x, (0, 1, 1), sigma=1.0)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_output_contract_and_input_left_alone(name, call, dtype):
    x = (np.random.default_rng(9).normal(size=(7, 12, 11)) * 50).astype(dtype)
    before = x.copy()
    out = call(x)
    assert type(out) is np.ndarray and out.shape == x.shape
    assert out.dtype == (np.float64 if dtype == np.float64 else np.float32)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(x, before)


def test_run_plan_checks_the_plan_against_the_image():
    from sep3d.filters import plan_separable, run_plan

    plan = plan_separable(3, [1.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="`plan` filters 3 axes; `image` has 2"):
        run_plan(plan, np.zeros((4, 4)))
    two = ibsi._gabor_plan(ibsi.gabor_terms(ibsi.gabor_kernel(1.0, 2.0, 0.5, 0.3)), (1, 2), 3,
                           ("real", "imaginary"), "reflect", 0.0)
    with pytest.raises(ValueError, match="`plan` has 2 results: pass stacked=True"):
        run_plan(two, np.zeros((3, 8, 8)))
    x = np.random.default_rng(2).normal(size=(3, 9, 10))
    np.testing.assert_allclose(run_plan(plan, x), ndimage_correlate(x, [1.0, 2.0, 1.0]), atol=1e-12)


def ndimage_correlate(x, taps):
    from scipy import ndimage

    for axis in range(x.ndim):
        x = ndimage.correlate1d(x, taps, axis=axis, mode="reflect")
    return x


def test_ibsi2_run_rejects_a_bad_phase(tmp_path):
    with pytest.raises(ValueError, match="`phase` must be one of"):
        list(ibsi2.run(tmp_path, phase="3"))
