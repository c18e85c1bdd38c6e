# edgeface: the two set-up commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A local mirror of the upstream files (here: ../shared/upstream); empty = download from upstream URLs.
MIRROR ?= $(firstword $(wildcard ../shared/upstream))
ifneq ($(strip $(MIRROR)),)
export EDGEFACE_MIRROR := $(abspath $(MIRROR))
endif
OUT ?= out
EF := $(BIN)/edgeface

.PHONY: demo test test-system install dev test-arm clean-venv dist docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Workstation install: board runtime + conversion toolchain + test tools, and edgeface itself as users get
# it: a wheel built from this tree, installed non-editable (rebuilt when a packaged file changes).
# `make dev` swaps in an editable install instead (the next `make install`/`demo`/`test` puts the wheel back).
PACKAGED := pyproject.toml README.md LICENSE $(shell git ls-files toolkit models targets calibration 2>/dev/null)

$(VENV)/.deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[convert,dev,peers]"
	touch $@

$(VENV)/.installed: $(VENV)/.deps $(PACKAGED)
	rm -rf build dist/wheel-test
	$(BIN)/pip wheel -q --no-deps --no-build-isolation -w dist/wheel-test .
	$(BIN)/pip install -q --no-deps --force-reinstall dist/wheel-test/edgeface-*.whl
	rm -rf build
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.deps
	$(BIN)/pip install -q --no-deps -e .
	rm -f $(VENV)/.installed

# Main job end to end on the sample data: fetch -> export -> convert -> run -> bench.
demo: install
	$(EF) fetch all
	$(EF) export --model all
	$(EF) convert --model all --int8
	mkdir -p $(OUT)
	$(EF) run --source samples:obama --precision int8 --json $(OUT)/obama.jsonl --save $(OUT)/obama_annotated.mp4
	$(EF) run --source samples:trump_hillary --precision int8 --render mesh --save $(OUT)/trump_hillary_mesh.jpg --export-mesh $(OUT)/meshes
	$(EF) bench latency --quick --json $(OUT)/bench.json --markdown $(OUT)/bench.md --plot $(OUT)/bench.png

# The suite in two tiers, both against the installed wheel (tests/test_packaging.py checks that it does).
# `make test`, the README's test command: everything that needs no emulator, no apt package and no browser
# (pytest deselects the tests marked `system`; pyproject.toml). `make test-system`: the tests marked
# `system`: the emulated ARM releases and the bundle on emulated arm64 (root, debootstrap, qemu-user),
# headless Chromium, the Mosquitto broker, systemd-analyze, and the soak; as root, apt-get installs what
# is missing, otherwise those tests skip and say why. `.ci/run` runs both. Each prints pytest's closing
# line. `make test` runs on TEST_WORKERS pytest-xdist workers (one per core), a module per worker at a
# time, sharing one cache of fetched and converted models (tests/conftest.py); TEST_WORKERS=0 runs in
# one process. The system tier runs in one process (the ARM releases share their rootfs cache).
# E.g. make test PYTEST_ARGS="-x tests/test_live.py"; make test-system PYTEST_ARGS="-k mqtt".
PYTEST_ARGS ?=
TEST_WORKERS ?= auto
test: install
	EDGEFACE_TEST_WHEEL=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

test-system: install
	EDGEFACE_TEST_WHEEL=1 $(BIN)/python -m pytest -q -m system $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)

# The documentation site (docs/, Sphinx + MyST + furo; docs/about-generator.md) into docs/_build/html, with
# warnings as errors (-W: a broken link, a missing reference, a page in no toctree fails it; -n: every
# cross-reference must resolve). tests/test_docs.py builds it the same way in `make test`.
docs: $(VENV)/.deps
	$(BIN)/python -m sphinx -b html -W --keep-going -n -q docs docs/_build/html
	@echo "built docs/_build/html/index.html"

# Release artifacts (docs/guides/release.md): the sdist, the edgeface wheel (built from the sdist) and the
# edgeface-models wheel (the pre-converted models every targets/ profile asks for), converting first what
# the cache lacks. Byte-reproducible (SOURCE_DATE_EPOCH = the last commit's time); sha256s in dist/SHA256SUMS.
dist: $(VENV)/.deps
	PYTHONPATH=toolkit $(BIN)/python -m edgeface.tools.dist --out dist

# Board runtime inside emulated Debian arm64 rootfs, one per release: bookworm (Python 3.11) and
# trixie (Python 3.13, today's Raspberry Pi OS base); qemu-user + chroot, needs root. Each run closes
# with "N passed, N failed". The full job needs the converted models of `make demo` in ARM_HOME.
# Cold (two rootfs + venvs) ~13 min on the 2-core machine, warm ~2.5 min for both; cache in
# $${EDGEFACE_ARM_CACHE:-~/.cache/edgeface-arm}. E.g. make test-arm ARM_RELEASES=trixie ARM_ARGS="--cpu a76 litert".
ARM_RELEASES ?= bookworm trixie
ARM_HOME ?= $(or $(EDGEFACE_HOME),$(HOME)/.cache/edgeface)
ARM_ARGS ?= --edgeface-home $(ARM_HOME) --extras video litert models doctor run aligner
test-arm:
	@rc=0; for r in $(ARM_RELEASES); do bash tests/arm/run.sh --release $$r $(ARM_ARGS) || rc=1; done; exit $$rc
