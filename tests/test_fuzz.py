"""Differential fuzzing of both API layers against scipy.ndimage (see ``tests/fuzz_cases.py``).

Bounded for CI: ``SEP3D_FUZZ_EXAMPLES`` examples per test (default 300). The long
campaign with its counts by outcome is ``python benchmarks/fuzz_campaign.py``.
"""
import os

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz_cases import ndimage_cases, rich_cases, run_case

EXAMPLES = int(os.environ.get("SEP3D_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("SEP3D_FUZZ_RANDOM") is None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], database=None)


@FUZZ
@given(ndimage_cases())
def test_ndimage_matches_scipy_on_random_calls(case):
    run_case(case)


@FUZZ
@given(rich_cases())
def test_rich_api_matches_scipy_on_random_calls(case):
    run_case(case)


@pytest.mark.parametrize("seed", range(3))
def test_the_fuzz_oracle_catches_a_planted_bug(seed, monkeypatch):
    # the harness must be able to fail: perturb one tap of every Gaussian and watch it report
    from hypothesis import find

    import sep3d.kernels
    import sep3d.ndimage
    from fuzz_cases import FuzzFailure

    original = sep3d.kernels.gaussian_taps

    def off_by_a_little(sigma, order=0, radius=4):
        taps = original(sigma, order, radius).copy()
        taps[0] *= 1.001
        return taps

    monkeypatch.setattr(sep3d.ndimage, "gaussian_taps", off_by_a_little)

    def fails(case):
        try:
            run_case(case)
        except FuzzFailure:
            return True
        return False

    case = find(ndimage_cases(), fails, settings=settings(max_examples=500, database=None, deadline=None,
                                                        derandomize=True, suppress_health_check=list(HealthCheck)))
    assert case.name.startswith("gaussian")
