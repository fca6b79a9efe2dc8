# indstocks-relay: two commands matter most.
#   make run   start the whole relay locally (moto + INDstocks simulator + chalice local)
#   make test  run every test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench audit venv clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<26.3"
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m local.stack

test: lint
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench.run

# Needs a vulnerability database (PyPI's JSON API or OSV); not part of the offline CI.
audit: $(STAMP)
	$(PY) -m pip install --quiet pip-audit==2.10.1
	$(VENV)/bin/pip-audit --requirement requirements.txt --strict

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy chalicelib --ignore-missing-imports

clean:
	rm -rf $(VENV) build .pytest_cache
