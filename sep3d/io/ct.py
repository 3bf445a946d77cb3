"""CT/MR volumes through SimpleITK: NRRD, NIfTI, MHA, DICOM series.

SimpleITK's spacing, origin and size are (x, y, z) while its NumPy view is (z, y, x);
sep3d's filters take spacing in array-axis order. These helpers do the conversion in one
place so a filtered array can be written back with the geometry of its source.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

__all__ = ["read_image", "read_dicom_series", "from_sitk", "to_sitk", "write_image"]


def read_image(path):
    """Read a volume (NRRD, NIfTI, MHA, ...) as a SimpleITK image."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"`path` does not exist: {path}")
    return sitk.ReadImage(str(path))


def read_dicom_series(directory):
    """Read the first DICOM series found in `directory` as one SimpleITK image."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"`directory` is not a folder: {directory}")
    reader = sitk.ImageSeriesReader()
    ids = reader.GetGDCMSeriesIDs(str(directory))
    if not ids:
        raise ValueError(f"`directory` holds no DICOM series: {directory}")
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(directory), ids[0]))
    return reader.Execute()


def from_sitk(image):
    """A SimpleITK image as ``(array, spacing)`` in array-axis order (z, y, x).

    Examples
    --------
    >>> import SimpleITK as sitk
    >>> img = sitk.Image(4, 3, 2, sitk.sitkInt16); img.SetSpacing((0.5, 0.7, 2.5))
    >>> arr, spacing = from_sitk(img)
    >>> arr.shape, spacing
    ((2, 3, 4), (2.5, 0.7, 0.5))
    """
    if not isinstance(image, sitk.Image):
        raise TypeError(f"`image` must be a SimpleITK.Image; got {type(image).__name__}")
    return sitk.GetArrayFromImage(image), tuple(reversed(image.GetSpacing()))


def to_sitk(array, like=None, spacing=None):
    """A NumPy array (z, y, x) as a SimpleITK image with the geometry of `like`.

    Parameters
    ----------
    array : ndarray
        The volume, in the axis order :func:`from_sitk` returns.
    like : SimpleITK.Image, optional
        Source of origin, spacing and direction; its size must match `array`.
    spacing : sequence of float, optional
        Spacing in array-axis order, when there is no `like`.
    """
    array = np.asarray(array)
    image = sitk.GetImageFromArray(array)
    if like is not None:
        if not isinstance(like, sitk.Image):
            raise TypeError(f"`like` must be a SimpleITK.Image; got {type(like).__name__}")
        if tuple(reversed(like.GetSize())) != array.shape:
            raise ValueError(f"`array` must have the shape of `like` {tuple(reversed(like.GetSize()))}; got {array.shape}")
        image.CopyInformation(like)
    elif spacing is not None:
        if len(spacing) != array.ndim:
            raise ValueError(f"`spacing` must have one value per axis ({array.ndim}); got {len(spacing)}")
        image.SetSpacing(tuple(float(s) for s in reversed(spacing)))
    return image


def write_image(image, path, like=None, compress=True):
    """Write a SimpleITK image, or an array with the geometry of `like`, atomically.

    The format follows the suffix (.nrrd, .nii.gz, .mha, ...). The file appears only
    when complete: it is written to a temporary name in the same folder and renamed.
    """
    if not isinstance(image, sitk.Image):
        image = to_sitk(image, like=like)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        sitk.WriteImage(image, tmp, compress)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
