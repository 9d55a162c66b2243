# The two commands of this project (see README):
#   make demo   set up .venv if needed, then the main job: train a small OneFormer on
#               the bundled toy dataset, evaluate its three tasks in one run
#   make test   set up .venv if needed, then run the test suite
#   make install   only the set-up (idempotent; mmcv is compiled once and cached)
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: install test demo clean

install:
	@bash tools/setup_env.sh

test: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest tests -q --durations=10 $(PYTEST_ARGS)

demo: install
	$(PY) tools/run_demo.py $(DEMO_ARGS)

clean:
	rm -rf work_dirs .pytest_cache
