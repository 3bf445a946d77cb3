"""SimpleITK conversion, sample data, the phantom, and the demo command end to end."""
import importlib
import importlib.metadata
import importlib.util
import os

import numpy as np
import pytest
import scipy.ndimage as ndi
import SimpleITK as sitk

import sep3d
from sep3d import datasets
from sep3d.cli import main
from sep3d.io import ct
from conftest import assert_close


def test_from_sitk_reverses_spacing_to_array_order_and_to_sitk_restores_geometry(tmp_path):
    image, mask = datasets.synthetic_ct(shape=(12, 20, 24), spacing=(3.0, 0.9, 0.7))
    image.SetOrigin((10.0, -5.0, 2.0))
    arr, spacing = ct.from_sitk(image)
    assert arr.shape == (12, 20, 24) and spacing == (3.0, 0.9, 0.7)
    smooth = sep3d.gaussian(arr, 2.0, spacing=spacing)
    path = ct.write_image(smooth, tmp_path / "out.nrrd", like=image)
    back = sitk.ReadImage(str(path))
    assert back.GetSpacing() == image.GetSpacing() and back.GetOrigin() == image.GetOrigin()
    assert back.GetDirection() == image.GetDirection()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), smooth)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary left behind


def test_physical_gaussian_matches_scipy_and_simpleitk_and_a_3_percent_sigma_error_fails():
    image, _ = datasets.synthetic_ct(shape=(16, 40, 40), spacing=(2.0, 0.8, 0.8))
    arr, spacing = ct.from_sitk(image)
    vol = arr.astype(np.float64)

    def ours(sigma, spacing=spacing):
        return sep3d.gaussian(vol, sigma, spacing=spacing, mode="nearest", truncate=6.0)

    # oracle 1, tight: scipy.ndimage float64 with sigma / spacing voxels per axis (the
    # array-order spacing that from_sitk returns; DESIGN.md: float64 within 1e-12 relative)
    ref = ndi.gaussian_filter(vol, np.divide(1.6, spacing), mode="nearest", truncate=6.0)
    np.testing.assert_allclose(ours(1.6), ref, rtol=0, atol=1e-12 * np.abs(ref).max())

    # oracle 2, independent of sep3d's and scipy's taps and of their spacing convention:
    # SimpleITK's recursive Gaussian, sigma in mm with the image's (x, y, z) spacing, zero-flux
    # (= nearest) boundaries. It approximates the continuous Gaussian, so it differs from a
    # sampled kernel by 0.4% of max|ref| here (sigma 0.8 voxels on z); a 3% sigma error
    # differs by 1.6-2.2%, and a spacing given in ITK's (x, y, z) order by 34%: the tolerance
    # 0.8% sits between, with 2x margin each way.
    itk = sitk.SmoothingRecursiveGaussianImageFilter()
    itk.SetSigma(1.6)
    itk_ref = sitk.GetArrayFromImage(itk.Execute(sitk.Cast(image, sitk.sitkFloat64)))
    inner = (slice(4, -4), slice(8, -8), slice(8, -8))  # away from the two boundary rules

    def agrees_with_itk(result):
        return np.abs(result[inner] - itk_ref[inner]).max() < 0.008 * np.abs(itk_ref).max()

    assert agrees_with_itk(ours(1.6))
    assert not agrees_with_itk(ours(1.6 * 1.03)) and not agrees_with_itk(ours(1.6 * 0.97))
    assert not agrees_with_itk(ours(1.6, spacing=image.GetSpacing()))  # (x, y, z) order: caught


def test_to_sitk_checks_its_arguments():
    image, _ = datasets.synthetic_ct(shape=(8, 10, 12))
    with pytest.raises(ValueError, match="`array` must have the shape of `like`"):
        ct.to_sitk(np.zeros((8, 10, 11)), like=image)
    with pytest.raises(TypeError, match="`like` must be a SimpleITK.Image"):
        ct.to_sitk(np.zeros((8, 10, 12)), like="x")
    with pytest.raises(ValueError, match="`spacing` must have one value per axis"):
        ct.to_sitk(np.zeros((8, 10, 12)), spacing=(1.0, 2.0))
    with pytest.raises(TypeError, match="`image` must be a SimpleITK.Image"):
        ct.from_sitk(np.zeros(3))
    with pytest.raises(FileNotFoundError, match="`path` does not exist"):
        ct.read_image("/nonexistent/volume.nrrd")
    with pytest.raises(FileNotFoundError, match="`directory` is not a folder"):
        ct.read_dicom_series("/nonexistent")


def test_dicom_series_round_trip(tmp_path):
    image, _ = datasets.synthetic_ct(shape=(8, 16, 16), spacing=(2.0, 0.5, 0.5))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetDepth()):
        sl = image[:, :, k]
        sl.SetMetaData("0020|0013", str(k + 1))
        sl.SetMetaData("0020|0032", "0\\0\\" + str(2.0 * k))
        sl.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1")
        sl.SetMetaData("0008|0060", "CT")
        writer.SetFileName(str(tmp_path / f"{k:03d}.dcm"))
        writer.Execute(sl)
    back = ct.read_dicom_series(tmp_path)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no DICOM series"):
        ct.read_dicom_series(tmp_path / "empty")


def test_synthetic_ct_has_tissues_and_a_lesion():
    image, mask = datasets.synthetic_ct(shape=(20, 48, 48), spacing=(2.5, 0.8, 0.8), seed=3)
    arr, m = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(mask)
    assert arr.dtype == np.int16 and m.dtype == np.uint8
    assert image.GetSpacing() == (0.8, 0.8, 2.5) and mask.GetSpacing() == image.GetSpacing()
    assert 100 < m.sum() < arr.size // 10
    assert abs(np.median(arr[m == 1]) - 60) < 15
    assert np.median(arr[0, 0]) < -900  # air in the corner
    again, _ = datasets.synthetic_ct(shape=(20, 48, 48), spacing=(2.5, 0.8, 0.8), seed=3)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(again), arr)
    with pytest.raises(ValueError, match="`shape` must be three sizes"):
        datasets.synthetic_ct(shape=(4, 4))


def test_sample_case_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"`name` must be one of \['brain1'"):
        datasets.sample_case("liver9")


def test_sample_case_offline_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SEP3D_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip may not reach any index: as if offline
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(datasets.SampleDataUnavailable, match="are you offline"):
        datasets.sample_case("brain1")
    assert not list((tmp_path / "cache").glob("*.nrrd"))


@pytest.mark.network
def test_sample_case_brain1_is_the_pyradiomics_case():
    try:
        image, mask = datasets.sample_case("brain1")
    except datasets.SampleDataUnavailable as exc:
        pytest.skip(f"no package index reachable: {exc}")
    assert image.GetSize() == (256, 256, 25) and mask.GetSize() == image.GetSize()
    assert image.GetSpacing() == pytest.approx((0.78125, 0.78125, 6.5))
    assert sitk.GetArrayFromImage(mask).sum() > 0
    arr, spacing = ct.from_sitk(image)
    ref = ndi.gaussian_filter(arr.astype(np.float64), np.divide(2.0, spacing))
    assert_close(sep3d.gaussian(arr, 2.0, spacing=spacing), ref)


def test_demo_command_on_the_phantom(tmp_path, capsys):
    assert main(["demo", "--synthetic", "--out", str(tmp_path), "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "synthetic CT phantom" in out and out.count("speed-up") == 3
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["phantom_gaussian.nrrd", "phantom_gradient_magnitude.nrrd", "phantom_log.nrrd", "quicklook.png"]
    log = sitk.ReadImage(str(tmp_path / "phantom_log.nrrd"))
    image, _ = datasets.synthetic_ct()
    assert log.GetSpacing() == image.GetSpacing() and log.GetSize() == image.GetSize()
    assert (tmp_path / "quicklook.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the filtered volume is the physical, scale-normalised LoG
    arr, spacing = ct.from_sitk(image)
    ref = sum(ndi.gaussian_filter(arr.astype(np.float64), np.divide(3.0, spacing),
                                  order=[2 if a == k else 0 for a in range(3)]) * (3.0 / spacing[k]) ** 2
              for k in range(3))
    assert_close(sitk.GetArrayFromImage(log), ref)


def test_cli_version_names_the_engine_and_the_pyradiomics_build(capsys):
    import platform
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"sep3d {sep3d.__version__}"
    assert lines[1].startswith(f"Python {platform.python_version()} ")
    assert lines[2] == f"CPU engine: Numba engine (numba {version('numba')})"
    radiomics = importlib.import_module("radiomics") if importlib.util.find_spec("radiomics") else None
    if radiomics is None:
        assert lines[3] == 'PyRadiomics: not installed (pip install "sep3d[radiomics]")'
    else:  # the distribution named is the one whose files hold the imported module
        name, ver = lines[3].removeprefix("PyRadiomics: ").split(", ")[0].split(" ")
        files = {str(f) for f in importlib.metadata.distribution(name).files}
        assert "radiomics/__init__.py" in files and ver == version(name)


def test_an_archive_without_the_cases_is_reported(tmp_path, monkeypatch):
    import tarfile

    archive = tmp_path / "pyradiomics_bhklab-3.1.4.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        readme = tmp_path / "README.md"
        readme.write_text("no data here")
        tar.add(readme, arcname="pyradiomics_bhklab-3.1.4/README.md")
    monkeypatch.setenv("SEP3D_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets, "_download_sdist", lambda tmp: archive)
    with pytest.raises(datasets.SampleDataUnavailable, match="archive lacks"):
        datasets.sample_case("lung2")
