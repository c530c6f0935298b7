"""Footsteps: a heel strike and a toe roll, each shaped by the ground.

Gravel is many tiny grain clicks; snow a soft squeaky crunch; grass a swish with a few
snapping stems; wood a low board thump; concrete a hard heel click and a scuff.
"""

from __future__ import annotations

import numpy as np

from foley_studio.engines.rms2sound import synth as s
from foley_studio.engines.rms2sound.sources import Source


def _heel_toe(rng, sr, seconds, heel_tau, toe_tau):
    """Density shape of a step: a heel burst then, 60-140 ms later, a smaller toe roll."""
    n = s.n_of(seconds, sr)
    heel = s.decay(n, sr, heel_tau, 0.002)
    toe = np.zeros(n, np.float32)
    delay = int(rng.uniform(0.06, 0.14) * sr)
    if delay < n:
        toe[delay:] = 0.6 * s.decay(n - delay, sr, toe_tau, 0.01)
    return heel + toe


def _thump(rng, sr, seconds, lo, hi, tau):
    return s.modes(rng, sr, seconds, [rng.uniform(lo, hi)], [tau], [1.0])


def gravel_step(rng, sr):
    n = s.n_of(0.4, sr)
    shape = _heel_toe(rng, sr, 0.4, 0.03, 0.05)
    x = s.grains(rng, sr, n, int(rng.integers(70, 130)), 700, 9000, 1.5, spread=shape, sigma=0.9)
    x += 0.25 * _thump(rng, sr, 0.4, 70, 120, 0.02)
    return s.fade_out(x, sr)


def gravel_texture(rng, sr, n):
    x = s.grains(rng, sr, n, s.rate_count(rng, 900, n, sr), 700, 9000, 1.5, sigma=0.9)
    return s.modulate(x, rng, sr, 4.0, 0.6)


def wood_step(rng, sr):
    n = s.n_of(0.4, sr)
    heel = s.modes(rng, sr, 0.4, rng.uniform(90, 160) * np.array([1, 1.7, 2.6]), [0.05, 0.035, 0.02], [1, 0.6, 0.4])
    board = s.modes(rng, sr, 0.4, rng.uniform(300, 650, 2), [0.025, 0.02], [0.5, 0.3])
    click = s.burst(rng, sr, 0.4, 1500, 6000, 0.002)
    x = heel + board + 0.4 * click
    toe = 0.5 * s.modes(rng, sr, 0.3, rng.uniform(120, 220, 2), [0.03, 0.02], [1, 0.5])
    s.place(x, toe, int(rng.uniform(0.07, 0.13) * sr))
    return s.fade_out(x[:n], sr)


def wood_step_texture(rng, sr, n):
    x = s.lowpass(s.noise(rng, n), sr, 700) + 0.4 * s.bandpass(s.noise(rng, n), sr, 1000, 4000)
    return s.modulate(x, rng, sr, 5.0, 0.6)


def grass_step(rng, sr):
    n = s.n_of(0.35, sr)
    shape = _heel_toe(rng, sr, 0.35, 0.05, 0.06)
    swish = s.bandpass(s.noise(rng, n), sr, 1500, 8000) * s.swell(n, sr, 0.02, 0.07)
    stems = s.grains(rng, sr, n, int(rng.integers(6, 20)), 2000, 9000, 1.0, spread=shape, sigma=1.0)
    x = swish + 0.7 * stems + 0.2 * _thump(rng, sr, 0.35, 60, 100, 0.02)
    return s.fade_out(x, sr)


def grass_texture(rng, sr, n):
    x = s.bandpass(s.noise(rng, n), sr, 1200, 8000)
    x += 0.5 * s.grains(rng, sr, n, s.rate_count(rng, 60, n, sr), 2000, 9000, 1.0)
    return s.modulate(x, rng, sr, 9.0, 0.7)


def snow_step(rng, sr):
    n = s.n_of(0.4, sr)
    shape = s.swell(n, sr, rng.uniform(0.015, 0.03), rng.uniform(0.06, 0.12))
    crunch = s.grains(rng, sr, n, int(rng.integers(400, 700)), 500, 4500, 2.0, spread=shape, sigma=0.5)
    # the squeak of packed snow: the crunch comes in quick bursts
    crunch = s.modulate(crunch, rng, sr, 60.0, 0.8)
    x = crunch + 0.3 * s.lowpass(s.noise(rng, n), sr, 400) * shape
    return s.fade_out(x, sr)


def snow_texture(rng, sr, n):
    x = s.grains(rng, sr, n, s.rate_count(rng, 2500, n, sr), 500, 4500, 2.0, sigma=0.5)
    return s.modulate(s.modulate(x, rng, sr, 50.0, 0.7), rng, sr, 3.0, 0.4)


def concrete_step(rng, sr):
    n = s.n_of(0.35, sr)
    x = s.burst(rng, sr, 0.35, 900, 7000, rng.uniform(0.004, 0.008))
    x += 0.5 * _thump(rng, sr, 0.35, 90, 140, 0.015)
    scuff = 0.3 * s.burst(rng, sr, 0.2, 1500, 8000, 0.03, attack=0.01)
    s.place(x, scuff, int(rng.uniform(0.07, 0.13) * sr))
    return s.fade_out(x[:n], sr)


def concrete_texture(rng, sr, n):
    return s.modulate(s.bandpass(s.noise(rng, n), sr, 1000, 8000), rng, sr, 6.0, 0.7)


SOURCES = [
    Source("steps_gravel", "footsteps walking on gravel, crunchy small stones under shoes",
           gravel_step, gravel_texture, {"step": 2, "gravel": 2.5, "walk": 1, "crunch": 1, "stone": 0.5}),
    Source("steps_wood", "footsteps on a wooden floor, heels knocking on boards",
           wood_step, wood_step_texture, {"step": 2, "wood": 1.5, "walk": 1, "floor": 1}),
    Source("steps_grass", "footsteps walking through grass, soft swishy steps outdoors",
           grass_step, grass_texture, {"step": 2, "grass": 2.5, "walk": 1}),
    Source("steps_snow", "footsteps crunching in snow, soft squeaky steps in winter",
           snow_step, snow_texture, {"step": 2, "snow": 2.5, "walk": 1, "crunch": 1}),
    Source("steps_concrete", "footsteps on concrete or pavement, hard shoes and high heels clicking on a sidewalk",
           concrete_step, concrete_texture, {"step": 2, "concrete": 2.5, "walk": 1, "floor": 0.5}),
]
