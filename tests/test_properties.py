"""Hypothesis: random shapes, modes, sigmas, orders and axes against scipy.ndimage in float64."""
import numpy as np
import scipy.ndimage as ndi
from hypothesis import example, given, settings
from hypothesis import strategies as st

import sep3d
from sep3d import ndimage as s3
from conftest import MODES, assert_close

shapes = st.lists(st.integers(1, 12), min_size=1, max_size=4).map(tuple)
modes = st.sampled_from(MODES)
sigmas = st.floats(0.2, 6.0, allow_nan=False)
dtypes = st.sampled_from([np.float32, np.float64])
SETTINGS = settings(max_examples=60, deadline=None)


def data_for(shape, dtype, seed):
    return (np.random.default_rng(seed).standard_normal(shape) * 10).astype(dtype)


@SETTINGS
@given(shape=shapes, mode=modes, sigma=sigmas, dtype=dtypes, seed=st.integers(0, 2**16),
       cval=st.floats(-5, 5), order=st.integers(0, 3))
@example(shape=(1, 2, 3), mode="mirror", sigma=0.6715274161936138, dtype=np.float32, seed=764, cval=0.0, order=2)
def test_gaussian_filter_property(shape, mode, sigma, dtype, seed, cval, order):
    vol = data_for(shape, dtype, seed)
    ref = ndi.gaussian_filter(vol.astype(np.float64), sigma, order=order, mode=mode, cval=cval)
    # float32 rounds each pass relative to the sum of the magnitudes it adds, not to its
    # result: a derivative pass cancels (found: (1, 2, 3) voxels, order 2, a result 40x
    # smaller than the terms). The scale is the largest sum of |tap| x |sample| of any pass
    # (scipy's taps, read off a unit impulse), in float64.
    radius = int(4.0 * sigma + 0.5)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    taps = np.abs(ndi.gaussian_filter1d(impulse, sigma, order=order, mode="constant"))
    stage, largest = vol.astype(np.float64), 0.0
    for axis in range(vol.ndim):
        terms = ndi.correlate1d(np.abs(stage), taps, axis=axis, mode=mode, cval=abs(cval))
        largest = max(largest, float(np.abs(terms[np.isfinite(terms)]).max(initial=0.0)))
        stage = ndi.gaussian_filter1d(stage, sigma, axis=axis, order=order, mode=mode, cval=cval)
    assert_close(s3.gaussian_filter(vol, sigma, order=order, mode=mode, cval=cval), ref, scale=largest)


@SETTINGS
@given(shape=shapes, mode=modes, sigma=sigmas, seed=st.integers(0, 2**16), data=st.data())
def test_log_and_gradient_with_spacing_property(shape, mode, sigma, seed, data):
    vol = data_for(shape, np.float64, seed)
    spacing = tuple(data.draw(st.floats(0.3, 3.0)) for _ in shape)
    sig_px = [sigma / d for d in spacing]
    terms, comps = [], []
    for axis in range(len(shape)):
        order = [0] * len(shape)
        order[axis] = 2
        terms.append(ndi.gaussian_filter(vol, sig_px, order=order, mode=mode) / spacing[axis] ** 2)
        order[axis] = 1
        comps.append(ndi.gaussian_filter(vol, sig_px, order=order, mode=mode) / spacing[axis])
    assert_close(sep3d.laplacian_of_gaussian(vol, sigma, spacing=spacing, mode=mode), sum(terms))
    assert_close(sep3d.gradient_magnitude(vol, sigma, spacing=spacing, mode=mode),
                 np.sqrt(sum(c * c for c in comps)))


@SETTINGS
@given(shape=shapes, mode=modes, seed=st.integers(0, 2**16), data=st.data())
def test_correlate1d_with_random_weights_and_origin(shape, mode, seed, data):
    vol = data_for(shape, np.float64, seed)
    size = data.draw(st.integers(1, 15))
    weights = np.random.default_rng(seed + 1).standard_normal(size)
    origin = data.draw(st.integers(-(size // 2), (size - 1) // 2))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    ref = ndi.correlate1d(vol, weights, axis=axis, mode=mode, cval=1.25, origin=origin)
    assert_close(s3.correlate1d(vol, weights, axis=axis, mode=mode, cval=1.25, origin=origin), ref)


@SETTINGS
@given(shape=shapes, mode=modes, seed=st.integers(0, 2**16), data=st.data())
def test_uniform_filter_with_axes_subset(shape, mode, seed, data):
    vol = data_for(shape, np.float32, seed)
    axes = data.draw(st.lists(st.integers(0, len(shape) - 1), unique=True, min_size=1))
    size = data.draw(st.integers(1, 9))
    ref = ndi.uniform_filter(vol.astype(np.float64), size, mode=mode, axes=axes)
    assert_close(s3.uniform_filter(vol, size, mode=mode, axes=axes), ref)
