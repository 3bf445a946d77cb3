"""Dask arrays: one overlap graph per plan, equal to scipy.ndimage and to the in-memory run."""
import warnings

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi
import zarr

import sep3d
from conftest import MODES, assert_close, make_volume
from sep3d import chunked
from sep3d import ndimage as sndi
from sep3d.filters import plan_gaussian, plan_laplacian_of_gaussian

SHAPE = (17, 23, 9)
# odd chunks, some smaller than the halo, one axis a single chunk
CHUNKINGS = [(5, 7, 4), (17, 6, 9), (9, 23, 2)]
small_chunks = pytest.mark.filterwarnings("ignore::sep3d.chunked.ChunkSizeWarning")


def f64(x):
    return np.asarray(x, dtype=np.float64)


def check_lazy(result, image, dtype, leading=()):
    """The contract of a chunked result: lazy, the input's chunks, meta and dtype."""
    assert isinstance(result, da.Array)
    assert result.dtype == dtype and result._meta.dtype == dtype
    assert type(result._meta) is type(image._meta)
    assert result.chunks == tuple((n,) for n in leading) + image.chunks


@small_chunks
@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("mode", MODES)
def test_gaussian_on_dask_matches_scipy_for_every_mode_and_chunking(mode, chunks):
    vol = make_volume(SHAPE, np.float32)
    lazy = da.from_array(vol, chunks=chunks)
    out = sep3d.gaussian(lazy, 1.5, mode=mode, cval=2.0)
    check_lazy(out, lazy, np.float32)
    ref = ndi.gaussian_filter(f64(vol), 1.5, mode=mode, cval=2.0)
    assert_close(out.compute(), ref, np.float32)


@small_chunks
@pytest.mark.parametrize("mode", MODES)
def test_multi_term_and_multi_output_plans_equal_the_in_memory_run(mode):
    vol = make_volume(SHAPE, np.float64)
    lazy = da.from_array(vol, chunks=(5, 7, 4))
    spacing = (2.0, 0.8, 1.1)
    cases = [
        (sep3d.laplacian_of_gaussian, (2.0,), {"spacing": spacing, "normalize": True}),
        (sep3d.gradient_magnitude, (1.0,), {"spacing": spacing}),
        (sep3d.difference_of_gaussians, (1.0, 2.0), {}),
        (sep3d.box, (4,), {"origin": (1, 0, -1)}),
        (sep3d.separable, ([1.0, 2.0, 0.5, -1.0],), {"axes": (0, 2)}),
        (sep3d.gaussian_derivative, (1.2, (1, 0, 2)), {}),
    ]
    for func, args, kwargs in cases:
        out = func(lazy, *args, mode=mode, **kwargs)
        check_lazy(out, lazy, np.float64)
        assert_close(out.compute(), func(vol, *args, mode=mode, **kwargs), np.float64)
    hess = sep3d.hessian(lazy, 1.0, mode=mode)
    check_lazy(hess, lazy, np.float64, leading=(6,))
    assert_close(hess.compute(), sep3d.hessian(vol, 1.0, mode=mode), np.float64)


@small_chunks
@pytest.mark.parametrize("mode", MODES)
def test_halo_at_least_the_axis_length_makes_that_axis_one_chunk(mode):
    vol = make_volume((30, 12, 40), np.float32)
    lazy = da.from_array(vol, chunks=(7, 5, 9))
    out = sep3d.gaussian(lazy, 5.0, mode=mode)  # radius 20: > 12 and > 7, < 30 and < 40
    check_lazy(out, lazy, np.float32)
    assert_close(out.compute(), ndi.gaussian_filter(f64(vol), 5.0, mode=mode), np.float32)


@small_chunks
@pytest.mark.parametrize("mode", MODES)
def test_ndimage_layer_on_dask_keeps_scipy_dtypes(mode):
    vol = make_volume(SHAPE, np.int16)
    lazy = da.from_array(vol, chunks=(6, 8, 5))
    out = sndi.gaussian_laplace(lazy, 1.3, mode=mode)
    assert isinstance(out, da.Array) and out.dtype == np.int16 and out.chunks == lazy.chunks
    np.testing.assert_array_equal(out.compute(), sndi.gaussian_laplace(vol, 1.3, mode=mode))
    out = sndi.gaussian_filter(lazy, 1.3, mode=mode, output=np.float64)
    assert out.dtype == np.float64
    assert_close(out.compute(), ndi.gaussian_filter(f64(vol), 1.3, mode=mode), np.float64)
    # a different mode per term: scipy's per-term sums, lazily
    out = sndi.gaussian_gradient_magnitude(lazy.astype(np.float32), 1.0, mode=[mode, "wrap", "nearest"])
    ref = ndi.gaussian_gradient_magnitude(vol.astype(np.float32), 1.0, mode=[mode, "wrap", "nearest"])
    assert_close(out.compute(), ref, np.float32)


def test_integer_input_becomes_float32_with_explicit_meta():
    lazy = da.from_array(make_volume((40, 40, 40), np.int16), chunks=(40, 20, 20))
    out = sep3d.gaussian(lazy, 0.8)
    check_lazy(out, lazy, np.float32)
    assert type(out._meta) is np.ndarray


def test_one_graph_layer_and_one_task_per_chunk_per_plan():
    lazy = da.from_array(make_volume((40, 40, 40), np.float32), chunks=20)
    for out in (sep3d.laplacian_of_gaussian(lazy, 1.0), sep3d.hessian(lazy, 1.0),
                sep3d.gradient_magnitude(lazy, 1.0)):
        names = [name.split("-")[0] for name in out.dask.layers]
        assert names.count("sep3d") == 1, names
        assert not any("overlap" in n or "ghost" in n for n in out.dask.layers), list(out.dask.layers)
        # one filter task per chunk
        assert sum(1 for k in out.dask if k[0].startswith("sep3d-")) == 8


def test_small_chunks_warn_and_name_better_chunks():
    lazy = da.from_array(make_volume((64, 64, 64), np.float32), chunks=8)
    with pytest.warns(chunked.ChunkSizeWarning, match=r"hold \d+\.\dx the array; chunks of \(\d+, \d+, \d+\)"):
        sep3d.gaussian(lazy, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sep3d.gaussian(lazy.rechunk(32), 1.0)  # blow-up (32+8)/32 per axis: < 2x, no warning


def test_the_warning_points_at_the_callers_line():
    lazy = da.from_array(make_volume((32, 32), np.float32), chunks=4)
    with pytest.warns(chunked.ChunkSizeWarning) as record:
        sndi.gaussian_filter(lazy, 2.0)
    assert record[0].filename == __file__


@pytest.mark.parametrize("shape,memory", [((512, 512, 512), "64MiB"), ((300, 2000, 2000), 2**28),
                                          ((16, 4096, 4096), "32MiB"), ((200, 30, 1000), "4MiB")])
def test_suggest_chunks_fit_memory_and_keep_overlap_low(shape, memory):
    from dask.utils import parse_bytes

    plan = plan_laplacian_of_gaussian(3, 2.0)
    chunks = chunked.suggest_chunks(shape, plan, memory)
    budget = parse_bytes(memory) if isinstance(memory, str) else memory
    depths, whole = chunked.overlap_depths(shape, plan)
    per_voxel = 4 * (1 + plan.n_results + plan.schedule().n_temps)
    assert per_voxel * np.prod([c + 2 * d if c < n else n for c, d, n in zip(chunks, depths, shape)]) <= budget
    blocks = tuple(tuple(min(c, n - i) for i in range(0, n, c)) for c, n in zip(chunks, shape))
    assert chunked.halo_blowup(blocks, depths) < chunked.BLOWUP_WARNING


def test_suggest_chunks_keeps_axes_shorter_than_the_halo_whole():
    plan = plan_gaussian(3, 6.0)  # radius 24
    chunks = chunked.suggest_chunks((20, 4096, 4096), plan, "16MiB")
    assert chunks[0] == 20 and chunks[1] < 4096


def test_suggest_chunks_rejects_bad_arguments():
    plan = plan_gaussian(3, 1.0)
    with pytest.raises(ValueError, match="`shape` must have 3 axes"):
        chunked.suggest_chunks((10, 10), plan)
    with pytest.raises(ValueError, match="`shape` must be positive"):
        chunked.suggest_chunks((10, 0, 10), plan)
    with pytest.raises(ValueError, match="`memory` must be a positive size"):
        chunked.suggest_chunks((10, 10, 10), plan, 0)


def test_dask_errors_name_the_argument():
    lazy = da.from_array(make_volume((10, 10), np.float32), chunks=5)
    with pytest.raises(TypeError, match="`output` must be None for a dask array"):
        sep3d.gaussian(lazy, 1.0, output=np.empty((10, 10), np.float32))
    with pytest.raises(TypeError, match="`output` must be None or a dtype for a dask array"):
        sndi.gaussian_filter(lazy, 1.0, output=np.empty((10, 10), np.float32))
    unknown = lazy[lazy[:, 0] > 0]
    with pytest.raises(ValueError, match="known chunk sizes"):
        sep3d.gaussian(unknown, 1.0)
    with pytest.raises(TypeError, match="`output` must be real"):
        sndi.gaussian_filter(lazy, 1.0, output=np.complex64)


@small_chunks
def test_dask_integer_outputs_are_scipys_bits_and_complex_inputs_work():
    vol = make_volume((20, 18, 16), np.int16)
    lazy = da.from_array(vol, chunks=(7, 9, 16))
    for name, args in (("gaussian_filter", (1.5,)), ("uniform_filter", (4,)), ("gaussian_laplace", (1.2,)),
                       ("sobel", ())):
        out = getattr(sndi, name)(lazy, *args, mode="constant", cval=5)
        assert isinstance(out, da.Array) and out.dtype == np.int16
        np.testing.assert_array_equal(out.compute(), getattr(ndi, name)(vol, *args, mode="constant", cval=5))
    cplx = make_volume((20, 18, 16), np.float64) + 1j * make_volume((20, 18, 16), np.float64, seed=2)
    lazy = da.from_array(cplx.astype(np.complex64), chunks=(7, 9, 16))
    out = sndi.gaussian_filter(lazy, 1.5, mode="wrap")
    assert out.dtype == np.complex64
    ref = ndi.gaussian_filter(cplx, 1.5, mode="wrap")
    assert_close(out.compute().real, ref.real, np.float32)
    assert_close(out.compute().imag, ref.imag, np.float32)
    rich = sep3d.laplacian_of_gaussian(lazy, 1.5, mode="constant", cval=2.0)
    assert rich.dtype == np.complex64
    ref = ndi.gaussian_laplace(cplx, 1.5, mode="constant", cval=2.0 + 0j)  # cval pads the real part
    assert_close(rich.compute().real, ref.real, np.float32)
    assert_close(rich.compute().imag, ref.imag, np.float32)


@small_chunks
def test_zarr_to_zarr_out_of_core(tmp_path):
    vol = make_volume((40, 36, 30), np.float32)
    da.from_array(vol, chunks=(20, 18, 15)).to_zarr(str(tmp_path / "in.zarr"))
    source = da.from_zarr(str(tmp_path / "in.zarr"))
    sep3d.laplacian_of_gaussian(source, 1.5, mode="nearest").to_zarr(str(tmp_path / "out.zarr"))
    stored = zarr.open(str(tmp_path / "out.zarr"), mode="r")
    assert stored.chunks == (20, 18, 15)
    ref = ndi.gaussian_laplace(f64(vol), 1.5, mode="nearest")
    assert_close(stored[...], ref, np.float32)


@pytest.mark.numba_engine
def test_threaded_scheduler_shares_one_kernel_pool(monkeypatch):
    # What sep3d.chunked._task_threads claims: under dask's threaded scheduler, with fewer
    # blocks than kernel threads, every block's kernels hand their work to the one pool of
    # the process (ThreadPoolExecutor threads named sep3d_0 .. sep3d_{n-1}); with at least
    # one block per kernel thread they run inline in dask's own worker threads instead.
    # A hook on backends.threads.parallel (which every CPU pass calls) records the thread each piece ran on.
    import threading

    from sep3d.backends import threads

    ran_on = []
    real_parallel = threads.parallel

    def recording_parallel(count, threads, work):
        def traced(a, b):
            ran_on.append(threading.current_thread().name)
            return work(a, b)
        return real_parallel(count, threads, traced)

    monkeypatch.setattr(threads, "parallel", recording_parallel)
    previous = threads.process_threads()
    threads.set_num_threads(4)  # a fixed pool size, whatever the machine's cores
    try:
        vol = make_volume((64, 64, 64), np.float32)
        ref = ndi.gaussian_filter(f64(vol), 1.0)
        # 2 blocks < 4 kernel threads: the kernels use the shared pool
        out = sep3d.gaussian(da.from_array(vol, chunks=(64, 64, 32)), 1.0).compute(scheduler="threads",
                                                                                   num_workers=2)
        assert_close(out, ref, np.float32)
        pool_names = {f"sep3d_{i}" for i in range(4)}
        assert ran_on and set(ran_on) <= pool_names  # every piece ran on a pool thread, none inline
        live = {t.name for t in threading.enumerate() if t.name.startswith("sep3d")}
        assert live <= pool_names  # one pool for both dask threads, never more than 4 threads
        # 8 blocks >= 4 kernel threads: inline in dask's threads, no hand-off to the pool
        ran_on.clear()
        out = sep3d.gaussian(da.from_array(vol, chunks=32), 1.0).compute(scheduler="threads", num_workers=4)
        assert_close(out, ref, np.float32)
        assert ran_on and not any(name.startswith("sep3d") for name in ran_on)
        assert threading.main_thread().name not in ran_on
    finally:
        threads.set_num_threads(previous)
