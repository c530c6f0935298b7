"""Where the benchmarks keep the clips they generate, and how they write them.

Clips are written once into $FOLEY_BENCH_CACHE (else ~/.cache/foley-studio-bench) under
a temporary name and renamed when complete, so an interrupted run never leaves a half
clip that a later run would take for a cached one.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Callable

import av
import numpy as np


def cache_dir() -> str:
    folder = os.environ.get("FOLEY_BENCH_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "foley-studio-bench")
    os.makedirs(folder, exist_ok=True)
    return folder


def write_atomically(path: str, write: Callable[[str], object]) -> None:
    """write(tmp) then rename tmp to path; the temporary is removed whatever happens."""
    tmp = f"{path}.{os.getpid()}.tmp.mp4"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def mux_mono_audio(out, sound, samples: np.ndarray, sr: int) -> None:
    """Encode mono float samples into the stream `sound` of `out` (an AAC encoder takes
    1024 samples a frame), flushing the encoder at the end."""
    for at in range(0, len(samples), 1024):
        chunk = av.AudioFrame.from_ndarray(samples[None, at:at + 1024].copy(), format="fltp",
                                           layout="mono")
        chunk.sample_rate, chunk.pts, chunk.time_base = sr, at, Fraction(1, sr)
        out.mux(sound.encode(chunk))
    out.mux(sound.encode(None))
