"""Sample data: PyRadiomics' sample cases and synthetic phantoms (CT and hyperspectral).

The PyRadiomics sample cases (brain1, brain2, breast1, lung1, lung2; image + label
NRRD) ship only inside PyRadiomics' source distributions. :func:`sample_case` fetches
one (pyradiomics-bhklab's, which pip downloads on Python 3.10-3.13) once with pip (so it
goes through the same package index and proxy settings as every other install), keeps
the ten NRRD files in a cache folder and deletes the rest. The folder is ``$SEP3D_DATA`` when set, else
``$XDG_CACHE_HOME/sep3d`` (``~/.cache/sep3d``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ._validate import check_ints, check_positive

__all__ = ["SAMPLE_CASES", "SampleDataUnavailable", "data_dir", "sample_case", "fetch_sample_cases",
           "synthetic_ct", "synthetic_cube", "ENDMEMBERS"]

SAMPLE_CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")
_SDIST = "pyradiomics-bhklab==3.1.4"


class SampleDataUnavailable(OSError):
    """The sample data is not in the cache and could not be downloaded."""


def data_dir():
    """The folder that holds sample data (created on first use)."""
    root = os.environ.get("SEP3D_DATA")
    if root:
        path = Path(root)
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(cache) / "sep3d"
    return path


def _case_paths(name, folder):
    return folder / f"{name}_image.nrrd", folder / f"{name}_label.nrrd"


def sample_case(name="brain1"):
    """A PyRadiomics sample case as ``(image, mask)`` SimpleITK images.

    Parameters
    ----------
    name : {'brain1', 'brain2', 'breast1', 'lung1', 'lung2'}

    Returns
    -------
    image, mask : SimpleITK.Image
        The scan and its label map (same geometry).

    Raises
    ------
    ValueError
        Unknown `name`.
    SampleDataUnavailable
        Not cached and the download failed (offline, or the index refused); the
        message says where to put the files by hand.
    """
    if name not in SAMPLE_CASES:
        raise ValueError(f"`name` must be one of {list(SAMPLE_CASES)}; got {name!r}")
    image_path, label_path = _case_paths(name, data_dir())
    if not (image_path.exists() and label_path.exists()):
        fetch_sample_cases()
    return sitk.ReadImage(str(image_path)), sitk.ReadImage(str(label_path))


def fetch_sample_cases():
    """Download a PyRadiomics sdist once and keep its sample cases; returns the folder."""
    folder = data_dir()
    if all(p.exists() for name in SAMPLE_CASES for p in _case_paths(name, folder)):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sep3d-fetch-") as tmp:
        tmp = Path(tmp)
        archive = _download_sdist(tmp)
        staged = tmp / "staged"
        staged.mkdir()
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                base = os.path.basename(member.name)
                if member.isfile() and "/data/" in member.name and base.endswith(("_image.nrrd", "_label.nrrd")):
                    with tar.extractfile(member) as src, open(staged / base, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        missing = [p.name for name in SAMPLE_CASES for p in _case_paths(name, staged) if not p.exists()]
        if missing:
            raise SampleDataUnavailable(f"the {_SDIST} archive lacks {missing}")
        for item in staged.iterdir():  # each file appears whole: a rename, or a move
            shutil.move(str(item), str(folder / item.name))
    return folder


def _download_sdist(tmp):
    """`pip download` the sdist into `tmp` (pip prepares its metadata in an isolated build env)."""
    _pip(["download", "--quiet", "--no-deps", "--no-binary", _SDIST.split("==")[0], "-d", str(tmp), _SDIST],
         dict(os.environ))
    found = sorted(tmp.glob("pyradiomics*.tar.gz"))
    if not found:
        raise SampleDataUnavailable(f"pip reported success but left no {_SDIST} archive in {tmp}")
    return found[0]


def _pip(args, env):
    cmd = [sys.executable, "-m", "pip", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise SampleDataUnavailable(
            f"could not download the PyRadiomics sample cases ({_SDIST}) with pip; are you offline?\n"
            f"{tail}\nTo use them offline, put brain1_image.nrrd, brain1_label.nrrd, ... (from the "
            f"data/ folder of the {_SDIST} source archive) into {data_dir()} or set SEP3D_DATA."
        )


def synthetic_ct(shape=(40, 96, 96), spacing=(2.5, 0.8, 0.8), seed=0):
    """A CT-like phantom with a lesion, as ``(image, mask)`` SimpleITK images.

    Air (-1000 HU) around an elliptic body (soft tissue, 40 HU) with two lungs (-850 HU),
    a spine (bone, 700 HU) and a spherical lesion (60 HU, 10 mm radius) in the right lung,
    plus Gaussian noise (sd 20 HU). The mask is the lesion (label 1).

    Parameters
    ----------
    shape : tuple of 3 int
        Array shape (z, y, x).
    spacing : tuple of 3 float
        Voxel size in mm, array-axis order (z, y, x).
    seed : int
        Noise seed.

    Returns
    -------
    image : SimpleITK.Image
        int16 Hounsfield units, spacing set.
    mask : SimpleITK.Image
        uint8 lesion label, same geometry.
    """
    if len(shape) != 3 or any(int(n) < 8 for n in shape):
        raise ValueError(f"`shape` must be three sizes of at least 8; got {shape!r}")
    spacing = check_positive(spacing, 3, "spacing")
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.arange(n) * d for n, d in zip(shape, spacing)), indexing="ij")
    cz, cy, cx = (np.array(shape) - 1) * np.array(spacing) / 2
    ry, rx = cy * 0.8, cx * 0.9
    body = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
    hu = np.full(shape, -1000.0)
    hu[body] = 40.0
    for side in (-1, 1):
        lung = ((y - cy * 0.95) / (ry * 0.6)) ** 2 + ((x - cx - side * rx * 0.45) / (rx * 0.35)) ** 2 <= 1
        hu[lung & body] = -850.0
    spine = (y - (cy + ry * 0.6)) ** 2 + (x - cx) ** 2 <= (min(rx, ry) * 0.15) ** 2
    hu[spine & body] = 700.0
    radius = min(10.0, 0.6 * cz, 0.25 * rx)
    lesion = (z - cz) ** 2 + (y - cy * 0.95) ** 2 + (x - cx - rx * 0.45) ** 2 <= radius ** 2
    hu[lesion] = 60.0
    hu += rng.normal(0.0, 20.0, shape)
    image = sitk.GetImageFromArray(np.round(hu).astype(np.int16))
    image.SetSpacing(tuple(reversed(spacing)))
    mask = sitk.GetImageFromArray(lesion.astype(np.uint8))
    mask.CopyInformation(image)
    return image, mask


#: Endmember names of :func:`synthetic_cube`, in the order of its ``endmember`` coordinate.
ENDMEMBERS = ("vegetation", "soil", "water")


def _bump(w, centre, width):
    return np.exp(-0.5 * ((w - centre) / width) ** 2)


def _step(w, centre, width):
    return 0.5 * (1.0 + np.tanh((w - centre) / (2.0 * width)))  # a logistic, overflow-free


def _endmember_spectra(wavelengths):
    """Noise-free reflectance of the three endmembers, shape (3, n_bands), all in (0, 1)."""
    w = np.asarray(wavelengths, dtype=np.float64)
    # vegetation: chlorophyll (blue/red absorption, green bump), red edge, NIR plateau,
    # leaf-water dips at 1450 and 1940 nm and a lower SWIR
    visible = 0.05 + 0.05 * _bump(w, 550, 35) - 0.025 * _bump(w, 670, 25)
    nir = (0.45 - 0.12 * _step(w, 1350, 50) - 0.10 * _step(w, 1850, 60)
           - 0.15 * _bump(w, 1450, 45) - 0.12 * _bump(w, 1940, 55))
    edge = _step(w, 718, 10)
    vegetation = visible * (1.0 - edge) + nir * edge
    # soil: smooth rise from ~0.1 to ~0.35 with weak hydroxyl/water/clay dips
    soil = (0.10 + 0.26 * (1.0 - np.exp(-(w - 400.0) / 650.0))
            - 0.03 * _bump(w, 1420, 40) - 0.035 * _bump(w, 1920, 50) - 0.02 * _bump(w, 2200, 30))
    # water: a little reflectance in the blue, almost none beyond the red
    water = 0.01 + 0.05 * (1.0 - _step(w, 600, 40))
    return np.clip(np.stack([vegetation, soil, water]), 0.002, 0.98)


def _check_wavelengths(wavelengths, n_bands):
    wl = np.asarray(wavelengths, dtype=np.float64)
    if wl.ndim != 1 or wl.size != n_bands:
        raise ValueError(f"`wavelengths` must be 1-D with one value per band ({n_bands}); got shape {wl.shape}")
    if not np.all(np.isfinite(wl)) or np.any(wl <= 0):
        raise ValueError("`wavelengths` must be finite and > 0 (nm)")
    if np.any(np.diff(wl) <= 0):
        raise ValueError("`wavelengths` must be strictly increasing")
    return wl


def _nodata_disc(ny, nx):
    """A disc of about 5 % of the pixels, off-centre and away from the corners (at least one pixel)."""
    cy, cx = round(0.6 * (ny - 1)), round(0.35 * (nx - 1))
    radius = max(np.sqrt(0.05 * ny * nx / np.pi), 0.5)
    yy, xx = np.ogrid[:ny, :nx]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2


def synthetic_cube(shape=(120, 64, 64), *, wavelengths=None, seed=0, noise=0.005, nodata=True,
                   crs="EPSG:32633", pixel_size=30.0, origin=(500000.0, 4600000.0), chunks=None):
    """A georeferenced hyperspectral reflectance cube with known endmembers and abundances.

    Three smooth endmember spectra, defined as functions of wavelength (so any band set,
    uneven spacing included, samples the same materials), are mixed linearly:

    - *vegetation*: ~0.05 in the visible with a green bump at 550 nm and red absorption
      at 670 nm, a steep red edge (700-750 nm) to a NIR plateau of ~0.45, water
      absorption dips near 1450 and 1940 nm and a lower SWIR;
    - *soil*: a smooth rise from ~0.1 at 400 nm to ~0.35 in the SWIR with weak dips;
    - *water*: ~0.06 in the blue, falling to ~0.01 beyond 750 nm.

    The abundance maps are Gaussian-smoothed random fields passed through a softmax
    (temperature 0.3), so they are smooth, non-negative, sum to 1 in every pixel and each
    endmember dominates some areas. ``cube = abundance @ endmembers + N(0, noise)``.

    Parameters
    ----------
    shape : tuple of 3 int
        ``(band, y, x)``; at least 1 band and 4 x 4 pixels.
    wavelengths : array_like of float, optional
        Band centres in nm, one per band, strictly increasing, possibly unevenly spaced.
        Default ``np.linspace(400, 2500, shape[0])``.
    seed : int
        Seed of the abundance fields and the noise: the same seed gives the same cube.
    noise : float
        Standard deviation of the additive Gaussian noise (reflectance units), >= 0.
    nodata : bool
        Set a disc of about 5 % of the pixels (off-centre, away from the corners) to NaN
        in all bands.
    crs : str or object
        Anything ``rioxarray``'s ``write_crs`` accepts (EPSG code, WKT, pyproj CRS).
    pixel_size : float or (float, float)
        Ground sample distance in CRS units, or ``(x_size, y_size)``.
    origin : (float, float)
        ``(x, y)`` of the upper-left corner of the upper-left pixel (north-up grid).
    chunks : dict or 'auto', optional
        Return a dask-backed cube with these chunks; the band axis is kept whole
        (``band`` defaults to -1 in a dict). None (default): NumPy-backed.

    Returns
    -------
    cube : xarray.DataArray
        float32 ``"reflectance"`` with dims ``("band", "y", "x")``; coordinates ``band``
        (1..N), ``wavelength`` (nm, float64), ``fwhm`` (nm, the local band spacing),
        ``y``/``x`` pixel centres (y decreasing) and ``spatial_ref``; CRS, transform and
        nodata (NaN) written with rioxarray.
    truth : xarray.Dataset
        ``abundance`` (endmember, y, x) float32, defined in every pixel (also under the
        nodata disc); ``endmembers`` (endmember, band) float64 noise-free spectra;
        ``labels`` (y, x) int32 = 1 + index of the dominant endmember, 0 where the cube
        is nodata. Coordinate ``endmember`` = ``["vegetation", "soil", "water"]``; same
        band/wavelength/y/x/spatial_ref coordinates as `cube`.

    Raises
    ------
    ValueError
        A bad `shape`, `wavelengths`, `noise`, `pixel_size` or `chunks`.
    TypeError
        Non-integer sizes in `shape`.

    See Also
    --------
    synthetic_ct : the CT phantom.

    Examples
    --------
    >>> from sep3d.datasets import synthetic_cube
    >>> cube, truth = synthetic_cube((6, 8, 10), seed=1)
    >>> cube.dims, cube.shape, str(cube.dtype)
    (('band', 'y', 'x'), (6, 8, 10), 'float32')
    >>> cube.wavelength.values
    array([ 400.,  820., 1240., 1660., 2080., 2500.])
    >>> cube.rio.crs.to_epsg(), cube.rio.resolution()
    (32633, (30.0, -30.0))
    >>> bool(np.allclose(truth.abundance.sum("endmember"), 1.0, atol=1e-6))
    True
    >>> [str(name) for name in truth.endmember.values]
    ['vegetation', 'soil', 'water']
    """
    import xarray as xr
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    from affine import Affine
    from scipy.ndimage import gaussian_filter

    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) != 3:
        raise ValueError(f"`shape` must be three sizes (band, y, x); got {shape!r}")
    n_bands, ny, nx = check_ints(tuple(shape), 3, "shape", 1, "a positive int")
    if ny < 4 or nx < 4:
        raise ValueError(f"`shape` must have at least 4 x 4 pixels; got {shape!r}")
    wl = (np.linspace(400.0, 2500.0, n_bands) if wavelengths is None
          else _check_wavelengths(wavelengths, n_bands))
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"`noise` must be finite and >= 0; got {noise!r}")
    xres, yres = check_positive(pixel_size, 2, "pixel_size")
    x0, y0 = (float(v) for v in origin)
    if chunks is not None and chunks != "auto" and not isinstance(chunks, dict):
        raise ValueError(f"`chunks` must be None, 'auto' or a dict; got {chunks!r}")

    rng = np.random.default_rng(seed)
    fields = rng.standard_normal((len(ENDMEMBERS), ny, nx))
    fields = gaussian_filter(fields, (0, max(ny / 8, 1.0), max(nx / 8, 1.0)), mode="reflect")
    fields -= fields.mean(axis=(1, 2), keepdims=True)
    fields /= fields.std(axis=(1, 2), keepdims=True) + 1e-12
    logits = fields / 0.3
    logits -= logits.max(axis=0, keepdims=True)
    abundance = np.exp(logits)
    abundance /= abundance.sum(axis=0, keepdims=True)
    endmembers = _endmember_spectra(wl)

    data = np.einsum("eyx,eb->byx", abundance, endmembers)
    if noise > 0:
        data += rng.normal(0.0, noise, data.shape)
    data = data.astype(np.float32)
    labels = (1 + abundance.argmax(axis=0)).astype(np.int32)
    if nodata:
        hole = _nodata_disc(ny, nx)
        data[:, hole] = np.nan
        labels[hole] = 0

    fwhm = np.abs(np.gradient(wl)) if n_bands > 1 else np.array([10.0])
    transform = Affine(xres, 0.0, x0, 0.0, -yres, y0)
    coords = {
        "band": np.arange(1, n_bands + 1),
        "wavelength": ("band", wl, {"units": "nm", "long_name": "band centre wavelength"}),
        "fwhm": ("band", fwhm, {"units": "nm", "long_name": "full width at half maximum"}),
        "y": ("y", y0 - (np.arange(ny) + 0.5) * yres),
        "x": ("x", x0 + (np.arange(nx) + 0.5) * xres),
    }
    cube = xr.DataArray(data, dims=("band", "y", "x"), coords=coords, name="reflectance",
                        attrs={"units": "reflectance", "long_name": "surface reflectance"})
    cube = cube.rio.write_crs(crs).rio.write_transform(transform).rio.write_nodata(np.nan, encoded=False)
    cube = cube.rio.write_coordinate_system()
    truth = xr.Dataset(
        {
            "abundance": (("endmember", "y", "x"), abundance.astype(np.float32),
                          {"long_name": "endmember fraction"}),
            "endmembers": (("endmember", "band"), endmembers, {"units": "reflectance"}),
            "labels": (("y", "x"), labels,
                       {"long_name": "1 + index of the dominant endmember; 0 = nodata"}),
        },
        coords={"endmember": list(ENDMEMBERS), **{k: cube.coords[k] for k in ("band", "wavelength", "fwhm", "y", "x")}},
    )
    truth = truth.rio.write_crs(cube.rio.crs).rio.write_transform(transform)
    if chunks is not None:
        chunks = {"band": -1, "y": "auto", "x": "auto"} if chunks == "auto" else {"band": -1, **chunks}
        cube = cube.chunk(chunks)
    return cube, truth
