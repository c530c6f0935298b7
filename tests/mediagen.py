"""Tiny synthetic media for tests: written with PyAV into tmp_path in milliseconds.

    from tests.mediagen import write_video, moving_square
    clip = write_video(tmp_path / "a.mp4", moving_square(stop_at=0.5), fps=30, duration=1.0)

Keep clips tiny (default 160x90, 1 s) so the suite stays fast.
Rotation is written as a real display matrix (PyAV's VideoStream.set_display_rotation),
the same side data phones write, so rotated-clip tests exercise the true path.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Callable, Sequence

import av
import numpy as np
import soundfile as sf

# frame i at time t (seconds) -> (H, W, 3) or (H, W) uint8
FrameFn = Callable[[int, float], np.ndarray]

VFR_TIME_BASE = Fraction(1, 1000)  # explicit pts in milliseconds


def gradient_frames(size: tuple[int, int] = (160, 90)) -> FrameFn:
    """A textured picture whose brightness ramps with the frame index (frames differ)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = ((xx * 3 + yy * 5) % 97).astype(np.int32)

    def frame(i: int, t: float) -> np.ndarray:
        grey = ((base + i * 7) % 256).astype(np.uint8)
        return np.stack([grey, np.roll(grey, 11, axis=1), 255 - grey], axis=-1)

    return frame


def moving_square(
    size: tuple[int, int] = (160, 90), speed: float = 80.0, stop_at: float = 0.5, side: int = 16
) -> FrameFn:
    """A white square moving right at `speed` px/s on a mid-grey textured floor, then still."""
    w, h = size
    rng = np.random.default_rng(7)
    floor = (110 + rng.integers(-20, 20, (h, w))).astype(np.uint8)

    def frame(i: int, t: float) -> np.ndarray:
        img = floor.copy()
        x = int(4 + speed * min(t, stop_at)) % max(w - side, 1)
        y = (h - side) // 2
        img[y:y + side, x:x + side] = 250
        return np.repeat(img[..., None], 3, axis=-1)

    return frame


def tone(duration: float = 1.0, sr: int = 48_000, freq: float = 440.0, amp: float = 0.5,
         channels: int = 1) -> np.ndarray:
    """(channels, n) float32 sine."""
    t = np.arange(int(round(duration * sr))) / sr
    wave = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(wave[None, :], channels, axis=0)


def write_video(
    path: str | os.PathLike,
    frames: FrameFn | np.ndarray | None = None,
    fps: float = 30,
    size: tuple[int, int] = (160, 90),
    duration: float = 1.0,
    audio: np.ndarray | tuple[np.ndarray, int] | None = None,
    vfr_times: Sequence[float] | None = None,
    rotation: int | None = None,
    codec: str = "libx264",
    audio_sr: int = 48_000,
    faststart: bool = False,
) -> str:
    """Write an MP4 (or any container the suffix names) and return its path.

    frames: a FrameFn, or an array (N, H, W[, 3]) whose N sets the frame count.
    audio: (channels, n) or (n,) float samples at audio_sr, or (samples, sr); AAC.
    vfr_times: explicit frame times in seconds (variable frame rate); overrides fps timing.
    rotation: counter-clockwise display rotation in degrees, stored as a display matrix.
    """
    path = os.fspath(path)
    w, h = size
    if isinstance(frames, np.ndarray):
        h, w = frames.shape[1:3]
        times = list(vfr_times) if vfr_times is not None else [i / fps for i in range(len(frames))]
        frame_at: FrameFn = lambda i, t: frames[i]  # noqa: E731
    else:
        frame_at = frames or gradient_frames((w, h))
        times = list(vfr_times) if vfr_times is not None else [
            i / fps for i in range(int(round(duration * fps)))
        ]
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(path, mode="w", options=options) as out:
        video = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "veryfast", "crf": "23"}
        if vfr_times is not None:
            video.codec_context.time_base = VFR_TIME_BASE
        if rotation is not None:
            video.set_display_rotation(rotation)
        audio_stream, audio_frames = _audio_frames(out, audio, audio_sr)
        for i, t in enumerate(times):
            image = np.asarray(frame_at(i, t), dtype=np.uint8)
            if image.ndim == 2:
                image = np.repeat(image[..., None], 3, axis=-1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if vfr_times is not None:
                frame.pts, frame.time_base = int(round(t * 1000)), VFR_TIME_BASE
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for frame in audio_frames:
            out.mux(audio_stream.encode(frame))
        if audio_stream is not None:
            out.mux(audio_stream.encode(None))
    return path


def _audio_frames(out, audio, sr: int):
    if audio is None:
        return None, []
    if isinstance(audio, tuple):
        audio, sr = audio
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[None, :]
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    stream = out.add_stream("aac", rate=sr)
    stream.layout = layout
    frames = []
    for at in range(0, samples.shape[1], 1024):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[:, at:at + 1024]), format="fltp", layout=layout
        )
        frame.sample_rate, frame.pts, frame.time_base = sr, at, Fraction(1, sr)
        frames.append(frame)
    return stream, frames


def write_audio_only(path: str | os.PathLike, duration: float = 1.0, sr: int = 44_100,
                     channels: int = 2, freq: float = 440.0) -> str:
    """A file with one audio stream and no video: WAV by soundfile, else AAC by PyAV."""
    path = os.fspath(path)
    samples = tone(duration, sr, freq, channels=channels)
    if path.lower().endswith(".wav"):
        sf.write(path, samples.T, sr)
        return path
    with av.open(path, mode="w") as out:
        stream, frames = _audio_frames(out, samples, sr)
        for frame in frames:
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_truncated(src: str | os.PathLike, dst: str | os.PathLike, keep: float = 0.6) -> str:
    """Copy the first `keep` fraction of a file's bytes, like an interrupted download."""
    data = open(src, "rb").read()
    with open(dst, "wb") as f:
        f.write(data[: int(len(data) * keep)])
    return os.fspath(dst)


def write_garbage(path: str | os.PathLike, n_bytes: int = 4096, seed: int = 0) -> str:
    """Random bytes with a video-looking name."""
    data = np.random.default_rng(seed).integers(0, 256, n_bytes, dtype=np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(data)
    return os.fspath(path)


def write_huge_frame_stub(path: str | os.PathLike, width: int = 9000, height: int = 16) -> str:
    """A one-frame clip with an absurd width (cheap: tiny height, flat colour)."""
    return write_video(
        path, np.full((1, height, width, 3), 90, np.uint8), fps=1
    )


def write_mp3_with_cover(path: str | os.PathLike, duration: float = 1.0, sr: int = 44_100) -> str:
    """An MP3 whose cover art FFmpeg reports as a one-picture video stream."""
    path = os.fspath(path)
    samples = tone(duration, sr)
    with av.open(path, mode="w") as out:
        sound = out.add_stream("libmp3lame", rate=sr)
        sound.layout = "mono"
        cover = out.add_stream("png")
        cover.width = cover.height = 32
        cover.pix_fmt = "rgb24"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 128, np.uint8), format="rgb24")
        out.mux(cover.encode(picture) + cover.encode(None))
        for at in range(0, samples.shape[1], 1152):  # MP3's frame size
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[:, at:at + 1152]), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = sr, at, Fraction(1, sr)
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


# --- hostile files (issue 5): broken, odd or not media at all ---------------------------


def mp4_boxes(path: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """Top-level MP4 boxes: type -> (offset, size). Enough to cut a file inside one."""
    boxes, data = {}, open(path, "rb").read()
    at = 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        kind = data[at + 4:at + 8].decode("latin-1")
        if size == 1:  # 64-bit size follows the type
            size = int.from_bytes(data[at + 8:at + 16], "big")
        if size < 8:
            break
        boxes.setdefault(kind, (at, size))
        at += size
    return boxes


def write_cut_at(src: str | os.PathLike, dst: str | os.PathLike, n_bytes: int) -> str:
    """Copy the first `n_bytes` bytes of a file (a cut at an exact place, e.g. inside moov)."""
    data = open(src, "rb").read()
    with open(dst, "wb") as f:
        f.write(data[:n_bytes])
    return os.fspath(dst)


def write_still_image(path: str | os.PathLike, kind: str = "png", size: tuple[int, int] = (64, 48)) -> str:
    """One picture as a PNG or JPEG file, whatever the name's suffix says (".mp4" included)."""
    path = os.fspath(path)
    w, h = size
    codec, pix_fmt = {"png": ("png", "rgb24"), "jpeg": ("mjpeg", "yuvj420p")}[kind]
    with av.open(path, mode="w", format="image2pipe") as out:
        stream = out.add_stream(codec, rate=1)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        picture = av.VideoFrame.from_ndarray(gradient_frames((w, h))(0, 0.0), format="rgb24")
        out.mux(stream.encode(picture.reformat(format=pix_fmt)))
        out.mux(stream.encode(None))
    return path


def write_y4m_claiming(path: str | os.PathLike, width: int = 16_384, height: int = 16_384) -> str:
    """A raw YUV4MPEG2 file whose header claims a huge frame, followed by a few bytes only.

    Opening it must not allocate width*height*1.5 bytes: the size is refused from the header.
    """
    header = f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode()
    with open(path, "wb") as f:
        f.write(header + bytes(4096))
    return os.fspath(path)


def write_corrupted(src: str | os.PathLike, dst: str | os.PathLike, start: float = 1 / 3,
                    end: float = 2 / 3, seed: int = 1) -> str:
    """Copy an MP4 with random bytes over a span of its media data (bit rot, bad sectors):
    the index is intact, so it opens, but the frames in the span cannot be decoded."""
    data = bytearray(open(src, "rb").read())
    offset, size = mp4_boxes(src)["mdat"]
    a, b = offset + int(size * start), offset + int(size * end)
    data[a:b] = np.random.default_rng(seed).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    with open(dst, "wb") as f:
        f.write(bytes(data))
    return os.fspath(dst)
