# The two commands of this project (see README):
#   make test   set up .venv if needed, then run the test suite
#   make install   only the set-up (idempotent; mmcv is compiled once and cached)
# `make demo` (the main job on the bundled toy dataset) arrives with the evaluation work.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install test clean

install:
	@bash tools/setup_env.sh

test: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest tests -q --durations=10 $(PYTEST_ARGS)

clean:
	rm -rf work_dirs .pytest_cache
