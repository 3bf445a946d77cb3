"""The CUDA engine and its kernel sources, run on the CPU through the emulator.

The CUDA C in sep3d/backends/cuda/ is compiled unchanged with g++ (tests/cuda_emulator.h)
and launched with the grid, blocks, shared memory and arguments the engine computes; the
results are compared with scipy.ndimage in float64. Allocations are poisoned with NaN, so
an element a kernel never writes fails the comparison. Speed and true parallel races are
left to the GPU check (benchmarks/gpu_check.sh).
"""
import numpy as np
import pytest
import scipy.ndimage as ndi

import sep3d
from conftest import MODES, assert_close
from sep3d import filters
from sep3d._validate import Mode
from sep3d.kernels import FIR
from sep3d.plan import FilterPlan, Output, Term
from sep3d.backends import cuda

cuda_emulator = pytest.importorskip("cuda_emulator")
if cuda_emulator.COMPILER is None:
    pytest.skip("no C++ compiler (g++) to build the CUDA emulator", allow_module_level=True)
EmulatedDevice = cuda_emulator.EmulatedDevice


def volume(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def run(plan, x, dtype, n_results=None, fused=True, **device):
    dev = EmulatedDevice(**device)
    results = [dev.empty(x.shape, dtype) for _ in range(n_results or plan.n_results)]
    cuda.run_plan(plan, np.ascontiguousarray(x, dtype), results, dtype, dtype, dev, fused=fused)
    return results, dev


def kernels_used(dev):
    return {launch.kernel for launch in dev.launches}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_gaussian_fused_and_per_axis_kernels_match_scipy(mode, dtype):
    x = volume((9, 13, 17), dtype)
    sigma = (1.0, 1.5, 0.8)
    plan = filters.plan_gaussian(3, sigma, mode=mode)
    ref = ndi.gaussian_filter(x.astype(np.float64), sigma, mode=mode)
    (fused,), dev = run(plan, x, dtype)
    assert kernels_used(dev) == {"fused3d"}
    assert_close(fused, ref, dtype)
    (per_axis,), dev = run(plan, x, dtype, fused=False)
    assert kernels_used(dev) == {"axis_strided", "axis_contiguous"}
    assert_close(per_axis, ref, dtype)


@pytest.mark.parametrize("mode", MODES)
def test_reach_beyond_the_axis_length(mode):
    """z and y are shorter than the kernel's reach: the modulo branch of the remap."""
    x = volume((3, 4, 11), np.float64)
    sigma = (3.0, 2.5, 4.0)
    plan = filters.plan_gaussian(3, sigma, mode=mode)
    (res,), dev = run(plan, x, np.float64)
    assert "fused3d" not in kernels_used(dev)  # a 25-plane z window is above the fused buckets
    assert_close(res, ndi.gaussian_filter(x, sigma, mode=mode), np.float64)


@pytest.mark.parametrize("mode", MODES)
def test_long_kernels_use_the_any_size_kernels(mode):
    x = volume((5, 40, 90), np.float32)
    sigma = (0.0, 12.0, 10.0)  # 97 and 81 taps: above the largest bucket
    plan = filters.plan_gaussian(3, sigma, mode=mode)
    (res,), dev = run(plan, x, np.float32)
    assert kernels_used(dev) == {"axis_strided_any", "axis_contiguous_any"}
    assert_close(res, ndi.gaussian_filter(x.astype(np.float64), sigma, mode=mode), np.float32)


@pytest.mark.parametrize("mode", MODES)
def test_laplacian_of_gaussian_three_terms_in_one_sweep(mode):
    x = volume((10, 12, 14), np.float32, seed=1)
    plan = filters.plan_laplacian_of_gaussian(3, 1.2, mode=mode)
    (res,), dev = run(plan, x, np.float32)
    assert [launch.kernel for launch in dev.launches] == ["fused3d"]
    assert_close(res, ndi.gaussian_laplace(x.astype(np.float64), 1.2, mode=mode), np.float32)


@pytest.mark.parametrize("mode", ["reflect", "wrap", "constant"])
def test_gradient_magnitude_combines_in_the_kernel(mode):
    x = volume((8, 11, 13), np.float64, seed=2)
    plan = filters.plan_gradient_magnitude(3, 1.0, mode=mode)
    (res,), dev = run(plan, x, np.float64)
    assert [launch.kernel for launch in dev.launches] == ["fused3d"]
    parts = [ndi.gaussian_filter(x, 1.0, order=[int(a == b) for b in range(3)], mode=mode) for a in range(3)]
    assert_close(res, np.sqrt(sum(p * p for p in parts)), np.float64)


def test_hessian_six_outputs():
    x = volume((9, 10, 12), np.float64, seed=3)
    plan = filters.plan_hessian(3, 1.1, mode="nearest")
    results, dev = run(plan, x, np.float64)
    pairs = [(a, b) for a in range(3) for b in range(a, 3)]
    assert len(results) == len(pairs) == 6
    for res, (a, b) in zip(results, pairs):
        order = [0, 0, 0]
        order[a] += 1
        order[b] += 1
        assert_close(res, ndi.gaussian_filter(x, 1.1, order=order, mode="nearest"), np.float64)


def test_fused_and_per_axis_agree_on_a_wavelet_like_bank():
    """Two operators per axis, eight outputs: the shape of a wavelet level."""
    lo, hi = np.array([0.25, 0.5, 0.25]), np.array([-0.5, 0.0, 0.5])
    ops = (FIR(lo), FIR(hi))
    outputs = tuple(Output((Term(1.0, (ops[a], ops[b], ops[c])),)) for a in (0, 1) for b in (0, 1) for c in (0, 1))
    plan = FilterPlan(outputs, (Mode.WRAP,) * 3)
    x = volume((7, 9, 11), np.float64, seed=4)
    fused, dev = run(plan, x, np.float64)
    assert [launch.kernel for launch in dev.launches] == ["fused3d"]
    per_axis, _ = run(plan, x, np.float64, fused=False)
    for a, out_f, out_p in zip(range(8), fused, per_axis):
        ref = x
        for axis, bit in enumerate(((a >> 2) & 1, (a >> 1) & 1, a & 1)):
            ref = ndi.correlate1d(ref, (lo, hi)[bit], axis=axis, mode="wrap")
        assert_close(out_f, ref, np.float64)
        assert_close(out_p, ref, np.float64)


@pytest.mark.parametrize("shape,sigma", [((50,), 2.0), ((21, 19), (1.5, 2.0)), ((3, 6, 7, 9), (0, 1.0, 1.2, 0.9)),
                                         ((3, 6, 7, 9), (1.0, 1.0, 1.2, 0.9))])
def test_any_rank(shape, sigma):
    x = volume(shape, np.float32, seed=5)
    plan = filters.plan_gaussian(len(shape), sigma, mode="mirror")
    (res,), _ = run(plan, x, np.float32)
    assert_close(res, ndi.gaussian_filter(x.astype(np.float64), sigma, mode="mirror"), np.float32)


def test_reversed_thread_order_gives_the_same_result():
    """Running each block's threads in reverse exposes a read of shared memory before its barrier."""
    x = volume((6, 9, 40), np.float32, seed=6)
    plan = filters.plan_laplacian_of_gaussian(3, 1.0)
    (a,), _ = run(plan, x, np.float32)
    (b,), _ = run(plan, x, np.float32, reverse=True)
    (c,), _ = run(plan, x, np.float32, fused=False, reverse=True)
    np.testing.assert_array_equal(a, b)
    assert_close(c, ndi.gaussian_laplace(x.astype(np.float64), 1.0), np.float32)


def test_constant_mode_with_cval_keeps_scipys_pass_order():
    x = volume((7, 8, 9), np.float64, seed=7)
    plan = filters.plan_gaussian(3, 1.0, mode="constant", cval=2.5)
    assert isinstance(cuda.fused_spec(plan, x.shape, np.float64), str)
    (res,), _ = run(plan, x, np.float64)
    assert_close(res, ndi.gaussian_filter(x, 1.0, mode="constant", cval=2.5), np.float64)


@pytest.fixture
def emulated_gpu(monkeypatch):
    dev = EmulatedDevice()
    monkeypatch.setattr(cuda, "device", lambda: dev)
    return dev


@pytest.mark.parametrize("mode", MODES)
def test_public_api_with_backend_cuda_moves_numpy_through_the_engine(emulated_gpu, mode):
    x = volume((8, 9, 10), np.float64, seed=8)
    vol_f = np.asfortranarray(x)  # a layout the engine must transpose
    res = sep3d.gaussian(vol_f, 1.3, mode=mode, backend="cuda")
    assert isinstance(res, np.ndarray) and res.dtype == np.float64 and res.shape == x.shape
    assert emulated_gpu.launches, "the emulated device ran no kernel"
    assert_close(res, ndi.gaussian_filter(x, 1.3, mode=mode), np.float64)
    step = (x * 100).astype(np.int16)[:, ::2, :]  # non-contiguous, integer
    got = sep3d.box(step, 3, mode=mode, backend="cuda")
    assert got.dtype == np.float32  # integers in -> float32 out (rich API)
    assert_close(got, ndi.uniform_filter(step.astype(np.float64), 3, mode=mode), np.float32)


def test_slabs_when_the_volume_does_not_fit(monkeypatch):
    x = volume((23, 9, 10), np.float32, seed=9)
    row = 9 * 10 * 4
    dev = EmulatedDevice(free=row * 110)  # room for a few rows only: several slabs
    monkeypatch.setattr(cuda, "device", lambda: dev)
    for mode in MODES:
        dev.launches.clear()
        res = sep3d.laplacian_of_gaussian(x, (1.5, 1.0, 1.0), mode=mode, backend="cuda")
        assert len(dev.launches) >= 3  # one fused launch per slab (23 rows, 3 per slab)
        assert_close(res, ndi.gaussian_laplace(x.astype(np.float64), (1.5, 1.0, 1.0), mode=mode), np.float32)


def test_slabs_refuse_when_one_row_and_its_halo_do_not_fit(monkeypatch):
    x = volume((23, 9, 10), np.float32)
    monkeypatch.setattr(cuda, "device", lambda: EmulatedDevice(free=9 * 10 * 4 * 20))
    with pytest.raises(MemoryError, match="one output row needs 17"):
        sep3d.gaussian(x, (2.0, 1.0, 1.0), backend="cuda")


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_device_arrays_are_written_in_place_when_the_layout_allows(monkeypatch, layout):
    """With NumPy arrays playing device arrays: outputs in the input's layout are written
    by the kernels themselves; others (and output = input) through a result array."""
    dev = EmulatedDevice(host_arrays=False)
    monkeypatch.setattr(cuda, "device", lambda: dev)
    x = volume((9, 10, 11), np.float32, seed=10)
    x = {"C": x, "F": np.asfortranarray(x), "strided": x[:, ::2]}[layout]
    out = np.full(x.shape, np.nan, np.float32, order="F" if layout == "F" else "C")
    res = sep3d.laplacian_of_gaussian(x, 1.0, output=out, backend="cuda")
    assert res is out and dev.launches
    assert_close(out, ndi.gaussian_laplace(x.astype(np.float64), 1.0), np.float32)
    same = x.copy(order="K")
    sep3d.gaussian(same, 1.0, output=same, backend="cuda")
    assert_close(same, ndi.gaussian_filter(x.astype(np.float64), 1.0), np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
def test_recursive_log_kernel_matches_the_cpu_engine(mode, dtype):
    """The IIR kernel (one thread per line) against the CPU engine's recursion, every axis."""
    x = volume((7, 12, 10), dtype)
    plan = filters.plan_laplacian_of_gaussian(3, 1.2, normalize=True, spacing=(2.0, 0.8, 0.9), mode=mode,
                                              method="recursive")
    ref = sep3d.laplacian_of_gaussian(x.astype(np.float64), 1.2, normalize=True, spacing=(2.0, 0.8, 0.9),
                                      mode=mode, method="recursive")
    (got,), dev = run(plan, x, dtype)
    assert kernels_used(dev) == {"axis_recursive"}
    if dtype == np.float64 and mode not in ("nearest", "constant"):
        # the kernel recurses over the line extended by the reach, the CPU engine starts
        # from the boundary states up to the reach: both within 1e-9 of the infinite extension
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-8 * np.abs(ref).max())
    else:
        assert_close(got, ref, dtype)
