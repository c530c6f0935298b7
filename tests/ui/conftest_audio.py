"""Fixtures for playback tests: a real, clocked null audio device, and a thread-leak check.

Import what a test module needs:  `from tests.ui.conftest_audio import null_audio_device`

The null device is a private PulseAudio server with a null sink, reached through ALSA's
pulse plugin (libasound2-plugins), which PortAudio lists as the "pulse" device. Unlike
ALSA's own `type null` PCM (which accepts samples as fast as they come, so no clock),
the null sink consumes audio at the real sample rate: the device clock can be tested.
It runs as root here; pulseaudio only warns about that. Started by hand it is:

    D=$(mktemp -d); mkdir -p $D/run
    HOME=$D PULSE_RUNTIME_PATH=$D/run XDG_RUNTIME_DIR=$D/run PULSE_STATE_PATH=$D/state \\
      pulseaudio --daemonize=no --exit-idle-time=-1 --disallow-exit -n --use-pid-file=no \\
        --disable-shm=yes --log-target=stderr --log-level=error \\
        --load="module-null-sink sink_name=foley_null rate=48000" \\
        --load="module-native-protocol-unix socket=$D/native auth-anonymous=1" &
    export PULSE_SERVER=unix:$D/native
    pacat --playback --raw --latency-msec=20 /dev/zero &   # keeps the sink ticking (see below)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest

START_TIMEOUT_S = 5.0


def _reinit_portaudio():
    """PortAudio lists devices once, at initialisation: start over so it sees the new server."""
    import sounddevice as sd

    sd._terminate()
    sd._initialize()
    return sd


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(3)


def _warm_up(sd, device: str) -> str | None:
    """Play silence until the device really consumes it; None when it does, else why not.

    The first stream a process opens through the pulse plugin stalls for about a second
    before the sink starts pulling; after that, streams start at once.
    """
    consumed = [0]

    def callback(outdata, frames, time_info, status):
        outdata.fill(0)
        consumed[0] += frames

    try:
        with sd.OutputStream(device=device, samplerate=48_000, channels=2, dtype="float32",
                             callback=callback, latency="high"):
            if not _wait_for(lambda: consumed[0] > 48_000 * 0.2, START_TIMEOUT_S):
                return f"the null sink did not consume audio within {START_TIMEOUT_S:.0f} s"
    except Exception as exc:  # noqa: BLE001 - any failure here means "no device", said clearly
        return f"cannot open the pulse device: {exc}"
    return None


@pytest.fixture(scope="module")
def null_audio_device(tmp_path_factory):
    """PortAudio device name of a running null sink ("pulse").

    Module-scoped: other modules' tests keep seeing the machine's own devices (here: none).
    """
    if shutil.which("pulseaudio") is None or shutil.which("pacat") is None:
        pytest.skip("pulseaudio is not installed (apt-get install pulseaudio libasound2-plugins)")
    base = str(tmp_path_factory.mktemp("pulse"))
    socket = os.path.join(base, "native")
    env = dict(os.environ, HOME=base, PULSE_RUNTIME_PATH=os.path.join(base, "run"),
               XDG_RUNTIME_DIR=os.path.join(base, "run"), PULSE_STATE_PATH=os.path.join(base, "state"))
    os.makedirs(env["PULSE_RUNTIME_PATH"], exist_ok=True)
    log_path = os.path.join(base, "pulseaudio.log")
    server = keepalive = None
    saved_server = os.environ.get("PULSE_SERVER")
    try:
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "-n",
                 "--use-pid-file=no", "--disable-shm=yes", "--log-target=stderr", "--log-level=error",
                 "--load=module-null-sink sink_name=foley_null rate=48000",
                 f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1"],
                env=env, stdout=subprocess.DEVNULL, stderr=log,
            )
        if not _wait_for(lambda: os.path.exists(socket) or server.poll() is not None, START_TIMEOUT_S) \
                or server.poll() is not None:
            with open(log_path) as f:
                pytest.skip(f"pulseaudio did not start: {f.read().strip()[-300:] or 'no output'}")
        env["PULSE_SERVER"] = os.environ["PULSE_SERVER"] = "unix:" + socket
        # An idle null sink renders up to 2 s ahead; a low-latency client keeps it in small
        # steps so a new stream is heard (and its clock starts) within milliseconds.
        keepalive = subprocess.Popen(
            ["pacat", "--playback", "--raw", "--latency-msec=20", "--format=s16le",
             "--rate=48000", "--channels=2", "/dev/zero"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        sd = _reinit_portaudio()
        names = [d["name"] for d in sd.query_devices()]
        if "pulse" not in names:
            pytest.skip(f"PortAudio lists no 'pulse' device (ALSA pulse plugin missing?): {names}")
        problem = _warm_up(sd, "pulse")
        if problem:
            pytest.skip(problem)
        yield "pulse"
    finally:
        _stop(keepalive)
        _stop(server)
        if saved_server is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = saved_server
        try:
            _reinit_portaudio()  # later tests must not see a device that is gone
        except Exception:  # noqa: BLE001 - PortAudio missing: nothing to reset
            pass


def live_threads() -> set[threading.Thread]:
    """Python threads now running, apart from the main thread and foreign (dummy) ones."""
    return {t for t in threading.enumerate()
            if t is not threading.main_thread() and not isinstance(t, threading._DummyThread)
            and t.is_alive()}


def assert_no_threads_left(before: set[threading.Thread], timeout: float = 2.0) -> None:
    """Every Python thread started since `before` has ended, and no Qt pool task runs."""
    from PySide6.QtCore import QThreadPool

    pool = QThreadPool.globalInstance()
    ok = _wait_for(lambda: not (live_threads() - before) and pool.activeThreadCount() == 0, timeout)
    assert ok, f"threads left running: {sorted(t.name for t in live_threads() - before)}, " \
               f"Qt pool tasks: {pool.activeThreadCount()}"


class FakeClock:
    """A settable monotonic clock for driving Transport without waiting."""

    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeTimeInfo:
    """What PortAudio passes the callback: when the block's first sample reaches the DAC."""

    def __init__(self, current: float, dac: float):
        self.currentTime = current
        self.outputBufferDacTime = dac
