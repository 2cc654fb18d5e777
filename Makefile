# Two entry points (see README): `make run` (the main job) and `make test` (the suite).
# Both create .venv and install the package on first use.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.artgenre-installed
ARGS   ?=

.PHONY: run test test-fast install bench clean

# torch/torchvision are unpinned in pyproject.toml, so pip takes them from the registry as a
# matched pair; the local +cpu torch wheel is never selected because the registry's is newer.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -c "import torch, torchvision, art; print('torch', torch.__version__, '| torchvision', torchvision.__version__, '| art', art.__version__)"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/artgenre run $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/attack_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache
