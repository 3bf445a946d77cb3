"""sep3d.planner: cost model arithmetic, choice, calibration cache, kernel parsing, CLI."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.fft import next_fast_len

from sep3d import planner
from sep3d.calibration import calibrate, measure_methods
from sep3d.kernels import gaussian_radius
from sep3d.planner import (
    DEFAULT_CONSTANTS,
    choose_method,
    cost_model,
    load_calibration,
    parse_kernel,
    plan_methods,
)


@pytest.fixture(autouse=True)
def _no_user_calibration(monkeypatch, tmp_path):
    # a calibration cached on the developer's machine must not change the tests
    monkeypatch.setenv("SEP3D_CALIBRATION", str(tmp_path / "none.json"))


def rank_kernel(shape, rank, seed=0):
    rng = np.random.default_rng(seed)
    k = np.zeros(shape)
    for _ in range(rank):
        k += np.einsum("i,j,k->ijk", *(rng.standard_normal(n) for n in shape))
    return k


def test_direct_cost_is_prod_of_kernel_shape():
    c = cost_model(np.ones((3, 5, 7)), (20, 21, 22))
    assert c["direct"]["macs_per_voxel"] == 105
    assert c["direct"]["work"] == 105 * 20 * 21 * 22


def test_separable_cost_is_rank_times_sum_of_taps():
    c = cost_model(rank_kernel((5, 7, 9), 3), (16, 16, 16))
    assert c["separable"]["rank"] == 3
    assert c["separable"]["macs_per_voxel"] == 3 * (5 + 7 + 9)
    assert c["separable"]["passes"] == 9
    assert c["separable"]["bytes"] == 9 * 2 * 16 ** 3 * 4


def test_gaussian_separable_cost_is_sum_of_fir_sizes():
    sigma = (1.0, 2.5, 6.0)
    c = cost_model(("gaussian", sigma), (32, 32, 32))
    assert c["separable"]["macs_per_voxel"] == sum(2 * gaussian_radius(s) + 1 for s in sigma)
    assert c["direct"]["macs_per_voxel"] == math.prod(2 * gaussian_radius(s) + 1 for s in sigma)


@pytest.mark.parametrize("ndim", [2, 3])
def test_recursive_cost_is_16_per_axis_plus_the_boundary_states(ndim):
    from sep3d.kernels import recursive_gaussian

    reach = recursive_gaussian(3.0).reach
    c = cost_model(("gaussian", 3.0), (32,) * ndim)
    assert c["recursive"]["macs_per_voxel"] == pytest.approx(ndim * (16 + 8 * min(reach + 1, 32) / 32))
    assert c["recursive"]["passes"] == ndim
    long = cost_model(("gaussian", 3.0), (4096,) * 2)["recursive"]["macs_per_voxel"]
    assert 32 < long < 32 * 1.05  # sigma-independent once the lines are long


def test_fft_padded_sizes_are_next_fast_len():
    shape, kshape = (50, 61, 33), (7, 5, 3)
    c = cost_model(np.ones(kshape), shape)
    expected = tuple(next_fast_len(n + k - 1, real=True) for n, k in zip(shape, kshape))
    assert c["fft"]["padded"] == expected
    p = math.prod(expected)
    assert c["fft"]["work"] == pytest.approx(planner.FFT_FACTOR * p * math.log2(p) * 3 + 3 * p)


def test_float64_moves_twice_the_bytes():
    k = np.ones((3, 3, 3))
    c32, c64 = cost_model(k, (16, 16, 16), np.float32), cost_model(k, (16, 16, 16), np.float64)
    assert c64["direct"]["bytes"] == 2 * c32["direct"]["bytes"]


def test_table_lists_applicable_methods():
    assert plan_methods(np.ones((3, 3, 3)), (16, 16, 16)).methods == ("direct", "separable", "fft")
    assert plan_methods(("gaussian", 2.0), (16, 16, 16)).methods == ("direct", "separable", "fft", "recursive")
    full = plan_methods(np.random.default_rng(0).standard_normal((9, 9, 9)), (16, 16, 16))
    assert full.methods == ("direct", "fft")
    assert any("separable not applicable" in n for n in full.notes)


def test_larger_kernels_never_make_direct_cheaper():
    preds = [plan_methods(np.ones((k, k, k)), (32, 32, 32))["direct"].predicted_s for k in (1, 3, 5, 9, 15)]
    assert preds == sorted(preds)


def documented_seconds(method, macs_per_voxel, n_voxels, bytes_moved):
    """The module docstring's formula with DEFAULT_CONSTANTS (the tests run without a calibration)."""
    c = DEFAULT_CONSTANTS
    work = macs_per_voxel * n_voxels / c["work_per_s"][method]
    memory = bytes_moved / c["bytes_per_s"]
    return (work + memory if method == "direct" else max(work, memory)) + c["overhead_s"][method]


def fft_macs_per_voxel(padded, n_voxels):
    p = math.prod(padded)
    return (planner.FFT_FACTOR * p * math.log2(p) * 3 + 3 * p) / n_voxels


@pytest.mark.parametrize("kernel, expected", [
    # 9x9x9 box, rank 1: separable does 3 x 9 = 27 MACs a voxel (memory-bound: 3 passes x 8 B,
    # 1.4 ms) against direct's 729 (24 ms) and fft's ~200 over a 72^3 pad at 2.9e9/s (19 ms)
    (np.ones((9, 9, 9)), "separable"),
    # full-rank 3x3x3: no exact decomposition cheaper than direct (rank >= 3 > (27 - 1) // 9),
    # so direct's 27 MACs (1.2 ms) against fft's ~200 at a third of the rate (19 ms)
    (np.random.default_rng(1).standard_normal((3, 3, 3)), "direct"),
])
def test_small_kernels_choose_what_the_cost_model_makes_clear(kernel, expected):
    assert choose_method(kernel, (64, 64, 64)) == expected


def test_box_3_choice_follows_the_documented_formula():
    # A close call (3%): a 3x3x3 box on 64^3 float32. Every prediction re-derived from the
    # formulas of sep3d.planner's docstring, and the choice is the smallest one: direct.
    n, item = 64 ** 3, 4
    padded = (next_fast_len(64 + 3 - 1, real=True),) * 3
    expected = {
        "direct": documented_seconds("direct", 27, n, 2 * n * item),
        "separable": documented_seconds("separable", 3 + 3 + 3, n, 3 * 2 * n * item),  # rank 1, 3 passes
        "fft": documented_seconds("fft", fft_macs_per_voxel(padded, n), n, 6 * math.prod(padded) * 2 * item),
    }
    table = plan_methods(np.ones((3, 3, 3)), (64, 64, 64))
    assert table.methods == tuple(expected)
    for method, seconds in expected.items():
        assert table[method].predicted_s == pytest.approx(seconds, rel=1e-12)
    assert table.choice == min(expected, key=expected.get) == "direct"


def test_large_full_rank_kernel_is_fft():
    kernel = np.random.default_rng(0).standard_normal((63, 63, 63))
    assert choose_method(kernel, (128, 128, 128)) == "fft"


def test_wide_gaussian_on_long_lines_is_recursive():
    table = plan_methods(("gaussian", 32.0), (2048, 2048))
    assert table.choice == "recursive"
    assert table["recursive"].predicted_s < table["separable"].predicted_s
    # reach 241 > 64: the boundary states read whole lines, 8 more multiply-adds per sample
    short = cost_model(("gaussian", 16.0), (64, 64, 64))["recursive"]["macs_per_voxel"]
    long = cost_model(("gaussian", 16.0), (4096,) * 3)["recursive"]["macs_per_voxel"]
    assert short == pytest.approx(3 * (16 + 8))
    assert long == pytest.approx(3 * (16 + 8 * 242 / 4096))


def test_table_str_is_aligned_and_names_choice():
    table = plan_methods(np.ones((3, 3, 3)), (16, 16, 16))
    text = str(table)
    lines = text.splitlines()
    assert lines[-1] == f"choice: {table.choice}"
    for line in lines[1:5]:  # header + 3 rows: fixed-width, right-aligned columns end at char 59
        assert line[58] != " " and line[59:61] in ("", "  ")
    assert "direct" in text and "fft" in text


def test_measure_runs_and_skips():
    table = measure_methods(("gaussian", 1.0), (12, 12, 12))
    assert all(r.measured_s is not None and r.measured_s > 0 for r in table.rows)
    slow = measure_methods(np.ones((3, 3, 3)), (8, 8, 8),
                           calibration={**DEFAULT_CONSTANTS, "work_per_s": {m: 1e-3 for m in planner.METHODS}})
    assert all(r.skipped and r.measured_s is None for r in slow.rows)
    assert "skipped" in str(slow)


def test_load_calibration_defaults_without_file(tmp_path):
    assert load_calibration(path=tmp_path / "missing.json")["work_per_s"] == DEFAULT_CONSTANTS["work_per_s"]
    assert load_calibration()["source"] == "defaults"


def test_quick_calibration_round_trips_and_changes_predictions(tmp_path):
    path = tmp_path / "cal.json"
    result = calibrate(quick=True, path=path)
    data = json.loads(path.read_text())
    loaded = load_calibration(path=path)
    assert loaded["work_per_s"] == data["work_per_s"] == result["work_per_s"]
    assert set(loaded["work_per_s"]) == set(planner.METHODS)
    assert loaded["bytes_per_s"] > 0 and loaded["source"] == str(path)
    kernel, shape = np.ones((5, 5, 5)), (32, 32, 32)
    before = plan_methods(kernel, shape)
    after = plan_methods(kernel, shape, calibration=loaded)
    assert [r.predicted_s for r in before.rows] != [r.predicted_s for r in after.rows]
    assert after.calibration == str(path)


def test_calibration_env_path(monkeypatch, tmp_path):
    monkeypatch.setenv("SEP3D_CALIBRATION", str(tmp_path / "c.json"))
    assert planner.calibration_path() == tmp_path / "c.json"
    (tmp_path / "c.json").write_text(json.dumps({"work_per_s": {"fft": 1.0}}))
    assert load_calibration()["work_per_s"]["fft"] == 1.0


def test_bad_calibration_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="is not a sep3d calibration"):
        load_calibration(path=bad)


def test_choose_method_result_matches_plan_choice():
    kernel = rank_kernel((7, 7, 7), 2)
    assert choose_method(kernel, (32, 32, 32)) == plan_methods(kernel, (32, 32, 32)).choice


# ---------------------------------------------------------------------------------------
# argument errors


def test_bad_backend():
    with pytest.raises(NotImplementedError, match="`backend` must be one of"):
        plan_methods(np.ones((3, 3, 3)), (8, 8, 8), backend="cuda")
    with pytest.raises(NotImplementedError, match="`backend` must be one of"):
        calibrate(backend="tpu")


def test_bad_shape():
    with pytest.raises(TypeError, match="`shape` must be a sequence of ints"):
        plan_methods(np.ones(3), 5)
    with pytest.raises(ValueError, match="`shape` must hold at least one int >= 1"):
        plan_methods(np.ones((3, 3)), (0, 4))


def test_bad_dtype():
    with pytest.raises(TypeError, match="`dtype` must be a real numeric dtype"):
        plan_methods(np.ones((3, 3)), (4, 4), np.complex64)


def test_bad_kernels():
    with pytest.raises(ValueError, match=r"must be \('gaussian', sigma\); got kind 'box'"):
        plan_methods(("box", 3), (8, 8))
    with pytest.raises(ValueError, match="sigma must be one value or one per axis"):
        plan_methods(("gaussian", (1.0, 2.0)), (8, 8, 8))
    with pytest.raises(ValueError, match="sigma must be finite and >= 0"):
        plan_methods(("gaussian", -1.0), (8, 8, 8))
    with pytest.raises(TypeError, match="must be a real numeric array"):
        plan_methods(np.array(["a"]), (8,))
    with pytest.raises(ValueError, match="must be a non-empty 3-D array"):
        plan_methods(np.ones((3, 3)), (8, 8, 8))


# ---------------------------------------------------------------------------------------
# parse_kernel


def test_parse_gaussian():
    assert parse_kernel("gaussian:sigma=6") == ("gaussian", (6.0, 6.0, 6.0))
    assert parse_kernel("gaussian:sigma=1x2x0.5") == ("gaussian", (1.0, 2.0, 0.5))
    assert parse_kernel("gaussian:sigma=2", ndim=2) == ("gaussian", (2.0, 2.0))


def test_parse_box_and_random(tmp_path):
    box = parse_kernel("box:size=7")
    assert box.shape == (7, 7, 7) and box.sum() == pytest.approx(1.0)
    assert parse_kernel("box:size=3x5x1").shape == (3, 5, 1)
    low = parse_kernel("random:size=15,rank=3,seed=0")
    assert low.shape == (15, 15, 15)
    assert cost_model(low, (16, 16, 16))["separable"]["rank"] == 3
    np.testing.assert_array_equal(low, parse_kernel("random:size=15,rank=3,seed=0"))
    full = parse_kernel("random:size=15")
    assert full.shape == (15, 15, 15) and "separable" not in cost_model(full, (16, 16, 16))
    path = tmp_path / "k.npy"
    np.save(path, box)
    np.testing.assert_array_equal(parse_kernel(str(path)), box)


@pytest.mark.parametrize("text, match", [
    ("bogus:size=3", "kernel kind must be one of .* got 'bogus'"),
    ("box:size", "kernel parameter must be name=value; got 'size'"),
    ("box:width=3", r"`box` kernels take \['size'\]; got parameter 'width'"),
    ("box:", "`box` kernels need `size=`"),
    ("gaussian:sigma=abc", "`sigma` must be a float or floats joined by 'x'; got 'abc'"),
    ("gaussian:sigma=1x2", "`sigma` must be one or 3 finite values >= 0; got '1x2'"),
    ("box:size=q", "`size` must be an int or ints joined by 'x'; got 'q'"),
    ("box:size=0", "`size` must be one or 3 ints >= 1; got '0'"),
    ("random:size=5,rank=x", "`rank` must be an int >= 1; got 'x'"),
    ("random:size=5,rank=0", "`rank` must be an int >= 1; got '0'"),
])
def test_parse_errors_name_the_bad_part(text, match):
    with pytest.raises(ValueError, match=match):
        parse_kernel(text)


def test_parse_missing_file_and_type():
    with pytest.raises(FileNotFoundError, match="kernel file 'nope.npy' does not exist"):
        parse_kernel("nope.npy")
    with pytest.raises(TypeError, match="`text` must be a str; got int"):
        parse_kernel(3)


# ---------------------------------------------------------------------------------------
# CLI


def _cli(*args, env_path):
    import os

    env = {**os.environ, "SEP3D_CALIBRATION": str(env_path)}
    return subprocess.run([sys.executable, "-m", "sep3d.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_plan_prints_table_and_choice(tmp_path):
    res = _cli("plan", "--shape", "512,512,300", "--kernel", "gaussian:sigma=6", env_path=tmp_path / "x.json")
    assert res.returncode == 0, res.stderr
    for method in ("direct", "separable", "fft", "recursive"):
        assert method in res.stdout
    # Pinned from the documented model with the default constants, per voxel: separable runs
    # 3 x 49 taps (radius int(4 * 6 + 0.5) = 24) = 147 MACs at 8e9/s = 18.4 ns; recursive runs
    # 16 MACs per axis plus the boundary states, 8 (reach + 1) / n per axis, at 3.5e9/s, about
    # 15 ns; fft (pad ~576^2 x 360, ~310 MACs at 2.9e9/s) and direct (49^3 MACs) are far behind.
    from sep3d.kernels import recursive_gaussian

    shape, n = (512, 512, 300), 512 * 512 * 300
    reach = recursive_gaussian(6.0).reach
    separable = documented_seconds("separable", 3 * (2 * gaussian_radius(6.0) + 1), n, 3 * 2 * n * 4)
    recursive = documented_seconds("recursive", sum(16 + 8 * min(reach + 1, m) / m for m in shape), n,
                                   3 * 2 * n * 4)
    assert recursive < 0.9 * separable  # a clear margin, not a rounding
    assert res.stdout.strip().splitlines()[-1] == "choice: recursive"


def test_cli_plan_measure_tiny(tmp_path):
    res = _cli("plan", "--shape", "10,10,10", "--kernel", "box:size=3", "--measure", "--dtype", "float64",
               env_path=tmp_path / "x.json")
    assert res.returncode == 0, res.stderr
    assert "float64" in res.stdout and "choice: " in res.stdout
    row = next(line for line in res.stdout.splitlines() if line.startswith("direct"))
    assert float(row.split()[4]) > 0  # measured seconds


def test_cli_plan_errors(tmp_path):
    res = _cli("plan", "--shape", "10,x", "--kernel", "box:size=3", env_path=tmp_path / "x.json")
    assert res.returncode == 2 and "--shape must be ints" in res.stderr
    res = _cli("plan", "--shape", "10,10", "--kernel", "box:width=3", env_path=tmp_path / "x.json")
    assert res.returncode == 2 and "got parameter 'width'" in res.stderr
