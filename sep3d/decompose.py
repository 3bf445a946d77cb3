"""Low-rank separable decomposition of arbitrary 2-D and 3-D kernels.

A dense kernel ``K`` is written as a sum of ``R`` separable (rank-1) terms,
``K ~ sum_r s_r * v_r0 (x) v_r1 [(x) v_r2]``, and each term becomes one
:class:`~sep3d.plan.Term` of 1-D :class:`~sep3d.kernels.FIR` passes, so the existing
engines (NumPy, CuPy, dask) run a correlation with any kernel at ``R * sum(shape)``
multiply-adds per voxel instead of ``prod(shape)``.

2-D kernels use the SVD (the truncation is the optimal rank-R approximation, Eckart-Young);
3-D kernels use a CP decomposition computed by alternating least squares (ALS)
initialised from the HOSVD, which is deterministic for a given `seed`.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ._validate import check_cval, check_mode, check_origin
from .kernels import FIR
from .plan import FilterPlan, Output, Term

__all__ = ["SeparableKernel", "decompose", "DEFAULT_TOL", "MAX_RANK_3D"]

#: Relative Frobenius error targeted when neither `rank` nor `tol` is given.
DEFAULT_TOL = 1e-6
#: Default cap on the rank searched for 3-D kernels (when `max_rank` is not given).
MAX_RANK_3D = 32
#: A kernel within this fraction of its peak of its flip along an axis counts as
#: (anti)symmetric there, and its factor vectors on that axis are made exactly so.
_SYMMETRY_ATOL = 1e-12
#: ALS stops when one sweep lowers the relative error by less than this fraction.
_ALS_CONVERGENCE = 1e-10


@dataclass(frozen=True)
class SeparableKernel:
    """A kernel as a sum of separable terms (the result of :func:`decompose`).

    Attributes
    ----------
    factors : tuple of (float, tuple of numpy.ndarray)
        One ``(scale, (v_axis0, v_axis1, ...))`` per term, largest scale first; every
        vector is float64, unit-norm and read-only; the scale carries the magnitude.
    shape : tuple of int
        The kernel's shape.
    relative_error : float
        ``||K - to_dense()||_F / ||K||_F``, measured.
    errors_by_rank : tuple of float
        Relative error for each rank ``1..rank`` tried: from the singular values for
        2-D kernels (non-increasing), measured for 3-D kernels.
    """

    factors: tuple
    shape: tuple
    relative_error: float
    errors_by_rank: tuple

    @property
    def rank(self):
        """Number of separable terms."""
        return len(self.factors)

    @property
    def ndim(self):
        return len(self.shape)

    def to_dense(self):
        """The kernel the terms add up to, a float64 array of :attr:`shape`.

        Examples
        --------
        >>> import numpy as np
        >>> k = np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0])
        >>> np.allclose(decompose(k).to_dense(), k)
        True
        """
        return _reconstruct(self.factors, self.shape)

    def plan(self, mode="reflect", cval=0.0, origin=None):
        """A :class:`~sep3d.plan.FilterPlan` correlating with :meth:`to_dense`.

        Parameters
        ----------
        mode : str or sequence of str, optional
            Boundary mode, one or one per axis (scipy.ndimage's meaning).
        cval : float, optional
            Value outside the array for ``mode='constant'``.
        origin : int or sequence of int, optional
            Shift of the kernel centre per axis, scipy.ndimage's meaning; the centre is
            ``shape // 2 + origin`` as in ``scipy.ndimage.correlate`` (also for even
            sizes). Default 0.

        Returns
        -------
        FilterPlan
            One output (named ``"low_rank"``) whose :attr:`rank` terms hold one
            :class:`~sep3d.kernels.FIR` per axis with the factor vectors as taps.

        Notes
        -----
        Every pass of a plan pads its own input with `cval`, so with
        ``mode='constant'`` and a non-zero `cval` the plan is *not* the dense
        correlation; :func:`sep3d.convolution.separable_correlate` corrects for that.

        Examples
        --------
        >>> import numpy as np
        >>> p = decompose(np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0])).plan()
        >>> p.name, len(p.outputs[0].terms), [op.size for op in p.outputs[0].terms[0].ops]
        ('low_rank', 1, [3, 3])
        """
        modes = check_mode(mode, self.ndim)
        cval = check_cval(cval)
        origins = check_origin(0 if origin is None else origin, self.shape)
        terms = tuple(
            Term(float(scale), tuple(FIR(v, o) for v, o in zip(vecs, origins)))
            for scale, vecs in self.factors
        )
        return FilterPlan((Output(terms),), modes, cval, None, "low_rank", tuple(range(self.ndim)))


# ---------------------------------------------------------------------------------------
# validation


def _check_kernel(kernel):
    k = np.asarray(kernel)
    if np.iscomplexobj(k):
        raise TypeError(f"`kernel` must be real; got complex dtype {k.dtype}")
    if k.dtype.kind not in "biuf":
        raise TypeError(f"`kernel` must be numeric; got dtype {k.dtype}")
    if k.ndim not in (2, 3):
        raise ValueError(f"`kernel` must be 2-D or 3-D; got {k.ndim}-D with shape {k.shape}")
    if k.size == 0:
        raise ValueError(f"`kernel` must not be empty; got shape {k.shape}")
    k = k.astype(np.float64)
    if not np.all(np.isfinite(k)):
        raise ValueError("`kernel` must be finite; got NaN or infinite values")
    if not np.any(k):
        raise ValueError("`kernel` must not be all zeros (its relative error is undefined)")
    return k


def _rank_bound(shape):
    """The largest rank a decomposition may have: min(shape) for 2-D, the product of the two
    smallest sizes for 3-D (the largest rank a tensor of that shape can have)."""
    s = sorted(shape)
    return s[0] if len(s) == 2 else s[0] * s[1]


def _check_rank(value, name, bound):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int; got {value!r}")
    if not 1 <= value <= bound:
        raise ValueError(f"`{name}` must lie in [1, {bound}] for this kernel; got {value}")
    return int(value)


def _check_tol(tol):
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(f"`tol` must be a real number; got {tol!r}")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"`tol` must be a finite number > 0; got {tol!r}")
    return float(tol)


# ---------------------------------------------------------------------------------------
# decomposition


def decompose(kernel, rank=None, tol=None, *, max_rank=None, n_iter=500, seed=0):
    """Write a 2-D or 3-D kernel as a sum of separable terms.

    Parameters
    ----------
    kernel : array_like
        Real, finite, non-zero 2-D or 3-D array (a correlation kernel).
    rank : int, optional
        Use exactly this many terms, ``1 <= rank <= bound`` where the bound is
        ``min(shape)`` for 2-D and the product of the two smallest sizes for 3-D.
    tol : float, optional
        Target relative Frobenius error ``||K - K_R|| / ||K||``, > 0: the smallest rank
        meeting it is used, searching up to `max_rank`.
    max_rank : int, optional
        Largest rank the `tol` search tries. Default: the bound for 2-D,
        ``min(bound, 32)`` for 3-D. If no rank up to it meets `tol`, the result has
        `max_rank` terms (check :attr:`SeparableKernel.relative_error`).
    n_iter : int, optional
        ALS sweep cap per attempt (3-D only). Default 500.
    seed : int, optional
        Seed of the random restarts tried when the HOSVD start misses `tol` (3-D only);
        the result is deterministic for a given seed.

    Returns
    -------
    SeparableKernel

    Raises
    ------
    ValueError
        `kernel` not 2-D/3-D, empty, non-finite or all zeros; `rank` or `max_rank`
        outside ``[1, bound]``; `tol` <= 0 or not finite; `n_iter` < 1; `rank` and
        `tol` given together.
    TypeError
        A complex or non-numeric `kernel`; non-int `rank`, `max_rank`, `n_iter`.

    Notes
    -----
    Rank rule: `rank` gives exactly that rank; `tol` gives the smallest rank meeting it;
    with neither the target is ``tol=1e-6`` (:data:`DEFAULT_TOL`). Giving both `rank`
    and `tol` is a ValueError (they are two answers to the same question).

    2-D: truncated SVD, the optimal approximation of each rank. 3-D: CP-ALS started
    from the leading left singular vectors of the mode unfoldings (HOSVD); rank ``R``
    also tries the rank ``R - 1`` result plus the best rank-1 fit of its residual
    (so the error does not grow with the rank) and, if `tol` is still missed, one
    seeded random start; the best attempt is kept. ALS stops after `n_iter` sweeps or
    when a sweep improves the error by less than a relative 1e-10.

    Where the kernel equals its flip along an axis (within 1e-12 of its peak), the
    factor vectors along that axis are made exactly symmetric (antisymmetric kernels:
    antisymmetric), so the FIR passes can use their symmetric kernels.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.array([1.0, 4.0, 6.0, 4.0, 1.0])
    >>> sk = decompose(np.multiply.outer(np.multiply.outer(g, g), g))
    >>> sk.rank, sk.relative_error < 1e-12
    (1, True)
    >>> d2 = np.array([0.0, 1.0, -2.0, 1.0, 0.0])
    >>> laplacian = np.outer(g, d2) + np.outer(d2, g)   # rank 2
    >>> decompose(laplacian, tol=1e-9).rank
    2
    """
    k = _check_kernel(kernel)
    bound = _rank_bound(k.shape)
    if rank is not None and tol is not None:
        raise ValueError(f"give `rank` or `tol`, not both; got rank={rank!r} and tol={tol!r}")
    if rank is not None:
        rank = _check_rank(rank, "rank", bound)
    else:
        tol = DEFAULT_TOL if tol is None else _check_tol(tol)
    if max_rank is None:
        max_rank = bound if k.ndim == 2 else min(bound, MAX_RANK_3D)
    else:
        max_rank = _check_rank(max_rank, "max_rank", bound)
    if isinstance(n_iter, bool) or not isinstance(n_iter, numbers.Integral):
        raise TypeError(f"`n_iter` must be an int; got {n_iter!r}")
    if n_iter < 1:
        raise ValueError(f"`n_iter` must be >= 1; got {n_iter}")
    symmetry = _axis_symmetry(k)
    if k.ndim == 2:
        factors, errors = svd_terms(k, rank, tol, max_rank)
    else:
        factors, errors = _cp(k, rank, tol, max_rank, int(n_iter), seed)
    factors = _finish(factors, symmetry)
    error = float(np.linalg.norm(k - _reconstruct(factors, k.shape)) / np.linalg.norm(k))
    if k.ndim == 3:
        errors = errors[:-1] + (error,)
    return SeparableKernel(factors, tuple(k.shape), error, errors)


def _axis_symmetry(k):
    """Per axis: +1 if k equals its flip along that axis, -1 if minus its flip, else 0."""
    atol = _SYMMETRY_ATOL * float(np.max(np.abs(k)))
    out = []
    for ax in range(k.ndim):
        flipped = np.flip(k, ax)
        if np.max(np.abs(k - flipped)) <= atol:
            out.append(1)
        elif np.max(np.abs(k + flipped)) <= atol:
            out.append(-1)
        else:
            out.append(0)
    return out


def svd_terms(k, rank, tol, max_rank):
    """A 2-D (real or complex) `k` as ``rank`` terms ``(scale, [column, row])`` of its SVD.

    With `rank` None, the fewest terms (at most `max_rank`) whose leftover Frobenius norm
    is at most `tol` times ``|k|``. Also returns the relative error after each term.
    """
    u, s, vt = np.linalg.svd(k, full_matrices=False)
    norm = np.sqrt(np.sum(s ** 2))
    tail = np.sqrt(np.maximum(np.cumsum((s ** 2)[::-1])[::-1], 0.0))  # tail[r] = error with r terms
    errs = np.append(tail[1:], 0.0) / norm  # errs[r - 1]: error with r terms
    errs = np.minimum.accumulate(errs)
    if rank is None:
        ok = np.nonzero(errs[:max_rank] <= tol)[0]
        rank = int(ok[0]) + 1 if ok.size else max_rank
    factors = [(float(s[r]), [u[:, r], vt[r]]) for r in range(rank)]
    return factors, tuple(float(e) for e in errs[:rank])


def _reconstruct(factors, shape):
    out = np.zeros(shape)
    for scale, vecs in factors:
        term = vecs[0]
        for v in vecs[1:]:
            term = np.multiply.outer(term, v)
        out += scale * term
    return out


def _finish(factors, symmetry):
    """Symmetrise, normalise and sign-fix the vectors; sort terms by scale; freeze."""
    out = []
    for scale, vecs in factors:
        vecs = [np.array(v, dtype=np.float64) for v in vecs]
        for ax, sym in enumerate(symmetry):
            if sym:
                v = vecs[ax]
                w = (v + v[::-1]) / 2 if sym > 0 else (v - v[::-1]) / 2
                if np.linalg.norm(w) > 0:
                    vecs[ax] = w
        for ax, v in enumerate(vecs):
            n = np.linalg.norm(v)
            if n > 0:
                vecs[ax] = v / n
                scale *= n
        # deterministic signs: the largest entry of every vector but the last is positive
        for ax in range(len(vecs) - 1):
            v = vecs[ax]
            if v[np.argmax(np.abs(v))] < 0:
                vecs[ax] = -v
                vecs[-1] = -vecs[-1]
        if scale < 0:
            scale, vecs[-1] = -scale, -vecs[-1]
        for v in vecs:
            v.setflags(write=False)
        out.append((float(scale), tuple(vecs)))
    out.sort(key=lambda t: -t[0])
    return tuple(out)


# ---------------------------------------------------------------------------------------
# 3-D: CP by alternating least squares


def _unfold(k, mode):
    return np.moveaxis(k, mode, 0).reshape(k.shape[mode], -1)


def _hosvd_init(k, r, rng):
    init = []
    for mode in range(3):
        u, _, _ = np.linalg.svd(_unfold(k, mode), full_matrices=False)
        u = u[:, :r]
        if u.shape[1] < r:  # more terms than this axis has vectors: fill with random ones
            u = np.concatenate([u, rng.standard_normal((k.shape[mode], r - u.shape[1]))], axis=1)
        init.append(u)
    return init


def _cp_error(k, a, b, c, knorm):
    return float(np.linalg.norm(k - np.einsum("ir,jr,kr->ijk", a, b, c)) / knorm)


def _als(k, init, n_iter, knorm):
    """CP-ALS from `init`; returns (factors [a, b, c] with the weight in c, relative error)."""
    f = [np.array(x, dtype=np.float64) for x in init]
    specs = ("ijk,jr,kr->ir", "ijk,ir,kr->jr", "ijk,ir,jr->kr")
    prev = np.inf
    err = _cp_error(k, *f, knorm)
    best = ([x.copy() for x in f], err)
    for _ in range(n_iter):
        for mode in range(3):
            o = [f[m] for m in range(3) if m != mode]
            gram = (o[0].T @ o[0]) * (o[1].T @ o[1])
            rhs = np.einsum(specs[mode], k, o[0], o[1])
            f[mode] = np.linalg.lstsq(gram, rhs.T, rcond=None)[0].T
            if mode < 2:  # keep the first two factors at unit columns (the weight sits in c)
                n = np.linalg.norm(f[mode], axis=0)
                n[n == 0] = 1.0
                f[mode] = f[mode] / n
        err = _cp_error(k, *f, knorm)
        if err < best[1]:
            best = ([x.copy() for x in f], err)
        if err <= 1e-15 or (np.isfinite(prev) and prev - err <= _ALS_CONVERGENCE * prev):
            break
        prev = err
    return best


def _rank1_fit(res, n_power=50):
    """Best rank-1 approximation of a 3-D residual by higher-order power iteration."""
    vecs = [np.linalg.svd(_unfold(res, m), full_matrices=False)[0][:, 0] for m in range(3)]
    for _ in range(n_power):
        vecs[0] = np.einsum("ijk,j,k->i", res, vecs[1], vecs[2])
        vecs[0] /= np.linalg.norm(vecs[0]) or 1.0
        vecs[1] = np.einsum("ijk,i,k->j", res, vecs[0], vecs[2])
        vecs[1] /= np.linalg.norm(vecs[1]) or 1.0
        vecs[2] = np.einsum("ijk,i,j->k", res, vecs[0], vecs[1])
    return vecs


def _cp(k, rank, tol, max_rank, n_iter, seed):
    rng = np.random.default_rng(seed)
    knorm = float(np.linalg.norm(k))
    last = rank if rank is not None else max_rank
    target = tol if tol is not None else 0.0
    prev = None
    errors = []
    for r in range(1, last + 1):
        attempts = [_hosvd_init(k, r, rng)]
        if prev is not None:
            a, b, c = prev
            res = k - np.einsum("ir,jr,kr->ijk", a, b, c)
            va, vb, vc = _rank1_fit(res)
            attempts.append([np.column_stack([a, va]), np.column_stack([b, vb]), np.column_stack([c, vc])])
        best = None
        for init in attempts:
            cand = _als(k, init, n_iter, knorm)
            if best is None or cand[1] < best[1]:
                best = cand
        if best[1] > target and (rank is None or r == rank):
            init = [rng.standard_normal((n, r)) for n in k.shape]
            cand = _als(k, init, n_iter, knorm)
            if cand[1] < best[1]:
                best = cand
        prev, err = best
        errors.append(err)
        if rank is None and err <= tol:
            break
    a, b, c = prev
    factors = [(1.0, [a[:, i], b[:, i], c[:, i]]) for i in range(a.shape[1])]
    return factors, tuple(errors)

