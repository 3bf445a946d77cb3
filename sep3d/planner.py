"""Which way to run a correlation: a cost model, a per-machine calibration, and the choice.

A kernel can be applied four ways; :func:`plan_methods` predicts the time of each for an
array of a given shape and dtype and :func:`choose_method` picks the fastest prediction
(``sep3d.convolution.convolve(..., method="auto")`` asks it). :func:`plane_methods` does
the same for complex 2-D kernels over the planes of a volume (Gabor's separable terms or
FFT), :func:`gaussian_method` for one axis of a Gaussian (FIR or recursive).

The model
---------
Each method is reduced to two totals for the whole array, *work* and *bytes*:

=============  ======================================  =====================================
method         work (per output voxel)                 bytes moved (whole array)
=============  ======================================  =====================================
direct         ``prod(k)`` multiply-adds (non-zero     ``2 * N * itemsize``: the extended
               taps of an array kernel)                copy, whose time adds to the taps
separable      ``R * sum(k)`` (R terms, one pass each  ``R * ndim`` passes x (read + write)
               axis; Gaussian: ``sum(2 r + 1)``)       x ``N * itemsize`` (memory-bound)
fft            ``a * P * log2(P) * 3 / N`` with        6 passes over the padded complex
               ``a = 2.5`` (forward image + kernel +   array of ``P`` voxels
               inverse) + the spectrum product
recursive      16 per sample per filtered axis (four   ``ndim`` passes x (read + write)
               second-order sections) + 8 x min(r + 1,
               n) per line for the boundary states
               (Gaussian specs only)
=============  ======================================  =====================================

``N`` is the number of voxels, ``k`` the kernel shape, ``P = prod(next_fast_len(n + k - 1,
real=True))`` the padded size, ``R`` the number of separable terms that reproduce the
kernel to a relative error of 1e-6 (:func:`sep3d.decompose.decompose`; 1 for a Gaussian).
Work and bytes become seconds with per-machine throughput constants::

    predicted = max(work / work_per_s[method], bytes / bytes_per_s) + overhead_s[method]

(for direct the two terms add: the extension is copied before the taps run).

``work_per_s`` is an *effective* rate (it absorbs vectorisation, threads and cache
effects of each implementation), ``bytes_per_s`` a streaming copy rate and
``overhead_s`` a fixed per-call cost. :func:`sep3d.calibration.calibrate` measures ``work_per_s`` (median
of ``work / seconds`` over a few kernel sizes; for fft a line with an intercept) and
``bytes_per_s``; the other overheads stay at
their defaults. Without a calibration the conservative defaults of
:data:`DEFAULT_CONSTANTS` are used, so :func:`choose_method` always works.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_CONSTANTS",
    "METHODS",
    "MethodRow",
    "MethodTable",
    "calibration_path",
    "check_cost_backend",
    "check_kernel",
    "fft_padded",
    "method_costs",
    "separable_rank",
    "choose_method",
    "gaussian_method",
    "cost_model",
    "load_calibration",
    "parse_kernel",
    "plan_methods",
    "plane_methods",
]

#: Every method the planner knows, in table order.
METHODS = ("direct", "separable", "fft", "recursive")
#: Backends with a cost model.
BACKENDS = ("cpu",)
#: Relative error a separable decomposition must reach to count as exact.
RANK_TOL = 1e-6
#: The largest rank searched for a 3-D kernel (a CP search beyond this costs seconds).
RANK_SEARCH_CAP = 8
#: FFT work per transformed voxel: ``FFT_FACTOR * log2(P)`` (a real FFT, ~2.5 N log2 N flops).
FFT_FACTOR = 2.5
#: Multiply-adds per sample and axis of the recursive Gaussian.
RECURSIVE_MACS = 16

#: Constants used when no calibration exists: about half the rates measured by
#: ``calibrate()`` (256^3) on a 2-core x86 VM (direct 1.7e10, separable 1.6e10, fft 5.8e9,
#: recursive 7.1e9 work/s, copy 1.7e10 B/s), rounded down, keeping their ratios, so a
#: faster machine's calibration makes every method look faster, none slower.
DEFAULT_CONSTANTS = {
    "backend": "cpu",
    "source": "defaults",
    "work_per_s": {"direct": 8.0e9, "separable": 8.0e9, "fft": 2.9e9, "recursive": 3.5e9},
    "bytes_per_s": 8.0e9,
    "overhead_s": {"direct": 1e-4, "separable": 5e-4, "fft": 5e-4, "recursive": 5e-4},
}

_RANK_CACHE = {}


# ---------------------------------------------------------------------------------------
# validation


def check_cost_backend(backend):
    if backend not in BACKENDS:
        raise NotImplementedError(f"`backend` must be one of {list(BACKENDS)} for the planner; got {backend!r}")
    return backend


def _check_shape(shape):
    try:
        dims = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"`shape` must be a sequence of ints; got {shape!r}") from None
    if not dims or any(s < 1 for s in dims):
        raise ValueError(f"`shape` must hold at least one int >= 1; got {shape!r}")
    return dims


def _check_dtype(dtype):
    dt = np.dtype(dtype)
    if dt.kind not in "biuf":
        raise TypeError(f"`dtype` must be a real numeric dtype; got {dt}")
    return dt


@dataclass(frozen=True)
class _Kernel:
    """A normalised kernel: ``sigma`` per axis for a Gaussian spec, else ``array``."""

    shape: tuple
    array: object = None
    sigma: tuple = None

    @property
    def is_gaussian(self):
        return self.sigma is not None

    def describe(self):
        if self.is_gaussian:
            return "gaussian sigma=" + "x".join(f"{s:g}" for s in self.sigma)
        return "array " + "x".join(str(s) for s in self.shape)


def _gaussian_sizes(sigma):
    from .kernels import gaussian_radius

    return tuple(2 * gaussian_radius(s) + 1 if s > 0 else 1 for s in sigma)


def check_kernel(kernel, ndim):
    if isinstance(kernel, tuple) and len(kernel) == 2 and isinstance(kernel[0], str):
        kind, sigma = kernel
        if kind != "gaussian":
            raise ValueError(f"`kernel` spec must be ('gaussian', sigma); got kind {kind!r}")
        sig = np.broadcast_to(np.asarray(sigma, dtype=float), (ndim,)) if np.ndim(sigma) == 0 else \
            np.asarray(sigma, dtype=float)
        if sig.shape != (ndim,):
            raise ValueError(f"`kernel` sigma must be one value or one per axis ({ndim}); got {sigma!r}")
        if not np.all(np.isfinite(sig)) or np.any(sig < 0):
            raise ValueError(f"`kernel` sigma must be finite and >= 0; got {sigma!r}")
        sig = tuple(float(s) for s in sig)
        return _Kernel(_gaussian_sizes(sig), sigma=sig)
    k = np.asarray(kernel)
    if k.dtype.kind not in "biuf":
        raise TypeError(f"`kernel` must be a real numeric array or ('gaussian', sigma); got dtype {k.dtype}")
    if k.ndim != ndim or k.size == 0:
        raise ValueError(f"`kernel` must be a non-empty {ndim}-D array (as `shape`); got shape {k.shape}")
    return _Kernel(tuple(k.shape), array=k.astype(np.float64))


# ---------------------------------------------------------------------------------------
# the cost model


def _multilinear_rank(k, tol):
    """Largest rank over the mode unfoldings (a lower bound on the separable rank)."""
    norm = np.linalg.norm(k)
    ranks = []
    for ax in range(k.ndim):
        s = np.linalg.svd(np.moveaxis(k, ax, 0).reshape(k.shape[ax], -1), compute_uv=False)
        tail = np.sqrt(np.cumsum((s ** 2)[::-1])[::-1])  # tail[r]: error keeping r values
        ranks.append(int(np.count_nonzero(tail > tol * norm)))
    return max(ranks)


def separable_rank(k):
    """(rank, SeparableKernel or None, note) for an exact (tol 1e-6) decomposition, cached.

    rank is None when no exact decomposition worth running was found.
    """
    from .decompose import decompose

    key = (k.shape, hashlib.sha1(np.ascontiguousarray(k).tobytes()).hexdigest())
    if key in _RANK_CACHE:
        return _RANK_CACHE[key]
    if not np.any(k):
        result = (None, None, "all-zero kernel")
    elif k.ndim == 1:
        result = (1, None, "")
    elif k.ndim not in (2, 3):
        result = (None, None, f"{k.ndim}-D kernel not decomposed")
    else:
        useful = (k.size - 1) // sum(k.shape)  # above this, separable needs more MACs than direct
        lower = _multilinear_rank(k, RANK_TOL)
        cap = useful if k.ndim == 2 else min(useful, RANK_SEARCH_CAP)
        if lower > cap or cap < 1:
            result = (None, None, f"rank >= {lower}: no cheaper exact decomposition")
        else:
            sk = decompose(k, tol=RANK_TOL, max_rank=min(cap, _bound(k.shape)))
            if sk.relative_error <= RANK_TOL:
                result = (sk.rank, sk, "")
            else:
                result = (None, None, f"no exact decomposition with rank <= {cap}")
    if len(_RANK_CACHE) > 64:
        _RANK_CACHE.clear()
    _RANK_CACHE[key] = result
    return result


def _bound(shape):
    s = sorted(shape)
    return s[0] if len(s) == 2 else s[0] * s[1]


def fft_padded(shape, kshape):
    from scipy.fft import next_fast_len

    return tuple(next_fast_len(n + k - 1, real=True) for n, k in zip(shape, kshape))


def cost_model(kernel, shape, dtype=np.float32):
    """Work and bytes of every applicable method (no timing, no constants).

    Parameters
    ----------
    kernel : array_like or tuple
        An N-D correlation kernel, or ``("gaussian", sigma)`` with `sigma` in voxels
        (one value or one per axis).
    shape : sequence of int
        Shape of the array to filter (as many axes as the kernel).
    dtype : dtype, optional
        Dtype of the array; integer and bool arrays are computed in float32.

    Returns
    -------
    dict
        ``{method: {"macs_per_voxel", "work", "bytes", "passes", "note", ...}}`` for the
        applicable methods; fft also has ``"padded"``, separable ``"rank"``.

    Raises
    ------
    ValueError
        A kernel whose rank differs from `shape`'s, an unknown spec kind, a bad sigma
        or shape.
    TypeError
        A non-numeric kernel or dtype.

    Examples
    --------
    >>> import numpy as np
    >>> c = cost_model(np.ones((3, 3, 3)), (64, 64, 64))
    >>> c["direct"]["macs_per_voxel"], c["separable"]["macs_per_voxel"], c["fft"]["padded"]
    (27, 9, (72, 72, 72))
    >>> cost_model(("gaussian", 2.0), (32, 32, 32))["recursive"]["macs_per_voxel"]  # 3 x (16 + 8 x 31 / 32)
    71.25
    """
    dims = _check_shape(shape)
    kern = check_kernel(kernel, len(dims))
    costs = method_costs(kern, dims, _check_dtype(dtype))
    costs.pop("_notes", None)
    return costs


def _recursive_macs(sigma, order, length):
    """Multiply-adds per sample of one recursive axis: four sections over each line,
    started from 8 boundary states, each a dot product over the samples within the
    operator's reach of the edge (None `length`: lines long enough to ignore them)."""
    from .kernels import recursive_gaussian

    if length is None:
        return float(RECURSIVE_MACS)
    return RECURSIVE_MACS + 8 * min(recursive_gaussian(sigma, order).reach + 1, length) / length


def method_costs(kern, dims, dt):
    item = np.result_type(dt, np.float32).itemsize
    n = math.prod(dims)
    ks = kern.shape
    taps = math.prod(ks) if kern.is_gaussian else int(np.count_nonzero(kern.array))
    out = {"direct": {"macs_per_voxel": taps, "passes": 1, "bytes": 2 * n * item,
                      "note": "extension copy + non-zero taps"}}
    if kern.is_gaussian:
        rank, note = 1, ""
        filtered = [k for k in ks if k > 1]
    else:
        rank, _, note = separable_rank(kern.array)
        filtered = list(ks)
    if rank is not None:
        passes = rank * len(filtered)
        out["separable"] = {"macs_per_voxel": rank * sum(filtered), "passes": passes, "rank": rank,
                            "bytes": passes * 2 * n * item, "note": f"rank {rank}"}
    padded = fft_padded(dims, ks)
    p = math.prod(padded)
    work = FFT_FACTOR * p * math.log2(max(p, 2)) * 3 + 3 * p  # 3 transforms + spectrum product
    out["fft"] = {"macs_per_voxel": work / n, "passes": 6, "padded": padded,
                  "bytes": 6 * p * 2 * item, "note": "pad " + "x".join(map(str, padded))}
    if kern.is_gaussian:
        macs, axes = 0.0, 0
        for s, length in zip(kern.sigma, dims):
            if s > 0:
                axes += 1
                macs += _recursive_macs(s, 0, length)
        out["recursive"] = {"macs_per_voxel": macs, "passes": axes,
                            "bytes": axes * 2 * n * item, "note": "sections + boundary states"}
    for entry in out.values():
        entry["work"] = entry["macs_per_voxel"] * n
    if not kern.is_gaussian and rank is None:
        out["_notes"] = (f"separable not applicable: {note}",)
    return out


def _predict(entry, method, constants):
    rate = constants["work_per_s"][method]
    memory = entry["bytes"] / constants["bytes_per_s"]
    if method == "direct":  # the extension is a copy made before the taps run: the two add up
        return entry["work"] / rate + memory + constants["overhead_s"][method]
    return max(entry["work"] / rate, memory) + constants["overhead_s"][method]


# ---------------------------------------------------------------------------------------
# calibration


def calibration_path(backend="cpu"):
    """Where :func:`sep3d.calibration.calibrate` caches its constants: ``$SEP3D_CALIBRATION``, else
    ``sep3d.datasets.data_dir() / f"calibration-{backend}-{platform.node()}.json"``."""
    env = os.environ.get("SEP3D_CALIBRATION")
    if env:
        return Path(env)
    from .datasets import data_dir

    return data_dir() / f"calibration-{backend}-{platform.node()}.json"


def load_calibration(backend="cpu", *, path=None):
    """The cached constants of :func:`sep3d.calibration.calibrate`, or :data:`DEFAULT_CONSTANTS` without one.

    Parameters
    ----------
    backend : {'cpu'}, optional
    path : str or Path, optional
        The JSON file to read; default :func:`calibration_path`.

    Returns
    -------
    dict
        ``{"work_per_s": {method: rate}, "bytes_per_s": rate, "overhead_s": {method: s},
        "source": ...}``; missing entries are filled from the defaults.

    Raises
    ------
    NotImplementedError
        A backend without a cost model.
    ValueError
        A file that is not a calibration JSON.

    Examples
    --------
    >>> load_calibration(path="/nonexistent.json")["source"]
    'defaults'
    """
    check_cost_backend(backend)
    path = Path(path) if path is not None else calibration_path(backend)
    constants = json.loads(json.dumps(DEFAULT_CONSTANTS))
    if not path.is_file():
        return constants
    try:
        data = json.loads(path.read_text())
        for key in ("work_per_s", "overhead_s"):
            constants[key].update({m: float(v) for m, v in data.get(key, {}).items() if m in METHODS})
        constants["bytes_per_s"] = float(data.get("bytes_per_s", constants["bytes_per_s"]))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"calibration file {str(path)!r} is not a sep3d calibration: {exc}") from None
    constants["source"] = str(path)
    return constants


# ---------------------------------------------------------------------------------------
# the table and the choice


@dataclass(frozen=True)
class MethodRow:
    """One method of a :class:`MethodTable` (``measured_s`` None: not measured;
    ``skipped`` True: not measured because predicted above 30 s)."""

    method: str
    macs_per_voxel: float
    bytes: int
    predicted_s: float
    measured_s: object = None
    skipped: bool = False
    note: str = ""


@dataclass(frozen=True)
class MethodTable:
    """Predicted (and optionally measured) cost of each applicable method.

    Attributes
    ----------
    rows : tuple of MethodRow
    choice : str
        The method with the smallest prediction.
    kernel, shape, dtype, calibration : description of the problem and the constants' source.
    notes : tuple of str
        Why a method is missing (e.g. no exact separable decomposition).
    """

    rows: tuple
    choice: str
    kernel: str
    shape: tuple
    dtype: str
    calibration: str = "defaults"
    notes: tuple = ()

    @property
    def methods(self):
        return tuple(r.method for r in self.rows)

    def __getitem__(self, method):
        for row in self.rows:
            if row.method == method:
                return row
        raise KeyError(method)

    def __str__(self):
        head = (f"kernel {self.kernel} on {'x'.join(map(str, self.shape))} {self.dtype} "
                f"(constants: {self.calibration})")
        lines = [head, f"{'method':<10s} {'MACs/voxel':>12s} {'MB moved':>10s} {'predicted s':>12s} "
                       f"{'measured s':>11s}  note"]
        for r in self.rows:
            measured = "skipped" if r.skipped else ("-" if r.measured_s is None else f"{r.measured_s:.4g}")
            lines.append(f"{r.method:<10s} {r.macs_per_voxel:>12.1f} {r.bytes / 1e6:>10.1f} "
                         f"{r.predicted_s:>12.4g} {measured:>11s}  {r.note}".rstrip())
        lines.extend(self.notes)
        lines.append(f"choice: {self.choice}")
        return "\n".join(lines)


def plan_methods(kernel, shape, dtype=np.float32, backend="cpu", *, calibration=None):
    """Predict every applicable way to correlate with `kernel` (:func:`sep3d.calibration.measure_methods`
    also times them).

    Parameters
    ----------
    kernel : array_like or tuple
        An N-D correlation kernel, or ``("gaussian", sigma)`` with `sigma` in voxels.
    shape : sequence of int
        Shape of the array to filter.
    dtype : dtype, optional
        Its dtype. Default float32.
    backend : {'cpu'}, optional
    calibration : dict, optional
        Constants as returned by :func:`load_calibration`; default that of `backend`.

    Returns
    -------
    MethodTable
        direct, separable (when an exact decomposition of rank ``<= 8`` that needs fewer
        MACs than direct exists), fft and, for Gaussian specs, recursive.

    Raises
    ------
    ValueError
        A kernel whose rank differs from `shape`'s, a bad sigma or shape.
    TypeError
        A non-numeric kernel or dtype.
    NotImplementedError
        A backend without a cost model.

    Examples
    --------
    >>> t = plan_methods(("gaussian", 32.0), (2048, 2048), calibration=DEFAULT_CONSTANTS)
    >>> t.methods, t.choice
    (('direct', 'separable', 'fft', 'recursive'), 'recursive')
    """
    check_cost_backend(backend)
    dims = _check_shape(shape)
    dt = _check_dtype(dtype)
    kern = check_kernel(kernel, len(dims))
    costs = method_costs(kern, dims, dt)
    notes = costs.pop("_notes", ())
    return _table(costs, backend, calibration, kern.describe(), dims, dt, notes)


def _table(costs, backend, calibration, kernel, dims, dt, notes=()):
    """The :class:`MethodTable` of the `costs` per method, predicted with the backend's constants."""
    constants = load_calibration(backend) if calibration is None else calibration
    rows = [MethodRow(method, float(entry["macs_per_voxel"]), int(entry["bytes"]), _predict(entry, method, constants),
                      note=entry["note"]) for method, entry in costs.items()]
    choice = min(rows, key=lambda r: r.predicted_s).method
    return MethodTable(tuple(rows), choice, kernel, dims, str(dt), constants.get("source", "custom"), notes)


def choose_method(kernel, shape, dtype=np.float32, backend="cpu"):
    """The fastest predicted method: 'direct', 'separable', 'fft' (or 'recursive' for a
    Gaussian spec), from the calibrated or the default constants.

    Parameters
    ----------
    kernel, shape, dtype, backend
        As for :func:`plan_methods`.

    Returns
    -------
    str

    Examples
    --------
    >>> import numpy as np
    >>> choose_method(np.ones((3, 3, 3)), (64, 64, 64)) in ("direct", "separable")
    True
    """
    return plan_methods(kernel, shape, dtype, backend).choice


def plane_methods(kernel_shape, ranks, shape, axes, parts=2, dtype=np.float32, backend="cpu", *, calibration=None):
    """Predict the two ways to convolve every plane `axes` of an array with complex 2-D kernels.

    The kernels (one per entry of `ranks`, each its number of complex rank-1 terms, all of
    `kernel_shape` over `axes`) are applied to a real array of `shape`, keeping `parts`
    real results per kernel (2 for a modulus, 1 for a real or imaginary part).

    - 'separable': per term, the real and imaginary column passes (``k0`` taps each) and
      ``2 * parts`` row passes (``k1`` taps): ``sum(ranks) * (2 k0 + 2 parts k1)`` MACs per
      voxel, every pass a read and a write of the array;
    - 'fft': one complex FFT of the planes padded by the kernel, then per kernel a spectrum
      product and an inverse complex FFT (a complex transform counted as two real ones).

    Parameters
    ----------
    kernel_shape : (int, int)
    ranks : sequence of int
    shape : sequence of int
    axes : (int, int)
    parts : {1, 2}
    dtype, backend, calibration
        As for :func:`plan_methods`.

    Returns
    -------
    MethodTable
        Rows 'separable' and 'fft'; ``choice`` the faster prediction.

    Examples
    --------
    >>> small = plane_methods((9, 9), [1] * 4, (64, 256, 256), (1, 2), calibration=DEFAULT_CONSTANTS)
    >>> large = plane_methods((81, 81), [9] * 8, (64, 256, 256), (1, 2), calibration=DEFAULT_CONSTANTS)
    >>> small.choice, large.choice
    ('separable', 'fft')
    """
    from scipy.fft import next_fast_len

    check_cost_backend(backend)
    dims = _check_shape(shape)
    dt = _check_dtype(dtype)
    k0, k1 = (int(k) for k in kernel_shape)
    ranks = [int(r) for r in ranks]
    item = np.result_type(dt, np.float32).itemsize
    n = math.prod(dims)
    passes = sum(ranks) * (2 + 2 * parts)
    separable = {"macs_per_voxel": sum(ranks) * (2 * k0 + 2 * parts * k1), "bytes": passes * 2 * n * item,
                 "note": f"{sum(ranks)} complex terms over {len(ranks)} kernels"}
    padded = [next_fast_len(dims[a] + k - 1) for a, k in zip(axes, (k0, k1))]
    plane = math.prod(padded)
    planes = n // max(dims[axes[0]] * dims[axes[1]], 1)
    transform = 2 * FFT_FACTOR * plane * math.log2(max(plane, 2)) * planes  # one complex 2-D FFT of every plane
    work = transform * (1 + len(ranks)) + 6 * plane * planes * len(ranks)
    fft = {"macs_per_voxel": work / n, "bytes": (2 + 3 * len(ranks)) * plane * planes * 2 * item,
           "note": f"{len(ranks) + 1} complex FFTs of {'x'.join(map(str, padded))} planes"}
    for entry in (separable, fft):
        entry["work"] = entry["macs_per_voxel"] * n
    return _table({"separable": separable, "fft": fft}, backend, calibration, f"complex {k0}x{k1} x{len(ranks)}",
                  dims, dt)


def gaussian_method(sigma, order=0, radius=None, length=None, backend="cpu"):
    """The faster way to run one axis of a Gaussian: 'fir' or 'recursive'.

    What ``method='auto'`` of :func:`sep3d.gaussian` and its relatives runs on each
    axis: the FIR's ``2 * radius + 1`` taps at the calibrated separable rate against the
    recursion's sections and boundary states (:func:`plan_methods`' model) at the
    recursive rate, from :func:`load_calibration`.

    Parameters
    ----------
    sigma : float
        Standard deviation in samples, > 0.
    order : int, optional
        Derivative order; above 2 only 'fir' exists.
    radius : int, optional
        The FIR half-width; default ``int(4 * sigma + 0.5)``.
    length : int, optional
        The line length (the boundary states cost ``8 * reach / length`` per sample);
        default: lines long enough to ignore them.
    backend : {'cpu'}, optional

    Returns
    -------
    str

    Examples
    --------
    >>> gaussian_method(0.8), gaussian_method(0.8, order=3), gaussian_method(40.0, length=512)
    ('fir', 'fir', 'recursive')
    """
    from .kernels import gaussian_radius

    check_cost_backend(backend)
    sigma = float(sigma)
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"`sigma` must be a finite number > 0; got {sigma!r}")
    if order > 2:
        return "fir"
    radius = gaussian_radius(sigma, 4.0, radius)
    separable_rate, recursive_rate = _gaussian_rates(backend, *_calibration_stamp(backend))
    fir = (2 * radius + 1) / separable_rate
    recursive = _recursive_macs(sigma, order, length) / recursive_rate
    return "recursive" if recursive < fir else "fir"


def _calibration_stamp(backend):
    """The calibration file and its modification time (None without one): a cache key."""
    path = calibration_path(backend)
    try:
        return str(path), path.stat().st_mtime_ns
    except OSError:
        return str(path), None


@functools.lru_cache(maxsize=8)
def _gaussian_rates(backend, path, stamp):
    """The separable and recursive rates of :func:`load_calibration`, read once per file
    version (:func:`gaussian_method` runs per axis of every ``method='auto'`` call)."""
    rates = load_calibration(backend, path=path)["work_per_s"]
    return rates["separable"], rates["recursive"]


# ---------------------------------------------------------------------------------------
# kernels from text


def _parse_sizes(text, ndim, what):
    try:
        vals = [int(v) for v in text.split("x")]
    except ValueError:
        raise ValueError(f"`{what}` must be an int or ints joined by 'x'; got {text!r}") from None
    if len(vals) == 1:
        vals *= ndim
    if len(vals) != ndim or any(v < 1 for v in vals):
        raise ValueError(f"`{what}` must be one or {ndim} ints >= 1; got {text!r}")
    return tuple(vals)


def _parse_int(text, what, minimum):
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"`{what}` must be an int >= {minimum}; got {text!r}") from None
    if value < minimum:
        raise ValueError(f"`{what}` must be an int >= {minimum}; got {text!r}")
    return value


def parse_kernel(text, ndim=3):
    """A kernel from its text form (the ``--kernel`` option of ``sep3d plan``).

    Parameters
    ----------
    text : str
        ``gaussian:sigma=S`` (S one float or ``SxSxS``, voxels) -> ``("gaussian", sigmas)``;
        ``box:size=K`` -> a normalised box; ``random:size=K[,rank=R][,seed=N]`` -> a
        random kernel, full rank or a sum of R random separable terms; ``path.npy`` ->
        ``numpy.load(path)``. Sizes are one int or ``KxKxK``.
    ndim : int, optional
        Number of axes of the kernel. Default 3.

    Returns
    -------
    tuple or numpy.ndarray

    Raises
    ------
    ValueError
        An unknown kind or parameter, a missing or malformed value.
    FileNotFoundError
        A ``.npy`` path that does not exist.

    Examples
    --------
    >>> parse_kernel("gaussian:sigma=6")
    ('gaussian', (6.0, 6.0, 6.0))
    >>> parse_kernel("random:size=5,rank=2,seed=0").shape
    (5, 5, 5)
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a str; got {type(text).__name__}")
    if text.endswith(".npy"):
        if not Path(text).is_file():
            raise FileNotFoundError(f"kernel file {text!r} does not exist")
        return np.load(text)
    kind, sep, rest = text.partition(":")
    allowed = {"gaussian": {"sigma"}, "box": {"size"}, "random": {"size", "rank", "seed"}}
    if kind not in allowed:
        raise ValueError(f"kernel kind must be one of {sorted(allowed)} or a .npy path; got {kind!r} in {text!r}")
    params = {}
    for part in filter(None, rest.split(",")):
        name, eq, value = part.partition("=")
        if not eq or not value:
            raise ValueError(f"kernel parameter must be name=value; got {part!r} in {text!r}")
        if name not in allowed[kind]:
            raise ValueError(f"`{kind}` kernels take {sorted(allowed[kind])}; got parameter {name!r}")
        params[name] = value
    required = "sigma" if kind == "gaussian" else "size"
    if required not in params:
        raise ValueError(f"`{kind}` kernels need `{required}=`; got {text!r}")
    if kind == "gaussian":
        try:
            sig = tuple(float(v) for v in params["sigma"].split("x"))
        except ValueError:
            raise ValueError(f"`sigma` must be a float or floats joined by 'x'; got {params['sigma']!r}") from None
        if len(sig) == 1:
            sig *= ndim
        if len(sig) != ndim or not all(math.isfinite(s) and s >= 0 for s in sig):
            raise ValueError(f"`sigma` must be one or {ndim} finite values >= 0; got {params['sigma']!r}")
        return ("gaussian", sig)
    size = _parse_sizes(params["size"], ndim, "size")
    if kind == "box":
        return np.full(size, 1.0 / math.prod(size))
    rank = _parse_int(params["rank"], "rank", 1) if "rank" in params else None
    seed = _parse_int(params.get("seed", "0"), "seed", 0)
    rng = np.random.default_rng(seed)
    if rank is None:
        return rng.standard_normal(size)
    kernel = np.zeros(size)
    for _ in range(rank):
        term = np.ones(())
        for n in size:
            term = np.multiply.outer(term, rng.standard_normal(n))
        kernel += term
    return kernel
