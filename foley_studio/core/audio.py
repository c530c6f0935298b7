"""Mono float32 audio and resampling.

Audio is the one type that crosses between engines, render service, export and UI.
Resampling goes through soxr (high quality, fast, no Python loops).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from foley_studio.core.errors import AudioFileError


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono samples (float32, nominally -1..1) at sample rate `sr`."""

    samples: np.ndarray
    sr: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"Audio must be mono (1-D), got shape {samples.shape}")
        if int(self.sr) <= 0:
            raise ValueError(f"sample rate must be positive, got {self.sr}")
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "sr", int(self.sr))

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sr

    def __len__(self) -> int:
        return len(self.samples)

    def resampled(self, sr: int) -> "Audio":
        return Audio(resample(self.samples, self.sr, sr), sr)

    def fitted(self, n_samples: int) -> "Audio":
        """Cropped or zero-padded to exactly n_samples."""
        return Audio(fit_length(self.samples, n_samples), self.sr)

    def read(self, start: int, n: int) -> np.ndarray:
        """Samples [start, start + n) as a new array, zeros outside (as AudioFile.read)."""
        n = max(int(n), 0)
        out = np.zeros(n, np.float32)
        a, b = max(int(start), 0), min(int(start) + n, len(self.samples))
        if a < b:
            out[a - start : b - start] = self.samples[a:b]
        return out

    def with_patch(self, start: int, samples: np.ndarray) -> "Audio":
        """A copy with samples [start, start + len) replaced (a span re-render)."""
        out = self.samples.copy()
        x = np.asarray(samples, dtype=np.float32)
        a, b = max(int(start), 0), min(int(start) + len(x), len(out))
        if a < b:
            out[a:b] = x[a - start : b - start]
        return Audio(out, self.sr)

    @staticmethod
    def silence(n_samples: int, sr: int) -> "Audio":
        return Audio(np.zeros(n_samples, np.float32), sr)


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample mono float32 samples; identity when the rates match."""
    x = np.asarray(samples, dtype=np.float32)
    if sr_in == sr_out or len(x) == 0:
        return x.copy()
    return soxr.resample(x, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def fit_length(samples: np.ndarray, n_samples: int) -> np.ndarray:
    """Crop or zero-pad to exactly n_samples (float32)."""
    x = np.asarray(samples, dtype=np.float32)
    if len(x) >= n_samples:
        return x[:n_samples].copy()
    out = np.zeros(n_samples, np.float32)
    out[: len(x)] = x
    return out


def to_mono(data: np.ndarray) -> np.ndarray:
    """Average channels of a (frames, channels) array; pass mono through."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return data


def read_audio(path: str | os.PathLike) -> Audio:
    """Read an audio file (anything libsndfile reads) as mono float32."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioFileError("file not found", path)
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(f"not a readable audio file ({_first_line(exc)})", path) from None
    if len(data) == 0:
        raise AudioFileError("audio file is empty", path)
    return Audio(to_mono(data), sr)


SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}


def write_wav(path: str | os.PathLike, audio: Audio, bit_depth: int = 24) -> None:
    """Write a mono WAV. bit_depth 16 or 24 is PCM (clipped), 32 is float."""
    if bit_depth not in SUBTYPES:
        raise ValueError(f"bit depth must be one of {sorted(SUBTYPES)}, got {bit_depth}")
    samples = audio.samples
    if bit_depth != 32:
        samples = np.clip(samples, -1.0, 1.0)
    sf.write(os.fspath(path), samples, audio.sr, subtype=SUBTYPES[bit_depth], format="WAV")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
