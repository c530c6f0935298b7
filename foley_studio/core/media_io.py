"""What every part of core.media shares: the data types, the checks before FFmpeg sees a
path, opening a container, and turning PyAV errors into one-line MediaErrors.

Public names are re-exported by core.media; import them from there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from typing import Iterator

import av
import numpy as np

from foley_studio.core.errors import MediaError

# What PyAV raises for bad input: its own FFmpeg errors (which also subclass OSError etc.),
# plus ValueError for streams or metadata it cannot describe.
PYAV_ERRORS = (av.FFmpegError, OSError, ValueError, EOFError)


@dataclass(frozen=True)
class MediaInfo:
    path: str
    duration: float  # last frame's pts + its duration - first pts, seconds (packets, no decode)
    fps: float  # average frame rate
    width: int  # display size, after rotation
    height: int
    n_frames: int  # video packets that carry a frame
    rotation: int  # counter-clockwise degrees (0/90/180/270) to turn stored pictures upright
    has_video: bool
    has_audio: bool
    audio_sr: int | None
    audio_channels: int | None
    video_codec: str | None
    start_time: float  # first video frame's pts in seconds; Frame.t counts from here
    truncated: bool = False  # file ends early; the numbers above describe the readable part


@dataclass(frozen=True, eq=False)
class Frame:
    t: float  # seconds from the first video frame, from the frame's own pts
    image: np.ndarray  # (H, W) uint8 grey or (H, W, 3) uint8 RGB, upright


def check_input(path: str | os.PathLike) -> str:
    """The path as str, after the checks that need no FFmpeg (clearer messages).

    FFmpeg would report all of these as "invalid data" or an errno without context.
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise MediaError("file not found", path) from None
    except PermissionError:  # a folder on the way cannot be entered
        raise MediaError("permission denied (cannot reach the file)", path) from None
    except OSError as exc:
        raise MediaError(f"cannot read ({describe(exc)})", path) from None
    if stat.S_ISDIR(info.st_mode):
        raise MediaError("is a directory, not a media file", path)
    if not stat.S_ISREG(info.st_mode):
        # a FIFO or device would block or never end; nothing a user opens as a clip
        raise MediaError("is not a regular file (a pipe or device)", path)
    if info.st_size == 0:
        raise MediaError("file is empty (0 bytes)", path)
    if not os.access(path, os.R_OK):
        raise MediaError("permission denied (the file is not readable)", path)
    return path


def describe(exc: BaseException) -> str:
    """One line from a PyAV error, without errno numbers or the repeated file name."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().splitlines()[0]


def video_stream(container) -> av.video.stream.VideoStream | None:
    """First real video stream; cover art in music files is a one-picture 'video' too."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def unreadable(exc: BaseException, path: str) -> MediaError:
    """The error for a file FFmpeg cannot open at all."""
    code = getattr(exc, "errno", None)
    if code in (errno.EACCES, errno.EPERM):
        return MediaError("permission denied (the file is not readable)", path)
    if isinstance(exc, av.error.OSError) and code != errno.EIO:
        # a system errno from inside a demuxer (FFmpeg returns EBUSY, EINVAL... for headers
        # it refuses, such as a picture size it cannot allocate): its text would mislead
        return MediaError("not a media file, or damaged, cut short or unsupported", path)
    return MediaError(f"not a media file, or damaged or cut short ({describe(exc)})", path)


def is_still_image(container) -> bool:
    """FFmpeg reads PNG, JPEG, WebP... as a one-frame video through its image demuxers."""
    name = container.format.name
    return name in ("image2", "image2pipe") or name.endswith("_pipe")


@contextlib.contextmanager
def open_input(path: str) -> Iterator[av.container.InputContainer]:
    try:
        container = av.open(path, mode="r")
    except PYAV_ERRORS as exc:
        raise unreadable(exc, path) from None
    try:
        if is_still_image(container):
            codec = container.streams[0].codec_context.name if container.streams else "image"
            kind = {"mjpeg": "JPEG"}.get(codec, codec.upper())
            raise MediaError(f"is a still image ({kind}), not a video", path)
        yield container
    finally:
        container.close()
