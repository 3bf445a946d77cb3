"""The xarray accessor: ``da.sep3d.<filter>(...)`` with dimensions by name.

Importing :mod:`sep3d` registers ``.sep3d`` on every DataArray and Dataset::

    smooth = cube.sep3d.gaussian(sigma={"y": 60.0, "x": 60.0, "band": 1.5})

- Per-dimension arguments (`sigma`, `order`, `size`, `kernels`, `mode`, `radius`,
  `origin`) are dicts keyed by dimension name; a scalar applies to `dims` (default: every
  dimension but ``band``: spatial filters never mix bands unless asked to).
- With ``units="coords"`` (the default) sizes are in the units of each dimension's
  coordinate when it is regularly spaced (metres for a projected raster, nm for a
  ``wavelength`` band coordinate, mm for CT); a dimension without a coordinate counts in
  pixels; an irregular coordinate is an error (pass ``units="pixels"``).
- The result keeps the name, attrs, coordinates (rioxarray's ``spatial_ref``, hence CRS
  and transform) and the array type: NumPy stays NumPy, dask stays lazy (one overlap
  graph per filter, see :mod:`sep3d.chunked`), CuPy stays on the device.
- A filter makes new values, so the result keeps nothing of how the input's file stored
  its values: no ``.encoding`` (dtype, ``_FillValue``, scale/offset, chunks; only
  ``grid_mapping``) and none of the attributes :data:`STORAGE_ATTRS` (``_FillValue``
  only when it is NaN, the nodata marker of float data). :func:`sep3d.io.write_raster`
  then writes the result as the float array it is, not rounded into the source's
  integers.
- On a Dataset, a filter runs on the chosen `variables` (default: every data variable
  having all the filtered dimensions); the other variables are kept as they are.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from . import filters

__all__ = ["Sep3dDataArrayAccessor", "Sep3dDatasetAccessor", "IbsiAccessor", "coordinate_spacing", "UNITS",
           "FILTERS", "IBSI_FILTERS",
           "STORAGE_ATTRS", "is_nan_value"]

#: Accepted values of ``units``.
UNITS = ("coords", "pixels")

#: Dimensions a scalar argument does not filter by default.
SPECTRAL_DIMS = ("band",)

#: Attributes that describe how the input's values were stored (packing, fill codes, the
#: range of the stored numbers): a filter result does not inherit them.
STORAGE_ATTRS = ("_FillValue", "missing_value", "scale_factor", "add_offset", "valid_range", "valid_min",
                 "valid_max")


def is_nan_value(value):
    """True for a NaN scalar; False for anything else (a number, a string, None)."""
    try:
        return bool(np.isnan(value))
    except (TypeError, ValueError):
        return False


def _as_result(out):
    """`out` (a filter result built from the input) without the input's storage encoding."""
    out.encoding = {k: v for k, v in out.encoding.items() if k == "grid_mapping"}
    out.attrs = {k: v for k, v in out.attrs.items()
                 if k not in STORAGE_ATTRS or (k == "_FillValue" and is_nan_value(v))}
    return out


def coordinate_spacing(obj, dim, rtol=1e-5):
    """The step of `dim`'s coordinate (negative when it decreases), or 1.0 without one.

    Raises ValueError when the coordinate is not numeric or not regularly spaced.
    """
    if dim not in obj.coords or obj.sizes[dim] < 2:
        return 1.0
    values = np.asarray(obj.coords[dim].values)
    if values.dtype.kind not in "iuf":
        raise ValueError(f"coordinate {dim!r} is not numeric ({values.dtype}); pass units='pixels' "
                         "to give sizes in pixels")
    steps = np.diff(values.astype(np.float64))
    step = float(steps.mean())
    if step == 0 or not np.allclose(steps, step, rtol=rtol, atol=0):
        raise ValueError(f"coordinate {dim!r} is not regularly spaced (steps {steps.min():.6g} to "
                         f"{steps.max():.6g}); pass units='pixels' to give sizes in pixels")
    return step


class _Call:
    """One accessor call resolved against a DataArray: axes, per-axis values, spacing."""

    def __init__(self, obj, main, main_name, dims, units, per_dim):
        if units not in UNITS:
            raise ValueError(f"`units` must be one of {list(UNITS)}; got {units!r}")
        if isinstance(main, dict):
            if not main:
                raise ValueError(f"`{main_name}` must name at least one dimension; got {{}}")
            if dims is not None:
                raise TypeError(f"give the dimensions either as the keys of `{main_name}` or as `dims`, not both")
            dims = list(main)
        elif dims is None:
            dims = [d for d in obj.dims if d not in SPECTRAL_DIMS]
        elif isinstance(dims, str):
            dims = [dims]
        else:
            dims = list(dims)
        for d in dims:
            if d not in obj.dims:
                raise ValueError(f"`{main_name}` names dimension {d!r}, which is not one of {list(obj.dims)}")
        if len(set(dims)) != len(dims):
            raise ValueError(f"dimensions must not repeat; got {dims}")
        self.obj, self.dims = obj, dims
        self.axes = tuple(obj.get_axis_num(d) for d in dims)
        self.values = {main_name: self.per_dim(main, main_name)}
        for name, value in per_dim.items():
            self.values[name] = self.per_dim(value, name)
        self.signs = [1.0] * obj.ndim  # -1 where the coordinate decreases along the array
        if units == "pixels":
            self.spacing = None
        else:
            spacing = [1.0] * obj.ndim
            for d, ax in zip(dims, self.axes):
                step = coordinate_spacing(obj, d)
                spacing[ax], self.signs[ax] = abs(step), float(np.sign(step))
            self.spacing = tuple(spacing)

    def derivative_sign(self, orders):
        """The sign of a derivative of `orders` (axis -> order) in coordinate units."""
        return float(np.prod([self.signs[ax] ** o for ax, o in orders.items()]))

    def per_dim(self, value, name):
        """A dict keyed by dimension -> a list in `dims` order; anything else unchanged."""
        if not isinstance(value, dict):
            return value
        unknown = [k for k in value if k not in self.dims]
        if unknown:
            raise ValueError(f"`{name}` names {unknown}, which are not among the filtered dimensions "
                             f"{self.dims}")
        defaults = {"order": 0, "mode": "reflect", "radius": None, "origin": 0}
        if name not in defaults and len(value) != len(self.dims):
            missing = [d for d in self.dims if d not in value]
            raise ValueError(f"`{name}` needs a value for every filtered dimension; missing {missing}")
        values = [value.get(d, defaults.get(name)) for d in self.dims]
        if name == "radius" and any(v is None for v in values):
            raise ValueError(f"`radius` must give every filtered dimension a value when it is a dict; "
                             f"got {value}")
        return values

    def kwargs(self, **extra):
        out = {"axes": self.axes, "spacing": self.spacing}
        out.update({k: v for k, v in self.values.items()})
        out.update(extra)
        return out

    def wrap(self, data, leading=None):
        """The result as a DataArray with the input's name, attrs and coordinates."""
        if leading is None:
            return _as_result(self.obj.copy(data=data))
        dim, labels = leading
        coords = {k: v for k, v in self.obj.coords.items()}
        coords[dim] = labels
        return _as_result(xr.DataArray(data, dims=(dim,) + self.obj.dims, coords=coords, name=self.obj.name,
                                       attrs=dict(self.obj.attrs)))


class Sep3dDataArrayAccessor:
    """sep3d filters on a DataArray; see :mod:`sep3d.xr`."""

    def __init__(self, obj):
        self._obj = obj

    def _call(self, main, main_name, dims, units, **per_dim):
        return _Call(self._obj, main, main_name, dims, units, per_dim)

    def gaussian(self, sigma, *, dims=None, units="coords", mode="reflect", cval=0.0, truncate=4.0,
                 radius=None, backend="auto"):
        """Gaussian smoothing; `sigma` per dimension (see :func:`sep3d.gaussian`).

        Examples
        --------
        >>> import numpy as np, xarray as xr, sep3d
        >>> img = xr.DataArray(np.eye(5, dtype="f4"), dims=("y", "x"),
        ...                    coords={"y": np.arange(5) * 2.0, "x": np.arange(5) * 2.0}, name="t")
        >>> out = img.sep3d.gaussian({"y": 2.0, "x": 2.0})        # 2 coordinate units = 1 pixel
        >>> out.name, out.dims, bool(np.allclose(out, sep3d.gaussian(img.values, 1.0)))
        ('t', ('y', 'x'), True)
        """
        call = self._call(sigma, "sigma", dims, units, mode=mode, radius=radius)
        return call.wrap(filters.gaussian(self._obj.data, **call.kwargs(cval=cval, truncate=truncate,
                                                                          backend=backend)))

    def gaussian_derivative(self, sigma, order, *, dims=None, units="coords", mode="reflect", cval=0.0,
                            truncate=4.0, radius=None, backend="auto"):
        """A Gaussian derivative per coordinate unit; `order` per dimension (dict) or one int.

        Along a decreasing coordinate (raster rows, y from north to south) an odd
        derivative is taken with respect to the coordinate, so its sign is that of the
        coordinate's direction, as in ``DataArray.differentiate``.
        """
        call = self._call(sigma, "sigma", dims, units, order=order, mode=mode, radius=radius)
        kw = call.kwargs(cval=cval, truncate=truncate, backend=backend)
        orders = kw.pop("order")
        data = filters.gaussian_derivative(self._obj.data, kw.pop("sigma"), orders, **kw)
        orders = orders if isinstance(orders, list) else [orders] * len(call.axes)
        if call.derivative_sign(dict(zip(call.axes, orders))) < 0:
            data = -data
        return call.wrap(data)

    def laplacian_of_gaussian(self, sigma, *, dims=None, units="coords", normalize=False, mode="reflect",
                              cval=0.0, truncate=4.0, radius=None, backend="auto"):
        """The Laplacian of Gaussian over the named dimensions (see :func:`sep3d.laplacian_of_gaussian`)."""
        call = self._call(sigma, "sigma", dims, units, mode=mode, radius=radius)
        return call.wrap(filters.laplacian_of_gaussian(
            self._obj.data, **call.kwargs(normalize=normalize, cval=cval, truncate=truncate, backend=backend)))

    def gradient_magnitude(self, sigma, *, dims=None, units="coords", mode="reflect", cval=0.0,
                           truncate=4.0, radius=None, backend="auto"):
        """Gaussian gradient magnitude per coordinate unit (see :func:`sep3d.gradient_magnitude`)."""
        call = self._call(sigma, "sigma", dims, units, mode=mode, radius=radius)
        return call.wrap(filters.gradient_magnitude(
            self._obj.data, **call.kwargs(cval=cval, truncate=truncate, backend=backend)))

    def hessian(self, sigma, *, dims=None, units="coords", mode="reflect", cval=0.0, truncate=4.0,
                radius=None, backend="auto"):
        """The Hessian's upper triangle on a new leading ``component`` dimension ("y,x", ...)."""
        call = self._call(sigma, "sigma", dims, units, mode=mode, radius=radius)
        data = filters.hessian(self._obj.data, **call.kwargs(cval=cval, truncate=truncate, backend=backend))
        pairs = filters.hessian_components(self._obj.ndim, call.axes)
        for k, (a, b) in enumerate(pairs):
            if a != b and call.signs[a] * call.signs[b] < 0:
                data[k] = -data[k]
        labels = [f"{self._obj.dims[a]},{self._obj.dims[b]}" for a, b in pairs]
        return call.wrap(data, leading=("component", labels))

    def difference_of_gaussians(self, low_sigma, high_sigma=None, *, dims=None, units="coords",
                                mode="reflect", cval=0.0, truncate=4.0, backend="auto"):
        """Band-pass: Gaussian(low_sigma) - Gaussian(high_sigma), both per dimension."""
        call = self._call(low_sigma, "low_sigma", dims, units, high_sigma=high_sigma, mode=mode)
        kw = call.kwargs(cval=cval, truncate=truncate, backend=backend)
        return call.wrap(filters.difference_of_gaussians(self._obj.data, kw.pop("low_sigma"),
                                                         kw.pop("high_sigma"), **kw))

    def box(self, size, *, dims=None, units="coords", mode="reflect", cval=0.0, origin=0, backend="auto"):
        """Moving average; `size` per dimension in coordinate units (or pixels)."""
        call = self._call(size, "size", dims, units, mode=mode, origin=origin)
        kw = call.kwargs(cval=cval, backend=backend)
        return call.wrap(filters.box(self._obj.data, kw.pop("size"), **kw))

    def separable(self, kernels, *, dims=None, units="coords", support=None, mode="reflect", cval=0.0,
                  origin=0, backend="auto"):
        """Any 1-D taps (or a function of coordinate units with `support`) per dimension."""
        call = self._call(kernels, "kernels", dims, units, mode=mode, origin=origin)
        kw = call.kwargs(cval=cval, support=support, backend=backend)
        return call.wrap(filters.separable(self._obj.data, kw.pop("kernels"), **kw))

    @property
    def ibsi(self):
        """IBSI 2's filters over named dimensions: ``da.sep3d.ibsi.laws("E5L5S5", dims=("z", "y", "x"))``."""
        return IbsiAccessor(self._obj)

    # -- cubes: a band dimension and spatial dimensions --------------------------------

    def _cube_geometry(self, band_dim, units, spatial):
        obj = self._obj
        if band_dim not in obj.dims:
            raise ValueError(f"`band_dim` {band_dim!r} is not a dimension of the array ({list(obj.dims)})")
        if units not in UNITS:
            raise ValueError(f"`units` must be one of {list(UNITS)}; got {units!r}")
        band_axis = obj.get_axis_num(band_dim)
        spatial_dims = [d for d in obj.dims if d != band_dim]
        spacing, sign = None, 1.0
        if units == "coords":
            steps = [coordinate_spacing(obj, d) for d in spatial_dims]
            spacing = [abs(s) for s in steps]
            orders = _spatial_orders(spatial, len(spatial_dims))
            sign = float(np.prod([np.sign(s) ** o for s, o in zip(steps, orders)]))
        return band_axis, spatial_dims, spacing, sign

    def _wavelengths(self, band_dim, wavelength, units):
        obj = self._obj
        if units == "pixels":
            return None
        if wavelength in obj.coords and obj.coords[wavelength].dims == (band_dim,):
            return np.asarray(obj.coords[wavelength].values, dtype=np.float64)
        return None

    def spatial_spectral(self, *, spatial=None, spectral=None, band_dim="band", wavelength="wavelength",
                         units="coords", mode="reflect", cval=0.0, nodata="normalize", backend="auto"):
        """A spatial filter per band times a spectral filter along `band_dim` (see :func:`sep3d.spatial_spectral`).

        With ``units="coords"`` spatial sizes are in the units of the y/x coordinates (metres
        for a projected raster) and spectral sizes and derivatives in those of the
        `wavelength` coordinate (nm; unevenly spaced bands are fitted where they are);
        without a wavelength coordinate, in bands. Derivatives along a decreasing coordinate
        (north-up rows) are taken with respect to the coordinate.

        Examples
        --------
        >>> import numpy as np, xarray as xr, sep3d
        >>> cube = xr.DataArray(np.ones((7, 4, 5), "f4"), dims=("band", "y", "x"),
        ...                     coords={"wavelength": ("band", 400.0 + 10 * np.arange(7))})
        >>> d1 = cube.sep3d.spatial_spectral(spectral={"savgol": {"window_length": 5, "polyorder": 2, "deriv": 1}})
        >>> d1.dims, float(abs(d1).max()) < 1e-6
        (('band', 'y', 'x'), True)
        """
        from .cube_filters import spatial_spectral

        band_axis, _, spacing, sign = self._cube_geometry(band_dim, units, spatial)
        data = spatial_spectral(self._obj.data, spatial=spatial, spectral=spectral, band_axis=band_axis,
                                wavelengths=self._wavelengths(band_dim, wavelength, units), spacing=spacing,
                                mode=mode, cval=cval, nodata=nodata, backend=backend)
        return _as_result(self._obj.copy(data=-data if sign < 0 else data))

    def depthwise_separable(self, pointwise, *, spatial=None, bias=None, band_dim="band", out_dim="component",
                            units="coords", mode="reflect", cval=0.0, nodata="normalize", backend="auto"):
        """Per-band spatial filter, then `pointwise` band mixing (see :func:`sep3d.depthwise_separable`).

        `pointwise` is a (C_out, C_in) matrix or a DataArray with dims ``(out_dim, band_dim)``
        (its `out_dim` coordinate labels the result). The result has `out_dim` in place of
        `band_dim`; coordinates along the bands (wavelength) are dropped.
        """
        from .cube_filters import depthwise_separable

        obj = self._obj
        band_axis, _, spacing, sign = self._cube_geometry(band_dim, units, spatial)
        labels = None
        if isinstance(pointwise, xr.DataArray):
            if set(pointwise.dims) != {out_dim, band_dim}:
                raise ValueError(f"`pointwise` as a DataArray must have dims ({out_dim!r}, {band_dim!r}); got "
                                 f"{pointwise.dims}")
            if out_dim in pointwise.coords:
                labels = pointwise.coords[out_dim].values
            pointwise = pointwise.transpose(out_dim, band_dim).values
        data = depthwise_separable(obj.data, spatial=spatial, pointwise=pointwise, bias=bias, band_axis=band_axis,
                                   spacing=spacing, mode=mode, cval=cval, nodata=nodata, backend=backend)
        if sign < 0:
            data = -data
        dims = tuple(out_dim if d == band_dim else d for d in obj.dims)
        coords = {k: v for k, v in obj.coords.items() if band_dim not in v.dims}
        if labels is not None:
            coords[out_dim] = labels
        return _as_result(xr.DataArray(data, dims=dims, coords=coords, name=obj.name, attrs=dict(obj.attrs)))


def _spatial_orders(spatial, n):
    """Derivative order per spatial dimension of a spatial spec (0 for smoothing)."""
    from .cube_filters import SPATIAL_KINDS, parse_spec

    spec = parse_spec(spatial, "spatial", SPATIAL_KINDS)
    if spec is None:
        return [0] * n
    kind, args = spec
    order = args.get("order", 0) if kind in ("gaussian", "derivative") else 0
    orders = list(order) if isinstance(order, (list, tuple)) else [order] * n
    return [int(o) for o in orders] if len(orders) == n else [0] * n


class IbsiAccessor:
    """:mod:`sep3d.ibsi`'s filters on a DataArray (``da.sep3d.ibsi.<filter>``).

    `dims` names the dimensions the filter sees as ``(z, y, x)`` (or ``(y, x)``), in that
    order: the default is every dimension but ``band``, as they come. The other dimensions
    are filtered independently. With ``units="coords"`` the sizes in millimetres (LoG,
    Gabor and Riesz sigmas, the Gabor wavelength) are in the units of the dimensions'
    regularly spaced coordinates; ``units="pixels"`` counts voxels. Kernel names list axes
    from x, the last of `dims`. The result has the input's dimension order, coordinates and
    array type (dask stays lazy); like every filter result, no storage encoding.
    """

    def __init__(self, obj):
        self._obj = obj

    def _apply(self, name, spacing_rule, args, kwargs, dims, units):
        from . import ibsi

        obj = self._obj
        if units not in UNITS:
            raise ValueError(f"`units` must be one of {list(UNITS)}; got {units!r}")
        if dims is None:
            dims = [d for d in obj.dims if d not in SPECTRAL_DIMS]
        dims = [dims] if isinstance(dims, str) else list(dims)
        unknown = [d for d in dims if d not in obj.dims]
        if unknown or len(set(dims)) != len(dims) or len(dims) not in (2, 3):
            raise ValueError(f"`dims` must name 2 or 3 distinct dimensions of {list(obj.dims)} (as z, y, x); "
                             f"got {dims}")
        moved = obj.transpose(*[d for d in obj.dims if d not in dims], *dims)
        if spacing_rule is not None and units == "coords" and kwargs.get("spacing") is None:
            steps = [abs(coordinate_spacing(moved, d)) for d in dims]
            if spacing_rule == "all":
                kwargs["spacing"] = (1.0,) * (moved.ndim - len(dims)) + tuple(steps)
            else:
                kwargs["spacing"] = tuple(steps[len(dims) - _filtered_count(name, args, kwargs):])
        data = getattr(ibsi, name)(moved.data, *args, **kwargs)
        return _as_result(moved.copy(data=data)).transpose(*obj.dims)


def _filtered_count(name, args, kwargs):
    """How many trailing axes an IBSI filter with these arguments filters."""
    if name == "riesz":
        order = args[0] if args else kwargs["order"]
        return len(order)
    return int(kwargs.get("dimensions", 3))


def _ibsi_method(name, spacing_rule):
    def method(self, *args, dims=None, units="coords", **kwargs):
        return self._apply(name, spacing_rule, args, kwargs, dims, units)

    method.__name__ = name
    method.__doc__ = (f":func:`sep3d.ibsi.{name}` over the dimensions `dims` (as z, y, x); the other arguments "
                      f"are its own" + ("" if spacing_rule is None else
                                        ", `spacing` from the coordinates when ``units='coords'``") + ".")
    return method


#: IBSI filter -> how it takes a spacing (None: sizes in voxels; "filtered": one per
#: filtered axis; "all": one per array axis).
IBSI_FILTERS = {"mean": None, "log": "filtered", "laws": None, "wavelet": None, "gabor": "all",
                "simoncelli": None, "riesz": "filtered"}

for _name, _rule in IBSI_FILTERS.items():
    setattr(IbsiAccessor, _name, _ibsi_method(_name, _rule))


#: the accessor's filters (the same names as the functions of :mod:`sep3d`) -> main argument.
FILTERS = {"gaussian": "sigma", "gaussian_derivative": "sigma", "laplacian_of_gaussian": "sigma",
           "gradient_magnitude": "sigma", "hessian": "sigma", "difference_of_gaussians": "low_sigma",
           "box": "size", "separable": "kernels"}


def _dataset_method(name):
    def method(self, *args, variables=None, **kwargs):
        ds = self._obj
        main = args[0] if args else kwargs.get(FILTERS[name])
        if variables is None:
            if isinstance(main, dict):
                needed = set(main)
            elif kwargs.get("dims") is not None:
                needed = {kwargs["dims"]} if isinstance(kwargs["dims"], str) else set(kwargs["dims"])
            else:
                needed = set()
            variables = [v for v, arr in ds.data_vars.items()
                         if needed <= set(arr.dims) and np.dtype(arr.dtype).kind in "biuf"]
            if not variables:
                raise ValueError(f"no data variable has all of the dimensions {sorted(needed)}; "
                                 f"variables: {list(ds.data_vars)}")
        elif isinstance(variables, str):
            variables = [variables]
        missing = [v for v in variables if v not in ds.data_vars]
        if missing:
            raise ValueError(f"`variables` names {missing}, which are not data variables of the Dataset "
                             f"({list(ds.data_vars)})")
        out = ds.copy()
        for v in variables:
            out[v] = getattr(ds[v].sep3d, name)(*args, **kwargs)
        return out

    method.__name__ = name
    method.__doc__ = (f"Apply :meth:`Sep3dDataArrayAccessor.{name}` to the chosen `variables` of the "
                      "Dataset (default: every numeric variable with all the filtered dimensions); "
                      "the other variables are kept unchanged.")
    return method


class Sep3dDatasetAccessor:
    """sep3d filters on chosen variables of a Dataset; see :mod:`sep3d.xr`."""

    def __init__(self, obj):
        self._obj = obj


for _name in FILTERS:
    setattr(Sep3dDatasetAccessor, _name, _dataset_method(_name))

xr.register_dataarray_accessor("sep3d")(Sep3dDataArrayAccessor)
xr.register_dataset_accessor("sep3d")(Sep3dDatasetAccessor)
