"""Decode pictures (streaming, scaled as they are decoded) and the audio track of a clip.

Frames are scaled to the requested width inside the decode loop, so a big picture never
exists as a full-size RGB array: memory follows the output size, not the source's.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from foley_studio.core.audio import Audio
from foley_studio.core.errors import MediaError
from foley_studio.core.media_io import (
    PYAV_ERRORS,
    Frame,
    MediaInfo,
    check_input,
    describe,
    open_input,
    video_stream,
)
from foley_studio.core.media_probe import probe

# a decode error this close to the end of a file known to be cut short is the cut itself
TRUNCATION_TAIL_S = 1.0
# frames within this of a requested start or end count as at it (timestamps are rounded)
FRAME_TIME_EPS = 1e-6


def _target_size(info: MediaInfo, width: int | None) -> tuple[int, int]:
    """Upright output size for a requested width: aspect kept, both sides even."""
    if width is None or width <= 0:
        return info.width, info.height
    w = max(2, int(width) // 2 * 2)
    h = max(2, int(round(w * info.height / info.width / 2.0)) * 2)
    return w, h


def iter_frames(
    path: str | os.PathLike,
    width: int | None = None,
    gray: bool = True,
    start: float = 0.0,
    end: float | None = None,
    info: MediaInfo | None = None,
    threads: int = 0,
) -> Iterator[Frame]:
    """Decode frames with start <= t < end, scaled to `width` as they are decoded.

    threads: the decoder's threads; 0 lets FFmpeg choose (frame and slice threads).
    Bad input is reported here, before the first frame; decoding itself is lazy.
    """
    path = check_input(path)
    info = info if info is not None else probe(path)
    if not info.has_video:
        raise MediaError("no video stream", path)
    out_w, out_h = _target_size(info, width)
    quarter_turns = info.rotation // 90
    # scale in stored orientation; np.rot90 then turns the small image upright
    scale_w, scale_h = (out_h, out_w) if quarter_turns % 2 else (out_w, out_h)
    pixel_format = "gray" if gray else "rgb24"
    return _decode_frames(info, path, (scale_w, scale_h), pixel_format, quarter_turns, start, end,
                          max(int(threads), 0))


def _decode_frames(info, path, scale_size, pixel_format, quarter_turns, start, end, threads):
    with open_input(path) as container:
        yield from _decode_stream(container, info, path, scale_size, pixel_format,
                                  quarter_turns, start, end, threads)


def _decode_stream(container, info, path, scale_size, pixel_format, quarter_turns, start, end,
                   threads):
    stream = video_stream(container)
    if stream is None:  # the file at this path is no longer the one probed
        raise MediaError("no video stream", path)
    stream.thread_type = "AUTO"  # frame + slice threads, unless told how many
    if threads:
        stream.thread_count = threads
    if scale_size[0] * 2 <= stream.codec_context.width:
        # Shrinking 2x or more (motion analysis, thumbnails): skip the deblocking filter.
        # Decoding gets ~25% faster; the drift it causes stays below 0.3 grey levels
        # on average once the picture is area-averaged down, far below any real motion.
        stream.codec_context.options = {"skip_loop_filter": "all"}
    tb = stream.time_base
    first_pts = round(Fraction(info.start_time).limit_denominator(1 << 30) / tb)
    # one reusable scaler: frame.reformat() would rebuild the swscale context every frame
    scaler = VideoReformatter()
    converter = VideoReformatter()
    last_t = None
    try:
        if start > 0:
            container.seek(first_pts + int(start / tb), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is None:
                t = 0.0 if last_t is None else last_t + 1.0 / info.fps
            else:
                t = float((frame.pts - first_pts) * tb)
            if t < start - FRAME_TIME_EPS:
                continue  # decoded from the keyframe before `start`
            if end is not None and t >= end - FRAME_TIME_EPS:
                break
            if pixel_format == "rgb24" and frame.format.name == "yuv420p":
                # shrink the planes first, convert the small picture: swscale's scaling
                # straight to RGB costs ~3x more CPU at 720p -> 160 px
                small = scaler.reformat(
                    frame, width=scale_size[0], height=scale_size[1], format="yuv420p",
                    interpolation="AREA", threads=1,
                )
                small = converter.reformat(small, format="rgb24", threads=1)
            else:
                small = scaler.reformat(
                    frame, width=scale_size[0], height=scale_size[1], format=pixel_format,
                    interpolation="AREA", threads=1,  # AREA: no aliasing when shrinking 4x
                )
            image = small.to_ndarray()
            if quarter_turns:
                image = np.ascontiguousarray(np.rot90(image, quarter_turns))
            last_t = t
            yield Frame(t, image)
    except PYAV_ERRORS as exc:
        if last_t is None:
            raise MediaError(f"damaged video data: no frame could be decoded ({describe(exc)})",
                             path) from None
        near_cut = info.truncated and last_t >= info.duration - TRUNCATION_TAIL_S
        if not near_cut:
            raise MediaError(f"damaged video data after {last_t:.2f} s ({describe(exc)})",
                             path) from None
        # a file cut short: every frame before the cut is good, so end there quietly


def decode_audio(path: str | os.PathLike, sr: int | None = None) -> Audio:
    """First audio stream as mono float32, on the video's timeline when there is video.

    Sample i plays at i / sr seconds after the first video frame: a late-starting track is
    padded with silence, an early one cropped, so onsets line up with Frame.t.
    """
    path = check_input(path)
    with open_input(path) as container:
        if not container.streams.audio:
            raise MediaError("no audio stream", path)
        stream = container.streams.audio[0]
        try:
            samples, native_sr, first_t = _decode_audio_stream(container, stream, path)
            video_start = video_start_time(container)
        except PYAV_ERRORS as exc:
            raise MediaError(f"unreadable audio ({describe(exc)})", path) from None
    if video_start is not None and first_t is not None:
        offset = int(round((first_t - video_start) * native_sr))
        if offset > 0:
            samples = np.concatenate([np.zeros(offset, np.float32), samples])
        elif offset < 0:
            samples = samples[-offset:]
    audio = Audio(samples, native_sr)
    return audio.resampled(sr) if sr and sr != native_sr else audio


def _decode_audio_stream(container, stream, path: str):
    # convert every frame to planar float so channels can be averaged as in audio.to_mono
    resampler = av.AudioResampler(format="fltp")
    chunks: list[np.ndarray] = []
    first_t = None
    try:
        for frame in container.decode(stream):
            if first_t is None and frame.pts is not None:
                first_t = float(frame.pts * frame.time_base)
            for planar in resampler.resample(frame):
                chunks.append(planar.to_ndarray().mean(axis=0, dtype=np.float32))
    except av.FFmpegError as exc:
        # a cut-off track keeps its timeline from the start, so what decoded is usable
        if not chunks:
            raise MediaError(f"no audio could be decoded ({describe(exc)})", path) from None
    for planar in resampler.resample(None):
        chunks.append(planar.to_ndarray().mean(axis=0, dtype=np.float32))
    if not chunks:
        raise MediaError("audio stream has no samples (damaged or cut short)", path)
    native_sr = int(stream.codec_context.sample_rate)
    samples = np.concatenate(chunks)
    if stream.duration and stream.time_base:
        # AAC decoders emit encoder padding past the end; the stream header knows the length
        declared = int(round(float(stream.duration * stream.time_base) * native_sr))
        if 0 < declared < len(samples):
            samples = samples[:declared]
    return samples, native_sr, first_t


def video_start_time(container) -> float | None:
    video = video_stream(container)
    if video is None or video.start_time is None:
        return None
    return float(video.start_time * video.time_base)
