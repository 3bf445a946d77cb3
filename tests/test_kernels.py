"""1-D operators against scipy.ndimage's own impulse responses."""
import numpy as np
import pytest
import scipy.ndimage as ndi

from sep3d.kernels import FIR, gaussian_radius, gaussian_taps, moving_average


def impulse_response(filter1d, radius, **kwargs):
    """Correlation taps of a scipy 1-D filter, read off its response to an impulse."""
    n = 4 * radius + 3
    x = np.zeros(n)
    x[n // 2] = 1.0
    y = filter1d(x, mode="constant", **kwargs)
    return y[n // 2 - radius:n // 2 + radius + 1][::-1]


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5, 7.0])
@pytest.mark.parametrize("order", [0, 1, 2, 3, 4])
def test_gaussian_taps_match_scipy_impulse_response(sigma, order):
    radius = gaussian_radius(sigma)
    taps = gaussian_taps(sigma, order, radius)
    ref = impulse_response(ndi.gaussian_filter1d, radius, sigma=sigma, order=order)
    np.testing.assert_allclose(taps, ref, rtol=0, atol=1e-15 * max(1, np.abs(ref).max()))


def test_gaussian_radius_follows_scipy_rounding():
    assert gaussian_radius(2.0) == 8
    assert gaussian_radius(1.1, truncate=3.0) == int(3.3 + 0.5)
    assert gaussian_radius(5.0, radius=2) == 2


def test_smoothing_taps_sum_to_one_and_derivatives_to_zero():
    assert gaussian_taps(1.7, 0, 7).sum() == pytest.approx(1.0, abs=1e-15)
    assert gaussian_taps(1.7, 1, 7).sum() == pytest.approx(0.0, abs=1e-15)
    assert gaussian_taps(1.7, 2, 7).sum() == pytest.approx(0.0, abs=1e-3)


def test_fir_halo_and_symmetry():
    op = FIR([1.0, 2.0, 1.0])
    assert (op.left, op.right, op.symmetry, op.radius) == (1, 1, 1, 1)
    op = FIR([-1.0, 0.0, 1.0])
    assert op.symmetry == -1
    op = FIR([1.0, 2.0, 3.0, 4.0], origin=1)
    assert (op.left, op.right, op.symmetry) == (3, 0, 0)
    assert FIR([1.0, 2.0]).key != FIR([1.0, 2.0], origin=-1).key


def test_fir_taps_are_read_only_copies():
    taps = np.array([1.0, 2.0, 1.0])
    op = FIR(taps)
    taps[0] = 99
    assert op.taps[0] == 1.0
    with pytest.raises(ValueError):
        op.taps[0] = 5


def test_moving_average_divides_after_the_sum():
    op = moving_average(3)
    assert op.divisor == 3 and np.all(op.taps == 1)


@pytest.mark.parametrize("bad, match", [
    ([[1.0, 2.0]], "one-dimensional"),
    ([], "at least one tap"),
    ([1.0, np.nan], "finite"),
    ([1 + 1j], "real"),
])
def test_fir_rejects_bad_taps(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        FIR(bad)


def test_fir_rejects_origin_outside_the_filter_and_zero_divisor():
    with pytest.raises(ValueError, match="`origin` must lie in"):
        FIR([1.0, 2.0, 3.0], origin=2)
    with pytest.raises(ValueError, match="`divisor`"):
        FIR([1.0], divisor=0)


def test_gaussian_taps_need_positive_sigma():
    with pytest.raises(ValueError, match="`sigma` must be > 0"):
        gaussian_taps(0.0, 0, 3)
