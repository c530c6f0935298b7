"""Write an MP4 with the picture copied bit for bit and new sound (core.media.mux).

The new sound is read and encoded piece by piece while the video packets are copied, so
an hour-long track (an AudioFile on disk) never sits in memory, nor do its packets."""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Iterator

import av
import numpy as np

from foley_studio.core.atomic import atomic_output
from foley_studio.core.audio_store import AnyAudio, chunks, resampled_chunks
from foley_studio.core.errors import MediaError, OutputError
from foley_studio.core.media_decode import video_start_time
from foley_studio.core.media_io import PYAV_ERRORS, check_input, describe, open_input, video_stream

# AAC in MP4 only signals these rates; anything else is resampled to 48 kHz first
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
AAC_FRAME = 1024  # samples per AAC frame; the encoder takes exactly this many
PIECE = 1 << 18  # samples read from the source per step of the mux


def mux(video_path: str | os.PathLike, audio: AnyAudio, out_path: str | os.PathLike,
        keep_original_audio: bool = False) -> None:
    """Write an MP4: the video stream copied bit for bit, `audio` (an Audio or an AudioFile)
    as AAC, optionally the original audio as a second, non-default track. Atomic:
    temporary file, then rename."""
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
    sr = audio.sr if audio.sr in AAC_RATES else 48_000
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
