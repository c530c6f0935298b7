"""Render one time range of a palette track: hits at onsets, texture between, then
an exact envelope match.

A region is a half-open range of envelope frames [fa, fb) that starts on a whole
sample (fa a multiple of envelope_match.frames_per_grid(sr)). A full render is the
region [0, N); a span re-render is a short region around the span. The region is
shaped as if it were the whole signal, so its first and last couple of frames are only
approximately matched; span re-renders keep a context margin around what they use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from foley_studio.engines.rms2sound import banks
from foley_studio.engines.rms2sound import envelope_match as em
from foley_studio.engines.rms2sound.onsets import Onsets
from foley_studio.engines.rms2sound.sources import Source

FRAME_RATE = 125
ONSET_LEAD = 0.005  # seconds: a hit starts just before the steepest rise of the envelope
ITERATIONS = 40


@dataclass(frozen=True)
class Layer:
    source: Source
    weight: float  # energy share of the blend; weights of a track sum to 1
    bank: banks.Bank


def frame_sample(frame: int, sr: int, n_frames: int, n_samples: int) -> int:
    """First output sample of a grid-aligned frame (the track end maps to n_samples)."""
    if frame >= n_frames:
        return n_samples
    return frame * sr // FRAME_RATE


def onset_samples(onsets: Onsets, sr: int) -> np.ndarray:
    t = (onsets.frames + 0.5) / FRAME_RATE - ONSET_LEAD
    return np.round(t * sr).astype(np.int64)


def synthesize(layers: list[Layer], envelope: np.ndarray, onsets: Onsets, seed: int, sr: int,
               fa: int, fb: int, n_samples: int) -> tuple[int, np.ndarray]:
    """Unshaped sound for frames [fa, fb): (first sample, samples)."""
    n_frames = len(envelope)
    start = frame_sample(fa, sr, n_frames, n_samples)
    end = frame_sample(fb, sr, n_frames, n_samples)
    n = end - start
    tex = np.zeros(n, np.float32)
    for layer in layers:
        amp = np.float32(np.sqrt(layer.weight) * layer.source.texture_gain)
        tex += amp * banks.texture(layer.bank, layer.source, seed, sr, start, n)
    # the texture follows the envelope before matching, so hits and texture keep their
    # balance at every loudness
    x = tex * em.lerp_knots(envelope[fa:fb], n, sr)
    at = onset_samples(onsets, sr)
    for layer in layers:
        near = (at < end) & (at + layer.bank.tail > start)
        if not np.any(near):
            continue
        amps = onsets.levels[near] * layer.source.transient_gain * np.sqrt(layer.weight)
        banks.hits(x, layer.bank, layer.source, seed, start, at[near], onsets.frames[near], amps)
    return start, x


def render(layers: list[Layer], envelope: np.ndarray, onsets: Onsets, seed: int, sr: int,
           fa: int, fb: int, n_samples: int,
           step: Callable[[float, str], None] | None = None) -> tuple[int, np.ndarray]:
    """Sound for frames [fa, fb) whose paper-RMS follows envelope[fa:fb]: (first sample, samples).

    step(fraction, message) is called between stages (progress and cancellation).
    """
    step = step or (lambda fraction, message: None)
    start, x = synthesize(layers, envelope, onsets, seed, sr, fa, fb, n_samples)
    step(0.5, "matching the envelope")
    target = np.asarray(envelope[fa:fb], dtype=np.float64)
    p = em.solve_gains(em.to_16k(x, sr, fb - fa), target, ITERATIONS)
    step(0.8, "applying gain")
    return start, em.apply_gains(x, sr, p).astype(np.float32, copy=False)
