"""The `foley-studio gui` subcommand, kept free of Qt so that the CLI can register it.

cli.py calls add_gui_parser() while building its parser; Qt is imported only when the
command actually runs (run()), which is why the editor module is loaded by name through
importlib: a static import here would make the headless CLI depend on Qt.
"""

from __future__ import annotations

import argparse
import importlib
import os


def _existing_path(text: str) -> str:
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"no such file: '{text}'")
    return text


def add_gui_parser(subparsers, parents=()) -> argparse.ArgumentParser:
    """Register `gui [VIDEO|PROJECT] [--auto] [--prompt TEXT] [--screenshot OUT.png]
    [--quit-after-render]` on an argparse subparsers object and return its parser."""
    p = subparsers.add_parser(
        "gui",
        parents=list(parents),
        help="open the editor (on a video or a saved project)",
        description="Open the Foley Studio editor.",
    )
    p.add_argument("path", nargs="?", type=_existing_path, metavar="VIDEO|PROJECT",
                   help="a video clip or a .foley.json project to open")
    p.add_argument("--auto", action="store_true",
                   help="predict the envelope from the picture and render a first track")
    p.add_argument("--prompt", default=None, help="prompt of the first track (with --auto)")
    p.add_argument("--screenshot", metavar="OUT.png", default=None,
                   help="save a picture of the window once the first render is in")
    p.add_argument("--quit-after-render", action="store_true",
                   help="quit (exit 0) after the first render, or after --screenshot is saved")
    p.set_defaults(run=run)
    return p


GUI_PACKAGES = ("PySide6", "pyqtgraph", "superqt", "sounddevice")


def run(args: argparse.Namespace) -> int:
    """Start the editor with parsed arguments; returns the process exit status."""
    import importlib.util

    from foley_studio.core.errors import FoleyError

    missing = [p for p in GUI_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:  # a headless install: one line, not an ImportError traceback
        raise FoleyError(f"the editor needs {', '.join(missing)}, which this installation lacks "
                         "(pip install 'foley-studio[gui]')")
    # PortAudio probes the sound system while Qt loads (audio_output is Qt-free)
    prefetch = importlib.import_module("foley_studio.ui.audio_output").prefetch_backend()
    app = importlib.import_module("foley_studio.ui.app")
    try:
        return app.run_gui(args)
    finally:
        prefetch.join()
