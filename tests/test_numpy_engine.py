"""The NumPy/SciPy engine (backend="numpy"): every kind of plan against outside oracles.

Oracles: scipy.ndimage in float64 (FIR filters, every mode), scipy.signal.savgol_filter
(position-dependent taps), each recursive operator's plain per-line reference
(:meth:`sep3d.kernels.IIR.apply`) on lines extended by NumPy's own ``np.pad`` (the
recursive Gaussian), and the Numba engine where both claim the same result. The
last tests run the filter API and the parity test files with numba blocked
(``sys.modules["numba"] = None``), in fresh interpreters.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
from scipy.signal import savgol_filter

import sep3d
from sep3d.backends import cuda
from sep3d.backends import numpy_engine
from sep3d.kernels import recursive_gaussian

from conftest import MODES, assert_close, make_volume

ROOT = Path(__file__).resolve().parents[1]

#: np.pad's name of each scipy.ndimage mode (scipy "reflect" repeats the edge sample).
NP_PAD = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "wrap": "wrap", "constant": "constant"}


def f64(a):
    return np.asarray(a, dtype=np.float64)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_and_its_derivatives_match_scipy_in_every_mode(mode, dtype):
    vol = make_volume((9, 12, 14), dtype)
    for order in ([0, 0, 0], [1, 0, 2], [0, 2, 1]):
        out = sep3d.gaussian_derivative(vol, 1.7, order=order, mode=mode, cval=0.5, backend="numpy")
        assert out.dtype == dtype
        assert_close(out, ndi.gaussian_filter(f64(vol), 1.7, order=order, mode=mode, cval=0.5))


@pytest.mark.parametrize("mode", MODES)
def test_kernels_wider_than_the_axis_extend_as_scipy_does(mode):
    vol = make_volume((3, 5, 2), np.float64, seed=3)
    out = sep3d.gaussian(vol, 4.0, mode=mode, cval=-2.0, backend="numpy")
    assert_close(out, ndi.gaussian_filter(vol, 4.0, mode=mode, cval=-2.0))


def test_multi_term_multi_output_and_combined_plans_match_scipy():
    vol = make_volume((10, 11, 12), np.float64, seed=1)
    assert_close(sep3d.laplacian_of_gaussian(vol, 1.5, backend="numpy"), ndi.gaussian_laplace(vol, 1.5))
    assert_close(sep3d.gradient_magnitude(vol, 1.2, backend="numpy"), ndi.gaussian_gradient_magnitude(vol, 1.2))
    hess = sep3d.hessian(vol, 1.4, backend="numpy")
    pairs = [(i, j) for i in range(3) for j in range(i, 3)]
    assert hess.shape == (len(pairs),) + vol.shape
    for h, (i, j) in zip(hess, pairs):
        order = [0, 0, 0]
        order[i] += 1
        order[j] += 1
        assert_close(h, ndi.gaussian_filter(vol, 1.4, order=order))
    dog = sep3d.difference_of_gaussians(vol, 1.0, 2.0, backend="numpy")
    assert_close(dog, ndi.gaussian_filter(vol, 1.0) - ndi.gaussian_filter(vol, 2.0))


def test_moving_averages_origins_and_arbitrary_taps_match_scipy():
    vol = make_volume((8, 9, 10), np.float32, seed=2)
    assert_close(sep3d.box(vol, (3, 4, 5), mode="wrap", backend="numpy"),
                 ndi.uniform_filter(f64(vol), (3, 4, 5), mode="wrap"))
    taps = [np.array([1.0, -2.0, 0.5, 3.0]), None, np.array([0.25, 0.5])]
    out = sep3d.separable(vol, taps, mode="mirror", backend="numpy")
    ref = ndi.correlate1d(f64(vol), taps[0], axis=0, mode="mirror")
    ref = ndi.correlate1d(ref, taps[2], axis=2, mode="mirror")
    assert_close(out, ref, np.float32)


def test_layouts_integer_input_and_output_aliasing():
    vol = make_volume((7, 8, 9), np.float64, seed=4)
    ref = ndi.gaussian_filter(vol, 1.1)
    assert_close(sep3d.gaussian(np.asfortranarray(vol), 1.1, backend="numpy"), ref)
    assert_close(sep3d.gaussian(vol[:, ::-1].copy()[:, ::-1], 1.1, backend="numpy"), ref)
    ints = make_volume((7, 8, 9), np.int16)
    assert_close(sep3d.gaussian(ints, 1.1, backend="numpy"), ndi.gaussian_filter(f64(ints), 1.1), np.float32)
    inplace = vol.copy()
    assert sep3d.gaussian(inplace, 1.1, output=inplace, backend="numpy") is inplace
    assert_close(inplace, ref)
    both = vol.copy()  # a multi-term plan into its own input: computed aside, then stored
    sep3d.laplacian_of_gaussian(both, 1.3, output=both, backend="numpy")
    assert_close(both, ndi.gaussian_laplace(vol, 1.3))


def test_dask_arrays_run_chunk_by_chunk_on_the_numpy_engine():
    da = pytest.importorskip("dask.array")
    vol = make_volume((48, 40, 20), np.float32, seed=5)
    lazy = sep3d.gaussian(da.from_array(vol, chunks=(24, 40, 20)), 1.0, mode="wrap", backend="numpy")
    assert lazy.numblocks == (2, 1, 1)
    assert isinstance(lazy, da.Array)
    assert_close(lazy.compute(), ndi.gaussian_filter(f64(vol), 1.0, mode="wrap"), np.float32)


def _recursive_reference(line, op, mode, cval):
    """IIR.apply (the plain per-line reference, nearest at its ends) on the line padded by np.pad."""
    if mode == "nearest":  # the recursion's own boundary
        return op.apply(line)
    pad = op.reach + 1
    kwargs = {"constant_values": cval} if mode == "constant" else {}
    return op.apply(np.pad(line, pad, mode=NP_PAD[mode], **kwargs))[pad:pad + line.size]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("order", [0, 1, 2])
def test_recursive_operators_match_the_per_line_reference(mode, order):
    rng = np.random.default_rng(order)
    sigma = 2.5
    op = recursive_gaussian(sigma, order)
    vol = rng.normal(size=(3, 4, 40))
    out = numpy_engine.recursive_pass(vol, 2, op, sep3d._validate.MODES[mode], 0.7)
    ref = np.stack([[_recursive_reference(vol[i, j], op, mode, 0.7) for j in range(4)] for i in range(3)])
    scale = np.abs(ref).max()
    # the truncation at the reach cuts 1e-9 of the response mass (RECURSIVE_TOLERANCE)
    assert np.abs(out - ref).max() <= 1e-8 * scale


@pytest.mark.parametrize("mode", MODES)
def test_recursive_gaussian_agrees_with_the_numba_engine(mode):
    vol = make_volume((12, 13, 30), np.float64, seed=6)
    a = sep3d.gaussian(vol, 3.0, mode=mode, cval=1.5, method="recursive", backend="numpy")
    b = sep3d.gaussian(vol, 3.0, mode=mode, cval=1.5, method="recursive", backend="cpu")
    # the CPU engine starts each section from exact states; this one extends by the reach
    assert np.abs(a - b).max() <= 1e-8 * np.abs(b).max()


def test_position_dependent_savgol_matches_scipy_signal():
    cube = make_volume((31, 6, 7), np.float64, seed=7)
    wl = np.linspace(400.0, 1000.0, 31)
    out = sep3d.spatial_spectral(cube, spectral={"savgol": {"window_length": 7, "polyorder": 2, "deriv": 1}},
                                 wavelengths=wl, backend="numpy")
    ref = savgol_filter(cube, 7, 2, deriv=1, delta=wl[1] - wl[0], axis=0, mode="interp")
    assert_close(out, ref)


def test_integer_and_bool_outputs_are_scipys_bits():
    vol = make_volume((9, 10, 11), np.int16, seed=8)
    plan = sep3d.filters.plan_gaussian(3, 1.3, mode="nearest")
    plan = sep3d.FilterPlan(plan.outputs, plan.modes, plan.cval, arithmetic="scipy")
    out = np.empty(vol.shape, np.uint8)
    numpy_engine.execute(plan, vol, [out], np.float64, np.float64)
    np.testing.assert_array_equal(out, ndi.gaussian_filter(vol, 1.3, mode="nearest", output=np.uint8))
    mask = vol > 500
    out = np.empty(vol.shape, bool)
    box = sep3d.filters.plan_box(3, 3, mode="reflect")
    numpy_engine.execute(sep3d.FilterPlan(box.outputs, box.modes, arithmetic="scipy"), mask, [out],
                         np.float64, np.float64)
    np.testing.assert_array_equal(out, ndi.uniform_filter(mask, 3, output=bool))


def _run_blocked(code, timeout=600):
    """Run `code` in a fresh interpreter in which numba and llvmlite cannot be imported."""
    env = dict(os.environ, SEP3D_BLOCK_NUMBA="1", PYTHONPATH=str(ROOT))
    prelude = "import sys\nsys.modules['numba'] = None\nsys.modules['llvmlite'] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)


def test_without_numba_auto_falls_back_with_one_warning_and_cpu_says_why():
    proc = _run_blocked("""
        import warnings
        import numpy as np, scipy.ndimage as ndi
        import sep3d
        assert not any(m.startswith(("numba", "llvmlite")) and sys.modules[m] is not None for m in sys.modules)
        vol = np.random.default_rng(0).random((10, 11, 12))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            a = sep3d.gaussian(vol, 1.5)
            b = sep3d.laplacian_of_gaussian(vol, 1.5)
        assert [w.category.__name__ for w in caught] == ["NumbaUnavailableWarning"], caught
        assert np.abs(a - ndi.gaussian_filter(vol, 1.5)).max() < 1e-12
        assert np.abs(b - ndi.gaussian_laplace(vol, 1.5)).max() < 1e-12
        try:
            sep3d.gaussian(vol, 1.0, backend="cpu")
        except ImportError as exc:
            print("CPU:", exc)
        import sep3d.spectral  # the analyses import too (their kernels run as Python)
        from sep3d.versions import report
        print(report())
        print("OK")
    """)
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout
    assert "CPU: backend='cpu' is sep3d's Numba engine, and numba cannot be imported" in proc.stdout
    assert "backend='numpy'" in proc.stdout
    assert "CPU engine: NumPy/SciPy engine (numba cannot be imported: import of " in proc.stdout  # sep3d --version


@pytest.mark.skipif(not isinstance(cuda._probe(), str), reason="a CUDA GPU is present: backend='cuda' runs there")
def test_without_numba_the_cuda_engine_imports_and_reports_the_missing_gpu():
    """A GPU image needs only CuPy: sep3d and its CUDA engine import without numba/llvmlite,
    and backend='cuda' on a machine without a GPU says what is missing and what to use."""
    proc = _run_blocked("""
        import numpy as np
        import sep3d, sep3d.backends.cuda
        assert not any(m.startswith(("numba", "llvmlite")) and sys.modules[m] is not None for m in sys.modules)
        try:
            sep3d.gaussian(np.zeros((4, 5, 6), np.float32), 1.0, backend="cuda")
        except sep3d.backends.cuda.CudaUnavailableError as exc:
            print("CUDA:", exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "CUDA: `backend='cuda'` needs a CUDA GPU: " in proc.stdout
    assert "use backend='numpy' (numba cannot be imported)" in proc.stdout


#: The parity test files run again with numba blocked (auto -> the NumPy engine).
#: scipy's own test_filters.py (tests/test_scipy_suite.py) among them.
PARITY_FILES = ["tests/test_filters.py", "tests/test_ndimage.py", "tests/test_scipy_suite.py", "tests/test_fuzz.py",
                "tests/test_recursive.py", "tests/test_convolution.py", "tests/test_decompose.py",
                "tests/test_spatial_spectral.py", "tests/test_properties.py", "tests/test_chunked.py",
                "tests/test_xr.py", "tests/test_errors.py"]


@pytest.mark.slow
def test_parity_tests_pass_with_numba_blocked():
    env = dict(os.environ, SEP3D_BLOCK_NUMBA="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra",
           "-p", "no:xdist", *PARITY_FILES]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200)
    tail = proc.stdout[-3000:]
    assert proc.returncode == 0, tail + proc.stderr[-2000:]
    summary = tail.strip().splitlines()[-1]
    passed = int(summary.split(" passed")[0].split()[-1])
    assert passed > 1200 and "failed" not in summary and "error" not in summary, summary
    # what is skipped is only the Numba engine's own tests, and the optional GPU
    reasons = {line.split(": ", 1)[-1] for line in tail.splitlines() if line.startswith("SKIPPED")}
    assert all("numba is blocked" in r or "GPU" in r or "CuPy" in r for r in reasons), reasons
