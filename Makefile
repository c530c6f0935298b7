# `make run` and `make test` set up everything they need (system packages, .venv) and are
# cheap to repeat: each step is skipped while its inputs are unchanged.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system
DEMO := foley_studio/resources/demo/demo.mp4
DEMO_PROMPT := ball bouncing on a wooden floor
PYTEST_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Nothing downloads models at run time; make that a hard rule for the libraries too.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup system run demo-export test bench demo clean icons wheel package package-smoke \
	install-desktop uninstall-desktop

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

# --- packaging (packaging/, README "Packaging") ---------------------------------------
# XDG data folder for install-desktop; e.g. make install-desktop DESKTOP_DATA_DIR=/usr/local/share
DESKTOP_DATA_DIR ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)
PACKAGE_DIR := dist/foley-studio

# Re-render the committed icon PNGs after editing foley_studio/resources/icons/foley-studio.svg.
icons: setup
	QT_QPA_PLATFORM=offscreen $(PY) packaging/make_icons.py

# The wheel (with the demo clip, icons and stylesheet as package data) in dist/.
wheel: setup
	$(PY) -m pip wheel -q --no-deps --no-build-isolation . -w dist

install-desktop: setup
	$(PY) packaging/install_desktop.py --data-dir "$(DESKTOP_DATA_DIR)"

uninstall-desktop:
	$(PY) packaging/install_desktop.py --data-dir "$(DESKTOP_DATA_DIR)" --uninstall

# One-folder app in $(PACKAGE_DIR) (PyInstaller; minutes, so not part of `make test`).
package: setup
	nice -n 10 $(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist \
		--workpath build/pyinstaller packaging/foley_studio.spec
	@du -sh $(PACKAGE_DIR)

# Runs the built app's `generate` on the bundled demo clip, from outside the repository.
package-smoke:
	$(PY) packaging/package_smoke.py $(PACKAGE_DIR)/foley-studio

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis build/pyinstaller $(PACKAGE_DIR)
