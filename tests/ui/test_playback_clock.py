"""The transport clock: monotonic without a device, device-driven and drift-free with one."""

import time

import numpy as np
import pytest

from foley_studio.ui.audio_output import ENV_VAR
from foley_studio.ui.playback import Playback
from foley_studio.ui.transport import Transport
from tests.ui.conftest_audio import FakeClock, FakeTimeInfo, assert_no_threads_left, live_threads

FRAME = 1 / 30  # one video frame: the sync requirement


@pytest.fixture
def no_device_playback(qtbot):
    before = live_threads()
    playback = Playback(device=None)
    playback.duration = 5.0
    yield playback
    playback.close()
    assert_no_threads_left(before)


def test_without_a_device_the_monotonic_clock_plays_in_real_time(no_device_playback):
    playback = no_device_playback
    assert not playback.has_device
    assert "No audio device" in playback.device_status and "monotonic clock" in playback.device_status
    playback.play()
    assert playback.is_playing
    t0, p0 = time.monotonic(), playback.position()
    time.sleep(0.3)
    t1, p1 = time.monotonic(), playback.position()
    assert abs((p1 - p0) - (t1 - t0)) < 0.01

    playback.pause()
    paused_at = playback.position()
    time.sleep(0.05)
    assert playback.position() == paused_at and not playback.is_playing

    playback.seek(2.5)
    assert playback.position() == 2.5
    playback.play()
    time.sleep(0.1)
    assert 2.58 < playback.position() < 2.7
    playback.seek(1.0)  # a seek while playing keeps playing from there
    assert playback.is_playing and 1.0 <= playback.position() < 1.05


def test_signals_and_stop_at_the_end(no_device_playback, qtbot):
    playback = no_device_playback
    playback.duration = 0.2
    with qtbot.waitSignal(playback.positionJumped) as jumped:
        playback.seek(0.05)
    assert jumped.args == [0.05]
    with qtbot.waitSignal(playback.stateChanged) as started:
        playback.toggle()
    assert started.args == [True]
    with qtbot.waitSignal(playback.stateChanged, timeout=2000) as stopped:
        pass  # runs off the end after 0.15 s
    assert stopped.args == [False] and playback.position() == pytest.approx(0.2)
    playback.play()  # play at the end starts over
    assert playback.position() < 0.05


def test_env_var_forces_no_device(qtbot, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "none")
    playback = Playback()
    try:
        assert not playback.has_device and f"{ENV_VAR}=none" in playback.device_status
    finally:
        playback.close()


def test_a_minute_of_device_callbacks_stays_within_a_frame_without_drift():
    """Simulated device: 48 kHz, 512-frame blocks, 40 ms output delay, callback jitter."""
    sr, block, delay = 48_000, 512, 0.040
    clock = FakeClock()
    transport = Transport(sr, 61 * sr, device_driven=True, latency=delay, clock=clock)
    back = transport.acquire_back()
    back[:] = np.arange(len(back), dtype=np.float32)  # each sample holds its own index
    transport.publish()
    out = np.zeros((block, 2), np.float32)
    transport.callback(out, block, FakeTimeInfo(clock.now, clock.now + delay), 0)  # takes the buffer

    rng = np.random.default_rng(1)
    t0 = clock.now = 200.0
    transport.play()
    errors = []
    for k in range(60 * sr // block):
        dac = t0 + k * block / sr + delay  # the DAC runs on its own crystal, steadily
        clock.now = dac - delay + rng.uniform(-0.002, 0.002)  # the callback runs a bit early or late
        transport.callback(out, block, FakeTimeInfo(clock.now, dac), 0)
        if k > 2:  # after the fade-in, the device got exactly the samples of the timeline
            assert out[0, 0] == k * block and out[-1, 1] == (k + 1) * block - 1
        for frac in (0.1, 0.5, 0.9):  # the GUI asks at any moment between callbacks
            clock.now += frac * block / sr * 0.5
            heard = max(clock.now - t0 - delay, 0.0)  # the sample at the DAC right now
            errors.append(transport.position() - heard)
    errors = np.abs(np.array(errors))
    print(f"sync error: max {errors.max()*1e3:.2f} ms, last 300 {errors[-300:].max()*1e3:.2f} ms")
    assert errors.max() < FRAME
    assert errors[-300:].max() < 0.003  # no drift: still ms-exact after a minute
