"""A waveform for the timeline: min/max peaks, decimated to the screen, built off the GUI thread.

x is seconds, y is amplitude (-1..1) times `y_scale`. The item keeps a pyramid of peak
levels (blocks of 32, 128, 512, ... samples); each paint picks the level just finer than one
pixel, folds it to one column per pixel and fills the band between min and max. Painting
therefore costs the width of the view in pixels, whatever the clip length.

A clip's production sound is never held whole: `clip_peaks_job` decodes it piece by piece
(core.media_stream) into a PeakBuilder and hands the item partial peaks as it goes
(`begin` / `show_peaks`), so the waveform fills in from the left while an hour decodes.
The finest level's block grows with the length (at most MAX_BASE_BLOCKS blocks), so the
peaks of an hour at 48 kHz take ~15 MB.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QColor, QPainter

from foley_studio.core.audio import Audio

BASE_BLOCK = 32  # samples per peak at the finest level
LEVEL_FACTOR = 4
BACKGROUND_ABOVE_S = 10.0  # longer audio gets its peaks built on a worker thread
MAX_BASE_BLOCKS = 1 << 21  # finest-level blocks at most: bounds the peaks' memory
PARTIAL_EVERY_S = 0.5  # how often a streamed build shows what it has so far


def base_block_for(n_samples: int) -> int:
    """Finest block size for a signal this long: BASE_BLOCK, times 4 until it fits."""
    size = BASE_BLOCK
    while n_samples / size > MAX_BASE_BLOCKS:
        size *= LEVEL_FACTOR
    return size


def build_peaks(samples: np.ndarray, base_block: int = BASE_BLOCK) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """[(block size, mins, maxs), ...] from fine to coarse; the last block may be partial."""
    x = np.asarray(samples, dtype=np.float32)
    if len(x) == 0:
        return []
    pad = (-len(x)) % base_block
    # pad with the last value so a partial block gets no false zero peak
    blocks = np.concatenate([x, np.full(pad, x[-1], np.float32)]).reshape(-1, base_block)
    return _pyramid(base_block, blocks.min(axis=1), blocks.max(axis=1))


def _pyramid(base_block: int, lo: np.ndarray, hi: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    levels = [(base_block, lo, hi)]
    size = base_block
    while len(lo) > 1:
        pad = (-len(lo)) % LEVEL_FACTOR
        lo = np.concatenate([lo, np.full(pad, lo[-1])]).reshape(-1, LEVEL_FACTOR).min(axis=1)
        hi = np.concatenate([hi, np.full(pad, hi[-1])]).reshape(-1, LEVEL_FACTOR).max(axis=1)
        size *= LEVEL_FACTOR
        levels.append((size, lo, hi))
    return levels


class PeakBuilder:
    """Finest-level peaks of a signal that arrives in pieces; equal to build_peaks of the
    whole signal at the end, while holding only the peaks and one partial block."""

    def __init__(self, base_block: int = BASE_BLOCK):
        self.base_block = int(base_block)
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self._carry = np.zeros(0, np.float32)
        self.n_samples = 0

    def add(self, piece: np.ndarray) -> None:
        x = np.asarray(piece, dtype=np.float32)
        self.n_samples += len(x)
        if len(self._carry):
            x = np.concatenate([self._carry, x])
        whole = len(x) // self.base_block * self.base_block
        if whole:
            blocks = x[:whole].reshape(-1, self.base_block)
            self._lo.append(blocks.min(axis=1))
            self._hi.append(blocks.max(axis=1))
        self._carry = x[whole:].copy()

    def levels(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """The pyramid of everything added so far (the partial last block included)."""
        if len(self._lo) > 1:  # keep one array each, not thousands of small ones
            self._lo, self._hi = [np.concatenate(self._lo)], [np.concatenate(self._hi)]
        lo, hi = list(self._lo), list(self._hi)
        if len(self._carry):  # a partial last block, as build_peaks has it
            lo.append(self._carry.min(keepdims=True))
            hi.append(self._carry.max(keepdims=True))
        if not lo:
            return []
        return _pyramid(self.base_block, np.concatenate(lo), np.concatenate(hi))


HOLD_POLL_S = 0.1  # how often a held build looks at its cancel token


def clip_peaks_job(path: str, duration: float, hold: threading.Event | None = None):
    """A generator job (ui.background.Jobs): (levels, sample rate, complete) now and then
    while the clip's audio decodes piece by piece, the last one complete.

    While `hold` is set the decode waits between pieces: the editor sets it while the
    envelope is predicted, which on two cores loses a tenth of its speed to this decode."""
    from foley_studio.core.media_stream import audio_pieces

    def job(token, _progress):
        sr, pieces = audio_pieces(path)
        builder = PeakBuilder(base_block_for(int(duration * sr) + 1))
        shown = time.monotonic()
        try:
            for piece in pieces:
                token.check()
                while hold is not None and hold.is_set():
                    token.check()
                    time.sleep(HOLD_POLL_S)
                builder.add(piece)
                if time.monotonic() - shown > PARTIAL_EVERY_S:
                    yield builder.levels(), sr, False
                    shown = time.monotonic()
        finally:
            pieces.close()  # the decoder goes now, also when cancelled
        yield builder.levels(), sr, True

    return job


class WaveformItem(pg.GraphicsObject):
    """Peak waveform of one Audio. Call set_audio; `ready` fires when it can be drawn."""

    ready = Signal()
    _built = Signal(int, object)  # (generation, levels) from the worker thread

    def __init__(self, color: str | QColor = "#6fa8dc", y_scale: float = 1.0, parent=None):
        super().__init__(parent)
        self._color = QColor(color)
        self._y_scale = float(y_scale)
        self._samples = np.zeros(0, np.float32)
        self._sr = 1
        self._duration = 0.0
        self._complete = True
        self._levels: list = []
        self._generation = 0
        self._worker: threading.Thread | None = None
        self._built.connect(self._on_built)

    # --- data ------------------------------------------------------------------------------

    def set_audio(self, audio: Audio | None) -> None:
        self._generation += 1
        self.prepareGeometryChange()
        self._levels = []
        if audio is None or len(audio) == 0:
            self._samples, self._sr, self._duration, self._complete = np.zeros(0, np.float32), 1, 0.0, True
            self.update()
            return
        self._samples, self._sr = audio.samples, audio.sr
        self._duration, self._complete = audio.duration, False
        if audio.duration <= BACKGROUND_ABOVE_S:
            self._on_built(self._generation, build_peaks(self._samples))
            return
        self._join_worker()  # at most one build at a time; an old one is simply outdated
        generation, samples = self._generation, self._samples
        self._worker = threading.Thread(target=self._build, args=(generation, samples),
                                        name="foley-waveform-peaks", daemon=True)
        self._worker.start()
        self.update()

    def begin(self, duration: float) -> None:
        """Peaks for `duration` seconds will come through show_peaks (a streamed build)."""
        self._generation += 1
        self._join_worker()
        self.prepareGeometryChange()
        self._levels, self._samples = [], np.zeros(0, np.float32)
        self._duration, self._complete = max(float(duration), 0.0), False
        self.update()

    def show_peaks(self, levels, sr: int, complete: bool) -> None:
        """Partial (or, with complete, final) peaks of the streamed build."""
        self._sr = int(sr)
        self._levels = levels
        self._complete = bool(complete)
        self.update()
        if complete:
            self.ready.emit()

    def _build(self, generation: int, samples: np.ndarray) -> None:
        levels = build_peaks(samples)
        try:
            self._built.emit(generation, levels)  # queued to the GUI thread
        except RuntimeError:
            pass  # the item was deleted meanwhile: nobody wants the result

    def _on_built(self, generation: int, levels) -> None:
        if generation != self._generation:
            return
        self._levels = levels
        self._complete = True
        self.update()
        self.ready.emit()

    @property
    def is_ready(self) -> bool:
        return self._complete

    @property
    def duration(self) -> float:
        return self._duration

    def shutdown(self) -> None:
        """Wait for a running peak build (call before dropping the item in tests and on quit)."""
        self._generation += 1
        self._join_worker()

    def _join_worker(self) -> None:
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    # --- drawing ---------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return QRectF(0.0, -self._y_scale, max(self.duration, 1e-9), 2 * self._y_scale)

    def columns(self, t0: float, t1: float, pixels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, mins, maxs), about one column per pixel for the span t0..t1."""
        if not self._levels or pixels <= 0 or t1 <= t0:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        per_pixel = (t1 - t0) * self._sr / pixels
        size, lo, hi = self._levels[0]
        for level in self._levels:  # the coarsest level still finer than a pixel
            if level[0] <= per_pixel:
                size, lo, hi = level
        a = max(int(t0 * self._sr) // size, 0)
        b = min(int(np.ceil(t1 * self._sr / size)) + 1, len(lo))
        lo, hi = lo[a:b], hi[a:b]
        fold = max(int(per_pixel // size), 1)
        if fold > 1 and len(lo) >= fold:  # fold whole groups; the ragged end stays as is
            m = len(lo) // fold * fold
            lo = np.concatenate([lo[:m].reshape(-1, fold).min(axis=1), lo[m:]])
            hi = np.concatenate([hi[:m].reshape(-1, fold).max(axis=1), hi[m:]])
            starts = np.concatenate([np.arange(0, m, fold), np.arange(m, b - a)])
        else:
            starts = np.arange(len(lo))
        times = (a + starts) * size / self._sr
        return times, lo, hi

    def paint(self, painter: QPainter, option, widget=None) -> None:
        view = self.viewRect()
        pixel = self.pixelWidth()
        if view is None or not pixel or not self._levels:
            return
        t0, t1 = max(view.left(), 0.0), min(view.right(), self.duration)
        times, lo, hi = self.columns(t0, t1, int((t1 - t0) / pixel) + 1)
        if len(times) == 0:
            return
        # a band: along the maxima, back along the minima
        xs = np.concatenate([times, times[::-1]])
        ys = np.concatenate([hi, lo[::-1]]).astype(np.float64) * self._y_scale
        path = pg.arrayToQPath(xs, ys, connect="all")
        path.closeSubpath()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(pg.mkPen(self._color, width=0))  # cosmetic: one pixel at any zoom
        painter.setBrush(pg.mkBrush(self._color))
        painter.drawPath(path)
