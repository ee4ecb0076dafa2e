# Set-up and everyday commands. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
PYTEST_WORKERS ?= auto

.PHONY: install install-browser run test test-faults lint format bench migrate clean fuzz

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

NODE_STAMP := node_modules/.installed
VENDOR := api/static/vendor
VENDOR_STAMP := $(VENDOR)/.installed

# Front-end packages of the staff pages, exactly as locked in package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# Copied where the pages serve them (git-ignored).
$(VENDOR_STAMP): $(NODE_STAMP) scripts/vendor-assets.sh
	scripts/vendor-assets.sh $(VENDOR)
	touch $(VENDOR_STAMP)

install: $(STAMP) $(if $(wildcard package.json),$(VENDOR_STAMP))

# Debian's Chromium for the page tests (never a browser downloaded by a test tool).
install-browser:
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium chromium-driver)

migrate: install
	$(BIN)/frontdoor migrate

run: install
	$(BIN)/frontdoor migrate
	RUN_WORKER_IN_SERVER=true $(BIN)/frontdoor serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

# Restarts PostgreSQL and kills server workers while referrals arrive: run alone, never beside other tests.
# FAULT_PG_CLUSTER and FAULT_PG_PORT name the cluster restarted (default main, 5432); TEST_DATABASE_URL must be on it.
test-faults: install
	@test -n "$(TEST_DATABASE_URL)" || { echo "test-faults needs TEST_DATABASE_URL (PostgreSQL)"; exit 2; }
	$(BIN)/pytest -p no:xdist -m faults -s -q tests/faults

# Schemathesis from outside: a real server on a spare port with a fresh SQLite database, every role's key (a few minutes).
fuzz: install
	bash tests/contract/schemathesis_cli.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks on PostgreSQL (never part of `make test`): their own databases (frontdoor_bench_*), about half an
# hour in full; BENCH_QUICK=1 for a few minutes' smaller run, BENCH_REUSE=1 to keep data already loaded.
# BENCH_PG overrides the server (default postgresql+psycopg://postgres@127.0.0.1:5432).
bench: install
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install -y wrk"; exit 2; }
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache frontdoor.db*
