"""CUDA dispatch without a GPU: which kernel, launch geometry, fused tables, slabs, compile keys."""
import numpy as np
import pytest
import scipy.ndimage as ndi

from sep3d import filters
from sep3d._validate import Mode
from sep3d.backends import cuda
from sep3d.backends.common import boundary_index
from sep3d.kernels import FIR, gaussian_taps, moving_average

ALL = {e for exprs in cuda.instantiations().values() for e in exprs}


def launch_for(shape, axis, size, mode=Mode.REFLECT, dtype=np.float32):
    op = FIR(np.ones(size) / size)
    return cuda.pass_launch(shape, axis, op, mode, 0.0, 0, 1.0, dtype, None, None, None)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 9, 10, 17, 33, 64, 65, 66, 201])
@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("mode", list(Mode))
def test_every_launch_is_a_compiled_instantiation_with_valid_geometry(size, axis, mode):
    shape = (7, 300, 1000)
    for dtype in (np.float32, np.float64):
        launch = launch_for(shape, axis, size, mode, dtype)
        assert launch.name_expression in ALL
        assert all(1 <= g <= (2**31 - 1 if i == 0 else 65535) for i, g in enumerate(launch.grid))
        assert launch.block[0] % 32 == 0 and np.prod(launch.block) <= 1024
        assert launch.shared_bytes <= cuda.DEFAULT_SHARED_BYTES
        if axis == 2:
            expected = "axis_contiguous" if size <= 65 else "axis_contiguous_any"
        else:
            expected = "axis_strided" if size <= 65 else "axis_strided_any"
        assert launch.kernel == expected


def test_strided_segments_cover_the_axis_and_fill_the_gpu():
    launch = launch_for((1, 512, 64), 1, 17)  # one slab, few columns: split the axis
    gx, gy, gz = launch.grid
    seg = int(launch.args[7])
    assert gy * seg >= 512 and (gy - 1) * seg < 512
    assert gy > 1 and seg >= 17  # split as far as the halo (17 taps) allows: overlap below 2x
    very_long = launch_for((1, 10_000_000, 32), 1, 3)
    assert very_long.grid[1] <= 65535 and very_long.grid[1] * int(very_long.args[7]) >= 10_000_000


def test_contiguous_launch_covers_the_row():
    launch = launch_for((5, 7, 1000), 2, 9)
    bx = launch.block[0]
    assert launch.grid[0] * bx * cuda.CONTIG_P >= 1000
    assert launch.shared_bytes == launch.block[1] * (cuda.CONTIG_P * bx + 9 - 1) * 4


def test_a_kernel_too_wide_for_shared_memory_falls_back_to_the_strided_kernel():
    op = FIR(np.ones(20001) / 20001)
    launch = cuda.pass_launch((4, 30000), 1, op, Mode.WRAP, 0.0, 0, 1.0, np.float64, None, None, None)
    assert launch.kernel == "axis_strided_any" and launch.shared_bytes == 0


def test_taps_are_padded_to_the_bucket_so_a_new_sigma_reuses_the_kernel():
    names = set()
    for sigma in (1.0, 1.05, 1.1):  # radius 4 at truncate 4: 9 taps each, one compiled kernel
        op = FIR(gaussian_taps(sigma, 0, int(4 * sigma + 0.5)))
        names.add(cuda.pass_launch((8, 8, 8), 0, op, Mode.REFLECT, 0.0, 0, 1.0, np.float32, None, None, None)
                  .name_expression)
        taps = cuda.padded_taps(op, np.float32)
        assert taps.size == 9 and np.array_equal(taps[:op.size], op.taps.astype(np.float32))
    assert names == {"axis_strided<float, 9, 0>"}
    op = FIR(gaussian_taps(1.3, 0, 5))  # 11 taps -> bucket 13, zero-padded on the right
    taps = cuda.padded_taps(op, np.float64)
    assert taps.size == 13 and not taps[11:].any()


def scipy_taps(sigma, order, radius):
    """scipy's correlation taps: the impulse response of gaussian_filter1d, reversed."""
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    response = ndi.gaussian_filter1d(impulse, sigma, order=order, mode="constant", truncate=radius / sigma)
    return response[::-1]


def test_fused_spec_tables_for_a_laplacian_of_gaussian():
    plan = filters.plan_laplacian_of_gaussian(3, 2.0)
    spec = cuda.fused_spec(plan, (64, 64, 64), np.float32)
    d = cuda.source_defines("fused3d.cu")
    assert isinstance(spec, cuda.FusedSpec)
    # radius int(4 * 2.0 + 0.5) = 8 on every axis: a 17-plane z window (bucket 17), reach 8
    assert spec.kz == 17 and spec.n_pairs == 3  # (g, g), (g'', g), (g, g'') in y, x
    assert spec.meta[d["F3_NTERMS"]] == 3 and spec.meta[d["F3_NOUT"]] == 1 and spec.meta[d["F3_SQRT"]] == 0
    assert spec.meta[d["F3_HXL"]] == spec.meta[d["F3_HXR"]] == 8
    assert spec.shared_bytes <= cuda.DEFAULT_SHARED_BYTES
    # Each axis's table holds its distinct operators in the order the terms first use them:
    # term 0 is d2/dz2 (g'' on z, g on y and x), term 1 d2/dy2, term 2 d2/dx2. So slot 0 of z
    # is g'' and slot 1 g; on y and x slot 0 is g and slot 1 g''. Oracle: scipy's taps.
    g, g2 = scipy_taps(2.0, 0, 8), scipy_taps(2.0, 2, 8)
    tol = dict(rtol=0, atol=1e-15)
    for base, width, slots in ((d["F3_Z"], d["F3_MAXZ"], (g2, g)), (d["F3_Y"], d["F3_MAXT"], (g, g2)),
                               (d["F3_X"], d["F3_MAXT"], (g, g2))):
        for f, taps in enumerate(slots):
            # the z taps sit in the 17-plane window so that tap j meets plane z - hzl + j (hzl 8)
            np.testing.assert_allclose(spec.coef[base + f * width:base + f * width + 17], taps, **tol)
            assert not spec.coef[base + f * width + 17:base + (f + 1) * width].any()
    assert [spec.meta[d["F3_TERM_FZ"] + t] for t in range(3)] == [0, 1, 1]
    np.testing.assert_array_equal(spec.coef[d["F3_SCALE"]:d["F3_SCALE"] + 3], 1.0)  # unit spacing, no normalize
    # Launch geometry: one thread per output of a FUSED_TILE = (32, 8) tile, so the grid is
    # ceil(64 / 32) = 2 by ceil(64 / 8) = 8 tiles. z: the whole axis (64 planes) gives
    # 2 * 8 * 1 = 16 blocks, fewer than TARGET_BLOCKS (528), so the z chunk is halved while it
    # stays above max(8, 2 * kz) = 34: 64 -> 32, then 32 <= 34 stops; ceil(64 / 32) = 2 chunks.
    assert spec.block == (32, 8, 1)
    assert spec.grid == (-(-64 // 32), -(-64 // 8), 2)
    assert spec.meta[d["F3_ZCHUNK"]] == 32 and spec.meta[d["F3_NZCHUNKS"]] == 2
    assert f"fused3d<float, 0, {spec.kz}, {spec.n_pairs}>" in ALL


@pytest.mark.parametrize("plan,shape,reason", [
    (filters.plan_gaussian(1, 1.0), (50,), "1-D input"),
    (filters.plan_gaussian(3, 1.0, mode=["reflect", "wrap", "reflect"]), (9, 9, 9), "different modes"),
    (filters.plan_gaussian(3, 1.0, mode="constant", cval=1.0), (9, 9, 9), "cval != 0"),
    (filters.plan_gaussian(3, (3.0, 1.0, 1.0)), (30, 9, 9), "z window above 17"),
    (filters.plan_gaussian(3, (1.0, 5.0, 1.0)), (9, 30, 9), "reach above 16"),
    (filters.plan_gaussian(4, 1.0), (4, 9, 9, 9), "before the last three"),
])
def test_fused_spec_says_why_a_plan_runs_pass_by_pass(plan, shape, reason):
    spec = cuda.fused_spec(plan, shape, np.float32)
    assert isinstance(spec, str) and reason in spec


def test_fused_spec_respects_the_shared_memory_of_the_device():
    plan = filters.plan_gaussian(3, (1.0, 4.0, 4.0))
    assert isinstance(cuda.fused_spec(plan, (9, 64, 64), np.float64), cuda.FusedSpec)
    assert "shared memory" in cuda.fused_spec(plan, (9, 64, 64), np.float64, max_shared=16 * 1024)


def test_integer_exact_moving_average_stays_on_the_per_axis_kernels():
    op = moving_average(3)
    plan = filters.FilterPlan((filters.Output((filters.Term(1.0, (op, op, op)),)),), (Mode.REFLECT,) * 3)
    assert "divisor" in cuda.fused_spec(plan, (9, 9, 9), np.float32)


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("n,halo,rows", [(100, (8, 8), 40), (23, (3, 5), 12), (5, (9, 9), 30), (64, (0, 0), 7)])
def test_slabs_cover_the_axis_with_the_halo(mode, n, halo, rows):
    slabs = cuda.slab_plan(n, halo, row_bytes=10, budget_bytes=rows * 10, mode=mode)
    covered = []
    for slab in slabs:
        covered.extend(range(slab.start, slab.stop))
        assert slab.rows.size == slab.stop - slab.start + sum(halo) <= rows
        assert slab.crop == halo[0]
        positions = np.arange(slab.start - halo[0], slab.stop + halo[1])
        inside = (positions >= 0) & (positions < n)
        np.testing.assert_array_equal(slab.rows[inside], positions[inside])  # real rows where they exist
        # outside the axis: scipy's extension of the whole axis (CPU engine's rule)
        whole = boundary_index(n, n * 3, 7 * n, int(mode))  # position p at index p + 3n
        np.testing.assert_array_equal(slab.rows[~inside], whole[positions[~inside] + 3 * n])
    assert covered == list(range(n))


def test_slabs_refuse_when_nothing_fits():
    with pytest.raises(MemoryError, match="room for 3 rows .* needs 9"):
        cuda.slab_plan(100, (4, 4), row_bytes=10, budget_bytes=30, mode=Mode.REFLECT)


def test_every_defined_offset_of_the_fused_kernel_is_in_range():
    d = cuda.source_defines("fused3d.cu")
    assert d["F3_META"] == d["F3_TERM_OUT"] + d["F3_MAXTERMS"]
    assert d["F3_COEF"] == d["F3_SCALE"] + d["F3_MAXTERMS"]
    assert cuda.Z_BUCKETS[-1] == d["F3_MAXZ"]
    assert cuda.source_defines("axis_contiguous.cu")["CONTIG_P"] == cuda.CONTIG_P
