"""Filters for spectral cubes: spatial-spectral separable filters and depthwise-separable mixing.

A cube has one band axis (hyperspectral rasters: ``(band, y, x)``) and spatial axes.

- :func:`spatial_spectral` is one separable filter: a 2-D spatial filter on every band
  times a 1-D spectral filter along the bands (Gaussian or Savitzky-Golay, in wavelength
  units, on evenly or unevenly spaced bands), built as one
  :class:`~sep3d.plan.FilterPlan` (one pass per axis, the x and y passes fused) and run
  by every backend and on dask.
- :func:`depthwise_separable` filters every band spatially and then mixes the bands
  with a pointwise matrix (``C_in -> C_out``: a PCA projection, a band-ratio bank, ...):
  ``1 / C_out + 1 / k^2`` of the cost of the full ``k x k x C_in`` convolution per output.

Nodata: NaN pixels (any band NaN) are excluded from spatial smoothing by normalised
convolution, ``S(x * valid) / S(valid)``, so they never bleed into valid pixels, and stay
NaN in the result.
"""
from __future__ import annotations

import io

import numpy as np

from . import backends
from ._docs import docfiller
from ._validate import check_cval, check_modes_on_axes, check_spacing, per_axis
from . import filters
from .filters import result_dtype, run_plan
from .kernels import (FIR, difference_taps, gaussian_radius, gaussian_taps, local_gaussian, moving_average,
                      savgol_local, savgol_taps, recursive_gaussian)
from .plan import FilterPlan, Output, Term, cost

__all__ = ["spatial_spectral", "depthwise_separable", "plan_spatial_spectral", "describe_depthwise",
           "SPATIAL_KINDS", "SPECTRAL_KINDS", "NODATA"]

#: Spatial filters and their arguments (defaults; ``...`` = required).
SPATIAL_KINDS = {
    "gaussian": {"sigma": ..., "order": 0, "truncate": 4.0, "radius": None, "method": "fir"},
    "box": {"size": ...},
    "derivative": {"order": ..., "sigma": None, "truncate": 4.0},
}
#: Spectral filters (along the band axis) and their arguments.
SPECTRAL_KINDS = {
    "gaussian": {"sigma": ..., "order": 0, "truncate": 4.0, "mode": "interp"},
    "savgol": {"window_length": ..., "polyorder": ..., "deriv": 0, "mode": "interp"},
}
#: What :func:`spatial_spectral` does with NaN pixels.
NODATA = ("normalize", "propagate")


def parse_spec(value, name, kinds):
    """``{kind: {args}}`` / ``(kind, {args})`` / ``kind`` -> (kind, args with defaults), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        kind, args = value, {}
    elif isinstance(value, dict) and len(value) == 1:
        (kind, args), = value.items()
        args = {} if args is None else args
    elif isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str):
        kind, args = value
    else:
        raise ValueError(f"`{name}` must be None, a kind name or a one-key mapping like "
                         f"{{'{next(iter(kinds))}': {{...}}}}; got {value!r}")
    if kind not in kinds:
        raise ValueError(f"`{name}` kind must be one of {sorted(kinds)}; got {kind!r}")
    if not isinstance(args, dict):
        raise ValueError(f"`{name}` arguments of {kind!r} must be a mapping; got {args!r}")
    allowed = kinds[kind]
    unknown = [k for k in args if k not in allowed]
    if unknown:
        raise ValueError(f"`{name}` {kind!r} takes {sorted(allowed)}; got unknown {unknown}")
    missing = [k for k, v in allowed.items() if v is ... and k not in args]
    if missing:
        raise ValueError(f"`{name}` {kind!r} needs {missing}")
    full = dict(allowed)
    full.update(args)
    return kind, full


def _int_per_axis(value, n, name):
    values = per_axis(value, n, name)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"`{name}` must be a non-negative int or one per spatial axis; got {value!r}")
    return [int(v) for v in values]


def _positive_per_axis(value, n, name, allow_zero=True):
    values = per_axis(value, n, name)
    out = []
    for v in values:
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"`{name}` must be a number or one per spatial axis; got {value!r}") from None
        if not (np.isfinite(v) and (v >= 0 if allow_zero else v > 0)):
            raise ValueError(f"`{name}` must be finite and {'>= 0' if allow_zero else '> 0'}; got {value!r}")
        out.append(v)
    return out


def _spatial_ops(spec, axes, spacing, ndim):
    """(ops per axis, scale) of the spatial filter on `axes` (spacing per axis)."""
    ops = [None] * ndim
    if spec is None:
        return ops, 1.0
    kind, args = spec
    n = len(axes)
    scale = 1.0
    if kind == "box":
        sizes = _positive_per_axis(args["size"], n, "spatial size", allow_zero=False)
        for ax, s in zip(axes, sizes):
            width = max(1, int(round(s / spacing[ax])))
            if width > 1:
                ops[ax] = moving_average(width)
        return ops, 1.0
    orders = _int_per_axis(args["order"], n, "spatial order")
    if kind == "derivative" and args["sigma"] is None:
        if any(o > 2 for o in orders):
            raise ValueError(f"`spatial` derivative orders must be <= 2 without a sigma (finite differences); "
                             f"got {orders}")
        for ax, o in zip(axes, orders):
            if o:
                taps = difference_taps(o) * (0.5 if o == 1 else 1.0)  # central: f(x+1) - f(x-1) over 2
                ops[ax] = FIR(taps)
                scale /= spacing[ax] ** o
        return ops, scale
    sigmas = _positive_per_axis(args["sigma"], n, "spatial sigma")
    method = args.get("method", "fir")
    if method not in ("fir", "recursive"):
        raise ValueError(f"`spatial` method must be 'fir' or 'recursive'; got {method!r}")
    radii = per_axis(args.get("radius"), n, "spatial radius")
    for ax, s, o, r in zip(axes, sigmas, orders, radii):
        s_px = s / spacing[ax]
        if s_px <= 0:
            if o:
                raise ValueError(f"`spatial` sigma must be > 0 on axis {ax}, which takes a derivative")
            continue
        if method == "recursive":
            ops[ax] = recursive_gaussian(s_px, o)
        else:
            ops[ax] = FIR(gaussian_taps(s_px, o, gaussian_radius(s_px, float(args["truncate"]), r)))
        scale /= spacing[ax] ** o
    return ops, scale


def _band_positions(n, wavelengths):
    """(positions, step or None when unevenly spaced) of the bands."""
    if wavelengths is None:
        return np.arange(n, dtype=np.float64), 1.0
    pos = np.asarray(wavelengths, dtype=np.float64)
    if pos.shape != (n,):
        raise ValueError(f"`wavelengths` must hold one value per band ({n}); got shape {pos.shape}")
    if not np.all(np.isfinite(pos)) or (n > 1 and not np.all(np.diff(pos) > 0)):
        raise ValueError("`wavelengths` must be finite and strictly increasing")
    if n < 2:
        return pos, 1.0
    steps = np.diff(pos)
    step = float(steps.mean())
    return pos, (step if np.allclose(steps, step, rtol=1e-5, atol=0) else None)


def _spectral_op(spec, n, wavelengths):
    """(operator, scale, mode) along the band axis."""
    if spec is None:
        return None, 1.0, None
    kind, args = spec
    pos, step = _band_positions(n, wavelengths)
    mode = args["mode"]
    local = mode == "interp"
    if not local:
        (mode,) = check_modes_on_axes(mode, (0,), 1)
        if step is None:
            raise ValueError("`spectral` mode must be 'interp' on unevenly spaced bands (the fits use the true "
                             f"wavelengths); got {args['mode']!r}")
    if kind == "savgol":
        wl, po, d = args["window_length"], args["polyorder"], args["deriv"]
        if local:
            return savgol_local(pos, wl, po, d), 1.0, None
        return FIR(savgol_taps(wl, po, d, step)), 1.0, mode
    sigma = _positive_per_axis(args["sigma"], 1, "spectral sigma", allow_zero=False)[0]
    order = _int_per_axis(args["order"], 1, "spectral order")[0]
    if local:
        if order:
            raise ValueError("`spectral` gaussian with mode='interp' (renormalised at the edges) is order 0 only; "
                             "use savgol for derivative spectra or give a boundary mode")
        return local_gaussian(pos, sigma, float(args["truncate"])), 1.0, None
    s_px = sigma / step
    taps = gaussian_taps(s_px, order, gaussian_radius(s_px, float(args["truncate"])))
    return FIR(taps), 1.0 / step ** order, mode


def check_band_axis(band_axis, ndim):
    if isinstance(band_axis, bool) or not isinstance(band_axis, (int, np.integer)) or not -ndim <= band_axis < ndim:
        raise ValueError(f"`band_axis` must be an int in [{-ndim}, {ndim}); got {band_axis!r}")
    if ndim < 2:
        raise ValueError(f"a cube needs a band axis and at least one spatial axis; got {ndim}-D input")
    return int(band_axis) % ndim


def _spatial_geometry(shape, band_axis, spacing, mode):
    ndim = len(shape)
    band_axis = check_band_axis(band_axis, ndim)
    axes = tuple(ax for ax in range(ndim) if ax != band_axis)
    full = [1.0] * ndim
    for ax, s in zip(axes, check_spacing(spacing, len(axes))):
        full[ax] = float(s)
    modes = list(check_modes_on_axes(mode, axes, ndim))
    return band_axis, axes, full, modes


def plan_spatial_spectral(shape, *, spatial=None, spectral=None, band_axis=0, wavelengths=None, spacing=None,
                          mode="reflect", cval=0.0):
    """The :class:`~sep3d.plan.FilterPlan` of :func:`spatial_spectral` for a cube of `shape`."""
    shape = tuple(int(s) for s in shape)
    band_axis, axes, full_spacing, modes = _spatial_geometry(shape, band_axis, spacing, mode)
    spatial = parse_spec(spatial, "spatial", SPATIAL_KINDS)
    spectral = parse_spec(spectral, "spectral", SPECTRAL_KINDS)
    if spatial is None and spectral is None:
        raise ValueError("give `spatial`, `spectral` or both")
    ops, scale = _spatial_ops(spatial, axes, full_spacing, len(shape))
    op, band_scale, band_mode = _spectral_op(spectral, shape[band_axis], wavelengths)
    ops[band_axis] = op
    if band_mode is not None:
        modes[band_axis] = band_mode
    name = "spatial_spectral"
    return FilterPlan((Output((Term(scale * band_scale, tuple(ops)),)),), tuple(modes), check_cval(cval), None,
                      name)


def _is_smoothing(spatial):
    """True for a spatial filter with non-negative weights (normalised convolution applies)."""
    kind, args = parse_spec(spatial, "spatial", SPATIAL_KINDS)
    return kind == "box" or (kind == "gaussian" and not any(np.atleast_1d(args["order"])))


def _nodata_mask_plan(plan, band_axis):
    """The spatial part of `plan` for the 2-D valid-pixel mask (the band axis removed)."""
    (term,) = plan.outputs[0].terms
    ops = tuple(op for ax, op in enumerate(term.ops) if ax != band_axis)
    modes = tuple(m for ax, m in enumerate(plan.modes) if ax != band_axis)
    return FilterPlan((Output((Term(1.0, ops),)),), modes, plan.cval, None, "nodata weights")


def _xp(arr):
    kind = backends.array_kind(arr)
    if kind == "dask":
        import dask.array as da

        return da
    return backends.array_module(arr)


@docfiller
def spatial_spectral(cube, *, spatial=None, spectral=None, band_axis=0, wavelengths=None, spacing=None,
                     mode="reflect", cval=0.0, nodata="normalize", backend="auto", output=None):
    """A spatial filter on every band times a spectral filter along the bands, in one plan.

    Parameters
    ----------
    cube : array_like
        A cube with one band axis and one or more spatial axes (``(band, y, x)``).
    spatial : mapping, optional
        The filter of every band, ``{kind: {arguments}}``:

        - ``{"gaussian": {"sigma": s, "order": 0, "truncate": 4.0, "method": "fir"}}``:
          Gaussian smoothing or derivatives (`order` per spatial axis);
        - ``{"box": {"size": w}}``: moving average;
        - ``{"derivative": {"order": (oy, ox)}}``: central differences (orders <= 2), or
          Gaussian derivatives with a ``"sigma"``.

        Sizes are in units of `spacing` (pixels by default); one value or one per spatial
        axis. Derivatives are per unit of `spacing`.
    spectral : mapping, optional
        The filter along the bands:

        - ``{"savgol": {"window_length": 11, "polyorder": 2, "deriv": 0, "mode": "interp"}}``:
          Savitzky-Golay (scipy.signal.savgol_filter's arguments); `deriv` per unit of
          `wavelengths`;
        - ``{"gaussian": {"sigma": s, "order": 0, "truncate": 4.0, "mode": "interp"}}``:
          `sigma` in units of `wavelengths`.

        ``mode="interp"`` (default) keeps every window inside the band axis: the
        Savitzky-Golay polynomial is fitted to the nearest `window_length` bands (at the
        edges too, as scipy.signal does) and the Gaussian is renormalised where it is cut.
        On unevenly spaced `wavelengths` the fits use the true wavelengths (only
        'interp' is allowed there). Any scipy.ndimage mode may be given instead on evenly
        spaced bands.
    band_axis : int, optional
        The band axis; default 0.
    wavelengths : sequence of float, optional
        Band centres (e.g. nm), strictly increasing; default: band indices.
    spacing : float or sequence of float, optional
        Pixel size per spatial axis (in array order, band axis left out).
    mode : str or sequence of str, optional
        Spatial boundary mode (scipy.ndimage's), one or one per spatial axis.
    %(cval)s
    nodata : {'normalize', 'propagate'}, optional
        'normalize' (default): pixels with a NaN in any band are left out of spatial
        smoothing by normalised convolution (they do not bleed into valid pixels) and
        are NaN in the result; with a derivative spatial filter NaN propagates to the
        neighbours within its reach. 'propagate': NaN spreads as in scipy.ndimage.
    %(backend)s
    output : ndarray, optional
        float32 or float64 array of the cube's shape.

    Returns
    -------
    ndarray
        The filtered cube (NumPy, CuPy or a lazy dask array, as the input). float64 in ->
        float64 out, anything else -> float32.

    Raises
    ------
    ValueError
        An unknown kind or argument, a window longer than the band axis, wavelengths
        that are not increasing or not one per band, a boundary mode on unevenly spaced
        bands.

    Notes
    -----
    One term: one pass per filtered axis. The band pass reads each pixel's spectrum once
    from a panel in cache; the x and y passes run fused per band. A Savitzky-Golay
    window of ``K`` bands costs ``K`` multiply-adds per sample; the spatial Gaussian
    ``2 r + 1`` per axis.

    Examples
    --------
    >>> import numpy as np, sep3d
    >>> cube = np.random.default_rng(0).random((12, 8, 9)).astype(np.float32)
    >>> out = sep3d.spatial_spectral(cube, spatial={"gaussian": {"sigma": 1.0}},
    ...                              spectral={"savgol": {"window_length": 5, "polyorder": 2}})
    >>> out.shape, out.dtype
    ((12, 8, 9), dtype('float32'))
    """
    if nodata not in NODATA:
        raise ValueError(f"`nodata` must be one of {list(NODATA)}; got {nodata!r}")
    arr = backends.as_input(cube, backend, "cube")
    plan = plan_spatial_spectral(arr.shape, spatial=spatial, spectral=spectral, band_axis=band_axis,
                                 wavelengths=wavelengths, spacing=spacing, mode=mode, cval=cval)
    band_axis = check_band_axis(band_axis, arr.ndim)
    if nodata == "propagate" or arr.dtype.kind != "f" or spatial is None:
        return run_plan(plan, arr, backend=backend, output=output)
    xp = _xp(arr)
    invalid = xp.isnan(arr).any(axis=band_axis)
    lazy = backends.array_kind(arr) == "dask"
    if not lazy and not bool(invalid.any()):  # sync
        return run_plan(plan, arr, backend=backend, output=output)
    if not _is_smoothing(spatial):  # a derivative: NaN propagates; masked pixels stay NaN
        result = run_plan(plan, arr, backend=backend, output=output)
        return _mask(result, invalid, band_axis, xp, lazy)
    filled = xp.where(xp.expand_dims(invalid, band_axis), arr.dtype.type(0), arr)
    result = run_plan(plan, filled, backend=backend, output=output)
    weights = run_plan(_nodata_mask_plan(plan, band_axis), (~invalid).astype(result.dtype), backend=backend)
    weights = xp.expand_dims(weights, band_axis)
    invalid_b = xp.expand_dims(invalid, band_axis)
    if lazy:
        return xp.where(invalid_b, np.nan, result / xp.where(invalid_b, 1, weights)).astype(result.dtype)
    safe = xp.where(invalid_b, result.dtype.type(1), weights)
    xp.divide(result, safe, out=result)
    return _mask(result, invalid, band_axis, xp, lazy)


def _mask(result, invalid, band_axis, xp, lazy):
    """NaN at the invalid pixels of every band (in place unless lazy)."""
    mask = xp.broadcast_to(xp.expand_dims(invalid, band_axis), result.shape)
    if lazy:
        return xp.where(mask, np.nan, result).astype(result.dtype)
    result[mask] = np.nan
    return result


# ---------------------------------------------------------------------------------------
# depthwise-separable


def _check_pointwise(pointwise, n_bands, bias):
    m = np.asarray(pointwise)
    if m.ndim != 2 or m.dtype.kind not in "biuf" or m.size == 0:
        raise ValueError(f"`pointwise` must be a real 2-D matrix (C_out, C_in); got shape {m.shape}, "
                         f"dtype {m.dtype}")
    if m.shape[1] != n_bands:
        raise ValueError(f"`pointwise` must have one column per band (C_in = {n_bands}); got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError("`pointwise` must be finite")
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        if bias.shape != (m.shape[0],) or not np.all(np.isfinite(bias)):
            raise ValueError(f"`bias` must be {m.shape[0]} finite numbers (one per output channel); got "
                             f"shape {bias.shape}")
    return m.astype(np.float64), bias


@docfiller
def depthwise_separable(cube, *, spatial=None, pointwise, bias=None, band_axis=0, spacing=None, mode="reflect",
                        cval=0.0, nodata="normalize", backend="auto"):
    """Per-band spatial filter, then a pointwise band-mixing matrix (``C_in -> C_out``).

    Parameters
    ----------
    cube : array_like
        A cube with a band axis (``C_in`` bands) and spatial axes.
    spatial : mapping, optional
        The spatial filter of every band, as in :func:`spatial_spectral`.
    pointwise : array_like, shape (C_out, C_in)
        The band-mixing matrix: output channel ``o`` is ``sum_b pointwise[o, b] *
        filtered[b]`` (a PCA projection is the transposed eigenvector matrix).
    bias : array_like, shape (C_out,), optional
        Added to each output channel (e.g. ``-pointwise @ mean`` for centred PCA scores).
    band_axis, spacing, mode, cval, nodata, backend
        As in :func:`spatial_spectral`.

    Returns
    -------
    ndarray
        ``C_out`` channels on the band axis; float64 for float64 input, else float32.

    Notes
    -----
    Per output pixel the full ``k x k x C_in`` spatial-spectral convolution costs
    ``C_out * C_in * k^2`` multiply-adds; per-band filtering then mixing costs
    ``C_in * k^2 + C_in * C_out`` (``C_in * 2k`` when the spatial filter is separable, as
    here): the ratio ``1 / C_out + 1 / k^2``. :func:`describe_depthwise` prints it.

    Examples
    --------
    >>> import numpy as np, sep3d
    >>> cube = np.ones((4, 6, 6), np.float32)
    >>> sep3d.depthwise_separable(cube, spatial={"box": {"size": 3}}, pointwise=np.ones((2, 4)))[:, 0, 0]
    array([4., 4.], dtype=float32)
    """
    arr = backends.as_input(cube, backend, "cube")
    band_axis = check_band_axis(band_axis, arr.ndim)
    m, bias = _check_pointwise(pointwise, arr.shape[band_axis], bias)
    if spatial is not None:
        arr = spatial_spectral(arr, spatial=spatial, band_axis=band_axis, spacing=spacing, mode=mode, cval=cval,
                               nodata=nodata, backend=backend)
    dtype = result_dtype(arr, None)
    xp = _xp(arr)
    matrix = m.astype(dtype)
    if backends.array_kind(arr) == "cupy":
        matrix = xp.asarray(matrix)
    lazy = backends.array_kind(arr) == "dask"
    if lazy and len(arr.chunks[band_axis]) > 1:
        arr = arr.rechunk({band_axis: -1})
    mixed = xp.moveaxis(xp.tensordot(matrix, arr.astype(dtype, copy=False), axes=([1], [band_axis])), 0, band_axis)
    if not lazy:
        mixed = xp.ascontiguousarray(mixed)
    if bias is not None:
        shape = [1] * arr.ndim
        shape[band_axis] = -1
        b = bias.astype(dtype).reshape(shape)
        mixed = mixed + (xp.asarray(b) if backends.array_kind(arr) == "cupy" else b)
    return mixed


def describe_depthwise(shape, *, spatial=None, pointwise, band_axis=0, spacing=None, file=None):
    """Print the cost of :func:`depthwise_separable` against the full spatial-spectral convolution.

    Parameters
    ----------
    shape : tuple of int
        The cube's shape.
    spatial, pointwise, band_axis, spacing
        As in :func:`depthwise_separable` (`pointwise` may be just its shape).
    file : file-like or False, optional
        Where to print (default standard output); False prints nothing.

    Returns
    -------
    dict
        ``c_in``, ``c_out``, ``k`` (taps per spatial axis), multiply-adds per output pixel
        for the full convolution, the direct depthwise-separable form and sep3d's (separable
        spatial passes), and the ratios; the text under ``"text"``.

    Examples
    --------
    >>> d = describe_depthwise((200, 64, 64), spatial={"box": {"size": 5}}, pointwise=(10, 200), file=False)
    >>> round(d["ratio_direct"], 4) == round(1 / 10 + 1 / 25, 4)
    True
    """
    shape = tuple(int(s) for s in shape)
    band_axis = check_band_axis(band_axis, len(shape))
    c_in = shape[band_axis]
    is_shape = isinstance(pointwise, tuple) and all(isinstance(v, (int, np.integer)) for v in pointwise)
    m_shape = tuple(pointwise) if is_shape else tuple(np.shape(pointwise))
    if len(m_shape) != 2 or m_shape[1] != c_in:
        raise ValueError(f"`pointwise` must be (C_out, C_in = {c_in}); got shape {m_shape}")
    c_out = m_shape[0]
    if spatial is None:
        taps, sep_macs = [1], 0
    else:
        plan = plan_spatial_spectral(shape, spatial=spatial, band_axis=band_axis, spacing=spacing)
        sep_macs, _ = cost(plan)
        (term,) = plan.outputs[0].terms
        taps = [op.size for op in term.ops if op is not None] or [1]
    k2 = int(np.prod(taps))
    full = c_out * c_in * k2
    direct = c_in * k2 + c_in * c_out
    separable = c_in * sep_macs + c_in * c_out
    buf = io.StringIO()
    print(f"depthwise_separable: C_in={c_in} -> C_out={c_out}, spatial taps per axis {taps}", file=buf)
    print(f"  full spatial-spectral convolution: {full} multiply-adds per pixel (C_out x C_in x k^2)", file=buf)
    print(f"  per-band 2-D filter + pointwise:   {direct} (C_in x k^2 + C_in x C_out): "
          f"{direct / full:.4f} of the full = 1/C_out + 1/k^2 = {1 / c_out + 1 / k2:.4f}", file=buf)
    print(f"  sep3d (separable passes + matrix): {separable} ({separable / full:.4f} of the full)", file=buf)
    text = buf.getvalue().rstrip()
    if file is not False:
        print(text, file=file)
    return {"c_in": c_in, "c_out": c_out, "k": taps, "macs_full": full, "macs_direct": direct,
            "macs_separable": separable, "ratio_direct": direct / full, "ratio_separable": separable / full,
            "text": text}


filters.SHAPE_PLANNERS[spatial_spectral] = plan_spatial_spectral
filters.DESCRIBERS[depthwise_separable] = describe_depthwise
