"""A waveform for the timeline: min/max peaks, decimated to the screen, built off the GUI thread.

x is seconds, y is amplitude (-1..1) times `y_scale`. The item keeps a pyramid of peak
levels (blocks of 32, 128, 512, ... samples); each paint picks the level just finer than one
pixel, folds it to one column per pixel and fills the band between min and max. Painting
therefore costs the width of the view in pixels, whatever the clip length.
"""

from __future__ import annotations

import threading

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QColor, QPainter

from foley_studio.core.audio import Audio

BASE_BLOCK = 32  # samples per peak at the finest level
LEVEL_FACTOR = 4
BACKGROUND_ABOVE_S = 10.0  # longer audio gets its peaks built on a worker thread


def build_peaks(samples: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """[(block size, mins, maxs), ...] from fine to coarse; the last block may be partial."""
    x = np.asarray(samples, dtype=np.float32)
    if len(x) == 0:
        return []
    pad = (-len(x)) % BASE_BLOCK
    # pad with the last value so a partial block gets no false zero peak
    blocks = np.concatenate([x, np.full(pad, x[-1], np.float32)]).reshape(-1, BASE_BLOCK)
    lo, hi = blocks.min(axis=1), blocks.max(axis=1)
    levels = [(BASE_BLOCK, lo, hi)]
    size = BASE_BLOCK
    while len(lo) > 1:
        pad = (-len(lo)) % LEVEL_FACTOR
        lo = np.concatenate([lo, np.full(pad, lo[-1])]).reshape(-1, LEVEL_FACTOR).min(axis=1)
        hi = np.concatenate([hi, np.full(pad, hi[-1])]).reshape(-1, LEVEL_FACTOR).max(axis=1)
        size *= LEVEL_FACTOR
        levels.append((size, lo, hi))
    return levels


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
            self._samples, self._sr = np.zeros(0, np.float32), 1
            self.update()
            return
        self._samples, self._sr = audio.samples, audio.sr
        if audio.duration <= BACKGROUND_ABOVE_S:
            self._on_built(self._generation, build_peaks(self._samples))
            return
        self._join_worker()  # at most one build at a time; an old one is simply outdated
        generation, samples = self._generation, self._samples
        self._worker = threading.Thread(target=self._build, args=(generation, samples),
                                        name="foley-waveform-peaks", daemon=True)
        self._worker.start()
        self.update()

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
        self.update()
        self.ready.emit()

    @property
    def is_ready(self) -> bool:
        return bool(self._levels) or len(self._samples) == 0

    @property
    def duration(self) -> float:
        return len(self._samples) / self._sr

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
