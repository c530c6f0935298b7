"""User-facing errors.

Every error a user can cause (bad file, bad value) is a FoleyError whose message is one
line naming the file or field and the problem. The CLI prints it and exits 2; the UI
shows it in a dialog. Anything else escaping is a bug.
"""

from __future__ import annotations

import os


class FoleyError(Exception):
    """An error caused by input, with a one-line message fit to show a user."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.path = os.fspath(path) if path is not None else None
        self.problem = message
        text = f"{_one_line(self.path)}: {message}" if self.path else message
        super().__init__(_one_line(text))

    def __reduce__(self):
        # rebuilt from problem and path: an error raised in a worker process
        # (motion_segments.py) arrives whole, not as text with its path attribute lost
        return (type(self), (self.problem, self.path))


def _one_line(text) -> str:
    """Line breaks (in a file name, or quoted from a library) shown escaped, as the
    message must stay one line wherever it is printed."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


class MediaError(FoleyError):
    """A media file is missing, unreadable, or lacks what was asked of it."""


class AudioFileError(FoleyError):
    """An audio file cannot be read or written."""


class EnvelopeFileError(FoleyError):
    """An envelope CSV is malformed."""


class ProjectError(FoleyError):
    """A project file is malformed or cannot be saved; names the field at fault."""


class EngineError(FoleyError):
    """An engine cannot run: unknown id, missing weights, bad parameters."""


class OutputError(FoleyError):
    """An output location cannot be written."""


class Cancelled(Exception):
    """Raised inside long work when its CancelToken is set. Not an error for the user."""
