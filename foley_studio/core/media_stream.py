"""Streaming counterparts of media.py for long clips: the audio track decoded piece by piece,
and a mux whose new sound is read and encoded piece by piece.

media.decode_audio and media.mux hold a whole track in memory (an hour of 48 kHz float32
is 691 MB, and mux also keeps every encoded packet until the end). These give the same
results holding one piece at a time. They follow media.py's rules: the audio timeline
starts at the first video frame, every PyAV failure becomes a one-line MediaError naming
the file, and the MP4 appears only complete (temporary name, then rename).
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Iterator

import av
import numpy as np

from foley_studio.core import media
from foley_studio.core.atomic import atomic_output
from foley_studio.core.audio_store import AnyAudio, chunks, resampled_chunks
from foley_studio.core.errors import MediaError, OutputError
from foley_studio.core.media_decode import video_start_time
from foley_studio.core.media_io import PYAV_ERRORS, check_input, describe, open_input, video_stream

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


# --- mux, piece by piece ------------------------------------------------------------------


def mux(video_path: str | os.PathLike, audio: AnyAudio, out_path: str | os.PathLike,
        keep_original_audio: bool = False) -> None:
    """media.mux for audio of any length (an Audio or an AudioFile): the video stream copied
    bit for bit, `audio` encoded as AAC while the video packets are copied, optionally the
    original audio as a second, non-default track. Atomic: temporary file, then rename."""
    video_path = check_input(video_path)
    out_path = os.fspath(out_path)
    if not os.path.isdir(os.path.dirname(os.path.abspath(out_path))):
        raise OutputError("output folder does not exist", out_path)
    try:
        with atomic_output(out_path) as tmp_path, open_input(video_path) as source:
            if video_stream(source) is None:
                raise MediaError("no video stream", video_path)
            try:
                _mux_into(source, audio, tmp_path, keep_original_audio)
            except PYAV_ERRORS as exc:
                raise MediaError(f"cannot mux ({describe(exc)})", video_path) from None
    except OSError as exc:
        raise OutputError(f"cannot write here ({describe(exc)})", out_path) from None


def _mux_into(source, audio: AnyAudio, tmp_path: str, keep_original_audio: bool) -> None:
    in_video = video_stream(source)
    in_audio = source.streams.audio[0] if keep_original_audio and source.streams.audio else None
    start = video_start_time(source) or 0.0
    with av.open(tmp_path, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        out_video = out.add_stream_from_template(in_video)
        packets = _aac_packets(out, audio, start)
        copied = {in_video.index: out_video}
        if in_audio is not None:
            copied[in_audio.index] = out.add_stream_from_template(in_audio)
            copied[in_audio.index].disposition = 0  # the new sound is the default track
        next_audio = next(packets, None)
        # interleave by time: the muxer never buffers a whole stream, nor do we
        for packet in source.demux(*[s for s in (in_video, in_audio) if s is not None]):
            if packet.dts is None and packet.size == 0:
                continue  # end-of-stream marker
            now = float(packet.dts * packet.time_base) if packet.dts is not None else 0.0
            while next_audio is not None and next_audio.pts * next_audio.time_base <= now:
                out.mux(next_audio)
                next_audio = next(packets, None)
            packet.stream = copied[packet.stream_index]
            out.mux(packet)
        while next_audio is not None:
            out.mux(next_audio)
            next_audio = next(packets, None)


def _aac_packets(out, audio: AnyAudio, start_time: float) -> Iterator[av.Packet]:
    """Mono AAC packets of `audio`, encoded as they are asked for."""
    sr = audio.sr if audio.sr in media.AAC_RATES else 48_000
    stream = out.add_stream("aac", rate=sr)
    stream.layout = "mono"
    stream.bit_rate = 128_000

    def generate():
        n = int(round(len(audio) * sr / audio.sr))
        pieces = chunks(audio, PIECE) if sr == audio.sr else resampled_chunks(audio, sr, n, PIECE)
        at = int(round(start_time * sr))  # start with the picture, not at zero
        held = np.zeros(0, np.float32)
        for piece in pieces:
            held = np.concatenate([held, np.clip(piece, -1.0, 1.0)])
            whole = len(held) // AAC_FRAME * AAC_FRAME
            for k in range(0, whole, AAC_FRAME):
                yield from stream.encode(_frame(held[k:k + AAC_FRAME], sr, at))
                at += AAC_FRAME
            held = held[whole:]
        if len(held):
            yield from stream.encode(_frame(held, sr, at))
        yield from stream.encode(None)

    return generate()


def _frame(samples: np.ndarray, sr: int, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, :]), format="fltp",
                                       layout="mono")
    frame.sample_rate = sr
    frame.pts = pts
    frame.time_base = Fraction(1, sr)
    return frame
