"""Playback through a real (null) audio device: the device clock drives the transport."""

import time

import numpy as np

from foley_studio.core.audio import Audio
from foley_studio.ui.playback import Playback
from tests.ui.conftest_audio import assert_no_threads_left, live_threads, null_audio_device  # noqa: F401

FRAME = 1 / 30  # one video frame


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_stream_opens_and_position_follows_consumed_frames(qtbot, null_audio_device):
    before = live_threads()
    playback = Playback(device=null_audio_device)
    try:
        assert playback.has_device
        assert playback.device_status == f"Audio: pulse @ {playback.transport.sample_rate} Hz"
        sr = playback.transport.sample_rate
        playback.duration = 3.0
        playback.set_track_audio("a", Audio(0.1 * np.ones(3 * 48_000, np.float32), 48_000))
        assert playback.wait_idle()
        transport = playback.transport
        calls_paused = transport.callbacks
        assert _wait(lambda: transport.callbacks > calls_paused, 1.0), "callback never called"
        assert transport.frames_played == 0  # paused: silence, the clock does not move

        playback.play()
        assert _wait(lambda: transport.frames_played > 0.2 * sr, 2.0), "device consumes nothing"
        t0, p0 = time.monotonic(), playback.position()
        time.sleep(0.5)
        t1, p1 = time.monotonic(), playback.position()
        assert abs((p1 - p0) - (t1 - t0)) < 0.06  # real-time rate, from the device clock
        # the transport is where the device is: frames handed over minus what is still queued
        heard = transport.frames_played / sr - transport._delay
        assert abs(playback.position() - heard) < FRAME

        playback.pause()
        paused_at = playback.position()
        time.sleep(0.1)
        assert playback.position() == paused_at
    finally:
        playback.close()
    assert_no_threads_left(before)
