"""Shared test helpers: the oracle tolerance table, input makers and the output contract."""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

import numpy as np
import pytest

#: SEP3D_BLOCK_NUMBA=1 runs the tests as on a machine where numba cannot be imported:
#: ``backend="auto"`` then runs on the NumPy engine (tests/test_numpy_engine.py runs the
#: parity files so). Tests of the Numba engine itself are marked ``numba_engine`` and skip.
NUMBA_BLOCKED = bool(os.environ.get("SEP3D_BLOCK_NUMBA"))
if NUMBA_BLOCKED:
    sys.modules["numba"] = None
    sys.modules["llvmlite"] = None
    from sep3d import backends as _backends

    with warnings.catch_warnings():  # the one fallback warning, given here and not in a test
        warnings.simplefilter("ignore", _backends.NumbaUnavailableWarning)
        _backends.engine_name("auto", np.empty(0))


#: The host engines: a test of an engine's results runs on both (the Numba one is skipped
#: when numba is blocked).
HOST_ENGINES = [pytest.param("cpu", marks=pytest.mark.numba_engine), "numpy"]


def pytest_collection_modifyitems(config, items):
    if not NUMBA_BLOCKED:
        return
    skip = pytest.mark.skip(reason="numba is blocked (SEP3D_BLOCK_NUMBA): the test runs the Numba engine itself")
    for item in items:
        if "numba_engine" in item.keywords:
            item.add_marker(skip)

MODES = ("reflect", "mirror", "nearest", "wrap", "constant")


def tolerance(dtype, ref, scale=None):
    """Absolute tolerance from DESIGN.md: float32 1e-5 * max|ref| + 1e-6, float64 1e-12 relative.

    float64 gets an absolute floor of 1e-15 like float32's 1e-6: where terms cancel to
    almost nothing (a LoG of a near-constant signal) rounding of the inputs dominates.
    `scale`, when larger than max|ref|, is the magnitude the rounding is relative to: the
    largest value an intermediate pass holds (a derivative pass before smoothing ones).
    """
    finite = np.abs(ref[np.isfinite(ref)]) if np.size(ref) else np.zeros(0)
    scale = max(float(finite.max()) if finite.size else 0.0, scale or 0.0)
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return 1e-12 * scale + 1e-15
    if dtype == np.float32:
        return 1e-5 * scale + 1e-6
    return None


def assert_close(result, ref, dtype=None, int_slack=1, scale=None):
    """Compare a sep3d result with the float64 oracle under the tolerance of its dtype.

    Integer results follow scipy's truncation, which scipy also applies between passes;
    they may differ by `int_slack` units (modulo the dtype's range: casts wrap).
    """
    result = np.asarray(result)
    ref = np.asarray(ref)
    assert result.shape == ref.shape, (result.shape, ref.shape)
    dtype = np.dtype(dtype or result.dtype)
    tol = tolerance(dtype, ref, scale)
    nan_ref = np.isnan(ref)
    if dtype.kind == "f":
        np.testing.assert_array_equal(np.isnan(result), nan_ref, err_msg="NaN positions differ")
    if dtype.kind in "iu":  # wrap-aware: C casts wrap, so -1 and 255 are 1 apart in uint8
        span = 2.0 ** (8 * dtype.itemsize)
        diff = np.mod(result.astype(np.float64) - ref.astype(np.float64), span)
        diff = np.minimum(diff, span - diff)[~nan_ref]
    else:
        diff = np.abs(result.astype(np.float64) - ref.astype(np.float64))[~nan_ref]
    worst = float(diff.max()) if diff.size else 0.0
    if tol is None:
        assert worst <= int_slack, f"integer result off by {worst} (allowed {int_slack})"
    else:
        assert worst <= tol, f"max error {worst:.3e} > tolerance {tol:.3e} ({dtype})"


def make_volume(shape, dtype=np.float32, seed=0):
    """Random test data in the range of the dtype (CT-like for int16)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.int16:
        return rng.integers(-1024, 3000, size=shape).astype(dtype)
    if dtype == np.uint8:
        return rng.integers(0, 256, size=shape).astype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, 1000, size=shape).astype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    return (rng.standard_normal(shape) * 100).astype(dtype)


def check_contract(result, image, image_before, dtype, shape=None):
    """The output contract of every rich filter: type, shape, dtype rule, input unmodified."""
    assert isinstance(result, np.ndarray)
    assert result.shape == (shape or image.shape)
    assert result.dtype == dtype
    np.testing.assert_array_equal(image, image_before)


def rich_dtype(dtype):
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@contextlib.contextmanager
def inprocess_client(n_workers=2):
    """A dask.distributed client on an in-process cluster (threads): fast, for the bookkeeping tests."""
    import distributed

    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=False,
                                       dashboard_address=":0")
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
