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
        assert blocker.args == ["a", "engine 'x' is not available: weights missing"]
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
