"""Time layout of a ControlNet render: 10.24 s windows, their crossfades, span splicing.

Pure numpy. A window is 256 latent frames (40 ms each, 640 samples at 16 kHz). Clips up
to 10.24 s take one window; longer ones take windows every 9.24 s (1 s overlap), the last
one aligned to the clip's end so no window runs into silence. Neighbouring windows share
their overlap's latents (the later one inpaints from the earlier), so a linear crossfade
across the overlap joins two decodings of the same latents.
"""

from __future__ import annotations

import math

import numpy as np

SR_MODEL = 16_000
FRAME_SAMPLES = 640  # 16 kHz samples per latent frame (4 mel frames of hop 160)
FRAME_SECONDS = FRAME_SAMPLES / SR_MODEL  # 0.04
ENV_PER_FRAME = 5  # 125 Hz envelope frames per latent frame
WINDOW = 256  # latent frames per window: 10.24 s
OVERLAP = 25  # latent frames shared by neighbouring windows: 1 s
CROSSFADE = 0.020  # seconds of crossfade on each side of a re-rendered span


def n_frames(n_env: int) -> int:
    """Latent frames covering an envelope of n_env frames at 125 Hz."""
    return max(1, math.ceil(n_env / ENV_PER_FRAME))


def plan(total_frames: int) -> list[int]:
    """First latent frame of each window."""
    if total_frames <= WINDOW:
        return [0]
    hop = WINDOW - OVERLAP
    starts = list(range(0, total_frames - WINDOW, hop))
    starts.append(total_frames - WINDOW)
    return starts


def shared(starts: list[int], k: int) -> int:
    """Latent frames window k shares with window k-1 (0 for the first window)."""
    return 0 if k == 0 else max(0, starts[k - 1] + WINDOW - starts[k])


def touching(starts: list[int], fa: int, fb: int) -> list[int]:
    """Windows that overlap latent frames [fa, fb)."""
    return [k for k, s in enumerate(starts) if s < fb and s + WINDOW > fa]


def span_samples(span: tuple[float, float], sr: int, n: int, fade: float = CROSSFADE) -> tuple[int, int, int]:
    """(a, b, fade) in output samples: the span widened by the crossfade, clamped."""
    t0, t1 = sorted(float(t) for t in span)
    f = max(1, int(round(fade * sr)))
    return max(0, int(round(t0 * sr)) - f), min(n, int(round(t1 * sr)) + f), f


def span_frames(a: int, b: int, sr: int, total_frames: int, margin: int = 1) -> tuple[int, int]:
    """Latent frames [fa, fb) to regenerate for output samples [a, b), plus a margin."""
    fa = math.floor(a / sr / FRAME_SECONDS) - margin
    fb = math.ceil(b / sr / FRAME_SECONDS) + margin
    return max(0, fa), min(total_frames, fb)


def assemble(starts: list[int], audio: dict[int, np.ndarray]) -> tuple[int, np.ndarray]:
    """Join decoded windows (16 kHz) into one signal: (first sample, samples).

    Windows present in `audio` that follow each other are crossfaded linearly across their
    overlap; the caller only uses samples that no absent window would have covered.
    """
    ks = sorted(audio)
    first = starts[ks[0]] * FRAME_SAMPLES
    end = (starts[ks[-1]] + WINDOW) * FRAME_SAMPLES
    out = np.zeros(end - first, np.float32)
    for k in ks:
        x = np.asarray(audio[k], np.float32)[: WINDOW * FRAME_SAMPLES]
        w = np.ones(len(x), np.float32)
        if k - 1 in audio:
            n = shared(starts, k) * FRAME_SAMPLES
            w[:n] = (np.arange(n, dtype=np.float32) + 0.5) / n
        if k + 1 in audio:
            n = shared(starts, k + 1) * FRAME_SAMPLES
            w[len(w) - n:] = 1.0 - (np.arange(n, dtype=np.float32) + 0.5) / n
        at = starts[k] * FRAME_SAMPLES - first
        out[at: at + len(x)] += w * x
    return first, out


def splice(previous: np.ndarray, new: np.ndarray, a: int, b: int, fade: int) -> np.ndarray:
    """previous with [a, b) taken from `new` (same length as b - a), crossfaded at both ends.

    Only the `fade` samples just inside a and b mix old and new; everything outside [a, b)
    is previous, bit for bit. No crossfade where the span touches the track's ends.
    """
    out = np.array(previous, dtype=np.float32, copy=True)
    n = b - a
    lead = min(fade if a > 0 else 0, n // 2)
    trail = min(fade if b < len(out) else 0, n // 2)
    out[a + lead: b - trail] = new[lead: n - trail]
    if lead:
        w = np.arange(1, lead + 1, dtype=np.float32) / (lead + 1)
        out[a: a + lead] += w * (new[:lead] - out[a: a + lead])
    if trail:
        w = np.arange(trail, 0, -1, dtype=np.float32) / (trail + 1)
        out[b - trail: b] += w * (new[n - trail:] - out[b - trail: b])
    return out
