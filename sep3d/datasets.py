"""Sample data: PyRadiomics' sample cases and synthetic phantoms.

The PyRadiomics sample cases (brain1, brain2, breast1, lung1, lung2; image + label
NRRD) ship only inside the pyradiomics 3.0.1 source distribution. :func:`sample_case`
fetches that archive once with pip (so it goes through the same package index and
proxy settings as every other install), keeps the ten NRRD files in a cache folder and
deletes the rest. The folder is ``$SEP3D_DATA`` when set, else
``$XDG_CACHE_HOME/sep3d`` (``~/.cache/sep3d``).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ._validate import check_positive

__all__ = ["SAMPLE_CASES", "SampleDataUnavailable", "data_dir", "sample_case", "fetch_sample_cases",
           "synthetic_ct"]

SAMPLE_CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")
_SDIST = "pyradiomics==3.0.1"


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
    """Download the pyradiomics 3.0.1 sdist once and keep its sample cases; returns the folder."""
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
    """`pip download` the sdist into `tmp`; its metadata step needs numpy, versioneer and wheel."""
    env = dict(os.environ)
    helpers = [pkg for pkg in ("versioneer", "setuptools", "wheel") if importlib.util.find_spec(pkg) is None]
    if helpers:
        _pip(["install", "--quiet", "--target", str(tmp / "build-helpers"), *helpers], env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp / "build-helpers"), env.get("PYTHONPATH")]))
    _pip(["download", "--quiet", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
          "-d", str(tmp), _SDIST], env)
    found = sorted(tmp.glob("pyradiomics-*.tar.gz"))
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
