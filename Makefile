# TAP — the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test test-fast install lint fmt typecheck bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

## Start TAP in the foreground on the embedded database (http://localhost:3100).
run: install
	TAP_LISTEN_ADDR=$${TAP_LISTEN_ADDR:-127.0.0.1:3100} $(BIN)/tap-proxy

## Install the test extras and run every suite (slow ones included). The enclave
## extra is installed too: its custody path is tested against local fakes.
test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,enclave]'
	$(BIN)/python -m pytest

## Everything except suites marked slow.
test-fast: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,enclave]'
	$(BIN)/python -m pytest -m 'not slow'

lint: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/ruff check app enclave attestation tools tests image

fmt: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/ruff format app enclave attestation tools tests
	$(BIN)/ruff check --fix app enclave attestation tools tests

typecheck: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/mypy

include image/image.mk
include tools/bench/bench.mk
include tools/soak/soak.mk

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
