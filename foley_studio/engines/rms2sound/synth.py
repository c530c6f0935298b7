"""Small vectorised DSP building blocks for the procedural sound sources.

Every generator takes a numpy Generator, so a seed fixes the sound. Frequencies above
0.45 * sr are dropped or clamped, so the same recipe works at 16, 44.1 and 48 kHz.
Everything returns float32.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

TWO_PI = np.float32(2.0 * np.pi)


def n_of(seconds: float, sr: int) -> int:
    return max(1, int(round(seconds * sr)))


def t_axis(n: int, sr: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32) / np.float32(sr)


def decay(n: int, sr: int, tau: float, attack: float = 0.0005) -> np.ndarray:
    """Exponential decay with a short linear attack (seconds)."""
    t = t_axis(n, sr)
    env = np.exp(-t / np.float32(tau))
    if attack > 0:
        env *= np.minimum(1.0, t / np.float32(attack))
    return env


def swell(n: int, sr: int, attack: float, release: float) -> np.ndarray:
    """Smooth rise then fall (raised-cosine attack, exponential release)."""
    t = t_axis(n, sr)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.minimum(1.0, t / np.float32(attack)))
    fall = np.exp(-np.maximum(0.0, t - np.float32(attack)) / np.float32(release))
    return (rise * fall).astype(np.float32)


def noise(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal(n, dtype=np.float32)


@lru_cache(maxsize=512)
def _sos(kind: str, lo: float, hi: float, sr: int, order: int) -> np.ndarray:
    nyq = 0.45 * sr
    if kind == "bandpass":
        lo, hi = max(lo, 10.0), min(hi, nyq)
        if lo >= hi * 0.99:  # band above what this rate can hold: keep the top of it
            return butter(order, min(lo, nyq * 0.9), "highpass", fs=sr, output="sos")
        return butter(order, [lo, hi], "bandpass", fs=sr, output="sos")
    if kind == "lowpass":
        return butter(order, min(hi, nyq), "lowpass", fs=sr, output="sos")
    return butter(order, min(lo, nyq * 0.9), "highpass", fs=sr, output="sos")


def bandpass(x: np.ndarray, sr: int, lo: float, hi: float, order: int = 2) -> np.ndarray:
    return sosfilt(_sos("bandpass", float(lo), float(hi), sr, order), x).astype(np.float32)


def lowpass(x: np.ndarray, sr: int, hi: float, order: int = 2) -> np.ndarray:
    return sosfilt(_sos("lowpass", 0.0, float(hi), sr, order), x).astype(np.float32)


def highpass(x: np.ndarray, sr: int, lo: float, order: int = 2) -> np.ndarray:
    return sosfilt(_sos("highpass", float(lo), 0.0, sr, order), x).astype(np.float32)


def modes(rng: np.random.Generator, sr: int, seconds: float, freqs, taus, amps,
          detune: float = 0.02) -> np.ndarray:
    """Modal synthesis: a sum of exponentially damped sinusoids (one struck object)."""
    f = np.asarray(freqs, np.float32) * (1.0 + detune * rng.standard_normal(len(freqs))).astype(np.float32)
    keep = f < 0.45 * sr
    f = f[keep]
    tau = np.asarray(taus, np.float32)[keep]
    a = np.asarray(amps, np.float32)[keep]
    n = n_of(seconds, sr)
    if len(f) == 0:
        return np.zeros(n, np.float32)
    t = t_axis(n, sr)[None, :]
    phase = rng.uniform(0, 2 * np.pi, len(f)).astype(np.float32)[:, None]
    x = a[:, None] * np.exp(-t / tau[:, None]) * np.sin(TWO_PI * f[:, None] * t + phase)
    return x.sum(axis=0)


def burst(rng: np.random.Generator, sr: int, seconds: float, lo: float, hi: float,
          tau: float, attack: float = 0.0005) -> np.ndarray:
    """A decaying band of noise (scrape, slap, click, crunch)."""
    n = n_of(seconds, sr)
    return bandpass(noise(rng, n), sr, lo, hi) * decay(n, sr, tau, attack)


def chirp(sr: int, seconds: float, f0: float, f1: float, tau: float) -> np.ndarray:
    """Exponential sweep f0 -> f1 over `seconds` with exponential decay (bubble, drip)."""
    n = n_of(seconds, sr)
    t = t_axis(n, sr)
    k = np.log(max(f1, 1.0) / max(f0, 1.0)) / seconds
    if abs(k) < 1e-6:
        phase = TWO_PI * f0 * t
    else:
        phase = TWO_PI * np.float32(f0) * (np.exp(np.float32(k) * t) - 1.0) / np.float32(k)
    freq = f0 * np.exp(k * t)
    env = np.exp(-t / np.float32(tau)) * (freq < 0.45 * sr)
    return (np.sin(phase) * env).astype(np.float32)


def impulses(rng: np.random.Generator, n: int, count: int, spread: np.ndarray | None = None,
             sigma: float = 0.7) -> np.ndarray:
    """Random impulses with log-normal sizes and random signs; positions uniform or from `spread`."""
    train = np.zeros(n, np.float32)
    if count <= 0:
        return train
    if spread is None:
        pos = rng.integers(0, n, count)
    else:
        cdf = np.cumsum(spread, dtype=np.float64)
        pos = np.searchsorted(cdf, rng.uniform(0, cdf[-1], count))
        pos = np.minimum(pos, n - 1)
    amp = rng.lognormal(0.0, sigma, count) * rng.choice([-1.0, 1.0], count)
    np.add.at(train, pos, amp.astype(np.float32))
    return train


def grains(rng: np.random.Generator, sr: int, n: int, count: int, lo: float, hi: float,
           grain_ms: float = 3.0, spread: np.ndarray | None = None, sigma: float = 0.7,
           kinds: int = 3) -> np.ndarray:
    """Granular crackle: `count` clicks, each a few ms of decaying noise, band-limited.

    `spread` (length n, >= 0) makes the density follow a shape (a footstep's crunch);
    without it grains are uniform. Several grain kernels are used so neighbouring
    grains do not sound identical.
    """
    total = int(count)
    out = np.zeros(n, np.float32)
    glen = n_of(grain_ms * 4e-3, sr)
    for k in range(kinds):
        train = impulses(rng, n, total // kinds + (k < total % kinds), spread, sigma)
        kernel = noise(rng, glen) * decay(glen, sr, grain_ms * 1e-3 * rng.uniform(0.6, 1.4))
        out += fftconvolve(train, kernel)[:n].astype(np.float32)
    return bandpass(out, sr, lo, hi)


def rate_count(rng: np.random.Generator, rate: float, n: int, sr: int) -> int:
    """How many events a Poisson process of `rate` per second has in n samples."""
    return int(rng.poisson(rate * n / sr))


def wander(rng: np.random.Generator, sr: int, n: int, rate: float) -> np.ndarray:
    """A smooth random curve (zero mean, unit-ish std) changing about `rate` times a second."""
    step = max(1, int(sr / max(rate, 1e-3)))
    k = n // step + 2
    pts = rng.standard_normal(k).astype(np.float32)
    u = np.arange(step, dtype=np.float32) / step
    ramp = 0.5 - 0.5 * np.cos(np.pi * u)  # cosine interpolation: no kinks
    seg = pts[:-1, None] + (pts[1:] - pts[:-1])[:, None] * ramp[None, :]
    return seg.reshape(-1)[:n]


def modulate(x: np.ndarray, rng: np.random.Generator, sr: int, rate: float, depth: float) -> np.ndarray:
    """Random amplitude movement (rustle, gusts, sloshing), never negative."""
    m = 1.0 + depth * wander(rng, sr, len(x), rate)
    return x * np.maximum(m, 0.05)


def periodic_noise(rng: np.random.Generator, sr: int, n: int, lo: float, hi: float,
                   tilt: float = 0.0) -> np.ndarray:
    """Band noise synthesised in the frequency domain: exactly periodic over n samples.

    tilt is the spectral slope in dB per octave (-3 pink, -6 brown).
    """
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    mag = ((freqs >= lo) & (freqs <= min(hi, 0.45 * sr))).astype(np.float64)
    with np.errstate(divide="ignore"):
        mag *= np.where(freqs > 0, (np.maximum(freqs, 1.0) / 1000.0) ** (tilt / 6.02), 0.0)
    spec = mag * np.exp(1j * rng.uniform(0, 2 * np.pi, len(freqs)))
    return np.fft.irfft(spec, n).astype(np.float32)


def make_loop(x: np.ndarray, sr: int, fade: float = 0.05) -> np.ndarray:
    """Fold the tail into the head (equal-power) so the result repeats without a seam."""
    f = min(n_of(fade, sr), len(x) // 4)
    if f < 2:
        return x.astype(np.float32)
    y = x[:-f].astype(np.float32, copy=True)
    w = np.linspace(0.0, np.pi / 2, f, dtype=np.float32)
    y[:f] = x[:f] * np.sin(w) + x[-f:] * np.cos(w)
    return y


def unit_rms(x: np.ndarray) -> np.ndarray:
    r = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
    return (x / r).astype(np.float32) if r > 0 else x.astype(np.float32)


def peak_window_rms(x: np.ndarray, sr: int, window: float = 0.05) -> float:
    """Largest RMS over any `window`-second stretch (how loud a hit is at its loudest)."""
    w = min(len(x), n_of(window, sr))
    if w == 0:
        return 0.0
    cs = np.concatenate(([0.0], np.cumsum(np.square(x, dtype=np.float64))))
    return float(np.sqrt(np.max(cs[w:] - cs[:-w]) / w))


def fade_out(x: np.ndarray, sr: int, seconds: float = 0.01) -> np.ndarray:
    """Short raised-cosine fade at the end so a cut-off tail never clicks."""
    f = min(len(x), n_of(seconds, sr))
    y = x.astype(np.float32, copy=True)
    y[-f:] *= (0.5 + 0.5 * np.cos(np.linspace(0, np.pi, f))).astype(np.float32)
    return y


def place(out: np.ndarray, x: np.ndarray, at: int) -> None:
    """out[at : at + len(x)] += x, clipped to out's bounds."""
    a, b = max(0, at), min(len(out), at + len(x))
    if a < b:
        out[a:b] += x[a - at : b - at]
