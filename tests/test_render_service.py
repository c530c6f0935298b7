"""Render service: cache reuse, span detection, latest-wins and cancellation."""

import threading
import time

import numpy as np
import pytest

from foley_studio.core.audio import Audio
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import Cancelled
from foley_studio.core.render import RenderRequest, RenderService, changed_span
from foley_studio.engines.base import EngineInfo


class RecordingEngine:
    """Test double: audio is the envelope held per sample; records every call."""

    def __init__(self, supports_span=True, step_delay=0.0):
        self.info = EngineInfo("fake", "Fake", "rms2sound", False, True, supports_span=supports_span)
        self.calls = []
        self.step_delay = step_delay
        self.started = threading.Event()

    def available(self):
        return True, ""

    def render(self, envelope, prompt, seed, sample_rate, span=None, previous=None, progress=None, cancel=None):
        self.calls.append({"prompt": prompt, "seed": seed, "span": span, "previous": previous is not None})
        self.started.set()
        for step in range(10):
            if cancel is not None:
                cancel.check()
            if progress:
                progress(step / 10, "step")
            time.sleep(self.step_delay)
        n = int(round(envelope.duration * sample_rate))
        held = np.repeat(envelope.values, int(sample_rate / envelope.rate))[:n]
        return Audio(np.pad(held, (0, n - len(held))), sample_rate)


def request(values, prompt="wood", seed=1, track="t1"):
    return RenderRequest(track, Envelope(values), prompt, seed, "fake", {}, 8000)


@pytest.fixture
def service_and_engine():
    engine = RecordingEngine()
    done = []
    service = RenderService(lambda engine_id, params: engine, on_done=done.append)
    yield service, engine, done
    service.shutdown()
    assert not service.running


def test_changed_span_is_minimal():
    a = Envelope(np.zeros(100))
    b = Envelope(np.r_[np.zeros(10), np.full(5, 0.5), np.zeros(85)])
    assert changed_span(a, b) == (10, 15)
    assert changed_span(a, a) is None
    assert changed_span(a, Envelope(np.zeros(50))) == (0, 50)


def test_same_request_is_served_from_cache(service_and_engine):
    service, engine, _ = service_and_engine
    v = np.full(250, 0.2, np.float32)
    first = service.render(request(v))
    second = service.render(request(v))
    assert len(engine.calls) == 1
    assert second.cached and second.audio is first.audio


def test_small_edit_renders_only_the_changed_span(service_and_engine):
    service, engine, _ = service_and_engine
    v = np.full(1250, 0.2, np.float32)
    service.render(request(v))
    edited = v.copy()
    edited[250:375] = 0.5
    result = service.render(request(edited))
    assert result.span == pytest.approx((2.0, 3.0))
    assert engine.calls[-1]["previous"] is True


def test_prompt_change_renders_everything(service_and_engine):
    service, engine, _ = service_and_engine
    v = np.full(250, 0.2, np.float32)
    service.render(request(v))
    result = service.render(request(v, prompt="metal"))
    assert result.span is None and engine.calls[-1]["previous"] is False


def test_engine_without_span_support_gets_full_renders():
    engine = RecordingEngine(supports_span=False)
    service = RenderService(lambda *_: engine)
    try:
        v = np.full(1250, 0.2, np.float32)
        service.render(request(v))
        edited = v.copy()
        edited[10:20] = 0.9
        assert service.render(request(edited)).span is None
    finally:
        service.shutdown()


def test_latest_request_wins_and_cancels_the_running_one():
    engine = RecordingEngine(step_delay=0.02)
    done = []
    service = RenderService(lambda *_: engine, on_done=done.append)
    try:
        service.submit(request(np.full(125, 0.1), seed=1))
        assert engine.started.wait(5)
        for seed in (2, 3, 4):
            service.submit(request(np.full(125, 0.1), seed=seed))
        assert service.wait_idle(10)
    finally:
        service.shutdown()
    # the first was cancelled mid-way; 2 and 3 were replaced while queued; only 4 finished
    assert [r.request.seed for r in done] == [4]
    assert engine.calls[0]["seed"] == 1 and {c["seed"] for c in engine.calls} <= {1, 4}


def test_errors_are_reported_and_the_worker_survives():
    errors = []
    done = []

    class Broken(RecordingEngine):
        def render(self, envelope, prompt, *args, **kwargs):
            if prompt == "boom":
                raise ValueError("bad prompt")
            return super().render(envelope, prompt, *args, **kwargs)

    engine = Broken()
    service = RenderService(lambda *_: engine, on_done=done.append, on_error=lambda t, e: errors.append((t, str(e))))
    try:
        service.submit(request(np.full(125, 0.1), prompt="boom"))
        service.wait_idle(5)
        service.submit(request(np.full(125, 0.1), prompt="ok", track="t2"))
        service.wait_idle(5)
    finally:
        service.shutdown()
    assert errors == [("t1", "bad prompt")]
    assert [r.track_id for r in done] == ["t2"]


def test_cancel_all_stops_running_work():
    engine = RecordingEngine(step_delay=0.05)
    done = []
    service = RenderService(lambda *_: engine, on_done=done.append)
    try:
        service.submit(request(np.full(125, 0.1)))
        assert engine.started.wait(5)
        service.cancel()
        assert service.wait_idle(5)
    finally:
        service.shutdown()
    assert done == []


def test_cancel_token_raises():
    from foley_studio.engines.base import CancelToken

    token = CancelToken()
    token.check()
    token.cancel()
    with pytest.raises(Cancelled):
        token.check()
