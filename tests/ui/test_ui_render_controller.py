"""The render controller: leading-edge throttle, latest wins, span re-renders, errors,
results delivered on the GUI thread, and a clean shutdown."""

import threading
import time

import numpy as np
import pytest

from foley_studio.core import envelope_ops as ops
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import EngineError
from foley_studio.core.project import Project, Track
from foley_studio.ui.document import Document
from foley_studio.ui.render_controller import RenderController


@pytest.fixture
def setup(qtbot, tmp_path, engine_factory, no_leftover_threads):
    env = Envelope(np.full(250, 0.1, np.float32))
    doc = Document(Project(tracks=[Track(id="a", prompt="steps", engine="fake", envelope=env)]),
                   recovery_dir=str(tmp_path), autosave_ms=0)
    controller = RenderController(doc, engine_factory)
    yield doc, controller
    controller.shutdown()
    assert not controller.service.running


def test_an_isolated_edit_renders_at_once_on_the_worker_and_arrives_on_the_gui_thread(setup, qtbot,
                                                                                      engine_calls):
    doc, controller = setup
    gui = threading.current_thread()
    arrived = []
    controller.rendered.connect(lambda *a: arrived.append(threading.current_thread()))
    with qtbot.waitSignal(controller.rendered, timeout=2000):
        doc.apply_envelope_op("a", "Erase", ops.erase, (0, 25))
    assert arrived == [gui]
    assert engine_calls[-1]["thread"] == "foley-render"


def test_an_all_silent_track_needs_no_engine(setup, qtbot, engine_calls):
    doc, controller = setup
    with qtbot.waitSignal(controller.rendered, timeout=2000) as blocker:
        doc.apply_envelope_op("a", "Erase", ops.erase, (0, 250))
    assert engine_calls == [] and not blocker.args[1].samples.any()
    assert len(blocker.args[1]) == 2 * 48_000


def test_leading_edge_then_one_trailing_render_for_a_burst(setup, qtbot, engine_calls, engine_factory):
    doc, controller = setup
    started = time.perf_counter()
    with qtbot.waitSignal(controller.rendered, timeout=2000):
        controller.request("a")
    assert time.perf_counter() - started < 0.5
    assert controller.latencies[-1] < 0.1  # the edit-to-audio budget, with a fast engine
    engine_calls.clear()
    for i in range(10):  # a burst inside one throttle window
        doc.apply_envelope_op("a", "Scale", ops.scale, (0, 100), 1.0 + 0.05 * (i + 1))
    qtbot.waitUntil(lambda: not controller.busy, timeout=3000)
    assert 1 <= len(engine_calls) <= 3
    t = doc.track("a")
    expected = engine_factory("fake", {}).render(t.envelope, t.prompt, t.seed, 48_000)
    assert np.array_equal(controller.audio["a"].samples, expected.samples)  # the latest state won


def test_a_small_edit_rerenders_only_its_span(setup, qtbot):
    doc, controller = setup
    with qtbot.waitSignal(controller.rendered, timeout=2000):
        controller.request("a")
    with qtbot.waitSignal(controller.rendered, timeout=2000) as blocker:
        doc.apply_envelope_op("a", "Erase", ops.erase, (100, 110))
    track_id, _audio, span = blocker.args
    assert track_id == "a" and span == pytest.approx((100 / 125, 110 / 125))


def test_engine_errors_come_back_as_one_line(qtbot, tmp_path, no_leftover_threads):
    def broken(engine_id, params):
        raise EngineError("engine 'x' is not available: weights missing\nsecond line")

    doc = Document(Project(tracks=[Track(id="a", envelope=Envelope(np.full(10, 0.1, np.float32)))]),
                   recovery_dir=str(tmp_path), autosave_ms=0)
    controller = RenderController(doc, broken)
    try:
        with qtbot.waitSignal(controller.failed, timeout=2000) as blocker:
            controller.request("a")
        track_id, message = blocker.args
        # one line: FoleyError shows a quoted line break escaped (core/errors.py)
        assert track_id == "a" and "\n" not in message
        assert message.startswith("engine 'x' is not available: weights missing")
    finally:
        controller.shutdown()


def test_removed_tracks_are_forgotten(setup, qtbot):
    doc, controller = setup
    with qtbot.waitSignal(controller.rendered, timeout=2000):
        controller.request("a")
    doc.remove_track("a")
    assert "a" not in controller.audio and controller.service.cache.get("a") is None


def test_the_thread_guard_sees_a_render_thread_that_was_not_shut_down(qtbot, tmp_path, engine_factory):
    from tests.ui import thread_guard

    before = thread_guard.snapshot()
    doc = Document(Project(), recovery_dir=str(tmp_path), autosave_ms=0)
    controller = RenderController(doc, engine_factory)
    assert "foley-render" in thread_guard.leftovers(before)
    controller.shutdown()
    assert thread_guard.leftovers(before) == []


class GatedEngine:
    """Renders a flat tone only once `gate` is set; never checks for cancellation, so a
    render that was superseded still returns (a stale result the controller must drop)."""

    from foley_studio.engines.base import EngineInfo

    info = EngineInfo(id="gated", name="Gated", kind="rms2sound", needs_weights=False,
                      realtime=True, supports_span=False)

    def __init__(self):
        self.gate = threading.Event()
        self.calls = 0

    def available(self):
        return True, ""

    def render(self, envelope, prompt, seed, sample_rate, span=None, previous=None,
               progress=None, cancel=None):
        self.calls += 1
        assert self.gate.wait(5), "the test never opened the gate"
        from foley_studio.core.audio import Audio

        n = int(round(envelope.duration * sample_rate))
        return Audio(np.full(n, float(envelope.values.max()), np.float32), sample_rate)


@pytest.fixture
def gated(qtbot, tmp_path, no_leftover_threads):
    engine = GatedEngine()
    env = Envelope(np.full(250, 0.1, np.float32))
    doc = Document(Project(tracks=[Track(id="a", prompt="steps", engine="gated", envelope=env)]),
                   recovery_dir=str(tmp_path), autosave_ms=0)
    handed = []  # (what, track id, audio, thread name), in the order things happened
    controller = RenderController(
        doc, lambda engine_id, params: engine,
        audio_sink=lambda tid, audio: handed.append(("sink", tid, audio, threading.current_thread().name)))
    controller.rendered.connect(lambda tid, audio, _span: handed.append(("rendered", tid, audio, "")))
    yield doc, controller, engine, handed
    engine.gate.set()
    controller.shutdown()


def test_the_audio_sink_gets_a_render_on_the_render_thread_before_rendered(gated, qtbot):
    doc, controller, engine, handed = gated
    engine.gate.set()
    with qtbot.waitSignal(controller.rendered, timeout=2000):
        controller.request("a")
    (what, tid, audio, thread), (then, tid2, audio2, _) = handed
    assert (what, tid, thread) == ("sink", "a", "foley-render")
    assert (then, tid2) == ("rendered", "a") and audio2 is audio is controller.audio["a"]


def test_the_audio_sink_never_gets_a_superseded_render(gated, qtbot):
    doc, controller, engine, handed = gated
    starts = []
    controller.renderStarted.connect(starts.append)
    controller.request("a")  # the leading edge: submitted at once, the engine waits at the gate
    qtbot.waitUntil(lambda: engine.calls == 1, timeout=2000)
    doc.apply_envelope_op("a", "Scale", ops.scale, (0, 250), 2.0)  # a newer state, submitted later
    qtbot.waitUntil(lambda: len(starts) == 2, timeout=2000)
    engine.gate.set()
    qtbot.waitUntil(lambda: not controller.busy, timeout=3000)
    sunk = [h for h in handed if h[0] == "sink"]
    assert len(sunk) == 1 and sunk[0][2].samples[0] == pytest.approx(0.2)  # only the newer one
    assert controller.audio["a"] is sunk[0][2]


def test_the_audio_sink_never_gets_a_removed_tracks_render(gated, qtbot):
    doc, controller, engine, handed = gated
    controller.request("a")
    qtbot.waitUntil(lambda: engine.calls == 1, timeout=2000)
    doc.remove_track("a")
    engine.gate.set()
    controller.service.wait_idle(3)
    qtbot.wait(50)  # let a (wrongly) queued result arrive, if there were one
    assert handed == []


def test_silence_goes_to_the_audio_sink_too(gated, qtbot):
    doc, controller, engine, handed = gated
    with qtbot.waitSignal(controller.rendered, timeout=2000):
        doc.apply_envelope_op("a", "Erase", ops.erase, (0, 250))
    assert [h[0] for h in handed] == ["sink", "rendered"] and not handed[0][2].samples.any()
    assert engine.calls == 0
