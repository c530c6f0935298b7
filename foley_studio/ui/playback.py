"""Playback: the editor's transport. Tracks in, a mixed play buffer out, the device clock as time.

`Playback` is the Qt face (signals, play/pause/seek, position). The work is split so that
nothing heavy runs on the GUI or audio threads:
- `TrackMixer` (its own thread) resamples each track's render to the device rate, mixes all
  audible tracks with their gains into the transport's spare buffer, and hands it over;
  the audio callback swaps it in at a block boundary with a short crossfade. It mixes a
  block at a time, reading each render (an Audio, or an AudioFile for a long track) only
  there, so an hour-long clip costs the play buffers (int16 for long clips) and a block.
  A span re-render of a stored track (AudioFile.with_patch) is mixed over a copy of the
  last mix, its span only: an edit of an hour-long clip is heard in a fraction of a second.
- `Transport` (transport.py) holds the buffers, the callback and the clock.
- `AudioOutput` (audio_output.py) finds and opens the device, or says why there is none.
"""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from foley_studio.core.audio import Audio
from foley_studio.core.audio_store import AnyAudio, AudioFile, store
from foley_studio.ui.audio_output import DEFAULT, AudioOutput
from foley_studio.ui.transport import Transport

END_POLL_MS = 40  # how soon "reached the end" turns into stateChanged(False)
ORIGINAL = "\0original"  # key of the clip's production sound among the mixer's sources
MIX_BLOCK = 1 << 16  # samples mixed per step (~1.4 s at 48 kHz)


def db_to_gain(db: float) -> float:
    return float(10.0 ** (float(db) / 20.0))


class TrackMixer:
    """Background mixing into the transport's spare buffer; the newest state always wins.

    Every setter only records the wish and wakes the thread, so it costs the caller
    microseconds however long the clip. Several changes that arrive while a mix runs are
    folded into the next one.
    """

    def __init__(self, transport: Transport, on_mixed=None):
        self._transport = transport
        self._on_mixed = on_mixed
        self._cond = threading.Condition()
        self._incoming: dict[str, AnyAudio | None] = {}  # raw audio waiting to be resampled; None removes
        self._gains_db: dict[str, float] = {}
        self._audible: set[str] | None = None  # None: every track plays
        self._duration: float | None = None
        self._submitted = 0
        self._done = 0
        self._stopping = False
        # mixer-thread state: sources at the device rate
        self._sources: dict[str, AnyAudio] = {}
        self._block = np.zeros(MIX_BLOCK, np.float32)
        # play buffers (by id) this mixer has written: a fresh one is all zeros already, and
        # leaving it untouched keeps its pages out of memory until there is sound to mix
        self._written: set[int] = set()
        # (buffer, gains, audible, duration) of the last mix handed over: a span edit of a
        # stored track re-mixes only its span over a copy of it (an hour takes 2 s to mix)
        self._last: tuple | None = None
        self.last_range: tuple[int, int] | None = None  # what the last mix wrote (tests)
        self._thread = threading.Thread(target=self._run, name="foley-playback-mixer", daemon=True)
        self._thread.start()

    # --- requests (any thread) -------------------------------------------------------------

    def _submitted_change(self) -> None:
        self._submitted += 1  # caller holds self._cond
        self._cond.notify_all()

    def set_source(self, key: str, audio: AnyAudio | None) -> None:
        with self._cond:
            self._incoming[key] = audio
            self._submitted_change()

    def set_params(self, gains_db: dict[str, float], audible: set[str] | None) -> None:
        with self._cond:
            original = self._gains_db.get(ORIGINAL)
            self._gains_db = {k: float(v) for k, v in gains_db.items()}
            if original is not None:
                self._gains_db[ORIGINAL] = original
            self._audible = None if audible is None else set(audible)
            self._submitted_change()

    def set_gain(self, key: str, gain_db: float) -> None:
        with self._cond:
            self._gains_db[key] = float(gain_db)
            self._submitted_change()

    def set_duration(self, seconds: float | None) -> None:
        with self._cond:
            self._duration = seconds
            self._submitted_change()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """True once everything submitted so far is in the play buffer."""
        with self._cond:
            return self._cond.wait_for(lambda: self._done >= self._submitted or self._stopping,
                                       timeout)

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()

    # --- mixer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._done < self._submitted)
                if self._stopping:
                    return
                target = self._submitted
                incoming, self._incoming = self._incoming, {}
                gains, audible, duration = dict(self._gains_db), self._audible, self._duration
            span = self._patched_span(incoming, gains, audible, duration)
            self._take_sources(incoming)
            while not self._mix(gains, audible, duration, span):
                pass  # the buffers were resized under us (a new duration): mix again
            with self._cond:
                self._done = target
                self._cond.notify_all()
            if self._on_mixed is not None:
                self._on_mixed()

    def _take_sources(self, incoming: dict[str, AnyAudio | None]) -> None:
        sr = self._transport.sample_rate
        for key, audio in incoming.items():
            if audio is None:
                self._sources.pop(key, None)
            elif audio.sr == sr:
                self._sources[key] = audio
            elif isinstance(audio, Audio):
                self._sources[key] = audio.resampled(sr)
            else:  # a long track on disk: resampled piece by piece into another file
                self._sources[key] = store(audio, sr)

    def _patched_span(self, incoming, gains, audible, duration) -> tuple[int, int] | None:
        """The samples [a, b) that alone changed since the last mix, when the one change is
        a stored track patched by a span re-render (AudioFile.with_patch); else None."""
        if self._last is None or len(incoming) != 1 or self._last[1:] != (gains, audible, duration):
            return None
        (key, new), = incoming.items()
        old = self._sources.get(key)
        if not isinstance(new, AudioFile) or not isinstance(old, AudioFile) \
                or new.sr != self._transport.sample_rate:
            return None
        return new.patched_since(old)

    def _mix(self, gains: dict[str, float], audible, duration: float | None,
             span: tuple[int, int] | None = None) -> bool:
        transport = self._transport
        if duration is not None and duration > 0:
            n = int(round(duration * transport.sample_rate))
        else:  # no clip length given: long enough for the longest source
            n = max((len(x) for x in self._sources.values()), default=0)
        if n != transport.n_samples:
            transport.resize(n)
        back = transport.acquire_back()
        n = len(back)
        playing = [(src, np.float32(db_to_gain(gains.get(key, 0.0))))
                   for key, src in self._sources.items()
                   if key == ORIGINAL or audible is None or key in audible]
        # a render never written (a silent track of a long clip) needs no reading
        playing = [(src, gain) for src, gain in playing if gain != 0.0 and not getattr(src, "silent", False)]
        whole = back.base if back.base is not None else back
        lo, hi = 0, n
        last = self._last[0] if self._last is not None else None
        if span is not None and last is not None and len(last) == len(whole) and last.dtype == whole.dtype:
            if last is not whole:  # the other buffer: start from the last mix
                np.copyto(back, last[:n])
            lo, hi = max(0, min(span[0], n)), max(0, min(span[1], n))
        elif not playing and id(whole) not in self._written:
            return self._published(transport, whole, (0, 0), gains, audible, duration)
        self._written.add(id(whole))
        compact = back.dtype == np.int16
        for a in range(lo, hi, MIX_BLOCK):
            m = min(MIX_BLOCK, hi - a)
            block = self._block[:m]
            block.fill(0.0)
            for src, gain in playing:
                if a >= len(src):
                    continue
                x = src.samples[a:a + m] if isinstance(src, Audio) else src.read(a, m)
                k = len(x)
                if gain == 1.0:
                    np.add(block[:k], x, out=block[:k])
                else:
                    block[:k] += x * gain
            if compact:
                np.clip(block, -1.0, 1.0, out=block)
                np.multiply(block, 32767.0, out=block)
                np.rint(block, out=block)
                back[a:a + m] = block
            else:
                back[a:a + m] = block
        return self._published(transport, whole, (lo, hi), gains, audible, duration)

    def _published(self, transport, whole, written, gains, audible, duration) -> bool:
        if not transport.publish():
            return False
        self._last = (whole, gains, audible, duration)
        self.last_range = written
        return True


class Playback(QObject):
    """Play / pause / seek over the mixed tracks; position() is the transport clock.

    Gains (set_mix_params, set_original_audio) are in dB, like Track.gain_db.
    Call close() when done (it is also called when the application quits).
    """

    stateChanged = Signal(bool)  # playing or not
    positionJumped = Signal(float)  # after seek: the new position in seconds
    mixReady = Signal()  # a new mix has been handed to the audio thread

    def __init__(self, parent: QObject | None = None, *, device=DEFAULT,
                 sample_rate: int | None = None):
        super().__init__(parent)
        self._output = AudioOutput(device, sample_rate)
        self._transport = Transport(self._output.sample_rate, device_driven=self._output.has_device)
        if self._output.has_device:
            # the transport must know who drives it before the mixer hands over any buffer
            self._transport.device_driven = self._output.start(self._transport.callback)
            self._transport.set_latency(self._output.latency)
        self._duration: float | None = None
        self._closed = False
        self._mixer = TrackMixer(self._transport, on_mixed=self.mixReady.emit)
        self._end_timer = QTimer(self)
        self._end_timer.setInterval(END_POLL_MS)
        self._end_timer.timeout.connect(self._check_end)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.close)

    # --- content ---------------------------------------------------------------------------

    def set_track_audio(self, track_id: str, audio: AnyAudio) -> None:
        """A track's (new) render; crossfaded into the playing buffer, never stopping it."""
        self._mixer.set_source(track_id, audio)

    def remove_track(self, track_id: str) -> None:
        self._mixer.set_source(track_id, None)

    def set_mix_params(self, gains: dict[str, float], audible: set[str] | None) -> None:
        """gains: track id -> gain in dB (missing = 0 dB); audible: ids that play (None = all)."""
        self._mixer.set_params(gains, audible)

    def set_original_audio(self, audio: Audio | None, gain: float = 0.0) -> None:
        """The clip's production sound as a monitor (gain in dB); None turns it off."""
        self._mixer.set_gain(ORIGINAL, gain)
        self._mixer.set_source(ORIGINAL, audio)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every change so far is in the play buffer (tests, screenshots)."""
        return self._mixer.wait_idle(timeout)

    @property
    def duration(self) -> float:
        return self._duration if self._duration is not None else self._transport.duration

    @duration.setter
    def duration(self, seconds: float) -> None:
        self._duration = max(0.0, float(seconds))
        # resize now so seek() clamps to the new length at once; the mixer refills it
        self._transport.resize(int(round(self._duration * self._transport.sample_rate)))
        self._mixer.set_duration(self._duration)

    # --- transport -------------------------------------------------------------------------

    @property
    def is_playing(self) -> bool:
        return self._transport.playing

    @property
    def has_device(self) -> bool:
        return self._transport.device_driven

    @property
    def device_status(self) -> str:
        return self._output.status

    @property
    def transport(self) -> Transport:
        return self._transport

    def position(self) -> float:
        return self._transport.position()

    def play(self) -> None:
        if self._closed or self._transport.playing:
            return
        if self._transport.position() >= self._transport.duration - 1e-6:
            self.seek(0.0)  # play at the end starts over, as every player does
        self._transport.play()
        self._end_timer.start()
        self.stateChanged.emit(True)

    def pause(self) -> None:
        if not self._transport.playing:
            return
        self._transport.pause()
        self._end_timer.stop()
        self.stateChanged.emit(False)

    def toggle(self) -> None:
        self.pause() if self._transport.playing else self.play()

    def seek(self, t: float) -> None:
        self._transport.seek(t)
        self.positionJumped.emit(self._transport.position())

    def _check_end(self) -> None:
        if self._transport.reached_end():
            self.pause()

    def close(self) -> None:
        """Stop playing and join the audio and mixer threads. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._end_timer.stop()
        self._transport.pause()
        self._output.close()
        self._mixer.close()
