# The two targets a new user needs. Each creates .venv and installs lift3d on first use.
# Without CUDA, torch is pinned to the CPU build (unpinned torch pulls ~5.5 GB of CUDA wheels).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
HAS_CUDA := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
PIP_CONSTRAINT := $(if $(HAS_CUDA),,-c constraints-cpu.txt)
PYTEST_ARGS ?=
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: demo test lint install

$(VENV)/.installed: pyproject.toml constraints-cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(PIP_CONSTRAINT) -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/lift3d generate "a red cube" --output outputs/demo --overwrite
	$(VENV)/bin/lift3d eval outputs/demo

test: $(VENV)/.installed
	$(PY) -m pytest -m "not gpu" -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check lift3d tests benchmarks
