"""Struck objects: modal synthesis (a few damped modes) plus a noise burst for the contact.

Material is mostly decay time and mode spacing: wood has low, quickly damped modes;
metal long inharmonic ringing; glass high bright modes; stone a dull thud with grit.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

from foley_studio.engines.rms2sound import synth as s
from foley_studio.engines.rms2sound.sources import Source


def _struck(rng, sr, seconds, f0, ratios, tau0, tau_slope, click_band, click_tau, click_amp=0.5):
    """Modes at f0 * ratios, higher modes decaying faster, plus a contact click."""
    ratios = np.asarray(ratios) * (1 + 0.03 * rng.standard_normal(len(ratios)))
    taus = tau0 / (1 + tau_slope * np.arange(len(ratios)))
    amps = rng.uniform(0.4, 1.0, len(ratios)) / (1 + 0.3 * np.arange(len(ratios)))
    x = s.modes(rng, sr, seconds, f0 * ratios, taus, amps)
    x += click_amp * s.burst(rng, sr, seconds, *click_band, tau=click_tau)
    return s.fade_out(x, sr)


def _scrape(rng, sr, n, lo, hi, resonances, q_bw, rate=6.0):
    """Rubbing/scraping on a material: band noise through the material's resonances.

    Each part is normalised first: a narrow resonance holds little noise power, and
    it is the resonances that say "metal" or "wood".
    """
    x = 0.5 * s.unit_rms(s.bandpass(s.noise(rng, n), sr, lo, hi))
    for i, f in enumerate(resonances):
        f = f * rng.uniform(0.9, 1.1)
        band = s.bandpass(s.noise(rng, n), sr, f * (1 - q_bw), f * (1 + q_bw))
        x += s.unit_rms(band) / (1 + 0.5 * i)
    x += 0.3 * s.unit_rms(s.grains(rng, sr, n, s.rate_count(rng, 40, n, sr), lo, hi, grain_ms=2))
    return s.modulate(x, rng, sr, rate, 0.5)


def wood_hit(rng, sr):
    return _struck(rng, sr, 0.35, rng.uniform(170, 320), [1, 1.58, 2.31, 3.12, 4.43, 5.9],
                   rng.uniform(0.035, 0.07), 0.6, (800, 6000), 0.003) + \
        0.6 * s.modes(rng, sr, 0.35, [rng.uniform(70, 110)], [0.025], [1.0])


def wood_texture(rng, sr, n):
    return _scrape(rng, sr, n, 200, 3000, [rng.uniform(250, 400), rng.uniform(700, 1100)], 0.12)


def metal_hit(rng, sr):
    f0 = rng.uniform(320, 700)
    bar = [1, 2.756, 5.404, 8.933, 13.34]
    extra = list(rng.uniform(1.3, 9.0, 3))
    x = _struck(rng, sr, 1.5, f0, bar + extra, rng.uniform(0.6, 1.1), 0.25, (2000, 9000), 0.002, 0.8)
    return x


def metal_texture(rng, sr, n):
    f0 = rng.uniform(400, 900)
    return _scrape(rng, sr, n, 600, 8000, [f0, f0 * 2.76, f0 * 5.4, f0 * 8.9], 0.015, rate=4.0)


def glass_hit(rng, sr):
    x = _struck(rng, sr, 0.8, rng.uniform(1800, 3200), [1, 1.71, 2.47, 3.23, 4.12],
                rng.uniform(0.2, 0.4), 0.5, (4000, 12000), 0.0012, 1.0)
    # a break scatters a few smaller pieces right after the first hit
    for _ in range(int(rng.integers(0, 4))):
        shard = s.modes(rng, sr, 0.2, [rng.uniform(2500, 6000)], [0.04], [rng.uniform(0.2, 0.5)])
        s.place(x, shard, int(rng.uniform(0.01, 0.15) * sr))
    return x


def _pings(rng, sr, n, rate, lo, hi, tau):
    """Sparse little modal pings (clinks, clatter) scattered over n samples."""
    count = s.rate_count(rng, rate, n, sr)
    train = s.impulses(rng, n, count, sigma=0.8)
    ping = s.modes(rng, sr, tau * 6, rng.uniform(lo, hi, 3), [tau] * 3, [1.0, 0.6, 0.4])
    return fftconvolve(train, ping)[:n].astype(np.float32)


def glass_texture(rng, sr, n):
    return _pings(rng, sr, n, 12, 2500, 7000, 0.03) + 0.1 * s.bandpass(s.noise(rng, n), sr, 3000, 9000)


def stone_hit(rng, sr):
    x = _struck(rng, sr, 0.3, rng.uniform(110, 220), [1, 1.9, 3.1, 4.6], 0.03, 0.8, (300, 5000), 0.015, 1.2)
    n = len(x)
    x += 0.5 * s.grains(rng, sr, n, 25, 1500, 8000, 1.5, spread=s.decay(n, sr, 0.03))
    return x


def stone_texture(rng, sr, n):
    x = s.lowpass(s.noise(rng, n), sr, 1200) * 0.5
    x += s.grains(rng, sr, n, s.rate_count(rng, 300, n, sr), 800, 7000, 1.5)
    return s.modulate(x, rng, sr, 5.0, 0.5)


def ceramic_hit(rng, sr):
    return _struck(rng, sr, 0.5, rng.uniform(1100, 2200), [1, 2.12, 3.35, 4.9],
                   rng.uniform(0.08, 0.16), 0.6, (3000, 10000), 0.0015, 0.7)


def ceramic_texture(rng, sr, n):
    return _pings(rng, sr, n, 10, 1200, 4500, 0.05) + 0.1 * s.bandpass(s.noise(rng, n), sr, 1500, 7000)


def plastic_hit(rng, sr):
    x = _struck(rng, sr, 0.2, rng.uniform(380, 900), [1, 1.63, 2.4, 3.3],
                rng.uniform(0.015, 0.03), 0.5, (500, 3500), 0.008, 0.9)
    return x


def plastic_texture(rng, sr, n):
    x = s.grains(rng, sr, n, s.rate_count(rng, 250, n, sr), 700, 5000, 2.5)
    return s.modulate(x, rng, sr, 8.0, 0.6)


def dirt_hit(rng, sr):
    n = s.n_of(0.35, sr)
    x = s.lowpass(s.noise(rng, n), sr, 600) * s.decay(n, sr, rng.uniform(0.04, 0.08), 0.003)
    x += 0.8 * s.modes(rng, sr, 0.35, [rng.uniform(50, 80)], [0.04], [1.0])
    x += 0.3 * s.grains(rng, sr, n, 30, 600, 4000, 2.0, spread=s.decay(n, sr, 0.06))
    return s.fade_out(x, sr)


def dirt_texture(rng, sr, n):
    x = s.lowpass(s.noise(rng, n), sr, 900) + 0.5 * s.grains(rng, sr, n, s.rate_count(rng, 200, n, sr), 400, 3000, 2.5)
    return s.modulate(x, rng, sr, 6.0, 0.5)


def punch_hit(rng, sr):
    n = s.n_of(0.3, sr)
    body = s.chirp(sr, 0.3, rng.uniform(130, 180), rng.uniform(45, 60), rng.uniform(0.05, 0.09))
    slap = s.burst(rng, sr, 0.3, 700, 4500, rng.uniform(0.006, 0.012))
    return s.fade_out(body[:n] + 0.7 * slap[:n], sr)


def punch_texture(rng, sr, n):
    return s.modulate(s.bandpass(s.noise(rng, n), sr, 400, 5000), rng, sr, 10.0, 0.7)


def door_slam_hit(rng, sr):
    n = s.n_of(0.9, sr)
    boom = s.modes(rng, sr, 0.9, rng.uniform(55, 110, 3), rng.uniform(0.15, 0.35, 3), [1.0, 0.7, 0.5])
    knock = _struck(rng, sr, 0.9, rng.uniform(150, 260), [1, 1.6, 2.4, 3.5], 0.07, 0.5, (500, 5000), 0.006)
    latch = s.modes(rng, sr, 0.2, rng.uniform(1800, 4000, 2), [0.03, 0.02], [1.0, 0.6])
    x = boom + knock
    s.place(x, 0.35 * latch, int(rng.uniform(0.004, 0.02) * sr))
    x += 0.15 * s.lowpass(s.noise(rng, n), sr, 1500) * s.decay(n, sr, 0.25, 0.01)
    return s.fade_out(x, sr)


def door_slam_texture(rng, sr, n):
    x = s.lowpass(s.noise(rng, n), sr, 300) + 0.3 * _pings(rng, sr, n, 6, 800, 2500, 0.03)
    return s.modulate(x, rng, sr, 3.0, 0.4)


SOURCES = [
    Source("impact_wood", "a hard knock on wood, a wooden object hitting a wooden table or floor",
           wood_hit, wood_texture, {"wood": 2, "hit": 1, "knock": 1.5, "table": 1}),
    Source("impact_metal", "a metal clang, a hit on a metal pipe or pan that keeps ringing",
           metal_hit, metal_texture, {"metal": 2, "hit": 1, "ring": 1.5, "clang": 1.5}, texture_gain=0.25),
    Source("impact_glass", "glass breaking or a glass clink, a bright high ringing bottle or window hit",
           glass_hit, glass_texture, {"glass": 2.5, "hit": 1, "break": 1.5, "clink": 1.5}),
    Source("impact_stone", "a rock or stone hitting stone, a dull heavy thud with grit",
           stone_hit, stone_texture, {"stone": 2, "hit": 1, "thud": 1, "heavy": 0.5}),
    Source("impact_ceramic", "a ceramic plate, cup or mug clattering or being set down",
           ceramic_hit, ceramic_texture, {"ceramic": 2, "hit": 1, "clink": 1, "kitchen": 0.5}),
    Source("impact_plastic", "a hollow plastic object being tapped or dropped",
           plastic_hit, plastic_texture, {"plastic": 2, "hit": 1, "tap": 1}),
    Source("impact_dirt", "something falling onto dirt or soil, a soft earthy thud",
           dirt_hit, dirt_texture, {"dirt": 2, "thud": 1.5, "fall": 1, "hit": 0.5}),
    Source("punch", "a punch or body hit, a fist striking a person with a meaty slap",
           punch_hit, punch_texture, {"punch": 2.5, "body": 1, "hit": 1, "fight": 1.5}, transient_gain=2.5),
    Source("door_slam", "a heavy wooden door slamming shut with a low boom and a latch click",
           door_slam_hit, door_slam_texture, {"door": 2, "slam": 2, "wood": 1, "heavy": 0.5, "hit": 0.5},
           transient_gain=2.5, texture_gain=0.25),
]
