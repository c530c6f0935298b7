"""The real-time half of playback: the play buffers, the audio callback and the transport clock.

Qt-free and device-free so tests can drive `callback` with fake arrays and a fake clock.

Threads and ownership (DESIGN.md, "Playback and threads"):
- The GUI thread calls play / pause / seek / position. It publishes requests as single
  attribute writes (a bool, or one tuple), which are atomic under the GIL.
- The audio thread runs `callback`. It only copies from the preallocated buffers (plus
  multiplies into preallocated scratch during a short crossfade), never blocks (the swap
  lock is only try-acquired), never logs and never touches Qt. Python still creates a few
  small scalar objects per call (floats, the clock tuple); no array is ever allocated.
- The mixer thread writes a whole new mix into the buffer the callback is not reading
  (`acquire_back`) and hands it over with `publish`; the callback swaps at a block
  boundary with a short equal-gain crossfade, so a re-render never clicks or stops.

The clock: while a device plays, position comes from the samples the callback has handed
to the device, corrected by the device's output delay (outputBufferDacTime - currentTime),
and interpolated between callbacks with the monotonic clock. Without a device ("free
running") the monotonic clock alone drives the transport.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

FADE_S = 0.015  # crossfade for swaps, seeks, play and pause: long enough to hide a jump
# Longer play buffers hold int16 (the callback scales while it copies): two float32 buffers
# of an hour at 48 kHz would take 1.4 GB, two int16 ones 0.7 GB. 16 bits is what the
# device gets from most mixers anyway; the export, not playback, carries the full depth.
COMPACT_ABOVE_S = 300.0
INT16_SCALE = 1.0 / 32767.0
MAX_BLOCK = 4096  # scratch length; a larger device block is rendered in pieces
STALE_FADE_S = 0.5  # a fade that makes no progress this long means the device stopped


class Transport:
    """Play buffers plus the transport state shared by the GUI, mixer and audio threads."""

    def __init__(self, sample_rate: int, n_samples: int = 0, *, device_driven: bool = False,
                 latency: float = 0.0, clock: Callable[[], float] = time.monotonic,
                 compact_above_s: float = COMPACT_ABOVE_S):
        self.sample_rate = int(sample_rate)
        self.compact_above_s = float(compact_above_s)
        self.device_driven = device_driven  # False: nothing calls `callback`; the clock is free running
        self._clock_fn = clock
        self._nominal_delay = float(latency)
        self._fade_len = max(1, int(round(FADE_S * self.sample_rate)))
        # raised-cosine ramps that sum to exactly 1: identical content crossfades to itself
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(self._fade_len) + 0.5) / self._fade_len)
        self._ramp_in = ramp.astype(np.float32)
        self._ramp_out = (1.0 - ramp).astype(np.float32)
        # the ramps with the int16 scale folded in: one multiply converts and fades
        self._ramps16 = ((ramp * INT16_SCALE).astype(np.float32), ((1.0 - ramp) * INT16_SCALE).astype(np.float32))
        self._mix = np.zeros(MAX_BLOCK, np.float32)
        self._tmp = np.zeros(MAX_BLOCK, np.float32)
        self._lock = threading.Lock()  # guards _front/_pending/fade source; callback never waits on it
        self._back_store: tuple = ()
        self._back_index = 1
        self._retired: tuple = ()  # old buffers stay referenced here so they are never freed on the audio thread
        self._alloc(int(n_samples))

        # GUI-thread state
        self._playing = False
        self._anchor = 0.0  # seconds: where play/seek/pause left the transport
        self._anchor_time = 0.0  # monotonic time of the anchor (free-running clock)
        self._last_reported = 0.0
        self._seek: tuple[int, int] = (0, 0)  # (generation, sample index), replaced as a whole
        # audio-thread state
        self._applied_gen = 0
        self._pos = 0
        self._sounding = False
        self._fade_left = 0
        self._fade_src = -1  # buffer index faded out, -1 = silence
        self._fade_src_pos = 0
        self._delay = self._nominal_delay
        self._clock: tuple | None = None  # (gen, block start, frames, block's DAC time on our clock)
        self._end_gen = -1  # generation whose play reached the end of the buffer
        self.callbacks = 0
        self.frames_played = 0  # frames handed to the device while sounding
        self.xruns = 0

    def set_latency(self, seconds: float) -> None:
        """The stream's nominal output latency, used when the host API gives no DAC time."""
        self._nominal_delay = float(seconds)
        self._delay = float(seconds)

    # --- buffers (mixer thread) ------------------------------------------------------------

    def _alloc(self, n: int) -> None:
        pad = MAX_BLOCK + self._fade_len  # zeros past the end: reads never need bounds checks
        # buffers, their length and how to read them travel as one tuple: the callback reads
        # a consistent set (buffers, n, scale (0: float32), ramp in, ramp out)
        if n > self.compact_above_s * self.sample_rate:
            bufs = (np.zeros(n + pad, np.int16), np.zeros(n + pad, np.int16))
            self._store = (bufs, n, np.float32(INT16_SCALE)) + self._ramps16
        else:
            bufs = (np.zeros(n + pad, np.float32), np.zeros(n + pad, np.float32))
            self._store = (bufs, n, 0.0, self._ramp_in, self._ramp_out)
        self._front = 0
        self._pending = -1

    @property
    def n_samples(self) -> int:
        return self._store[1]

    def resize(self, n_samples: int) -> None:
        """New, silent buffers of n_samples (the owner then mixes into them again)."""
        with self._lock:
            self._retired = self._store
            self._alloc(int(n_samples))
            self._fade_left = 0
            self._fade_src = -1

    def acquire_back(self) -> np.ndarray:
        """The buffer nobody is reading, for the mixer to overwrite completely.

        Waits (briefly) only while the callback is still crossfading out of it.
        """
        waited_since, callbacks_then = None, self.callbacks
        while True:
            with self._lock:
                bufs, n = self._store[:2]
                self._back_store = self._store
                if self._pending >= 0:  # handed over but not yet taken: take it back
                    self._back_index, self._pending = self._pending, -1
                    return bufs[self._back_index][:n]
                back = 1 - self._front
                busy = self.device_driven and self._fade_left > 0 and self._fade_src == back
                if busy and waited_since is not None and self.callbacks == callbacks_then \
                        and time.monotonic() - waited_since > STALE_FADE_S:
                    busy = False  # the device stopped mid-fade: nobody will read it again
                    self._fade_left = 0
                if not busy:
                    self._back_index = back
                    return bufs[back][:n]
            waited_since = waited_since or time.monotonic()
            time.sleep(0.001)

    def publish(self) -> bool:
        """Hand the buffer from acquire_back to the callback (or swap now when free running).

        False if the buffers were resized meanwhile: that mix is stale and is dropped.
        """
        with self._lock:
            if self._back_store is not self._store:
                return False
            if self.device_driven:
                self._pending = self._back_index
            else:
                self._front = self._back_index
            return True

    def front_samples(self) -> np.ndarray:
        """The mix being played (read-only view; for tests and waveform display)."""
        bufs, n = self._store[:2]
        view = bufs[self._front][:n]
        view.flags.writeable = False
        return view

    # --- transport (GUI thread) ------------------------------------------------------------

    @property
    def duration(self) -> float:
        return self.n_samples / self.sample_rate

    @property
    def playing(self) -> bool:
        return self._playing

    def play(self) -> None:
        if not self._playing:
            self._playing = True
            self._restart(self._anchor)

    def pause(self) -> None:
        if self._playing:
            self._anchor = self.position()
            self._playing = False

    def seek(self, t: float) -> None:
        t = min(max(float(t), 0.0), self.duration)
        if self._playing:
            self._restart(t)
        else:
            self._anchor = t

    def _restart(self, t: float) -> None:
        self._anchor = t
        self._anchor_time = self._clock_fn()
        self._last_reported = t
        index = min(int(round(t * self.sample_rate)), self.n_samples)
        self._seek = (self._seek[0] + 1, index)  # one write: the callback sees both or neither

    def reached_end(self) -> bool:
        """True once a play has run off the end; the caller then pauses at the end."""
        if not self._playing:
            return False
        if self.device_driven:
            return self._end_gen == self._seek[0] and self.position() >= self.duration
        return self.position() >= self.duration

    def position(self) -> float:
        """Seconds of the clip being heard now."""
        if not self._playing:
            return self._anchor
        now = self._clock_fn()
        if not self.device_driven:
            return min(self._anchor + (now - self._anchor_time), self.duration)
        clock = self._clock
        if clock is None or clock[0] != self._seek[0]:
            return self._anchor  # no block of this play has been handed to the device yet
        _, start, frames, dac_time = clock
        sr = self.sample_rate
        t = start / sr + (now - dac_time)
        # between callbacks interpolate, but never past what the device was given
        t = min(t, (start + frames) / sr)
        # the delay estimate jitters by a few ms: the transport never runs backwards
        t = max(t, self._anchor, self._last_reported)
        self._last_reported = t
        return min(t, self.duration)

    # --- audio thread ----------------------------------------------------------------------

    def callback(self, outdata, frames, time_info, status) -> None:
        """sounddevice OutputStream callback. Copies only; see the module docstring."""
        self.callbacks += 1
        if status:
            self.xruns += 1
        stamp = self._clock_fn()
        self._apply_requests()
        end = self._store[1]
        start = self._pos if self._pos < end else end
        sounding = self._sounding
        done = 0
        while done < frames:
            n = frames - done if frames - done < MAX_BLOCK else MAX_BLOCK
            self._render(outdata[done:done + n], n)
            done += n
        if sounding:
            self.frames_played += frames
            dac = time_info.outputBufferDacTime
            delay = dac - time_info.currentTime
            if dac == 0.0 or not 0.0 <= delay < 2.0:  # host API without timing: nominal latency
                delay = self._nominal_delay
            # not smoothed: a late callback finds less queued, so stamp + delay (the DAC time
            # of this block on our clock) is steady even when the callback time jitters
            self._delay = delay
            self._clock = (self._applied_gen, start, frames, stamp + delay)
            if start + frames >= end:
                self._end_gen = self._applied_gen

    def _apply_requests(self) -> None:
        playing = self._playing
        seek = self._seek
        if seek[0] != self._applied_gen:  # play or seek: crossfade from where we were
            self._applied_gen = seek[0]
            if playing:
                self._start_fade(self._front if self._sounding else -1, self._pos)
                self._pos = seek[1]
                self._sounding = True
        if self._sounding and not playing:  # pause: fade out, then silence
            self._start_fade(self._front, self._pos)
            self._sounding = False
        if self._pending >= 0 and self._fade_left == 0 and self._lock.acquire(False):
            try:
                if self._pending >= 0:
                    if self._sounding:
                        self._start_fade(self._front, self._pos)
                    self._front, self._pending = self._pending, -1
            finally:
                self._lock.release()

    def _start_fade(self, src: int, src_pos: int) -> None:
        self._fade_src = src
        self._fade_src_pos = src_pos
        self._fade_left = self._fade_len

    def _render(self, out, n: int) -> None:
        bufs, end, scale, ramp_in, ramp_out = self._store
        pos = self._pos if self._pos < end else end  # the buffers may just have been resized
        done = 0
        if self._fade_left > 0:
            m = n if n < self._fade_left else self._fade_left
            k = self._fade_len - self._fade_left
            mix = self._mix[:m]
            if self._sounding:
                np.multiply(bufs[self._front][pos:pos + m], ramp_in[k:k + m], out=mix)
            else:
                mix.fill(0.0)
            if self._fade_src >= 0:
                tmp = self._tmp[:m]
                sp = self._fade_src_pos if self._fade_src_pos < end else end
                np.multiply(bufs[self._fade_src][sp:sp + m], ramp_out[k:k + m], out=tmp)
                np.add(mix, tmp, out=mix)
                self._fade_src_pos = min(sp + m, end)
            out[:m] = mix[:, None]
            self._fade_left -= m  # only after the source was read: the mixer may take it now
            done = m
            if self._sounding:
                pos = min(pos + m, end)
        if done < n:
            if self._sounding:
                if scale:  # int16: scaled into the scratch, then out (n <= MAX_BLOCK)
                    mix = self._mix[:n - done]
                    np.multiply(bufs[self._front][pos:pos + n - done], scale, out=mix)
                    out[done:n] = mix[:, None]
                else:
                    out[done:n] = bufs[self._front][pos:pos + n - done, None]
                pos = min(pos + n - done, end)
            else:
                out[done:n] = 0.0
        self._pos = pos
