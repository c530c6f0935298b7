"""The hostile-media catalogue (issue 5), shared by the core, CLI and editor tests.

build_cases(folder) writes every case into `folder` (about half a second in all) and
returns name -> Case. A case either opens (error is None) or must fail with a MediaError
whose one line contains `error` and the file's path; DAMAGED cases open, and fail so when
their frames are decoded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tests.mediagen import (
    moving_square,
    mp4_boxes,
    tone,
    write_audio_only,
    write_corrupted,
    write_cut_at,
    write_garbage,
    write_still_image,
    write_truncated,
    write_video,
    write_y4m_claiming,
)

VFR_TIMES = [0.0, 0.1, 0.15, 0.4, 0.45, 0.5, 0.9, 1.0]


@dataclass(frozen=True)
class Case:
    path: str
    error: str | None = None  # words of the one-line error; None: the clip opens
    duration: float | None = None  # for cases that open: the probed duration
    fps: float | None = None


def good_clip(path, duration: float = 1.0, freq: float = 440.0, faststart: bool = False) -> str:
    """A clip that opens: a moving square and a tone (the freq tells versions apart)."""
    return write_video(path, moving_square(stop_at=duration / 2), fps=25, duration=duration,
                       audio=tone(duration, freq=freq), faststart=faststart)


def build_cases(folder) -> dict[str, Case]:
    d = os.fspath(folder)
    os.makedirs(d, exist_ok=True)
    at = lambda name: os.path.join(d, name)  # noqa: E731
    fast = good_clip(at("src_faststart.mp4"), faststart=True)  # index (moov) first
    slow = good_clip(at("src_index_last.mp4"))  # index written after the data
    moov, mdat = mp4_boxes(fast)["moov"], mp4_boxes(fast)["mdat"]
    tail_moov = mp4_boxes(slow)["moov"]
    with open(at("empty.mp4"), "wb"):
        pass
    with open(at("notes.mp4"), "w") as f:
        f.write("this is a shopping list, not a video\n")
    os.makedirs(at("a folder.mp4"), exist_ok=True)
    return {
        # --- truncated ---------------------------------------------------------------
        "cut inside the header (ftyp)": Case(write_cut_at(fast, at("cut_ftyp.mp4"), 16), "cut short"),
        "cut inside moov": Case(write_cut_at(fast, at("cut_moov.mp4"), moov[0] + moov[1] // 2),
                                "damaged or cut short"),
        "cut just after moov": Case(write_cut_at(fast, at("cut_after_moov.mp4"), mdat[0] + 24),
                                    "damaged or cut short"),
        "cut before a trailing index": Case(write_truncated(slow, at("cut_no_index.mp4"), 0.7),
                                            "cut short"),
        # the video track's index survives, the audio track's does not: a silent clip
        "cut inside a trailing index": Case(
            write_cut_at(slow, at("cut_tail_moov.mp4"), tail_moov[0] + tail_moov[1] // 2), fps=25),
        "cut mid-stream": Case(write_truncated(fast, at("cut_mid.mp4"), 0.5), duration=None, fps=25),
        # the index is intact, so it opens; the middle third of the data is random bytes
        "damaged mid-stream": Case(write_corrupted(fast, at("bit_rot.mp4")), "damaged video data",
                                   duration=1.0, fps=25),
        # --- empty, not media, odd paths ---------------------------------------------
        "zero-length file": Case(at("empty.mp4"), "empty"),
        "text file named .mp4": Case(at("notes.mp4"), "not a media file"),
        "random bytes": Case(write_garbage(at("noise.mp4"), 8192), "not a media file"),
        ".mp4 that is a JPEG": Case(write_still_image(at("photo.mp4"), "jpeg"), "still image (JPEG)"),
        "PNG still": Case(write_still_image(at("still.png"), "png"), "still image (PNG)"),
        "JPEG still": Case(write_still_image(at("still.jpg"), "jpeg"), "still image (JPEG)"),
        "directory": Case(at("a folder.mp4"), "is a directory"),
        "missing file": Case(at("gone.mp4"), "not found"),
        # --- no picture --------------------------------------------------------------
        "audio only (m4a)": Case(write_audio_only(at("tone.m4a")), "no video stream"),
        "audio only (wav)": Case(write_audio_only(at("tone.wav")), "no video stream"),
        # --- absurd sizes: refused from the header, nothing allocated -----------------
        "header claims 16000x9000": Case(write_y4m_claiming(at("wide.y4m"), 16_000, 9_000), "too large"),
        # FFmpeg itself refuses a 16384x16384 picture (over its allocation limit)
        "header claims 16384x16384": Case(write_y4m_claiming(at("square.y4m")), "not a media file"),
        # --- odd but valid: these open ------------------------------------------------
        "single frame": Case(write_video(at("one.mp4"), fps=25, duration=1 / 25), duration=0.04, fps=25),
        "1 fps": Case(write_video(at("fps1.mp4"), moving_square(speed=20), fps=1, duration=3.0),
                      duration=3.0, fps=1),
        "240 fps": Case(write_video(at("fps240.mp4"), moving_square(speed=300), fps=240, duration=0.25),
                        duration=0.25, fps=240),
        "variable frame rate": Case(write_video(at("vfr.mp4"), moving_square(), vfr_times=VFR_TIMES),
                                    duration=None),
        **{f"rotated {r}": Case(write_video(at(f"rot{r}.mp4"), moving_square(), fps=25,
                                            duration=0.4, rotation=r), duration=0.4, fps=25)
           for r in (90, 180, 270)},
        "spaces and unicode in the name": Case(good_clip(at("my clip – café 日本.mp4"), 0.4),
                                               duration=0.4, fps=25),
    }


BAD = [
    "cut inside the header (ftyp)", "cut inside moov", "cut just after moov",
    "cut before a trailing index", "zero-length file", "text file named .mp4", "random bytes",
    ".mp4 that is a JPEG", "PNG still", "JPEG still", "directory", "missing file",
    "audio only (m4a)", "audio only (wav)", "header claims 16000x9000", "header claims 16384x16384",
]
DAMAGED = ["damaged mid-stream"]  # opens; decoding then fails with the error
GOOD = [
    "cut inside a trailing index", "cut mid-stream", "single frame", "1 fps", "240 fps",
    "variable frame rate", "rotated 90", "rotated 180", "rotated 270",
    "spaces and unicode in the name",
]
NOISE = ("Traceback", "Errno", "av.error", "avcodec_", 'File "', "Device or resource busy")


def assert_one_clear_line(text: str, path) -> None:
    """A user-facing error: one line, naming the file, no traceback or FFmpeg internals."""
    text = text.strip()
    assert "\n" not in text, text
    assert os.fspath(path) in text, text
    for noise in NOISE:
        assert noise not in text, text
