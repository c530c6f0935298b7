"""The bundled demo clip: present, small, as described, and its sound matches its events."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from foley_studio.core import media, resources
from foley_studio.core.rms import FRAME_RATE, RMS_MIN, rms_16k

ROOT = Path(__file__).resolve().parents[1]
DEMO = resources.demo_clip()
EVENTS = resources.demo_events()
SCRIPT = ROOT / "scripts" / "make_demo_clip.py"


@pytest.fixture(scope="module")
def events():
    return json.loads(EVENTS.read_text())


@pytest.fixture(scope="module")
def rms():
    """The paper's frame RMS (125 frames/s) of the demo's sound."""
    return rms_16k(media.decode_audio(DEMO, sr=16_000).samples)


def frame_range(t0, t1):
    return slice(int(math.floor(t0 * FRAME_RATE)), int(math.ceil(t1 * FRAME_RATE)))


def test_demo_is_bundled_and_small():
    assert DEMO.is_file() and EVENTS.is_file()
    assert DEMO.stat().st_size < 1_500_000


def test_demo_probes_as_described(events):
    info = media.probe(DEMO)
    assert (info.width, info.height) == (events["width"], events["height"]) == (640, 360)
    assert info.fps == pytest.approx(events["fps"]) and events["fps"] == 30
    assert info.duration == pytest.approx(events["duration"], abs=1e-6)
    assert info.n_frames == events["n_frames"] == 240
    assert info.has_audio and info.audio_sr == events["sample_rate"] == 48_000
    assert info.video_codec == "h264" and info.rotation == 0 and not info.truncated
    with av.open(str(DEMO)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert c.streams.audio[0].codec_context.name == "aac"


def test_events_are_consistent(events):
    contacts = events["events"]
    times = [e["t"] for e in contacts]
    assert times == sorted(times) and 0 < times[0] and times[-1] < events["duration"]
    assert min(np.diff(times)) > 0.2  # onset metrics match within 0.1 s: keep hits apart
    kinds = [e["kind"] for e in contacts]
    assert kinds.count("ball_bounce") >= 3 and len(set(kinds)) >= 2
    for e in contacts:
        assert e["frame"] == math.ceil(e["t"] * events["fps"] - 1e-9)
    bounces = [e["impact_speed_px_s"] for e in contacts if e["kind"] == "ball_bounce"]
    assert bounces == sorted(bounces, reverse=True)  # each bounce lower than the last


def test_events_file_matches_the_generator(events, monkeypatch):
    # the physics is analytic, so the script's contacts must equal the bundled file
    spec = importlib.util.spec_from_file_location("make_demo_clip", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_demo_clip", script)  # dataclasses look it up
    spec.loader.exec_module(script)
    assert script.events_json(script.Scene().contacts()) == events


def test_sound_starts_at_each_contact(events, rms):
    for e in events["events"]:
        # an RMS frame spans 32 ms, so a hit shows up to ~20 ms early in the frames
        before = rms[frame_range(e["t"] - 0.15, e["t"] - 0.04)]
        around = rms[frame_range(e["t"] - 0.04, e["t"] + 0.05)]
        assert before.max() < RMS_MIN, e
        assert around.max() > 2 * RMS_MIN, e


def test_bounces_get_quieter(events, rms):
    peaks = [rms[frame_range(e["t"], e["t"] + 0.05)].max()
             for e in events["events"] if e["kind"] == "ball_bounce"]
    assert all(a > b for a, b in zip(peaks, peaks[1:]))


def test_distractors_are_silent(events, rms):
    pan = next(d for d in events["silent_motion"] if d["kind"] == "camera_pan")
    assert rms[frame_range(pan["start"], pan["end"])].max() < RMS_MIN
    sounding = np.zeros(len(rms), bool)
    for e in events["events"]:
        sounding[frame_range(e["t"] - 0.04, e["t"] + 0.5)] = True
    assert rms[~sounding].max() < RMS_MIN  # room tone only, between the hits


def global_shift_x(a: np.ndarray, b: np.ndarray) -> int:
    """Horizontal shift of b against a by phase correlation (whole pixels)."""
    cross = np.fft.fft2(b) * np.conj(np.fft.fft2(a))
    corr = np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real
    dy, dx = np.unravel_index(np.argmax(corr), corr.shape)
    return int(dx) if dx <= a.shape[1] // 2 else int(dx) - a.shape[1]


def test_camera_pan_moves_the_whole_picture(events):
    pan = next(d for d in events["silent_motion"] if d["kind"] == "camera_pan")

    def camera(t):  # the generator's eased pan, in pixels at 640 wide
        u = min(max((t - pan["start"]) / (pan["end"] - pan["start"]), 0.0), 1.0)
        return pan["distance_px"] * (0.5 - 0.5 * math.cos(math.pi * u))

    def shift(t0, t1):
        a, b = (next(iter(media.iter_frames(DEMO, width=160, start=t))).image for t in (t0, t1))
        below_sky = slice(40, None)  # rows under the drifting clouds
        return global_shift_x(a[below_sky].astype(np.float32), b[below_sky].astype(np.float32))

    t0 = (pan["start"] + pan["end"]) / 2 - 0.2
    expected = -(camera(t0 + 0.4) - camera(t0)) * 160 / 640  # camera right, scene left
    assert expected < -8
    assert shift(t0, t0 + 0.4) == pytest.approx(expected, abs=1.0)
    assert shift(pan["start"] - 0.5, pan["start"] - 0.1) == 0  # before it: a still camera


def test_demo_decodes_fast_enough_for_the_motion_engine():
    # the motion engine needs >= 30x real time end to end; decoding must stay well
    # inside that. The bound here is loose (15x) because test machines are shared.
    info = media.probe(DEMO)
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        n = sum(1 for _ in media.iter_frames(DEMO, width=160, info=info))
        best = min(best, time.perf_counter() - start)
    assert n == 240
    assert best < info.duration / 15
