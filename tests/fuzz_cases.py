"""Differential fuzzing against scipy.ndimage: random cases and the checks each must pass.

Shared by the Hypothesis tests (``tests/test_fuzz.py``, bounded for CI) and the long
campaign (``benchmarks/fuzz_campaign.py``). A case is a random call of one function of
either API layer on a random array:

- shapes of 1 to 4 axes, each of length 0 to 9; every dtype scipy.ndimage filters (also
  big-endian, uint64 and int64 extremes, NaN) and float16;
- layouts: C, Fortran, negative strides, strided views, broadcast views;
- modes per axis and scipy's 'grid-*' aliases, `cval` (NaN too);
- sigma (0, tiny, wider than the axis), truncate (0 too), radius, derivative orders,
  `axes` subsets in any order with negative indices;
- `output` as None, a dtype, a dtype name, a C or F array, or the input itself;
- the rich API with spacing, complex images and ``method="recursive"``.

Oracles, none of them sep3d: scipy.ndimage called the same way (integer and bool results
must be its bits; errors must be instances of the class scipy raises), scipy.ndimage in
float64 (float and complex results within the tolerance below), and for the recursion
scipy's ``correlate1d`` with the recursive operator's own impulse response (computed by
``scipy.signal.lfilter``). Every case also checks that the result does not depend on the
input's memory layout (bit for bit), that the input is left alone and that an `output`
array is the array returned.

Tolerance (float results): ``1e-5 * S + 1e-6`` for float32, ``1e-12 * S + 1e-15`` for
float64, with ``S = max(max|result|, |k|_1 * max|input|)``: rounding is relative to the
values the passes carry, which scale with the input (``|k|_1``, the L1 norm of the
filter's kernel, sums its terms), not with the result, which can cancel far below it
(a difference of Gaussians, a wide LoG on a short axis).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.ndimage as ndi
from hypothesis import strategies as st

try:
    from numpy.exceptions import ComplexWarning
except ImportError:  # NumPy < 1.25
    from numpy import ComplexWarning

import sep3d
from sep3d import ndimage as s3
from sep3d.kernels import recursive_gaussian

MODE_NAMES = ("reflect", "mirror", "nearest", "wrap", "constant", "grid-mirror", "grid-wrap", "grid-constant")
DTYPES = ("?", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "c8", "c16", ">i2", ">u8", ">f8",
          ">c16")
LAYOUTS = ("C", "F", "negative", "strided", "broadcast")
NDIMAGE = ("correlate1d", "convolve1d", "gaussian_filter1d", "gaussian_filter", "gaussian_laplace",
           "gaussian_gradient_magnitude", "uniform_filter1d", "uniform_filter", "sobel", "prewitt", "laplace")
RICH = ("gaussian", "gaussian_derivative", "laplacian_of_gaussian", "gradient_magnitude",
        "difference_of_gaussians", "box", "hessian")


class FuzzFailure(AssertionError):
    """A case that failed; `kind` says how ('crash', 'wrong value', 'wrong error', 'layout')."""

    def __init__(self, kind, message):
        super().__init__(f"[{kind}] {message}")
        self.kind = kind


@dataclass
class Case:
    layer: str
    name: str
    shape: tuple
    dtype: str
    values: str
    layout: str
    seed: int
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    output: object = None  # None, ("dtype", d), ("name", d), ("array", d, order), ("input",)

    def __repr__(self):
        return (f"Case({self.layer}.{self.name}, shape={self.shape}, dtype={self.dtype}, values={self.values}, "
                f"layout={self.layout}, seed={self.seed}, args={self.args}, kwargs={self.kwargs}, "
                f"output={self.output})")


# ---------------------------------------------------------------------------------------
# inputs


def make_input(case):
    """The case's array, in its layout (values from the seed)."""
    rng = np.random.default_rng(case.seed)
    dtype = np.dtype(case.dtype)
    shape = case.shape
    if case.layout == "strided":
        base_shape = tuple(2 * n for n in shape)
    elif case.layout == "broadcast":
        base_shape = shape[:-1] + (1,)
    else:
        base_shape = shape
    base = _values(rng, base_shape, dtype, case.values)
    if case.layout == "C":
        return np.ascontiguousarray(base)
    if case.layout == "F":
        return np.asfortranarray(base)
    if case.layout == "negative":
        flipped = base[tuple(slice(None, None, -1) for _ in shape)].copy()
        return flipped[tuple(slice(None, None, -1) for _ in shape)]
    if case.layout == "strided":
        return base[tuple(slice(None, None, 2) for _ in shape)]
    return np.broadcast_to(base, shape)


def _values(rng, shape, dtype, kind):
    native = dtype.newbyteorder("=")
    if native.kind == "b":
        out = rng.random(shape) > 0.5
    elif native.kind in "iu":
        info = np.iinfo(native)
        if kind == "extreme":  # the ends of the range, zero and the middle
            pool = np.array([info.min, info.min + 1, 0, 1, info.max // 2, info.max - 1, info.max], dtype=native)
            out = rng.choice(pool, size=shape)
        else:
            out = rng.integers(0, min(int(info.max), 50), size=shape, endpoint=True).astype(native)
    else:
        real = rng.standard_normal(shape) * 100
        if native.kind == "c":
            real = real + 1j * rng.standard_normal(shape) * 100
        if kind == "nan" and real.size:
            real.flat[rng.integers(0, real.size)] = np.nan
        out = real.astype(native)
    return out.astype(dtype)


# ---------------------------------------------------------------------------------------
# strategies


@st.composite
def _array_spec(draw, max_ndim=4, allow_float16=True):
    ndim = draw(st.integers(1, max_ndim))
    shape = tuple(draw(st.lists(st.one_of(st.integers(1, 9), st.just(0), st.just(1)), min_size=ndim,
                                max_size=ndim)))
    dtypes = DTYPES if allow_float16 else tuple(d for d in DTYPES if d != "f2")
    dtype = draw(st.sampled_from(dtypes))
    kind = np.dtype(dtype).kind
    values = draw(st.sampled_from(("small", "extreme") if kind in "iu" else ("normal", "nan") if kind in "fc"
                                  else ("small",)))
    layout = draw(st.sampled_from(LAYOUTS))
    seed = draw(st.integers(0, 2 ** 16))
    return shape, dtype, values, layout, seed


def _axes(draw, ndim, allow_none=True):
    if allow_none and draw(st.booleans()):
        return None
    axes = draw(st.permutations(range(ndim)))
    axes = axes[:draw(st.integers(0 if ndim else 0, ndim))]
    return tuple(ax - ndim if draw(st.booleans()) else ax for ax in axes)


def _modes(draw, n, single=False):
    if single or draw(st.booleans()):
        return draw(st.sampled_from(MODE_NAMES))
    return [draw(st.sampled_from(MODE_NAMES)) for _ in range(n)]


def _sigma(draw, allow_zero=True):
    choices = [st.floats(0.3, 4.0), st.sampled_from((1e-3, 0.05, 12.0))]
    if allow_zero:
        choices.append(st.just(0.0))
    return draw(st.one_of(*choices))


def _per(draw, n, element):
    if draw(st.booleans()):
        return element()
    return [element() for _ in range(n)]


@st.composite
def ndimage_cases(draw):
    """A random call of a sep3d.ndimage function (scipy's arguments)."""
    shape, dtype, values, layout, seed = draw(_array_spec())
    ndim = len(shape)
    name = draw(st.sampled_from(NDIMAGE))
    uniform = name.startswith("uniform")
    if values == "nan" and uniform:
        values = "normal"  # scipy's running sum carries a NaN to the end of the line (a documented difference)
    axis = draw(st.integers(-ndim, ndim - 1))
    cval = draw(st.sampled_from((0.0, 2.5, -7.0) if uniform else (0.0, 2.5, -7.0, float("nan"))))
    args, kwargs = (), {}
    if name in ("correlate1d", "convolve1d"):
        size = draw(st.integers(1, 7))
        taps = [draw(st.floats(-3, 3)) for _ in range(size)]
        if draw(st.integers(0, 4)) == 0 and np.dtype(dtype).kind != "c":
            taps = [complex(t, draw(st.floats(-2, 2))) for t in taps]
        args = (taps,)
        kwargs = dict(axis=axis, mode=draw(st.sampled_from(MODE_NAMES)), cval=cval,
                      origin=draw(st.integers(-(size // 2), (size - 1) // 2)))
    elif name == "gaussian_filter1d":
        args = (_sigma(draw, allow_zero=False),)
        kwargs = dict(axis=axis, order=draw(st.integers(0, 3)), mode=draw(st.sampled_from(MODE_NAMES)), cval=cval,
                      truncate=draw(st.sampled_from((4.0, 2.0, 0.0))),
                      radius=draw(st.one_of(st.none(), st.integers(0, 6))))
    elif name == "gaussian_filter":
        axes = _axes(draw, ndim)
        n = ndim if axes is None else len(axes)
        kwargs = dict(order=_per(draw, n, lambda: draw(st.integers(0, 2))), mode=_modes(draw, n), cval=cval,
                      truncate=draw(st.sampled_from((4.0, 1.5, 0.0))),
                      radius=_per(draw, n, lambda: draw(st.one_of(st.none(), st.integers(0, 5)))), axes=axes)
        args = (_per(draw, n, lambda: _sigma(draw)),)
    elif name in ("gaussian_laplace", "gaussian_gradient_magnitude"):
        axes = _axes(draw, ndim)
        n = ndim if axes is None else len(axes)
        n_sigma = n if name == "gaussian_laplace" else ndim
        args = (_per(draw, n_sigma, lambda: _sigma(draw)),)
        kwargs = dict(mode=_modes(draw, n), cval=cval, axes=axes)
        if draw(st.booleans()):
            kwargs["truncate"] = draw(st.sampled_from((2.0, 0.0)))
        if draw(st.booleans()):
            kwargs["radius"] = _per(draw, ndim, lambda: draw(st.integers(0, 4)))
    elif name == "uniform_filter1d":
        size = draw(st.integers(1, 6))
        args = (size,)
        kwargs = dict(axis=axis, mode=draw(st.sampled_from(MODE_NAMES)), cval=cval,
                      origin=draw(st.integers(-(size // 2), (size - 1) // 2)))
    elif name == "uniform_filter":
        axes = _axes(draw, ndim)
        n = ndim if axes is None else len(axes)
        sizes = [draw(st.integers(0, 5)) for _ in range(n)]
        origins = [draw(st.integers(-(s // 2), max((s - 1) // 2, -(s // 2)))) for s in sizes]
        args = (sizes if draw(st.booleans()) or not sizes else sizes[0],)
        if not isinstance(args[0], list):
            origins = origins[0] if (origins and all(o == origins[0] for o in origins)) else 0
            origins = origins if all(-(s // 2) <= origins <= (s - 1) // 2 or s <= 1 for s in sizes[:1] * n) else 0
        kwargs = dict(mode=_modes(draw, n), cval=cval, origin=origins, axes=axes)
    elif name in ("sobel", "prewitt"):
        kwargs = dict(axis=axis, mode=_modes(draw, ndim), cval=cval)
    else:  # laplace
        axes = _axes(draw, ndim)
        n = ndim if axes is None else len(axes)
        kwargs = dict(mode=_modes(draw, n), cval=cval, axes=axes)
    output = draw(st.sampled_from((None, "dtype", "name", "C", "F", "input")))
    out_dtype = draw(st.sampled_from(("same", "f4", "f8", "i2", "u1", "i8", "u8", "?", "c8", "c16")))
    if output is not None and output != "input":
        output = (output, out_dtype)
    return Case("ndimage", name, shape, dtype, values, layout, seed, args, kwargs, output)


@st.composite
def rich_cases(draw):
    """A random call of a rich-API filter (with spacing, complex images, recursion)."""
    shape, dtype, values, layout, seed = draw(_array_spec(allow_float16=True))
    ndim = len(shape)
    name = draw(st.sampled_from(RICH))
    if name == "box" and values == "nan":
        values = "normal"  # the oracle is scipy's running sum, which carries a NaN to the end of the line
    axes = _axes(draw, ndim)
    n = ndim if axes is None else len(axes)
    cvals = (0.0, 1.5) if name == "box" else (0.0, 1.5, float("nan"))
    kwargs = dict(axes=axes, mode=_modes(draw, n), cval=draw(st.sampled_from(cvals)))
    if draw(st.booleans()):
        kwargs["spacing"] = [draw(st.sampled_from((0.5, 1.0, 2.5))) for _ in range(ndim)]
    spacing = kwargs.get("spacing", [1.0] * ndim)
    used = range(ndim) if axes is None else [a % ndim for a in axes]
    if name == "box":
        args = (_per(draw, n, lambda: draw(st.integers(1, 5))),)
        kwargs.pop("spacing", None)
    else:
        def sigma():  # physical, at least a little above the recursion's floor in every axis
            return draw(st.one_of(st.floats(0.4, 3.0), st.just(8.0)))

        args = (_per(draw, n, sigma),)
        if name == "gaussian_derivative":
            args = args + (_per(draw, n, lambda: draw(st.integers(0, 2))),)
        if name == "laplacian_of_gaussian":
            kwargs["normalize"] = draw(st.booleans())
        if name in ("gaussian", "gaussian_derivative", "laplacian_of_gaussian", "difference_of_gaussians"):
            kwargs["method"] = draw(st.sampled_from(("fir", "recursive")))
            if kwargs["method"] == "recursive" and values == "nan":
                values = "normal"  # a recursion carries a NaN along its whole line (user guide, Semantics)
    del used, spacing
    output = draw(st.sampled_from((None, None, "C", "F", "input")))
    return Case("rich", name, shape, dtype, values, layout, seed, args, kwargs, output)


# ---------------------------------------------------------------------------------------
# running a case


def _resolve_output(case, x):
    """The `output` argument for sep3d and for scipy (each its own array), and its dtype."""
    form = case.output
    if form is None:
        return None, None
    if form == ("input",) or form == "input":
        return "input", None
    kind, dt = form
    dt = x.dtype if dt == "same" else np.dtype(dt)
    if kind == "dtype":
        return dt.type, dt.type
    if kind == "name":
        return dt.name, dt.name
    order = "F" if kind == "F" else "C"
    return np.zeros(x.shape, dt, order=order), np.zeros(x.shape, dt, order=order)


def _call(module, name, x, args, kwargs, output):
    """Call `name` of scipy.ndimage or sep3d.ndimage; numeric and dtype warnings are not verdicts."""
    func = getattr(module, name)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # scipy's "promoting specified output dtype to complex" (sep3d's too), and the
        # ComplexWarning of scipy's copy of a complex input into a real output
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", ComplexWarning)
        if output is None:
            return func(x, *args, **kwargs)
        return func(x, *args, output=output, **kwargs)


#: Mistakes sep3d refuses where scipy computes something (docs/user_guide/ct_filters.md, "Semantics").
def _deliberate(case, exc):
    text = str(exc)
    return any(p in text for p in (
        "`sigma` must be finite and >= 0", "`sigma` must be > 0", "`size` must be an int >= 0",
        # dtype rules are checked up front, also where scipy runs no pass and copies the input
        "which scipy.ndimage does not filter", "`output` must be real for a real input",
        "`output` must be complex for a complex result",
    ))


def run_ndimage_case(case):
    """Check one sep3d.ndimage case against scipy.ndimage; raises FuzzFailure."""
    x = make_input(case)
    before = x.copy()
    mine_out, ref_out = _resolve_output(case, x)
    alias = mine_out == "input" if isinstance(mine_out, str) else False
    ref_error = mine_error = None
    try:
        if alias:  # scipy's verdict on output=input, then its values without the aliasing
            mirror = x.copy()  # (scipy's multi-term filters read an input they overwrote)
            _call(ndi, case.name, mirror, case.args, case.kwargs, mirror)
            ref = _call(ndi, case.name, x.copy(), case.args, case.kwargs, np.empty_like(mirror))
        else:
            ref = _call(ndi, case.name, x.copy(), case.args, case.kwargs, ref_out)
    except Exception as exc:  # scipy's verdict
        ref_error = exc
    target = x.copy() if alias else x
    try:
        mine = _call(s3, case.name, target, case.args, case.kwargs, target if alias else mine_out)
    except Exception as exc:
        mine_error = exc
    if ref_error is not None or mine_error is not None:
        return _compare_errors(case, ref_error, mine_error)
    if alias and mine is not target:
        raise FuzzFailure("wrong value", f"output=input must return the input array: {case!r}")
    if isinstance(mine_out, np.ndarray) and mine is not mine_out:
        raise FuzzFailure("wrong value", f"the output array is not the array returned: {case!r}")
    if not alias:
        np.testing.assert_array_equal(x, before, err_msg=f"input modified: {case!r}")
    if mine.dtype != ref.dtype and not (alias and mine.dtype == x.dtype):
        raise FuzzFailure("wrong value", f"dtype {mine.dtype} where scipy gives {ref.dtype}: {case!r}")
    _compare_values(case, x, mine, ref)

    _check_layout(case, x, mine, lambda y: _call(s3, case.name, y, case.args, case.kwargs,
                                                     None if alias else _fresh(mine_out)))
    return "ok"


def _fresh(form):
    if isinstance(form, np.ndarray):
        return np.zeros(form.shape, form.dtype, order="F" if form.flags.f_contiguous and not
                        form.flags.c_contiguous else "C")
    return form


def _compare_errors(case, ref_error, mine_error):
    if mine_error is None:
        raise FuzzFailure("wrong error", f"scipy raises {type(ref_error).__name__}: {ref_error}; sep3d does not: "
                                         f"{case!r}")
    if ref_error is None:
        if _deliberate(case, mine_error):
            return "refused (deliberate)"
        raise FuzzFailure("crash", f"sep3d raises {type(mine_error).__name__}: {mine_error} where scipy "
                                   f"computes: {case!r}")
    if isinstance(mine_error, type(ref_error)) or _deliberate(case, mine_error) or isinstance(
            ref_error, ZeroDivisionError):
        return "refused (as scipy)"
    raise FuzzFailure("wrong error", f"sep3d raises {type(mine_error).__name__}: {mine_error}; scipy raises "
                                     f"{type(ref_error).__name__}: {ref_error}: {case!r}")


def _compare_values(case, x, mine, ref):
    if mine.dtype.kind in "iub":
        # scipy's bits (its bool output holds the raw byte of its uint8 cast; sep3d True/False)
        expected = ref.view(np.uint8) != 0 if ref.dtype == np.bool_ else ref
        if not np.array_equal(mine, expected):
            bad = np.argwhere(mine != expected)[:3]
            raise FuzzFailure("wrong value", f"integer result differs from scipy's at {bad.tolist()}: {case!r}")
        return
    # float / complex: scipy in float64 (complex128) is the oracle
    wide = np.complex128 if mine.dtype.kind == "c" or x.dtype.kind == "c" else np.float64
    with np.errstate(all="ignore"):
        oracle = _call(ndi, case.name, x.astype(wide), _widen_args(case.args), case.kwargs, None)
    part = np.float32 if mine.dtype.newbyteorder("=") in (np.float32, np.complex64) else np.float64
    gain = _gain(case, x.ndim)
    with np.errstate(invalid="ignore"):  # where scipy's own result overflows the dtype, the oracle is scipy's
        overflow = np.isinf(ref) & (mine == ref)
    oracle = np.where(overflow, ref, oracle)
    for a, b in ((mine.real, oracle.real), (mine.imag, oracle.imag)) if mine.dtype.kind == "c" else ((mine, oracle),):
        check_close(a, b, part, _scale(x, gain), case)


def _widen_args(args):
    return tuple(np.asarray(a, np.complex128) if isinstance(a, list) and any(isinstance(v, complex) for v in a)
                 else a for a in args)


def _scale(x, gain):
    finite = np.abs(x[np.isfinite(x)]) if x.size else np.zeros(0)
    return gain * (float(finite.max()) if finite.size else 0.0)


def check_close(result, ref, part, input_scale, case, factor=1.0):
    """The float tolerance of the module docstring (`factor` widens it for the recursion)."""
    result = np.asarray(result, np.float64)
    ref = np.asarray(ref, np.float64)
    nan = np.isnan(ref)
    if not np.array_equal(np.isnan(result), nan):
        raise FuzzFailure("wrong value", f"NaN positions differ from the oracle: {case!r}")
    finite = np.abs(ref[~nan])
    scale = max(float(finite.max()) if finite.size else 0.0, input_scale)
    tol = factor * ((1e-5 * scale + 1e-6) if part == np.float32 else (1e-12 * scale + 1e-15))
    with np.errstate(invalid="ignore"):
        diff = np.where(result == ref, 0.0, np.abs(result - ref))  # equal infinities agree
    err = float(diff[~nan].max()) if (~nan).any() else 0.0
    if not err <= tol:
        raise FuzzFailure("wrong value", f"max error {err:.3e} > tolerance {tol:.3e}: {case!r}")


def _check_layout(case, x, mine, rerun):
    """The same call on a C-contiguous copy gives the same bits."""
    if x.flags.c_contiguous:
        return
    with np.errstate(all="ignore"):
        again = rerun(np.ascontiguousarray(x))
    if isinstance(again, np.ndarray) and again.shape == mine.shape and not np.array_equal(
            np.asarray(again), np.asarray(mine), equal_nan=mine.dtype.kind in "fc"):
        raise FuzzFailure("layout", f"the result depends on the input's memory layout: {case!r}")


# ---------------------------------------------------------------------------------------
# the kernels' L1 norms (scipy's impulse responses), for the tolerance


def _impulse_l1(func, radius):
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    return float(np.abs(func(impulse)).sum())


def _gauss_l1(sigma, order, truncate=4.0, radius=None):
    if sigma <= 1e-15:
        return 1.0
    r = radius if radius is not None else int(truncate * sigma + 0.5)
    return _impulse_l1(lambda v: ndi.gaussian_filter1d(v, sigma, order=order, mode="constant", truncate=truncate,
                                                       radius=r), r)


def _seq(v, n):
    return list(v) if isinstance(v, (list, tuple)) else [v] * n


def _gain(case, ndim):
    """The L1 norm of the case's kernel (terms summed), from scipy's impulse responses."""
    k = case.kwargs
    name = case.name
    if name in ("correlate1d", "convolve1d"):
        return float(np.abs(np.asarray(case.args[0])).sum())
    if name == "gaussian_filter1d":
        return _gauss_l1(case.args[0], k["order"], k["truncate"], k["radius"])
    if name in ("uniform_filter1d", "uniform_filter"):
        return 1.0
    if name in ("sobel", "prewitt"):
        return 2.0 * (4.0 if name == "sobel" else 3.0) ** (ndim - 1)
    axes = range(ndim) if k.get("axes") is None else [a % ndim for a in k["axes"]]
    if name == "laplace":
        return 4.0 * max(len(axes), 1)
    if name == "gaussian_filter":
        n = len(axes)
        total = 1.0
        for s, o, r in zip(_seq(case.args[0], n), _seq(k["order"], n), _seq(k["radius"], n)):
            total *= _gauss_l1(s, o, k["truncate"], r)
        return total
    sig = _seq(case.args[0], len(axes) if name == "gaussian_laplace" else ndim)
    if name == "gaussian_laplace" and len(axes) < ndim:
        full = [0.0] * ndim
        for a, s in zip(axes, sig):
            full[a] = s
        sig = full
    radii = _seq(k.get("radius"), ndim)
    derivative = 2 if name == "gaussian_laplace" else 1
    total = 0.0
    for ax in axes:
        term = 1.0
        for a in range(ndim):
            term *= _gauss_l1(sig[a], derivative if a == ax else 0, k.get("truncate", 4.0), radii[a])
        total += term
    return max(total, 1.0)


# ---------------------------------------------------------------------------------------
# the rich API


def _rich_oracle(case, x64, ndim):
    """scipy in float64 (or with the recursive operator's impulse response), and the kernel's L1 norm."""
    k = dict(case.kwargs)
    name = case.name
    axes = list(range(ndim)) if k.get("axes") is None else [a % ndim for a in k["axes"]]
    n = len(axes)
    spacing = k.get("spacing") or [1.0] * ndim
    modes = _seq(k["mode"], n)
    mode_of = {a: m for a, m in zip(axes, modes)}
    cval = k["cval"]
    method = k.get("method", "fir")

    def smooth(v, sig, orders):
        """Gaussian (derivative) per axis in `axes`, physical sigma; returns (values, L1 norm)."""
        gain, scale = 1.0, 1.0
        for a, s, o in zip(axes, sig, orders):
            s_px = s / spacing[a]
            if s_px <= 0:
                continue
            if method == "recursive":
                op = recursive_gaussian(s_px, o)
                taps = op.impulse_response(op.reach)[::-1]  # correlation taps: the response reversed
                v = ndi.correlate1d(v, taps, axis=a, mode=mode_of[a], cval=cval)
                gain *= float(np.abs(taps).sum())
            else:
                v = ndi.gaussian_filter1d(v, s_px, axis=a, order=o, mode=mode_of[a], cval=cval)
                gain *= _gauss_l1(s_px, o)
            scale /= spacing[a] ** o  # per physical unit, after every pass (later passes pad with cval)
        return v * scale, gain * scale

    if name == "box":
        sizes = _seq(case.args[0], n)
        ref = x64
        for a, s in zip(axes, sizes):
            if s > 1:
                ref = ndi.uniform_filter1d(ref, s, axis=a, mode=mode_of[a], cval=cval)
        return ref, 1.0
    sig = _seq(case.args[0], n)
    if name == "gaussian":
        return smooth(x64, sig, [0] * n)
    if name == "gaussian_derivative":
        return smooth(x64, sig, _seq(case.args[1], n))
    if name == "difference_of_gaussians":
        low, g1 = smooth(x64, sig, [0] * n)
        high, g2 = smooth(x64, [1.6 * s for s in sig], [0] * n)
        return low - high, g1 + g2
    if name == "laplacian_of_gaussian":
        ref, gain = np.zeros_like(x64), 0.0
        for i, a in enumerate(axes):
            v, g = smooth(x64, sig, [2 if j == i else 0 for j in range(n)])
            w = sig[i] ** 2 if k.get("normalize") else 1.0
            ref, gain = ref + w * v, gain + w * g
        return ref, gain
    if name == "gradient_magnitude":
        parts = [smooth(x64, sig, [1 if j == i else 0 for j in range(n)]) for i in range(n)]
        return np.sqrt(sum((v * v for v, _ in parts), np.zeros_like(x64))), sum(g for _, g in parts)
    # hessian: the upper triangle of (axes[i], axes[j])
    comps, gain = [], 0.0
    for i in range(n):
        for j in range(i, n):
            orders = [0] * n
            orders[i] += 1
            orders[j] += 1
            v, g = smooth(x64, sig, orders)
            comps.append(v)
            gain = max(gain, g)
    return np.stack(comps) if comps else np.zeros((0,) + x64.shape), gain


def run_rich_case(case):
    """Check one rich-API case against scipy in float64; raises FuzzFailure."""
    x = make_input(case)
    before = x.copy()
    ndim = x.ndim
    func = getattr(sep3d, case.name)
    is_complex = x.dtype.kind == "c"
    wide = np.dtype(np.complex128 if is_complex else np.float64)
    result_dtype = (np.dtype(np.complex128 if x.dtype.itemsize >= 16 else np.complex64) if is_complex else
                    np.dtype(np.float64 if x.dtype.newbyteorder("=") == np.float64 else np.float32))
    stacked = case.name == "hessian"
    try:
        n_res = None
        if stacked:
            axes = case.kwargs.get("axes")
            n = ndim if axes is None else len(axes)
            n_res = n * (n + 1) // 2
        out_shape = ((n_res,) if stacked else ()) + x.shape
        output = None
        if case.output in ("C", "F"):
            output = np.zeros(out_shape, result_dtype, order=case.output)
        elif case.output == "input" and not stacked and x.dtype == result_dtype and x.flags.writeable:
            output = x = x.copy(order="K")
            before = x.copy()
        with np.errstate(all="ignore"):
            mine = func(x, *case.args, output=output, **case.kwargs)
    except ValueError as exc:
        text = str(exc)
        if ("`sigma` must be > 0 on axis" in text or "must be at least 0.002 samples" in text
                or "`order` must be <= 2 with method='recursive'" in text
                or "must name at least one axis for a Hessian" in text):
            return "refused (deliberate)"
        raise FuzzFailure("crash", f"{type(exc).__name__}: {exc}: {case!r}") from exc
    except Exception as exc:
        raise FuzzFailure("crash", f"{type(exc).__name__}: {exc}: {case!r}") from exc
    if output is not None and mine is not output:
        raise FuzzFailure("wrong value", f"the output array is not the array returned: {case!r}")
    if output is None or output is not x:
        np.testing.assert_array_equal(x, before, err_msg=f"input modified: {case!r}")
    if mine.dtype != result_dtype or mine.shape != out_shape:
        raise FuzzFailure("wrong value", f"{mine.dtype}{mine.shape} where {result_dtype}{out_shape} is the rule: "
                                         f"{case!r}")
    x64 = before.astype(wide)
    part = np.float32 if result_dtype in (np.float32, np.complex64) else np.float64
    factor = 5.0 if case.kwargs.get("method") == "recursive" and part == np.float32 else 1.0
    if case.kwargs.get("method") == "recursive" and part == np.float64:
        factor = 1e4  # the impulse response is cut where less than 1e-9 of its mass is left
    if is_complex:  # the real part with cval, the imaginary part with 0
        with np.errstate(all="ignore"):
            ref_re, gain = _rich_oracle(case, x64.real, ndim)
            imag_case = Case(case.layer, case.name, case.shape, case.dtype, case.values, case.layout, case.seed,
                             case.args, dict(case.kwargs, cval=0.0), case.output)
            ref_im, _ = _rich_oracle(imag_case, x64.imag, ndim)
        check_close(mine.real, ref_re, part, _scale(x64.real, gain), case, factor)
        check_close(mine.imag, ref_im, part, _scale(x64.imag, gain), case, factor)
    else:
        with np.errstate(all="ignore"):
            ref, gain = _rich_oracle(case, x64, ndim)
        check_close(mine, ref, part, _scale(x64, gain), case, factor)
    if output is None:
        _check_layout(case, before if not before.flags.c_contiguous else x, mine,
                      lambda y: func(y, *case.args, **case.kwargs))
    return "ok"


def run_case(case):
    """Run and check a case of either layer; returns how it ended ('ok', 'refused ...')."""
    try:
        if case.layer == "ndimage":
            return run_ndimage_case(case)
        return run_rich_case(case)
    except FuzzFailure:
        raise
    except AssertionError as exc:
        raise FuzzFailure("wrong value", str(exc)) from exc
    except Exception as exc:
        raise FuzzFailure("crash", f"{type(exc).__name__}: {exc}: {case!r}") from exc
