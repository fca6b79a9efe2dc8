# indstocks-relay: two commands matter most.
#   make run   start the whole relay locally (moto + INDstocks simulator + chalice local)
#   make test  run every test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench audit package lint-infra deploy destroy venv clean
STAGE ?= prod

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

test: lint lint-infra audit
	$(PY) -m pytest -q

# Packaging runs on the newest Python >= 3.12 found (Chalice takes the Lambda runtime from it).
PKG_VENV := .venv-package
PKG_STAMP := $(PKG_VENV)/.installed

$(PKG_STAMP): requirements.txt
	@test -x $(PKG_VENV)/bin/python || $$(infra/find-python.sh) -m venv $(PKG_VENV)
	$(PKG_VENV)/bin/python -m pip install --quiet --upgrade "pip<26.3"
	$(PKG_VENV)/bin/python -m pip install --quiet chalice==1.34.0 boto3==1.44.8 -r requirements.txt
	@touch $(PKG_STAMP)

# Offline: the app template (+ deployment.zip) for STAGE into build/STAGE.
package: $(PKG_STAMP)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-ap-south-1} $(PKG_VENV)/bin/python -m infra.build --stage $(STAGE)

# cfn-lint and checkov (own venv, .venv-infra) on every template.
lint-infra: package
	infra/lint.sh build/$(STAGE)/sam.json infra/network.yaml

deploy: $(PKG_STAMP)
	PY=$(PKG_VENV)/bin/python infra/deploy.sh $(STAGE)

destroy:
	infra/destroy.sh $(STAGE)

bench: $(STAMP)
	$(PY) -m bench.run

# pip-audit on the runtime requirements: fails on a known vulnerability, warns about every
# package the vulnerability service could not check (AUDIT_REQUIRED=1 makes that fail too).
audit: $(STAMP)
	$(PY) .ci/audit.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy chalicelib --ignore-missing-imports

clean:
	rm -rf $(VENV) .venv-infra .venv-package build .pytest_cache
