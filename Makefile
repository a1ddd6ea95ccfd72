# Two commands: `make run` starts the dashboard on data/simulated_calls.csv, `make test` runs the suite.
# Both create .venv with the pinned dependencies on first use and reuse it afterwards.
# `make run PORT=8060 HOST=0.0.0.0` serves on another port or interface.
PYTHON ?= python3.11
PORT ?= 8050
HOST ?= 127.0.0.1
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the official FOCUS validator needs pandas < 3: its own venv, used by tests/focus/ through a subprocess
FOCUS_VENV := .venv-focus
FOCUS_STAMP := $(FOCUS_VENV)/.installed

.PHONY: run test test-fast lint bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

$(FOCUS_STAMP): tests/focus/focus-validator.txt
	@test -x $(FOCUS_VENV)/bin/python || $(PYTHON) -m venv $(FOCUS_VENV)
	$(FOCUS_VENV)/bin/python -m pip install --quiet -r tests/focus/focus-validator.txt
	@touch $(FOCUS_STAMP)

run: $(STAMP)
	$(BIN)/revenium-flow dashboard --host $(HOST) --port $(PORT)

# the whole suite on every CPU (pytest-xdist); the browser tests form one xdist group (tests/conftest.py),
# so they run one after another on one worker (one Chromium, dash_duo's port) beside the rest
test: $(STAMP) $(FOCUS_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n auto --dist loadgroup

# the edit-test loop: no browser, no slow tests, one pytest worker per CPU (pytest-xdist)
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n auto -m "not browser and not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(FOCUS_VENV) .pytest_cache .ruff_cache build *.egg-info
