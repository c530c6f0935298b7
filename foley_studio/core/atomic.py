"""Atomic file output: write under a temporary name, rename over the target when done.

A crash or error at any moment leaves either the old file or the new one, never a
half-written one, and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Callable, Iterator


def fsync_folder(folder: str) -> None:
    """Make a rename durable (POSIX only; Windows cannot fsync a folder)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, before_replace: Callable[[str], None] | None = None) -> Iterator[str]:
    """Yield a temporary path beside `path` (same extension, so writers infer the format).

    On a clean exit the temp file is fsynced, `before_replace(path)` runs (e.g. to keep a
    backup), and the temp file replaces `path`; on an exception it is removed.
    """
    path = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(path)
    ext = os.path.splitext(base)[1]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{base}.", suffix=f".partial{ext}")
    os.close(fd)
    try:
        yield tmp
        _fsync_file(tmp)
        if before_replace is not None and os.path.exists(path):
            before_replace(path)
        os.replace(tmp, path)
        tmp = None
        fsync_folder(folder)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_text_atomic(path: str | os.PathLike, text: str, before_replace: Callable[[str], None] | None = None) -> None:
    with atomic_output(path, before_replace) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
