"""Every CUDA kernel specialisation the dispatcher can ask for compiles with NVRTC (no GPU).

NVRTC comes from the nvidia-cuda-nvrtc-cu12 wheel (test extra, Linux). Compiled for the
architectures of the A100 (sm_80) and the H100/H200 (sm_90) with the options the engine
uses, split by source, architecture and dtype so test workers share the work.
"""
import pytest

from sep3d.backends import cuda

nvrtc = pytest.importorskip("nvrtc")
LIB = nvrtc.library()
if LIB is None:
    pytest.skip("NVRTC is not installed (pip install nvidia-cuda-nvrtc-cu12)", allow_module_level=True)

SOURCES = sorted(cuda.instantiations())


@pytest.mark.parametrize("ctype", ["float", "double"])
@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
@pytest.mark.parametrize("source", SOURCES)
def test_every_instantiation_compiles(source, arch, ctype):
    exprs = [e for e in cuda.instantiations()[source] if f"<{ctype}," in e]
    assert exprs
    ok, log, ptx_bytes = nvrtc.compile_ptx(LIB, cuda.kernel_source(source), exprs,
                                           list(cuda.COMPILE_OPTIONS) + [f"-arch={arch}"])
    assert ok, log
    assert ptx_bytes > 1000 * len(exprs)  # real code for each, not an empty module
    assert "warning" not in log.lower(), log


def test_a_broken_source_is_reported():
    ok, log, _ = nvrtc.compile_ptx(LIB, "__global__ void k() { undefined_name; }", [], ["-arch=compute_90"])
    assert not ok and "undefined_name" in log
