"""The audio track decoded piece by piece, for long clips.

media.decode_audio holds a whole track in memory (an hour of 48 kHz float32 is 691 MB);
this gives the same samples holding one piece at a time. It follows media.py's rules: the
audio timeline starts at the first video frame, and every PyAV failure becomes a one-line
MediaError naming the file. (The mux streams too: media_mux.mux.)
"""

from __future__ import annotations

import os
from typing import Iterator

import av
import numpy as np

from foley_studio.core import media
from foley_studio.core.errors import MediaError
from foley_studio.core.media_decode import video_start_time
from foley_studio.core.media_io import PYAV_ERRORS, describe, open_input

AAC_FRAME = 1024  # samples per AAC frame; the encoder takes exactly this many
PIECE = 1 << 18  # samples read from the source per step of the mux


# --- audio, piece by piece ----------------------------------------------------------------


def audio_pieces(path: str | os.PathLike) -> tuple[int, Iterator[np.ndarray]]:
    """(native sample rate, iterator of mono float32 pieces) of the first audio stream, on
    the video's timeline exactly as media.decode_audio returns it, one decoded frame at a time."""
    info = media.probe(path)
    if not info.has_audio:
        raise MediaError("no audio stream", info.path)
    return int(info.audio_sr), _audio_pieces(info.path)


def _audio_pieces(path: str) -> Iterator[np.ndarray]:
    """Decoded frames (1024 samples each for AAC) gathered into pieces of ~PIECE samples:
    an hour is 170 000 AAC frames, and every consumer's per-piece work is Python."""
    held: list[np.ndarray] = []
    size = 0
    for x in _frame_samples(path):
        held.append(x)
        size += len(x)
        if size >= PIECE:
            yield np.concatenate(held)
            held, size = [], 0
    if held:
        yield np.concatenate(held)


def _frame_samples(path: str) -> Iterator[np.ndarray]:
    with open_input(path) as container:
        stream = container.streams.audio[0]
        sr = int(stream.codec_context.sample_rate)
        video_start = video_start_time(container)
        declared = 0
        if stream.duration and stream.time_base:
            # AAC decoders emit encoder padding past the end; the header knows the length
            declared = int(round(float(stream.duration * stream.time_base) * sr))
        resampler = av.AudioResampler(format="fltp")
        skip, kept, first = 0, 0, True
        for frame in _decoded(container, stream, path):
            planes = resampler.resample(frame) if frame is not None else resampler.resample(None)
            for planar in planes:
                x = planar.to_ndarray().mean(axis=0, dtype=np.float32)
                if declared:  # cut the decoded track to its declared length first, as media does
                    x = x[: max(declared - kept, 0)]
                kept += len(x)
                if first:
                    first = False
                    if video_start is not None and frame is not None and frame.pts is not None:
                        offset = int(round((float(frame.pts * frame.time_base) - video_start) * sr))
                        if offset > 0:
                            yield np.zeros(offset, np.float32)  # a late track starts silent
                        skip = max(-offset, 0)  # an early one loses its lead
                if skip:
                    cut = min(skip, len(x))
                    x, skip = x[cut:], skip - cut
                if len(x):
                    yield x
        if first:
            raise MediaError("audio stream has no samples", path)


def _decoded(container, stream, path: str):
    """Decoded frames, then None (flush); a cut-off track ends quietly after its last frame."""
    got = False
    try:
        for frame in container.decode(stream):
            got = True
            yield frame
    except av.FFmpegError as exc:
        if not got:
            raise MediaError(f"no audio could be decoded ({describe(exc)})", path) from None
    except PYAV_ERRORS as exc:
        raise MediaError(f"unreadable audio ({describe(exc)})", path) from None
    yield None
