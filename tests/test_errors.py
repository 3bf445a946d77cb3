"""Every user mistake raises a ValueError or TypeError naming the argument."""
import os
import re
import subprocess
import sys

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as scipy_ndimage

import sep3d
from sep3d import ndimage as s3
from sep3d._validate import AxisError
from sep3d.backends import cuda
from sep3d.backends.threads import threads_from_environment
from sep3d.kernels import FIR, difference_taps
from sep3d.plan import FilterPlan, Output, Term

VOL = np.zeros((6, 7, 8), np.float32)


@pytest.mark.parametrize("call, exc, match", [
    # the image
    (lambda: sep3d.convolve(VOL.astype(np.complex64), np.ones((3, 3, 3))), TypeError, "`image` must be real"),
    (lambda: sep3d.gaussian(np.array(["a", "b"]), 1.0), TypeError, "`image` must have a bool, integer, float or complex"),
    (lambda: sep3d.convolve(np.zeros((0, 4)), np.ones((3, 3))), ValueError, "`image` must not be empty"),
    (lambda: sep3d.gaussian(np.float32(3.0), 1.0), ValueError, "`image` must have at least one dimension"),
    (lambda: sep3d.gaussian(da.zeros((4, 4)), 1.0, output=np.zeros((4, 4), np.float32)), TypeError, "`output` must be None for a dask array"),
    (lambda: s3.gaussian_filter(VOL.astype(np.float16), 1.0), TypeError, r"`input` has dtype float16.*sep3d.gaussian"),
    (lambda: s3.gaussian_filter(VOL, 1.0, output=np.float16), TypeError, "`output` has dtype float16"),
    (lambda: s3.gaussian_filter(VOL.astype(np.complex64), 1.0, output=np.float32), TypeError,
     "`output` must be complex for a complex result"),
    (lambda: s3.gaussian_filter(VOL, 1.0, output=np.complex64), TypeError, "`output` must be real for a real input"),
    (lambda: s3.correlate1d(VOL, [1.0, 2j], mode="constant", cval=1j), ValueError, "`cval` must be real for a real input"),
    (lambda: s3.correlate1d(np.float64(2.0), [1.0]), ValueError, r"`axis` must index an axis \(a 0-d input has none\)"),
    # sigma, truncate, radius, order
    (lambda: sep3d.gaussian(VOL, -1.0), ValueError, r"`sigma` must be finite and >= 0; got -1.0"),
    (lambda: sep3d.gaussian(VOL, np.nan), ValueError, "`sigma` must be finite and >= 0; got nan"),
    (lambda: sep3d.gaussian(VOL, np.inf), ValueError, "`sigma` must be finite"),
    (lambda: sep3d.gaussian(VOL, "2"), TypeError, "`sigma` must be a real number"),
    (lambda: sep3d.gaussian(VOL, (1.0, 2.0)), ValueError, r"`sigma` must be a scalar or have one value per axis \(3\); got 2"),
    (lambda: s3.gaussian_filter(VOL, -0.5), ValueError, "`sigma` must be finite and >= 0"),
    (lambda: s3.gaussian_filter1d(VOL, 0.0), ValueError, "`sigma` must be > 0"),
    (lambda: sep3d.gaussian(VOL, 1.0, truncate=-1), ValueError, "`truncate` must be finite and >= 0"),
    (lambda: sep3d.gaussian(VOL, 1.0, radius=-2), ValueError, "`radius` must be a non-negative int"),
    (lambda: sep3d.gaussian(VOL, 1.0, radius=2.5), ValueError, "`radius` must be a non-negative int"),
    (lambda: sep3d.gaussian_derivative(VOL, 1e-3, 2, method="recursive"), ValueError,
     r"`sigma` must be at least 0\.002 samples for a recursive Gaussian derivative"),
    (lambda: s3.gaussian_filter(VOL, 1.0, order=-1), ValueError, "`order` must be a non-negative int"),
    (lambda: sep3d.gaussian_derivative(VOL, 1.0, -1), ValueError, "`order` must be a non-negative int"),
    (lambda: sep3d.gaussian_derivative(VOL, (0.0, 1.0, 1.0), 1), ValueError, "`sigma` must be > 0 on axis 0"),
    (lambda: sep3d.difference_of_gaussians(VOL, 2.0, 1.0), ValueError, "`high_sigma` must be >= `low_sigma`"),
    # mode, cval, spacing, axes
    (lambda: sep3d.gaussian(VOL, 1.0, mode="edge"), ValueError, r"`mode` must be one of \[.*'reflect'.*\]; got 'edge'"),
    (lambda: s3.correlate1d(VOL, [1.0], mode=("reflect",)), ValueError, "`mode` must be one of the mode names"),
    (lambda: sep3d.gaussian(VOL, 1.0, cval="x"), TypeError, "`cval` must be a real number"),
    (lambda: sep3d.gaussian(VOL, 1.0, spacing=(1.0, 1.0)), ValueError, r"`spacing` must be a scalar or have one value per axis \(3\)"),
    (lambda: sep3d.gaussian(VOL, 1.0, spacing=(1.0, 0.0, 1.0)), ValueError, "`spacing` must be finite and > 0"),
    (lambda: sep3d.gaussian(VOL, 1.0, spacing=-1), ValueError, "`spacing` must be finite and > 0"),
    (lambda: sep3d.gaussian(VOL, 1.0, axes=3), ValueError, r"`axes` entries must be in \[-3, 2\]"),
    (lambda: sep3d.gaussian(VOL, 1.0, axes=(0, -3)), ValueError, "`axes` must not repeat an axis"),
    (lambda: sep3d.gaussian(VOL, 1.0, axes=(0.5,)), TypeError, "`axes` must hold ints"),
    (lambda: sep3d.gaussian(VOL, 1.0, axes="x"), TypeError, "`axes` must hold ints"),
    (lambda: sep3d.gaussian(VOL, 1.0, axes=object()), TypeError, "`axes` must be None, an int or a sequence"),
    (lambda: s3.gaussian_filter1d(VOL, 1.0, axis=5), ValueError, r"`axis` must be in \[-3, 2\] for a 3-d input; got 5"),
    (lambda: s3.sobel(VOL, axis=1.0), TypeError, "`axis` must be an int"),
    # sizes, origins, weights
    (lambda: sep3d.box(VOL, 0), ValueError, "`size` must be a positive int; got 0"),
    (lambda: s3.uniform_filter1d(VOL, 2.5), TypeError, "`size` must be a positive int"),
    (lambda: sep3d.box(VOL, -1.0, spacing=1.0), ValueError, "`size` must be finite and > 0"),
    (lambda: s3.uniform_filter(VOL, 3, origin=2), ValueError, r"`origin` must lie in \[-1, 1\]"),
    (lambda: s3.correlate1d(VOL, [1.0, 2.0], origin=0.5), TypeError, "`origin` must be an int"),
    (lambda: s3.convolve1d(VOL, [1.0, 2.0], origin=None), TypeError, "`origin` must be an int"),
    (lambda: s3.correlate1d(VOL, []), ValueError, "`weights` must hold at least one tap"),
    (lambda: s3.correlate1d(VOL, [[1.0]]), ValueError, "`weights` must be one-dimensional"),
    (lambda: sep3d.separable(VOL, [1j, 1.0]), TypeError, "`kernels` must be real"),
    (lambda: s3.convolve1d(VOL, [1.0, 2.0, 3.0], origin=2), ValueError, r"`origin` must lie in \[-1, 1\].*got 2"),
    (lambda: s3.correlate1d(VOL, ["a"]), TypeError, "`weights` must be numeric"),
    (lambda: sep3d.separable(VOL, [[1.0], [1.0]]), ValueError, r"`kernels` must be a scalar or have one value per axis"),
    (lambda: sep3d.separable(VOL, [1.0, np.inf]), ValueError, "`kernels` must be finite"),
    # output
    (lambda: sep3d.gaussian(VOL, 1.0, output=np.empty((6, 7))), ValueError, r"`output` must have shape \(6, 7, 8\)"),
    (lambda: sep3d.gaussian(VOL, 1.0, output=np.empty((6, 7, 8), np.int16)), TypeError, "`output` must be float32 or float64"),
    (lambda: sep3d.gaussian(VOL, 1.0, output=[0.0]), TypeError, "`output` must be an array of the input's type"),
    (lambda: sep3d.hessian(VOL, 1.0, output=np.empty((6, 7, 8), np.float32)), ValueError, r"`output` must have shape \(6, 6, 7, 8\)"),
    (lambda: s3.gaussian_filter(VOL, 1.0, output=np.empty((6, 7))), ValueError, "`output` must have the input's shape"),
    (lambda: s3.gaussian_filter(VOL, 1.0, output=np.complex64), TypeError, "`output` must be real"),
    (lambda: s3.gaussian_filter(VOL, 1.0, output="S5"), TypeError, "`output` must name a numeric dtype"),
    (lambda: s3.gaussian_filter(VOL, 1.0, output=3.5), TypeError, "`output` must be None, an array or a dtype"),
    (lambda: s3.gaussian_laplace(VOL, 1.0, order=1), TypeError, r"unexpected keyword argument\(s\) \['order'\]"),
    # backend
    (lambda: sep3d.gaussian(VOL, 1.0, backend="gpu"), ValueError, r"`backend` must be one of \['auto', 'cpu', 'numpy', 'cuda'\]"),
    # describe
    (lambda: sep3d.describe(len), TypeError, "`plan_or_filter` must be a FilterPlan or a sep3d filter"),
    (lambda: sep3d.describe(sep3d.gaussian), TypeError, "needs the image or its shape"),
    # threads
    (lambda: sep3d.set_num_threads(0), ValueError, "`n` must be a positive int"),
    (lambda: sep3d.set_num_threads(1.5), TypeError, "`n` must be a positive int"),
])
def test_bad_input_raises_a_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# scipy.ndimage's own class and words for each mistake: code written for scipy catches
# sep3d's errors (and sep3d's still name the argument, as the table above checks)
SCIPY_ERRORS = [
    (lambda m: m.gaussian_filter(VOL, 1.0, axes=(1, 1)), ValueError, "axes must be unique"),
    (lambda m: m.gaussian_filter(VOL, 1.0, axes=(3,)), ValueError, "out of range"),
    (lambda m: m.gaussian_filter(VOL, 1.0, axes=(1.5,)), TypeError, "cannot be interpreted as an integer"),
    (lambda m: m.sobel(VOL, axis=3), AxisError, "axis 3 is out of bounds for array of dimension 3"),
    (lambda m: m.gaussian_filter(VOL, (1.0, 2.0)), RuntimeError, "sequence argument must have length equal to input rank"),
    (lambda m: m.uniform_filter(VOL, 3, mode=["reflect"] * 2), RuntimeError, "sequence argument must have length"),
    (lambda m: m.gaussian_filter(VOL, 1.0, mode="edge"), RuntimeError, "boundary mode not supported"),
    (lambda m: m.correlate1d(VOL, [1.0], mode=["reflect"]), RuntimeError, "boundary mode not supported"),
    (lambda m: m.gaussian_filter(VOL, 1.0, output=np.empty((6, 7))), RuntimeError, "output shape not correct"),
    (lambda m: m.correlate1d(VOL, []), RuntimeError, "no filter weights given"),
    (lambda m: m.correlate1d(VOL, [[1.0]]), RuntimeError, "no filter weights given"),
    (lambda m: m.uniform_filter1d(VOL, 0), RuntimeError, "incorrect filter size"),
    (lambda m: m.uniform_filter1d(VOL, 3, origin=2), ValueError, "invalid origin"),
    (lambda m: m.correlate1d(VOL, [1.0, 1.0, 2.0, 0.0], origin=2), ValueError,
     re.escape("Invalid origin; origin must satisfy -(len(weights) // 2) <= origin <= (len(weights)-1) // 2")),
    (lambda m: m.gaussian_filter1d(VOL, 1.0, radius=1.1), ValueError, "Radius must be a nonnegative integer."),
    (lambda m: m.gaussian_filter1d(VOL, 1.0, radius=-1), ValueError, "Radius must be a nonnegative integer."),
    (lambda m: m.gaussian_filter(VOL, 1.0, order=-1), ValueError, "order must be non-negative"),
    (lambda m: m.gaussian_filter(VOL.astype(np.float16), 1.0), RuntimeError, re.escape("array type dtype('float16') not supported")),
    (lambda m: m.gaussian_filter(VOL, 1.0, output="bool"), RuntimeError, "output must have numeric dtype"),
    (lambda m: m.gaussian_filter(VOL.astype(np.complex64), 1.0, output=np.zeros((6, 7, 8))), RuntimeError,
     "output must have complex dtype"),
    (lambda m: m.correlate1d(VOL, [1.0, 2j], mode="constant", cval=1j), ValueError,
     "Cannot provide a complex-valued cval when the input is real."),
]


@pytest.mark.parametrize("call, exc, match", SCIPY_ERRORS)
@pytest.mark.parametrize("module", ["scipy", "sep3d"])
def test_errors_match_what_scipy_raises_for_the_same_mistake(call, exc, match, module):
    # the same call and pytest.raises on both: scipy is the oracle of class and words
    with pytest.raises(exc, match=match):
        call(scipy_ndimage if module == "scipy" else s3)


def test_bad_thread_count_in_the_environment_names_the_variable():
    for value in ("0", "abc", "-2"):
        with pytest.raises(ValueError, match=f"SEP3D_NUM_THREADS must be a positive integer.*got '{value}'"):
            threads_from_environment(value)
    assert threads_from_environment(" 3 ") == 3
    env = dict(os.environ, SEP3D_NUM_THREADS="0")
    run = subprocess.run([sys.executable, "-c", "import sep3d"], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "SEP3D_NUM_THREADS must be a positive integer" in run.stderr


def test_read_only_output_is_refused():
    out = np.empty((6, 7, 8), np.float32)
    out.setflags(write=False)
    with pytest.raises(ValueError, match="`output` must be writeable"):
        sep3d.gaussian(VOL, 1.0, output=out)
    with pytest.raises(ValueError, match="`output` must be writeable"):
        s3.gaussian_filter(VOL, 1.0, output=out)


def test_plan_construction_errors():
    op = FIR([1.0, 2.0, 1.0])
    with pytest.raises(TypeError, match="`ops` must hold FIR, IIR or VaryingFIR operators or None"):
        Term(1.0, (op, [1, 2, 1]))
    with pytest.raises(ValueError, match="`outputs` must hold at least one Output"):
        FilterPlan((), (0, 0))
    with pytest.raises(ValueError, match=r"every term needs one operator per axis \(2\); got 1"):
        FilterPlan((Output((Term(1.0, (op,)),)),), (0, 0))
    with pytest.raises(ValueError, match="`combine` must be one of"):
        FilterPlan((Output((Term(1.0, (op, None)),)),), (0, 0), combine="max")
    with pytest.raises(NotImplementedError, match="`combine` needs every output to be a single term"):
        FilterPlan((Output((Term(1.0, (op, None)), Term(1.0, (None, op)))),), (0, 0), combine="sqrt_sum_squares")
    with pytest.raises(ValueError, match="`order` must be 1 or 2"):
        difference_taps(3)


def test_errors_leave_the_user_data_alone():
    vol = np.arange(336, dtype=np.float32).reshape(6, 7, 8)
    out = np.full((6, 7, 8), 7.0, np.float32)
    with pytest.raises(ValueError):
        sep3d.gaussian(vol, 1.0, mode="bogus", output=out)
    assert np.all(out == 7.0)
    assert vol[5, 6, 7] == 335


@pytest.mark.skipif(not isinstance(cuda._probe(), str), reason="a CUDA GPU is present: backend='cuda' works here")
def test_backend_cuda_without_a_gpu_names_what_is_missing():
    with pytest.raises(cuda.CudaUnavailableError, match="`backend='cuda'` needs a CUDA GPU: .*use backend='(cpu|numpy)'"):
        sep3d.gaussian(VOL, 1.0, backend="cuda")
    with pytest.raises(cuda.CudaUnavailableError, match="needs a CUDA GPU"):
        sep3d.laplacian_of_gaussian(VOL, 1.0, backend="cuda")
