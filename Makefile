# Two commands for a newcomer: `make demo` and `make test`. Nothing to install by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: demo test e2e lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/nornflow demo

test: $(VENV)/.test-installed
	$(BIN)/ruff check nornflow flows tests bench blocks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

e2e: $(VENV)/.test-installed
	$(BIN)/python -m pytest -q -m e2e

lint: $(VENV)/.test-installed
	$(BIN)/ruff check nornflow flows tests bench blocks
	$(BIN)/mypy
	$(BIN)/nornflow doctor --offline

bench: $(VENV)/.test-installed
	$(BIN)/python bench/backup.py --sizes 100

clean:
	rm -rf $(VENV) .nornflow .pytest_cache .mypy_cache .ruff_cache
