# Two commands for a newcomer: `make demo` and `make test`. Nothing to install by hand.
# Both install one locked set of versions (uv.lock) with uv; `make lock` refreshes the lock.
# --compile-bytecode: every process (flow runs, workers, servers, the CLI) then imports from .pyc,
# also where PYTHONDONTWRITEBYTECODE is set (it is on this machine): `import prefect` 2.6 s -> 1.05 s.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: demo test e2e lint bench lock clean

$(UV):
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(TOOLS) uv==$(UV_VERSION)

$(VENV)/.demo-installed: uv.lock pyproject.toml Makefile | $(UV)
	$(UV) sync --quiet --frozen --compile-bytecode --python $(PYTHON) --extra lab --extra gateway --extra local
	touch $@

# The test environment is a superset of the demo's: after it, `make demo` installs nothing.
$(VENV)/.test-installed: uv.lock pyproject.toml Makefile | $(UV)
	$(UV) sync --quiet --frozen --compile-bytecode --python $(PYTHON) --extra test
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/nornflow demo

# Servers and clients the tests run, from Debian, installed where one is missing (CI runs as root):
# chromium (the browser tests), openssh-server (a real bastion in front of the lab), slapd and
# ldap-utils (a real directory for team mode), prometheus (scrapes the gateway's /metrics).
DEBIAN_PACKAGES := chromium openssh-server slapd ldap-utils prometheus
DEBIAN_STAMP := $(TOOLS)/.debian-installed
$(DEBIAN_STAMP): Makefile
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "installing from Debian: $$missing"; apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	mkdir -p $(TOOLS) && touch $@

# Two pytest workers (pytest-xdist), a test file per worker: most tests wait on servers, flows and
# schedules, so two at a time take about 60% of the serial time on this 2-core machine.
test: $(VENV)/.test-installed $(DEBIAN_STAMP)
	$(BIN)/ruff check nornflow flows tests bench blocks
	$(BIN)/mypy
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=25

e2e: $(VENV)/.test-installed
	$(BIN)/python -m pytest -q -m e2e

lint: $(VENV)/.test-installed
	$(BIN)/ruff check nornflow flows tests bench blocks
	$(BIN)/mypy
	$(BIN)/nornflow doctor --offline

bench: $(VENV)/.test-installed
	$(BIN)/python bench/scale.py --sizes 100,1000
	$(BIN)/python bench/gateway.py --size 100

# Refresh uv.lock to the newest versions pyproject.toml allows (then run `make test`).
lock: | $(UV)
	$(UV) lock --upgrade

clean:
	rm -rf $(VENV) $(TOOLS) test-output .nornflow .pytest_cache .mypy_cache .ruff_cache
