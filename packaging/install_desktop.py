"""Install (or remove) Foley Studio's desktop integration under an XDG data folder.

    python packaging/install_desktop.py [--data-dir DIR] [--exec COMMAND] [--uninstall]

DIR defaults to $XDG_DATA_HOME, else ~/.local/share (for everyone: /usr/local/share, as
root). Installs the launcher (applications/foley-studio.desktop), the project file type
(mime/packages/foley-studio.xml, *.foley.json) and the app icon (icons/hicolor/<N>x<N>/apps
and scalable/apps), then refreshes the MIME and desktop databases when their tools exist.

The launcher runs COMMAND with the file to open. By default that is the absolute path of
the installed `foley-studio-gui` (launchers do not see a virtual environment's PATH); for
the PyInstaller bundle pass --exec "/path/to/dist/foley-studio/foley-studio gui".
Pure standard library: it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ICON_DIR = HERE.parent / "foley_studio" / "resources" / "icons"
APP_ID = "foley-studio"  # same as foley_studio.core.resources.APP_ID (not imported: stdlib only)
DESKTOP_FILE = HERE / f"{APP_ID}.desktop"
MIME_FILE = HERE / f"{APP_ID}-mime.xml"
GUI_PROGRAM = "foley-studio-gui"
# characters that make an Exec argument need quoting (Desktop Entry spec, "The Exec key")
EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    return Path(xdg) if xdg else Path.home() / ".local" / "share"


def quote_exec_argument(arg: str) -> str:
    if not arg or any(c in EXEC_RESERVED for c in arg):
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        return f'"{escaped}"'
    return arg


def default_exec() -> str:
    """The GUI program beside this Python (a venv's bin/), else on PATH, else its bare name."""
    beside = Path(sys.executable).parent / GUI_PROGRAM
    found = str(beside) if beside.is_file() else shutil.which(GUI_PROGRAM)
    return quote_exec_argument(found) if found else GUI_PROGRAM


def launcher_text(command: str) -> str:
    """The packaged .desktop file with its Exec line running `command FILE`."""
    lines = DESKTOP_FILE.read_text(encoding="utf-8").splitlines()
    out = [f"Exec={command} %f" if line.startswith("Exec=") else line for line in lines]
    return "\n".join(out) + "\n"


def icon_sources() -> dict[str, Path]:
    """Destination under icons/hicolor -> source file, for the SVG and every PNG size."""
    targets = {f"scalable/apps/{APP_ID}.svg": ICON_DIR / f"{APP_ID}.svg"}
    for png in sorted(ICON_DIR.glob(f"{APP_ID}-*.png")):
        size = png.stem.rsplit("-", 1)[1]
        targets[f"{size}x{size}/apps/{APP_ID}.png"] = png
    return targets


def installed_paths(data_dir: Path) -> list[Path]:
    paths = [data_dir / "applications" / f"{APP_ID}.desktop",
             data_dir / "mime" / "packages" / f"{APP_ID}.xml"]
    return paths + [data_dir / "icons" / "hicolor" / rel for rel in icon_sources()]


def refresh_caches(data_dir: Path) -> None:
    """Let the desktop see the new files now; a missing tool only means: at next login."""
    steps = [
        ("update-mime-database", [str(data_dir / "mime")]),
        ("update-desktop-database", ["-q", str(data_dir / "applications")]),
        ("gtk-update-icon-cache", ["-q", "-t", "-f", str(data_dir / "icons" / "hicolor")]),
    ]
    for tool, args in steps:
        if shutil.which(tool):
            subprocess.run([tool, *args], check=False, stdout=subprocess.DEVNULL)


def install(data_dir: Path, command: str, refresh: bool) -> list[Path]:
    sources = icon_sources()
    if len(sources) < 2:  # the SVG alone: the PNGs were never rendered
        raise FileNotFoundError(f"{ICON_DIR}: no icon PNGs (run packaging/make_icons.py)")
    written = []
    desktop = data_dir / "applications" / f"{APP_ID}.desktop"
    desktop.parent.mkdir(parents=True, exist_ok=True)
    desktop.write_text(launcher_text(command), encoding="utf-8")
    written.append(desktop)
    mime = data_dir / "mime" / "packages" / f"{APP_ID}.xml"
    mime.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(MIME_FILE, mime)
    written.append(mime)
    for rel, src in sources.items():
        dest = data_dir / "icons" / "hicolor" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        written.append(dest)
    if refresh:
        refresh_caches(data_dir)
    return written


def uninstall(data_dir: Path, refresh: bool) -> list[Path]:
    removed = [p for p in installed_paths(data_dir) if p.is_file()]
    for path in removed:
        path.unlink()
    if refresh:
        refresh_caches(data_dir)
    return removed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="install_desktop.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=None,
                   help="XDG data folder (default: $XDG_DATA_HOME or ~/.local/share)")
    p.add_argument("--exec", dest="command", default=None,
                   help="command the launcher runs, before the file argument "
                        "(default: the installed foley-studio-gui)")
    p.add_argument("--uninstall", action="store_true", help="remove what an install put there")
    p.add_argument("--no-refresh", action="store_true",
                   help="do not run update-mime-database / update-desktop-database")
    args = p.parse_args(argv)
    data_dir = (args.data_dir or default_data_dir()).expanduser().resolve()
    try:
        if args.uninstall:
            done = uninstall(data_dir, not args.no_refresh)
            verb = "removed"
        else:
            done = install(data_dir, args.command or default_exec(), not args.no_refresh)
            verb = "installed"
    except OSError as exc:
        print(f"install_desktop: error: {exc}", file=sys.stderr)
        return 1
    for path in done:
        print(f"{verb} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
