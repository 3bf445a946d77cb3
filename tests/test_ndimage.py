"""sep3d.ndimage against scipy.ndimage: values (float64 oracle), dtypes and output= rules."""
import numpy as np
import pytest
import scipy.ndimage as ndi

import sep3d
from sep3d import ndimage as s3
from conftest import MODES, assert_close, make_volume

SHAPE = (17, 23, 9)  # odd sizes; some axes shorter than the halo


def oracle(name, vol, *args, **kwargs):
    """scipy on the float64 copy of the input."""
    return getattr(ndi, name)(np.asarray(vol, dtype=np.float64), *args, **kwargs)


CASES = [
    ("correlate1d", ([1.0, -2.5, 3.0, 0.5],), {"axis": 1, "origin": 1}),
    ("convolve1d", ([1.0, -2.5, 3.0, 0.5],), {"axis": 0, "origin": -1}),
    ("gaussian_filter1d", (1.5,), {"axis": 2, "order": 1}),
    ("gaussian_filter", (1.5,), {}),
    ("gaussian_filter", ((0.8, 2.0, 1.2),), {"order": (0, 1, 2)}),
    ("gaussian_laplace", (1.3,), {}),
    ("gaussian_gradient_magnitude", (1.3,), {}),
    ("uniform_filter1d", (4,), {"axis": 0, "origin": -1}),
    ("uniform_filter", ((3, 5, 2),), {}),
    ("sobel", (), {"axis": 1}),
    ("prewitt", (), {"axis": 0}),
    ("laplace", (), {}),
]


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_scipy_in_every_mode(name, args, kwargs, mode, dtype):
    vol = make_volume(SHAPE, dtype)
    before = vol.copy()
    ref = oracle(name, vol, *args, mode=mode, cval=2.5, **kwargs)
    out = getattr(s3, name)(vol, *args, mode=mode, cval=2.5, **kwargs)
    assert out.dtype == dtype  # scipy's rule: the output has the input dtype
    assert_close(out, ref)
    np.testing.assert_array_equal(vol, before)


INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64, np.bool_]


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_integer_and_bool_results_are_scipys_bit_for_bit(name, args, kwargs, dtype, mode):
    # scipy truncates into the output dtype after every pass, squares and adds there:
    # the same bits, overflow and wrap-around included
    vol = make_volume(SHAPE, dtype)
    with np.errstate(all="ignore"):  # both take the square root of wrapped negative squares
        ref = getattr(ndi, name)(vol, *args, mode=mode, cval=3.0, **kwargs)
        out = getattr(s3, name)(vol, *args, mode=mode, cval=3.0, **kwargs)
    assert out.dtype == ref.dtype == dtype
    np.testing.assert_array_equal(out, ref != 0 if dtype == np.bool_ else ref)


@pytest.mark.parametrize("output", [np.int8, np.uint16, np.uint32, np.uint64, np.int64])
def test_integer_outputs_of_float_data_wrap_and_truncate_as_scipy(output):
    # values far outside the output's range, negative values into unsigned dtypes, NaN
    vol = make_volume(SHAPE, np.float64) * 1e7
    vol[0, 0, :3] = (np.nan, 2.0 ** 63 + 4096, 1.5e19)
    for name, args, kwargs in CASES:
        with np.errstate(all="ignore"):
            ref = getattr(ndi, name)(vol, *args, output=output, **kwargs)
            out = getattr(s3, name)(vol, *args, output=output, **kwargs)
        np.testing.assert_array_equal(out, ref, err_msg=name)


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_integer_input_to_float_output_matches_the_float64_oracle(name, args, kwargs):
    vol = make_volume(SHAPE, np.int16)
    out = getattr(s3, name)(vol, *args, output=np.float32, **kwargs)
    assert out.dtype == np.float32
    assert_close(out, oracle(name, vol, *args, **kwargs))


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("mode", MODES)
def test_radius_larger_than_the_axis(n, mode):
    vol = make_volume((n, 4, 6), np.float64, seed=n)
    for sigma in (0.7, 3.0, 9.0):  # radius 3, 12, 36 against axes of 1..6
        ref = ndi.gaussian_filter(vol, sigma, mode=mode, cval=-1.0)
        assert_close(s3.gaussian_filter(vol, sigma, mode=mode, cval=-1.0), ref)
    ref = ndi.correlate1d(vol, np.arange(1.0, 12.0), axis=0, mode=mode, origin=3)
    assert_close(s3.correlate1d(vol, np.arange(1.0, 12.0), axis=0, mode=mode, origin=3), ref)


@pytest.mark.parametrize("shape", [(40,), (13, 11), (5, 6, 7, 4), (3, 1, 4, 2, 5)])
def test_any_number_of_dimensions(shape):
    vol = make_volume(shape, np.float64)
    assert_close(s3.gaussian_filter(vol, 1.2, order=1), ndi.gaussian_filter(vol, 1.2, order=1))
    assert_close(s3.gaussian_laplace(vol, 1.0), ndi.gaussian_laplace(vol, 1.0))
    assert_close(s3.uniform_filter(vol, 3), ndi.uniform_filter(vol, 3))


def test_per_axis_sigma_order_mode_radius_and_axes():
    vol = make_volume(SHAPE, np.float64)
    kwargs = dict(sigma=(1.0, 2.0), order=(1, 0), mode=("wrap", "nearest"), radius=(2, 7), axes=(2, 0))
    assert_close(s3.gaussian_filter(vol, **kwargs), ndi.gaussian_filter(vol, **kwargs))


@pytest.mark.parametrize("func", ["gaussian_laplace", "gaussian_gradient_magnitude", "laplace"])
def test_generic_filters_with_axes_and_a_mode_per_term(func):
    vol = make_volume(SHAPE, np.float64)
    args = () if func == "laplace" else (1.1,)
    for kwargs in ({"axes": (0, 2)}, {"mode": ("reflect", "constant", "wrap"), "cval": 3.0},
                   {"axes": (1,), "mode": ("mirror",)}):
        assert_close(getattr(s3, func)(vol, *args, **kwargs), oracle(func, vol, *args, **kwargs))


def test_gaussian_kwargs_truncate_and_radius_pass_through():
    vol = make_volume(SHAPE, np.float64)
    for kw in ({"truncate": 2.0}, {"radius": 3}):
        assert_close(s3.gaussian_laplace(vol, 1.5, **kw), ndi.gaussian_laplace(vol, 1.5, **kw))
        assert_close(s3.gaussian_gradient_magnitude(vol, 1.5, **kw),
                     ndi.gaussian_gradient_magnitude(vol, 1.5, **kw))


def test_zero_sigma_skips_the_axis_like_scipy():
    vol = make_volume(SHAPE, np.float64)
    for sigma, order in (((0.0, 1.0, 2.0), (1, 1, 0)), (0.0, 0)):
        assert_close(s3.gaussian_filter(vol, sigma, order=order), ndi.gaussian_filter(vol, sigma, order=order))
    assert_close(s3.gaussian_laplace(vol, (0.0, 1.0, 1.0)), ndi.gaussian_laplace(vol, (0.0, 1.0, 1.0)))


def test_even_kernels_and_origins():
    vol = make_volume(SHAPE, np.float64)
    for w, origin in (([1.0, 2.0], 0), ([1.0, 2.0], -1), ([3.0, 1.0, 4.0, 1.0, 5.0, 9.0], 2)):
        assert_close(s3.correlate1d(vol, w, origin=origin), ndi.correlate1d(vol, w, origin=origin))
        assert_close(s3.convolve1d(vol, w, origin=origin), ndi.convolve1d(vol, w, origin=origin))
    assert_close(s3.uniform_filter(vol, (2, 4, 3), origin=(-1, 1, 0)),
                 ndi.uniform_filter(vol, (2, 4, 3), origin=(-1, 1, 0)))


@pytest.mark.parametrize("output", [np.float64, "float32", np.int32, "uint16", np.bool_])
def test_output_as_a_dtype(output):
    vol = make_volume(SHAPE, np.uint8)
    out = s3.gaussian_filter(vol, 1.0, output=output)
    ref = ndi.gaussian_filter(vol, 1.0, output=output)
    assert out.dtype == ref.dtype
    if out.dtype.kind == "f":
        assert_close(out, oracle("gaussian_filter", vol, 1.0))
    else:
        np.testing.assert_array_equal(out, ref)


def test_float16_is_refused_as_scipy_refuses_it_and_the_rich_api_takes_it():
    vol = make_volume(SHAPE, np.float32)
    for call in (lambda: s3.gaussian_filter(vol.astype(np.float16), 1.0),
                 lambda: s3.gaussian_filter(vol, 1.0, output=np.float16)):
        with pytest.raises(RuntimeError, match=r"array type dtype\('float16'\) not supported"):
            call()
    out = sep3d.gaussian(vol.astype(np.float16), 1.0)
    assert out.dtype == np.float32
    ref = oracle("gaussian_filter", vol.astype(np.float16), 1.0)
    assert_close(out, ref)


def test_output_array_is_filled_and_returned():
    vol = make_volume(SHAPE, np.float32)
    out = np.full(SHAPE, np.nan, np.float64)
    res = s3.gaussian_laplace(vol, 1.0, output=out)
    assert res is out
    assert_close(out, oracle("gaussian_laplace", vol, 1.0))


@pytest.mark.parametrize("func, args", [("gaussian_filter", (1.5,)), ("gaussian_laplace", (1.0,)),
                                         ("gaussian_gradient_magnitude", (1.0,)), ("sobel", ()),
                                         ("uniform_filter", (4,))])
def test_output_may_be_the_input_itself(func, args):
    vol = make_volume(SHAPE, np.float64)
    ref = oracle(func, vol, *args)
    res = getattr(s3, func)(vol, *args, output=vol)
    assert res is vol
    assert_close(vol, ref)


def test_output_may_overlap_the_input_partially():
    vol = make_volume((20, 12), np.float64)
    ref = ndi.gaussian_laplace(vol[:10], 1.0)
    s3.gaussian_laplace(vol[:10], 1.0, output=vol[5:15])
    assert_close(vol[5:15], ref)


@pytest.mark.parametrize("layout", ["fortran", "strided", "transposed", "negative"])
def test_non_contiguous_inputs_and_outputs(layout):
    base = make_volume((18, 24, 10), np.float32)
    vol = {"fortran": np.asfortranarray(base), "strided": base[::2, 1::2, :],
           "transposed": base.transpose(2, 0, 1), "negative": base[::-1, :, ::-2]}[layout]
    ref = oracle("gaussian_laplace", vol, 1.2)
    assert_close(s3.gaussian_laplace(vol, 1.2), ref)
    out = np.zeros(vol.shape[::-1], np.float32).T  # an F-ordered output
    s3.gaussian_laplace(vol, 1.2, output=out)
    assert_close(out, ref)


def test_nan_propagates_as_in_scipy():
    vol = make_volume(SHAPE, np.float64)
    vol[8, 11, 4] = np.nan
    for func, args in (("gaussian_filter", (1.0,)), ("sobel", ()), ("gaussian_filter1d", (1.0,))):
        ref = oracle(func, vol, *args)
        out = getattr(s3, func)(vol, *args)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
        assert_close(out, ref)


def test_bool_input():
    vol = make_volume(SHAPE, np.bool_)
    out = s3.uniform_filter(vol, 3, output=np.float64)
    assert_close(out, ndi.uniform_filter(vol.astype(np.float64), 3))


def test_big_endian_read_only_and_broadcast_inputs():
    base = make_volume(SHAPE, np.float64)
    readonly = base.copy()
    readonly.setflags(write=False)
    for vol in (base.astype(">f8"), readonly, np.broadcast_to(base[0], SHAPE)):
        out = s3.gaussian_filter(vol, 1.0)
        assert out.dtype == np.float64 and out.dtype.isnative  # scipy: the dtype's name, native order
        assert_close(out, ndi.gaussian_filter(np.asarray(vol, np.float64), 1.0))
    out = np.empty(SHAPE, ">f4")
    s3.gaussian_filter(base, 1.0, output=out)
    assert_close(out.astype(np.float32), ndi.gaussian_filter(base, 1.0))


@pytest.mark.parametrize("mode", ["grid-constant", "grid-wrap", "grid-mirror"])
def test_scipy_grid_mode_aliases(mode):
    vol = make_volume(SHAPE, np.float64)
    assert_close(s3.gaussian_filter(vol, 2.0, mode=mode, cval=0.7), ndi.gaussian_filter(vol, 2.0, mode=mode, cval=0.7))
    w = np.arange(1.0, 10.0)
    assert_close(s3.correlate1d(vol, w, mode=mode, cval=0.7), ndi.correlate1d(vol, w, mode=mode, cval=0.7))


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_input_filters_real_and_imaginary_parts_as_scipy(name, args, kwargs, dtype):
    vol = (make_volume(SHAPE, np.float64) + 1j * make_volume(SHAPE, np.float64, seed=1)).astype(dtype)
    ref = getattr(ndi, name)(vol.astype(np.complex128), *args, mode="constant", cval=2.0 - 1.5j, **kwargs)
    out = getattr(s3, name)(vol, *args, mode="constant", cval=2.0 - 1.5j, **kwargs)
    assert out.dtype == dtype
    real = np.float64 if dtype == np.complex128 else np.float32
    assert_close(out.real, ref.real, real)
    assert_close(out.imag, ref.imag, real)


@pytest.mark.parametrize("func", [s3.correlate1d, s3.convolve1d])
@pytest.mark.parametrize("image", ["real", "complex"])
def test_complex_weights(func, image):
    vol = make_volume((9, 12), np.float64)
    if image == "complex":
        vol = vol + 1j * make_volume((9, 12), np.float64, seed=3)
    w = np.array([1.0 - 2j, 0.5 + 1j, 3.0, -1j])
    ref = getattr(ndi, func.__name__)(vol, w, axis=0, origin=-1, mode="wrap")
    out = func(vol, w, axis=0, origin=-1, mode="wrap")
    assert out.dtype == np.complex128
    assert_close(out.real, ref.real)
    assert_close(out.imag, ref.imag)
    with pytest.warns(UserWarning, match="promoting specified output dtype to complex"):
        assert func(vol, w, output=np.float32).dtype == np.complex64


def _fits_1d(case):
    _, args, kwargs = case
    return kwargs.get("axis", 0) == 0 and not any(isinstance(v, tuple) for v in (*args, *kwargs.values()))


EMPTY_CASES = [(*c, (3, 0, 4)) for c in CASES] + [(*c, (0,)) for c in CASES if _fits_1d(c)]


@pytest.mark.parametrize("name, args, kwargs, shape", EMPTY_CASES, ids=[f"{c[0]}-{c[3]}" for c in EMPTY_CASES])
def test_empty_input_gives_an_empty_result_like_scipy(name, args, kwargs, shape):
    vol = np.zeros(shape, np.int16)
    ref = getattr(ndi, name)(vol, *args, **kwargs)
    out = getattr(s3, name)(vol, *args, **kwargs)
    assert out.shape == ref.shape and out.dtype == ref.dtype


def test_zero_d_input_follows_scipy():
    x = np.float64(2.5)
    for name, args in (("gaussian_filter", (1.0,)), ("uniform_filter", (3,)), ("laplace", ()),
                       ("gaussian_laplace", (1.0,)), ("gaussian_gradient_magnitude", (1.0,))):
        assert getattr(s3, name)(x, *args) == getattr(ndi, name)(x, *args), name  # the value itself
    for name, args in (("correlate1d", ([1.0],)), ("sobel", ()), ("uniform_filter1d", (3,))):
        with pytest.raises(IndexError, match="out of bounds for array of dimension 0"):  # numpy's AxisError
            getattr(s3, name)(x, *args)


def test_scipys_gaussian_laplace_reads_sigma_per_array_axis_when_axes_lists_them_all():
    vol = make_volume(SHAPE, np.float64)
    for axes in ((1, 0, 2), (2, 1, 0), (2, 0)):
        sigma = (1.5, 2.0, 1.0)[:len(axes)]
        assert_close(s3.gaussian_laplace(vol, sigma, axes=axes), ndi.gaussian_laplace(vol, sigma, axes=axes))


def test_gaussian_gradient_magnitude_squares_in_the_output_dtype():
    # sigma 0: the gradient is the input itself, squared in float64, not in uint8
    vol = make_volume((5, 6), np.uint8)
    ref = ndi.gaussian_gradient_magnitude(vol, 0.0, output=np.float64)
    np.testing.assert_allclose(s3.gaussian_gradient_magnitude(vol, 0.0, output=np.float64), ref, rtol=1e-15)


def test_a_gaussian_filter_equals_its_1d_passes_one_after_the_other():
    # scipy's own test: gaussian_filter == gaussian_filter1d along each axis in turn, bit for bit
    vol = make_volume((7, 8, 9), np.float64)
    modes = ("reflect", "wrap", "constant")
    seq = vol
    for ax, m in enumerate(modes):
        seq = s3.gaussian_filter1d(seq, 1.3, axis=ax, mode=m, cval=0.5)
    np.testing.assert_array_equal(s3.gaussian_filter(vol, 1.3, mode=modes, cval=0.5), seq)
