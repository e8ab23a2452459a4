# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: all install demo test test-fast bench clean

all: test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "ray-ocr needs Python >= 3.11, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --progress-bar off -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ray-ocr demo --out demo-out

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# Everything but the slow end-to-end tests, for the edit-test loop.
test-fast: $(STAMP)
	$(PY) -m pytest -m 'not slow' $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/ocr_core.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
