"""Files that ship inside the package: the demo clip, the app icon, the stylesheet.

They live in foley_studio/resources/ and are package data, so they are found the same way
from a source checkout, an installed wheel and a PyInstaller bundle: through
importlib.resources, never relative to the current directory or the repository.
Pure Python (no Qt): the CLI and the tests use it as well as the editor.
"""

from __future__ import annotations

from importlib import resources as _importlib_resources
from pathlib import Path

from foley_studio.core.errors import FoleyError

PACKAGE = "foley_studio"
FOLDER = "resources"

DEMO_CLIP = ("demo", "demo.mp4")
DEMO_EVENTS = ("demo", "demo_events.json")
STYLESHEET = ("theme", "dark.qss")
APP_ID = "foley-studio"  # the .desktop file's id (packaging/foley-studio.desktop)
ICON_NAME = APP_ID  # the icon's theme name, as the .desktop file names it
ICON_SVG = ("icons", f"{ICON_NAME}.svg")
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def root() -> Path:
    """The resources folder of the foley_studio package that is imported."""
    # a package imported from files (source tree, wheel, PyInstaller bundle) has a real folder
    return Path(str(_importlib_resources.files(PACKAGE).joinpath(FOLDER)))


def path(*parts: str) -> Path:
    """A bundled file by its parts under resources/; a missing one is a broken installation."""
    found = root().joinpath(*parts)
    if not found.is_file():
        raise FoleyError("missing from this installation (reinstall Foley Studio)", found)
    return found


def read_text(*parts: str) -> str:
    return path(*parts).read_text(encoding="utf-8")


def demo_clip() -> Path:
    return path(*DEMO_CLIP)


def demo_events() -> Path:
    return path(*DEMO_EVENTS)


def icon_png(size: int) -> Path:
    if size not in ICON_SIZES:
        raise ValueError(f"no {size} px icon; sizes are {ICON_SIZES}")
    return path("icons", f"{ICON_NAME}-{size}.png")


def icon_files() -> list[Path]:
    """Every rendering of the app icon: the SVG, then the PNGs from small to large."""
    return [path(*ICON_SVG)] + [icon_png(size) for size in ICON_SIZES]
