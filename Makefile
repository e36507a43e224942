# Every target sets itself up: a fresh machine needs only Python 3.11+ and pip.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck pytest fuzz mutation demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

# The property-based suite of the emulator at length: many random examples per API method
# (`make test` runs the same suite with a few, the same every time).
fuzz: $(STAMP)
	$(BIN)/pytest tests/emulator/test_fuzz.py --hypothesis-profile=fuzz --hypothesis-show-statistics

# Mutation testing of the binding, options, backoff and rate limit ([tool.mutmut]), from
# scratch (about 10 minutes on 2 cores); lists the mutants no test killed.
mutation: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run >/dev/null
	$(BIN)/mutmut results

demo: $(STAMP)
	$(BIN)/python -m examples.simple.demo

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis mutants
