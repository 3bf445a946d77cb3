#!/usr/bin/env bash
# The GPU check, run on a lent GPU machine (the device tool) from the repository root:
#   bash benchmarks/gpu_check.sh [--size 512] [--repeats 7]
# 1. installs carried wheels from .whl/ if there are any (the GPU image already has CuPy,
#    NumPy, SciPy, Numba, pytest; see README "GPU check");
# 2. runs the GPU tests (parity with scipy, the CPU backend and cupyx.scipy.ndimage in
#    every mode, poisoned outputs) and the CPU-side CUDA tests (dispatch, emulator);
# 3. prints the GPU benchmark table (and writes it to $OUT/bench_gpu.md when $OUT is set).
# CuPy's kernel cache starts empty so that the reported compile times are real.
set -uo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export CUPY_CACHE_DIR="$(mktemp -d)" NUMBA_CACHE_DIR=/tmp/sep3d-numba-cache PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -m pytest -q -p no:cacheprovider -o addopts="-ra" \
    tests/test_cuda_gpu.py tests/test_cuda_dispatch.py tests/test_cuda_emulated.py
status=$?
python3 benchmarks/bench_gpu.py --out "${OUT:-/tmp}/bench_gpu.md" "$@" || status=1
exit $status
