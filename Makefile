# itpm: `make run` serves the app, `make test` runs the whole suite, `make bench` the benchmarks,
# `make audit` looks for known vulnerabilities in the installed packages.
# Each works on a fresh machine: it creates .venv and installs what is missing.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ITPM := $(VENV)/bin/itpm
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=
# `make run` loads the demo data into a database without records (DEMO=no: it does not)
DEMO ?= yes

.PHONY: run test bench setup lint audit translations clean

CATALOGUE := platform/itpm/translations/zh/LC_MESSAGES/messages
$(STAMP): pyproject.toml
	.ci/system-packages build
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# The compiled catalogue is built, not kept in git (two branches' binaries cannot be merged).
$(CATALOGUE).mo: $(CATALOGUE).po $(STAMP)
	$(VENV)/bin/pybabel -q compile -d platform/itpm/translations

setup: $(STAMP) $(CATALOGUE).mo

run: setup
	.ci/system-packages run
	$(ITPM) init
ifeq ($(DEMO),yes)
	$(ITPM) demo --if-empty
endif
	$(ITPM) run --host $(HOST) --port $(PORT)

test: setup
	.ci/system-packages test
	.ci/services
	$(PY) -m pytest -n auto --dist loadgroup --durations=40 $(PYTEST_ARGS)

bench: setup
	.ci/services
	$(PY) -m bench

lint: setup
	$(VENV)/bin/ruff check .

# Known vulnerabilities in the installed packages (pip-audit asks PyPI's advisory service, so it
# needs the network; --strict: a package it could not check fails the run instead of passing
# unchecked). pip-audit runs from a venv of its own and audits the project's.
AUDIT_VENV ?= .venv-audit
audit: setup
	test -x $(AUDIT_VENV)/bin/pip-audit || ($(PYTHON) -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/pip install -q 'pip-audit>=2.10')
	PIPAPI_PYTHON_LOCATION=$(PY) $(AUDIT_VENV)/bin/pip-audit --strict --skip-editable --progress-spinner off

# Refresh the message catalogue after changing texts; translate the new entries in
# platform/itpm/translations/zh/LC_MESSAGES/messages.po, then compile.
translations: setup
	$(VENV)/bin/pybabel extract -F babel.cfg -k lazy_gettext -k _l -o /tmp/itpm-messages.pot .
	$(VENV)/bin/pybabel update -i /tmp/itpm-messages.pot -d platform/itpm/translations --no-fuzzy-matching
	$(VENV)/bin/pybabel compile -d platform/itpm/translations

clean:
	rm -rf $(VENV) $(AUDIT_VENV) instance .pytest_cache
