"""IBSI 2 filters (the Image Biomarker Standardisation Initiative's convolutional filters).

As IBSI defines them and as its Phase-1 consensus response maps hold them, in 3-D or
in-plane (2-D, each axial slice):

- separable, run as sep3d plans (any backend, dask arrays included): the mean filter, the
  Laplacian of Gaussian, Laws kernels (with energy maps) and undecimated separable
  wavelets, with rotation invariance. Every response is a convolution (not a correlation)
  with kernels centred at index ``len // 2``;
- Gabor: a complex 2-D kernel per plane, pooled over orientations and planes (FFT);
- defined in the Fourier domain: Simoncelli's isotropic wavelet and the Riesz transform of
  a LoG or Simoncelli band (FFT on IBSI's frequency grid, :func:`ibsi_frequencies`).

Conventions (IBSI reference manual, arXiv 2006.05470, checked against the consensus maps
in ``tests/test_ibsi.py``):

- Kernel and band names list one 1-D kernel per axis **starting with x**, the last axis of
  a ``(z, y, x)`` array: ``E5L5S5`` is E5 along x, L5 along y, S5 along z; ``L5S5`` is
  2-D (x, y).
- Boundaries: the functions take scipy's `mode` names; :data:`IBSI_BOUNDARIES` maps IBSI's
  (IBSI "mirror" is scipy "reflect"; scipy's "mirror" is another extension).
- Rotation invariance pools the responses to the right-angle rotations of the kernel:
  24 in 3-D, 4 in-plane. A rotation of a separable kernel is a signed permutation of
  its 1-D kernels (:func:`rotations`); equal rotated kernels are computed once, and the
  pooling runs as the responses are produced (two volumes in memory, not 24).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from . import filters
from ._validate import Mode, check_mode, check_positive
from .convolution import extend_boundary
from .decompose import svd_terms

__all__ = ["IBSI_BOUNDARIES", "LAWS_KERNELS", "POOLINGS", "GABOR_RESPONSES", "laws_kernels", "wavelet_kernels",
           "rotations", "rotation_mean_terms", "separable_sum_terms", "wavelet_stages",
           "gabor_kernel", "gabor_terms", "GABOR_METHODS", "mean", "log", "laws", "wavelet", "gabor",
           "RIESZ_BASES", "ibsi_frequencies",
           "simoncelli_transfer", "riesz_transfer", "log_transfer", "simoncelli", "riesz"]

#: IBSI boundary names and the scipy mode each one is.
IBSI_BOUNDARIES = {"zero": "constant", "nearest": "nearest", "periodic": "wrap", "mirror": "reflect"}

#: Laws' 1-D kernels, normalised to unit Euclidean norm (IBSI 2, Table 6.2), as convolution taps.
LAWS_KERNELS = {name: np.array(taps, float) / math.sqrt(sum(t * t for t in taps)) for name, taps in {
    "L3": (1, 2, 1), "E3": (-1, 0, 1), "S3": (-1, 2, -1),
    "L5": (1, 4, 6, 4, 1), "E5": (-1, -2, 0, 2, 1), "S5": (-1, 0, 2, 0, -1), "W5": (-1, 2, 0, -2, 1),
    "R5": (1, -4, 6, -4, 1)}.items()}

#: How rotation-invariant responses are pooled.
POOLINGS = ("max", "min", "mean", "sum")

#: What :func:`gabor` returns of its complex response.
GABOR_RESPONSES = ("modulus", "real", "imaginary")

#: The planes :func:`gabor` filters: axial (y, x), or also coronal (z, x) and sagittal (z, y).
_PLANES = {"axial": ((-2, -1),), "orthogonal": ((-2, -1), (-3, -1), (-3, -2))}


def _centred(taps, centre):
    """`taps` whose sample `centre` is the origin, as an odd-length kernel centred at its middle."""
    taps = np.asarray(taps, dtype=np.float64)
    reach = max(centre, taps.size - 1 - centre)
    out = np.zeros(2 * reach + 1)
    out[reach - centre:reach - centre + taps.size] = taps
    return out


def laws_kernels(kernel):
    """The 1-D kernels of a Laws kernel name, per axis of a ``(z, y, x)`` (or ``(y, x)``) array.

    ``laws_kernels("E5L5S5")`` is ``[S5, L5, E5]`` (the name lists x first).
    """
    if not isinstance(kernel, str) or len(kernel) not in (4, 6) or len(kernel) % 2:
        raise ValueError(f"`kernel` must name 2 or 3 Laws kernels (e.g. 'E5L5S5', 'L5S5'); got {kernel!r}")
    names = [kernel[i:i + 2].upper() for i in range(0, len(kernel), 2)]
    unknown = [n for n in names if n not in LAWS_KERNELS]
    if unknown:
        raise ValueError(f"`kernel` must be made of {sorted(LAWS_KERNELS)}; got {kernel!r}")
    return [LAWS_KERNELS[n] for n in reversed(names)]


def _pywt_wavelet(wavelet, band, level):
    """The PyWavelets wavelet, after checking `wavelet`, `band` and `level`."""
    import pywt

    try:
        w = pywt.Wavelet(wavelet)
    except ValueError:
        raise ValueError(f"`wavelet` must be a PyWavelets discrete wavelet (e.g. 'db2', 'coif1', 'haar'); "
                         f"got {wavelet!r}") from None
    if not isinstance(band, str) or len(band) not in (2, 3) or set(band.upper()) - {"L", "H"}:
        raise ValueError(f"`band` must be 2 or 3 letters L/H, listed from x (e.g. 'LHL'); got {band!r}")
    _check_level(level)
    return w


def _dilated(taps, j):
    """`taps` with ``2**(j-1) - 1`` zeros after each (level `j` of the a trous transform)."""
    out = np.zeros(len(taps) * 2 ** (j - 1))
    out[::2 ** (j - 1)] = taps
    return out


def wavelet_kernels(wavelet, band, level=1):
    """Per axis (``(z, y, x)`` order) the 1-D kernel of an undecimated wavelet band, odd and centred.

    `band` lists ``L`` (PyWavelets' ``dec_lo``) or ``H`` (``dec_hi``) per axis from x. At
    level ``j > 1`` a band is the low-pass of every level below it followed by the band's
    filter dilated by ``2**(j-1)`` (zeros between the taps and after the last one), the
    undecimated (a trous) transform IBSI defines; each kernel is that whole composition,
    so a rotation turns it as one kernel.
    """
    w = _pywt_wavelet(wavelet, band, level)
    kernels = []
    for letter in reversed(band.upper()):
        taps, centre = np.array([1.0]), 0
        for j in range(1, level + 1):
            step = _dilated(w.dec_lo if (j < level or letter == "L") else w.dec_hi, j)
            taps, centre = np.convolve(taps, step), centre + step.size // 2
        kernels.append(_centred(taps, centre))
    return kernels


def wavelet_stages(wavelet, band, level=1):
    """The undecimated transform's passes, level by level: per level, per axis ``(z, y, x)``.

    Level ``j < level`` is the low-pass dilated by ``2**(j-1)`` on every axis; the last
    level is the band's filters (``L``/``H`` per axis from x) dilated by ``2**(level-1)``.
    Each is odd and centred (the taps' sample ``len // 2`` at the middle). The boundary
    applies at every level, as IBSI (and MIRP) compute the transform from the previous
    level's image: that differs from one pass of the composite kernel
    (:func:`wavelet_kernels`) near the edges except for periodic boundaries.
    """
    w = _pywt_wavelet(wavelet, band, level)
    stages = []
    for j in range(1, level + 1):
        per_axis = []
        for letter in reversed(band.upper()):
            step = _dilated(w.dec_lo if (j < level or letter == "L") else w.dec_hi, j)
            per_axis.append(_centred(step, step.size // 2))
        stages.append(per_axis)
    return stages


def _rotation_group(n):
    """The right-angle rotations of an n-D (n = 2, 3) grid as ``(perm, signs)``: axis j of the
    rotated kernel is axis ``perm[j]`` of the original, reversed where ``signs[j] < 0``."""
    group = []
    for perm in itertools.permutations(range(n)):
        for signs in itertools.product((1, -1), repeat=n):
            matrix = np.zeros((n, n))
            matrix[np.arange(n), perm] = signs
            if round(np.linalg.det(matrix)) == 1:  # a rotation, not a reflection
                group.append((perm, signs))
    return group


def rotations(kernels):
    """The distinct right-angle rotations of a separable kernel, as per-axis 1-D kernels.

    `kernels` holds one odd-length convolution kernel per axis of a 3-D ``(z, y, x)``
    kernel (24 rotations), or per axis of an in-plane ``(y, x)`` one (4 rotations). A
    rotation sends each axis to another, possibly reversed: its kernel is a signed
    permutation of the given ones. Rotations that give the same kernels (symmetric
    taps, equal kernels on two axes) appear once.
    """
    kernels = [np.asarray(k, dtype=np.float64) for k in kernels]
    n = len(kernels)
    if n not in (2, 3):
        raise ValueError(f"`kernels` must hold 2 or 3 kernels; got {n}")
    found, seen = [], set()
    for perm, signs in _rotation_group(n):
        rotated = _rotate(kernels, perm, signs)
        key = tuple(k.tobytes() for k in rotated)
        if key not in seen:
            seen.add(key)
            found.append(rotated)
    return found


def separable_sum_terms(weighted):
    """``sum(w * outer(k_z, k_y, k_x))`` over ``(w, kernels)`` pairs, as few separable terms.

    Each 1-D kernel is split into its symmetric and antisymmetric parts (``k = s + a``;
    reversing a kernel flips the sign of ``a``). Expanding every product over the parts,
    equal products add up and opposite ones cancel. Returns ``[(coefficient, kernels),
    ...]``, the kernels being parts of the given ones.
    """
    parts = []

    def part_id(arr):  # (index of +-arr in parts, the sign), or None for a zero part
        if not np.any(arr):
            return None
        sign = 1.0 if arr[np.flatnonzero(arr)[0]] > 0 else -1.0
        arr = sign * arr + 0.0
        for i, p in enumerate(parts):
            if p.shape == arr.shape and np.array_equal(p, arr):
                return i, sign
        parts.append(arr)
        return len(parts) - 1, sign

    totals = {}
    for weight, kernels in weighted:
        split = [(part_id(0.5 * (k + k[::-1])), part_id(0.5 * (k - k[::-1]))) for k in kernels]
        for choice in itertools.product((0, 1), repeat=len(kernels)):
            key, coefficient = [], float(weight)
            for (sym, anti), c in zip(split, choice):
                found = anti if c else sym
                if found is None:
                    break
                key.append(found[0])
                coefficient *= found[1]
            else:
                totals[tuple(key)] = totals.get(tuple(key), 0.0) + coefficient
    scale = max((abs(w) for w, _ in weighted), default=1.0)
    return [(total, tuple(parts[i] for i in key)) for key, total in totals.items() if abs(total) > 1e-12 * scale]


def rotation_mean_terms(kernels):
    """The mean of a separable kernel over its right-angle rotations, as a few separable terms.

    :func:`separable_sum_terms` of the 24 (or 4) rotated kernels: the mean of ``L, L, H``
    wavelet kernels is 3 terms of symmetric parts, that of ``H, H, H`` one term, a kernel
    with an antisymmetric factor none (its rotations come in +- pairs), and no kernel needs
    more than 2 x 3! terms. Returns ``[(coefficient, (kernel per axis)), ...]``; the
    mean-pooled response is the sum of the coefficient-weighted term responses (equal to
    the mean of the responses to every rotation, :func:`rotations` giving each distinct
    rotation the same multiplicity).
    """
    kernels = [np.asarray(k, dtype=np.float64) for k in kernels]
    group = _rotation_group(len(kernels))
    return separable_sum_terms([(1.0 / len(group), _rotate(kernels, perm, signs)) for perm, signs in group])


def _rotate(kernels, perm, signs):
    return tuple(kernels[p] if s > 0 else kernels[p][::-1] for p, s in zip(perm, signs))


def _signed_groups(rotated):
    """`rotated` kernel tuples grouped by the tensor they make up to its sign:
    ``[(kernels, {+1, -1} signs present), ...]`` (a reversed antisymmetric kernel negates
    the response, so a rotation and its negative need one convolution)."""
    groups = {}
    for kernels in rotated:
        canonical, sign = [], 1
        for k in kernels:
            first = k[np.flatnonzero(k)[0]] if np.any(k) else 1.0
            flip = -1 if first < 0 else 1
            canonical.append(flip * k + 0.0)  # + 0.0: no negative zeros in the key
            sign *= flip
        key = tuple(c.tobytes() for c in canonical)
        entry = groups.setdefault(key, (tuple(canonical), set()))
        entry[1].add(sign)
    return list(groups.values())


def _check_pooling(pooling):
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {list(POOLINGS)}; got {pooling!r}")
    return pooling


def _convolve(image, kernels, mode, cval, backend):
    """Convolution with one odd, centred kernel per trailing axis (the others untouched)."""
    taps = [None] * (image.ndim - len(kernels)) + [k[::-1] for k in kernels]  # correlation taps
    return filters.separable(image, taps, mode=mode, cval=cval, backend=backend)


def _pool(responses, pooling):
    """Pool the arrays `responses` yields, each as it comes (the first is pooled into in place)."""
    pool, count = None, 0
    for response in responses:
        count += 1
        if pool is None:
            pool = response
        elif pooling == "max":
            np.maximum(pool, response, out=pool)
        elif pooling == "min":
            np.minimum(pool, response, out=pool)
        else:
            pool += response
    if pooling == "mean":
        pool /= count
    return pool


def _sum_plan(outputs, axes, ndim, mode, cval, name):
    """A FilterPlan of `outputs`, each a list of ``(coefficient, convolution kernel per axis of `axes`)``."""
    from ._validate import check_modes_on_axes
    from .kernels import FIR
    from .plan import FilterPlan, Output, Term

    planned = []
    for terms in outputs:
        out_terms = []
        for coefficient, kernels in terms:
            ops = [None] * ndim
            for axis, k in zip(axes, kernels):
                ops[axis] = FIR(np.ascontiguousarray(k[::-1]))  # convolution kernel -> correlation taps
            out_terms.append(Term(float(coefficient), tuple(ops)))
        planned.append(Output(tuple(out_terms)))
    return FilterPlan(tuple(planned), check_modes_on_axes(mode, axes, ndim), float(cval), None, name, tuple(axes))


def _convolve_sum(image, terms, mode, cval, backend):
    """The sum of coefficient-weighted separable convolutions, as one plan (leading passes shared)."""
    n = np.ndim(image)
    axes = tuple(range(n - len(terms[0][1]), n))
    return filters.run_plan(_sum_plan([terms], axes, n, mode, cval, "rotation mean"), image, backend=backend)


def _pooled(image, kernels, rotation_invariant, pooling, mode, cval, backend):
    """The response, or its pooling over the right-angle rotations of the kernel.

    Mean and sum pooling are linear: one plan of the few terms :func:`rotation_mean_terms`
    leaves (sum = mean x the number of distinct rotations). Max and min pool the
    distinct rotated responses as they are produced, a rotation and its negative (a
    reversed antisymmetric kernel) from one convolution: ``max(r, -r) = |r|``.
    """
    if not rotation_invariant:
        return _convolve(image, kernels, mode, cval, backend)
    if pooling in ("mean", "sum"):
        terms = rotation_mean_terms(kernels)
        scale = 1.0 if pooling == "mean" else float(len(rotations(kernels)))
        if not terms:  # every rotation cancels another
            return _convolve(image, [np.zeros(1)] * len(kernels), mode, cval, backend)
        return _convolve_sum(image, [(c * scale, ks) for c, ks in terms], mode, cval, backend)

    def responses():
        for canonical, signs in _signed_groups(rotations(kernels)):
            response = _convolve(image, canonical, mode, cval, backend)
            if len(signs) == 2:
                response = abs(response) if pooling == "max" else -abs(response)
            elif signs == {-1}:
                response = -response
            yield response

    return _pool(responses(), pooling)


def _check_dimensions(image, dimensions):
    if dimensions not in (2, 3):
        raise ValueError(f"`dimensions` must be 2 (in-plane, each axial slice) or 3; got {dimensions!r}")
    if np.ndim(image) < dimensions:
        raise ValueError(f"`image` must have at least {dimensions} axes for a {dimensions}-D filter; "
                         f"got {np.ndim(image)}")
    return dimensions


def _lazy_if_dask(image, filtered, compute):
    """`compute(image)`, or for a dask array a lazy one: blocks whole along the last `filtered` axes.

    The FFT filters (Gabor, Simoncelli, Riesz) reach across a whole plane or volume, so a
    dask array is rechunked to one chunk along the filtered axes and computed block by
    block along the others (each axial slab on its own for in-plane filters).
    """
    from . import backends

    if backends.array_kind(image) != "dask":
        return compute(image)
    n = image.ndim
    whole = image.rechunk({axis: -1 for axis in range(n - filtered, n)})
    dtype = np.float64 if image.dtype == np.float64 else np.float32
    return whole.map_blocks(compute, dtype=dtype)


def mean(image, size, *, dimensions=3, mode="reflect", cval=0.0, backend="auto"):
    """IBSI's mean filter: the average over a cube (or, in 2-D, a square) of `size` voxels.

    Parameters
    ----------
    image : array_like
        The volume, ``(z, y, x)``; ``dimensions=2`` filters the last two axes only.
    size : int
        The support in voxels (odd, as IBSI's configurations use).
    dimensions : {3, 2}
    mode, cval, backend
        As :func:`sep3d.box` (scipy's mode names; IBSI's: :data:`IBSI_BOUNDARIES`).

    Returns
    -------
    ndarray
        float32 for integer and float32 input, float64 for float64.
    """
    _check_dimensions(image, dimensions)
    (size,) = check_positive(size, 1, "size")
    n = np.ndim(image)
    return filters.box(image, int(size), axes=tuple(range(n - dimensions, n)), mode=mode, cval=cval,
                       backend=backend)


def log(image, sigma, *, spacing=None, truncate=4.0, dimensions=3, mode="reflect", cval=0.0, backend="auto"):
    """IBSI's Laplacian of Gaussian: the sampled second derivatives of a Gaussian, summed.

    Not scale-normalised; cut off at ``ceil(truncate * sigma / spacing)`` voxels on each
    axis (IBSI's cut-off in sigmas). The derivatives are per voxel: the consensus maps
    hold the filter of the Gaussian of `sigma` mm sampled on the grid, in voxel units.

    Parameters
    ----------
    image : array_like
    sigma : float
        Standard deviation, in the units of `spacing` (voxels without it).
    spacing : float or sequence of float, optional
        Voxel size per filtered axis (array order).
    truncate : float
        The cut-off in sigmas (IBSI's default is 4).
    dimensions : {3, 2}
    mode, cval, backend
        As :func:`sep3d.gaussian`.
    """
    _check_dimensions(image, dimensions)
    n = np.ndim(image)
    axes = tuple(range(n - dimensions, n))
    (sigma,) = check_positive(sigma, 1, "sigma")
    spacing = (1.0,) * dimensions if spacing is None else tuple(check_positive(spacing, dimensions, "spacing"))
    voxels = [sigma / s for s in spacing]
    radius = [_reach(float(truncate) * v) for v in voxels]
    return filters.laplacian_of_gaussian(image, voxels, axes=axes, radius=radius, mode=mode, cval=cval,
                                         backend=backend)


def laws(image, kernel, *, energy=False, delta=7, rotation_invariant=False, pooling="max", mode="reflect",
         cval=0.0, backend="auto"):
    """A Laws kernel response, optionally rotation-invariant and as an energy map (IBSI 2).

    Parameters
    ----------
    image : array_like
        ``(z, y, x)``; a 2-D kernel name (``"L5S5"``) filters each axial slice in-plane.
    kernel : str
        The 1-D kernels from x: ``"E5L5S5"`` (3-D) or ``"L5S5"`` (2-D); see :data:`LAWS_KERNELS`.
    energy : bool
        Return the energy map: the mean of ``|response|`` over a window of
        ``2 * delta + 1`` voxels per filtered axis (same boundary), after pooling.
    delta : int
        The energy window's half-width in voxels (IBSI's 7).
    rotation_invariant : bool
        Pool the responses to the 24 (3-D) or 4 (2-D) right-angle rotations.
    pooling : {'max', 'min', 'mean', 'sum'}
    mode, cval, backend
        As :func:`sep3d.separable`.
    """
    kernels = laws_kernels(kernel)
    _check_dimensions(image, len(kernels))
    _check_pooling(pooling)
    response = _pooled(image, kernels, rotation_invariant, pooling, mode, cval, backend)
    if not energy:
        return response
    (delta,) = check_positive(delta, 1, "delta")
    n = np.ndim(response)
    return filters.box(np.abs(response), 2 * int(delta) + 1, axes=tuple(range(n - len(kernels), n)), mode=mode,
                       cval=cval, backend=backend)


def wavelet(image, wavelet, band, *, level=1, rotation_invariant=False, pooling="mean", mode="reflect", cval=0.0,
            backend="auto"):
    """One band of the undecimated separable wavelet transform, as IBSI defines it.

    Parameters
    ----------
    image : array_like
        ``(z, y, x)``; a 2-letter band (``"LH"``) filters each axial slice in-plane.
    wavelet : str
        A PyWavelets discrete wavelet (``"db2"``, ``"coif1"``, ``"haar"``, ...).
    band : str
        ``L``/``H`` per axis from x (``"LHL"``: low-pass along x and z, high-pass along y).
    level : int
        Decomposition level, >= 1 (see :func:`wavelet_kernels`).
    rotation_invariant : bool
        Pool the band over the right-angle rotations of its kernel.
    pooling : {'mean', 'max', 'min', 'sum'}
    mode, cval, backend
        As :func:`sep3d.separable`.
    """
    _pywt_wavelet(wavelet, band, level)
    _check_dimensions(image, len(band))
    _check_pooling(pooling)
    if level == 1 or mode in ("wrap", "grid-wrap"):  # one pass of the composite kernel is exact
        return _pooled(image, wavelet_kernels(wavelet, band, level), rotation_invariant, pooling, mode, cval,
                       backend)
    return _staged_pooled(image, wavelet_stages(wavelet, band, level), rotation_invariant, pooling, mode, cval,
                          backend)


def _staged_rotation_mean(image, stages, scale, mode, cval, backend):
    """`scale` x the mean over the rotations of a staged separable response, as a few operator terms.

    Along one axis the stages form a linear operator ``T`` (passes with the boundary in
    between) and the reversed stages ``T'``; a rotation puts ``T`` or ``T'`` of some axis on
    each axis. With ``S = T + T'`` and ``A = T - T'`` (``T = (S + A) / 2``, ``T' = (S - A) / 2``)
    the mean over the group expands, as :func:`separable_sum_terms` does for kernels, into
    a few products of ``S`` and ``A`` per axis (one for ``HHH``, three for ``LLH``): each
    costs two runs of the stages per axis, instead of a run per rotation.
    """
    n = len(stages[0])
    sequences, ids = [], []
    for axis in range(n):
        sequence = tuple(stage[axis] for stage in stages)
        key = tuple(k.tobytes() for k in sequence)
        known = [i for i, other in enumerate(sequences) if tuple(k.tobytes() for k in other) == key]
        if not known:
            sequences.append(sequence)
        ids.append(known[0] if known else len(sequences) - 1)
    symmetric = [all(np.array_equal(k, k[::-1]) for k in sequence) for sequence in sequences]
    group = _rotation_group(n)
    totals = {}
    for perm, signs in group:
        for choice in itertools.product((0, 1), repeat=n):  # 0: S, 1: A on each axis
            if any(c and symmetric[ids[perm[j]]] for j, c in enumerate(choice)):
                continue  # A = 0 for a symmetric sequence
            key = tuple((ids[perm[j]], c) for j, c in enumerate(choice))
            sign = math.prod(signs[j] for j, c in enumerate(choice) if c)
            totals[key] = totals.get(key, 0.0) + sign * scale / (len(group) * 2 ** n)
    axes = range(np.ndim(image) - n, np.ndim(image))

    def along(data, axis, sequence, reverse):  # the stages along one axis, each pass with the boundary
        for k in sequence:
            taps = [None] * np.ndim(data)
            taps[axis] = k if reverse else k[::-1]  # correlation taps of the (reversed) kernel
            data = filters.separable(data, taps, mode=mode, cval=cval, backend=backend)
        return data

    total = None
    for key, coefficient in totals.items():
        if abs(coefficient) < 1e-15:
            continue
        out = image
        for axis, (sid, c) in zip(axes, key):
            forward, backward = along(out, axis, sequences[sid], False), along(out, axis, sequences[sid], True)
            out = forward - backward if c else forward + backward
        out = coefficient * out
        total = out if total is None else total + out
    if total is None:
        return _convolve(image, [np.zeros(1)] * n, mode, cval, backend)
    return total


def _staged_pooled(image, stages, rotation_invariant, pooling, mode, cval, backend):
    """A response made of successive separable passes (each with the boundary), pooled over rotations.

    A rotation turns every stage alike. Rotations whose leading stages agree share them
    (one filtered image per distinct leading stages); over each such group a mean or sum
    is one plan of :func:`separable_sum_terms` of the last stages, a max or min pools
    the last stages' responses as they come.
    """
    n = len(stages[0])
    group = _rotation_group(n) if rotation_invariant else [(tuple(range(n)), (1,) * n)]
    distinct = {}
    for perm, signs in group:
        rotated = [_rotate(stage, perm, signs) for stage in stages]
        distinct.setdefault(tuple(k.tobytes() for stage in rotated for k in stage), rotated)
    if rotation_invariant and pooling in ("mean", "sum"):
        scale = 1.0 if pooling == "mean" else float(len(distinct))
        return _staged_rotation_mean(image, stages, scale, mode, cval, backend)
    leading = {}
    for rotated in distinct.values():
        key = tuple(k.tobytes() for stage in rotated[:-1] for k in stage)
        leading.setdefault(key, (rotated[:-1], []))[1].append(rotated[-1])

    def filtered(pre):
        out = image
        for stage in pre:
            out = _convolve(out, stage, mode, cval, backend)
        return out

    def responses():
        for pre, finals in leading.values():
            base = filtered(pre)
            for final in finals:
                yield _convolve(base, final, mode, cval, backend)

    return _pool(responses(), pooling)


def gabor_kernel(sigma, wavelength, gamma=1.0, theta=0.0, *, spacing=(1.0, 1.0), truncate=4.0):
    """IBSI's 2-D Gabor kernel, complex, sampled on a ``(rows, columns)`` = ``(y, x)`` grid.

    ``exp(-(u^2 + gamma^2 v^2) / (2 sigma^2)) exp(2 pi i u / wavelength)`` with
    ``u = x cos(theta) + y sin(theta)``, ``v = -x sin(theta) + y cos(theta)`` (theta in
    radians, from x towards y), not normalised, sampled at the physical offsets of the
    grid and cut off at ``truncate`` times the envelope's widest standard deviation
    (``sigma / min(gamma, 1)``) on each axis.
    """
    (sigma, wavelength, gamma) = check_positive((sigma, wavelength, gamma), 3, "sigma, wavelength, gamma")
    sy, sx = check_positive(spacing, 2, "spacing")
    widest = float(truncate) * sigma / min(gamma, 1.0)
    ry, rx = (_reach(widest / s) for s in (sy, sx))
    y, x = np.meshgrid(np.arange(-ry, ry + 1) * sy, np.arange(-rx, rx + 1) * sx, indexing="ij")
    u = x * math.cos(theta) + y * math.sin(theta)
    v = -x * math.sin(theta) + y * math.cos(theta)
    return np.exp(-(u * u + gamma * gamma * v * v) / (2.0 * sigma * sigma)) * np.exp(2j * math.pi * u / wavelength)


def _plane_spectrum(image, kernel_shape, axes, mode, cval, dtype):
    """The 2-D FFT over `axes` of `image` extended by half the kernel on each side (the boundary).

    The transform is zero-padded further to fast lengths (as the planner prices it); the
    valid part of the circular convolution (:func:`_plane_response`) stays the same.
    """
    from scipy import fft

    from .backends.threads import get_num_threads

    reach = [(0, 0)] * image.ndim
    for axis, n in zip(axes, kernel_shape):
        reach[axis] = (n // 2, n // 2)
    padded = extend_boundary(image.astype(dtype, copy=False), reach, check_mode(mode, image.ndim), cval)
    shape = [fft.next_fast_len(padded.shape[a]) for a in axes]
    return fft.fft2(padded, s=shape, axes=axes, workers=get_num_threads())


def _plane_response(spectrum, kernel, axes, size):
    """The convolution of each plane with the 2-D `kernel`, from the padded image's `spectrum`.

    Circular convolution on the padded grid, of which the last `size` samples per axis (the
    'valid' part) are the linear convolution of the original planes.
    """
    from scipy import fft

    from .backends.threads import get_num_threads

    shape = [spectrum.shape[a] for a in axes]
    kernel_spectrum = fft.fft2(kernel.astype(spectrum.dtype, copy=False), s=shape, workers=get_num_threads())
    view = [1] * spectrum.ndim
    view[axes[0]], view[axes[1]] = shape
    out = fft.ifft2(spectrum * kernel_spectrum.reshape(view), axes=axes, workers=get_num_threads(),
                    overwrite_x=True)
    crop = [slice(None)] * spectrum.ndim
    for axis, n, k in zip(axes, size, kernel.shape):
        crop[axis] = slice(k - 1, k - 1 + n)
    return out[tuple(crop)]


#: How :func:`gabor` convolves: planned, by FFT, or as complex separable terms.
GABOR_METHODS = ("auto", "fft", "separable")


def gabor_terms(kernel, rtol=1e-4):
    """The fewest complex rank-1 terms ``(column, row)`` whose sum is the 2-D `kernel` to `rtol`.

    ``kernel ~= sum(outer(column, row))`` by the SVD, truncated where the Frobenius norm of
    what is left is at most ``rtol`` times the kernel's (the response then differs from the
    full kernel's by at most that fraction of ``|kernel| |image|`` in the L2 sense). A Gabor
    kernel with ``gamma = 1``, or oriented along an axis, is rank 1.
    """
    kernel = np.asarray(kernel)
    factors, _ = svd_terms(kernel, None, float(rtol), min(kernel.shape))
    return [(scale * column, row) for scale, (column, row) in factors]


def _gabor_plan(terms, axes, ndim, parts, mode, cval):
    """One FilterPlan whose outputs are the `parts` ('real', 'imaginary') of the complex separable sum.

    A real image convolved with ``column (x) row`` (complex) is, per part, a sum of real
    separable terms: real = cr rr - ci ri, imaginary = cr ri + ci rr (terms with an all-zero
    factor left out). Column passes (the first axis) are shared between the two parts by
    the plan's schedule.
    """
    outputs = []
    for part in parts:
        real_terms = []
        for column, row in terms:
            pairs = ([(1.0, column.real, row.real), (-1.0, column.imag, row.imag)] if part == "real" else
                     [(1.0, column.real, row.imag), (1.0, column.imag, row.real)])
            real_terms += [(sign, (c, r)) for sign, c, r in pairs if np.any(c) and np.any(r)]
        outputs.append(real_terms or [(1.0, (np.zeros(1), np.zeros(1)))])  # an all-zero part
    return _sum_plan(outputs, axes, ndim, mode, cval, "gabor")


def _separable_response(image, terms, axes, parts, mode, cval, backend):
    """The complex response (as the wanted parts) of `image` to the separable `terms`, one plan."""
    stacked = filters.run_plan(_gabor_plan(terms, axes, image.ndim, parts, mode, cval), image, backend=backend,
                       stacked=True)
    return dict(zip(parts, stacked))


def gabor(image, sigma, wavelength, *, gamma=1.0, theta=0.0, theta_step=None, planes="axial", pooling="mean",
          response="modulus", spacing=None, truncate=4.0, mode="reflect", cval=0.0, method="auto", rtol=1e-4,
          backend="auto"):
    """IBSI's Gabor filter: a complex 2-D filter in each plane, pooled over orientations and planes.

    Parameters
    ----------
    image : array_like
        ``(z, y, x)`` (or ``(y, x)`` with ``planes="axial"``).
    sigma, wavelength : float
        The envelope's standard deviation and the carrier's wavelength, in the units of
        `spacing` (voxels without it).
    gamma : float
        Spatial aspect ratio of the envelope.
    theta : float
        Orientation in degrees, from x towards y (one orientation).
    theta_step : float, optional
        Pool the responses of the orientations ``0, step, 2 step, ...`` over a full turn
        instead of `theta`.
    planes : {'axial', 'orthogonal'}
        Filter the axial planes ``(y, x)`` only, or average the pooled responses of the
        axial, coronal ``(z, x)`` and sagittal ``(z, y)`` planes.
    pooling : {'mean', 'max', 'min', 'sum'}
        How orientations are pooled.
    response : {'modulus', 'real', 'imaginary'}
        The part of the complex response that is pooled.
    spacing : sequence of float, optional
        Voxel size per axis (array order).
    truncate : float
        Kernel cut-off in standard deviations of the envelope's wider axis.
    mode, cval
        scipy's boundary modes (IBSI's: :data:`IBSI_BOUNDARIES`).
    method : {'auto', 'fft', 'separable'}
        'fft': one FFT of the padded planes, one inverse per orientation. 'separable': each
        kernel as the complex rank-1 terms of :func:`gabor_terms` (to `rtol`), run as one
        sep3d plan per orientation on `backend`. 'auto': the planner's prediction
        (:func:`sep3d.planner.plane_methods`) per plane.
    rtol : float
        The accuracy of the separable terms (relative Frobenius norm of the kernel left out).
    backend : str
        The engine of the separable plans.

    Returns
    -------
    ndarray
        float32 unless `image` is float64 (a lazy dask array for dask input).

    Notes
    -----
    The kernel at ``theta + 180`` degrees is the conjugate of the one at `theta`, so a
    real image's response to it is the conjugate response: each such pair is computed once.
    """
    _check_pooling(pooling)
    if response not in GABOR_RESPONSES:
        raise ValueError(f"`response` must be one of {list(GABOR_RESPONSES)}; got {response!r}")
    if planes not in _PLANES:
        raise ValueError(f"`planes` must be one of {sorted(_PLANES)}; got {planes!r}")
    if method not in GABOR_METHODS:
        raise ValueError(f"`method` must be one of {list(GABOR_METHODS)}; got {method!r}")
    check_mode(mode, 1)
    (rtol,) = check_positive(rtol, 1, "rtol")
    _check_dimensions(image, 3 if planes == "orthogonal" else 2)
    spacing = (1.0,) * np.ndim(image) if spacing is None else tuple(check_positive(spacing, np.ndim(image),
                                                                                    "spacing"))
    if theta_step is None:
        thetas = [float(theta)]
    else:
        (step,) = check_positive(theta_step, 1, "theta_step")
        thetas = list(np.arange(0.0, 360.0 - 1e-9, step))
    part = {"modulus": np.abs, "real": lambda z: z.real.copy(), "imaginary": lambda z: z.imag.copy()}[response]
    parts = {"modulus": ("real", "imaginary"), "real": ("real",), "imaginary": ("imaginary",)}[response]
    # The kernel at theta + 180 degrees is the conjugate of the one at theta: a real image's
    # response to it is the conjugate response (same modulus and real part, imaginary negated).
    halves = {}
    for angle in thetas:
        halves.setdefault(round(angle % 180.0, 9), []).append(angle % 360.0 >= 180.0)

    # Kernels, their separable terms and the method depend on the plane's spacing (and the
    # block's shape), not on the data: made once per plane, not per orientation pass or block.
    made = {}

    def once(key, make):
        if key not in made:
            made[key] = make()
        return made[key]

    def kernels(plane_spacing):
        return once(("kernels", plane_spacing), lambda: [
            gabor_kernel(sigma, wavelength, gamma, math.radians(angle), spacing=plane_spacing, truncate=truncate)
            for angle in halves])

    def terms(plane_spacing):
        return once(("terms", plane_spacing), lambda: [gabor_terms(k, rtol) for k in kernels(plane_spacing)])

    def chosen(shape, axes, dtype, plane_spacing):
        if method != "auto":
            return method
        from .planner import plane_methods

        return once(("method", shape, axes, dtype, plane_spacing), lambda: plane_methods(
            kernels(plane_spacing)[0].shape, [len(t) for t in terms(plane_spacing)], shape, axes, len(parts),
            dtype).choice)

    def oriented(image, axes):  # the responses of one plane, one orientation pair after the other
        axes = tuple(a % image.ndim for a in axes)
        plane_spacing = tuple(spacing[a] for a in axes)
        how = chosen(image.shape, axes, image.dtype, plane_spacing)
        spectrum = None
        for index, (kernel, conjugates) in enumerate(zip(kernels(plane_spacing), halves.values())):
            if how == "fft":
                if spectrum is None:
                    complex_dtype = np.complex128 if image.dtype == np.float64 else np.complex64
                    spectrum = _plane_spectrum(image, kernel.shape, axes, mode, cval, complex_dtype)
                out = part(_plane_response(spectrum, kernel, axes, [image.shape[a] for a in axes]))
            else:
                found = _separable_response(image, terms(plane_spacing)[index], axes, parts, mode, cval, backend)
                out = np.hypot(found["real"], found["imaginary"]) if response == "modulus" else found[parts[0]]
            flipped = -out if response == "imaginary" else out
            for k, conjugate in enumerate(conjugates):
                value = flipped if conjugate else out
                yield value if k == 0 else value.copy()  # the pool may be the first one, updated in place

    def compute(block):
        dtype = np.float64 if block.dtype == np.float64 else np.float32
        block = np.asarray(block, dtype=dtype)
        pooled = _pool((_pool(oriented(block, axes), pooling) for axes in _PLANES[planes]), "mean")
        return pooled.astype(dtype, copy=False)

    return _lazy_if_dask(image, 3 if planes == "orthogonal" else 2, compute)


# ---------------------------------------------------------------------------------------
# Filters defined in the Fourier domain: Simoncelli and Riesz

#: What :func:`riesz` transforms.
RIESZ_BASES = ("log", "simoncelli")


def ibsi_frequencies(shape):
    """IBSI's frequency coordinate along each axis of a DFT grid of `shape`, in DFT order.

    The consensus maps sample the transfer functions on the *centred* grid
    ``(k - (n - 1) / 2) / ((n - 1) / 2)``, ``k = 0..n-1``, which spans ``[-1, 1]`` (1 is
    the Nyquist frequency) and is read as the spectrum after ``fftshift``. For an odd `n`
    that is the DFT's own frequency scaled to ``[-1, 1]``; for an even `n` it is offset by
    half a bin (no sample at 0), which is why the filters take the real part of their
    response (:func:`simoncelli`, :func:`riesz`). Returns one 1-D array per axis.
    """
    grids = []
    for n in shape:
        if n == 1:
            grids.append(np.zeros(1))
            continue
        centre = (n - 1) / 2.0
        grids.append(np.fft.ifftshift((np.arange(n) - centre) / centre))
    return grids


def _coordinates(shape, indices):
    """IBSI's frequency coordinates of the DFT samples `indices` (one integer array per axis;
    all of them when None)."""
    grids = ibsi_frequencies(shape)
    return grids if indices is None else [g[np.asarray(i)] for g, i in zip(grids, indices)]


def _along(values, axis, nd):
    return np.reshape(values, [-1 if a == axis else 1 for a in range(nd)])


def _radial(grids):
    """The Euclidean norm of the broadcast frequency coordinates `grids`."""
    nd = len(grids)
    return np.sqrt(sum(_along(g * g, a, nd) for a, g in enumerate(grids)))


def simoncelli_transfer(shape, level=1, indices=None):
    """Simoncelli's band-pass on IBSI's frequency grid (:func:`ibsi_frequencies`) of `shape`.

    ``cos(pi / 2 * log2(2 nu / nu_max))`` for ``nu_max / 4 <= nu <= nu_max``, 0 elsewhere,
    with ``nu_max = 2 ** (1 - level)``: level 1 is the band just under the Nyquist
    frequency, each further level the band an octave lower. `indices` (one integer array
    per axis) restricts it to those DFT samples.
    """
    (level,) = _check_level(level)
    nu_max = 2.0 ** (1 - level)
    nu = _radial(_coordinates(shape, indices))
    band = (nu >= nu_max / 4) & (nu <= nu_max)
    out = np.zeros(nu.shape)
    out[band] = np.cos(0.5 * math.pi * np.log2(2.0 * nu[band] / nu_max))
    return out


def riesz_transfer(shape, order, indices=None):
    """The Riesz transform of `order` (one int per axis of `shape`, array order) on IBSI's grid.

    ``(-i)^L sqrt(L! / prod(l_a!)) prod(nu_a^l_a) / |nu|^L`` with ``L = sum(order)``
    (0 where ``|nu| = 0``); `indices` as :func:`simoncelli_transfer`.
    """
    grids = _coordinates(shape, indices)
    total = int(sum(order))
    scale = (-1j) ** total * math.sqrt(math.factorial(total) / math.prod(math.factorial(int(o)) for o in order))
    nd = len(shape)
    out = np.full(tuple(len(g) for g in grids), scale, dtype=np.complex128)
    for a, (g, o) in enumerate(zip(grids, order)):
        if o:
            out = out * _along(g ** int(o), a, nd)
    nu = _radial(grids) ** total
    return np.divide(out, nu, out=np.zeros_like(out), where=nu > 0)


def log_transfer(shape, sigma, truncate=4.0, indices=None):
    """The DFT of IBSI's sampled LoG kernel (:func:`log`) on a periodic grid of `shape`.

    `sigma` in voxels per axis; each axis' sampled Gaussian and second derivative, cut off
    at ``ceil(truncate * sigma)``, are wrapped onto the grid with their centre at index 0
    and transformed in 1-D; the 3-D transform is the sum over axes of the outer products
    (the kernel is a sum of separable terms). Real: the kernel is symmetric. `indices` as
    :func:`simoncelli_transfer`.
    """
    from .kernels import gaussian_taps

    nd = len(shape)
    smooth, second = [], []
    for axis, (n, s) in enumerate(zip(shape, sigma)):
        radius = _reach(float(truncate) * s)
        positions = np.arange(-radius, radius + 1) % n
        spectra = []
        for order in (0, 2):
            wrapped = np.zeros(n)
            np.add.at(wrapped, positions, gaussian_taps(s, order, radius))
            spectrum = np.fft.fft(wrapped).real
            spectra.append(spectrum if indices is None else spectrum[np.asarray(indices[axis])])
        smooth.append(spectra[0])
        second.append(spectra[1])
    total = 0.0
    for a in range(nd):
        term = 1.0
        for b in range(nd):
            term = term * _along(second[b] if a == b else smooth[b], b, nd)
        total = total + term
    return total


def _reach(extent):
    """Samples a kernel reaches on each side to cover `extent` voxels (ceil, robust to rounding)."""
    return int(math.ceil(extent - 1e-9))


def _check_level(level):
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 1:
        raise ValueError(f"`level` must be an int >= 1; got {level!r}")
    return (int(level),)


def _fourier_filter(image, transfer, dimensions, mode, cval, pad=None):
    """The real part of the response to the transfer function `transfer(shape, indices)` on the last axes.

    The boundary is honoured by padding before the FFT: nothing for periodic modes, else
    half of each filtered axis on both sides (at least `pad` voxels), so that the filter's
    reach sees the boundary rule rather than the opposite edge.
    """
    check_mode(mode, 1)
    return _lazy_if_dask(image, dimensions, lambda block: _fourier_block(block, transfer, dimensions, mode, cval,
                                                                         pad))


def _fourier_block(image, transfer, dimensions, mode, cval, pad):
    from scipy import fft

    from .backends.threads import get_num_threads

    source = np.asarray(image)
    dtype = np.float64 if source.dtype == np.float64 else np.float32
    data = source.astype(dtype, copy=False)  # float32 FFTs for float32 data: ~1e-6 of the range
    nd = data.ndim
    axes = tuple(range(nd - dimensions, nd))
    widths = [(0, 0)] * nd
    if check_mode(mode, 1)[0] != Mode.WRAP:
        for a in axes:
            w = max((data.shape[a] + 1) // 2, pad or 0)
            widths[a] = (w, w)
        data = extend_boundary(data, widths, check_mode(mode, nd), cval)
    shape = tuple(data.shape[a] for a in axes)
    # Re(ifft(X H)) = ifft(X (H(k) + conj(H(-k))) / 2) for a real image: a real FFT with the
    # Hermitian part of H, evaluated on the half spectrum the real FFT keeps.
    half = [np.arange(n) for n in shape[:-1]] + [np.arange(shape[-1] // 2 + 1)]
    negative = [(-i) % n for i, n in zip(half, shape)]
    hermitian = 0.5 * (transfer(shape, half) + np.conj(transfer(shape, negative)))
    hermitian = hermitian.astype(np.complex128 if dtype == np.float64 else np.complex64)
    workers = get_num_threads()
    spectrum = fft.rfftn(data, axes=axes, workers=workers)
    spectrum *= hermitian
    out = fft.irfftn(spectrum, s=shape, axes=axes, workers=workers)
    crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, source.shape))
    return np.ascontiguousarray(out[crop], dtype=dtype)


def simoncelli(image, level=1, *, dimensions=3, mode="reflect", cval=0.0):
    """IBSI's Simoncelli wavelet: one band of the non-separable, isotropic wavelet, by FFT.

    Parameters
    ----------
    image : array_like
        ``(z, y, x)``; ``dimensions=2`` filters each axial slice in-plane.
    level : int
        The decomposition level, >= 1 (:func:`simoncelli_transfer`).
    dimensions : {3, 2}
    mode, cval
        scipy's boundary modes (IBSI's: :data:`IBSI_BOUNDARIES`). Periodic ("wrap") is the
        FFT's own; any other pads each filtered axis by half its length first.

    Returns
    -------
    ndarray
        The real part of the response on IBSI's frequency grid (:func:`ibsi_frequencies`);
        float32 unless `image` is float64.
    """
    _check_dimensions(image, dimensions)
    (level,) = _check_level(level)
    return _fourier_filter(image, lambda shape, indices: simoncelli_transfer(shape, level, indices), dimensions,
                           mode, cval)


def riesz(image, order, *, base="log", sigma=None, spacing=None, truncate=4.0, level=1, dimensions=3,
          mode="reflect", cval=0.0):
    """IBSI's Riesz-transformed filter: a LoG or Simoncelli band, steered by the Riesz transform.

    Parameters
    ----------
    image : array_like
        ``(z, y, x)``; a 2-entry `order` filters each axial slice in-plane.
    order : sequence of int
        The Riesz order per axis **from x** (IBSI's ``(1, 0, 0)`` is the first-order
        transform along x, the last array axis).
    base : {'log', 'simoncelli'}
        The filter transformed: :func:`log` of `sigma` (cut off at `truncate` sigmas), or
        :func:`simoncelli` of `level`.
    sigma : float
        The LoG's standard deviation in the units of `spacing` (voxels without it).
    spacing : sequence of float, optional
        Voxel size per filtered axis (array order).
    truncate : float
    level : int
    mode, cval
        As :func:`simoncelli`.

    Returns
    -------
    ndarray
        The real part of the response; float32 unless `image` is float64.
    """
    order = tuple(order) if np.ndim(order) == 1 else None
    if order is None or len(order) not in (2, 3) or not all(
            isinstance(o, (int, np.integer)) and not isinstance(o, bool) and o >= 0 for o in order):
        raise ValueError("`order` must be 2 or 3 ints >= 0, one per axis from x")
    dimensions = _check_dimensions(image, len(order))
    array_order = order[::-1]
    if base == "simoncelli":
        (level,) = _check_level(level)

        def transfer(shape, indices):
            return simoncelli_transfer(shape, level, indices) * riesz_transfer(shape, array_order, indices)

        return _fourier_filter(image, transfer, dimensions, mode, cval)
    if base != "log":
        raise ValueError(f"`base` must be one of {list(RIESZ_BASES)}; got {base!r}")
    if sigma is None:
        raise ValueError("`sigma` is needed with base='log'")
    (sigma,) = check_positive(sigma, 1, "sigma")
    spacing = (1.0,) * dimensions if spacing is None else tuple(check_positive(spacing, dimensions, "spacing"))
    voxels = [sigma / s for s in spacing]
    reach = max(_reach(float(truncate) * v) for v in voxels)

    def transfer(shape, indices):
        return log_transfer(shape, voxels, truncate, indices) * riesz_transfer(shape, array_order, indices)

    return _fourier_filter(image, transfer, dimensions, mode, cval, pad=reach)
