"""sep3d.convolution.convolve against scipy.ndimage.convolve (float64 oracle)."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.ndimage as ndi

from sep3d import convolution
from sep3d.convolution import convolve
from sep3d.decompose import decompose

from conftest import MODES, check_contract, make_volume

import dask.array as da

CVAL = 1.75
METHODS = ("direct", "separable", "fft")
#: (image shape, kernel shape): 1-D/2-D/3-D, odd and even sizes.
CASES = [
    ((11,), (3,)),
    ((11,), (4,)),
    ((7, 8), (3, 5)),
    ((7, 8), (4, 2)),
    ((6, 5, 7), (3, 3, 3)),
    ((6, 5, 7), (2, 4, 3)),
]
#: Tolerance relative to max|ref| in float64, per method (fft: rounding of the transforms).
REL64 = {"direct": 1e-12, "separable": 1e-12, "fft": 1e-10}


def low_rank_kernel(shape, rank=2, seed=1):
    """A random kernel that is an exact sum of `rank` separable terms (1-D: any vector)."""
    rng = np.random.default_rng(seed)
    k = np.zeros(shape)
    for _ in range(rank):
        term = rng.standard_normal(shape[0])
        for n in shape[1:]:
            term = np.multiply.outer(term, rng.standard_normal(n))
        k += term
    return k


def origins_for(kshape):
    """Origin 0, the most negative and the most positive origin scipy allows, per axis."""
    lo = tuple(-(s // 2) for s in kshape)
    hi = tuple((s - 1) // 2 for s in kshape)
    return [0, lo, hi]


def reference(image, kernel, mode, origin=0):
    return ndi.convolve(np.asarray(image, dtype=np.float64), kernel, mode=mode, cval=CVAL, origin=origin)


def assert_rel(result, ref, rel, abs_=0.0):
    err = float(np.max(np.abs(np.asarray(result, dtype=np.float64) - ref)))
    tol = rel * float(np.max(np.abs(ref))) + abs_
    assert err <= tol, f"max error {err:.3e} > {tol:.3e}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-k{c[1]}")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_convolve_float64_matches_scipy(method, mode, case):
    shape, kshape = case
    image = make_volume(shape, np.float64)
    before = image.copy()
    kernel = low_rank_kernel(kshape)
    for origin in origins_for(kshape):
        ref = reference(image, kernel, mode, origin)
        out = convolve(image, kernel, method=method, mode=mode, cval=CVAL, origin=origin, tol=1e-12)
        check_contract(out, image, before, np.float64)
        assert_rel(out, ref, REL64[method])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-k{c[1]}")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_convolve_float32_matches_scipy(method, mode, case):
    # float32, fft included: 1e-5 * max|ref| + 1e-6 against the float64 oracle
    shape, kshape = case
    image = make_volume(shape, np.float32)
    before = image.copy()
    kernel = low_rank_kernel(kshape)
    origin = origins_for(kshape)[2]
    ref = reference(image, kernel, mode, origin)
    out = convolve(image, kernel, method=method, mode=mode, cval=CVAL, origin=origin, tol=1e-9)
    check_contract(out, image, before, np.float32)
    assert_rel(out, ref, 1e-5, 1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_kernel_longer_than_axis(method, mode):
    # the extension repeats periodically past the axis length, as scipy's does
    image = make_volume((3, 5), np.float64)
    kernel = low_rank_kernel((8, 13))
    for origin in origins_for(kernel.shape):
        ref = reference(image, kernel, mode, origin)
        out = convolve(image, kernel, method=method, mode=mode, cval=CVAL, origin=origin, tol=1e-12)
        assert_rel(out, ref, REL64[method])


def test_length_one_axis_mirror():
    image = make_volume((1, 6), np.float64)
    kernel = low_rank_kernel((3, 3))
    ref = reference(image, kernel, "mirror")
    for method in METHODS:
        assert_rel(convolve(image, kernel, method=method, mode="mirror", tol=1e-12), ref, REL64[method])


def test_per_axis_modes_match_scipy_axis_by_axis():
    # scipy takes one mode per call: a separable kernel lets convolve1d give the reference
    image = make_volume((6, 7), np.float64)
    a, b = np.array([1.0, -2.0, 0.5, 3.0]), np.array([0.25, 1.0, -1.0])
    ref = ndi.convolve1d(ndi.convolve1d(image, a, axis=0, mode="wrap"), b, axis=1, mode="mirror")
    for method in METHODS:
        out = convolve(image, np.outer(a, b), method=method, mode=("wrap", "mirror"))
        assert_rel(out, ref, REL64[method])


@pytest.mark.parametrize("mode", MODES)
def test_direct_four_d_sparse_kernel_matches_scipy(mode):
    # sep3d's dense kernel: N-D taps as (row, shift) pairs over the extended copy, zeros skipped
    rng = np.random.default_rng(5)
    image = rng.standard_normal((3, 4, 2, 5))
    kernel = rng.standard_normal((2, 3, 1, 3))
    kernel[np.abs(kernel) < 0.6] = 0.0
    assert 0 < np.count_nonzero(kernel) < kernel.size
    for origin in origins_for(kernel.shape):
        out = convolve(image, kernel, method="direct", mode=mode, cval=CVAL, origin=origin)
        assert_rel(out, reference(image, kernel, mode, origin), REL64["direct"])


def test_direct_rows_longer_than_a_block_and_zero_kernel():
    # rows run in blocks of 2048 samples; an all-zero kernel gives zeros (not an empty tap list crash)
    rng = np.random.default_rng(6)
    image = rng.standard_normal((3, 4500)).astype(np.float32)
    kernel = rng.standard_normal((3, 7))
    out = convolve(image, kernel, method="direct", mode="wrap")
    assert_rel(out, ndi.convolve(image.astype(np.float64), kernel, mode="wrap"), 1e-5, 1e-6)
    zero = convolve(image, np.zeros((3, 7)), method="direct")
    assert zero.dtype == np.float32 and not np.any(zero)


@pytest.mark.parametrize("mode", MODES)
def test_separable_full_rank_error_bounded_by_decomposition(mode):
    image = make_volume((9, 8), np.float64)
    kernel = np.random.default_rng(3).standard_normal((5, 5))
    tol = 0.2
    sk = decompose(kernel[::-1, ::-1], tol=tol)
    assert sk.rank < 5
    ref = reference(image, kernel, mode)
    out = convolve(image, kernel, method="separable", mode=mode, cval=CVAL, tol=tol)
    # |K*x - K_R*x| <= ||K - K_R||_F * ||patch||_2 <= err * ||K||_F * sqrt(prod(k)) * max|x|
    extent = max(float(np.abs(image).max()), CVAL)
    bound = sk.relative_error * np.linalg.norm(kernel) * np.sqrt(kernel.size) * extent
    assert float(np.max(np.abs(out - ref))) <= bound * (1 + 1e-9)
    assert sk.relative_error <= tol


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_dask_equals_numpy(method, mode):
    image = make_volume((10, 7, 6), np.float64)
    kernel = low_rank_kernel((3, 4, 5))
    # direct, fft: chunks smaller than the reach; separable: sep3d's engine warns on such chunks
    chunks = (5, 7, 6) if method == "separable" else (4, 3, 2)
    lazy = da.from_array(image, chunks=chunks)
    origin = (1, -2, 0)
    out = convolve(lazy, kernel, method=method, mode=mode, cval=CVAL, origin=origin, tol=1e-12)
    assert isinstance(out, da.Array) and out.dtype == np.float64 and out.shape == image.shape
    expect = convolve(image, kernel, method=method, mode=mode, cval=CVAL, origin=origin, tol=1e-12)
    assert_rel(out.compute(), expect, REL64[method])
    assert_rel(out.compute(), reference(image, kernel, mode, origin), REL64[method])


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_dask_float32_and_kernel_longer_than_chunks(method):
    image = make_volume((5, 6), np.float32)
    kernel = low_rank_kernel((9, 2))
    out = convolve(da.from_array(image, chunks=2), kernel, method=method, mode="reflect")
    assert out.dtype == np.float32
    assert_rel(out.compute(), reference(image, kernel, "reflect"), 1e-5, 1e-6)


@pytest.mark.parametrize("planner", ["present", "missing"])
@pytest.mark.parametrize("kind", ["rank1", "full"])
def test_auto_matches_scipy(monkeypatch, planner, kind):
    if planner == "missing":
        monkeypatch.setitem(sys.modules, "sep3d.planner", None)  # import raises ImportError
    image = make_volume((10, 9, 16), np.float64)
    rng = np.random.default_rng(5)
    kernel = (low_rank_kernel((5, 5, 5), rank=1) if kind == "rank1" else rng.standard_normal((3, 4, 3)))
    ref = reference(image, kernel, "nearest")
    # 'separable' is exact to tol: the bound covers a full-rank kernel on any method
    out = convolve(image, kernel, mode="nearest", cval=CVAL, tol=1e-12)
    assert out.dtype == np.float64
    assert_rel(out, ref, 1e-10)
    lazy = convolve(da.from_array(image, chunks=(10, 9, 8)), kernel, mode="nearest", tol=1e-12)
    assert_rel(lazy.compute(), ref, 1e-10)


def test_auto_fallback_rule(monkeypatch):
    monkeypatch.setitem(sys.modules, "sep3d.planner", None)
    rank1 = low_rank_kernel((5, 5, 5), rank=1)
    full = np.random.default_rng(0).standard_normal((3, 3))
    image = np.zeros((8, 8, 8))
    assert convolution._auto(rank1, image, np.dtype(np.float64), 1e-6, "auto") == "separable"
    assert convolution._auto(full, image[0], np.dtype(np.float64), 1e-6, "auto") == "fft"
    assert convolution._auto(full, da.zeros((8, 8)), np.dtype(np.float64), 1e-6, "auto") == "fft"
    assert convolution._fallback_method(np.ones(5), (8,), 1e-6) == "fft"


def test_auto_on_an_engine_without_a_cost_model_takes_the_rule_of_thumb():
    # the planner costs the CPU only: CUDA arrays get the rule the planner refines
    rank1 = low_rank_kernel((5, 5, 5), rank=1)
    full = np.random.default_rng(0).standard_normal((3, 3))
    assert convolution._auto(rank1, np.zeros((8, 8, 8)), np.dtype(np.float32), 1e-6, "cuda") == "separable"
    assert convolution._auto(full, np.zeros((8, 8)), np.dtype(np.float32), 1e-6, "cuda") == "fft"


@pytest.mark.parametrize("method", METHODS)
def test_output_is_honoured(method):
    image = make_volume((6, 7), np.float32)
    kernel = low_rank_kernel((3, 4))
    ref = reference(image, kernel, "wrap")
    out32 = np.full(image.shape, np.nan, np.float32)
    assert convolve(image, kernel, method=method, mode="wrap", output=out32, tol=1e-9) is out32
    assert_rel(out32, ref, 1e-5, 1e-6)
    out64 = np.empty(image.shape, np.float64)  # a float64 output computes in float64
    assert convolve(image.astype(np.float64), kernel, method=method, mode="wrap", output=out64,
                    tol=1e-12) is out64
    assert_rel(out64, ref, REL64[method])
    inplace = image.copy()  # the input itself
    assert convolve(inplace, kernel, method=method, mode="wrap", output=inplace, tol=1e-9) is inplace
    assert_rel(inplace, ref, 1e-5, 1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_integer_input_gives_float32(method):
    image = make_volume((6, 5), np.int16)
    kernel = low_rank_kernel((3, 2))
    out = convolve(image, kernel, method=method, tol=1e-9)
    check_contract(out, image, image.copy(), np.float32)
    assert_rel(out, reference(image, kernel, "reflect"), 1e-5, 1e-6)


# ---------------------------------------------------------------------------------------
# errors


def test_rejects_kernel_of_other_rank():
    with pytest.raises(ValueError, match=r"`kernel` must have as many dimensions as `image` \(2\)"):
        convolve(np.zeros((4, 4)), np.ones(3))


def test_rejects_empty_kernel():
    with pytest.raises(ValueError, match="`kernel` must not be empty"):
        convolve(np.zeros((4, 4)), np.ones((0, 3)))


def test_rejects_non_finite_kernel():
    with pytest.raises(ValueError, match="`kernel` must be finite"):
        convolve(np.zeros(4), np.array([1.0, np.nan]))


def test_rejects_complex_and_non_numeric_kernels():
    with pytest.raises(TypeError, match="`kernel` must be real"):
        convolve(np.zeros(4), np.ones(3, complex))
    with pytest.raises(TypeError, match="`kernel` must be numeric"):
        convolve(np.zeros(4), np.array(["a", "b"]))


def test_rejects_unknown_method():
    allowed = r"\['auto', 'direct', 'separable', 'fft'\]"
    with pytest.raises(ValueError, match=f"`method` must be one of {allowed}; got 'svd'"):
        convolve(np.zeros(4), np.ones(3), method="svd")


def test_rejects_bad_mode():
    with pytest.raises(ValueError, match="`mode` must be one of .*; got 'edge'"):
        convolve(np.zeros(4), np.ones(3), mode="edge")


def test_rejects_origin_outside_kernel():
    with pytest.raises(ValueError, match=r"`origin` must lie in \[-2, 1\] for a filter of size 4; got 2"):
        convolve(np.zeros(6), np.ones(4), origin=2)


@pytest.mark.parametrize("tol, exc, match", [(0.0, ValueError, "`tol` must be a finite number > 0"),
                                             ("1e-6", TypeError, "`tol` must be a real number")])
def test_rejects_bad_tol(tol, exc, match):
    with pytest.raises(exc, match=match):
        convolve(np.zeros(6), np.ones(3), tol=tol)


def test_rejects_bad_output():
    with pytest.raises(ValueError, match=r"`output` must have shape \(6,\)"):
        convolve(np.zeros(6), np.ones(3), method="direct", output=np.zeros(5))
    with pytest.raises(TypeError, match="`output` must be float32 or float64"):
        convolve(np.zeros(6), np.ones(3), method="direct", output=np.zeros(6, np.int32))
    with pytest.raises(TypeError, match="`output` must be None for a dask array"):
        convolve(da.zeros(6, chunks=3), np.ones(3), method="direct", output=np.zeros(6))


def test_separable_four_d_kernel_is_not_implemented():
    match = "method='separable' supports 1-D, 2-D and 3-D kernels; got 4-D"
    with pytest.raises(NotImplementedError, match=match):
        convolve(np.zeros((3, 3, 3, 3)), np.ones((2, 2, 2, 2)), method="separable")


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_numpy_on_cuda_backend_is_not_implemented(method):
    with pytest.raises(NotImplementedError, match=f"method='{method}' runs NumPy arrays on the CPU only"):
        convolve(np.zeros((4, 4)), np.ones((3, 3)), method=method, backend="cuda")


@pytest.mark.parametrize("method", ["direct", "separable", "fft"])
def test_output_is_filled_and_returned_for_a_1d_kernel(method):
    x = np.random.default_rng(11).standard_normal(40)
    k = np.array([1.0, 2.0, 3.0])
    out = np.full(40, np.nan)
    res = convolve(x, k, method=method, mode="constant", cval=1.5, output=out)
    assert res is out
    np.testing.assert_allclose(out, ndi.convolve(x, k, mode="constant", cval=1.5), rtol=1e-9, atol=1e-12)
