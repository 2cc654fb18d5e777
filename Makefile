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
# torch, torchvision and the CUDA libraries they pin (4.1 of the venv's 5.5 GB) are unpacked by a
# second pip, without dependencies, while the first installs librosa on the other core; the last
# pip resolves everything against the lock and finds them installed. The two sets are disjoint.
BIG := ^(torch|torchvision|triton|nvidia-[^=]*|cuda-[^=]*)==

# Installs exactly the versions in $(LOCK) (pip constraints), so every machine runs the torch /
# torchvision / ART the documented numbers came from; `make lock` refreshes the file.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	grep -E '$(BIG)' $(LOCK) > $(VENV)/big-wheels.txt
	$(PY) -m pip install --quiet --no-deps -r $(VENV)/big-wheels.txt & big=$$!; \
	  $(PY) -m pip install --quiet -c $(LOCK) librosa; rc=$$?; \
	  wait $$big || rc=1; exit $$rc
	$(PY) -c "$(WARM_LIBROSA)" > /dev/null 2>&1 & warm=$$!; \
	  $(PY) -m pip install --quiet -c $(LOCK) -e ".[dev]"; rc=$$?; \
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
