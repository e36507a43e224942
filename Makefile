# Every target sets itself up: a fresh machine needs only Python 3.11+ and pip.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck pytest browser fuzz mutation demo bench clean

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

pytest: $(STAMP) browser
	$(BIN)/pytest

# The console's browser test drives Debian's Chromium (a test tool's own browser download is
# blocked here). Where it is missing and apt-get can run as root (CI, a fresh machine), it is
# installed; elsewhere, or if that fails, the test skips and says why.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the console's browser test"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			-o DPkg::Lock::Timeout=600 --no-install-recommends chromium fonts-dejavu-core \
			>/dev/null; } || echo "chromium could not be installed: the browser test will skip"; \
	fi

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
