# atrous: make demo | make test | make test-fast | make check | make docs | make bench
# A CPU build of torch is installed first when no GPU is present, so that a fresh `make test`
# takes minutes instead of a multi-GB CUDA download. Override with
#   make test TORCH_SPEC='torch>=2.3'   (and TORCH_PIP_ARGS='--index-url <your wheel index>')
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
ifeq ($(HAS_GPU),1)
TORCH_SPEC ?= torch>=2.3
else
TORCH_SPEC ?= torch==2.13.0
endif
TORCH_PIP_ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test test-fast check docs bench install install-dev clean browser espeak

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.torch: | $(VENV)/bin/python
	$(PIP) install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	@touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP) install -q -e ".[viz]"
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.torch
	$(PIP) install -q -e ".[dev,viz]"
	@touch $@ $(VENV)/.installed

$(VENV)/.installed-docs: pyproject.toml $(VENV)/.torch
	$(PIP) install -q -e ".[docs]"
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(VENV)/bin/atrous tour
	@$(VENV)/bin/atrous report -o report/ --examples docs/results | sed 's/^/report written: /'
	@$(VENV)/bin/atrous playground -o report/playground.html | sed 's/^/playground written: /'

# headless Chromium for the report's browser test (Debian packages; skipped where apt cannot run)
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
	    || echo "note: could not install chromium/chromium-driver; the browser test will say why it skips"; }

# espeak-ng for the speech example and its test (Debian package; they skip where apt cannot run)
espeak:
	@command -v espeak-ng >/dev/null 2>&1 || \
	  { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng) >/dev/null 2>&1 \
	    || echo "note: could not install espeak-ng; the speech example and its tests will say why they skip"; }

test: $(VENV)/.installed-dev $(VENV)/.installed-docs browser espeak
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

# the edit loop: everything but the tests marked slow (subprocesses, DDP, export, full examples)
test-fast: $(VENV)/.installed-dev
	$(PY) -m pytest -q -n 2 -m "not slow and not thirdparty" $(PYTEST_ARGS)

# the site (user guide, API reference from the docstrings, gallery) in site/, warnings as errors
docs: $(VENV)/.installed-docs
	$(VENV)/bin/mkdocs build --strict --site-dir site

check: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format --check atrous tests benchmarks examples
	$(VENV)/bin/ruff check atrous tests benchmarks examples
	$(VENV)/bin/mypy atrous

bench: $(VENV)/.installed-dev
	$(VENV)/bin/atrous bench analysis
	$(VENV)/bin/atrous bench animations
	$(VENV)/bin/atrous bench stream

clean:
	rm -rf $(VENV) report site build dist *.egg-info
