"""FilterPlan, its pass schedule and describe(); the boundary helper against numpy.pad."""
import dataclasses

import numpy as np
import pytest

import sep3d
from sep3d.backends import fusion
from sep3d.backends.common import boundary_index
from sep3d.backends.cpu import run_pass, run_schedule
from sep3d.filters import (
    plan_gaussian,
    plan_gradient_magnitude,
    plan_hessian,
    plan_laplacian_of_gaussian,
)
from sep3d.kernels import FIR
from sep3d.plan import ADD, ADD_SQUARE, WRITE, WRITE_SQUARE, FilterPlan, Output, Pass, Term, cost
from sep3d._validate import Mode
from conftest import assert_close, make_volume

# numpy.pad's names for scipy.ndimage's modes (an independent implementation)
NP_PAD = {Mode.REFLECT: "symmetric", Mode.MIRROR: "reflect", Mode.NEAREST: "edge", Mode.WRAP: "wrap"}


@pytest.mark.parametrize("mode", list(NP_PAD))
@pytest.mark.parametrize("n", [1, 2, 3, 7])
@pytest.mark.parametrize("left, size", [(0, 1), (1, 3), (4, 9), (2, 5), (17, 35), (3, 4)])
def test_boundary_index_matches_numpy_pad(mode, n, left, size):
    if mode == Mode.MIRROR and n == 1:
        expected = np.zeros(n + size - 1, dtype=np.int64)
    else:
        right = size - 1 - left
        expected = np.pad(np.arange(n), (left, right), mode=NP_PAD[mode])
    np.testing.assert_array_equal(boundary_index(n, left, size, int(mode)), expected)


def test_boundary_index_constant_marks_outside():
    np.testing.assert_array_equal(boundary_index(3, 2, 5, int(Mode.CONSTANT)), [-1, -1, 0, 1, 2, -1, -1])


def shared_prefix_passes(orders):
    """Passes needed when terms share every common prefix of their per-axis operators.

    `orders` holds one tuple of derivative orders (axis 0, 1, 2: the pass order) per term;
    each distinct prefix is one pass (a Gaussian derivative per axis, all axes filtered).
    """
    return len({o[:k] for o in orders for k in range(1, len(o) + 1)})


def test_gaussian_runs_three_passes_in_place_without_temporaries():
    sched = plan_gaussian(3, 2.0).schedule()
    assert len(sched.passes) == shared_prefix_passes([(0, 0, 0)]) == 3 and sched.n_temps == 0
    assert [p.axis for p in sched.passes] == [0, 1, 2]  # scipy's order; y then x fuse
    assert sched.passes[0].src == ("input",)
    assert all(p.dst == ("result", 0) for p in sched.passes)
    assert [p.store for p in sched.passes] == [WRITE, WRITE, WRITE]


def test_log_terms_share_smoothing_passes():
    # LoG = g''(z)g(y)g(x) + g(z)g''(y)g(x) + g(z)g(y)g''(x). Distinct prefixes: on z {g'', g}
    # (2), on y {g''g, gg'', gg} (3), on x one per term (3): 8 passes, where scipy's
    # gaussian_laplace runs 3 terms x 3 axes = 9.
    sched = plan_laplacian_of_gaussian(3, 1.5).schedule()
    assert len(sched.passes) == shared_prefix_passes([(2, 0, 0), (0, 2, 0), (0, 0, 2)]) == 8
    # Temporaries: term 0's chain alone builds in place in the (empty) result; g(z) is shared
    # by terms 1 and 2 and the result is taken, so it goes to temp 0; term 1's g''(y) needs
    # temp 1 (temp 0 is still to be read by term 2), term 2's g(y) overwrites temp 0: 2 temps.
    assert sched.n_temps == 2
    assert [(p.axis, p.src, p.dst) for p in sched.passes] == [
        (0, ("input",), ("result", 0)), (1, ("result", 0), ("result", 0)), (2, ("result", 0), ("result", 0)),
        (0, ("input",), ("temp", 0)), (1, ("temp", 0), ("temp", 1)), (2, ("temp", 1), ("result", 0)),
        (1, ("temp", 0), ("temp", 0)), (2, ("temp", 0), ("result", 0))]
    # Each y pass is fused with the x pass that reads it; the z passes stand alone:
    # z, (y x), z, (y x), (y x)
    units = fusion.execution_units(sched.steps, (32, 32, 32), 4)
    assert [len(u) for u in units] == [1, 2, 1, 2, 2]
    assert [[p.axis for p in u] for u in units] == [[0], [1, 2], [0], [1, 2], [1, 2]]
    # temp 1 is only ever a y result read by its fused x pass: it is never allocated
    assert fusion.allocated_temps(units) == {("temp", 0)}
    # the x pass ending each term stores into the one output: the first writes, two add
    assert [p.store for p in sched.passes if p.axis == 2] == [WRITE, ADD, ADD]


def test_gradient_magnitude_accumulates_squares():
    plan = plan_gradient_magnitude(3, 1.5)
    sched = plan.schedule()
    # the same prefix structure as LoG with first derivatives: 2 + 3 + 3 passes
    assert len(sched.passes) == shared_prefix_passes([(1, 0, 0), (0, 1, 0), (0, 0, 1)]) == 8
    assert sched.sqrt_results
    assert len(fusion.allocated_temps(fusion.execution_units(sched.steps, (32, 32, 32), 4))) == 1
    finals = [p.store for p in sched.passes if p.store in (WRITE_SQUARE, ADD_SQUARE)]
    assert finals == [WRITE_SQUARE, ADD_SQUARE, ADD_SQUARE]  # |grad|^2 = the sum of 3 squares


def test_hessian_shares_prefixes():
    sched = plan_hessian(3, 1.0).schedule()
    # 6 outputs x 3 axes = 18 passes without sharing. With it: on z the orders {2, 1, 0} (3),
    # on (z, y) {20, 11, 10, 02, 01, 00} (6), on x one per output (6): 15
    orders = [(2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 2, 0), (0, 1, 1), (0, 0, 2)]
    assert len(sched.passes) == shared_prefix_passes(orders) == 15
    assert {p.dst for p in sched.passes if p.dst[0] == "result"} == {("result", k) for k in range(6)}


def test_terms_ending_together_are_merged():
    op = FIR([1.0, 2.0, 1.0])
    plan = FilterPlan((Output((Term(2.0, (op, None)), Term(3.0, (op, None)))),), (0, 0))
    (p,) = plan.schedule().passes
    assert p.scale == 5.0


def test_identity_plan_copies_and_scales():
    vol = make_volume((4, 5), np.float64)
    plan = FilterPlan((Output((Term(2.0, (None, None)),)),), (0, 0))
    out = [np.empty_like(vol)]
    run_schedule(plan, vol, out, np.float64, np.float64)
    np.testing.assert_array_equal(out[0], 2.0 * vol)


def test_halo_radius_and_transpose():
    plan = plan_gaussian(3, (1.0, 2.0, 0.0), mode=("wrap", "nearest", "reflect"))
    assert plan.halo == ((4, 4), (8, 8), (0, 0))
    assert plan.radius == (4, 8, 0)
    t = plan.transpose((2, 0, 1))
    assert t.halo == ((0, 0), (4, 4), (8, 8))
    assert t.modes == (Mode.REFLECT, Mode.WRAP, Mode.NEAREST)


def test_halo_of_asymmetric_operators():
    plan = FilterPlan((Output((Term(1.0, (FIR([1.0, 2.0, 3.0, 4.0], origin=1), None)),)),), (0, 0))
    assert plan.halo == ((3, 0), (0, 0))


def test_cost_is_sum_of_taps_against_product():
    separable, direct = cost(plan_gaussian(3, 2.0))
    assert (separable, direct) == (3 * 17, 17 ** 3)
    separable, direct = cost(plan_laplacian_of_gaussian(3, 2.0))
    assert separable == 8 * 17 and direct == 3 * 17 ** 3


def test_describe_prints_passes_taps_halo_and_arithmetic(capsys):
    desc = sep3d.describe(sep3d.laplacian_of_gaussian, (64, 64, 64), 2.0)
    text = capsys.readouterr().out
    assert desc.n_passes == 8 and desc.n_temps == 1
    assert desc.macs_per_voxel == 136 and desc.direct_macs_per_voxel == 3 * 4913
    assert desc.taps_per_axis == {0: [17], 1: [17], 2: [17]}
    for piece in ("laplacian_of_gaussian", "passes: 8", "halo per axis", "136 separable vs 14739 direct"):
        assert piece in text
    assert str(desc) == text.rstrip()


def test_describe_takes_a_plan_or_an_image_and_prints_nothing_on_request(capsys):
    vol = np.zeros((8, 9, 10), np.int16)
    d1 = sep3d.describe(plan_gaussian(3, 1.0), file=False)
    d2 = sep3d.describe(sep3d.gaussian, vol, 1.0, backend="cpu", output=None, file=False)
    d3 = sep3d.describe(sep3d.gaussian, vol.shape, 1.0, file=False)
    assert capsys.readouterr().out == ""
    assert d2.text == d3.text and "for shape (8, 9, 10)" in d2.text and "[fused x-y]" in d2.text
    assert d1.n_passes == d2.n_passes == 3 and "for shape" not in d1.text


def test_in_place_and_out_of_place_passes_agree():
    vol = make_volume((9, 10, 11), np.float32)
    op = FIR(np.array([0.2, -1.0, 3.0, 0.5, 0.1]))
    for axis in range(3):
        out = np.empty_like(vol)
        run_pass(vol, out, axis, op, Mode.REFLECT, 0.0, WRITE, 1.0, np.float32)
        inplace = vol.copy()
        run_pass(inplace, inplace, axis, op, Mode.REFLECT, 0.0, WRITE, 1.0, np.float32)
        np.testing.assert_array_equal(out, inplace)


def test_symmetric_and_general_kernels_agree():
    vol = make_volume((9, 10, 11), np.float64)
    taps = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    sym = FIR(taps)
    general = FIR(taps)
    general.symmetry = 0  # force the general kernel on the same taps
    assert sym.symmetry == 1
    for axis in range(3):
        a, b = np.empty_like(vol), np.empty_like(vol)
        run_pass(vol, a, axis, sym, Mode.MIRROR, 0.0, WRITE, 1.0, np.float64)
        run_pass(vol, b, axis, general, Mode.MIRROR, 0.0, WRITE, 1.0, np.float64)
        assert_close(a, b)


def test_every_store_kind():
    vol = make_volume((5, 6, 7), np.float64)
    op = FIR([1.0])
    base = np.full_like(vol, 2.0)
    expected = {WRITE: 3 * vol, ADD: 2 + 3 * vol, WRITE_SQUARE: (3 * vol) ** 2, ADD_SQUARE: 2 + (3 * vol) ** 2}
    for axis in (1, 2):
        for store, ref in expected.items():
            out = base.copy()
            run_pass(vol, out, axis, op, Mode.REFLECT, 0.0, store, 3.0, np.float64)
            assert_close(out, ref)


def test_pass_dataclass_defaults():
    p = Pass(0, FIR([1.0]), ("input",), ("result", 0))
    assert p.store == WRITE and p.scale == 1.0


@pytest.mark.parametrize("order", [(0, 1, 2), (0, 2, 1)], ids=["y-then-x", "x-then-y"])
@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap", "constant"])
def test_fused_plane_pass_equals_separate_passes_bit_for_bit(mode, order, monkeypatch):
    vol = make_volume((9, 13, 11), np.float32)
    plan = dataclasses.replace(plan_gaussian(3, (1.0, 2.5, 0.7), mode=mode, cval=1.5), axis_order=order)
    sched = plan.schedule()
    assert [p.axis for p in sched.passes] == list(order)
    assert fusion.fusable(sched.steps, 1, vol.shape, 4, 2)
    fused = [np.empty_like(vol)]
    run_schedule(plan, vol, fused, np.float32, np.float32)
    monkeypatch.setattr(fusion, "FUSED_PANEL_BYTES", 0)
    assert not fusion.fusable(sched.steps, 1, vol.shape, 4, 2)
    separate = [np.empty_like(vol)]
    run_schedule(plan, vol, separate, np.float32, np.float32)
    np.testing.assert_array_equal(fused[0], separate[0])


@pytest.mark.parametrize("planner", [plan_gaussian, plan_laplacian_of_gaussian, plan_gradient_magnitude])
@pytest.mark.parametrize("layout", ["fortran", "transposed", "negative"])
def test_the_result_does_not_depend_on_the_memory_layout(planner, layout):
    # the passes run in the plan's axis order on every layout: the same bits
    base = make_volume((12, 15, 14), np.float32)
    vol = {"fortran": np.asfortranarray(base), "transposed": base.transpose(1, 2, 0).copy().transpose(2, 0, 1),
           "negative": base[::-1, :, ::-1].copy()[::-1, :, ::-1]}[layout]
    np.testing.assert_array_equal(vol, base)
    plan = planner(3, 1.3, mode="constant", cval=4.0)
    ref, out = [np.empty_like(base)], [np.empty_like(base)]
    sep3d.backends.cpu.execute(plan, base, ref, np.float32, np.float32)
    sep3d.backends.cpu.execute(plan, vol, out, np.float32, np.float32)
    np.testing.assert_array_equal(out[0], ref[0])


@pytest.mark.parametrize("planner, volumes", [(plan_gaussian, 0), (plan_laplacian_of_gaussian, 1),
                                              (plan_gradient_magnitude, 1)])
def test_peak_extra_memory_in_volumes(planner, volumes):
    import tracemalloc

    vol = make_volume((24, 40, 48), np.float32)
    plan = planner(3, 1.5)
    out = [np.empty_like(vol)]
    run_schedule(plan, vol, out, np.float32, np.float32)  # compile outside the measurement
    tracemalloc.start()
    run_schedule(plan, vol, out, np.float32, np.float32)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert volumes * vol.nbytes <= peak < (volumes + 0.25) * vol.nbytes + 2**20


def test_describe_a_derivative_call_with_its_positional_order():
    d = sep3d.describe(sep3d.gaussian_derivative, (20, 30, 40), 1.0, (1, 0, 2), file=False)
    assert d.n_passes == 3 and d.taps_per_axis == {0: [9], 1: [9], 2: [9]}
    assert "symmetry -1" in d.text and "symmetry +1" in d.text


def test_kernels_run_in_a_forked_child():
    import multiprocessing
    import warnings

    vol = make_volume((16, 20, 24), np.float32)
    expected = sep3d.gaussian(vol, 1.0)  # starts the thread pool in this process
    ctx = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python >= 3.12 warns on fork with threads
        with ctx.Pool(1) as pool:
            got = pool.apply_async(sep3d.gaussian, (vol, 1.0)).get(timeout=60)
    np.testing.assert_array_equal(got, expected)
