"""Fixtures for the editor tests: offscreen Qt, tiny clips, a fast fake engine, a window
built with silent stand-ins, and a guard that fails a test leaving a thread running."""

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt

import threading

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

import pyqtgraph as pg  # noqa: E402

from foley_studio.core.audio import Audio  # noqa: E402
from foley_studio.engines.base import EngineInfo  # noqa: E402
from tests.mediagen import moving_square, tone, write_video  # noqa: E402
from tests.ui import thread_guard  # noqa: E402

# pyqtgraph drops mouse moves closer than 10 ms apart; simulated drags come faster
pg.setConfigOptions(mouseRateLimit=-1)


class FakeEngine:
    """A fast, deterministic RMS2Sound engine: noise shaped by the envelope."""

    info = EngineInfo(id="fake", name="Fake", kind="rms2sound", needs_weights=False,
                      realtime=True, supports_span=True)

    def __init__(self, calls: list):
        self.calls = calls

    def available(self):
        return True, ""

    def render(self, envelope, prompt, seed, sample_rate, span=None, previous=None,
               progress=None, cancel=None):
        self.calls.append({"prompt": prompt, "seed": seed, "span": span,
                           "thread": threading.current_thread().name})
        n = int(round(envelope.duration * sample_rate))
        rng = np.random.default_rng([seed, len(prompt)])
        per_sample = np.repeat(envelope.values, int(np.ceil(n / max(len(envelope), 1))))[:n]
        if progress is not None:
            progress(0.5, "noise")
        if cancel is not None:
            cancel.check()
        return Audio((rng.standard_normal(n) * per_sample).astype(np.float32), sample_rate)


@pytest.fixture
def engine_calls():
    return []


@pytest.fixture
def engine_factory(engine_calls):
    return lambda engine_id, params: FakeEngine(engine_calls)


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory):
    """A 1 s clip: a square moves then stops; a tone underneath."""
    path = tmp_path_factory.mktemp("clips") / "square.mp4"
    return write_video(path, moving_square(stop_at=0.5), fps=25, duration=1.0, audio=tone(1.0))


class RecordingDialogs:
    """Answers every question at once and remembers what was asked."""

    def __init__(self):
        self.errors, self.questions = [], []
        self.confirm_answer = True
        self.save_answer = "discard"
        self.save_to = None

    def error(self, parent, text):
        self.errors.append(text)

    def confirm(self, parent, question):
        self.questions.append(question)
        return self.confirm_answer

    def save_changes(self, parent, name):
        self.questions.append(f"save {name}")
        return self.save_answer

    def open_path(self, parent, folder=""):
        return None

    def save_path(self, parent, suggestion):
        return self.save_to

    def export(self, parent, project, renders, video_path, duration=None):
        self.exported = (project, renders, video_path, duration)
        return None


@pytest.fixture
def dialogs():
    return RecordingDialogs()


@pytest.fixture
def no_leftover_threads():
    """Fails the test if a Python thread or pool thread it started is still running."""
    before = thread_guard.snapshot()
    yield
    left = thread_guard.leftovers(before)
    assert not left, f"still running after the editor closed: {left}"


@pytest.fixture
def make_window(qtbot, engine_factory, dialogs, tmp_path, no_leftover_threads):
    """make_window(**overrides) -> a shown MainWindow with stand-in video and playback.

    Every window is closed at the end of the test (before the thread check runs)."""
    from foley_studio.ui.main_window import MainWindow
    from foley_studio.ui.stand_ins import ClockPlayback, StillVideoView

    windows = []

    def make(**kwargs):
        kwargs.setdefault("video_view", StillVideoView())
        kwargs.setdefault("playback", ClockPlayback())
        kwargs.setdefault("engine_factory", engine_factory)
        kwargs.setdefault("dialogs", dialogs)
        kwargs.setdefault("recovery_dir", str(tmp_path / "recovery"))
        w = MainWindow(**kwargs)
        qtbot.addWidget(w)
        w.resize(1100, 760)
        w.show()
        qtbot.waitExposed(w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()  # RecordingDialogs answers "discard" to the save question
        assert w._closed
