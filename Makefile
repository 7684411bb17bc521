# The two commands a newcomer needs: `make demo` and `make test`. Each target
# creates .venv and installs what it needs on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-dev
PYTEST := $(PY) -m pytest

.PHONY: install test test-unit test-functional test-infra test-e2e reliability lint demo bench invoke clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

test: test-unit test-functional test-infra test-e2e reliability

test-unit: install  ## pure core: engine, spec, stores (in-memory + SQLite)
	$(PYTEST) tests/unit tests/contract

test-functional: install  ## the AWS backend and the Lambda handlers against moto
	$(PYTEST) tests/aws tests/functional

test-infra: install  ## CDK synthesis, template assertions, cdk-nag
	$(PYTEST) tests/infra

test-e2e: install  ## the whole flow on the local emulator
	$(PYTEST) tests/e2e

reliability: install  ## fault injection, bad-input corpus, load (prints the figures)
	$(PYTEST) tests/reliability -s

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/core.py

invoke: install  ## start events/start.json on the deployed stack (needs AWS credentials)
	$(PY) -m infra.invoke --payload $(or $(PAYLOAD),events/start.json)

clean:
	rm -rf $(VENV) build cdk.out .pytest_cache

-include Makefile.infra
-include Makefile.local
