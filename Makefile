# The two quick-start commands (`make up`, `make test`) work on a fresh
# machine with Python 3.11+ and make: each creates .venv and installs first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The official AsyncAPI parser validates the event catalog's document in the
# tests; it comes from npm, so it is installed only where node is.
NODE_STAMP := $(VENV)/node/.installed
ASYNCAPI_PARSER := @asyncapi/parser@3.6.6
PACKAGES := libs/continuum libs/continuum-lm services/gateway services/scheduler services/persona-runtime services/genome-registry services/academy services/marketplace
EDITABLE := -e libs/continuum[node] -e libs/continuum-lm -e services/gateway -e services/scheduler -e services/persona-runtime -e services/genome-registry -e services/academy -e services/marketplace

.PHONY: up down status test test-fast lint typecheck bench generate clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	$(BIN)/pip install --quiet $(EDITABLE) -r requirements-dev.txt
	@touch $(STAMP)

up: $(STAMP)
	$(BIN)/continuum up

down: $(STAMP)
	$(BIN)/continuum down

status: $(STAMP)
	$(BIN)/continuum status

$(NODE_STAMP): $(BIN)/python
	@if command -v npm >/dev/null; then \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/node $(ASYNCAPI_PARSER) && touch $@; \
	else echo "npm not found: the AsyncAPI contract test will be skipped"; fi

test: $(STAMP) $(NODE_STAMP)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		echo "note: no Chromium, so the web app's browser tests will be skipped; install it with: sudo apt-get install chromium"
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

test-fast: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/pip install --quiet -r requirements-bench.txt
	$(BIN)/python tests/benchmarks/bench_backbone.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_faststream.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_gateway.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_thoughtstream.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_genome.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_academy.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_learning.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_mutations.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_mesh.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/sim_mesh.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_market.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_reputation.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_webapp.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_games.py --write docs/benchmarks.md
	$(BIN)/python tests/benchmarks/bench_code.py --write docs/benchmarks.md

# Files generated from code and committed (a test fails when one is stale).
generate: $(STAMP)
	$(BIN)/python -m continuum.natsauth > deploy/helm/continuum/files/nats-authorization.conf

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
