"""Keeps every track's audio in step with the document, rendering in the background.

The core RenderService owns the worker thread, the per-track cache (a small envelope
edit re-renders only its span) and "latest request per track wins". This controller
adds the Qt side:

* it listens to the Document and asks for a render when a track's sound changes;
* requests go out through a leading-edge throttle: the first change is submitted at
  once (an isolated gesture is heard within the latency budget), changes that follow
  within THROTTLE_MS are coalesced into one trailing submit;
* the service calls back on its worker thread; those calls are re-emitted through a
  queued signal so every slot here runs on the GUI thread;
* a result older than the track's latest request is dropped (the newer one is coming);
* with an `audio_sink` (the window gives playback's set_track_audio), a current result
  goes to the sink straight from the render thread, before the hop to the GUI thread:
  the new sound reaches the play buffer without waiting for the GUI thread to finish a
  repaint. The staleness check and the hand-over happen under one lock that every change
  of "latest request" also takes, so a stale or removed track's audio is never handed over.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal
from superqt.utils import QSignalThrottler

from foley_studio.core.audio import Audio
from foley_studio.core.audio_store import AnyAudio, AudioFile
from foley_studio.core.render import STORE_ABOVE_S, RenderRequest, RenderResult, RenderService
from foley_studio.ui.document import SOUND_FIELDS, Document

THROTTLE_MS = 150


class _WorkerBridge(QObject):
    """Signals emitted on the render thread, delivered on the GUI thread."""

    done = Signal(object)  # RenderResult
    error = Signal(str, str)  # track id, message
    progress = Signal(str, float, str)  # track id, fraction, message


class RenderController(QObject):
    rendered = Signal(str, object, object)  # track id, Audio, span in seconds or None
    renderStarted = Signal(str)
    progress = Signal(str, float, str)
    failed = Signal(str, str)  # track id, one-line message
    idleChanged = Signal(bool)

    def __init__(self, document: Document, engine_factory: Callable[[str, dict], Any] | None = None,
                 throttle_ms: int = THROTTLE_MS, parent: QObject | None = None,
                 audio_sink: Callable[[str, AnyAudio], None] | None = None):
        super().__init__(parent)
        if engine_factory is None:
            from foley_studio.pipeline import create_engine as engine_factory
        self.doc = document
        self.audio: dict[str, AnyAudio] = {}  # latest render of each track (AudioFile when long)
        self.latencies: list[float] = []  # seconds from request to rendered (benchmarks)
        self._pending: set[str] = set()  # tracks waiting for the throttle
        self._latest: dict[str, RenderRequest] = {}  # last request submitted per track
        self._asked_at: dict[str, float] = {}
        self._closed = False
        # audio_sink(track id, Audio): called (under _lock) with every current render, on the
        # render thread, and with silence on the GUI thread; before `rendered` is emitted
        self.audio_sink = audio_sink
        self._lock = threading.Lock()  # _latest and _closed, against the render thread

        self._bridge = _WorkerBridge(self)
        self._bridge.done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)
        self._bridge.error.connect(self._on_error, Qt.ConnectionType.QueuedConnection)
        self._bridge.progress.connect(self.progress, Qt.ConnectionType.QueuedConnection)
        self.service = RenderService(
            engine_factory,
            on_done=self._deliver,
            on_error=lambda tid, exc: self._bridge.error.emit(tid, _one_line(exc)),
            on_progress=self._bridge.progress.emit,
        )
        self._throttle = QSignalThrottler(parent=self)
        self._throttle.setTimeout(throttle_ms)
        self._throttle.triggered.connect(self._flush)

        document.envelopeChanged.connect(lambda tid, _a, _b: self.request(tid))
        document.trackChanged.connect(self._on_track_changed)
        document.trackAdded.connect(self.request)
        document.trackRemoved.connect(self._forget)
        document.projectReset.connect(self._on_reset)

    # -- public -------------------------------------------------------------------------
    def request(self, track_id: str) -> None:
        """Ask for a render of the track's current state (throttled)."""
        if self._closed:
            return
        self._pending.add(track_id)
        self._asked_at.setdefault(track_id, time.perf_counter())
        self._throttle.throttle()

    def request_all(self) -> None:
        for track in self.doc.tracks:
            self.request(track.id)

    def flush(self) -> None:
        """Submit whatever is waiting now (tests, export)."""
        self._flush()

    @property
    def busy(self) -> bool:
        return bool(self._pending or self._latest)

    def shutdown(self) -> None:
        """Cancel everything and join the render thread (idempotent)."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
        self._throttle.cancel()
        self._pending.clear()
        self.service.shutdown(wait=True)

    # -- internals -----------------------------------------------------------------------
    def _on_track_changed(self, track_id: str, field: str) -> None:
        if field in SOUND_FIELDS and field != "envelope":  # envelope comes via envelopeChanged
            self.request(track_id)

    def _flush(self) -> None:
        if self._closed:
            return
        was_idle = not self._latest
        for track_id in sorted(self._pending):
            try:
                track = self.doc.track(track_id)
            except KeyError:
                continue  # removed while waiting
            if len(track.envelope) == 0:
                continue  # nothing to follow yet
            if not track.envelope.values.any():
                self._silence(track)  # nothing to hear: no need to wake an engine
                continue
            request = RenderRequest(track.id, track.envelope, track.prompt, track.seed, track.engine,
                                    dict(track.engine_params), self.doc.project.sample_rate)
            with self._lock:
                self._latest[track_id] = request
            self.service.submit(request)
            self.renderStarted.emit(track_id)
        self._pending.clear()
        if was_idle and self._latest:
            self.idleChanged.emit(False)

    def _silence(self, track) -> None:
        self.service.cancel(track.id)
        self._asked_at.pop(track.id, None)
        sr = self.doc.project.sample_rate
        n = int(round(track.envelope.duration * sr))
        # a long silence is an empty (sparse) temporary file, not an hour of zeros in memory
        audio = AudioFile(n, sr) if track.envelope.duration > STORE_ABOVE_S else Audio.silence(n, sr)
        with self._lock:
            self._latest.pop(track.id, None)
            if self.audio_sink is not None:
                self.audio_sink(track.id, audio)
        self.audio[track.id] = audio
        self.rendered.emit(track.id, audio, None)

    def _deliver(self, result: RenderResult) -> None:
        """On the render thread: hand a current result to the sink, then hop to the GUI."""
        if self.audio_sink is not None:
            with self._lock:
                if not self._closed and self._latest.get(result.track_id) is result.request:
                    self.audio_sink(result.track_id, result.audio)
        self._bridge.done.emit(result)

    def _on_done(self, result: RenderResult) -> None:
        tid = result.track_id
        with self._lock:
            if self._closed or self._latest.get(tid) is not result.request:
                return  # stale: a newer request for this track is queued or running
            del self._latest[tid]
        self.audio[tid] = result.audio
        asked = self._asked_at.pop(tid, None)
        if asked is not None:
            self.latencies.append(time.perf_counter() - asked)
        self.rendered.emit(tid, result.audio, result.span)
        if not self._latest:
            self.idleChanged.emit(True)

    def _on_error(self, track_id: str, message: str) -> None:
        if self._closed:
            return
        with self._lock:
            self._latest.pop(track_id, None)
        self._asked_at.pop(track_id, None)
        self.failed.emit(track_id, message)
        if not self._latest:
            self.idleChanged.emit(True)

    def _forget(self, track_id: str) -> None:
        self._pending.discard(track_id)
        with self._lock:
            self._latest.pop(track_id, None)
        self._asked_at.pop(track_id, None)
        self.audio.pop(track_id, None)
        self.service.cancel(track_id)
        self.service.cache.drop(track_id)

    def _on_reset(self) -> None:
        for track_id in list(self.audio) + list(self._latest):
            self._forget(track_id)
        self.request_all()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
