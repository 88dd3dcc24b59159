# Two-command quick start: `make demo`, `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv native test demo bench build lint clean

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

# the C kernels for this machine (engine/native/, gitignored); skipped with a message where there is no C compiler
native: $(STAMP)
	$(PY) build.py --native

test: $(STAMP) native
	$(PY) -m pytest -q tests

demo: $(STAMP) native
	$(PY) -m addon demo $(if $(VIDEO),$(VIDEO),) -o out

bench: $(STAMP) native
	$(PY) -m benchmarks $(BENCH)

build: $(STAMP)
	$(PY) build.py

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf dist wheels out
