# Two commands do all set-up on a fresh machine (Python 3.11, pip, no GPU):
#   make demo   -- create/refresh .venv, install sep3d (with PyRadiomics), run the demo, the CT
#                  filter-bank pipeline (pipelines/ct-filter-bank.yaml) and the CT radiomics
#                  pipeline (pipelines/ct-radiomics.yaml) and IBSI 2's filters as PyRadiomics image
#                  types (pipelines/ibsi2-radiomics.yaml) on the sample data, then the hyperspectral
#                  scene pipeline (pipelines/hyperspectral.yaml) whole and in tiles
#   make test   -- create/refresh .venv with the test extras, run the whole test suite
# Both are idempotent: the virtualenv is rebuilt only when pyproject.toml changes.
#   make docs   -- the documentation site (Sphinx) into docs/_build/html
#   make test-pythons -- the suite on every supported Python (3.10-3.13), one venv each in
#                        .venvs/ (PYTHONS=..., PYTHONS_SUITE=full|core)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Numba's compiled kernels are cached next to the venv so a second run starts warm.
export NUMBA_CACHE_DIR := $(CURDIR)/$(VENV)/numba-cache

# Mutation testing of the orchestration and I/O modules: MUTATE_MINUTES of mutant runs
# (results kept in .mutate/, so a rerun continues with the survivors and the rest).
MUTATE_MINUTES ?= 30

# `make test-pythons`: the Pythons to test on and what to run on each (full | core).
PYTHONS ?= 3.10 3.11 3.12 3.13
PYTHONS_SUITE ?= full

.PHONY: demo test test-pythons bench bench-ibsi docs mutate clean

$(VENV)/.stamp-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

# The `radiomics` extra is PyRadiomics as pyradiomics-bhklab (plain pip on 3.10-3.13). A
# venv made before held PyRadiomics 3.0.1, the same `radiomics` module: it is removed first
# rather than overwritten file by file.
$(VENV)/.stamp-radiomics: $(VENV)/.stamp-base pyproject.toml
	$(PY) -m pip uninstall --quiet --yes pyradiomics
	$(PY) -m pip install --quiet -e ".[radiomics]"
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-radiomics pyproject.toml
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.stamp-radiomics
	$(VENV)/bin/sep3d demo --out demo-output
	$(VENV)/bin/sep3d run pipelines/ct-filter-bank.yaml --out demo-output/ct-filter-bank
	$(VENV)/bin/sep3d run pipelines/ct-radiomics.yaml --out demo-output/ct-radiomics/features.csv
	$(VENV)/bin/sep3d run pipelines/ibsi2-radiomics.yaml --out demo-output/ibsi2-radiomics/features.csv
	$(VENV)/bin/sep3d run pipelines/hyperspectral.yaml --out demo-output/hyperspectral
	$(VENV)/bin/sep3d run pipelines/hyperspectral.yaml --tiles 128 --out demo-output/hyperspectral-tiled

test: $(VENV)/.stamp-test
	$(PY) -m pytest -n 2 -q

test-pythons:
	$(PYTHON) tools/test_pythons.py --versions $(PYTHONS) --suite $(PYTHONS_SUITE)

$(VENV)/.stamp-mutate: $(VENV)/.stamp-test pyproject.toml
	$(PY) -m pip install --quiet -e ".[test,mutate]"
	touch $@

mutate: $(VENV)/.stamp-mutate
	$(PY) tools/mutate.py --minutes $(MUTATE_MINUTES)

bench: $(VENV)/.stamp-test
	$(PY) benchmarks/bench_cpu.py
	$(PY) benchmarks/bench_engines.py
	$(PY) benchmarks/bench_radiomics.py
	$(PY) benchmarks/bench_hyperspectral.py
	$(PY) benchmarks/bench_spectral.py

$(VENV)/.stamp-docs: $(VENV)/.stamp-radiomics pyproject.toml
	$(PY) -m pip install --quiet -e ".[radiomics,docs]"
	touch $@

# The documentation site into docs/_build/html (warnings are errors; the gallery runs examples/).
# The API pages are generated afresh: a page left from a name since removed would break -W.
docs: $(VENV)/.stamp-docs
	rm -rf docs/api/generated
	$(PY) -m sphinx -W -T -b html -d docs/_build/doctrees docs docs/_build/html

# IBSI 2 filters against MIRP, which runs in its own venv (its pins may clash with sep3d's).
.venvs/mirp/.stamp:
	$(PYTHON) -m venv .venvs/mirp
	.venvs/mirp/bin/python -m pip install --quiet mirp
	touch $@

bench-ibsi: $(VENV)/.stamp-test .venvs/mirp/.stamp
	$(PY) benchmarks/bench_ibsi.py --mirp-python .venvs/mirp/bin/python
	$(PY) benchmarks/bench_ibsi.py --mirp-python .venvs/mirp/bin/python --case lung1 --repeats 1

clean:
	rm -rf $(VENV) .venvs demo-output .mutate docs/_build docs/api/generated docs/auto_examples
