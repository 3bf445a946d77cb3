"""CT/MR volumes through SimpleITK: NRRD, NIfTI, MHA, DICOM series.

SimpleITK's spacing, origin and size are (x, y, z) while its NumPy view is (z, y, x);
sep3d's filters take spacing in array-axis order. These helpers do the conversion in one
place so a filtered array can be written back with the geometry of its source.
"""
from __future__ import annotations

import os
import re
import shutil
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
    """A SimpleITK image as ``(array, spacing)`` in array-axis order.

    Parameters
    ----------
    image : SimpleITK.Image
        A 3-D volume, or a 4-D scalar image such as a time series.

    Returns
    -------
    array : ndarray
        The voxels, (z, y, x) for a volume and (t, z, y, x) for a 4-D image.
    spacing : tuple of float
        One spacing per array axis, in the same order (SimpleITK's reversed).

    Raises
    ------
    TypeError
        If `image` is not a SimpleITK image.

    See Also
    --------
    to_sitk : the way back, with the geometry of a source image.

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


_AXIS_NAMES = {2: "yx", 3: "zyx", 4: "tzyx"}


def _check_like(array, like):
    """Refuse a `like` that is not a scalar image of the shape of `array`."""
    if not isinstance(like, sitk.Image):
        raise TypeError(f"`like` must be a SimpleITK.Image; got {type(like).__name__}")
    components = like.GetNumberOfComponentsPerPixel()
    if components != 1:
        raise ValueError(f"`like` must be a scalar image (one component per pixel); got {components} components "
                         f"({like.GetPixelIDTypeAsString()})")
    shape = tuple(reversed(like.GetSize()))
    if array.shape == shape:
        return
    if array.ndim != len(shape):
        where = f"{array.ndim}-D, `like` is {len(shape)}-D"
    else:
        k = next(k for k in range(array.ndim) if array.shape[k] != shape[k])
        names = _AXIS_NAMES.get(array.ndim)
        axis = f"axis {k} ({names[k]})" if names else f"axis {k}"
        where = f"{axis} has {array.shape[k]}, `like` has {shape[k]}"
    raise ValueError(f"`array` must have the shape of `like` {shape}; got {array.shape}: {where}")


def to_sitk(array, like=None, spacing=None):
    """A NumPy array as a scalar SimpleITK image with the geometry of `like`.

    Parameters
    ----------
    array : ndarray
        The voxels in the axis order :func:`from_sitk` returns: (z, y, x) for a volume,
        (t, z, y, x) for a 4-D image; 2 to 5 axes.
    like : SimpleITK.Image, optional
        Source of spacing, origin and direction (all of its axes, e.g. the 4x4 direction
        of a 4-D image). It must be a scalar image of the shape of `array`; its pixel
        type is not used.
    spacing : sequence of float, optional
        Spacing in array-axis order, when there is no `like`.

    Returns
    -------
    SimpleITK.Image
        A scalar image of ``array.ndim`` dimensions with the pixel type of `array`
        (float16 becomes float32, which holds every float16 value exactly).

    Raises
    ------
    TypeError
        If `like` is not a SimpleITK image.
    ValueError
        If `array` has fewer than 2 or more than 5 axes, `like` has more than one
        component per pixel, the shape of `array` differs from that of `like` (the
        message names the axis), or `spacing` does not give one value per axis.

    See Also
    --------
    from_sitk, write_image

    Notes
    -----
    The array's last axis is never taken as vector components: a (t, z, y, x) array is
    a 4-D image. The values are never cast to the pixel type of `like`.

    Examples
    --------
    >>> import numpy as np, SimpleITK as sitk
    >>> src = sitk.Image([4, 3, 2, 5], sitk.sitkInt16)  # x, y, z, t
    >>> src.SetSpacing((0.5, 0.5, 2.0, 1.5))
    >>> img = to_sitk(np.zeros((5, 2, 3, 4)), like=src)
    >>> img.GetDimension(), img.GetSpacing(), img.GetPixelIDTypeAsString()
    (4, (0.5, 0.5, 2.0, 1.5), '64-bit float')
    """
    array = np.asarray(array)
    if array.dtype == np.float16:  # SimpleITK has no float16 pixel
        array = array.astype(np.float32)
    if not 2 <= array.ndim <= 5:
        raise ValueError(f"`array` must have 2 to 5 dimensions; got {array.ndim}")
    if like is not None:
        _check_like(array, like)
    elif spacing is not None and len(spacing) != array.ndim:
        raise ValueError(f"`spacing` must have one value per axis ({array.ndim}); got {len(spacing)}")
    image = sitk.GetImageFromArray(array, isVector=False)
    if like is not None:
        image.CopyInformation(like)
    elif spacing is not None:
        image.SetSpacing(tuple(float(s) for s in reversed(spacing)))
    return image


# Formats written as a header and a data file (what SimpleITK writes next to the header):
# .mhd -> .raw or .zraw (compressed); .nhdr -> .raw or .raw.gz; .hdr -> .img; .hdr.gz -> .img.gz
_HEADER_SUFFIXES = (".mhd", ".nhdr", ".hdr", ".hdr.gz")
_DATA_SUFFIXES = (".raw", ".zraw", ".raw.gz", ".img", ".img.gz")


def _header_name(name):
    """The header of the file set `name` belongs to (a NIfTI pair may be named by its .img)."""
    for data, header in ((".img.gz", ".hdr.gz"), (".img", ".hdr")):
        if name.endswith(data):
            return name[: -len(data)] + header
    return name


def _own_data_file(header):
    """The data file a .mhd or .nhdr header names, if it is the header's own.

    Its own: in the same folder and named as SimpleITK names it, the header's stem and a
    data suffix, or the hidden temporary name earlier sep3d versions left it under
    (``.<stem>.<8 characters><suffix>``). None when there is no such header or it names
    something else (another image's data, a file list, embedded data).
    """
    if header.suffix == ".mhd":
        keys = ("elementdatafile",)
        separator = "="
    elif header.suffix == ".nhdr":
        keys = ("data file", "datafile")
        separator = ":"
    else:
        return None
    try:
        with open(header, "rb") as f:
            text = f.read(1 << 20).decode("latin-1")
    except OSError:
        return None
    stem = header.name[: -len(header.suffix)]
    for line in text.splitlines():
        key, sep, value = line.partition(separator)
        if sep and key.strip().lower() in keys:
            value = value.strip()
            suffixes = "|".join(re.escape(s) for s in _DATA_SUFFIXES)
            legacy = rf"\.{re.escape(stem)}\.[a-z0-9_]{{8}}({suffixes})"
            own = value in {stem + s for s in _DATA_SUFFIXES} or re.fullmatch(legacy, value)
            return value if own else None
    return None


def _move_into(tmp, folder):
    """Move every file of `tmp` into `folder`, the header last; undo all on failure.

    Each file replaces its namesake with :func:`os.replace`. A replaced file is kept
    as a hard link inside `tmp` until all moves are done, so a failure can put it back.
    """
    names = sorted(os.listdir(tmp), key=lambda n: (n.endswith(_HEADER_SUFFIXES), n))
    moved = []  # (destination, backup or None, existed before)
    try:
        for name in names:
            dest = folder / name
            existed = os.path.lexists(dest)
            backup = None
            if existed:
                backup = tmp / f".previous-{name}"
                try:
                    os.link(dest, backup, follow_symlinks=False)
                except OSError:  # no hard links here: the previous file cannot be restored
                    backup = None
            os.replace(tmp / name, dest)
            moved.append((dest, backup, existed))
    except BaseException:
        for dest, backup, existed in reversed(moved):
            try:
                if backup is not None:
                    os.replace(backup, dest)
                elif not existed:
                    os.remove(dest)
            except OSError:
                pass
        raise
    return names


def write_image(image, path, like=None, compress=True):
    """Write a SimpleITK image, or an array with the geometry of `like`, atomically.

    Parameters
    ----------
    image : SimpleITK.Image or ndarray
        The image, or an array in :func:`from_sitk` order, (z, y, x) or (t, z, y, x).
    path : str or os.PathLike
        The file to write; its suffix chooses the format (.nrrd, .nii.gz, .mha, or a
        header and data pair: .mhd, .nhdr, .hdr or .img). Missing folders are made.
    like : SimpleITK.Image, optional
        For an array: the scalar image whose spacing, origin and direction it gets.
    compress : bool, optional
        Ask SimpleITK to compress. For .mhd the data file is then .zraw instead of .raw,
        for .nhdr .raw.gz instead of .raw; .hdr/.img pairs are never compressed.

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    TypeError, ValueError
        From :func:`to_sitk` for an array, before anything is written.
    RuntimeError
        From SimpleITK, e.g. for a suffix it has no writer for; nothing is left behind.

    See Also
    --------
    to_sitk, read_image

    Notes
    -----
    Every file appears complete under its final name or not at all. SimpleITK writes
    into a private folder ``.sep3d-tmp-*`` inside the target folder under the final
    names, so a header names its data file as it will be called. The data file is then
    moved into place first and the header last, each with :func:`os.replace`, and the
    private folder is removed. If a move fails, the files already moved are taken back
    and the previous files restored (where the file system has hard links), so a
    previous image stays readable. After a rewrite, a data file the previous .mhd or
    .nhdr header named and which was its own (same stem, e.g. ``a.raw`` when ``a.zraw``
    is written now) is removed; a data file it shared with another name is kept.

    An array keeps its dtype (float stays float, whatever the pixel type of `like`;
    float16 is written as float32).

    Examples
    --------
    >>> import os, tempfile, numpy as np, SimpleITK as sitk
    >>> src = sitk.Image(4, 3, 2, sitk.sitkInt16)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_image(np.full((2, 3, 4), 0.5), os.path.join(folder, "a.mhd"), like=src)
    ...     sorted(os.listdir(folder)), sitk.ReadImage(str(path)).GetPixelIDTypeAsString()
    (['a.mhd', 'a.zraw'], '64-bit float')
    """
    if not isinstance(image, sitk.Image):
        image = to_sitk(image, like=like)
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    previous = _own_data_file(folder / _header_name(path.name))
    tmp = Path(tempfile.mkdtemp(prefix=".sep3d-tmp-", dir=folder))
    try:
        sitk.WriteImage(image, str(tmp / path.name), compress)
        written = _move_into(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if previous is not None and previous not in written:
        try:
            os.remove(folder / previous)
        except FileNotFoundError:
            pass
    return path
