"""Data safety of sep3d.io.ct (issue 17): complete multi-file writes, 4-D images, geometry, dtype.

The oracle is SimpleITK reading the files directly, and the folder listing itself.
"""
import gzip
import re
import os
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from sep3d.io import ct

SHAPE = (3, 4, 5)  # (z, y, x)
SPACING_XYZ = (0.7, 0.9, 2.5)
ORIGIN_XYZ = (10.0, -5.0, 2.0)


def rotation(a, b, c):
    """An oblique orthonormal 3x3 matrix (rotations about z, y and x)."""
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    return rz @ ry @ rx


DIRECTIONS = {
    "identity": np.eye(3),
    "oblique": rotation(0.3, -0.2, 0.15),
    "lps-flipped": np.diag([-1.0, -1.0, 1.0]),
}


def like_image(shape=SHAPE, direction=DIRECTIONS["oblique"], pixel=np.int16):
    """A scalar source image with non-trivial geometry: the `like` of a filtered result."""
    image = sitk.GetImageFromArray(np.zeros(shape, dtype=pixel), isVector=False)
    n = len(shape)
    image.SetSpacing(SPACING_XYZ + (1.5,) * (n - 3))
    image.SetOrigin(ORIGIN_XYZ + (4.0,) * (n - 3))
    full = np.eye(n)
    full[:3, :3] = direction
    image.SetDirection(tuple(full.ravel()))
    return image


def volume(shape=SHAPE, dtype=np.float32):
    return (np.arange(np.prod(shape)).reshape(shape) * 0.25 - 3.0).astype(dtype)


def assert_geometry(back, like, float32=False):
    """Spacing, origin and direction of `back` are those of `like`.

    NRRD stores spacing times direction as decimal text (a last-digit rounding);
    NIfTI stores float32.
    """
    assert back.GetDimension() == like.GetDimension() and back.GetSize() == like.GetSize()
    rtol, atol = (1e-6, 1e-5) if float32 else (1e-14, 1e-14)
    np.testing.assert_allclose(back.GetSpacing(), like.GetSpacing(), rtol=rtol)
    np.testing.assert_allclose(back.GetOrigin(), like.GetOrigin(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(back.GetDirection(), like.GetDirection(), rtol=0, atol=atol)


def header_data_file(header):
    """The data file a detached header names, read from the header itself."""
    name = header.name
    if name.endswith(".mhd"):
        lines = [ln for ln in header.read_text().splitlines() if ln.startswith("ElementDataFile")]
        return lines[0].split("=", 1)[1].strip()
    if name.endswith(".nhdr"):
        lines = [ln for ln in header.read_text().splitlines() if ln.startswith("data file:")]
        return lines[0].split(":", 1)[1].strip()
    # NIfTI-1 pair: magic "ni1" at byte 344, the data file is the header's stem + .img
    raw = gzip.decompress(header.read_bytes()) if name.endswith(".gz") else header.read_bytes()
    assert raw[344:348] == b"ni1\x00"
    return name.replace(".hdr", ".img")


# (name written, compress, the header to read, the files the folder must hold afterwards)
FORMATS = [
    ("a.mhd", False, "a.mhd", ["a.mhd", "a.raw"]),
    ("a.mhd", True, "a.mhd", ["a.mhd", "a.zraw"]),
    ("a.nhdr", False, "a.nhdr", ["a.nhdr", "a.raw"]),
    ("a.nhdr", True, "a.nhdr", ["a.nhdr", "a.raw.gz"]),
    ("a.hdr", False, "a.hdr", ["a.hdr", "a.img"]),
    ("a.hdr", True, "a.hdr", ["a.hdr", "a.img"]),
    ("a.img", True, "a.hdr", ["a.hdr", "a.img"]),
    ("a.hdr.gz", True, "a.hdr.gz", ["a.hdr.gz", "a.img.gz"]),
    ("case.v1.mhd", True, "case.v1.mhd", ["case.v1.mhd", "case.v1.zraw"]),
    ("case.v1.nhdr", False, "case.v1.nhdr", ["case.v1.nhdr", "case.v1.raw"]),
    ("a.nii.gz", True, "a.nii.gz", ["a.nii.gz"]),
    ("a.nrrd", True, "a.nrrd", ["a.nrrd"]),
    ("a.mha", False, "a.mha", ["a.mha"]),
]
TWO_FILE = [f for f in FORMATS if len(f[3]) == 2]


def is_nifti(name):
    return name.endswith((".hdr", ".hdr.gz", ".img", ".img.gz", ".nii", ".nii.gz"))


@pytest.mark.parametrize("name, compress, header, files", FORMATS, ids=[f"{f[0]}-{f[1]}" for f in FORMATS])
def test_write_leaves_exactly_the_visible_files_and_simpleitk_reads_them_back(tmp_path, name, compress,
                                                                              header, files):
    like = like_image()
    data = volume()
    returned = ct.write_image(data, tmp_path / name, like=like, compress=compress)
    assert returned == tmp_path / name
    assert sorted(os.listdir(tmp_path)) == files  # no hidden data file, no temporary folder
    if len(files) == 2:
        assert header_data_file(tmp_path / header) == next(f for f in files if f != header)
    back = sitk.ReadImage(str(tmp_path / header))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), data)
    assert_geometry(back, like, float32=is_nifti(name))


@pytest.mark.parametrize("name, compress, header, files", TWO_FILE, ids=[f"{f[0]}-{f[1]}" for f in TWO_FILE])
def test_copying_only_the_visible_files_gives_a_readable_image(tmp_path, name, compress, header, files):
    data = volume()
    ct.write_image(data, tmp_path / "src" / name, like=like_image(), compress=compress)
    (tmp_path / "copy").mkdir()
    for f in os.listdir(tmp_path / "src"):
        if not f.startswith("."):
            shutil.copy2(tmp_path / "src" / f, tmp_path / "copy" / f)
    back = sitk.ReadImage(str(tmp_path / "copy" / header))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), data)


TOGGLES = [("a.mhd", ["a.mhd", "a.raw"], ["a.mhd", "a.zraw"]),
           ("a.nhdr", ["a.nhdr", "a.raw"], ["a.nhdr", "a.raw.gz"])]


@pytest.mark.parametrize("name, plain, packed", TOGGLES, ids=[t[0] for t in TOGGLES])
@pytest.mark.parametrize("first", [False, True], ids=["plain-then-compressed", "compressed-then-plain"])
def test_a_rewrite_with_compress_toggled_leaves_no_orphaned_data_file(tmp_path, name, plain, packed, first):
    like = like_image()
    ct.write_image(volume(), tmp_path / name, like=like, compress=first)
    assert sorted(os.listdir(tmp_path)) == (packed if first else plain)
    again = volume() * 2
    ct.write_image(again, tmp_path / name, like=like, compress=not first)
    assert sorted(os.listdir(tmp_path)) == (plain if first else packed)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / name))), again)


def test_a_rewrite_of_the_nifti_pair_replaces_both_files(tmp_path):
    like = like_image()
    ct.write_image(volume(), tmp_path / "a.hdr", like=like)
    again = volume() + 100
    ct.write_image(again, tmp_path / "a.hdr", like=like)
    assert sorted(os.listdir(tmp_path)) == ["a.hdr", "a.img"]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "a.hdr"))), again)


def test_a_rewrite_keeps_a_data_file_the_old_header_shared_with_another_name(tmp_path):
    like = like_image()
    ct.write_image(volume(), tmp_path / "b.mhd", like=like, compress=False)
    shutil.copy2(tmp_path / "b.mhd", tmp_path / "a.mhd")  # a.mhd names b.raw: not a.mhd's own
    ct.write_image(volume() * 3, tmp_path / "a.mhd", like=like, compress=True)
    assert sorted(os.listdir(tmp_path)) == ["a.mhd", "a.zraw", "b.mhd", "b.raw"]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "b.mhd"))), volume())


def test_a_rewrite_removes_the_hidden_data_file_an_earlier_version_left(tmp_path):
    # what write_image did before: data under the temporary name, only the header renamed
    sitk.WriteImage(ct.to_sitk(volume(), like=like_image()), str(tmp_path / ".a.k3x_9q0z.mhd"), False)
    os.replace(tmp_path / ".a.k3x_9q0z.mhd", tmp_path / "a.mhd")
    assert header_data_file(tmp_path / "a.mhd") == ".a.k3x_9q0z.raw"
    ct.write_image(volume() * 2, tmp_path / "a.mhd", like=like_image(), compress=True)
    assert sorted(os.listdir(tmp_path)) == ["a.mhd", "a.zraw"]


def test_a_failed_move_leaves_the_previous_pair_intact_and_no_temporary(tmp_path, monkeypatch):
    like = like_image()
    ct.write_image(volume(), tmp_path / "a.mhd", like=like, compress=False)
    real_replace = os.replace

    def header_move_fails(src, dst, *args, **kwargs):
        if str(dst) in (str(tmp_path / "a.mhd"), str(tmp_path / "b.mhd")):
            raise OSError("disk full")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", header_move_fails)
    with pytest.raises(OSError, match="disk full"):
        ct.write_image(volume() * 5, tmp_path / "a.mhd", like=like, compress=False)
    with pytest.raises(OSError, match="disk full"):  # a first write: its data file goes too
        ct.write_image(volume() * 5, tmp_path / "b.mhd", like=like, compress=False)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["a.mhd", "a.raw"]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "a.mhd"))), volume())


def test_a_failed_write_leaves_no_temporary(tmp_path):
    with pytest.raises(RuntimeError, match="Unable to determine ImageIO writer"):
        ct.write_image(volume(), tmp_path / "a.unknown", like=like_image())
    assert os.listdir(tmp_path) == []


def test_written_files_get_the_permissions_of_an_ordinary_new_file(tmp_path):
    ct.write_image(volume(), tmp_path / "a.mhd", like=like_image())
    (tmp_path / "plain.txt").write_text("x")
    mode = os.stat(tmp_path / "plain.txt").st_mode & 0o777
    assert {f: os.stat(tmp_path / f).st_mode & 0o777 for f in ("a.mhd", "a.zraw")} == {"a.mhd": mode, "a.zraw": mode}


# ---- 4-D scalar images (t, z, y, x) -------------------------------------------------------

SHAPE4 = (2,) + SHAPE


def test_to_sitk_gives_a_4d_scalar_image_with_the_geometry_of_a_4d_like():
    like = like_image(SHAPE4)
    data = volume(SHAPE4, np.float64)
    image = ct.to_sitk(data, like=like)
    assert image.GetDimension() == 4 and image.GetNumberOfComponentsPerPixel() == 1
    assert image.GetPixelID() == sitk.sitkFloat64
    assert image.GetSize() == like.GetSize() == tuple(reversed(SHAPE4))
    assert image.GetSpacing() == like.GetSpacing() and image.GetOrigin() == like.GetOrigin()
    assert image.GetDirection() == like.GetDirection() and len(image.GetDirection()) == 16
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), data)


def test_from_sitk_on_a_4d_image_gives_t_z_y_x_and_four_spacings():
    like = like_image(SHAPE4)
    array, spacing = ct.from_sitk(like)
    assert array.shape == SHAPE4
    assert spacing == (1.5, 2.5, 0.9, 0.7)


def test_to_sitk_without_like_makes_a_4d_array_a_4d_image():
    image = ct.to_sitk(volume(SHAPE4), spacing=(1.5, 2.5, 0.9, 0.7))
    assert image.GetDimension() == 4 and image.GetNumberOfComponentsPerPixel() == 1
    assert image.GetSpacing() == (0.7, 0.9, 2.5, 1.5)


@pytest.mark.parametrize("name", ["t.nrrd", "t.mhd", "t.nii.gz"])
def test_write_image_of_a_4d_result_with_a_4d_like(tmp_path, name):
    like = like_image(SHAPE4)
    data = volume(SHAPE4)
    ct.write_image(data, tmp_path / name, like=like)
    back = sitk.ReadImage(str(tmp_path / name))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), data)
    assert back.GetPixelID() == sitk.sitkFloat32
    assert_geometry(back, like, float32=is_nifti(name))


def test_a_vector_like_is_refused_before_any_write(tmp_path):
    vector = sitk.GetImageFromArray(np.zeros(SHAPE + (3,), np.float32), isVector=True)
    with pytest.raises(ValueError, match=r"`like` must be a scalar image.*got 3 components"):
        ct.to_sitk(volume(), like=vector)
    with pytest.raises(ValueError, match=r"`like` must be a scalar image"):
        ct.to_sitk(volume(SHAPE + (3,)), like=vector)
    with pytest.raises(ValueError, match=r"`like` must be a scalar image"):
        ct.write_image(volume(), tmp_path / "out" / "v.mhd", like=vector)
    assert os.listdir(tmp_path) == []


def test_a_shape_mismatch_names_the_argument_and_the_axis_before_any_write(tmp_path):
    like = like_image(SHAPE4)
    with pytest.raises(ValueError, match=r"`array` must have the shape of `like` \(2, 3, 4, 5\); "
                                         r"got \(3, 3, 4, 5\): axis 0 \(t\) has 3, `like` has 2"):
        ct.write_image(volume((3,) + SHAPE), tmp_path / "out" / "t.nrrd", like=like)
    with pytest.raises(ValueError, match=r"`array` must have the shape of `like` \(2, 3, 4, 5\); "
                                         r"got \(3, 4, 5\): 3-D, `like` is 4-D"):
        ct.write_image(volume(), tmp_path / "out" / "t.nrrd", like=like)
    with pytest.raises(ValueError, match=r"axis 1 \(y\) has 6, `like` has 4"):
        ct.to_sitk(volume((3, 6, 5)), like=like_image())
    assert os.listdir(tmp_path) == []


def test_an_array_of_an_unsupported_rank_is_refused():
    with pytest.raises(ValueError, match=r"`array` must have 2 to 5 dimensions; got 1"):
        ct.to_sitk(np.zeros(4))


# ---- direction cosines and dtype --------------------------------------------------------

@pytest.mark.parametrize("direction", ["oblique", "lps-flipped"])
def test_to_sitk_keeps_the_direction_cosines_of_like(direction):
    like = like_image(direction=DIRECTIONS[direction])
    image = ct.to_sitk(volume(), like=like)
    assert image.GetDirection() == like.GetDirection()
    assert image.GetOrigin() == like.GetOrigin() and image.GetSpacing() == like.GetSpacing()


@pytest.mark.parametrize("direction", ["oblique", "lps-flipped"])
@pytest.mark.parametrize("name", ["d.nrrd", "d.mhd", "d.nii.gz", "d.hdr"])
def test_written_files_keep_the_direction_cosines_of_like(tmp_path, direction, name):
    like = like_image(direction=DIRECTIONS[direction])
    ct.write_image(volume(), tmp_path / name, like=like)
    assert_geometry(sitk.ReadImage(str(tmp_path / name)), like, float32=is_nifti(name))


@pytest.mark.parametrize("dtype, pixel", [(np.float32, sitk.sitkFloat32), (np.float64, sitk.sitkFloat64)])
@pytest.mark.parametrize("name", ["f.nrrd", "f.mhd", "f.nii.gz", "f.hdr"])
def test_a_float_result_is_written_as_float_whatever_the_pixel_type_of_like(tmp_path, dtype, pixel, name):
    like = like_image(pixel=np.int16)
    data = volume(dtype=dtype) + 0.125
    ct.write_image(data, tmp_path / name, like=like)
    back = sitk.ReadImage(str(tmp_path / name))
    assert back.GetPixelID() == pixel
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), data)


def test_a_float16_result_is_written_as_float32_with_the_same_values(tmp_path):
    data = volume(dtype=np.float16) + np.float16(0.125)
    image = ct.to_sitk(data, like=like_image())
    assert image.GetPixelID() == sitk.sitkFloat32
    ct.write_image(data, tmp_path / "h.nrrd", like=like_image())
    back = sitk.ReadImage(str(tmp_path / "h.nrrd"))
    assert back.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), data.astype(np.float32))


@pytest.mark.parametrize("ndim", [2, 3, 4, 5])
def test_to_sitk_takes_2_to_5_dimensions(ndim):
    array = np.arange(2 ** ndim, dtype=np.float32).reshape((2,) * ndim)
    image = ct.to_sitk(array)
    # SimpleITK orders the axes x first: the NumPy array read back is the same array
    assert image.GetDimension() == ndim
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), array)


@pytest.mark.parametrize("ndim", [1, 6])
def test_to_sitk_refuses_other_dimensions_naming_them(ndim):
    with pytest.raises(ValueError, match=rf"^`array` must have 2 to 5 dimensions; got {ndim}$"):
        ct.to_sitk(np.zeros((2,) * ndim, np.float32))


@pytest.mark.parametrize("shape, like_shape, axis", [((3, 4), (3, 5), "axis 1 (x)"), ((2, 3, 4), (2, 6, 4), "axis 1 (y)"),
                                                     ((2, 2, 3, 4), (5, 2, 3, 4), "axis 0 (t)")])
def test_a_shape_mismatch_with_like_names_the_axis(shape, like_shape, axis):
    like = sitk.GetImageFromArray(np.zeros(like_shape, np.float32), isVector=False)
    k = int(axis.split()[1])
    with pytest.raises(ValueError, match=rf"{re.escape(axis)} has {shape[k]}, `like` has {like_shape[k]}$"):
        ct.to_sitk(np.zeros(shape, np.float32), like=like)


def test_write_image_creates_missing_folders(tmp_path):
    path = tmp_path / "a" / "b" / "x.nrrd"
    ct.write_image(np.ones((2, 3, 4), np.float32), path)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))), np.ones((2, 3, 4)))
