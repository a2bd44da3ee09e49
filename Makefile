# The two commands the README promises: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# First run: a virtualenv in .venv/ with qlambda and its pinned dependencies (pip shows
# each package as it goes); later runs skip this until pyproject.toml changes.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make needs $(PYTHON) (qlambda runs on Python 3.11 or 3.12); with another one: make PYTHON=python3.12 $(MAKECMDGOALS)"; exit 1; }
	@echo ">>> installing qlambda and its dependencies (Qiskit, Aer, Ray, Dask, PennyLane, ...) into $(VENV)/"
	@echo ">>> first run only: about 1.5 minutes and 1.4 GB"
	@start=$$(date +%s); \
	{ test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); } && \
	$(BIN)/python -m pip install --quiet --upgrade pip && \
	$(BIN)/python -m pip install --progress-bar on -e '.[dev]' && \
	$(BIN)/python -m pip install --progress-bar on --no-deps $$($(BIN)/python -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["tool"]["qlambda"]["install-without-dependencies"]))') && \
	touch $(STAMP) && \
	echo ">>> installed in $$(( $$(date +%s) - start )) s; the qlambda command is $(BIN)/qlambda (or run: source $(BIN)/activate)"

demo: $(STAMP)
	$(BIN)/qlambda demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts examples stubs
	# the type checker (configured in pyproject.toml: strict, over src/qlambda)
	$(BIN)/mypy
	# the sandbox of a shared server's jobs needs bubblewrap (installed here if missing)
	$(BIN)/python scripts/bubblewrap.py
	# the dashboard's browser tests drive a headless chromium (installed here if missing)
	$(BIN)/python scripts/chromium.py
	# SLURM pilots' tests start a single-node SLURM (slurmctld, slurmd, munge: installed
	# here if missing); MPI tasks' tests run Open MPI's mpirun (likewise)
	$(BIN)/python scripts/slurm.py
	$(BIN)/python scripts/openmpi.py
	$(BIN)/python -m pytest -m "not cluster"
	# multi-node clusters start in a fresh process, with the machine to themselves
	$(BIN)/python -m pytest -m cluster

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts examples stubs
	$(BIN)/ruff format --check src tests benchmarks scripts examples stubs
	$(BIN)/mypy

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
