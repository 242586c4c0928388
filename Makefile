# dynamodb-dr developer entry points. `make drill` and `make test` set everything up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

VENV := .venv
TOOLS := .tools
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
SAM := $(TOOLS)/sam/bin/sam
CHECKOV := $(TOOLS)/checkov/bin/checkov
SAM_CLI_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30

# The Lambda runtime is python3.13: find a 3.13 interpreter on PATH first, then through pyenv.
PYTHON313 := $(shell (python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null) \
	|| (v=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$$' | tail -n 1); \
	    [ -n "$$v" ] && PYENV_VERSION=$$v pyenv which python 2>/dev/null))
PY313_DIR := $(dir $(PYTHON313))

.PHONY: help venv tools lint typecheck unit pytest template-checks build test drill bench clean

help:
	@echo "make drill   run the DR drill on the embedded AWS emulator (sets up .venv)"
	@echo "make test    every check CI runs: ruff, mypy, pytest, cfn-lint, checkov, sam validate, sam build"
	@echo "make bench   benchmarks against peers (bench/)"

python313:
	@if [ -z "$(PYTHON313)" ] || [ ! -x "$(PYTHON313)" ]; then \
	  echo "error: python3.13 not found on PATH or in pyenv (install it: pyenv install 3.13)" >&2; exit 1; fi

$(VENV)/.installed: pyproject.toml layers/dynamodb_dr/requirements.txt | python313
	@test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	@$(UV) pip install --quiet --python $(PY) -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

$(TOOLS)/sam/.installed: | python313 venv
	@test -x $(TOOLS)/sam/bin/python || $(UV) venv --quiet --python $(PYTHON313) $(TOOLS)/sam
	@$(UV) pip install --quiet --python $(TOOLS)/sam/bin/python aws-sam-cli==$(SAM_CLI_VERSION)
	@touch $@

$(TOOLS)/checkov/.installed: | python313 venv
	@test -x $(TOOLS)/checkov/bin/python || $(UV) venv --quiet --python $(PYTHON313) $(TOOLS)/checkov
	@$(UV) pip install --quiet --python $(TOOLS)/checkov/bin/python checkov==$(CHECKOV_VERSION)
	@touch $@

tools: $(TOOLS)/sam/.installed $(TOOLS)/checkov/.installed

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv tools
	CHECKOV=$(abspath $(CHECKOV)) $(VENV)/bin/pytest -n 2 --dist loadgroup

template-checks: venv tools
	$(VENV)/bin/cfn-lint template.yaml docs/cross-account/vault.yaml
	$(SAM) validate --lint --template template.yaml

# PYTHON: the interpreter the layer's Makefile compiles its bytecode with (it must be 3.13).
build: tools
	PATH="$(PY313_DIR):$$PATH" PYTHON="$(PYTHON313)" $(SAM) build --cached --parallel --template template.yaml

test: lint typecheck template-checks build pytest
	@echo "make test: all checks passed"

drill: venv
	$(VENV)/bin/dynamodb-dr drill $(DRILL_ARGS)

# Side-by-side benchmarks (bench/): one table + bench/results/latest.json. dynamodump, the peer
# tool, is installed into its own venv (.tools/dynamodump) on first use. BENCH_ARGS="--quick"
# for a smoke run, "--only cdc", "--update-readme" to refresh the table in docs/performance.md.
bench: venv build
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache
