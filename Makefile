# edgeface: the two set-up commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A local mirror of the upstream files (here: ../shared/upstream); empty = download from upstream URLs.
MIRROR ?= $(firstword $(wildcard ../shared/upstream))
export EDGEFACE_MIRROR := $(abspath $(MIRROR))
OUT ?= out

.PHONY: demo test install test-arm clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Workstation install: board runtime + conversion toolchain + test tools.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[convert,dev]"
	touch $@

install: $(VENV)/.installed

# Main job end to end on the sample data: fetch -> export -> convert -> run -> bench.
demo: install
	$(BIN)/edgeface fetch all
	$(BIN)/edgeface export --model all

test: install
	$(BIN)/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
