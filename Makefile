# Two promises: `make run` serves the API with demo data, `make test` passes the suite.
# Both create .venv and install into it first, so a fresh machine needs only Python 3.11 and make.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast test-real lint format postman bench bench-profile clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(STAMP)

run: install
	HALLS_DEMO_DATA=true $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# Everything, with branch coverage and its floor (pyproject.toml): what CI runs.
test: install
	$(BIN)/pytest

# The inner loop: every test but the slow fuzzing and property suites, without coverage.
test-fast: install
	$(BIN)/pytest -m "not slow" --no-cov

# The same suite against a real MongoDB: HALLS_TEST_MONGO_URI=mongodb://... make test-real
test-real: install
	@test -n "$$HALLS_TEST_MONGO_URI" || (echo "set HALLS_TEST_MONGO_URI" && exit 2)
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

postman: install
	bash postman/run.sh

# Benchmarks (bench/README.md): gunicorn on loopback, a generated dataset, one table of figures.
# make bench BENCH_ARGS="--quick" | "--venues 10000" | "--scaling"; MONGO_URI=... for MongoDB.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# pyinstrument over search, availability and booking in-process: make bench-profile BENCH_ARGS=...
bench-profile: $(BENCH_STAMP)
	$(BIN)/python -m bench.profile $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .coverage
