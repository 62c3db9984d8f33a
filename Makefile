# The two commands of the README: `make run` and `make test`. Each sets up what it needs (virtual
# environment, pinned dependencies, database, development keys) and can run on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint format openapi bench demo clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## Serve on 127.0.0.1:8000 (SQLite under ./var or $$GATEWAY_DATA_DIR; migrates and writes a dev admin key).
run: $(STAMP)
	$(BIN)/tradegw serve --host 127.0.0.1 --port 8000

## The whole suite, on SQLite and on PostgreSQL ($$GATEWAY_TEST_POSTGRES_URL, default 127.0.0.1:5432).
test: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: $(STAMP)
	$(BIN)/tradegw openapi --output openapi.yaml

## Two gateways on this machine exchange certificates of origin, told step by step (stops both when done).
demo: $(STAMP)
	$(BIN)/python -m tests.demo

bench: $(STAMP)
	$(BIN)/python bench/validate.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
