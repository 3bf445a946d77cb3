"""sep3d.decompose: low-rank separable kernels, checked against scipy.ndimage.correlate (float64)."""
import numpy as np
import pytest
import scipy.ndimage as ndi

from sep3d.convolution import separable_correlate
from sep3d.decompose import SeparableKernel, decompose
from sep3d.kernels import FIR

MODES = ["reflect", "nearest", "constant", "wrap", "mirror"]


def gauss(n, sigma):
    x = np.arange(n) - (n - 1) / 2
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def outer(*vecs):
    out = vecs[0]
    for v in vecs[1:]:
        out = np.multiply.outer(out, v)
    return out


def random_cp(shape, r, seed):
    rng = np.random.default_rng(seed)
    return sum(outer(*(rng.standard_normal(n) for n in shape)) for _ in range(r))


def assert_close(got, ref, dtype):
    got = np.asarray(got)
    assert got.dtype == dtype
    scale = np.max(np.abs(ref))
    atol = 1e-12 * scale if dtype == np.float64 else 1e-5 * scale + 1e-6
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=0, atol=atol)


# ---------------------------------------------------------------------------------------
# decomposition


@pytest.mark.parametrize("shape", [(7, 5), (5, 7, 3), (4, 6)])
def test_separable_kernel_gives_rank_one(shape):
    k = outer(*(gauss(n, 1.0 + 0.3 * i) for i, n in enumerate(shape)))
    sk = decompose(k)
    assert isinstance(sk, SeparableKernel)
    assert sk.rank == 1 and sk.shape == shape
    assert sk.relative_error < 1e-12
    np.testing.assert_allclose(sk.to_dense(), k, rtol=0, atol=1e-14)


@pytest.mark.parametrize("shape", [(7, 9), (7, 9, 5)])
@pytest.mark.parametrize("r", [2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_sum_of_rank_one_terms_is_recovered(shape, r, seed):
    k = random_cp(shape, r, seed)
    sk = decompose(k, tol=1e-8)
    assert sk.rank == r
    assert sk.relative_error < 1e-6
    assert len(sk.errors_by_rank) == r
    assert sk.errors_by_rank[-1] <= 1e-8


def test_factors_are_unit_norm_scaled_and_sorted():
    sk = decompose(random_cp((6, 5, 4), 3, 2), rank=3)
    scales = [s for s, _ in sk.factors]
    assert scales == sorted(scales, reverse=True) and all(s > 0 for s in scales)
    for _, vecs in sk.factors:
        assert [v.shape for v in vecs] == [(6,), (5,), (4,)]
        np.testing.assert_allclose([np.linalg.norm(v) for v in vecs], 1.0, rtol=1e-14)


def test_errors_by_rank_non_increasing_for_svd():
    k = np.random.default_rng(3).standard_normal((8, 6))
    sk = decompose(k, rank=6)
    errs = np.array(sk.errors_by_rank)
    assert errs.size == 6 and np.all(np.diff(errs) <= 0)
    assert errs[-1] < 1e-12 and sk.relative_error < 1e-12
    # Eckart-Young: each rank's error is the singular value tail
    s = np.linalg.svd(k, compute_uv=False)
    np.testing.assert_allclose(errs[:-1], [np.sqrt(np.sum(s[r:] ** 2)) / np.linalg.norm(k) for r in range(1, 6)],
                               rtol=1e-10)


def test_more_rank_gives_smaller_error_on_random_3d_kernel():
    k = np.random.default_rng(4).standard_normal((5, 4, 3))
    errs = [decompose(k, rank=r).relative_error for r in (1, 2, 4, 6)]
    assert all(b < a for a, b in zip(errs, errs[1:]))
    sk = decompose(k, rank=6)
    assert np.all(np.diff(sk.errors_by_rank) <= 1e-12)
    np.testing.assert_allclose(sk.relative_error, np.linalg.norm(k - sk.to_dense()) / np.linalg.norm(k))


def test_tol_picks_smallest_rank_and_default_tol_is_1e_6():
    k = np.random.default_rng(5).standard_normal((7, 7))
    full = decompose(k, rank=7)
    for tol in (0.5, 0.1, 0.01):
        sk = decompose(k, tol=tol)
        r = sk.rank
        assert full.errors_by_rank[r - 1] <= tol and (r == 1 or full.errors_by_rank[r - 2] > tol)
    assert decompose(k).rank == 7  # a random kernel needs full rank for 1e-6
    assert decompose(k, tol=1e-9, max_rank=3).rank == 3  # capped: best effort at max_rank


def test_decompose_is_deterministic():
    k = np.random.default_rng(6).standard_normal((4, 5, 3))
    a, b = decompose(k, rank=3, seed=7), decompose(k, rank=3, seed=7)
    assert a.errors_by_rank == b.errors_by_rank
    for (sa, va), (sb, vb) in zip(a.factors, b.factors):
        assert sa == sb and all(np.array_equal(x, y) for x, y in zip(va, vb))


@pytest.mark.parametrize("shape", [(7, 5), (5, 7, 3)])
def test_symmetric_kernels_give_symmetric_factors(shape):
    rng = np.random.default_rng(8)
    k = rng.standard_normal(shape)
    for ax in range(k.ndim):
        k = k + np.flip(k, ax)
    sk = decompose(k, rank=3)
    for _, vecs in sk.factors:
        for v in vecs:
            assert np.array_equal(v, v[::-1])
    for op in sk.plan().outputs[0].terms[0].ops:
        assert op.symmetry == 1


def test_antisymmetric_axis_gives_antisymmetric_factors():
    k = outer(gauss(5, 1.0), [-1.0, -2.0, 0.0, 2.0, 1.0]) + outer([1.0, -2.0, 0.0, -2.0, 1.0], [1.0, 0, 0, 0, -1.0])
    sk = decompose(k)
    assert sk.rank == 2
    for _, (u, v) in sk.factors:
        assert np.array_equal(u, u[::-1]) and np.array_equal(v, -v[::-1])


# ---------------------------------------------------------------------------------------
# plan and filtering


def test_plan_structure():
    sk = decompose(random_cp((5, 4, 3), 2, 9), rank=2)
    plan = sk.plan(mode="nearest")
    assert plan.name == "low_rank" and len(plan.outputs) == 1
    terms = plan.outputs[0].terms
    assert len(terms) == 2
    for term, (scale, vecs) in zip(terms, sk.factors):
        assert term.scale == scale
        assert all(isinstance(op, FIR) and np.array_equal(op.taps, v) for op, v in zip(term.ops, vecs))
    assert [op.left for op in terms[0].ops] == [2, 2, 1]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kshape", [(5, 3), (4, 5), (3, 5, 3), (4, 3, 2)])
def test_separable_correlate_matches_dense_correlate(mode, kshape):
    rng = np.random.default_rng(10)
    image = rng.standard_normal((11, 9) if len(kshape) == 2 else (9, 8, 7))
    kernel = rng.standard_normal(kshape)
    sk = decompose(kernel, rank=2)
    ref = ndi.correlate(image, sk.to_dense(), mode=mode)
    before = image.copy()
    got = separable_correlate(image, sk, mode=mode)
    assert type(got) is np.ndarray and got.shape == image.shape
    assert_close(got, ref, np.float64)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("mode", MODES)
def test_full_rank_2d_matches_original_kernel(mode):
    rng = np.random.default_rng(11)
    image = rng.standard_normal((10, 12))
    kernel = rng.standard_normal((4, 5))  # even size: scipy's centre shape // 2
    got = separable_correlate(image, kernel, rank=4, mode=mode)
    assert_close(got, ndi.correlate(image, kernel, mode=mode), np.float64)


@pytest.mark.parametrize("mode", MODES)
def test_float32_and_integer_input(mode):
    rng = np.random.default_rng(12)
    image = rng.standard_normal((8, 9, 7)).astype(np.float32)
    kernel = outer(gauss(5, 1.0), gauss(3, 0.7), gauss(4, 1.2)) + 0.1 * outer(gauss(5, 2.0), [1, 0, -1], gauss(4, 1))
    sk = decompose(kernel)
    ref = ndi.correlate(image.astype(np.float64), sk.to_dense(), mode=mode)
    assert_close(separable_correlate(image, kernel, mode=mode), ref, np.float32)
    ints = (image * 100).astype(np.int16)
    ref = ndi.correlate(ints.astype(np.float64), sk.to_dense(), mode=mode)
    assert_close(separable_correlate(ints, kernel, mode=mode), ref, np.float32)


def test_constant_mode_with_nonzero_cval_pads_once():
    rng = np.random.default_rng(13)
    image = rng.standard_normal((9, 8, 7))
    kernel = random_cp((3, 4, 5), 2, 13)
    ref = ndi.correlate(image, kernel, mode="constant", cval=2.5)
    got = separable_correlate(image, kernel, mode="constant", cval=2.5)
    assert_close(got, ref, np.float64)
    out = np.empty_like(image)
    assert separable_correlate(image, kernel, mode="constant", cval=2.5, output=out) is out
    assert_close(out, ref, np.float64)


def test_output_argument_and_in_place():
    rng = np.random.default_rng(14)
    image = rng.standard_normal((9, 10))
    kernel = random_cp((3, 5), 2, 14)
    ref = ndi.correlate(image, kernel, mode="reflect")
    out = np.empty_like(image)
    assert separable_correlate(image, kernel, output=out) is out
    assert_close(out, ref, np.float64)
    assert separable_correlate(image, kernel, output=image) is image
    assert_close(image, ref, np.float64)


@pytest.mark.parametrize("cval", [0.0, 1.5])
def test_dask_matches_numpy(cval):
    import dask.array as da

    rng = np.random.default_rng(15)
    image = rng.standard_normal((12, 10, 9))
    kernel = random_cp((5, 3, 4), 2, 15)
    lazy = separable_correlate(da.from_array(image, chunks=(6, 5, 9)), kernel, mode="constant", cval=cval)
    assert isinstance(lazy, da.Array)
    expected = separable_correlate(image, kernel, mode="constant", cval=cval)
    got = lazy.compute()
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.max(np.abs(expected)))


# ---------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(kernel=np.ones(5)), ValueError, "`kernel` must be 2-D or 3-D"),
        (dict(kernel=np.ones((2, 2, 2, 2))), ValueError, "`kernel` must be 2-D or 3-D"),
        (dict(kernel=np.ones((0, 3))), ValueError, "`kernel` must not be empty"),
        (dict(kernel=np.array([[1.0, np.nan], [0.0, 1.0]])), ValueError, "`kernel` must be finite"),
        (dict(kernel=np.zeros((3, 3))), ValueError, "`kernel` must not be all zeros"),
        (dict(kernel=np.ones((3, 3)) * 1j), TypeError, "`kernel` must be real"),
        (dict(kernel=np.array([["a", "b"], ["c", "d"]])), TypeError, "`kernel` must be numeric"),
        (dict(kernel=np.ones((3, 4)), rank=0), ValueError, r"`rank` must lie in \[1, 3\]"),
        (dict(kernel=np.ones((3, 4)), rank=4), ValueError, r"`rank` must lie in \[1, 3\]"),
        (dict(kernel=np.ones((3, 4, 2)), rank=7), ValueError, r"`rank` must lie in \[1, 6\]"),
        (dict(kernel=np.ones((3, 4)), rank=1.5), TypeError, "`rank` must be an int"),
        (dict(kernel=np.ones((3, 4)), tol=0.0), ValueError, "`tol` must be a finite number > 0"),
        (dict(kernel=np.ones((3, 4)), tol=-1e-3), ValueError, "`tol` must be a finite number > 0"),
        (dict(kernel=np.ones((3, 4)), tol="1e-3"), TypeError, "`tol` must be a real number"),
        (dict(kernel=np.ones((3, 4)), rank=1, tol=1e-3), ValueError, "give `rank` or `tol`, not both"),
        (dict(kernel=np.ones((3, 4)), max_rank=5), ValueError, r"`max_rank` must lie in \[1, 3\]"),
        (dict(kernel=np.ones((3, 4)), n_iter=0), ValueError, "`n_iter` must be >= 1"),
        (dict(kernel=np.ones((3, 4)), n_iter=2.0), TypeError, "`n_iter` must be an int"),
    ],
)
def test_decompose_rejects_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        decompose(**kwargs)


def test_separable_correlate_rejects_bad_arguments():
    sk = decompose(np.ones((3, 3)))
    with pytest.raises(ValueError, match="`image` must have as many dimensions as `kernel` \\(2\\); got 3"):
        separable_correlate(np.ones((4, 4, 4)), sk)
    with pytest.raises(ValueError, match="`rank` and `tol` must be None"):
        separable_correlate(np.ones((4, 4)), sk, rank=1)
    with pytest.raises(ValueError, match="`mode` must be one of"):
        separable_correlate(np.ones((4, 4)), sk, mode="bogus")
    with pytest.raises(ValueError, match=r"`origin` must lie in \[-1, 1\]"):
        sk.plan(origin=2)
