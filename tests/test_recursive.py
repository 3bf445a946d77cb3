"""The recursive (IIR) Gaussian: coefficients, engines and boundary modes.

Oracles: SimpleITK's RecursiveGaussian / LaplacianRecursiveGaussian filters (ITK's own
implementation of the same recursion), scipy.ndimage float64 (for the accuracy of the
recursive approximation and for the boundary modes, applied to the operator's own
impulse response as FIR taps), and the plain-Python reference :meth:`IIR.apply`.
"""
import json

import numpy as np
import pytest
import scipy.ndimage as ndi
import SimpleITK as sitk

import sep3d
from conftest import HOST_ENGINES, MODES, assert_close
from sep3d import filters
from sep3d._validate import Mode
from sep3d.kernels import IIR, RECURSIVE_TOLERANCE, recursive_gaussian
from sep3d.planner import gaussian_method


def itk_recursive_1d(x, sigma, order):
    img = sitk.GetImageFromArray(np.asarray(x, np.float64)[None, None, :])
    f = sitk.RecursiveGaussianImageFilter()
    f.SetSigma(float(sigma))
    f.SetOrder(order)
    f.SetDirection(0)
    return sitk.GetArrayFromImage(f.Execute(img))[0, 0].astype(np.float64)


def test_reach_holds_all_but_the_tolerance_of_the_impulse_response():
    op = recursive_gaussian(3.0, 2)
    wide = op.impulse_response(op.reach * 3)
    centre = wide.size // 2
    inside = np.abs(wide[centre - op.reach:centre + op.reach + 1]).sum()
    assert np.abs(wide).sum() - inside <= RECURSIVE_TOLERANCE * np.abs(wide).sum() * 1.01
    shorter = np.abs(wide[centre - op.reach + 1:centre + op.reach]).sum()
    assert np.abs(wide).sum() - shorter > RECURSIVE_TOLERANCE * np.abs(wide).sum()


@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("sigma", [0.5, 1.3, 4.0])
def test_coefficients_reproduce_itk_recursive_gaussian(sigma, order):
    x = np.zeros(120)
    x[60], x[20], x[3:9], x[-2:] = 1.0, -3.0, 2.0, 5.0
    ref = itk_recursive_1d(x, sigma, order)
    got = recursive_gaussian(sigma, order).apply(x)
    # SimpleITK returns float32: its own rounding bounds the agreement
    assert np.abs(got - ref).max() <= 2e-7 * np.abs(ref).max()


def test_recursive_smoothing_approximates_the_sampled_gaussian():
    """The documented accuracy: < 0.5% of the peak at sigma >= 2 samples (Deriche's fit)."""
    for sigma in (2.0, 5.0, 10.0):
        op = recursive_gaussian(sigma, 0)
        h = op.impulse_response(op.reach)
        x = np.arange(-op.reach, op.reach + 1)
        g = np.exp(-0.5 * (x / sigma) ** 2)
        g /= g.sum()
        assert np.abs(h - g).max() < 5e-3 * g.max()
        assert abs(h.sum() - 1.0) < 1e-9


@pytest.mark.parametrize("engine", HOST_ENGINES)
@pytest.mark.parametrize("order", [0, 1, 2])
def test_engine_matches_plain_reference_on_every_axis(order, engine):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 11, 13))
    op = recursive_gaussian(1.7, order)
    for axis in range(3):
        ref = np.apply_along_axis(op.apply, axis, x)
        ops = [None] * 3
        ops[axis] = op
        plan = sep3d.plan.FilterPlan((sep3d.plan.Output((sep3d.plan.Term(1.0, tuple(ops)),)),),
                                     (Mode.NEAREST,) * 3)
        got = np.empty_like(x)
        sep3d.backends.execute(plan, x, [got], backend=engine, temp_dtype=x.dtype, compute_dtype=x.dtype)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def _run_op(x, op, axis, mode, cval=0.5, dtype=None, engine="cpu"):
    ops = [None] * x.ndim
    ops[axis] = op
    plan = sep3d.plan.FilterPlan((sep3d.plan.Output((sep3d.plan.Term(1.0, tuple(ops)),)),),
                                 (Mode[mode.upper()],) * x.ndim, cval=cval)
    got = np.empty_like(x)
    dt = x.dtype if dtype is None else dtype
    sep3d.backends.execute(plan, x, [got], backend=engine, temp_dtype=dt, compute_dtype=dt)
    return got


@pytest.mark.parametrize("engine", HOST_ENGINES)
@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_equals_scipy_with_the_operators_own_taps(mode, axis, engine):
    """Every mode: the same as correlating with the impulse response (the boundary states
    are the sections' responses over the extension), on the panel and the line kernels."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 11, 40))
    op = recursive_gaussian(2.5, 1)
    taps = op.impulse_response(op.reach)[::-1]
    ref = ndi.correlate1d(x, taps, axis=axis, mode=mode, cval=0.5)
    got = _run_op(x, op, axis, mode, engine=engine)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-8 * np.abs(ref).max())


@pytest.mark.numba_engine
@pytest.mark.parametrize("order", [0, 1, 2])
def test_reflect_starts_from_the_anticausal_pass_as_from_the_dot_products(order):
    """reflect with mirrored sections (IIR.mirror_sign) derives the causal starts from the
    anticausal outputs; the same operator without the sign takes the dot products: the
    two agree, and equal scipy with the operator's own taps, on every axis."""
    op = recursive_gaussian(3.0, order)
    assert op.mirror_sign == (-1 if order == 1 else 1)
    plain = IIR(op.coef[0:4], op.coef[4:8], op.coef[8:12])
    object.__setattr__(plain, "mirror_sign", 0)
    rng = np.random.default_rng(8)
    for shape in [(2, 70, 3), (40, 5, 33), (7, 9, 2)]:
        x = rng.standard_normal(shape)
        for axis in range(3):
            got = _run_op(x, op, axis, "reflect")
            ref = ndi.correlate1d(x, op.impulse_response(op.reach)[::-1], axis=axis, mode="reflect")
            # both are exact up to the mass beyond the reach (RECURSIVE_TOLERANCE = 1e-9 of
            # sum |h|), relative to the data's scale
            tol = 1e-8 * np.abs(x).max() * np.abs(op.impulse_response(op.reach)).sum()
            np.testing.assert_allclose(got, _run_op(x, plain, axis, "reflect"), rtol=0, atol=tol)
            np.testing.assert_allclose(got, ref, rtol=0, atol=tol)


@pytest.mark.parametrize("engine", HOST_ENGINES)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 9, 23])
@pytest.mark.parametrize("mode", MODES)
def test_lines_shorter_than_the_reach_in_every_mode(mode, n, engine):
    """The extension wraps or reflects many times over a short line (reach 50 > n)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, n, 13))
    op = recursive_gaussian(4.0, 0)
    taps = op.impulse_response(op.reach)[::-1]
    for axis in (1, 2) if n > 1 else (1,):
        y = np.moveaxis(x, 1, axis).copy()
        ref = ndi.correlate1d(y, taps, axis=axis, mode=mode, cval=-0.25)
        got = _run_op(y, op, axis, mode, cval=-0.25, engine=engine)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-8 * np.abs(ref).max())


def test_sections_are_the_direct_form():
    for sigma, order in [(0.7, 0), (3.0, 1), (16.0, 2), (40.0, 0)]:
        op = recursive_gaussian(sigma, order)
        assert op.sections is not None and op.sections.shape == (4, 4)
        length = 2 * op.reach + 1
        causal = sum(sec_resp(s, length) for s in op.sections[:2])
        anti = sum(sec_resp(s, length) for s in op.sections[2:])  # responds to x[t + 1 + i]
        h = op.impulse_response(op.reach)
        rebuilt = np.zeros_like(h)
        rebuilt[op.reach:] += causal[:op.reach + 1]
        rebuilt[:op.reach] += anti[:op.reach][::-1]
        np.testing.assert_allclose(rebuilt, h, rtol=0, atol=1e-9 * np.abs(h).max())


def sec_resp(section, length):
    p0, p1, a1, a2 = section
    h = np.zeros(length)
    x = np.zeros(length)
    x[0] = 1.0
    for t in range(length):
        h[t] = p0 * x[t] + p1 * (x[t - 1] if t else 0.0) - a1 * (h[t - 1] if t else 0.0) - a2 * (h[t - 2] if t > 1 else 0.0)
    return h


@pytest.mark.numba_engine
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_float32_recursion_stays_within_its_rounding_bound(axis):
    """float32 data recurses in float32 sections (sigma 16: bound 8e-6); float64 oracle: IIR.apply."""
    from sep3d.backends.cpu import IIR_FLOAT32_ERROR, iir_compute_dtype

    rng = np.random.default_rng(6)
    x = (rng.random((6, 7, 300)) * 1000 + 3000).astype(np.float32)  # a large offset: the hard case
    x = np.moveaxis(x, 2, axis).copy()
    op = recursive_gaussian(16.0, 0)
    assert iir_compute_dtype(op, np.float32) == np.float32
    assert op.float32_error <= IIR_FLOAT32_ERROR
    ref = np.apply_along_axis(op.apply, axis, x.astype(np.float64))
    got = _run_op(x, op, axis, "nearest")
    err = np.abs(got - ref).max() / np.abs(x).max()
    assert err <= op.float32_error
    assert err > 1e-8  # it did run in single precision
    wide = recursive_gaussian(40.0, 1)  # beyond the bound: float64 inside, one rounding at the end
    assert iir_compute_dtype(wide, np.float32) == np.float64
    ref = np.apply_along_axis(wide.apply, axis, x.astype(np.float64))
    got = _run_op(x, wide, axis, "nearest")
    assert np.abs(got - ref).max() <= 2e-7 * np.abs(ref).max()


@pytest.mark.parametrize("shape", [(5, 12, 21), (17, 3, 40)])
def test_adding_stores_of_recursive_passes(shape):
    """The LoG sums its passes into the result (store ADD), on the panel and the line kernels."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape)
    got = sep3d.laplacian_of_gaussian(x, 1.8, mode="reflect", method="recursive")
    ref = sum(_axis_chain(x, [recursive_gaussian(1.8, 2 if a == d else 0) for a in range(3)], "reflect")
              for d in range(3))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-8 * np.abs(ref).max())  # the reach: 1e-9 per pass


def _axis_chain(x, ops, mode):
    y = x.astype(np.float64)
    for axis, op in enumerate(ops):
        taps = op.impulse_response(op.reach)[::-1]
        y = ndi.correlate1d(y, taps, axis=axis, mode=mode)
    return y


@pytest.mark.parametrize("engine", HOST_ENGINES)
def test_recursions_without_partial_fractions_run_the_direct_form(engine):
    """A feedback with one repeated pole (1 - 0.6 z)^4 has no two coprime pole pairs."""
    d = np.poly([0.6] * 4)[1:]
    op = IIR([0.2, 0.1, 0.0, 0.0], d, [0.1, 0.05, 0.0, 0.0])
    assert op.sections is None and op.float32_error == np.inf
    x = np.random.default_rng(8).standard_normal((4, 6, 30))
    for axis in range(3):
        ref = np.apply_along_axis(op.apply, axis, x)
        got = _run_op(x, op, axis, "nearest", engine=engine)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_log_recursive_matches_simpleitk_laplacian_recursive_gaussian(dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((12, 30, 26)) * 200).astype(dtype)
    spacing = (2.5, 0.7, 0.8)  # z, y, x
    img = sitk.GetImageFromArray(x)
    img.SetSpacing(spacing[::-1])
    f = sitk.LaplacianRecursiveGaussianImageFilter()
    f.SetNormalizeAcrossScale(True)
    f.SetSigma(2.0)
    ref = sitk.GetArrayFromImage(f.Execute(img)).astype(np.float64)
    got = sep3d.laplacian_of_gaussian(x, 2.0, normalize=True, spacing=spacing, mode="nearest", method="recursive")
    assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
    assert np.abs(got - ref).max() <= 1e-6 * np.abs(ref).max()


def test_recursive_gaussian_and_dog_on_dask_equal_in_memory():
    import dask.array as da

    x = np.random.default_rng(4).standard_normal((20, 33, 31)).astype(np.float32)
    ref = sep3d.gaussian(x, 1.5, mode="reflect", method="recursive")
    got = sep3d.gaussian(da.from_array(x, chunks=(7, 16, 31)), 1.5, mode="reflect", method="recursive").compute()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    dog = sep3d.difference_of_gaussians(x, 1.0, 2.0, mode="nearest", method="recursive")
    dog_ref = recursive_dog_reference(x, 1.0, 2.0)
    np.testing.assert_allclose(dog, dog_ref, rtol=0, atol=1e-5 * np.abs(dog_ref).max())


def recursive_dog_reference(x, low, high):
    out = []
    for s in (low, high):
        y = x.astype(np.float64)
        for axis in range(3):
            y = np.apply_along_axis(recursive_gaussian(s, 0).apply, axis, y)
        out.append(y)
    return out[0] - out[1]


def test_method_is_validated_and_recursive_orders_stop_at_two():
    x = np.zeros((4, 5, 6), np.float32)
    with pytest.raises(ValueError, match="`method` must be one of"):
        sep3d.gaussian(x, 1.0, method="deriche")
    with pytest.raises(ValueError, match="`order` must be <= 2 with method='recursive'"):
        sep3d.gaussian_derivative(x, 1.0, 3, method="recursive")
    with pytest.raises(ValueError, match="`sigma` must be a finite number > 0"):
        recursive_gaussian(0.0)
    with pytest.raises(ValueError, match="`order` must be 0, 1 or 2"):
        recursive_gaussian(1.0, 3)
    with pytest.raises(ValueError, match="unstable"):
        IIR([1, 0, 0, 0], [-1.5, 0, 0, 0], [0, 0, 0, 0])


def test_describe_names_the_recursive_passes():
    plan = filters.plan_laplacian_of_gaussian(3, 2.0, normalize=True, mode="nearest", method="recursive")
    text = str(sep3d.describe(plan))
    assert "recursive gaussian sigma=2 order=2" in text
    assert "reach" in text


@pytest.fixture
def calibrated(tmp_path, monkeypatch):
    """A calibration with FIR taps at twice the recursion's multiply-add rate."""
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"work_per_s": {"separable": 1e10, "recursive": 5e9}}))
    monkeypatch.setenv("SEP3D_CALIBRATION", str(path))
    return path


def test_gaussian_method_weighs_taps_against_sections_and_boundary_states(calibrated):
    # recursive when 2r + 1 taps cost more than 16 MACs (+ 8 reach / length) at half the rate
    assert gaussian_method(3.5) == "fir"  # r = 14: 29 taps < 32
    assert gaussian_method(4.5) == "recursive"  # r = 18: 37 taps > 32
    assert gaussian_method(4.5, length=20) == "fir"  # short lines: 16 + 8 = 24 MACs -> 48 taps
    assert gaussian_method(12.0, order=3) == "fir"  # no recursive third derivative
    with pytest.raises(ValueError, match="`sigma` must be a finite number > 0"):
        gaussian_method(0.0)


def test_auto_runs_fir_and_recursive_axes_against_scipy_and_itk(calibrated):
    # sigma 1 on axis 0 -> scipy's sampled Gaussian; sigma 8 on axis 1 -> ITK's recursion
    # (65 taps against 16 + 8 MACs per sample at half the rate)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((12, 60))
    got = sep3d.gaussian(x, (1.0, 8.0), mode="nearest", method="auto")
    fir = ndi.gaussian_filter1d(x, 1.0, axis=0, mode="nearest")
    ref = np.stack([itk_recursive_1d(line, 8.0, 0) for line in fir])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * np.abs(ref).max())
    dog = sep3d.difference_of_gaussians(x, 1.0, 8.0, mode="nearest", method="auto")
    low = ndi.gaussian_filter(x, 1.0, mode="nearest")
    high = np.stack([itk_recursive_1d(line, 8.0, 0) for line in
                     np.stack([itk_recursive_1d(col, 8.0, 0) for col in x.T]).T])
    np.testing.assert_allclose(dog, low - high, rtol=0, atol=1e-5 * np.abs(low - high).max())


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int64, np.bool_, np.float16])
@pytest.mark.parametrize("order", [0, 1, 2])
def test_integer_and_bool_input_along_the_contiguous_axis_matches_simpleitk(dtype, order):
    # the first pass reads the input itself along the contiguous axis (tile transposes)
    rng = np.random.default_rng(7)
    x = (rng.random((6, 5, 70)) * 120).astype(dtype)
    got = sep3d.gaussian_derivative(x, 3.0, order, axes=-1, mode="nearest", method="recursive")
    ref = np.stack([[itk_recursive_1d(line, 3.0, order) for line in plane] for plane in np.asarray(x, np.float64)])
    assert got.dtype == np.float32
    assert np.abs(got - ref).max() <= 2e-5 * max(np.abs(ref).max(), 1.0)


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap"])
def test_a_nan_cval_is_ignored_outside_constant_mode(mode):
    x = np.random.default_rng(8).standard_normal((9, 40))
    for method in ("recursive", "fir"):
        got = sep3d.gaussian(x, 2.0, mode=mode, cval=np.nan, method=method)
        np.testing.assert_array_equal(got, sep3d.gaussian(x, 2.0, mode=mode, cval=0.0, method=method))
        assert np.isfinite(got).all()
    ref = np.stack([itk_recursive_1d(line, 2.0, 0) for line in x])
    got = sep3d.gaussian(x, 2.0, axes=-1, mode="nearest", cval=np.nan, method="recursive")
    assert np.abs(got - ref).max() <= 1e-6 * np.abs(ref).max()


def test_too_small_a_sigma_for_the_recursion_names_sigma():
    with pytest.raises(ValueError, match=r"`sigma` must be at least 0\.002 samples .*got 0\.001"):
        sep3d.gaussian_derivative(np.zeros((5, 6)), 1e-3, 2, method="recursive")
    # order 0 has finite coefficients at any sigma: it is the identity there
    x = np.random.default_rng(9).standard_normal((5, 6))
    np.testing.assert_allclose(sep3d.gaussian(x, 1e-3, method="recursive"), x, rtol=1e-12)
