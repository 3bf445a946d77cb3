"""FilterPlan: outputs -> terms -> one 1-D operator per axis, and the pass schedule.

A filter is a list of outputs; each output is a sum of terms; each term is a scale and
one :class:`~sep3d.kernels.FIR` or :class:`~sep3d.kernels.IIR` (or identity) per axis. The plan knows its halo per axis
and turns itself into a *schedule*: the ordered 1-D passes a backend runs. Terms that
begin with the same operators share those passes (the three LoG terms share their
smoothing), and a chain of passes runs in place in the output so that a 3-D Gaussian
needs no temporary volume at all. Backends never see sigma, only operators.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ._validate import Mode
from .kernels import FIR, IIR, VaryingFIR

__all__ = ["Term", "Output", "FilterPlan", "Pass", "Scale", "Schedule", "COMBINES", "ARITHMETICS", "ZERO"]

#: Pointwise combines applied to the outputs of a plan.
#: ``None``: one array per output; ``"sqrt_sum_squares"``: sqrt of the sum of the squared
#: outputs (gradient magnitude), one array.
COMBINES = (None, "sqrt_sum_squares")

#: How a plan's passes compute (see :attr:`FilterPlan.arithmetic`).
ARITHMETICS = ("fast", "scipy")


@dataclass(frozen=True)
class Term:
    """A scale and one operator per axis (``None`` = identity on that axis)."""

    scale: float
    ops: tuple

    def __post_init__(self):
        for op in self.ops:
            if op is not None and not isinstance(op, (FIR, IIR, VaryingFIR)):
                raise TypeError(f"`ops` must hold FIR, IIR or VaryingFIR operators or None; got {op!r}")


@dataclass(frozen=True)
class Output:
    """One result array: the sum of its terms."""

    terms: tuple


@dataclass(frozen=True)
class FilterPlan:
    """Everything a backend needs to run a separable filter.

    Attributes
    ----------
    outputs : tuple of Output
    modes : tuple of Mode
        Boundary mode per axis.
    cval : float
        Value outside the array for ``Mode.CONSTANT``.
    combine : None or str
        See :data:`COMBINES`.
    name : str
        A label for :func:`sep3d.describe`.
    axis_order : tuple of int, optional
        The order in which the axes are filtered (axes not listed follow in ascending
        order); default: ascending, scipy.ndimage's order. Every engine follows it on
        any memory layout, so a result never depends on the layout of its input: with a
        non-zero `cval` in constant mode each pass pads its input with `cval` and the
        order changes the values, and otherwise it changes the rounding.
    arithmetic : {"fast", "scipy"}
        How the passes compute. ``"fast"``: sep3d's kernels (symmetric taps folded,
        multiply-adds fused, x and y passes fused in cache). ``"scipy"``:
        scipy.ndimage's own arithmetic, bit for bit: every pass in float64 with scipy's
        summation order and no fused multiply-add, moving averages as scipy's running
        sums, and each pass stored in the result's dtype (an integer result is truncated
        after every pass, as scipy's C cast does). Only single-term plans (a chain of
        passes) have it; it is what sep3d.ndimage uses for integer and bool outputs.
    """

    outputs: tuple
    modes: tuple
    cval: float = 0.0
    combine: object = None
    name: str = "filter"
    axis_order: object = None
    arithmetic: str = "fast"
    _schedule: object = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if not self.outputs:
            raise ValueError("`outputs` must hold at least one Output")
        ndim = len(self.modes)
        for out in self.outputs:
            for term in out.terms:
                if len(term.ops) != ndim:
                    raise ValueError(f"every term needs one operator per axis ({ndim}); got {len(term.ops)}")
        if self.combine not in COMBINES:
            raise ValueError(f"`combine` must be one of {COMBINES}; got {self.combine!r}")
        if self.combine is not None and any(len(out.terms) != 1 for out in self.outputs):
            raise NotImplementedError("`combine` needs every output to be a single term")
        if self.axis_order is not None:
            order = tuple(int(ax) for ax in self.axis_order)
            if len(set(order)) != len(order) or any(not 0 <= ax < ndim for ax in order):
                raise ValueError(f"`axis_order` must list distinct axes of a {ndim}-d plan; got {self.axis_order!r}")
            object.__setattr__(self, "axis_order", order)
        if self.arithmetic not in ARITHMETICS:
            raise ValueError(f"`arithmetic` must be one of {ARITHMETICS}; got {self.arithmetic!r}")
        if self.arithmetic == "scipy" and (len(self.outputs) != 1 or len(self.outputs[0].terms) != 1
                                           or self.combine is not None
                                           or any(not isinstance(op, FIR) for op in self.outputs[0].terms[0].ops
                                                  if op is not None)):
            raise NotImplementedError("arithmetic='scipy' runs one output of one term of FIR operators")

    @property
    def ndim(self):
        return len(self.modes)

    @property
    def n_results(self):
        """How many arrays the plan returns."""
        return 1 if self.combine is not None else len(self.outputs)

    def terms(self):
        """All terms as (output index, term) pairs."""
        return [(k, t) for k, out in enumerate(self.outputs) for t in out.terms]

    @property
    def halo(self):
        """Per axis, the (left, right) reach of the widest operator on that axis."""
        halo = []
        for axis in range(self.ndim):
            left = right = 0
            for _, term in self.terms():
                op = term.ops[axis]
                if op is not None:
                    left, right = max(left, op.left), max(right, op.right)
            halo.append((left, right))
        return tuple(halo)

    @property
    def radius(self):
        """Per axis, the larger side of :attr:`halo` (the depth a chunked run needs)."""
        return tuple(max(h) for h in self.halo)

    def schedule(self):
        """The ordered passes that compute this plan (built once, then cached)."""
        if self._schedule is None:
            object.__setattr__(self, "_schedule", _build_schedule(self))
        return self._schedule

    def transpose(self, perm):
        """The same plan for an array whose axes are ``perm`` of this plan's axes."""
        outputs = tuple(
            Output(tuple(Term(t.scale, tuple(t.ops[p] for p in perm)) for t in out.terms))
            for out in self.outputs
        )
        order = tuple(perm.index(a) for a in self.pass_order())
        return FilterPlan(outputs, tuple(self.modes[p] for p in perm), self.cval, self.combine, self.name,
                          order, self.arithmetic)

    def pass_order(self):
        """Every axis in the order the passes run: `axis_order`, then the rest ascending."""
        given = tuple(self.axis_order or ())
        return given + tuple(ax for ax in range(self.ndim) if ax not in given)

    @property
    def order_matters(self):
        """True when the pass order changes the result (constant mode with a non-zero cval)."""
        return self.cval != 0 and any(m == Mode.CONSTANT for m in self.modes)


# ---------------------------------------------------------------------------------------
# the schedule

#: Ways a pass stores its result: overwrite, add, overwrite the square, add the square.
WRITE, ADD, WRITE_SQUARE, ADD_SQUARE = 0, 1, 2, 3

#: A source buffer of zeros (the value of an output with no terms: a sum over no axes).
ZERO = ("zero",)


@dataclass(frozen=True)
class Pass:
    """One 1-D operator applied along `axis` from buffer `src` into buffer `dst`.

    Buffers are ``("input",)``, ``("result", k)``, ``("temp", i)`` or :data:`ZERO`. ``store`` is one of
    WRITE, ADD, WRITE_SQUARE, ADD_SQUARE; the filtered value is multiplied by ``scale``
    before it is stored (and before it is squared).
    """

    axis: int
    op: object  # FIR or IIR
    src: tuple
    dst: tuple
    store: int = WRITE
    scale: float = 1.0


@dataclass(frozen=True)
class Scale:
    """An elementwise step: ``dst (store)= scale * src`` (an all-identity term)."""

    src: tuple
    dst: tuple
    store: int = WRITE
    scale: float = 1.0


@dataclass(frozen=True)
class Schedule:
    steps: tuple
    n_temps: int
    sqrt_results: bool  # take the square root of every result at the end

    @property
    def passes(self):
        return tuple(s for s in self.steps if isinstance(s, Pass))


def _axis_order(plan):
    """Filtered axes in pass order: :meth:`FilterPlan.pass_order` (scipy's order by default).

    The order is fixed by the plan, never by the memory layout, so an F-ordered or
    transposed input gives bit for bit the result of a C-ordered one. On a C-ordered
    array the two innermost axes come last, y then x: a backend fuses each y pass with
    the x pass that reads it (one trip through memory for both); on an F-ordered one they
    come first, x then y, and fuse the same way.
    """
    used = {ax for ax in range(plan.ndim) if any(t.ops[ax] is not None for _, t in plan.terms())}
    return [ax for ax in plan.pass_order() if ax in used]


def _build_schedule(plan):
    order = _axis_order(plan)
    squares = plan.combine == "sqrt_sum_squares"
    combined = plan.combine is not None
    written = set()  # results already holding a value (later terms add to them)
    steps = []
    free_temps, n_temps = [], [0]

    def result(k):
        return ("result", 0 if combined else k)

    def store_mode(k):
        res = result(k)
        first = res not in written
        written.add(res)
        if squares:
            return WRITE_SQUARE if first else ADD_SQUARE
        return WRITE if first else ADD

    def new_temp():
        if free_temps:
            return free_temps.pop()
        n_temps[0] += 1
        return ("temp", n_temps[0] - 1)

    def release(buf):
        if buf[0] == "temp" and buf not in free_temps:
            free_temps.append(buf)

    def done_after(item, axes):
        return all(item[2][ax] is None for ax in axes)

    def run(level, buf, owned, items):
        """Apply the operators of axes order[level:] to `buf` for `items` = [(k, scale, ops)]."""
        leaves = [it for it in items if done_after(it, order[level:])]
        for k, scale in _merge(leaves):
            steps.append(Scale(buf, result(k), store_mode(k), scale))
        items = [it for it in items if not done_after(it, order[level:])]
        if not items:
            if owned:
                release(buf)
            return
        axis = order[level]
        groups = {}
        for it in items:
            op = it[2][axis]
            groups.setdefault(None if op is None else op.key, (op, []))[1].append(it)
        group_list = list(groups.values())
        for gi, (op, sub) in enumerate(group_list):
            last = gi == len(group_list) - 1
            if op is None:
                run(level + 1, buf, owned and last, sub)
                continue
            after = order[level + 1:]
            for k, scale in _merge([it for it in sub if done_after(it, after)]):
                steps.append(Pass(axis, op, buf, result(k), store_mode(k), scale))
            rest = [it for it in sub if not done_after(it, after)]
            if not rest:
                continue
            if len(rest) == 1 and result(rest[0][0]) not in written:
                # a single chain whose result is still empty: build it in place there
                target = result(rest[0][0])
                steps.append(Pass(axis, op, buf, target, WRITE, 1.0))
                chain_in_place(level + 1, target, rest[0])
                continue
            target = buf if (owned and last and buf[0] == "temp") else new_temp()
            steps.append(Pass(axis, op, buf, target, WRITE, 1.0))
            run(level + 1, target, True, rest)
        if owned:
            release(buf)

    def chain_in_place(level, buf, item):
        k, scale, ops = item
        axes = [ax for ax in order[level:] if ops[ax] is not None]
        for i, ax in enumerate(axes):
            final = i == len(axes) - 1
            steps.append(Pass(ax, ops[ax], buf, buf, store_mode(k) if final else WRITE,
                              scale if final else 1.0))

    items = [(k, t.scale, t.ops) for k, t in plan.terms()]
    run(0, ("input",), False, items)
    for k in range(plan.n_results):
        if ("result", k) not in written:  # only when an output has no terms at all
            steps.append(Scale(ZERO, ("result", k), WRITE, 1.0))
    return Schedule(tuple(steps), n_temps[0], squares)


def _merge(items):
    """Terms of one output that end together: one store with the summed scale."""
    merged = {}
    for k, scale, _ in items:
        merged[k] = merged.get(k, 0.0) + scale
    return list(merged.items())


def cost(plan):
    """Multiply-adds per voxel of the schedule and of the direct N-D kernel(s)."""
    sched = plan.schedule()
    separable = sum(p.op.size for p in sched.passes)
    direct = 0
    for _, term in plan.terms():
        direct_term = 1
        for op in term.ops:
            direct_term *= 1 if op is None else op.size
        direct += direct_term
    return separable, direct
