# `make run` and `make test` set up everything they need (system packages, .venv) and are
# cheap to repeat: each step is skipped while its inputs are unchanged.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system
DEMO := resources/demo/demo.mp4
DEMO_PROMPT := ball bouncing on a wooden floor
PYTEST_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Nothing downloads models at run time; make that a hard rule for the libraries too.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup system run demo-export test bench demo clean

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

# Opens the editor on the demo clip; with no display, runs its screenshot mode instead.
run: setup
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(PY) -m foley_studio.cli gui $(DEMO); \
	else \
		echo "No display found: running the editor offscreen on the demo clip and saving a screenshot."; \
		mkdir -p out && QT_QPA_PLATFORM=offscreen $(PY) -m foley_studio.cli gui $(DEMO) --auto \
			--prompt "$(DEMO_PROMPT)" --screenshot out/editor.png --quit-after-render \
			&& echo "Screenshot of the editor: $$PWD/out/editor.png"; \
	fi

# The headless pipeline on the demo clip: project, stems, mix and muxed MP4 in out/demo.
demo-export: setup
	$(PY) -m foley_studio.cli generate $(DEMO) --prompt "$(DEMO_PROMPT)" --track "Steps=footsteps on gravel" \
		--out out/demo --overwrite

test: setup
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m foley_studio.cli bench --json out/bench.json

demo: setup
	$(PY) scripts/make_demo_clip.py $(DEMO)

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
