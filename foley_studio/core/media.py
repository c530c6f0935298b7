"""Open a clip: probe, stream decoded frames, decode the audio track, mux new sound in.

Everything goes through PyAV (FFmpeg). Timing comes from demuxed packet and frame
timestamps, never from frame counting, so variable-frame-rate clips stay in sync.
Every failure a user can cause becomes a one-line MediaError naming the file; no PyAV
exception leaves this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from foley_studio.core.atomic import atomic_output
from foley_studio.core.audio import Audio
from foley_studio.core.errors import MediaError, OutputError

MAX_SIDE = 8192  # px; larger frames are refused before anything is decoded
MAX_PIXELS = 40_000_000
FINGERPRINT_CHUNK = 1 << 20
# AAC in MP4 only signals these rates; anything else is resampled to 48 kHz first
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
# a decode error this close to the end of a file known to be cut short is the cut itself
TRUNCATION_TAIL_S = 1.0
_EPS = 1e-6
FIRST_FRAME_TRIES = 16  # packets probe may decode while looking for the first frame

# What PyAV raises for bad input: its own FFmpeg errors (which also subclass OSError etc.),
# plus ValueError for streams or metadata it cannot describe.
_PYAV_ERRORS = (av.FFmpegError, OSError, ValueError, EOFError)


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


# --- input checks and error translation -------------------------------------------------


def _check_input(path: str | os.PathLike) -> str:
    """The path as str, after the checks that need no FFmpeg (clearer messages)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MediaError("file not found", path)
    if os.path.isdir(path):
        raise MediaError("is a directory, not a media file", path)
    if os.path.getsize(path) == 0:
        raise MediaError("file is empty (0 bytes)", path)
    return path


def _describe(exc: BaseException) -> str:
    """One line from a PyAV error, without errno numbers or the repeated file name."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().splitlines()[0]


def _video_stream(container) -> av.video.stream.VideoStream | None:
    """First real video stream; cover art in music files is a one-picture 'video' too."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _unreadable(exc: BaseException, path: str) -> MediaError:
    return MediaError(f"not a media file, or damaged or cut short ({_describe(exc)})", path)


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[av.container.InputContainer]:
    try:
        container = av.open(path, mode="r")
    except _PYAV_ERRORS as exc:
        raise _unreadable(exc, path) from None
    try:
        yield container
    finally:
        container.close()


# --- probe ------------------------------------------------------------------------------


def _normalise_rotation(degrees: float) -> int:
    """Nearest quarter turn in 0..270; players ignore other angles too."""
    return int(round(degrees / 90.0)) % 4 * 90


def _check_frame_size(width: int, height: int, path: str) -> None:
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
    path = _check_input(path)
    with _open_input(path) as container:
        try:
            return _probe_container(container, path)
        except _PYAV_ERRORS as exc:
            raise _unreadable(exc, path) from None


def _probe_container(container: av.container.InputContainer, path: str) -> MediaInfo:
    video = _video_stream(container)
    audio = container.streams.audio[0] if container.streams.audio else None
    if video is None and audio is None:
        raise MediaError("no audio or video stream (not a media file)", path)
    audio_sr = int(audio.codec_context.sample_rate) if audio is not None else None
    audio_channels = int(audio.codec_context.channels) if audio is not None else None

    if video is None:
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        return MediaInfo(path, duration, 0.0, 0, 0, 0, 0, False, True, audio_sr,
                         audio_channels, None, 0.0)

    _check_frame_size(video.codec_context.width, video.codec_context.height, path)
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

    rotation = _normalise_rotation(scan.rotation or -_rotate_tag(video))
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
    """Display-matrix rotation of the first frame this packet completes, if any.

    PyAV exposes the display matrix on decoded frames only, hence one decode here.
    A packet that fails to decode is left to iter_frames to report.
    """
    try:
        for frame in video.decode(packet):
            return float(frame.rotation or 0)
    except av.FFmpegError:
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
        raise MediaError("video stream has no frames", path)
    return scan


# --- frames -----------------------------------------------------------------------------


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
) -> Iterator[Frame]:
    """Decode frames with start <= t < end, scaled to `width` as they are decoded.

    Bad input is reported here, before the first frame; decoding itself is lazy.
    """
    path = _check_input(path)
    info = info if info is not None else probe(path)
    if not info.has_video:
        raise MediaError("no video stream", path)
    out_w, out_h = _target_size(info, width)
    quarter_turns = info.rotation // 90
    # scale in stored orientation; np.rot90 then turns the small image upright
    scale_w, scale_h = (out_h, out_w) if quarter_turns % 2 else (out_w, out_h)
    pixel_format = "gray" if gray else "rgb24"
    return _decode_frames(info, path, (scale_w, scale_h), pixel_format, quarter_turns, start, end)


def _decode_frames(info, path, scale_size, pixel_format, quarter_turns, start, end):
    with _open_input(path) as container:
        yield from _decode_stream(container, info, path, scale_size, pixel_format,
                                  quarter_turns, start, end)


def _decode_stream(container, info, path, scale_size, pixel_format, quarter_turns, start, end):
    stream = _video_stream(container)
    stream.thread_type = "AUTO"  # frame + slice threads: decoding is most of the cost
    if scale_size[0] * 2 <= stream.codec_context.width:
        # Shrinking 2x or more (motion analysis, thumbnails): skip the deblocking filter.
        # Decoding gets ~25% faster; the drift it causes stays below 0.3 grey levels
        # on average once the picture is area-averaged down, far below any real motion.
        stream.codec_context.options = {"skip_loop_filter": "all"}
    tb = stream.time_base
    first_pts = round(Fraction(info.start_time).limit_denominator(1 << 30) / tb)
    # one reusable scaler: frame.reformat() would rebuild the swscale context every frame
    scaler = VideoReformatter()
    last_t = None
    try:
        if start > 0:
            container.seek(first_pts + int(start / tb), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is None:
                t = 0.0 if last_t is None else last_t + 1.0 / info.fps
            else:
                t = float((frame.pts - first_pts) * tb)
            if t < start - _EPS:
                continue  # decoded from the keyframe before `start`
            if end is not None and t >= end - _EPS:
                break
            small = scaler.reformat(
                frame, width=scale_size[0], height=scale_size[1], format=pixel_format,
                interpolation="AREA", threads=1,  # AREA: no aliasing when shrinking 4x
            )
            image = small.to_ndarray()
            if quarter_turns:
                image = np.ascontiguousarray(np.rot90(image, quarter_turns))
            last_t = t
            yield Frame(t, image)
    except _PYAV_ERRORS as exc:
        if last_t is None:
            raise MediaError(f"no frame could be decoded ({_describe(exc)})", path) from None
        near_cut = info.truncated and last_t >= info.duration - TRUNCATION_TAIL_S
        if not near_cut:
            raise MediaError(f"corrupt video data after {last_t:.2f} s ({_describe(exc)})",
                             path) from None
        # a file cut short: every frame before the cut is good, so end there quietly


# --- audio ------------------------------------------------------------------------------


def decode_audio(path: str | os.PathLike, sr: int | None = None) -> Audio:
    """First audio stream as mono float32, on the video's timeline when there is video.

    Sample i plays at i / sr seconds after the first video frame: a late-starting track is
    padded with silence, an early one cropped, so onsets line up with Frame.t.
    """
    path = _check_input(path)
    with _open_input(path) as container:
        if not container.streams.audio:
            raise MediaError("no audio stream", path)
        stream = container.streams.audio[0]
        try:
            samples, native_sr, first_t = _decode_audio_stream(container, stream, path)
            video_start = _video_start_time(container)
        except _PYAV_ERRORS as exc:
            raise MediaError(f"unreadable audio ({_describe(exc)})", path) from None
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
            raise MediaError(f"no audio could be decoded ({_describe(exc)})", path) from None
    for planar in resampler.resample(None):
        chunks.append(planar.to_ndarray().mean(axis=0, dtype=np.float32))
    if not chunks:
        raise MediaError("audio stream has no samples", path)
    native_sr = int(stream.codec_context.sample_rate)
    samples = np.concatenate(chunks)
    if stream.duration and stream.time_base:
        # AAC decoders emit encoder padding past the end; the stream header knows the length
        declared = int(round(float(stream.duration * stream.time_base) * native_sr))
        if 0 < declared < len(samples):
            samples = samples[:declared]
    return samples, native_sr, first_t


def _video_start_time(container) -> float | None:
    video = _video_stream(container)
    if video is None or video.start_time is None:
        return None
    return float(video.start_time * video.time_base)


# --- mux --------------------------------------------------------------------------------


def mux(
    video_path: str | os.PathLike,
    audio: Audio,
    out_path: str | os.PathLike,
    keep_original_audio: bool = False,
) -> None:
    """Write an MP4: the video stream copied bit for bit, `audio` as AAC, optionally the
    original audio as a second (non-default) track. Atomic: temp file, then os.replace."""
    video_path = _check_input(video_path)
    out_path = os.fspath(out_path)
    folder = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(folder):
        raise OutputError("output folder does not exist", out_path)
    try:
        with atomic_output(out_path) as tmp_path, _open_input(video_path) as source:
            if _video_stream(source) is None:
                raise MediaError("no video stream", video_path)
            try:
                _mux_into(source, audio, tmp_path, keep_original_audio)
            except _PYAV_ERRORS as exc:
                raise MediaError(f"cannot mux ({_describe(exc)})", video_path) from None
    except OSError as exc:
        raise OutputError(f"cannot write here ({_describe(exc)})", out_path) from None


def _mux_into(source, audio: Audio, tmp_path: str, keep_original_audio: bool) -> None:
    in_video = _video_stream(source)
    in_audio = source.streams.audio[0] if keep_original_audio and source.streams.audio else None
    with av.open(tmp_path, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        out_video = out.add_stream_from_template(in_video)
        new_audio = _encode_aac(out, audio, _video_start_time(source) or 0.0)
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


# --- fingerprint and Clip ---------------------------------------------------------------


def fingerprint(path: str | os.PathLike) -> str:
    """Cheap identity for caches: sha256 over size, first and last MiB (not a full hash)."""
    path = _check_input(path)
    try:
        size = os.path.getsize(path)
        digest = hashlib.sha256(str(size).encode())
        with open(path, "rb") as f:
            digest.update(f.read(FINGERPRINT_CHUNK))
            f.seek(max(size - FINGERPRINT_CHUNK, 0))
            digest.update(f.read(FINGERPRINT_CHUNK))
    except OSError as exc:
        raise MediaError(f"cannot read ({_describe(exc)})", path) from None
    return "sha256:" + digest.hexdigest()


class Clip:
    """A probed video file, as engines receive it."""

    def __init__(self, path: str, info: MediaInfo):
        self.path = path
        self.info = info

    @property
    def duration(self) -> float:
        return self.info.duration

    def frames(self, width: int | None = None, gray: bool = True, start: float = 0.0,
               end: float | None = None) -> Iterator[Frame]:
        return iter_frames(self.path, width, gray, start, end, info=self.info)

    def audio(self, sr: int | None = None) -> Audio | None:
        return decode_audio(self.path, sr) if self.info.has_audio else None

    def __repr__(self) -> str:
        info = self.info
        return f"Clip({self.path!r}, {info.duration:.3f} s, {info.width}x{info.height})"


def open_clip(path: str | os.PathLike) -> Clip:
    info = probe(path)
    if not info.has_video:
        raise MediaError("no video stream", info.path)
    return Clip(info.path, info)
