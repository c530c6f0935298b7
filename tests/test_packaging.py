"""`pip install .` gives a working app: the wheel carries its resources, and the installed
package (not this checkout) runs the CLI, generates on the packaged demo clip and starts the
editor, from a folder outside the repository.

The .venv has an editable install of this checkout (a `__editable__` .pth file whose finder
maps `foley_studio` to the repository). Python started with -S skips .pth files, so the
child processes below see only the wheel's install folder and site-packages (for the
dependencies), in that order; each one checks foley_studio.__file__ to prove it.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import soundfile as sf

from foley_studio.core import resources

REPO = Path(__file__).resolve().parents[1]
SITE_PACKAGES = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
MIME_XML = REPO / "packaging" / "foley-studio-mime.xml"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
PROMPT = "ball bouncing on a wooden floor"
# what the app needs at run time from its package data
PACKAGE_DATA = [
    "foley_studio/resources/demo/demo.mp4",
    "foley_studio/resources/demo/demo_events.json",
    "foley_studio/resources/theme/dark.qss",
    "foley_studio/resources/icons/foley-studio.svg",
] + [f"foley_studio/resources/icons/foley-studio-{n}.png" for n in resources.ICON_SIZES]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources, so no build/ or stale files of the checkout leak in."""
    src = tmp_path_factory.mktemp("wheel-src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "foley_studio", src / "foley_studio",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    # no build isolation: the venv's setuptools builds it, nothing is downloaded
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(src), "-w", str(out)], check=True, cwd=out, timeout=300)
    (found,) = out.glob("foley_studio-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
                    "--target", str(target), str(wheel)], check=True, timeout=300)
    return target


@pytest.fixture
def outside(tmp_path) -> Path:
    """A working folder with no foley_studio in it or above it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    assert not any((p / "foley_studio").exists() for p in (folder, *folder.parents))
    return folder


def run_installed(installed: Path, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -S ARGS` seeing the wheel's install folder first and no editable install."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FOLEY_STUDIO"))}
    env.update(PYTHONPATH=os.pathsep.join([str(installed), *SITE_PACKAGES]), QT_QPA_PLATFORM="offscreen",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run([sys.executable, "-S", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_wheel_carries_the_resources_and_both_entry_points(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        entry_points = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
        demo_size = whl.getinfo("foley_studio/resources/demo/demo.mp4").file_size
    missing = [n for n in PACKAGE_DATA if n not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert demo_size == resources.demo_clip().stat().st_size
    assert "foley_studio/core/resources.py" in names
    assert not [n for n in names if n.startswith(("tests/", "packaging/", "scripts/", "resources/"))]
    sections = dict(part.split("]", 1) for part in entry_points.split("[")[1:])
    assert "foley-studio = foley_studio.cli:main" in sections["console_scripts"]
    assert "foley-studio-gui = foley_studio.ui.app:main" in sections["gui_scripts"]


def test_the_installed_package_is_the_one_imported(installed, outside):
    proc = run_installed(installed, outside, "-c",
                         "import foley_studio.core.resources as r, foley_studio; "
                         "print(foley_studio.__file__); print(r.demo_clip())")
    assert proc.returncode == 0, proc.stderr
    package_file, demo = proc.stdout.split()
    assert Path(package_file).is_relative_to(installed), "the checkout was imported, not the wheel"
    assert Path(demo) == installed / "foley_studio" / "resources" / "demo" / "demo.mp4"


def test_installed_cli_help_and_engines(installed, outside):
    proc = run_installed(installed, outside, "-m", "foley_studio.cli", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "generate" in proc.stdout and "engines" in proc.stdout
    proc = run_installed(installed, outside, "-m", "foley_studio.cli", "engines", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {row["id"]: row for row in json.loads(proc.stdout)}
    assert rows["motion"]["available"] and rows["palette"]["available"]


@pytest.mark.slow
def test_installed_cli_generates_on_the_packaged_demo_clip(installed, outside):
    demo = installed / "foley_studio" / "resources" / "demo" / "demo.mp4"
    out = outside / "out"
    proc = run_installed(installed, outside, "-m", "foley_studio.cli", "generate", str(demo),
                         "--prompt", PROMPT, "--out", str(out), "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "embedding model unavailable" not in proc.stderr  # palette matched with MiniLM
    summary = json.loads(proc.stdout)
    project = Path(summary["project"])
    assert project.parent == out and project.is_file()
    glob = ET.parse(MIME_XML).getroot().find(f"{MIME_NS}mime-type/{MIME_NS}glob").get("pattern")
    assert fnmatch.fnmatch(project.name, glob), "the MIME type does not match the project files written"
    mix, sr = sf.read(summary["mix"], dtype="float32")
    assert len(mix) == round(8.0 * sr) and abs(mix).max() > 0.01
    assert Path(summary["video"]).stat().st_size > 10_000


@pytest.mark.slow
def test_installed_gui_entry_point_starts_with_icon_and_stylesheet(installed, outside):
    demo = installed / "foley_studio" / "resources" / "demo" / "demo.mp4"
    shot = outside / "editor.png"
    # what the foley-studio-gui launcher runs (foley_studio.ui.app:main), with checks that the
    # icon and stylesheet come from the installed package and that the editor applied them
    script = (
        "import sys, foley_studio.ui.app as app, foley_studio.ui.theme as theme\n"
        "from PySide6.QtWidgets import QApplication\n"
        "qt = QApplication(sys.argv[:1]); icon = app.app_icon(); sheet = theme.stylesheet()\n"
        f"assert app.__file__.startswith({str(installed)!r}), app.__file__\n"
        "assert not icon.isNull() and len(icon.availableSizes()) == len(app.resources.ICON_SIZES)\n"
        "assert '$' not in sheet and theme.ACCENT in sheet\n"
        "code = app.main(sys.argv[1:])\n"
        "assert qt.styleSheet() == sheet and qt.desktopFileName() == 'foley-studio'\n"
        "assert qt.windowIcon().availableSizes() == icon.availableSizes()\n"
        "sys.exit(code)\n"
    )
    proc = run_installed(installed, outside, "-c", script, str(demo), "--auto", "--prompt", PROMPT,
                         "--screenshot", str(shot), "--quit-after-render")
    assert proc.returncode == 0, proc.stderr
    assert shot.is_file() and shot.stat().st_size > 10_000
