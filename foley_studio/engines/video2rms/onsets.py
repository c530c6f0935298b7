"""Onsets of a predicted envelope: where a Video2RMS engine says a sound starts.

Used to check an engine against known contact times (the demo clip's tests, the motion
benchmark) without rendering audio: an onset is where the envelope rises through half of
a local peak that stands out of silence.
"""

from __future__ import annotations

import numpy as np

from foley_studio.core.rms import FRAME_RATE, RMS_MIN


def envelope_onsets(
    values: np.ndarray,
    rate: float = FRAME_RATE,
    floor: float = RMS_MIN,
    window_s: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Onset times (s, ascending) and their peak levels (linear) of an envelope.

    A peak is a frame at least `floor` (-40 dBFS by default) that is the largest within
    `window_s` either side and is reached by a rise from under half its level (a bump on
    a sustained level is no onset). Its onset is the first frame of that rise above half
    the peak, timed at the frame's start (frame k spans [k, k + 1) / rate, as the engines
    render a contact at time t into frame floor(t * rate)).
    """
    env = np.asarray(values, dtype=np.float64).ravel()
    reach = max(1, int(round(window_s * rate)))
    times, peaks = [], []
    for p in np.flatnonzero(env >= floor):
        if p == 0 or env[p] <= env[p - 1] or env[p] < env[max(0, p - reach) : p + reach + 1].max():
            continue
        foot = p
        while foot > 0 and env[foot - 1] < env[foot]:
            foot -= 1
        half = 0.5 * env[p]
        if env[foot] >= half:
            continue
        k = foot
        while env[k] <= half:
            k += 1
        times.append(k / rate)
        peaks.append(env[p])
    return np.asarray(times, dtype=np.float64), np.asarray(peaks, dtype=np.float64)
