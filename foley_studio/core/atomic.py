"""Atomic file output: write under a temporary name, rename over the target when done.

A crash or error at any moment leaves either the old file or the new one, never a
half-written one. An error removes the temporary file; a crash (kill -9, power loss)
cannot, so temporary names carry the writer's process id and the next write to the same
target removes those whose writer is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import time
import uuid
from typing import Callable, Iterator

# ".<target name>.<pid>-<random>.<tag>": hidden, beside the target, and traceable to its writer
_TEMP_RE = re.compile(r"\.(?P<base>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.[^/\\]+")
_STALE_AGE_S = 3600.0  # without a way to ask whether a pid lives (Windows), an hour is stale


def fsync_folder(folder: str) -> None:
    """Make a rename durable (POSIX only; Windows cannot fsync a folder).

    Best effort: some file systems (network shares, FUSE) refuse to fsync a folder, and by
    the time this runs the rename has happened, so failing here would report a save that
    did succeed as failed.
    """
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: str) -> None:
    # Windows only flushes a handle opened for writing; POSIX accepts either
    try:
        fd = os.open(path, os.O_RDWR)
    except PermissionError:  # a writer made its output read-only
        fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path_for(path: str, tag: str) -> str:
    """A fresh hidden name beside `path` for an in-progress write (see remove_stale_temps)."""
    folder, base = os.path.split(path)
    return os.path.join(folder, f".{base}.{os.getpid()}-{uuid.uuid4().hex[:8]}.{tag}")


def pid_alive(pid: int) -> bool | None:
    """Whether a process of this machine runs with that id; None where we cannot ask."""
    if os.name != "posix":
        return None  # os.kill(pid, 0) would end the process there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, but another user's
        return True
    return True


def _writer_gone(pid: int, mtime: float) -> bool:
    if pid == os.getpid():
        return False  # maybe another thread of ours, still writing
    alive = pid_alive(pid)
    return time.time() - mtime > _STALE_AGE_S if alive is None else not alive


def _target_of(name: str) -> str:
    """The final target of a (maybe nested) temporary name: a writer given a temporary path
    may itself write through atomic_output, making a temporary of the temporary."""
    m = _TEMP_RE.fullmatch(name)
    return _target_of(m.group("base")) if m else name


def remove_stale_temps(path: str) -> list[str]:
    """Remove temporary files a crashed write to `path` left behind; returns their paths.

    Only names of our own pattern for this very target are touched, and only when the
    process that made them no longer runs, so a concurrent writer is never disturbed.
    """
    folder, base = os.path.split(os.path.abspath(path))
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.fullmatch(entry.name)
        if not m or _target_of(m.group("base")) != base:
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and _writer_gone(int(m.group("pid")), st.st_mtime):
                os.unlink(entry.path)
                removed.append(entry.path)
    return removed


def _create_exclusive(path: str) -> None:
    # O_EXCL never follows a planted symlink; 0o666 lets the umask decide, like any new file
    # (mkstemp would make every output 0600)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    os.close(os.open(path, flags, 0o666))


def keep_backup(path: str, suffix: str = ".bak") -> None:
    """Make `path + suffix` a copy of `path` without ever unlinking `path` itself.

    For `before_replace`. The copy is staged under a temporary name (a crash may leave it
    behind; the next write removes it) and renamed over the backup, so the backup too is
    always a whole file.
    """
    staged = temp_path_for(path, suffix.lstrip(".") + ".partial")
    try:
        try:
            os.link(path, staged)  # same inode: instant, and `path` stays valid throughout
        except OSError:  # file systems without hard links (FAT, some network shares)
            shutil.copy2(path, staged)
            _fsync_file(staged)  # a new inode: its data must be on disk before it is renamed
        os.replace(staged, path + suffix)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(staged)  # already gone after a successful replace


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, before_replace: Callable[[str], None] | None = None) -> Iterator[str]:
    """Yield a temporary path beside `path` (same extension, so writers infer the format).

    On a clean exit the temp file is fsynced, given the permissions of the file it
    replaces, `before_replace(path)` runs (e.g. to keep a backup), and the temp file
    replaces `path`; on an exception it is removed.
    """
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    ext = os.path.splitext(path)[1]
    remove_stale_temps(path)
    tmp: str | None = temp_path_for(path, f"partial{ext}")
    _create_exclusive(tmp)
    try:
        yield tmp
        _fsync_file(tmp)
        with contextlib.suppress(OSError):  # saving must not change who may read the file
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
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
