SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned: 2.13.0 is the CPU build these machines carry; an unpinned
# torch on a machine without it pulls a multi-GB CUDA build.
TORCH_PIN := torch==2.13.0

.PHONY: help install test test-oldest goldstar verify bench bench-areas bench-noise-floor areas clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/goldstar: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -e '.[torch,qp,plots,dev,taxcalc,areas]'
	touch $(BIN)/goldstar

install: $(BIN)/goldstar  ## create .venv and install goldstar with every extra

# the suite's processes: one a core of the 2-core machines it is sized for
TEST_WORKERS ?= 2
test: $(BIN)/goldstar  ## run the test suite (on TEST_WORKERS processes, pytest-xdist)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

OLDEST := .venv-oldest
test-oldest:  ## the suite and the verify of every reference on the oldest versions pyproject.toml allows (.venv-oldest)
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/pip install -q --upgrade pip
	$(PYTHON) scripts/oldest_constraints.py > $(OLDEST)/constraints.txt
	$(OLDEST)/bin/pip install -q $(TORCH_PIN)
	$(OLDEST)/bin/pip install -q -c $(OLDEST)/constraints.txt -e '.[torch,qp,plots,dev,taxcalc,areas]'
	$(OLDEST)/bin/python -m pytest -q -n $(TEST_WORKERS)
	$(MAKE) verify BIN=$(OLDEST)/bin

# reference/areas is made from reference/band (every area's input hash covers its weights by
# value), so it is regenerated after it; the 51 states' batch files go to a git-ignored build/.
# The capped joint reference starts from that batch (its areas are skipped as already done); the
# additive ones each from their own batch (~5 min each): the states on goldstar-69 with hard bands
# (goldstar-77 less the cells whose bands no additive weights meet together), and on goldstar-77
# with every band soft (relative slack units); then PA's districts within the latter's state weights
# (read from the committed reference, ~1.5 min).
goldstar: $(BIN)/goldstar  ## (release manager) make every reference: default, band, the areas made from band, their joint solve capped at 2, the additive states (hard bands on goldstar-69; every band soft), and PA's districts additive within their state
	$(BIN)/goldstar goldstar $(GOLDSTAR_ARGS)
	$(BIN)/goldstar goldstar --objective band $(GOLDSTAR_ARGS)
	$(BIN)/goldstar areas --areas states --out build/areas-reference --write-reference reference/areas --force --rerun-all --quiet
	$(BIN)/goldstar areas --areas states --max-exhaustion 2 --out build/areas-reference --write-reference reference/areas-max-exhaustion-2 --force --quiet
	$(BIN)/goldstar areas --areas states --recipe goldstar-69 --additive --out build/areas-additive --write-reference reference/areas-additive --force --quiet
	$(BIN)/goldstar areas --areas states --slack-units relative --additive --out build/areas-additive-relative --write-reference reference/areas-additive-relative --force --quiet
	$(BIN)/goldstar areas --areas districts:PA --within reference/areas-additive-relative --slack-units relative --additive --out build/districts-PA-additive-relative --write-reference reference/districts-PA-additive-relative --force --quiet

verify: $(BIN)/goldstar  ## check every committed reference: hashes, certificate, numpy recompute
	$(BIN)/goldstar verify --reference reference/default $(VERIFY_ARGS)
	$(BIN)/goldstar verify --reference reference/band $(VERIFY_ARGS)
	$(BIN)/goldstar verify --areas reference/areas
	$(BIN)/goldstar verify --areas reference/areas-max-exhaustion-2
	$(BIN)/goldstar verify --areas reference/areas-additive
	$(BIN)/goldstar verify --areas reference/areas-additive-relative
	$(BIN)/goldstar verify --areas reference/districts-PA-additive-relative

bench: $(BIN)/goldstar  ## every solver, default problem + synthetic series; band-newton vs Clarabel; writes BENCHMARKS.md
	$(BIN)/python scripts/bench.py
	$(BIN)/python scripts/bench_band.py

bench-areas: $(BIN)/goldstar  ## the areas on goldstar's recipe and on TMD's specs, and TMD's construction beside; writes BENCHMARKS.md (~1.5 h on 2 cores)
	$(BIN)/goldstar areas --areas states --out bench-areas/states --rerun-all --quiet
	$(BIN)/goldstar areas --areas districts --out bench-areas/districts --rerun-all --quiet
	$(BIN)/goldstar areas --areas synthetic:3000 --out bench-areas/synthetic-3000 --no-tmd-weights --rerun-all --quiet
	$(BIN)/python scripts/bench_areas.py bench-areas/states bench-areas/districts bench-areas/synthetic-3000
	$(BIN)/goldstar areas --areas states --recipe tmd-states --engine taxcalc --out bench-areas/tmd-states --rerun-all --quiet
	$(BIN)/goldstar areas --areas districts --recipe tmd-districts --engine taxcalc --out bench-areas/tmd-districts --rerun-all --quiet
	$(BIN)/python scripts/bench_areas.py bench-areas/tmd-states bench-areas/tmd-districts --section tmd-specs --json benchmarks/areas_tmd.json --plot benchmarks/areas_tmd_seconds.png
	$(BIN)/python scripts/tmd_area_construction.py --areas CA,TX,NY,WY,DC --recipe tmd-states --engine taxcalc

bench-noise-floor: $(BIN)/goldstar  ## each solver's spread of Tax-Calculator's totals between two record orders (~10 min on 2 cores)
	OMP_NUM_THREADS=1 $(BIN)/python scripts/noise_floor.py --solvers newton,clarabel,lbfgsb --jobs 2
	$(BIN)/python scripts/bench.py --render-only

areas: $(BIN)/goldstar  ## exact band weights of the 51 states on a local Dask cluster (AREAS=states OUT=areas-output)
	$(BIN)/goldstar areas --areas $(or $(AREAS),states) --out $(or $(OUT),areas-output) $(AREAS_ARGS)

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache *.egg-info
