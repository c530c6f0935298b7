"""The motion engine on the bundled demo clip: every contact an onset at its video frame,
the camera pan and the drifting clouds silent (foley_studio/resources/demo, scripts/make_demo_clip.py).

The clip: a red ball (34 px at 640 px width) bouncing four times with falling impact
speeds, a box sliding off a shelf and landing, a block dropped from above the frame;
clouds drift all the time and the camera pans from 4.6 to 6.6 s while nothing touches.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from foley_studio.core import resources
from foley_studio.core.media import open_clip
from foley_studio.core.metrics import onset_accuracy
from foley_studio.core.rms import FRAME_RATE, RMS_MIN
from foley_studio.engines.video2rms.motion import MotionEngine
from foley_studio.engines.video2rms.onsets import envelope_onsets

DEMO = resources.demo_clip().parent
VIDEO_FRAME = 1.0 / 30.0
TAIL_S = 0.3  # an impact's decay takes this long to fall under -40 dBFS from -6 dBFS
# nothing touches anything here: only the clouds drift (and the camera pans in the second)
QUIET = {
    "clouds": (0.0, 0.6),
    "pan": (4.7, 6.5),
    "clouds after the box": (3.8, 4.5),
    "clouds before the block": (6.6, 7.2),  # it falls into view from 6.93 s: a flight is silent
}


@pytest.fixture(scope="module")
def demo():
    events = json.loads((DEMO / "demo_events.json").read_text())["events"]
    t0 = time.perf_counter()
    env = MotionEngine().predict(open_clip(DEMO / "demo.mp4"))
    seconds = time.perf_counter() - t0
    assert seconds < 10.0, f"the demo took {seconds:.1f} s to analyse"
    assert env.rate == FRAME_RATE
    onsets, peaks = envelope_onsets(env.values)
    return events, env.values, onsets, peaks


def _nearest(onsets: np.ndarray, t: float) -> int:
    return int(np.argmin(np.abs(onsets - t))) if len(onsets) else -1


def test_contacts_are_onsets_within_one_video_frame(demo):
    events, _, onsets, _ = demo
    report, hits = [], 0
    for ev in events:
        i = _nearest(onsets, ev["t"])
        err = onsets[i] - ev["t"] if i >= 0 else np.inf
        hits += abs(err) <= VIDEO_FRAME
        report.append(f"{ev['kind']} {ev['t']:.3f} s: {1e3 * err:+.1f} ms")
    assert hits >= 5, "; ".join(report)


def test_ball_bounces_get_quieter(demo):
    events, _, onsets, peaks = demo
    bounces = [ev["t"] for ev in events if ev["kind"] == "ball_bounce"][:3]
    levels = []
    for t in bounces:
        i = _nearest(onsets, t)
        assert i >= 0 and abs(onsets[i] - t) <= VIDEO_FRAME, (t, onsets)
        levels.append(peaks[i])
    # impact speeds 1090, 654, 392 px/s: each bounce quieter than the one before
    assert levels[0] > levels[1] > levels[2] > 0, 20 * np.log10(levels)


@pytest.mark.parametrize("name", sorted(QUIET))
def test_pan_and_drifting_clouds_are_silent(demo, name):
    events, env, onsets, _ = demo
    lo, hi = QUIET[name]
    t = np.arange(len(env)) / FRAME_RATE
    window = (t >= lo) & (t < hi)
    for ev in events:  # the decay of a contact just before the window is fine
        window &= ~((t >= ev["t"]) & (t < ev["t"] + TAIL_S))
    assert not np.any((onsets >= lo) & (onsets < hi)), (name, onsets)
    loudest = env[window].max(initial=0.0)
    assert loudest < RMS_MIN, f"{name}: {20 * np.log10(loudest):.1f} dBFS"


def test_onset_accuracy(demo):
    events, _, onsets, _ = demo
    truth = [ev["t"] for ev in events]
    assert onset_accuracy(truth, onsets) >= 0.8, (truth, onsets)
