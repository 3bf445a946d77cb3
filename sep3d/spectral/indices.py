"""Spectral indices: built-ins (NDVI, NDWI, NDRE) and safe user formulas over named bands."""
from __future__ import annotations

import ast
import math
import numbers
from dataclasses import dataclass

import numpy as np

from ._cube import as_cube, check_choice, is_dask, result_dtype

try:
    import dask.array as da
except ImportError:  # pragma: no cover
    da = None

__all__ = ["INDICES", "SpectralIndex", "index", "select_band"]


@dataclass(frozen=True)
class SpectralIndex:
    """A named index: a formula over band variables, each a wavelength (nm) or a range."""

    name: str
    formula: str
    bands: dict
    description: str


#: Built-in indices (keys are upper case; :func:`index` takes any case).
INDICES = {
    "NDVI": SpectralIndex(
        "NDVI", "(nir - red) / (nir + red)", {"nir": 842.0, "red": 665.0},
        "Normalised difference vegetation index (Rouse et al. 1974); NIR 842 nm and red 665 nm, "
        "the centres of Sentinel-2 MSI bands B8 and B4."),
    "NDWI": SpectralIndex(
        "NDWI", "(green - nir) / (green + nir)", {"green": 560.0, "nir": 842.0},
        "Normalised difference water index of McFeeters (1996), open water > 0; green 560 nm and "
        "NIR 842 nm, Sentinel-2 MSI B3 and B8."),
    "NDRE": SpectralIndex(
        "NDRE", "(nir - rededge) / (nir + rededge)", {"nir": 790.0, "rededge": 720.0},
        "Normalised difference red-edge index (Barnes et al. 2000); NIR 790 nm and red edge 720 nm."),
}

#: Functions a formula may call.
FUNCTIONS = {"sqrt": np.sqrt, "log": np.log, "log10": np.log10, "exp": np.exp, "abs": np.abs}

_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
           ast.Pow: np.power}
_UNARY = {ast.USub: np.negative, ast.UAdd: np.positive}
MAX_FORMULA_LENGTH = 1000


def parse_formula(formula):
    """Parse and check a formula; return its AST and the variable names it uses.

    Allowed: numbers, variable names, ``+ - * / **``, unary ``-``/``+``, parentheses and
    calls of :data:`FUNCTIONS` with one positional argument. Anything else (attribute
    access, subscripts, comparisons, lambdas, keyword arguments, strings...) is a
    ValueError: the formula is never handed to ``eval``.
    """
    if len(formula) > MAX_FORMULA_LENGTH:
        raise ValueError(f"`name_or_formula` must be at most {MAX_FORMULA_LENGTH} characters; got {len(formula)}")
    try:
        tree = ast.parse(formula.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"`name_or_formula` is not a valid formula: {formula!r} ({exc.msg})") from None
    names = []

    def check(node):
        if isinstance(node, ast.Expression):
            return check(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return check(node.left), check(node.right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return check(node.operand)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ValueError(f"`name_or_formula` may only contain real numbers as constants; "
                                 f"got {node.value!r} in {formula!r}")
            return None
        if isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise ValueError(f"`name_or_formula`: {node.id!r} is a function; call it as {node.id}(...)")
            if node.id not in names:
                names.append(node.id)
            return None
        if isinstance(node, ast.Call):
            if (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS and len(node.args) == 1
                    and not node.keywords and not isinstance(node.args[0], ast.Starred)):
                return check(node.args[0])
            raise ValueError(f"`name_or_formula` may only call {sorted(FUNCTIONS)} with one argument; "
                             f"got {ast.unparse(node)!r}")
        raise ValueError(f"`name_or_formula` may only use numbers, band names, + - * / **, parentheses and "
                         f"{sorted(FUNCTIONS)}; got {type(node).__name__} {ast.unparse(node)!r}")

    check(tree)
    return tree, names


def _evaluate(node, env):
    """Evaluate a checked formula AST on arrays (NumPy; dask calls it chunk by chunk)."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, env)
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_evaluate(node.left, env), _evaluate(node.right, env))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, env))
    if isinstance(node, ast.Constant):
        return np.float64(node.value)  # floats: 9 ** 9 ** 9 overflows to inf instead of hanging
    if isinstance(node, ast.Name):
        return env[node.id]
    return FUNCTIONS[node.func.id](_evaluate(node.args[0], env))


class _Formula:
    """``f(*arrays)`` evaluating a checked formula, quietly (x / 0 -> inf, log(-1) -> NaN)."""

    def __init__(self, text, tree, names, dtype):
        self.text, self.tree, self.names, self.dtype = text, tree, names, dtype

    def __call__(self, *arrays):
        with np.errstate(all="ignore"):
            value = _evaluate(self.tree, dict(zip(self.names, arrays)))
        shape = np.broadcast_shapes(*(np.shape(a) for a in arrays)) if arrays else ()
        return np.broadcast_to(np.asarray(value, dtype=self.dtype), shape).copy()

    def __dask_tokenize__(self):
        return ("sep3d.spectral.formula", self.text, str(self.dtype))


def band_tolerance(wavelength):
    """How far (nm) a requested wavelength may be from the nearest band: 2 x median spacing."""
    if wavelength.size < 2:
        return 0.0
    return 2.0 * float(np.median(np.abs(np.diff(wavelength))))


def select_band(wavelength, spec, *, method="nearest", name="band"):
    """Which bands (and weights) a band spec means: ``[(band index, weight), ...]``.

    Parameters
    ----------
    wavelength : ndarray
        The cube's band centres (nm).
    spec : float or (float, float)
        A wavelength: the nearest band (``method='nearest'``) or the two bands around it
        linearly weighted (``method='linear'``); it must lie within
        :func:`band_tolerance` (2 x the median band spacing) of a band. A ``(lo, hi)``
        range: the mean of all bands with ``lo <= wavelength <= hi``.
    method : {'nearest', 'linear'}
    name : str
        Used in error messages.

    Examples
    --------
    >>> import numpy as np
    >>> select_band(np.array([500.0, 510.0, 520.0]), 512)
    [(1, 1.0)]
    >>> select_band(np.array([500.0, 510.0, 520.0]), (505, 520))
    [(1, 0.5), (2, 0.5)]
    """
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2 or not all(_is_real(v) for v in spec):
            raise ValueError(f"`{name}` must be a wavelength (nm) or a (lo, hi) range; got {spec!r}")
        lo, hi = float(spec[0]), float(spec[1])
        if not lo <= hi:
            raise ValueError(f"`{name}` range must have lo <= hi; got {spec!r}")
        inside = np.flatnonzero((wavelength >= lo) & (wavelength <= hi))
        if inside.size == 0:
            raise ValueError(f"`{name}` range {lo:g}-{hi:g} nm holds no band (bands span "
                             f"{wavelength.min():g}-{wavelength.max():g} nm)")
        return [(int(i), 1.0 / inside.size) for i in inside]
    if not _is_real(spec) or not math.isfinite(spec):
        raise ValueError(f"`{name}` must be a wavelength (nm) or a (lo, hi) range; got {spec!r}")
    target = float(spec)
    nearest = int(np.argmin(np.abs(wavelength - target)))
    gap = abs(float(wavelength[nearest]) - target)
    tol = band_tolerance(wavelength)
    if gap > tol:
        raise ValueError(f"`{name}` = {target:g} nm is {gap:g} nm from the nearest band ({wavelength[nearest]:g} nm); "
                         f"the limit is 2 x the median band spacing = {tol:g} nm")
    if method == "nearest" or gap == 0:
        return [(nearest, 1.0)]
    order = np.argsort(wavelength)
    wl = wavelength[order]
    if target < wl[0] or target > wl[-1]:
        raise ValueError(f"`{name}` = {target:g} nm is outside the bands ({wl[0]:g}-{wl[-1]:g} nm): "
                         "method='linear' does not extrapolate")
    k = int(np.searchsorted(wl, target))
    lo, hi = order[k - 1], order[k]
    w = (target - wavelength[lo]) / (wavelength[hi] - wavelength[lo])
    return [(int(lo), 1.0 - float(w)), (int(hi), float(w))]


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _describe(wavelength, picks):
    if len(picks) == 1:
        i = picks[0][0]
        return f"band {i} ({wavelength[i]:g} nm)"
    return " + ".join(f"{w:.3g} x band {i} ({wavelength[i]:g} nm)" for i, w in picks)


def index(cube, name_or_formula, *, bands=None, method="nearest", wavelength=None, band_axis=None):
    """A spectral index: a built-in (NDVI, NDWI, NDRE) or a formula over named bands.

    Parameters
    ----------
    cube : xarray.DataArray, ndarray or dask array
        ``(band, y, x)`` DataArray with a ``wavelength`` coordinate (nm), or a 3-D
        array with its band axis at `band_axis` and `wavelength` given.
    name_or_formula : str
        A name of :data:`INDICES` (any case), or a formula such as
        ``"(n - r) / (n + r)"``: numbers, the names of `bands`, ``+ - * / **``,
        parentheses and ``sqrt``, ``log``, ``log10``, ``exp``, ``abs``. The formula is
        parsed with :mod:`ast` and checked; it is never passed to ``eval``.
    bands : dict, optional
        ``{name: spec}``: a wavelength in nm picks the nearest band (it must be within 2
        x the median band spacing of one); a ``(lo, hi)`` tuple averages the bands with
        ``lo <= wavelength <= hi``. For a built-in, entries override its defaults
        (e.g. ``{"nir": 865}``).
    method : {'nearest', 'linear'}, optional
        For wavelength specs: the nearest band, or linear interpolation between the
        two bands around the wavelength.
    wavelength : array_like, optional
        Band centres (nm) of a NumPy or dask `cube` (a DataArray has them as a coordinate).
    band_axis : int, optional
        Band axis of a NumPy or dask `cube` (default 0).

    Returns
    -------
    xarray.DataArray or ndarray or dask array
        ``(y, x)``, named after the index (the formula itself for a formula), keeping
        the spatial coordinates (CRS) and attrs; ``attrs['formula']`` and
        ``attrs['bands']`` record what was computed. float64 for float64 input, else
        float32 (computed in float64). NaN where an input band is NaN; division by zero
        gives inf or NaN quietly. Lazy for dask.

    Raises
    ------
    ValueError
        Unknown index, formula with anything but arithmetic, unknown variable, a
        wavelength too far from every band, an empty range, no wavelengths.
    TypeError
        `name_or_formula` not a string, `bands` not a dict.

    Notes
    -----
    Built-in wavelengths (the nearest band to each is used):

    ====  =======================================  ==========================================
    NDVI  ``(nir - red) / (nir + red)``            nir 842 nm, red 665 nm (Sentinel-2 B8, B4)
    NDWI  ``(green - nir) / (green + nir)``        green 560 nm, nir 842 nm (McFeeters 1996)
    NDRE  ``(nir - rededge) / (nir + rededge)``    nir 790 nm, red edge 720 nm
    ====  =======================================  ==========================================

    The tolerance for a wavelength is 2 x the median band spacing (a cube of one band:
    the wavelength must match exactly), so a spec outside the sensor's range or in a
    gap (a dropped water-absorption window) is an error rather than a silent
    substitution.

    Examples
    --------
    >>> import numpy as np
    >>> from sep3d.spectral import index
    >>> cube = np.stack([np.full((1, 2), 0.1), np.full((1, 2), 0.5)])   # red, NIR
    >>> index(cube, "NDVI", wavelength=[665, 842]).round(3)
    array([[0.667, 0.667]])
    >>> index(cube, "(n - r) / (n + r)", bands={"n": 840, "r": (600, 700)},
    ...       wavelength=[665, 842]).round(3)
    array([[0.667, 0.667]])
    """
    c = as_cube(cube, "cube", band_axis=band_axis, wavelength=wavelength, need_wavelength=True)
    check_choice(method, ("nearest", "linear"), "method")
    if bands is not None and not isinstance(bands, dict):
        raise TypeError(f"`bands` must be a dict {{name: wavelength or (lo, hi)}}; got {type(bands).__name__}")
    if not isinstance(name_or_formula, str):
        raise TypeError(f"`name_or_formula` must be a str; got {type(name_or_formula).__name__}")
    builtin = INDICES.get(name_or_formula.strip().upper())
    if builtin is not None:
        name, formula = builtin.name, builtin.formula
        specs = {**builtin.bands, **(bands or {})}
    else:
        name = formula = name_or_formula.strip()
        specs = dict(bands or {})
    tree, names = parse_formula(formula)
    missing = [n for n in names if n not in specs]
    if missing:
        if builtin is None and not specs and len(names) == 1 and formula == names[0]:
            raise ValueError(f"`name_or_formula` must be one of {sorted(INDICES)} or a formula over the "
                             f"names in `bands`; got {name_or_formula!r}")
        raise ValueError(f"`bands` must give a wavelength or range for every name in the formula; "
                         f"missing {missing} (given {sorted(specs)})")
    data = c.data
    dtype = result_dtype(c.dtype)
    variables, described = [], []
    for var in names:
        picks = select_band(c.wavelength, specs[var], method=method, name=f"bands[{var!r}]")
        described.append(f"{var}: {_describe(c.wavelength, picks)}")
        value = None
        for i, w in picks:
            term = data[i].astype(np.float64) * w if w != 1.0 else data[i].astype(np.float64)
            value = term if value is None else value + term
        variables.append(value)
    fn = _Formula(formula, tree, names, dtype)
    if is_dask(data):
        if variables:
            out = da.map_blocks(fn, *variables, dtype=dtype, meta=np.empty((0, 0), dtype))
        else:
            out = da.full(data.shape[1:], fn(), dtype=dtype, chunks=data.chunks[1:])
    else:
        out = fn(*variables) if variables else np.full(data.shape[1:], fn(), dtype=dtype)
    return c.wrap(out, name=name, attrs=c.derived_attrs(long_name=name, formula=formula,
                                                         bands="; ".join(described)))
