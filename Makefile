# `make run` and `make test` set up everything they need (system packages, .venv) and are
# cheap to repeat: each step is skipped while its inputs are unchanged.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system
DEMO := resources/demo/demo.mp4
PYTEST_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Nothing downloads models at run time; make that a hard rule for the libraries too.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup system run test bench lint demo clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(SYSTEM_STAMP): scripts/setup-system.sh | $(PY)
	bash scripts/setup-system.sh
	touch $@

$(STAMP): requirements.txt pyproject.toml $(SYSTEM_STAMP) | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

setup: $(STAMP)

run: setup
	$(PY) -m foley_studio.cli generate $(DEMO) --prompt "ball bouncing on a wooden floor" --track "Steps=footsteps on gravel" --out out/demo --overwrite

test: setup
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m foley_studio.cli bench --json out/bench.json

demo: setup
	$(PY) scripts/make_demo_clip.py $(DEMO)

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
