"""1-D operators: the taps every separable filter is made of.

Every operator here is a correlation kernel in the sense of
``scipy.ndimage.correlate1d``: ``out[i] = sum_j taps[j] * in[i + j - left]`` with
``left = len(taps) // 2 + origin``. The halo a filter needs on each side of an axis
comes from the same object (:attr:`FIR.left`, :attr:`FIR.right`), so the taps and the
halo used for chunked execution can never disagree.
"""
from __future__ import annotations

import numpy as np

from ._validate import check_origin, check_weights

__all__ = [
    "FIR",
    "gaussian_taps",
    "gaussian_radius",
    "moving_average",
    "difference_taps",
    "sobel_taps",
    "prewitt_taps",
]


class FIR:
    """A finite impulse response operator along one axis (correlation taps + origin).

    Parameters
    ----------
    taps : array_like
        Correlation weights, applied as ``scipy.ndimage.correlate1d`` applies them.
    origin : int, optional
        Shift of the filter centre, scipy's meaning; ``-(K // 2) <= origin <= (K - 1) // 2``.
    divisor : float, optional
        The filtered value is divided by this after the taps are summed. A moving average
        is ``FIR(ones(K), divisor=K)``: exact on integer data, where ``ones(K) / K`` taps
        would give 4.999... for a constant 5 (and 4 after an integer cast).
    """

    __slots__ = ("taps", "origin", "divisor", "left", "right", "symmetry", "_key")

    def __init__(self, taps, origin=0, divisor=1.0):
        taps = check_weights(taps, "taps")
        (origin,) = check_origin(origin, (taps.size,), "origin")
        taps.setflags(write=False)
        self.taps = taps
        self.origin = origin
        self.divisor = float(divisor)
        if not (np.isfinite(self.divisor) and self.divisor != 0):
            raise ValueError(f"`divisor` must be finite and non-zero; got {divisor!r}")
        self.left = taps.size // 2 + origin
        self.right = taps.size - 1 - self.left
        self.symmetry = _symmetry(taps) if self.left == self.right else 0
        self._key = (taps.tobytes(), origin, self.divisor)

    @property
    def size(self):
        """Number of taps."""
        return self.taps.size

    @property
    def radius(self):
        """The larger of the two one-sided reaches."""
        return max(self.left, self.right)

    @property
    def key(self):
        """Hashable identity: two operators with equal keys give equal results."""
        return self._key

    def __eq__(self, other):
        return isinstance(other, FIR) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        div = "" if self.divisor == 1.0 else f", divisor={self.divisor:g}"
        return f"FIR(size={self.size}, origin={self.origin}{div}, symmetry={self.symmetry:+d})"


def _symmetry(taps):
    """+1 for even-symmetric, -1 for odd-symmetric (antisymmetric) taps, else 0."""
    rev = taps[::-1]
    if np.array_equal(taps, rev):
        return 1
    if np.array_equal(taps, -rev):
        return -1
    return 0


def gaussian_radius(sigma, truncate=4.0, radius=None):
    """The radius scipy.ndimage uses for a Gaussian: ``int(truncate * sigma + 0.5)``."""
    if radius is not None:
        return int(radius)
    return int(truncate * float(sigma) + 0.5)


def gaussian_taps(sigma, order=0, radius=4):
    """Correlation taps of a sampled, normalised Gaussian or one of its derivatives.

    The kernel is the ``order``-th derivative of ``exp(-x^2 / (2 sigma^2))`` sampled at
    integer offsets ``-radius..radius``, with the smoothing kernel scaled to sum to one
    (the convention of scipy.ndimage). Derivatives use the probabilists' Hermite
    polynomials: ``d^n/dx^n g(x) = (-1/sigma)^n He_n(x / sigma) g(x)``.

    Parameters
    ----------
    sigma : float
        Standard deviation in samples, > 0.
    order : int
        Derivative order, >= 0.
    radius : int
        Half-width; the kernel has ``2 * radius + 1`` taps.

    Returns
    -------
    numpy.ndarray
        float64 correlation taps (the convolution kernel reversed).
    """
    sigma = float(sigma)
    if not sigma > 0:
        raise ValueError(f"`sigma` must be > 0 for a Gaussian kernel; got {sigma!r}")
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 * (x / sigma) ** 2)
    phi /= phi.sum()
    if order == 0:
        return phi
    t = x / sigma
    he_prev, he = np.ones_like(t), t.copy()  # He_0, He_1
    for n in range(1, order):
        he_prev, he = he, t * he - n * he_prev
    kernel = (-1.0 / sigma) ** order * he * phi
    return kernel[::-1].copy()


def moving_average(size, origin=0):
    """A moving average of ``size`` samples: ones, divided by ``size`` after the sum."""
    return FIR(np.ones(int(size)), origin, divisor=int(size))


def difference_taps(order):
    """Central finite differences: first order ``[-1, 0, 1]``, second ``[1, -2, 1]``."""
    if order == 1:
        return np.array([-1.0, 0.0, 1.0])
    if order == 2:
        return np.array([1.0, -2.0, 1.0])
    raise ValueError(f"`order` must be 1 or 2 for a finite difference; got {order!r}")


def sobel_taps():
    """Sobel: the derivative taps and the smoothing taps applied on the other axes."""
    return np.array([-1.0, 0.0, 1.0]), np.array([1.0, 2.0, 1.0])


def prewitt_taps():
    """Prewitt: the derivative taps and the smoothing taps applied on the other axes."""
    return np.array([-1.0, 0.0, 1.0]), np.array([1.0, 1.0, 1.0])
