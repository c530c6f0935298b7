"""Render service: turns (envelope, prompt, seed, engine) into audio per track.

- A per-track cache keeps the last render, so an edit to the envelope re-renders only
  the frames that changed (when the engine supports spans) and an unchanged request
  costs nothing.
- submit() is asynchronous: one worker thread, latest request per track wins, and a
  newer request cancels the running one for the same track between engine steps.
- render() is the synchronous path used by the CLI and by export.

Core does not import engines (layering); the service gets a factory that builds an
engine from its id and parameters.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from foley_studio.core.audio import Audio
from foley_studio.core.audio_store import AnyAudio, AudioFile
from foley_studio.core.cancel import CancelToken
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import Cancelled

EngineFactory = Callable[[str, dict], Any]

# Past this fraction of the track changed, a span re-render saves nothing: render it all.
FULL_RENDER_FRACTION = 0.5
# Longer tracks are rendered chunk by chunk into a temporary file (audio_store.AudioFile)
# by engines that can (render_chunks): an hour at 48 kHz is 691 MB as one float32 array.
STORE_ABOVE_S = 120.0


@dataclass(frozen=True, eq=False)
class RenderRequest:
    track_id: str
    envelope: Envelope
    prompt: str
    seed: int
    engine_id: str = "palette"
    engine_params: dict = field(default_factory=dict)
    sample_rate: int = 48_000

    def sound_key(self) -> str:
        """Everything but the envelope: when this changes, the whole track re-renders."""
        return json.dumps(
            [self.prompt, int(self.seed), self.engine_id, self.engine_params, int(self.sample_rate)],
            sort_keys=True,
            default=str,
        )


@dataclass(frozen=True, eq=False)
class RenderResult:
    request: RenderRequest
    audio: AnyAudio  # an AudioFile for long tracks (STORE_ABOVE_S)
    span: tuple[float, float] | None  # the re-rendered time range, None for a full render
    seconds: float  # wall time spent in the engine
    cached: bool = False

    @property
    def track_id(self) -> str:
        return self.request.track_id


@dataclass
class _CacheEntry:
    key: str
    envelope: Envelope
    audio: AnyAudio


def changed_span(old: Envelope, new: Envelope) -> tuple[int, int] | None:
    """Smallest frame range [a, b) where two envelopes differ; None when equal."""
    if len(old) != len(new) or old.rate != new.rate:
        return (0, len(new))
    diff = np.flatnonzero(old.values != new.values)
    if len(diff) == 0:
        return None
    return int(diff[0]), int(diff[-1]) + 1


class RenderCache:
    """Last render per track, and the decision of how much a new request must render."""

    def __init__(self) -> None:
        self._entries: dict[str, _CacheEntry] = {}
        self._lock = threading.Lock()

    def get(self, track_id: str) -> _CacheEntry | None:
        with self._lock:
            return self._entries.get(track_id)

    def put(self, request: RenderRequest, audio: AnyAudio, key: str | None = None) -> None:
        with self._lock:
            key = request.sound_key() if key is None else key
            self._entries[request.track_id] = _CacheEntry(key, request.envelope, audio)

    def drop(self, track_id: str) -> None:
        with self._lock:
            self._entries.pop(track_id, None)

    def audio(self, track_id: str) -> AnyAudio | None:
        entry = self.get(track_id)
        return entry.audio if entry else None


def render_with_cache(
    request: RenderRequest,
    engine: Any,
    cache: RenderCache,
    progress=None,
    cancel=None,
) -> RenderResult:
    """Render one request, reusing or patching the cached render where possible."""
    key = sound_key(request, engine)
    entry = cache.get(request.track_id)
    span = None
    previous = None
    if entry is not None and entry.key == key:
        frames = changed_span(entry.envelope, request.envelope)
        if frames is None:
            return RenderResult(request, entry.audio, None, 0.0, cached=True)
        a, b = frames
        small = (b - a) <= FULL_RENDER_FRACTION * len(request.envelope)
        # a stored render is patched only by engines that work in pieces (they read it)
        patchable = isinstance(entry.audio, Audio) or hasattr(engine, "render_chunks")
        if small and patchable and getattr(engine.info, "supports_span", False):
            rate = request.envelope.rate
            span = (a / rate, b / rate)
            previous = entry.audio
    started = time.perf_counter()
    if span is None and _stored(request, engine):
        audio = render_to_file(request, engine, progress, cancel)
    else:
        audio = engine.render(
            request.envelope,
            request.prompt,
            request.seed,
            request.sample_rate,
            span=span,
            previous=previous,
            progress=progress,
            cancel=cancel,
        )
    elapsed = time.perf_counter() - started
    cache.put(request, audio, key)
    return RenderResult(request, audio, span, elapsed)


def sound_key(request: RenderRequest, engine: Any) -> str:
    """The request's sound key plus what the engine reads beyond it: an audio prompt
    file rewritten in place keeps its path but must still re-render."""
    token = getattr(engine, "cache_token", None)
    return request.sound_key() + (f"|{token()}" if callable(token) else "")


def _stored(request: RenderRequest, engine: Any) -> bool:
    return request.envelope.duration > STORE_ABOVE_S and hasattr(engine, "render_chunks")


def render_to_file(request: RenderRequest, engine: Any, progress=None, cancel=None) -> AudioFile:
    """The engine's render, piece by piece, into a temporary file (never whole in memory)."""
    sr = int(request.sample_rate)
    out = AudioFile(int(round(request.envelope.duration * sr)), sr)
    try:
        for start, piece in engine.render_chunks(request.envelope, request.prompt, request.seed, sr,
                                                 progress=progress, cancel=cancel):
            out.write(start, piece)
    except BaseException:
        out.close()  # cancelled or failed: give the disk space back now
        raise
    return out


class RenderService:
    """Background renderer: one worker thread, latest request per track wins.

    Callbacks run on the worker thread; a UI hops to its own thread from there.
    """

    def __init__(
        self,
        engine_factory: EngineFactory,
        on_done: Callable[[RenderResult], None] | None = None,
        on_error: Callable[[str, BaseException], None] | None = None,
        on_progress: Callable[[str, float, str], None] | None = None,
    ) -> None:
        self._factory = engine_factory
        self._engines: dict[str, Any] = {}
        self.cache = RenderCache()
        self.on_done = on_done
        self.on_error = on_error
        self.on_progress = on_progress
        self._pending: OrderedDict[str, RenderRequest] = OrderedDict()
        self._running: tuple[str, Any] | None = None  # (track id, cancel token)
        self._cond = threading.Condition()
        self._stopping = False
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._work, name="foley-render", daemon=True)
        self._thread.start()

    # -- public -------------------------------------------------------------------------
    def engine(self, engine_id: str, params: dict | None = None) -> Any:
        key = json.dumps([engine_id, params or {}], sort_keys=True, default=str)
        if key not in self._engines:
            self._engines[key] = self._factory(engine_id, dict(params or {}))
        return self._engines[key]

    def render(self, request: RenderRequest, progress=None, cancel=None) -> RenderResult:
        """Synchronous render on the calling thread (shares the cache)."""
        engine = self.engine(request.engine_id, request.engine_params)
        return render_with_cache(request, engine, self.cache, progress, cancel)

    def submit(self, request: RenderRequest) -> None:
        """Queue a render; replaces a queued one and cancels a running one for that track."""
        with self._cond:
            self._pending.pop(request.track_id, None)
            self._pending[request.track_id] = request
            if self._running is not None and self._running[0] == request.track_id:
                self._running[1].cancel()
            self._idle.clear()
            self._cond.notify()

    def cancel(self, track_id: str | None = None) -> None:
        """Drop queued work and cancel the running render (for one track, or all)."""
        with self._cond:
            if track_id is None:
                self._pending.clear()
            else:
                self._pending.pop(track_id, None)
            if self._running is not None and track_id in (None, self._running[0]):
                self._running[1].cancel()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def shutdown(self, wait: bool = True) -> None:
        self.cancel()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if wait:
            self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # -- worker ---------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._idle.set()
                    self._cond.wait()
                if self._stopping:
                    self._idle.set()
                    return
                _, request = self._pending.popitem(last=False)
                token = CancelToken()
                self._running = (request.track_id, token)
            try:
                result = self.render(request, self._progress_for(request.track_id), token)
            except Cancelled:
                result = None
            except Exception as exc:  # reported, never kills the worker
                result = None
                if self.on_error is not None:
                    self.on_error(request.track_id, exc)
            with self._cond:
                self._running = None
            if result is not None and self.on_done is not None:
                self.on_done(result)

    def _progress_for(self, track_id: str):
        if self.on_progress is None:
            return None
        return lambda fraction, message: self.on_progress(track_id, fraction, message)
