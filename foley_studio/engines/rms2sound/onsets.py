"""Where the envelope says "something hit": sharp rises in dB.

Targets are smoothed (a 7.8 Hz zero-phase low-pass), so a hit shows as a rise over
3-8 frames rather than a jump; the rise is measured over RISE_FRAMES and peaks closer
than MIN_GAP_FRAMES merge. Every step is a fixed-radius filter, so whether frame k is
an onset depends only on frames near k: a span re-render finds the same onsets as
the full render did (detection runs on the whole envelope anyway; it is cheap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d

from foley_studio.engines.rms2sound.envelope_match import SILENCE_RMS

RISE_FRAMES = 3  # 24 ms
RISE_DB = 6.0  # a rise at least this steep over RISE_FRAMES is a hit
MIN_GAP_FRAMES = 5  # 40 ms: faster hits merge (a flam is one hit)
MIN_LEVEL = 0.003  # -50 dBFS: quieter rises are texture, not hits
PEAK_FRAMES = 8  # the hit's level is the envelope's peak within 64 ms after the rise
# the smoothing filter rings about 16 frames before and after a loud hit; a rise that
# stays this far below the loudest frame within MASK_FRAMES is that ripple (or masked)
MASK_FRAMES = 20
MASK_RATIO = 0.1  # -20 dB


@dataclass(frozen=True)
class Onsets:
    frames: np.ndarray  # int64: frame of the steepest rise (where the hit starts)
    levels: np.ndarray  # float64: envelope peak just after, linear RMS


def detect(envelope: np.ndarray) -> Onsets:
    env = np.asarray(envelope, dtype=np.float64)
    n = len(env)
    if n == 0:
        return Onsets(np.zeros(0, np.int64), np.zeros(0))
    db = 20.0 * np.log10(np.maximum(env, SILENCE_RMS))
    # before the clip counts as silence: a clip that starts loud starts with a hit
    before = np.concatenate((np.full(RISE_FRAMES, -80.0), db))[:n]
    rise = db - before
    # the first of equal neighbours wins: a tiny tilt makes plateaus strictly decreasing
    score = rise - np.arange(n) * 1e-9
    peaks = (score == maximum_filter1d(score, 2 * MIN_GAP_FRAMES + 1, mode="nearest")) & (rise >= RISE_DB)
    # level: the envelope's peak over the next PEAK_FRAMES
    ahead = maximum_filter1d(env, PEAK_FRAMES + 1, origin=-(PEAK_FRAMES // 2), mode="nearest")
    loudest = maximum_filter1d(env, 2 * MASK_FRAMES + 1, mode="nearest")
    peaks &= (ahead >= MIN_LEVEL) & (ahead >= MASK_RATIO * loudest)
    idx = np.nonzero(peaks)[0]
    if len(idx) == 0:
        return Onsets(np.zeros(0, np.int64), np.zeros(0))
    # place the hit at the steepest linear rise near the dB peak
    slope = np.diff(env, prepend=0.0 if env[0] > SILENCE_RMS else env[0])
    offsets = np.arange(-RISE_FRAMES - 1, 3)
    cand = np.clip(idx[:, None] + offsets[None, :], 0, n - 1)
    frames = cand[np.arange(len(idx)), np.argmax(slope[cand], axis=1)]
    return Onsets(frames.astype(np.int64), ahead[idx])
