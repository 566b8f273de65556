# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo serve test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## embedded hub + simulated audience; prints the URLs
	$(BIN)/livecon demo

serve: $(STAMP)
	$(BIN)/livecon serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck  ## everything CI runs
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m loadtests.fanout_bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .livecon
