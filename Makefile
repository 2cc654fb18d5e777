# Two entry points (see README): `make run` (the main job) and `make test` (the suite).
# Both create .venv and install the package on first use.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.artgenre-installed
TSTAMP := $(VENV)/.artgenre-test-installed
LOCK   := requirements.lock
ARGS   ?=

.PHONY: run test test-fast install bench lock clean

# librosa's numba kernels compile on first use (about 20 s of one core on a fresh install) into
# a cache inside the venv: the install compiles the ones artgenre uses while pip unpacks torch,
# instead of the first `prepare` doing it alone. Not fatal if it fails.
WARM_LIBROSA := import numpy as np, librosa; y = np.random.default_rng(0).uniform(-1, 1, 8192).astype(np.float32); \
  S = librosa.feature.melspectrogram(y=y, sr=22050); librosa.db_to_power(librosa.power_to_db(S)); \
  librosa.griffinlim(librosa.feature.inverse.mel_to_stft(S, sr=22050), n_iter=2)
# torch, torchvision and the CUDA libraries they pin (4.1 of the venv's 5.5 GB) are unpacked by
# one pip, without dependencies, while another installs every other dependency of artgenre[dev]
# (LIGHT: read off pyproject.toml; just librosa where that fails) on the other core, and then
# warms librosa up; the last pip resolves everything against the lock and finds them installed.
# The two sets are disjoint: no other dependency needs torch.
BIG := ^(torch|torchvision|triton|nvidia-[^=]*|cuda-[^=]*)==
LIGHT := import re, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
  print('\n'.join(d for d in p['dependencies'] + p['optional-dependencies']['dev'] \
  if re.match(r'[A-Za-z0-9_.-]+', d)[0].lower() not in ('torch', 'torchvision')))

# Installs exactly the versions in $(LOCK) (pip constraints), so every machine runs the torch /
# torchvision / ART the documented numbers came from; `make lock` refreshes the file.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	grep -E '$(BIG)' $(LOCK) > $(VENV)/big-wheels.txt
	$(PY) -c "$(LIGHT)" > $(VENV)/light-deps.txt 2> /dev/null || echo librosa > $(VENV)/light-deps.txt
	$(PY) -m pip install --quiet --no-deps -r $(VENV)/big-wheels.txt & big=$$!; \
	  $(PY) -m pip install --quiet -c $(LOCK) -r $(VENV)/light-deps.txt; rc=$$?; \
	  $(PY) -c "$(WARM_LIBROSA)" > /dev/null 2>&1 & warm=$$!; \
	  wait $$big || rc=1; \
	  if [ $$rc -eq 0 ]; then $(PY) -m pip install --quiet -c $(LOCK) -e ".[dev]" || rc=1; fi; \
	  wait $$warm || echo "librosa warm-up failed: its kernels compile on first use instead"; exit $$rc
	$(PY) -c "import torch, torchvision, art; print('torch', torch.__version__, '| torchvision', torchvision.__version__, '| art', art.__version__)"
	touch $(STAMP)

# The suite also exercises the Ray executor, so it installs the `ray` extra (same lock).
$(TSTAMP): $(STAMP)
	$(PY) -m pip install --quiet -c $(LOCK) -e ".[dev,ray]"
	touch $(TSTAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/artgenre run $(ARGS)

test: $(TSTAMP)
	$(PY) -m pytest $(ARGS)

test-fast: $(TSTAMP)
	$(PY) -m pytest -m "not slow" $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/attack_overhead.py
	$(PY) benchmarks/allocator.py
	$(PY) benchmarks/deepfool_gradients.py
	if [ -f results/pipeline.json ]; then $(PY) benchmarks/compute_floor.py results; else echo "compute_floor: needs a finished 'make run' (results/pipeline.json)"; fi

# Re-resolve artgenre[dev,ray] in a throwaway venv (newest versions pip may take) and pin the result.
LOCK_VENV ?= /tmp/artgenre-lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet -e ".[dev,ray]"
	sed -n '/^#/p' $(LOCK) > $(LOCK).tmp
	$(LOCK_VENV)/bin/python -m pip freeze --all --exclude-editable | grep -v "^pip==" >> $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
	rm -rf $(LOCK_VENV)
	grep -E '^(torch|torchvision|adversarial-robustness-toolbox)==' $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache
