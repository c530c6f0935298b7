"""Sources that are mostly texture: cloth, paper, leaves, water, creaks, air, fire, engines.

Their "transient" is what an onset in the envelope means for them: a swish, a crinkle,
a splash, a drip, the start of a creak, a gust, a pop, a rev.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

from foley_studio.engines.rms2sound import synth as s
from foley_studio.engines.rms2sound.sources import Source


def cloth_hit(rng, sr):
    n = s.n_of(0.35, sr)
    x = s.bandpass(s.noise(rng, n), sr, 800, 7000) * s.swell(n, sr, rng.uniform(0.02, 0.05), 0.08)
    return s.fade_out(s.modulate(x, rng, sr, 30.0, 0.6), sr)


def cloth_texture(rng, sr, n):
    x = s.bandpass(s.noise(rng, n), sr, 600, 6000)
    return s.modulate(s.modulate(x, rng, sr, 8.0, 0.8), rng, sr, 30.0, 0.4)


def paper_hit(rng, sr):
    n = s.n_of(0.3, sr)
    x = s.grains(rng, sr, n, int(rng.integers(60, 120)), 1500, 10000, 1.0, spread=s.decay(n, sr, 0.08), sigma=1.1)
    x += 0.2 * s.bandpass(s.noise(rng, n), sr, 1000, 6000) * s.swell(n, sr, 0.01, 0.06)
    return s.fade_out(x, sr)


def paper_texture(rng, sr, n):
    x = s.grains(rng, sr, n, s.rate_count(rng, 400, n, sr), 1500, 10000, 1.0, sigma=1.2)
    return s.modulate(x, rng, sr, 5.0, 0.8)


def leaves_hit(rng, sr):
    n = s.n_of(0.35, sr)
    shape = s.swell(n, sr, 0.02, 0.1)
    x = s.grains(rng, sr, n, int(rng.integers(150, 260)), 1500, 9000, 1.5, spread=shape)
    x += 0.3 * s.bandpass(s.noise(rng, n), sr, 2000, 8000) * shape
    return s.fade_out(x, sr)


def leaves_texture(rng, sr, n):
    x = s.grains(rng, sr, n, s.rate_count(rng, 700, n, sr), 1500, 9000, 1.5)
    x += 0.3 * s.bandpass(s.noise(rng, n), sr, 2000, 8000)
    return s.modulate(x, rng, sr, 6.0, 0.7)


def _bubbles(rng, sr, n, count, spread, lo, hi):
    """Rising sine chirps (air bubbles in water), placed by the density `spread`."""
    out = np.zeros(n, np.float32)
    cdf = np.cumsum(spread, dtype=np.float64)
    for at in np.searchsorted(cdf, rng.uniform(0, cdf[-1], count)):
        f0 = rng.uniform(lo, hi)
        b = s.chirp(sr, 0.12, f0, f0 * rng.uniform(1.4, 2.5), rng.uniform(0.012, 0.04))
        s.place(out, b * rng.uniform(0.3, 1.0), int(at))
    return out


def splash_hit(rng, sr):
    n = s.n_of(0.7, sr)
    slap = s.burst(rng, sr, 0.7, 200, 4000, 0.01)
    body = s.lowpass(s.noise(rng, n), sr, 2500) * s.decay(n, sr, rng.uniform(0.1, 0.2), 0.005)
    bubbles = _bubbles(rng, sr, n, int(rng.integers(6, 14)), s.decay(n, sr, 0.15), 300, 1200)
    return s.fade_out(0.6 * slap + body + 0.5 * bubbles, sr)


def splash_texture(rng, sr, n):
    x = s.modulate(s.lowpass(s.noise(rng, n), sr, 1500), rng, sr, 2.0, 0.8)
    x += 0.4 * _bubbles(rng, sr, n, s.rate_count(rng, 15, n, sr), np.ones(n), 300, 1500)
    return x


def drip_hit(rng, sr):
    f0 = rng.uniform(700, 1400)
    x = s.chirp(sr, 0.2, f0, f0 * rng.uniform(2.0, 3.0), rng.uniform(0.015, 0.03))
    x += 0.2 * s.burst(rng, sr, 0.2, 2000, 8000, 0.001)
    return s.fade_out(x, sr)


def drip_texture(rng, sr, n):
    x = np.zeros(n, np.float32)
    for at in rng.integers(0, n, s.rate_count(rng, 4, n, sr)):
        s.place(x, drip_hit(rng, sr) * rng.uniform(0.3, 1.0), int(at))
    return x + 0.05 * s.bandpass(s.noise(rng, n), sr, 1000, 4000)


def _creak(rng, sr, n, rate_lo, rate_hi):
    """Stick-slip: a pulse train of wandering rate exciting the hinge/board resonances."""
    rate = rate_lo + (rate_hi - rate_lo) * (0.5 + 0.25 * s.wander(rng, sr, n, 3.0))
    phase = np.cumsum(np.maximum(rate, 5.0), dtype=np.float64) / sr
    pulses = np.zeros(n, np.float32)
    at = np.nonzero(np.diff(np.floor(phase)))[0]
    pulses[at] = rng.uniform(0.5, 1.0, len(at))
    res = s.modes(rng, sr, 0.03, rng.uniform(500, 900) * np.array([1, 2.3, 4.1]), [0.008, 0.006, 0.004], [1, 0.7, 0.4])
    return fftconvolve(pulses, res)[:n].astype(np.float32)


def creak_hit(rng, sr):
    n = s.n_of(0.6, sr)
    return s.fade_out(_creak(rng, sr, n, 25, 90) * s.swell(n, sr, 0.08, 0.25), sr)


def creak_texture(rng, sr, n):
    return _creak(rng, sr, n, 20, 80)


def _airy(rng, sr, n, sweep):
    """Air noise whose brightness follows `sweep` (0 dark .. 1 bright)."""
    low = s.bandpass(s.noise(rng, n), sr, 150, 900)
    high = s.bandpass(s.noise(rng, n), sr, 900, 6000)
    return low * (1 - sweep) + high * sweep


def whoosh_hit(rng, sr):
    n = s.n_of(0.7, sr)
    shape = s.swell(n, sr, rng.uniform(0.12, 0.25), rng.uniform(0.12, 0.2))
    return s.fade_out(_airy(rng, sr, n, shape) * shape, sr)


def whoosh_texture(rng, sr, n):
    sweep = np.clip(0.5 + 0.3 * s.wander(rng, sr, n, 1.5), 0, 1)
    return s.modulate(_airy(rng, sr, n, sweep), rng, sr, 1.5, 0.6)


def _wind(rng, sr, n):
    x = s.periodic_noise(rng, sr, n, 80, 1500, tilt=-3)
    whistle = s.bandpass(s.noise(rng, n), sr, *(rng.uniform(550, 800) * np.array([0.95, 1.05])), order=2)
    x = s.unit_rms(x) + 0.4 * s.unit_rms(whistle) * np.maximum(0, 0.5 + 0.5 * s.wander(rng, sr, n, 0.7))
    return s.modulate(x, rng, sr, 0.6, 0.5)


def gust_hit(rng, sr):
    n = s.n_of(1.2, sr)
    return s.fade_out(_wind(rng, sr, n) * s.swell(n, sr, 0.35, 0.5), sr)


def wind_texture(rng, sr, n):
    return _wind(rng, sr, n)


def rain_hit(rng, sr):
    n = s.n_of(0.4, sr)
    return s.fade_out(s.grains(rng, sr, n, int(rng.integers(40, 80)), 600, 6000, 2.0, spread=s.decay(n, sr, 0.12)), sr)


def rain_texture(rng, sr, n):
    drops = s.grains(rng, sr, n, s.rate_count(rng, 1500, n, sr), 1000, 9000, 1.0, sigma=0.8)
    hiss = s.periodic_noise(rng, sr, n, 500, 10000, tilt=-3)
    return s.unit_rms(drops) + 0.5 * s.unit_rms(hiss)


def fire_hit(rng, sr):
    n = s.n_of(0.3, sr)
    x = s.burst(rng, sr, 0.3, 1200, 8000, rng.uniform(0.002, 0.005))
    x += 0.5 * s.grains(rng, sr, n, int(rng.integers(5, 15)), 1500, 9000, 1.0, spread=s.decay(n, sr, 0.08), sigma=1.2)
    return s.fade_out(x, sr)


def fire_texture(rng, sr, n):
    roar = s.modulate(s.periodic_noise(rng, sr, n, 30, 600, tilt=-6), rng, sr, 2.0, 0.5)
    crackle = s.grains(rng, sr, n, s.rate_count(rng, 25, n, sr), 1500, 9000, 1.0, sigma=1.3)
    sizzle = s.modulate(s.bandpass(s.noise(rng, n), sr, 3000, 8000), rng, sr, 10.0, 0.8)
    return s.unit_rms(roar) + 0.8 * s.unit_rms(crackle) + 0.15 * s.unit_rms(sizzle)


def _hum_period(rng, sr, f0):
    """One period of an engine's harmonic waveform (harmonics roll off, firing bumps)."""
    period = max(8, int(round(sr / f0)))
    k = np.arange(1, 60)
    k = k[k * sr / period < 0.45 * sr]
    amp = (1.0 / k**0.9) * rng.uniform(0.5, 1.0, len(k))
    amp[1::2] *= 1.6  # the firing frequency is twice the rotation
    ph = rng.uniform(0, 2 * np.pi, len(k))
    t = np.arange(period) / period
    return (amp[:, None] * np.sin(2 * np.pi * k[:, None] * t[None, :] + ph[:, None])).sum(0), period


def engine_hit(rng, sr):
    n = s.n_of(0.8, sr)
    f0 = rng.uniform(30, 45)
    x = np.zeros(n, np.float32)
    for h, a in ((1, 1.0), (2, 0.9), (3, 0.5), (4, 0.4), (6, 0.2)):
        x += a * s.chirp(sr, 0.8, f0 * h, f0 * h * rng.uniform(1.5, 1.9), 0.5)
    x += 0.3 * s.lowpass(s.noise(rng, n), sr, 1200)
    return s.fade_out(x * s.swell(n, sr, 0.15, 0.4), sr)


def engine_texture(rng, sr, n):
    wave, period = _hum_period(rng, sr, rng.uniform(35, 55))
    reps = max(1, n // period)
    hum = np.tile(wave, reps).astype(np.float32)
    m = len(hum)
    # mechanical noise pulsing with the firing, periodic over the same length
    rumble = s.periodic_noise(rng, sr, m, 60, 2500, tilt=-3)
    pulse = 1.0 + 0.6 * np.sin(2 * np.pi * 2 * np.arange(m) / period)
    return s.unit_rms(hum) + 0.5 * s.unit_rms(rumble) * pulse.astype(np.float32)


_TEXTURE = {"transient_gain": 1.0, "texture_gain": 1.0}

SOURCES = [
    Source("cloth_rustle", "cloth rustling, clothes and fabric moving, a jacket or sleeve swish",
           cloth_hit, cloth_texture, {"cloth": 2.5, "rustle": 1.5, "move": 0.5}, transient_gain=1.5, texture_gain=0.6),
    Source("paper", "paper crinkling, crumpling or tearing, pages rustling",
           paper_hit, paper_texture, {"paper": 2.5, "crinkle": 1.5, "rustle": 0.5}, transient_gain=1.5, texture_gain=0.6),
    Source("leaves", "dry leaves crunching and rustling, walking through a pile of leaves",
           leaves_hit, leaves_texture, {"leaves": 2.5, "rustle": 1, "crunch": 1}, transient_gain=1.5, texture_gain=0.6),
    Source("water_splash", "water splashing, something falling into water, a splash in a pool",
           splash_hit, splash_texture, {"water": 2, "splash": 2.5, "fall": 0.5}, texture_gain=0.4),
    Source("water_drips", "water dripping, single drops falling from a tap into a sink",
           drip_hit, drip_texture, {"water": 2, "drip": 2.5}, texture_gain=0.5),
    Source("door_creak", "a door creaking open slowly, a squeaky wooden hinge",
           creak_hit, creak_texture, {"door": 2, "creak": 2.5, "wood": 0.5}, transient_gain=1.2, texture_gain=0.8),
    Source("whoosh", "a fast whoosh or swish of something moving through the air, a swing",
           whoosh_hit, whoosh_texture, {"whoosh": 2.5, "air": 1, "swing": 2.5, "move": 0.5}, **_TEXTURE),
    Source("wind", "wind blowing, a howling gusty breeze outdoors",
           gust_hit, wind_texture, {"wind": 2.5, "air": 1, "outdoor": 0.5}, block=1.0, **_TEXTURE),
    Source("rain", "rain falling, steady rainfall with drops pattering on the ground",
           rain_hit, rain_texture, {"rain": 2.5, "water": 1, "drip": 0.5, "outdoor": 0.5},
           transient_gain=0.8, texture_gain=1.0),
    Source("fire_crackle", "a fire crackling, burning wood in a campfire or fireplace",
           fire_hit, fire_texture, {"fire": 2.5, "crackle": 1.5, "wood": 0.3}, block=0.6,
           transient_gain=1.2, texture_gain=1.0),
    Source("engine_hum", "an engine humming or idling, a car motor running, machine drone",
           engine_hit, engine_texture, {"engine": 2.5, "machine": 1.5, "car": 1.5, "hum": 1.5},
           mode="loop", periodic=True, **_TEXTURE),
]
