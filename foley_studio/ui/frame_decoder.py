"""Decoded frames for the video view: a cache keyed by timestamp and the background thread
that fills it around the playhead (core.media frames, already scaled to the widget).

Split from video_view.py, which draws them; nothing here paints.
"""

from __future__ import annotations

import bisect
import math
import threading

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from foley_studio.core.errors import FoleyError

PREFETCH_S = 0.5  # decode this far past the playhead so playback finds frames ready
REUSE_S = 1.0  # a request this far ahead of the decoder is reached by decoding on, not seeking
CACHE_BYTES = 48 * 1024 * 1024


class FrameCache:
    """Decoded frames by timestamp. Each knows the next frame's time in the stream, so a lookup
    can tell "the right frame" from "an earlier one that happens to be cached"."""

    def __init__(self, budget: int = CACHE_BYTES):
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._frames: dict[float, list] = {}  # t -> [QImage, next_t or None]
        self._bytes = 0
        self._budget = budget
        self._frame_bytes = 1
        self._epoch = 0  # frames decoded for an older clip or width are refused

    @property
    def capacity(self) -> int:
        """How many frames of the current size fit the budget."""
        return max(self._budget // self._frame_bytes, 2)

    def clear(self, epoch: int) -> None:
        with self._lock:
            self._times, self._frames, self._bytes, self._epoch = [], {}, 0, epoch

    def add(self, epoch: int, t: float, image: QImage, previous: float | None, keep_near: float) -> None:
        with self._lock:
            if epoch != self._epoch:
                return
            if t not in self._frames:
                bisect.insort(self._times, t)
                self._frames[t] = [image, None]
                self._bytes += image.sizeInBytes()
                self._frame_bytes = max(image.sizeInBytes(), 1)
            if previous is not None and previous in self._frames:
                self._frames[previous][1] = t
            while self._bytes > self._budget and len(self._times) > 1:
                far = max((self._times[0], self._times[-1]), key=lambda x: abs(x - keep_near))
                self._times.remove(far)
                self._bytes -= self._frames.pop(far)[0].sizeInBytes()

    def mark_last(self, t: float) -> None:
        with self._lock:  # no frame follows t: end of stream, or undecodable beyond
            if t in self._frames:
                self._frames[t][1] = math.inf

    def lookup(self, t: float) -> tuple[float, QImage, bool] | None:
        """(frame time, image, exact) for the latest cached frame <= t (or the first one)."""
        with self._lock:
            if not self._times:
                return None
            i = bisect.bisect_right(self._times, t) - 1
            if i < 0:  # before the first cached frame: exact only if it is the clip's first
                first = self._times[0]
                return first, self._frames[first][0], first <= 1e-6 and t < first
            ft = self._times[i]
            image, next_t = self._frames[ft]
            return ft, image, next_t is not None and t < next_t

    def covered_until(self, t: float) -> tuple[float, int]:
        """(time of the first missing frame after t (inf: none), frames cached from t to it)."""
        with self._lock:
            i = bisect.bisect_right(self._times, t) - 1
            if i < 0:
                return t, 0
            cur, count = self._times[i], 1
            while True:
                next_t = self._frames[cur][1]
                if next_t is None or next_t not in self._frames:
                    return (next_t if next_t is not None else cur), count
                cur, count = next_t, count + 1


class FrameDecoder(QObject):
    """Background thread that keeps the cache filled from the wanted time to PREFETCH_S past it."""

    decoded = Signal()  # emitted on the decoder thread, delivered on the GUI thread
    failed = Signal(object, str)  # (clip, one-line reason), also from the decoder thread

    def __init__(self, cache: FrameCache):
        super().__init__()
        self._cache = cache
        self._cond = threading.Condition()
        self._clip = None
        self._width = 0
        self._epoch = 0  # bumped by a new clip or width: the open decoder is then stale
        self._wanted: float | None = None
        self._stopping = False
        self._failed_epoch = -1
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="foley-video-decoder", daemon=True)
        self._thread.start()

    def set_source(self, clip, width: int) -> None:
        with self._cond:
            self._clip, self._width, self._wanted = clip, width, None
            self._epoch += 1
            self.error = None
            self._cache.clear(self._epoch)
            self._cond.notify_all()

    def request(self, t: float) -> None:
        with self._cond:
            self._wanted = t
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _todo(self) -> float | None:
        """The time the cache must reach next, or None when it is full enough."""
        if self._clip is None or self._wanted is None or self._failed_epoch == self._epoch:
            return None
        if not (self._cache.lookup(self._wanted) or (0, 0, False))[2]:
            return self._wanted
        reach, count = self._cache.covered_until(self._wanted)
        # stop at half the cache: big frames must not evict the ones just prefetched
        return reach if reach < self._wanted + PREFETCH_S and count < self._cache.capacity // 2 else None

    def _run(self) -> None:
        frames, epoch, last_t = None, -1, None
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._todo() is not None)
                if self._stopping:
                    break
                need, wanted = self._todo(), self._wanted
                clip, width = self._clip, self._width
                stale = epoch != self._epoch
                epoch = self._epoch
            if stale or frames is None or last_t is None or not last_t <= need < last_t + REUSE_S:
                if frames is not None:
                    frames.close()
                frames, last_t = self._open(clip, width, need, epoch)
                if frames is None:
                    continue
            try:
                frame = next(frames)
            except StopIteration:
                frame = None
            except FoleyError as exc:  # corrupt data: keep what decoded, stop reading here
                self._fail(clip, exc)
                frame = None
            if frame is None:
                if last_t is not None:
                    self._cache.mark_last(last_t)
                frames, last_t = None, None
                self._notify()
                continue
            self._cache.add(epoch, frame.t, _to_qimage(frame.image), last_t, keep_near=wanted)
            last_t = frame.t
            self._notify()
        if frames is not None:
            frames.close()

    def _open(self, clip, width: int, wanted: float, epoch: int):
        """A frame iterator positioned at the frame shown at `wanted`; (None, None) on failure."""
        start = max(wanted - 1.5 / (clip.info.fps or 25.0), 0.0)
        while True:
            frames, first = None, None
            try:
                frames = clip.frames(width=width, gray=False, start=start)
                first = next(frames, None)
            except FoleyError as exc:
                self._fail(clip, exc)
            if first is not None and (first.t <= wanted + 1e-6 or start == 0.0):
                self._cache.add(epoch, first.t, _to_qimage(first.image), None, keep_near=wanted)
                self._notify()
                return frames, first.t
            if frames is not None:
                frames.close()
            if start == 0.0 or self.error:  # nothing decodable at all: do not retry this clip
                with self._cond:
                    self._failed_epoch = epoch
                self._notify()
                return None, None
            start = max(start - REUSE_S, 0.0)  # a gap before `wanted` (VFR, or past the end)

    def _fail(self, clip, exc: FoleyError) -> None:
        self.error = str(exc)
        try:
            self.failed.emit(clip, self.error)
        except RuntimeError:
            pass  # the view was deleted while we decoded

    def _notify(self) -> None:
        try:
            self.decoded.emit()
        except RuntimeError:
            pass  # the view was deleted while we decoded


def _to_qimage(rgb) -> QImage:
    # rows of a width whose 3*w bytes are not a multiple of FFmpeg's line alignment come
    # padded (a strided view); QImage wants plain rows
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    # copy(): the QImage must own its pixels once the numpy array is gone
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
