"""Describe a clip from its packets (core.media.probe): duration, rate, size, rotation.

Timing comes from demuxed packet timestamps, never from frame counting, so variable-frame-
rate clips stay in sync. Only the first frame is decoded: for its display matrix, and to
prove that the video is decodable at all before the editor shows the clip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av

from foley_studio.core.errors import MediaError
from foley_studio.core.media_io import (
    PYAV_ERRORS,
    MediaInfo,
    check_input,
    open_input,
    unreadable,
    video_stream,
)

MAX_SIDE = 8192  # px; larger frames are refused before anything is decoded
MAX_PIXELS = 40_000_000
FIRST_FRAME_TRIES = 16  # packets probe may decode while looking for the first frame


def normalise_rotation(degrees: float) -> int:
    """Nearest quarter turn in 0..270; players ignore other angles too."""
    return int(round(degrees / 90.0)) % 4 * 90


def check_frame_size(width: int, height: int, path: str) -> None:
    if width <= 0 or height <= 0:
        raise MediaError("video stream has no frame size (unreadable video)", path)
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise MediaError(
            f"frame size {width}x{height} is too large (limit {MAX_SIDE} px a side, "
            f"{MAX_PIXELS // 1_000_000} MP)",
            path,
        )


def probe(path: str | os.PathLike) -> MediaInfo:
    """Describe a clip from its packets; decodes only the first frame (for rotation)."""
    path = check_input(path)
    with open_input(path) as container:
        try:
            return _probe_container(container, path)
        except PYAV_ERRORS as exc:
            raise unreadable(exc, path) from None


def _probe_container(container: av.container.InputContainer, path: str) -> MediaInfo:
    video = video_stream(container)
    audio = container.streams.audio[0] if container.streams.audio else None
    if video is None and audio is None:
        raise MediaError("no audio or video stream (not a media file)", path)
    audio_sr = int(audio.codec_context.sample_rate) if audio is not None else None
    audio_channels = int(audio.codec_context.channels) if audio is not None else None

    if video is None:
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        return MediaInfo(path, duration, 0.0, 0, 0, 0, 0, False, True, audio_sr,
                         audio_channels, None, 0.0)

    check_frame_size(video.codec_context.width, video.codec_context.height, path)
    scan = _scan_video_packets(container, video, path)
    tb = video.time_base
    rate = video.average_rate or video.guessed_rate
    if scan.without_pts or scan.pts_min is None:
        # no timestamps to trust (raw elementary streams): fall back to the nominal rate
        fps = float(rate) if rate else 25.0
        start, duration = 0.0, scan.count / fps
    else:
        span_ticks = scan.pts_max - scan.pts_min
        fps = float(rate) if rate else scan.count / max(float(span_ticks * tb), 1e-3)
        last_ticks = scan.last_duration or round(1 / (fps * tb))
        start = float(scan.pts_min * tb)
        duration = float((span_ticks + last_ticks) * tb)

    rotation = normalise_rotation(scan.rotation or -_rotate_tag(video))
    width, height = video.codec_context.width, video.codec_context.height
    if rotation in (90, 270):
        width, height = height, width
    truncated = scan.demux_failed or (video.frames > 0 and scan.count < video.frames)
    return MediaInfo(
        path=path, duration=duration, fps=fps, width=width, height=height,
        n_frames=scan.count, rotation=rotation, has_video=True, has_audio=audio is not None,
        audio_sr=audio_sr, audio_channels=audio_channels,
        video_codec=video.codec_context.name, start_time=start, truncated=truncated,
    )


def _rotate_tag(video) -> float:
    """Clockwise degrees from an old-style "rotate" tag (used when no display matrix)."""
    try:
        return float(video.metadata.get("rotate", 0) or 0)
    except ValueError:
        return 0.0  # a malformed tag is no reason to refuse the clip


@dataclass
class _PacketScan:
    count: int = 0
    pts_min: int | None = None
    pts_max: int | None = None
    last_duration: int = 0  # duration of the packet with the largest pts
    without_pts: bool = False
    demux_failed: bool = False
    rotation: float | None = None  # from the first decoded frame's display matrix


def _first_frame_rotation(video, packet) -> float | None:
    """Display-matrix rotation of the first frame this packet completes (None: no frame yet).

    PyAV exposes the display matrix on decoded frames only, hence one decode here.
    packet=None flushes the decoder: frames it held back (B-frame delay) come out.
    A packet that fails to decode is left to the decodability check in the scan.
    """
    try:
        for frame in video.decode(packet):
            return float(frame.rotation or 0)
    except PYAV_ERRORS:
        pass
    return None


def _scan_video_packets(container, video, path: str) -> _PacketScan:
    """Count frames and find the pts range in one demux pass; decode until one frame."""
    scan = _PacketScan()
    try:
        for packet in container.demux(video):
            # size 0 is the demuxer's end marker; discard-flagged packets are cut by edit lists
            if packet.size == 0 or packet.is_discard:
                continue
            scan.count += 1
            pts = packet.pts if packet.pts is not None else packet.dts
            if pts is None:
                scan.without_pts = True
            else:
                if scan.pts_min is None or pts < scan.pts_min:
                    scan.pts_min = pts
                if scan.pts_max is None or pts >= scan.pts_max:
                    scan.pts_max, scan.last_duration = pts, packet.duration or 0
            if scan.rotation is None and scan.count <= FIRST_FRAME_TRIES:
                scan.rotation = _first_frame_rotation(video, packet)
    except av.FFmpegError:
        if scan.count == 0:
            raise
        scan.demux_failed = True  # keep what was read: the file is cut or damaged here
    if scan.count == 0:
        raise MediaError("video stream has no frames (damaged or cut short)", path)
    if scan.rotation is None:
        scan.rotation = _first_frame_rotation(video, None)
    if scan.rotation is None:
        # packets exist but none decodes (a cut inside the first frame, or garbage): refuse
        # here, so the editor never shows a clip whose picture cannot be drawn
        raise MediaError("no video frame could be decoded (damaged or cut short)", path)
    return scan
