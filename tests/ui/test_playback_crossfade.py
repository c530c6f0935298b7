"""A new render swapped in while playing: crossfaded, no click, exact outside the fade.

The callback is driven directly with a fake output array: no device, no waiting.
"""

import time
import tracemalloc

import numpy as np
import pytest

from foley_studio.core.audio import Audio
from foley_studio.ui.playback import TrackMixer
from foley_studio.ui.transport import FADE_S, Transport
from tests.ui.conftest_audio import FakeClock, FakeTimeInfo, assert_no_threads_left, live_threads

SR, BLOCK = 48_000, 512


def tone(phase: float, seconds: float = 2.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


@pytest.fixture
def rig():
    """A device-driven transport, its mixer, and a function that plays n callback blocks."""
    before = live_threads()
    clock = FakeClock()
    transport = Transport(SR, device_driven=True, latency=0.03, clock=clock)
    mixer = TrackMixer(transport)
    out = np.zeros((BLOCK, 2), np.float32)
    played = []

    def run(blocks: int) -> None:
        for _ in range(blocks):
            clock.now += BLOCK / SR
            transport.callback(out, BLOCK, FakeTimeInfo(clock.now, clock.now + 0.03), 0)
            played.append(out.copy())

    def output() -> np.ndarray:
        return np.concatenate(played)[:, 0]

    yield transport, mixer, run, output
    mixer.close()
    assert_no_threads_left(before)


def test_swap_while_playing_crossfades_without_a_click(rig):
    transport, mixer, run, output = rig
    a, b = tone(0.0), tone(np.pi)  # B is A inverted: a hard cut would jump by 2|A|
    mixer.set_duration(2.0)
    mixer.set_source("steps", Audio(a, SR))
    assert mixer.wait_idle()
    run(1)  # paused: the callback takes the first mix at once
    transport.play()
    run(10)
    swap_at = 10 * BLOCK  # the next block boundary after the new mix is handed over
    mixer.set_source("steps", Audio(b, SR))
    assert mixer.wait_idle()
    run(10)
    y = output()[BLOCK:]  # drop the paused block
    fade = int(round(FADE_S * SR))

    assert abs(b[swap_at] - a[swap_at]) > 0.3  # the test is meaningful: a cut here would click
    # untouched before the swap (after the short fade-in that starts playback)
    assert np.array_equal(y[fade:swap_at], a[fade:swap_at])
    # B alone, sample-exact, once the crossfade is over
    assert np.array_equal(y[swap_at + fade:], b[swap_at + fade:len(y)])
    # inside the fade: a smooth equal-gain blend, no step larger than the tone's own
    natural_step = np.abs(np.diff(a)).max()
    steps = np.abs(np.diff(y[swap_at - 10:swap_at + fade + 10]))
    assert steps.max() < natural_step * 1.5
    g = transport._ramp_in
    blend = a[swap_at:swap_at + fade] * (1 - g) + b[swap_at:swap_at + fade] * g
    assert np.allclose(y[swap_at:swap_at + fade], blend, atol=1e-6)


def test_mute_and_gain_changes_are_crossfaded_too(rig):
    transport, mixer, run, output = rig
    mixer.set_duration(1.0)
    mixer.set_source("a", Audio(tone(0.0, 1.0), SR))
    mixer.set_source("b", Audio(tone(0.0, 1.0, freq=660.0), SR))
    mixer.set_params({"a": -6.0}, audible={"a"})
    assert mixer.wait_idle()
    run(1)
    transport.play()
    run(4)
    mixer.set_params({"a": 0.0}, audible={"a", "b"})
    assert mixer.wait_idle()
    run(6)
    y = output()[BLOCK:]
    expected_before = tone(0.0, 1.0) * np.float32(10 ** (-6 / 20))
    fade = int(round(FADE_S * SR))
    assert np.allclose(y[fade:4 * BLOCK], expected_before[fade:4 * BLOCK], atol=1e-7)
    both = tone(0.0, 1.0) + tone(0.0, 1.0, freq=660.0)
    assert np.allclose(y[4 * BLOCK + fade:], both[4 * BLOCK + fade:len(y)], atol=1e-6)
    assert np.abs(np.diff(y)).max() < 0.15


def test_pause_and_seek_fade_instead_of_cutting(rig):
    transport, mixer, run, output = rig
    mixer.set_duration(2.0)
    mixer.set_source("a", Audio(np.full(2 * SR, 0.5, np.float32), SR))  # DC: any cut is a step
    assert mixer.wait_idle()
    run(1)
    transport.play()
    run(3)
    transport.seek(1.0)
    run(3)
    transport.pause()
    run(3)
    y = output()[BLOCK:]
    assert np.abs(np.diff(y)).max() < 0.5 * 2.5 / (FADE_S * SR)  # ramps, never a jump
    assert np.all(y[-BLOCK:] == 0.0)  # silent once paused


def test_callback_allocates_no_arrays_and_is_cheap(rig):
    transport, mixer, run, output = rig
    mixer.set_duration(3.0)
    mixer.set_source("a", Audio(tone(0.0, 3.0), SR))
    assert mixer.wait_idle()
    out = np.zeros((BLOCK, 2), np.float32)
    info = FakeTimeInfo(1.0, 1.03)
    transport.callback(out, BLOCK, info, 0)
    transport.play()
    transport.callback(out, BLOCK, info, 0)  # warm up both paths once

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for i in range(200):
            if i % 50 == 0:
                transport.seek(0.5)  # includes crossfade blocks
            transport.callback(out, BLOCK, info, 0)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < BLOCK * 4  # less than one block of float32: only small scalar objects

    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        transport.callback(out, BLOCK, info, 0)
    cost_us = (time.perf_counter() - t0) / n * 1e6
    print(f"callback: {cost_us:.1f} us per {BLOCK}-frame block (budget {BLOCK / SR * 1e6:.0f} us)")
    assert cost_us < 500
