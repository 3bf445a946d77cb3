"""The rich API against scipy.ndimage in float64, with physical spacing."""
import numpy as np
import pytest
import scipy.ndimage as ndi

import sep3d
from conftest import MODES, assert_close, check_contract, make_volume, rich_dtype

SHAPE = (17, 23, 9)
SPACING = (2.5, 0.7, 1.1)  # thick slices, like CT


def f64(vol):
    return np.asarray(vol, dtype=np.float64)


def px(sigma, spacing):
    return tuple(s / d for s, d in zip(np.broadcast_to(sigma, len(spacing)), spacing))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
@pytest.mark.parametrize("mode", MODES)
def test_gaussian_with_spacing_is_scipy_with_sigma_over_spacing(dtype, mode):
    vol = make_volume(SHAPE, dtype)
    before = vol.copy()
    out = sep3d.gaussian(vol, 3.0, spacing=SPACING, mode=mode, cval=1.5)
    check_contract(out, vol, before, rich_dtype(dtype))
    assert_close(out, ndi.gaussian_filter(f64(vol), px(3.0, SPACING), mode=mode, cval=1.5))


def test_gaussian_without_spacing_axes_modes_radius():
    vol = make_volume(SHAPE, np.float64)
    out = sep3d.gaussian(vol, (1.0, 2.0), axes=(2, 0), mode=("wrap", "mirror"), radius=(3, 5))
    ref = ndi.gaussian_filter(vol, (1.0, 2.0), axes=(2, 0), mode=("wrap", "mirror"), radius=(3, 5))
    assert_close(out, ref)


@pytest.mark.parametrize("order", [(1, 0, 0), (0, 2, 0), (1, 1, 1), (0, 0, 3)])
def test_gaussian_derivative_is_per_physical_unit(order):
    vol = make_volume(SHAPE, np.float64)
    out = sep3d.gaussian_derivative(vol, 2.0, order, spacing=SPACING)
    ref = ndi.gaussian_filter(vol, px(2.0, SPACING), order=order)
    ref /= np.prod([d ** o for d, o in zip(SPACING, order)])
    assert_close(out, ref)


def test_gaussian_derivative_of_a_physical_ramp_is_its_slope():
    z, y, x = np.meshgrid(*(np.arange(n) * d for n, d in zip((30, 30, 30), SPACING)), indexing="ij")
    ramp = 3.0 * z - 2.0 * y + 0.5 * x  # per mm
    for axis, slope in enumerate((3.0, -2.0, 0.5)):
        order = [0, 0, 0]
        order[axis] = 1
        d = sep3d.gaussian_derivative(ramp, 2.0, order, spacing=SPACING, mode="nearest")
        assert d[15, 15, 15] == pytest.approx(slope, rel=2e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
@pytest.mark.parametrize("mode", MODES)
def test_laplacian_of_gaussian_matches_scipy(dtype, mode):
    vol = make_volume(SHAPE, dtype)
    before = vol.copy()
    out = sep3d.laplacian_of_gaussian(vol, 1.4, mode=mode)
    check_contract(out, vol, before, rich_dtype(dtype))
    assert_close(out, ndi.gaussian_laplace(f64(vol), 1.4, mode=mode))


def physical_log(vol, sigma, spacing, normalize=False):
    total = np.zeros(vol.shape)
    for axis in range(vol.ndim):
        order = [0] * vol.ndim
        order[axis] = 2
        term = ndi.gaussian_filter(f64(vol), px(sigma, spacing), order=order) / spacing[axis] ** 2
        total += term * (sigma ** 2 if normalize else 1.0)
    return total


@pytest.mark.parametrize("normalize", [False, True])
def test_laplacian_of_gaussian_with_spacing_and_normalisation(normalize):
    vol = make_volume(SHAPE, np.float64)
    out = sep3d.laplacian_of_gaussian(vol, 2.5, spacing=SPACING, normalize=normalize)
    assert_close(out, physical_log(vol, 2.5, SPACING, normalize))


@pytest.mark.parametrize("mode", MODES)
def test_gradient_magnitude_matches_scipy(mode):
    vol = make_volume(SHAPE, np.float32)
    assert_close(sep3d.gradient_magnitude(vol, 1.2, mode=mode), ndi.gaussian_gradient_magnitude(f64(vol), 1.2, mode=mode))


def test_gradient_magnitude_with_spacing():
    vol = make_volume(SHAPE, np.float64)
    comps = []
    for axis in range(3):
        order = [0, 0, 0]
        order[axis] = 1
        comps.append(ndi.gaussian_filter(vol, px(2.0, SPACING), order=order) / SPACING[axis])
    ref = np.sqrt(sum(c ** 2 for c in comps))
    assert_close(sep3d.gradient_magnitude(vol, 2.0, spacing=SPACING), ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hessian_components_in_upper_triangle_order(dtype):
    vol = make_volume(SHAPE, dtype)
    before = vol.copy()
    out = sep3d.hessian(vol, 1.3, spacing=SPACING)
    pairs = sep3d.hessian_components(3)
    assert pairs == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    check_contract(out, vol, before, rich_dtype(dtype), shape=(6,) + SHAPE)
    for k, (a, b) in enumerate(pairs):
        order = [0, 0, 0]
        order[a] += 1
        order[b] += 1
        ref = ndi.gaussian_filter(f64(vol), px(1.3, SPACING), order=order) / (SPACING[a] * SPACING[b])
        assert_close(out[k], ref)


def test_hessian_on_two_axes_and_into_an_output():
    vol = make_volume((12, 10, 8), np.float64)
    out = np.empty((3, 12, 10, 8))
    res = sep3d.hessian(vol, 1.0, axes=(0, 2), output=out)
    assert res is out
    assert_close(out[0], ndi.gaussian_filter(vol, 1.0, order=(2, 0), axes=(0, 2)))
    assert_close(out[1], ndi.gaussian_filter(vol, 1.0, order=(1, 1), axes=(0, 2)))
    assert_close(out[2], ndi.gaussian_filter(vol, 1.0, order=(0, 2), axes=(0, 2)))


def test_difference_of_gaussians():
    vol = make_volume(SHAPE, np.float64)
    ref = ndi.gaussian_filter(vol, 1.0) - ndi.gaussian_filter(vol, 1.6)
    assert_close(sep3d.difference_of_gaussians(vol, 1.0), ref)
    ref = ndi.gaussian_filter(vol, px(2.0, SPACING)) - ndi.gaussian_filter(vol, px(5.0, SPACING))
    assert_close(sep3d.difference_of_gaussians(vol, 2.0, 5.0, spacing=SPACING), ref)


@pytest.mark.parametrize("mode", MODES)
def test_box_matches_uniform_filter(mode):
    vol = make_volume(SHAPE, np.int16)
    assert_close(sep3d.box(vol, (3, 4, 5), mode=mode, origin=(0, 1, -2)),
                 ndi.uniform_filter(f64(vol), (3, 4, 5), mode=mode, origin=(0, 1, -2)))


def test_box_in_physical_units_rounds_to_whole_voxels():
    vol = make_volume(SHAPE, np.float64)
    out = sep3d.box(vol, 5.0, spacing=SPACING)  # 5 mm -> 2, 7, 5 voxels
    assert_close(out, ndi.uniform_filter(vol, (2, 7, 5)))


def test_box_of_a_constant_integer_volume_is_exact():
    vol = np.full((6, 7, 8), 5, np.uint8)
    assert np.all(sep3d.box(vol, 3) == 5.0)


def test_separable_is_a_chain_of_correlate1d():
    vol = make_volume(SHAPE, np.float64)
    kz, kx = [1.0, -3.0, 2.0, 0.5], [0.25, 0.5, 0.25]
    out = sep3d.separable(vol, [kz, None, kx], mode="nearest", origin=(1, 0, 0))
    ref = ndi.correlate1d(ndi.correlate1d(vol, kz, axis=0, mode="nearest", origin=1), kx, axis=2, mode="nearest")
    assert_close(out, ref)
    out = sep3d.separable(vol, np.array([1.0, 2.0, 1.0]), axes=(1, 2))
    ref = ndi.correlate1d(ndi.correlate1d(vol, [1, 2, 1], axis=1), [1, 2, 1], axis=2)
    assert_close(out, ref)


@pytest.mark.parametrize("func, args", [
    (sep3d.gaussian, (1.5,)), (sep3d.laplacian_of_gaussian, (1.5,)),
    (sep3d.gradient_magnitude, (1.5,)), (sep3d.difference_of_gaussians, (1.0, 2.0)),
])
def test_output_arrays_including_the_input_itself(func, args):
    vol = make_volume(SHAPE, np.float32)
    ref = func(vol, *args)
    out = np.empty(SHAPE, np.float64)
    assert func(vol, *args, output=out) is out
    assert_close(out.astype(np.float32), ref)
    inplace = vol.copy()
    assert func(inplace, *args, output=inplace) is inplace
    assert_close(inplace, ref)


def test_float64_output_makes_the_computation_float64():
    vol = make_volume(SHAPE, np.float32)
    out = sep3d.gaussian(vol, 2.0, output=np.empty(SHAPE))
    assert_close(out, ndi.gaussian_filter(f64(vol), 2.0), dtype=np.float64)


@pytest.mark.parametrize("shape", [(50,), (20, 30), (6, 7, 8, 5)])
def test_rich_filters_in_any_dimension(shape):
    vol = make_volume(shape, np.float64)
    spacing = np.linspace(0.5, 2.0, len(shape))
    assert_close(sep3d.gaussian(vol, 2.0, spacing=spacing), ndi.gaussian_filter(vol, 2.0 / spacing))
    assert_close(sep3d.laplacian_of_gaussian(vol, 1.0), ndi.gaussian_laplace(vol, 1.0))


def test_thread_count_does_not_change_results():
    vol = make_volume((40, 30, 20), np.float32)
    before = sep3d.get_num_threads()
    try:
        sep3d.set_num_threads(1)
        one = sep3d.laplacian_of_gaussian(vol, 1.5)
        sep3d.set_num_threads(2)
        two = sep3d.laplacian_of_gaussian(vol, 1.5)
    finally:
        sep3d.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


RICH_CALLS = [
    (sep3d.gaussian, (1.5,), {}),
    (sep3d.gaussian_derivative, (1.5, (1, 0, 2)), {}),
    (sep3d.laplacian_of_gaussian, (1.5,), {"normalize": True}),
    (sep3d.gradient_magnitude, (1.5,), {}),
    (sep3d.hessian, (1.5,), {}),
    (sep3d.difference_of_gaussians, (1.0, 2.0), {}),
    (sep3d.box, (3,), {}),
    (sep3d.separable, ([1.0, 2.0, 1.0],), {}),
]


@pytest.mark.parametrize("func, args, kwargs", RICH_CALLS, ids=[c[0].__name__ for c in RICH_CALLS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8, np.bool_])
def test_output_contract_of_every_rich_filter(func, args, kwargs, dtype):
    vol = make_volume(SHAPE, dtype)
    before = vol.copy()
    out = func(vol, *args, spacing=SPACING, **kwargs) if func is not sep3d.separable else func(vol, *args, **kwargs)
    shape = (6,) + SHAPE if func is sep3d.hessian else SHAPE
    check_contract(out, vol, before, rich_dtype(dtype), shape=shape)
    assert np.isfinite(out).all() and np.abs(out).max() > 0  # values: checked against scipy above


def test_separable_samples_a_callable_kernel_at_physical_offsets():
    vol = make_volume(SHAPE, np.float64)

    def tent(x):
        return np.maximum(0.0, 1.0 - np.abs(x) / 3.0)

    out = sep3d.separable(vol, tent, spacing=SPACING, support=3.0, mode="nearest")
    ref = vol
    for axis, d in enumerate(SPACING):
        half = int(np.floor(3.0 / d + 1e-9))
        taps = tent(np.arange(-half, half + 1) * d)
        ref = ndi.correlate1d(ref, taps, axis=axis, mode="nearest")
    assert_close(out, ref)


@pytest.mark.parametrize("kwargs, match", [
    ({"kernels": np.cos}, "`support` .* is needed for callable kernels"),
    ({"kernels": lambda x: np.ones(3), "support": 2.0}, "must return one weight per offset"),
    ({"kernels": lambda x: 1 / 0, "support": 2.0}, "callable for axis 0 failed"),
    ({"kernels": np.cos, "support": -1.0}, "`support` must be finite and > 0"),
])
def test_separable_callable_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sep3d.separable(np.zeros((5, 6, 7)), **kwargs)


RICH_VS_SCIPY = [
    (lambda v, **k: sep3d.gaussian(v, 1.5, **k), lambda v, **k: ndi.gaussian_filter(v, 1.5, **k)),
    (lambda v, **k: sep3d.gaussian_derivative(v, 1.2, (1, 0, 2), **k),
     lambda v, **k: ndi.gaussian_filter(v, 1.2, order=(1, 0, 2), **k)),
    (lambda v, **k: sep3d.laplacian_of_gaussian(v, 1.3, **k), lambda v, **k: ndi.gaussian_laplace(v, 1.3, **k)),
    (lambda v, **k: sep3d.box(v, 3, **k), lambda v, **k: ndi.uniform_filter(v, 3, **k)),
    (lambda v, **k: sep3d.separable(v, [1.0, -2.0, 0.5], **k),
     lambda v, **k: ndi.correlate1d(ndi.correlate1d(ndi.correlate1d(v, [1.0, -2.0, 0.5], 0, **k),
                                                    [1.0, -2.0, 0.5], 1, **k), [1.0, -2.0, 0.5], 2, **k)),
]


@pytest.mark.parametrize("rich, oracle", RICH_VS_SCIPY)
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_images_filter_the_real_and_imaginary_parts(rich, oracle, dtype):
    vol = (make_volume(SHAPE, np.float64) + 1j * make_volume(SHAPE, np.float64, seed=5)).astype(dtype)
    before = vol.copy()
    out = rich(vol, mode="constant", cval=3.0)
    check_contract(out, vol, before, np.dtype(dtype))
    ref = oracle(vol.astype(np.complex128), mode="constant", cval=3.0 + 0j)  # a real cval pads the real part
    part = np.float64 if dtype == np.complex128 else np.float32
    assert_close(out.real, ref.real, part)
    assert_close(out.imag, ref.imag, part)


def test_complex_gradient_magnitude_and_hessian_are_per_part():
    vol = make_volume(SHAPE, np.float64) + 1j * make_volume(SHAPE, np.float64, seed=5)
    grad = sep3d.gradient_magnitude(vol, 1.5)
    assert grad.dtype == np.complex128
    assert_close(grad.real, ndi.gaussian_gradient_magnitude(vol.real, 1.5))
    assert_close(grad.imag, ndi.gaussian_gradient_magnitude(vol.imag, 1.5))
    hess = sep3d.hessian(vol, 1.5)
    assert hess.shape == (6,) + SHAPE and hess.dtype == np.complex128
    assert_close(hess[1].imag, ndi.gaussian_filter(vol.imag, 1.5, order=(1, 1, 0)))


@pytest.mark.parametrize("shape", [(0,), (4, 0, 3)])
def test_empty_images_give_empty_results(shape):
    for vol in (np.zeros(shape, np.int16), np.zeros(shape, np.complex128)):
        out = sep3d.laplacian_of_gaussian(vol, 1.0)
        assert out.shape == shape and out.dtype == (np.complex128 if vol.dtype.kind == "c" else np.float32)
    assert sep3d.hessian(np.zeros(shape), 1.0).shape == (len(shape) * (len(shape) + 1) // 2,) + shape


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_float16_and_longdouble_images(dtype):
    vol = make_volume(SHAPE, np.float64).astype(dtype)
    out = sep3d.gaussian(vol, 1.5)
    assert out.dtype == (np.float64 if np.finfo(dtype).bits >= 64 else np.float32)
    assert_close(out, ndi.gaussian_filter(f64(vol), 1.5))


def _l1(sigma, order=0):
    """L1 norm of scipy's Gaussian (derivative) taps, from its impulse response."""
    r = int(4.0 * sigma + 0.5)
    impulse = np.zeros(2 * r + 1)
    impulse[r] = 1.0
    return float(np.abs(ndi.gaussian_filter1d(impulse, sigma, order=order, mode="constant")).sum())


@pytest.mark.parametrize("case", ["dog", "wide_log_on_short_axes"])
def test_float32_error_is_bounded_by_the_input_scale_where_the_result_cancels(case):
    # a bright, nearly flat volume: the result is tiny next to the values the passes carry
    rng = np.random.default_rng(21)
    if case == "dog":
        vol = (1000.0 + rng.standard_normal((20, 24, 22))).astype(np.float32)
        out = sep3d.difference_of_gaussians(vol, 1.0, 1.6)
        ref = ndi.gaussian_filter(f64(vol), 1.0) - ndi.gaussian_filter(f64(vol), 1.6)
        gain = 2.0  # two smoothing terms of L1 norm 1
    else:
        vol = (1000.0 + rng.standard_normal((5, 6, 40))).astype(np.float32)
        out = sep3d.laplacian_of_gaussian(vol, 4.0)  # radius 16 on axes of 5 and 6
        ref = ndi.gaussian_laplace(f64(vol), 4.0)
        gain = sum(_l1(4.0, 2) * _l1(4.0) ** 2 for _ in range(3))
    err = float(np.abs(out - ref).max())
    input_bound = 1e-5 * max(np.abs(ref).max(), gain * np.abs(f64(vol)).max()) + 1e-6
    assert err <= input_bound
    # the result's own scale is no bound here: the cancellation leaves it far below the input
    assert np.abs(ref).max() < 0.01 * np.abs(f64(vol)).max()


@pytest.mark.parametrize("layout", ["fortran", "transposed", "negative", "broadcast"])
def test_constant_mode_with_a_cval_does_not_depend_on_the_layout(layout):
    # the passes pad with cval, so their order matters: scipy's order on every layout
    base = make_volume((12, 14, 10), np.float64)
    vol = {"fortran": np.asfortranarray(base), "transposed": base.T.copy().T,
           "negative": base[::-1, ::-1].copy()[::-1, ::-1],
           "broadcast": np.broadcast_to(base[:1], base.shape)}[layout]
    out = sep3d.gaussian_derivative(vol, 1.0, 1, mode="constant", cval=10.0)
    ref = ndi.gaussian_filter(f64(vol), 1.0, order=1, mode="constant", cval=10.0)
    assert_close(out, ref)
    np.testing.assert_array_equal(out, sep3d.gaussian_derivative(np.ascontiguousarray(vol), 1.0, 1,
                                                                 mode="constant", cval=10.0))
