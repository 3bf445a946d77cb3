"""1-D operators: the taps every separable filter is made of.

Every operator here is a correlation kernel in the sense of
``scipy.ndimage.correlate1d``: ``out[i] = sum_j taps[j] * in[i + j - left]`` with
``left = len(taps) // 2 + origin``. The halo a filter needs on each side of an axis
comes from the same object (:attr:`FIR.left`, :attr:`FIR.right`), so the taps and the
halo used for chunked execution can never disagree.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy.signal import lfilter

from ._validate import check_origin, check_weights

__all__ = [
    "FIR",
    "gaussian_taps",
    "gaussian_radius",
    "moving_average",
    "difference_taps",
    "sobel_taps",
    "prewitt_taps",
    "IIR",
    "recursive_gaussian",
    "RECURSIVE_TOLERANCE",
    "VaryingFIR",
    "savgol_taps",
    "savgol_local",
    "local_gaussian",
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
    kind : {"taps", "moving_average"}, optional
        What the operator is: scipy.ndimage computes a moving average
        (``uniform_filter1d``) as a running sum, other taps (``correlate1d``) as sums
        per sample; the engine that reproduces scipy's arithmetic needs to know which.
    """

    __slots__ = ("taps", "origin", "divisor", "left", "right", "symmetry", "kind", "_key")

    def __init__(self, taps, origin=0, divisor=1.0, kind="taps"):
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
        if kind not in ("taps", "moving_average"):
            raise ValueError(f"`kind` must be 'taps' or 'moving_average'; got {kind!r}")
        if kind == "moving_average" and not (np.all(taps == 1.0) and self.divisor == taps.size):
            raise ValueError("a 'moving_average' FIR must be ones(K) with divisor K")
        self.kind = kind
        self._key = (taps.tobytes(), origin, self.divisor, kind)

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
    (the convention of scipy.ndimage). The derivative is ``q_n(x) phi(x)`` with the
    polynomials ``q_0 = 1``, ``q_{n+1} = q_n' - x q_n / sigma^2``; the taps are computed
    with the same floating-point operations as scipy.ndimage's, so they are its taps
    bit for bit (which an integer result truncated after every pass needs).

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
    order, radius = int(order), int(radius)
    variance = sigma * sigma
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / variance * x ** 2)
    phi = phi / phi.sum()
    if order == 0:
        return phi
    # coefficients of q_n in the powers 0..order of x; one step of the recurrence is the
    # matrix D + P (D: the derivative, P: the product with -x / sigma^2)
    powers = np.arange(order + 1)
    step = np.diag(powers[1:], 1) + np.diag(np.ones(order) / -variance, -1)
    q = np.zeros(order + 1)
    q[0] = 1.0
    for _ in range(order):
        q = step.dot(q)
    kernel = (x[:, None] ** powers).dot(q) * phi
    return kernel[::-1].copy()


def moving_average(size, origin=0):
    """A moving average of ``size`` samples: ones, divided by ``size`` after the sum."""
    return FIR(np.ones(int(size)), origin, divisor=int(size), kind="moving_average")


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


# ---------------------------------------------------------------------------------------
# recursive (IIR) operators

#: The reach of a recursive operator: the impulse response mass beyond it is at most this
#: fraction of the whole (below float32 rounding), so chunk halos and the boundary
#: extension of the non-``nearest`` modes cut nothing that float32 could hold.
RECURSIVE_TOLERANCE = 1e-9

#: Smallest sigma (samples) for which the recursive derivatives of orders 1 and 2 have
#: finite coefficients (their normalisation overflows just below 0.0019).
RECURSIVE_MIN_SIGMA = 0.002

# Deriche's fit of the Gaussian and its derivatives by sums of two damped cosines, with the
# constants of ITK's RecursiveGaussianImageFilter (Deriche 1993, INRIA RR-1893): the weights
# a, b per derivative order and the shared frequencies w and decays l.
_DERICHE_W = (0.6681, 2.0787)
_DERICHE_L = (-1.3932, -1.3732)
_DERICHE_AB = {  # order: (a1, b1, a2, b2)
    0: (1.3530, 1.8151, -0.3531, 0.0902),
    1: (-0.6724, -3.4327, 0.6724, 0.6100),
    2: (-1.3563, 5.2318, 0.3446, -2.2355),
}


class IIR:
    """A recursive operator along one axis: a 4th-order causal plus anticausal recursion.

    ``y = y_causal + y_anticausal`` with
    ``y_c[i] = n0 x[i] + n1 x[i-1] + n2 x[i-2] + n3 x[i-3] - (d1 y_c[i-1] + ... + d4 y_c[i-4])``
    and ``y_a[i] = m1 x[i+1] + ... + m4 x[i+4] - (d1 y_a[i+1] + ... + d4 y_a[i+4])``: the form
    (and the coefficient names) of ITK's ``RecursiveSeparableImageFilter``. Each recursion
    starts in the steady state of a constant extension by the edge sample (ITK's boundary
    coefficients ``bn``/``bm``), which is scipy's ``nearest`` mode; the other modes extend
    each line by :attr:`reach` samples first. The cost per sample does not depend on the
    width of the impulse response.

    Parameters
    ----------
    n, d, m : sequence of 4 float
        Causal input weights ``n0..n3``, feedback ``d1..d4``, anticausal input weights
        ``m1..m4``.
    label : str, optional
        What the operator is, for :func:`sep3d.describe`.

    Attributes
    ----------
    coef : numpy.ndarray
        float64 ``[n0..n3, d1..d4, m1..m4, bn1..bn4, bm1..bm4]`` (what the kernels read).
    reach : int
        Samples on each side beyond which the impulse response holds less than
        :data:`RECURSIVE_TOLERANCE` of its absolute mass (the halo of chunked runs).
    sections : numpy.ndarray or None
        The same recursion as four second-order sections, rows ``[p0, p1, a1, a2]``
        (causal 1, causal 2, anticausal 1, anticausal 2; partial fractions over the two
        pole pairs of the feedback): ``y[t] = p0 x[t] + p1 x[t-1] - a1 y[t-1] - a2 y[t-2]``,
        the anticausal ones on the input shifted by one (``x[t+1]``, ``x[t+2]``). Sections
        round far less than the 4th-order direct form; ``None`` when the two pole pairs
        share a pole (no partial fractions), and the direct form is run.
    mirror_sign : int
        +1 (-1) when each anticausal section is its causal partner mirrored (negated),
        ``g_{s+2}[i] = sign h_s[i + 1]``: the Gaussian and its second derivative (first
        derivative); 0 otherwise or without sections. The CPU engine then starts the
        causal sections of the ``reflect`` mode from the anticausal outputs.
    float32_error : float
        A bound on the float32 rounding of the sections relative to the scale of the data:
        ``2**-24 x`` the largest feedback gain ``sum |1 / (1 + a1 z + a2 z^2)|`` ``x`` the
        sections' summed absolute response over the operator's (inf for no sections).
    """

    __slots__ = ("coef", "reach", "label", "_key", "sections", "float32_error", "mirror_sign")

    #: Multiply-adds per sample (both recursions), the figure :func:`sep3d.plan.cost` adds up.
    size = 16
    origin = 0
    divisor = 1.0
    symmetry = 0

    def __init__(self, n, d, m, label="recursive"):
        n, d, m = (np.asarray(v, dtype=np.float64).reshape(4) for v in (n, d, m))
        if not (np.all(np.isfinite(n)) and np.all(np.isfinite(d)) and np.all(np.isfinite(m))):
            raise ValueError("`n`, `d` and `m` must be finite")
        sd = 1.0 + d.sum()
        if abs(sd) < 1e-300:
            raise ValueError("the feedback `d` has a pole at 1 (1 + sum(d) == 0): the recursion has no steady state")
        bn = d * n.sum() / sd
        bm = d * m.sum() / sd
        self.coef = np.concatenate([n, d, m, bn, bm])
        self.coef.setflags(write=False)
        self.label = str(label)
        self._key = ("iir", self.coef.tobytes())
        self.reach = _reach(self.impulse_response(_probe_length(d)))
        self.sections = _second_order_sections(n, d, m)
        self.float32_error = _float32_error(self.sections, self.impulse_response(self.reach), 3 * self.reach + 8)
        self.mirror_sign = _mirror_sign(self.sections, self.reach + 2)

    @property
    def left(self):
        return self.reach

    @property
    def right(self):
        return self.reach

    @property
    def radius(self):
        return self.reach

    @property
    def key(self):
        return self._key

    def __eq__(self, other):
        return isinstance(other, IIR) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return f"IIR({self.label}, reach={self.reach})"

    def apply(self, line):
        """The operator on one 1-D float64 line with the ``nearest`` boundary (a slow, plain reference)."""
        x = np.asarray(line, dtype=np.float64)
        ln = x.size
        if ln < 1:
            return x.copy()
        n0, n1, n2, n3, d1, d2, d3, d4, m1, m2, m3, m4 = self.coef[:12]
        sn, sm, sd = n0 + n1 + n2 + n3, m1 + m2 + m3 + m4, 1.0 + d1 + d2 + d3 + d4
        pad = 4
        xe = np.concatenate([np.full(pad, x[0]), x, np.full(pad, x[-1])])
        yc = np.empty(xe.size)
        ya = np.empty(xe.size)
        steady_c, steady_a = x[0] * sn / sd, x[-1] * sm / sd
        for i in range(xe.size):
            xs = [xe[i - k] if i - k >= 0 else x[0] for k in range(4)]
            ys = [yc[i - k] if i - k >= 0 else steady_c for k in range(1, 5)]
            yc[i] = n0 * xs[0] + n1 * xs[1] + n2 * xs[2] + n3 * xs[3] - (d1 * ys[0] + d2 * ys[1] + d3 * ys[2]
                                                                         + d4 * ys[3])
        last = xe.size - 1
        for i in range(last, -1, -1):
            xs = [xe[i + k] if i + k <= last else x[-1] for k in range(1, 5)]
            ys = [ya[i + k] if i + k <= last else steady_a for k in range(1, 5)]
            ya[i] = m1 * xs[0] + m2 * xs[1] + m3 * xs[2] + m4 * xs[3] - (d1 * ys[0] + d2 * ys[1] + d3 * ys[2]
                                                                         + d4 * ys[3])
        return (yc + ya)[pad:pad + ln]

    def impulse_response(self, half_width):
        """The response to a unit impulse at offset 0, on offsets ``-half_width..half_width``."""
        return _impulse(self.coef, int(half_width))


def _probe_length(d):
    """A half-width over which the slowest pole of the feedback has decayed below 1e-17."""
    poles = np.roots(np.concatenate([[1.0], d]))
    rho = float(np.max(np.abs(poles)))
    if not rho < 1.0:
        raise ValueError(f"the feedback `d` is unstable (pole modulus {rho:.6g} >= 1)")
    if rho < 1e-300:  # no feedback at all (a tiny sigma): the response ends at once
        return 8
    return int(np.ceil(np.log(1e-17) / np.log(rho))) + 8


def _second_order_sections(n, d, m):
    """Partial fractions of ``n(z) / (1 + d(z))`` and ``m(z) / (1 + d(z))`` over two quadratic factors.

    ``(n0 + n1 z + n2 z^2 + n3 z^3) / (A(z) B(z)) = (p0 + p1 z) / A(z) + (q0 + q1 z) / B(z)``
    with ``A``, ``B`` the quadratics of the two conjugate pole pairs (or of two pairs of
    real poles); the anticausal weights ``m1..m4`` are the same form on the shifted input.
    """
    poles = np.roots(np.concatenate([[1.0], d]))
    if poles.size != 4:
        return None
    upper = sorted((p for p in poles if p.imag > 1e-12), key=lambda p: abs(p))
    real = sorted(float(p.real) for p in poles if abs(p.imag) <= 1e-12)
    pairs = [(p, np.conj(p)) for p in upper] + [tuple(real[i:i + 2]) for i in range(0, len(real), 2)]
    if len(pairs) != 2 or any(len(pair) != 2 for pair in pairs):
        return None
    a = np.real(np.poly(pairs[0]))  # 1, a1, a2 (factors of 1 + a1 z + a2 z^2 in the powers of z^-1)
    b = np.real(np.poly(pairs[1]))
    system = np.array([[1.0, 0.0, 1.0, 0.0], [b[1], 1.0, a[1], 1.0], [b[2], b[1], a[2], a[1]],
                       [0.0, b[2], 0.0, a[2]]])
    if np.linalg.cond(system) > 1e10:  # a pole shared by both pairs: no partial fractions
        return None
    rows = []
    for numerator in (n, m):
        p0, p1, q0, q1 = np.linalg.solve(system, numerator)
        rows += [(p0, p1, a[1], a[2]), (q0, q1, b[1], b[2])]
        # nearly shared poles give huge, cancelling fractions: the direct form rounds less
        if abs(p0) + abs(p1) + abs(q0) + abs(q1) > 100 * max(np.abs(numerator).sum(), 1e-300):
            return None
    sections = np.array(rows, dtype=np.float64)
    sections.setflags(write=False)
    return sections


def section_response(section, length):
    """Impulse response ``h[0..length-1]`` of one second-order section ``[p0, p1, a1, a2]``."""
    p0, p1, a1, a2 = (float(v) for v in section)
    impulse = np.zeros(max(int(length), 1))
    impulse[0] = 1.0
    return lfilter([p0, p1], [1.0, a1, a2], impulse)[:length]


def _mirror_sign(sections, length):
    """+1 / -1 when ``g_{s+2}[i] = sign h_s[i + 1]`` for both pole pairs (to 1e-9 of max|h|), else 0."""
    if sections is None:
        return 0
    for sign in (1, -1):
        if all(np.abs(section_response(sections[s + 2], length) - sign * section_response(sections[s], length + 1)[1:]).max()
               <= 1e-9 * np.abs(section_response(sections[s], length + 1)).max() for s in range(2)):
            return sign
    return 0


def _float32_error(sections, h, length):
    """The float32 rounding bound of the sections relative to the data (see :class:`IIR`)."""
    if sections is None:
        return float("inf")
    gain = max(np.abs(section_response((1.0, 0.0, s[2], s[3]), length)).sum() for s in sections)
    spread = sum(np.abs(section_response(s, length)).sum() for s in sections) / np.abs(h).sum()
    return float(np.finfo(np.float32).eps / 2 * gain * spread)


def _impulse(coef, half):
    """Impulse response on -half..half: y_c from the causal recursion plus y_a from the anticausal one.

    The anticausal recursion, read backwards from the impulse, is a causal one on the
    weights ``0, m1..m4``.
    """
    n, d, m = coef[0:4], coef[4:8], coef[8:12]
    feedback = np.concatenate([[1.0], d])
    impulse = np.zeros(half + 1)
    impulse[0] = 1.0
    h = np.zeros(2 * half + 1)
    h[half:] = lfilter(n, feedback, impulse)
    h[:half + 1] += lfilter(np.concatenate([[0.0], m]), feedback, impulse)[::-1]
    return h


def _reach(h):
    """Smallest r with the mass of |h| outside -r..r at most RECURSIVE_TOLERANCE of the total."""
    half = h.size // 2
    a = np.abs(h)
    total = a.sum()
    # outside[r] = a[:half - r].sum() + a[half + r + 1:].sum(), each tail summed from its far end
    left = np.concatenate([[0.0], np.cumsum(a[:half])])[::-1]  # left[r] = a[:half - r].sum()
    right = np.concatenate([np.cumsum(a[half + 1:][::-1])[::-1], [0.0]])  # right[r] = a[half + r + 1:].sum()
    ok = np.nonzero(left + right <= RECURSIVE_TOLERANCE * total)[0]
    return int(ok[0]) if ok.size else half


@functools.lru_cache(maxsize=256)
def recursive_gaussian(sigma, order=0, *, scale=1.0):
    """ITK's recursive (Deriche) Gaussian of derivative `order` as an :class:`IIR`.

    The coefficients are those of ``itk::RecursiveGaussianImageFilter`` for ``sigma`` in
    samples: the smoothing kernel has unit gain at DC, the first-derivative kernel unit
    first moment and the second-derivative kernel unit second moment, so the result is
    the derivative per sample; `scale` multiplies the input weights (ITK's
    normalise-across-scale factor is ``sigma_mm ** order``, applied by the caller).

    Parameters
    ----------
    sigma : float
        Standard deviation in samples, > 0.
    order : {0, 1, 2}
        Derivative order.
    scale : float
        Factor on the result.

    Returns
    -------
    IIR

    Notes
    -----
    Against the sampled Gaussian (scipy.ndimage) the recursive filter is an approximation:
    the largest difference of the smoothing impulse response is about 0.3% of its peak at
    sigma >= 2 samples and grows as sigma falls below 1 sample, where the second-derivative
    kernel tends to ``[1, -2, 1]``. Its cost per sample is the same at every sigma.

    References
    ----------
    R. Deriche, "Recursively implementing the Gaussian and its derivatives", INRIA
    Research Report 1893, 1993. ITK ``itkRecursiveGaussianImageFilter.hxx``.
    """
    sigma = float(sigma)
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"`sigma` must be a finite number > 0 for a recursive Gaussian; got {sigma!r}")
    if order not in (0, 1, 2):
        raise ValueError(f"`order` must be 0, 1 or 2 for a recursive Gaussian; got {order!r}")
    with np.errstate(all="ignore"):  # overflow below RECURSIVE_MIN_SIGMA is checked below
        n, d = _deriche_coefficients(sigma, order)
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(d))):
        raise ValueError(f"`sigma` must be at least {RECURSIVE_MIN_SIGMA} samples for a recursive Gaussian "
                         f"derivative (Deriche's coefficients overflow below it); got {sigma!r} samples for "
                         f"order {order}")
    n = n * float(scale)
    if order == 1:  # antisymmetric
        m = -(n[1:] - d[:3] * n[0])
        m = np.append(m, d[3] * n[0])
    else:
        m = n[1:] - d[:3] * n[0]
        m = np.append(m, -d[3] * n[0])
    return IIR(n, d, m, label=f"recursive gaussian sigma={sigma:g} order={order}")


def _deriche_coefficients(sigma, order):
    """ITK's causal weights ``n0..n3`` and feedback ``d1..d4`` for `sigma` (samples) and `order`."""
    w1, w2 = _DERICHE_W
    l1, l2 = _DERICHE_L
    c1, c2 = np.cos(w1 / sigma), np.cos(w2 / sigma)
    e1, e2 = np.exp(l1 / sigma), np.exp(l2 / sigma)
    d4 = e1 * e1 * e2 * e2
    d3 = -2 * c1 * e1 * e2 * e2 - 2 * c2 * e2 * e1 * e1
    d2 = 4 * c2 * c1 * e1 * e2 + e1 * e1 + e2 * e2
    d1 = -2 * (e2 * c2 + e1 * c1)
    d = np.array([d1, d2, d3, d4])
    sd = 1.0 + d.sum()
    dd = d1 + 2 * d2 + 3 * d3 + 4 * d4
    ed = d1 + 4 * d2 + 9 * d3 + 16 * d4

    def numerator(k):
        a1, b1, a2, b2 = _DERICHE_AB[k]
        s1, s2 = np.sin(w1 / sigma), np.sin(w2 / sigma)
        n0 = a1 + a2
        n1 = e2 * (b2 * s2 - (a2 + 2 * a1) * c2) + e1 * (b1 * s1 - (a1 + 2 * a2) * c1)
        n2 = 2 * e1 * e2 * ((a1 + a2) * c2 * c1 - b1 * c2 * s1 - b2 * c1 * s2) + a2 * e1 * e1 + a1 * e2 * e2
        n3 = e2 * e1 * e1 * (b2 * s2 - a2 * c2) + e1 * e2 * e2 * (b1 * s1 - a1 * c1)
        n = np.array([n0, n1, n2, n3])
        return n, n.sum(), n1 + 2 * n2 + 3 * n3, n1 + 4 * n2 + 9 * n3

    if order == 0:
        n, sn, _, _ = numerator(0)
        n = n / (2 * sn / sd - n[0])
    elif order == 1:
        n, sn, dn, _ = numerator(1)
        n = n / (2 * (sn * dd - dn * sd) / (sd * sd))
    else:
        n_0, sn0, dn0, en0 = numerator(0)
        n_2, sn2, dn2, en2 = numerator(2)
        beta = -(2 * sn2 - sd * n_2[0]) / (2 * sn0 - sd * n_0[0])
        n = n_2 + beta * n_0
        sn, dn, en = sn2 + beta * sn0, dn2 + beta * dn0, en2 + beta * en0
        alpha = (en * sd * sd - ed * sn * sd - 2 * dn * dd * sd + 2 * dd * dd * sn) / (sd * sd * sd)
        n = n / alpha
    return n, d


# ---------------------------------------------------------------------------------------
# position-dependent operators: local fits on an axis of a fixed length (the band axis)


class VaryingFIR:
    """Taps that change with position along an axis of one fixed length.

    ``out[i] = sum_k weights[i, k] * in[starts[i] + k]``: every output sample has its own
    window of ``size`` input samples, and every window lies inside the axis, so no
    boundary mode is involved (a Savitzky-Golay fit near an edge uses the nearest
    ``size`` samples, scipy.signal's ``mode='interp'``). Local fits on unevenly spaced
    bands (wavelengths) are operators of this kind.

    The operator reaches across the whole axis (:attr:`left` = :attr:`right` =
    :attr:`length`), so a chunked run keeps that axis in one chunk.

    Parameters
    ----------
    weights : array_like, shape (length, size)
        float64 weights per output sample.
    starts : array_like of int, shape (length,)
        First input sample of each window, ``0 <= starts[i] <= length - size``.
    label : str, optional
        What the operator is, for :func:`sep3d.describe`.
    """

    __slots__ = ("weights", "starts", "label", "_key")

    origin = 0
    divisor = 1.0
    symmetry = 0

    def __init__(self, weights, starts, label="position-dependent taps"):
        weights = np.array(weights, dtype=np.float64, ndmin=2)
        starts = np.asarray(starts)
        if weights.ndim != 2 or weights.shape[1] < 1:
            raise ValueError(f"`weights` must be a 2-D array (length, size); got shape {weights.shape}")
        if not np.all(np.isfinite(weights)):
            raise ValueError("`weights` must be finite")
        length, size = weights.shape
        if starts.shape != (length,) or starts.dtype.kind not in "iu":
            raise ValueError(f"`starts` must be {length} integers (one per row of `weights`); got "
                             f"{starts.dtype} of shape {starts.shape}")
        if starts.size and (starts.min() < 0 or starts.max() > length - size):
            raise ValueError(f"`starts` must lie in [0, {length - size}] so every window is inside the axis")
        self.weights = weights
        self.starts = starts.astype(np.int64)
        self.weights.setflags(write=False)
        self.starts.setflags(write=False)
        self.label = str(label)
        self._key = ("varying", weights.shape, weights.tobytes(), self.starts.tobytes())

    @property
    def length(self):
        """The axis length the operator is made for."""
        return self.weights.shape[0]

    @property
    def size(self):
        """Taps per output sample (multiply-adds per sample)."""
        return self.weights.shape[1]

    @property
    def left(self):
        return self.length

    @property
    def right(self):
        return self.length

    @property
    def radius(self):
        return self.length

    @property
    def key(self):
        return self._key

    def __eq__(self, other):
        return isinstance(other, VaryingFIR) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return f"VaryingFIR({self.label}, length={self.length}, size={self.size})"

    def matrix(self):
        """The dense ``(length, length)`` matrix of the operator: ``out = matrix @ in``."""
        n, k = self.weights.shape
        dense = np.zeros((n, n))
        rows = np.repeat(np.arange(n), k)
        cols = (self.starts[:, None] + np.arange(k)).ravel()
        np.add.at(dense, (rows, cols), self.weights.ravel())
        return dense


def _polyfit_weights(x, polyorder, deriv):
    """Least-squares weights that give the `deriv`-th derivative at 0 of the degree-`polyorder`
    polynomial fitted to samples at offsets `x` (float64, already scaled)."""
    vander = np.vander(x, polyorder + 1, increasing=True)
    # the fitted coefficients are pinv(vander) @ y; the derivative at 0 is deriv! * c[deriv]
    return math.factorial(deriv) * np.linalg.pinv(vander)[deriv]


def _check_savgol(window_length, polyorder, deriv):
    if isinstance(window_length, bool) or not isinstance(window_length, (int, np.integer)) \
            or window_length < 1 or window_length % 2 == 0:
        raise ValueError(f"`window_length` must be an odd positive int; got {window_length!r}")
    if isinstance(polyorder, bool) or not isinstance(polyorder, (int, np.integer)) or not \
            0 <= polyorder < window_length:
        raise ValueError(f"`polyorder` must be an int in [0, window_length) = [0, {window_length}); "
                         f"got {polyorder!r}")
    if isinstance(deriv, bool) or not isinstance(deriv, (int, np.integer)) or deriv < 0:
        raise ValueError(f"`deriv` must be a non-negative int; got {deriv!r}")
    return int(window_length), int(polyorder), int(deriv)


def savgol_taps(window_length, polyorder, deriv=0, delta=1.0):
    """Savitzky-Golay correlation taps for evenly spaced samples.

    The ``deriv``-th derivative, at the centre sample, of the least-squares polynomial of
    degree ``polyorder`` through the ``window_length`` samples around it; ``delta`` is the
    sample spacing (the derivative is per unit of it). A derivative above ``polyorder`` is 0.

    Returns
    -------
    numpy.ndarray
        float64 taps for ``scipy.ndimage.correlate1d`` (scipy.signal.savgol_coeffs with
        ``use='dot'``).

    Examples
    --------
    >>> import numpy as np
    >>> np.round(savgol_taps(5, 2) * 35).tolist()
    [-3.0, 12.0, 17.0, 12.0, -3.0]
    """
    window_length, polyorder, deriv = _check_savgol(window_length, polyorder, deriv)
    delta = float(delta)
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"`delta` must be a finite number > 0; got {delta!r}")
    half = window_length // 2
    if deriv > polyorder:
        return np.zeros(window_length)
    x = np.arange(-half, half + 1, dtype=np.float64)
    return _polyfit_weights(x, polyorder, deriv) / delta ** deriv


def _check_positions(positions, name="wavelengths"):
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 1 or pos.size < 1 or not np.all(np.isfinite(pos)):
        raise ValueError(f"`{name}` must be a 1-D sequence of finite numbers; got shape {pos.shape}")
    if pos.size > 1 and not np.all(np.diff(pos) > 0):
        raise ValueError(f"`{name}` must be strictly increasing")
    return pos


def savgol_local(positions, window_length, polyorder, deriv=0):
    """Savitzky-Golay on samples at arbitrary increasing `positions` (e.g. band wavelengths).

    Output sample ``i`` is the ``deriv``-th derivative, at ``positions[i]``, of the
    least-squares polynomial of degree ``polyorder`` fitted to the ``window_length``
    samples nearest in index, centred on ``i`` where the axis allows and shifted inwards
    at the edges (scipy.signal.savgol_filter's ``mode='interp'``), using the true
    positions: unevenly spaced bands are fitted where they are. The derivative is per
    unit of `positions`.

    Returns
    -------
    VaryingFIR

    Examples
    --------
    >>> import numpy as np
    >>> wl = np.array([400.0, 410.0, 425.0, 445.0, 470.0, 500.0])
    >>> op = savgol_local(wl, 3, 1, deriv=1)         # slope of local straight lines
    >>> np.allclose(op.matrix() @ (2.0 * wl + 1.0), 2.0)
    True
    """
    window_length, polyorder, deriv = _check_savgol(window_length, polyorder, deriv)
    pos = _check_positions(positions)
    n = pos.size
    if window_length > n:
        raise ValueError(f"`window_length` ({window_length}) must not exceed the number of bands ({n})")
    half = window_length // 2
    starts = np.clip(np.arange(n) - half, 0, n - window_length)
    weights = np.zeros((n, window_length))
    if deriv <= polyorder:
        for i in range(n):
            x = pos[starts[i]:starts[i] + window_length] - pos[i]
            unit = float(np.abs(x).max()) or 1.0  # scaled offsets keep the fit well conditioned
            weights[i] = _polyfit_weights(x / unit, polyorder, deriv) / unit ** deriv
    return VaryingFIR(weights, starts,
                      label=f"savgol window={window_length} polyorder={polyorder} deriv={deriv} (local fits)")


def local_gaussian(positions, sigma, truncate=4.0):
    """Gaussian smoothing on samples at arbitrary increasing `positions`.

    Output ``i`` is the weighted mean of the samples within ``truncate * sigma`` of
    ``positions[i]``, weights ``exp(-(p_j - p_i)^2 / (2 sigma^2))`` renormalised to sum to
    one (so the edges and gaps average what exists instead of extending the data).

    Returns
    -------
    VaryingFIR
    """
    pos = _check_positions(positions)
    sigma = float(sigma)
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"`sigma` must be a finite number > 0; got {sigma!r}")
    n = pos.size
    reach = float(truncate) * sigma
    lo = np.searchsorted(pos, pos - reach, side="left")
    hi = np.searchsorted(pos, pos + reach, side="right")
    size = int((hi - lo).max())
    starts = np.clip(lo, 0, n - size)
    weights = np.zeros((n, size))
    for i in range(n):
        g = np.exp(-0.5 * ((pos[lo[i]:hi[i]] - pos[i]) / sigma) ** 2)
        off = lo[i] - starts[i]
        weights[i, off:off + g.size] = g / g.sum()
    return VaryingFIR(weights, starts, label=f"gaussian sigma={sigma:g} on the true positions")
