"""Write an MP4 with the picture copied bit for bit and new sound (core.media.mux)."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

from foley_studio.core.atomic import atomic_output
from foley_studio.core.audio import Audio
from foley_studio.core.errors import MediaError, OutputError
from foley_studio.core.media_decode import video_start_time
from foley_studio.core.media_io import PYAV_ERRORS, check_input, describe, open_input, video_stream

# AAC in MP4 only signals these rates; anything else is resampled to 48 kHz first
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)


def mux(
    video_path: str | os.PathLike,
    audio: Audio,
    out_path: str | os.PathLike,
    keep_original_audio: bool = False,
) -> None:
    """Write an MP4: the video stream copied bit for bit, `audio` as AAC, optionally the
    original audio as a second (non-default) track. Atomic: temp file, then os.replace."""
    video_path = check_input(video_path)
    out_path = os.fspath(out_path)
    folder = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(folder):
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


def _mux_into(source, audio: Audio, tmp_path: str, keep_original_audio: bool) -> None:
    in_video = video_stream(source)
    in_audio = source.streams.audio[0] if keep_original_audio and source.streams.audio else None
    with av.open(tmp_path, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        out_video = out.add_stream_from_template(in_video)
        new_audio = _encode_aac(out, audio, video_start_time(source) or 0.0)
        copied = {in_video.index: out_video}
        if in_audio is not None:
            copied[in_audio.index] = out.add_stream_from_template(in_audio)
            copied[in_audio.index].disposition = 0  # the new sound is the default track
        pending = iter(new_audio)
        next_audio = next(pending, None)
        # interleave by time so the muxer never buffers a whole stream
        for packet in source.demux(*[s for s in (in_video, in_audio) if s is not None]):
            if packet.dts is None and packet.size == 0:
                continue  # end-of-stream marker
            now = float(packet.dts * packet.time_base) if packet.dts is not None else 0.0
            while next_audio is not None and next_audio.pts * next_audio.time_base <= now:
                out.mux(next_audio)
                next_audio = next(pending, None)
            packet.stream = copied[packet.stream_index]
            out.mux(packet)
        while next_audio is not None:
            out.mux(next_audio)
            next_audio = next(pending, None)


def _encode_aac(out, audio: Audio, start_time: float) -> list[av.Packet]:
    """Encode mono AAC into `out`; packets are returned for interleaving, not muxed yet."""
    if audio.sr not in AAC_RATES:
        audio = audio.resampled(48_000)
    stream = out.add_stream("aac", rate=audio.sr)
    stream.layout = "mono"
    stream.bit_rate = 128_000
    offset = int(round(start_time * audio.sr))  # start with the picture, not at zero
    samples = np.clip(audio.samples, -1.0, 1.0)[None, :]
    packets = []
    block = 1024  # AAC's frame size; the encoder requires it
    for at in range(0, samples.shape[1], block):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, at:at + block]),
                                           format="fltp", layout="mono")
        frame.sample_rate = audio.sr
        frame.pts = offset + at
        frame.time_base = Fraction(1, audio.sr)
        packets.extend(stream.encode(frame))
    packets.extend(stream.encode(None))
    return packets
