"""Stand-in "recorded Foley" and its envelopes, for tests and benchmarks of RMS2Sound.

The paper's targets are rms.smooth(rms.analyze(recording)); we make recordings with
a deliberately different synthesis from the palette's (plain decaying noise and
sinusoids, room tone, digital silence), so that matching them measures the envelope
follower, not a copy of itself.
"""

from __future__ import annotations

import numpy as np

from foley_studio.core import rms
from foley_studio.core.audio import Audio

SR = 48_000


def _hit(rng: np.random.Generator, seconds: float, tau: float, tone: float) -> np.ndarray:
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = rng.standard_normal(n) * (1 - tone) + tone * np.sin(2 * np.pi * rng.uniform(120, 2500) * t)
    return x * np.exp(-t / tau) * np.minimum(1.0, t / 0.001)


def _add(x: np.ndarray, y: np.ndarray, at: float) -> None:
    i = int(at * SR)
    if i < len(x):
        x[i : i + len(y)] += y[: len(x) - i]


def footsteps(duration: float, rng: np.random.Generator) -> np.ndarray:
    x = 0.001 * rng.standard_normal(int(duration * SR))  # room tone, -60 dBFS
    t = rng.uniform(0.1, 0.4)
    while t < duration - 0.3:
        level = rng.uniform(0.05, 0.3)
        _add(x, level * _hit(rng, 0.25, rng.uniform(0.02, 0.05), 0.3), t)
        _add(x, 0.5 * level * _hit(rng, 0.25, rng.uniform(0.03, 0.06), 0.2), t + rng.uniform(0.06, 0.14))
        t += rng.uniform(0.4, 0.65)
    return x


def impacts(duration: float, rng: np.random.Generator) -> np.ndarray:
    x = 0.0005 * rng.standard_normal(int(duration * SR))
    for at in np.sort(rng.uniform(0, duration - 0.2, max(1, int(duration * 1.5)))):
        tau = rng.choice([0.02, 0.05, 0.15, 0.6])
        _add(x, rng.uniform(0.03, 0.5) * _hit(rng, min(5 * tau, 2.0), tau, rng.uniform(0, 0.8)), at)
    return x


def handling(duration: float, rng: np.random.Generator) -> np.ndarray:
    n = int(duration * SR)
    k = int(duration * 4) + 2
    slow = np.interp(np.arange(n), np.linspace(0, n, k), rng.uniform(0, 1, k)) ** 2
    x = 0.08 * rng.standard_normal(n) * slow + 0.001 * rng.standard_normal(n)
    for at in rng.uniform(0, duration - 0.2, max(1, int(duration / 2))):
        _add(x, rng.uniform(0.05, 0.2) * _hit(rng, 0.3, 0.04, 0.4), at)
    return x


def sparse(duration: float, rng: np.random.Generator) -> np.ndarray:
    """Hits separated by digital silence: the envelope reaches zero between them."""
    x = np.zeros(int(duration * SR))
    t = 0.3
    while t < duration - 0.5:
        _add(x, rng.uniform(0.05, 0.4) * _hit(rng, 0.5, rng.uniform(0.02, 0.08), 0.5), t)
        t += rng.uniform(0.7, 1.5)
    return x


RECORDINGS = {"footsteps": footsteps, "impacts": impacts, "handling": handling, "sparse": sparse}


def envelope_of(recording: np.ndarray, sr: int = SR) -> np.ndarray:
    """The paper's target: smoothed frame RMS at 125 frames/s."""
    return rms.smooth(rms.analyze(Audio(recording.astype(np.float32), sr)))


def envelopes(duration: float = 8.0, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: envelope_of(make(duration, rng)) for name, make in RECORDINGS.items()}


def e_l1(audio: Audio, envelope: np.ndarray) -> float:
    """DESIGN.md's E-L1 against a target envelope (frames cropped to the shorter)."""
    got = rms.analyze(audio)
    m = min(len(got), len(envelope))
    return float(np.mean(np.abs(got[:m] - np.asarray(envelope[:m], dtype=np.float32)))) if m else 0.0
