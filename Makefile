# `make run` and `make test` each create or update .venv and install everything first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := $(wildcard plugins/*/pyproject.toml)

.PHONY: install run test leaderboard benchmark clean

$(STAMP): pyproject.toml $(PLUGINS) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	# The CPU build from the local wheel; plain `torch` would pull GBs of CUDA packages.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test]"
	# First-party plugins install through their own entry points, as a third party's would.
	$(BIN)/python -m pip install -q $(foreach p,$(PLUGINS),-e $(dir $(p)))
	touch $(STAMP)

install: $(STAMP)

# Run the default grid into results/ (resumable), promote its records, render the leaderboards.
run: install
	$(BIN)/vddbench run
	$(BIN)/vddbench promote
	$(BIN)/vddbench leaderboard

# Lint (ruff: pyflakes, pycodestyle, import order; settings in pyproject.toml), then the tests, one
# pytest worker per core (each test keeps one torch thread).
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n auto

leaderboard: install
	$(BIN)/vddbench leaderboard

# Speed and memory targets live here, as ratios against a baseline measured in the same run.
benchmark: install
	for script in benchmarks/*_benchmark.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) results
