"""Open a clip: probe, stream decoded frames, decode the audio track, mux new sound in.

Everything goes through PyAV (FFmpeg). Every failure a user can cause becomes a one-line
MediaError naming the file; no PyAV exception leaves these modules. The work is split:
media_io (types, input checks, errors), media_probe, media_decode, media_mux; the public
names are all importable from here. This module adds the Clip, which notices when its
file is deleted or replaced while it is open.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterator

from foley_studio.core.audio import Audio
from foley_studio.core.errors import MediaError
from foley_studio.core.media_decode import TRUNCATION_TAIL_S, decode_audio, iter_frames
from foley_studio.core.media_io import Frame, MediaInfo, check_input, describe
from foley_studio.core.media_mux import AAC_RATES, mux
from foley_studio.core.media_probe import (
    FIRST_FRAME_TRIES,
    MAX_PIXELS,
    MAX_SIDE,
    check_frame_size as _check_frame_size,
    probe,
)

__all__ = [
    "AAC_RATES", "Clip", "FIRST_FRAME_TRIES", "Frame", "MAX_PIXELS", "MAX_SIDE", "MediaInfo",
    "TRUNCATION_TAIL_S", "decode_audio", "fingerprint", "iter_frames", "mux", "open_clip",
    "probe", "_check_frame_size",
]

FINGERPRINT_CHUNK = 1 << 20
CHANGED = "the file changed on disk after it was opened; open it again to use the new version"
DELETED = "the file was deleted or moved after it was opened"


def fingerprint(path: str | os.PathLike) -> str:
    """Cheap identity for caches: sha256 over size, first and last MiB (not a full hash)."""
    path = check_input(path)
    try:
        size = os.path.getsize(path)
        digest = hashlib.sha256(str(size).encode())
        with open(path, "rb") as f:
            digest.update(f.read(FINGERPRINT_CHUNK))
            f.seek(max(size - FINGERPRINT_CHUNK, 0))
            digest.update(f.read(FINGERPRINT_CHUNK))
    except OSError as exc:
        raise MediaError(f"cannot read ({describe(exc)})", path) from None
    return "sha256:" + digest.hexdigest()


def _identity(path: str) -> tuple[int, int, int, int]:
    """What changes when a file is replaced (inode) or rewritten in place (size, mtime)."""
    st = os.stat(path)
    return st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns


class Clip:
    """A probed video file, as engines receive it.

    Every decode first checks that the file is still the one probed: frames of a replaced
    file would be scaled with the old file's numbers and look like valid pictures, so a
    change is an error (MediaError naming the file), never a silently different picture.
    The check is one stat(); the fingerprint is read again only when the stat differs.
    """

    def __init__(self, path: str, info: MediaInfo, digest: str | None = None,
                 identity: tuple[int, int, int, int] | None = None):
        self.path = path
        self.info = info
        self._identity = identity if identity is not None else _identity(path)
        # media.fingerprint of the file as probed (a Project's media_fingerprint)
        self.fingerprint = digest if digest is not None else fingerprint(path)

    @property
    def duration(self) -> float:
        return self.info.duration

    def check_unchanged(self) -> None:
        """Raise MediaError if the file was deleted, moved or replaced since it was opened."""
        try:
            now = _identity(self.path)
            if now == self._identity:
                return
            same = fingerprint(self.path) == self.fingerprint
        except (OSError, MediaError):
            raise MediaError(DELETED, self.path) from None
        if not same:
            raise MediaError(CHANGED, self.path)
        self._identity = now  # touched, or copied back byte for byte: still the same clip

    def frames(self, width: int | None = None, gray: bool = True, start: float = 0.0,
               end: float | None = None) -> Iterator[Frame]:
        self.check_unchanged()
        return self._checked(iter_frames(self.path, width, gray, start, end, info=self.info))

    def _checked(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        try:
            yield from frames
        except MediaError:
            self.check_unchanged()  # "changed on disk" explains a decode error best
            raise
        # a file rewritten in place while decoding can end early without any error
        self.check_unchanged()

    def audio(self, sr: int | None = None) -> Audio | None:
        if not self.info.has_audio:
            return None
        self.check_unchanged()
        try:
            audio = decode_audio(self.path, sr)
        except MediaError:
            self.check_unchanged()
            raise
        self.check_unchanged()
        return audio

    def __repr__(self) -> str:
        info = self.info
        return f"Clip({self.path!r}, {info.duration:.3f} s, {info.width}x{info.height})"


def open_clip(path: str | os.PathLike) -> Clip:
    path = check_input(path)
    try:
        before = _identity(path)
    except OSError as exc:
        raise MediaError(f"cannot read ({describe(exc)})", path) from None
    digest = fingerprint(path)
    info = probe(path)
    if not info.has_video:
        raise MediaError("no video stream", info.path)
    try:
        changed = _identity(path) != before
    except OSError:
        raise MediaError(DELETED, path) from None
    if changed:  # still being written (a download, a render): the numbers may not match
        raise MediaError("the file changed while it was being opened; try again", path)
    return Clip(info.path, info, digest, before)
