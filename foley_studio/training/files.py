"""Finding training files and the cache folder, shared by both trainers."""

from __future__ import annotations

import os

from foley_studio.core.errors import FoleyError


def cache_dir(name: str) -> str:
    """~/.cache/foley-studio/NAME (honours XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "foley-studio", name)


def find_files(folder: str | os.PathLike, extensions: tuple[str, ...], what: str) -> list[str]:
    """Files under folder with one of the (lower-case) extensions, recursive, hidden names
    skipped, sorted by path; a missing folder or a file in its place is one clear error."""
    folder = os.fspath(folder)
    if not os.path.exists(folder):
        raise FoleyError("training folder not found", folder)
    if not os.path.isdir(folder):
        raise FoleyError(f"is not a folder (give the folder that holds the {what})", folder)
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in extensions:
                found.append(os.path.join(root, name))
    return sorted(found)
