"""The timeline: filmstrip, original-audio waveform and the editable envelope, on one time axis.

Three pyqtgraph rows share x (seconds): thumbnails of the clip (decoded in the
background at small width and added as they arrive), the clip's own audio (the
WaveformItem of waveform.py, when given) and the selected track's envelope in dBFS
(envelope_item.py). A draggable playhead crosses all three; the axis reads time code.

The timeline talks to the Document only: it shows the selected track's envelope, and
turns finished gestures and toolbar requests into one document edit each.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QVBoxLayout, QWidget

from foley_studio.core.envelope import from_dbfs
from foley_studio.ui.background import Jobs
from foley_studio.ui.document import Document
from foley_studio.ui.envelope_item import EnvelopeItem
from foley_studio.ui.envelope_toolbar import EnvelopeToolbar
from foley_studio.ui.envelope_tools import FLOOR_DB
from foley_studio.ui.lazy_import import envelope_ops as ops

THUMB_WIDTH = 96  # px: decoded this small, a whole clip's strip costs little memory
MAX_THUMBS = 60
FILMSTRIP_HEIGHT = 56  # px
AXIS_WIDTH = 52
PLAYHEAD_PEN = pg.mkPen("#ff5050", width=2)
CACHED = pg.GraphicsObject.CacheMode.DeviceCoordinateCache


def timecode(t: float, fps: float) -> str:
    """MM:SS:FF at the clip's frame rate (MM:SS.mmm without a clip)."""
    t = max(t, 0.0)
    minutes, seconds = divmod(t, 60.0)
    if fps <= 0:
        return f"{int(minutes):02d}:{seconds:06.3f}"
    whole = int(seconds + 1e-9)
    frame = int(round((seconds - whole) * fps + 1e-6))
    if frame >= round(fps):
        whole, frame = whole + 1, 0
    return f"{int(minutes):02d}:{whole:02d}:{frame:02d}"


class TimecodeAxis(pg.AxisItem):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fps = 0.0

    def tickStrings(self, values, scale, spacing):
        fps = self.fps if spacing >= 1.0 / max(self.fps, 1e-9) else 0.0  # frames finer than ticks
        return [timecode(v, fps) for v in values]


def _row(plot: pg.PlotItem, height: int | None) -> pg.PlotItem:
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.getAxis("left").setWidth(AXIS_WIDTH)
    for name in ("left", "bottom"):
        # an axis replays its ticks, labels and grid lines (a QPicture) on every repaint of
        # any part of it; with the grid on it spans the plot, so the playhead's 30 Hz
        # updates replayed it all (~10% of a core). A pixmap blit is ~20x cheaper, and the
        # axis still invalidates the pixmap itself whenever its range changes.
        plot.getAxis(name).setCacheMode(CACHED)
    plot.setMouseEnabled(x=True, y=False)
    if height is not None:
        plot.setFixedHeight(height)
        plot.hideAxis("bottom")
        plot.getAxis("left").setStyle(showValues=False)
    return plot


class Timeline(QWidget):
    seekRequested = Signal(float)  # the user dragged the playhead (seconds)

    def __init__(self, document: Document, jobs: Jobs, waveform_item=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc, self._jobs = document, jobs
        self.fps = 0.0
        self.duration = 1.0
        self.toolbar = EnvelopeToolbar(self)
        self.view = pg.GraphicsLayoutWidget(self)
        self.view.ci.layout.setSpacing(0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.view, 1)

        self.axis = TimecodeAxis(orientation="bottom")
        self.filmstrip = _row(self.view.addPlot(row=0, col=0), FILMSTRIP_HEIGHT)
        self.filmstrip.getViewBox().invertY(True)  # image rows run downwards
        self.filmstrip.setYRange(0, 1, padding=0)
        self.waveform = _row(self.view.addPlot(row=1, col=0), 56)
        self.waveform.setYRange(-1, 1, padding=0.05)
        self.envelope_plot = _row(self.view.addPlot(row=2, col=0, axisItems={"bottom": self.axis}), None)
        self.envelope_plot.setLabel("left", "dBFS")
        self.envelope_plot.setYRange(FLOOR_DB, 3.0, padding=0)
        self.envelope_plot.showGrid(x=True, y=True, alpha=0.15)
        for row in (self.filmstrip, self.waveform):
            row.setXLink(self.envelope_plot)
        self.waveform_item = waveform_item
        if waveform_item is not None:
            waveform_item.setCacheMode(CACHED)  # see _add_thumb
            self.waveform.addItem(waveform_item)

        self.item = EnvelopeItem()
        self.envelope_plot.addItem(self.item)
        self.playhead = pg.InfiniteLine(0.0, movable=True, pen=PLAYHEAD_PEN)
        self.playhead.setZValue(100)
        self.envelope_plot.addItem(self.playhead)
        self._playhead_rows = [pg.InfiniteLine(0.0, pen=PLAYHEAD_PEN) for _ in range(2)]
        for line, row in zip(self._playhead_rows, (self.filmstrip, self.waveform)):
            line.setZValue(100)
            row.addItem(line)
        self._thumbs: list[pg.ImageItem] = []
        self._clip = None
        self._setting_playhead = False
        self._set_limits(1.0)

        self.playhead.sigPositionChanged.connect(self._playhead_dragged)
        self.item.sigEditFinished.connect(self._commit_gesture)
        self.toolbar.toolChanged.connect(self.item.set_tool)
        self.toolbar.snapToggled.connect(self._set_snap)
        self.toolbar.scaleRequested.connect(lambda db: self._span_op("Scale span", ops.scale_db, db))
        self.toolbar.smoothRequested.connect(
            lambda: self._span_op("Smooth", ops.smooth, self.item.settings.smooth_frames))
        self.toolbar.gateRequested.connect(
            lambda db: self._span_op("Gate", ops.gate, float(from_dbfs(np.float64(db), FLOOR_DB))))
        self.toolbar.eraseRequested.connect(lambda: self._span_op("Erase", ops.erase))
        self.toolbar.zoomRequested.connect(self.zoom)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.item.cancel)

        document.selectionChanged.connect(lambda _tid: self.refresh_envelope())
        document.envelopeChanged.connect(self._envelope_changed)
        document.projectReset.connect(self.refresh_envelope)
        document.trackRemoved.connect(lambda _tid: self.refresh_envelope())
        self.refresh_envelope()

    # -- clip ----------------------------------------------------------------------------
    def set_clip(self, clip, load_thumbnails: bool = True) -> None:
        """Show a clip's length, frame rate and filmstrip (None: no clip).

        load_thumbnails=False leaves decoding the filmstrip to a later load_thumbnails()."""
        self._jobs.cancel("thumbnails")
        for image in self._thumbs:
            self.filmstrip.removeItem(image)
        self._thumbs.clear()
        self._clip = None  # a clip whose filmstrip is still to be loaded
        if clip is None:
            self.fps = 0.0
            return
        self.fps = float(clip.info.fps or 0.0)
        self.axis.fps = self.fps
        self.item.settings.fps = self.fps
        self.set_duration(clip.duration)
        self._clip = clip
        if load_thumbnails:
            self.load_thumbnails()

    def load_thumbnails(self) -> None:
        """Decode the current clip's filmstrip in the background (once per clip)."""
        clip, self._clip = self._clip, None
        if clip is None:
            return
        step = clip.duration / self._thumb_count(clip)
        self._thumb_step = step
        self._jobs.start("thumbnails", _thumbnail_job(clip, step), on_yield=self._add_thumb)

    def set_duration(self, seconds: float) -> None:
        self.duration = max(float(seconds), 1e-3)
        self.item.set_duration(self.duration)
        self.playhead.setBounds((0.0, self.duration))
        self._set_limits(self.duration)
        self.zoom("fit")

    def set_original_audio(self, audio) -> None:
        if self.waveform_item is not None:
            self.waveform_item.set_audio(audio)

    def _thumb_count(self, clip) -> int:
        """As many thumbnails as fit the strip at the clip's aspect ratio (when zoomed out)."""
        width_px = self.filmstrip.getViewBox().width() or 1200.0
        thumb_px = FILMSTRIP_HEIGHT * clip.info.width / max(clip.info.height, 1)
        return int(np.clip(round(width_px / max(thumb_px, 1.0)), 4, MAX_THUMBS))

    @property
    def thumbnail_count(self) -> int:
        return len(self._thumbs)

    # -- playhead and view ---------------------------------------------------------------
    def set_playhead(self, t: float, follow: bool = False) -> None:
        self._setting_playhead = True
        try:
            self.playhead.setValue(t)
            for line in self._playhead_rows:
                line.setValue(t)
        finally:
            self._setting_playhead = False
        if follow:
            x0, x1 = self.envelope_plot.viewRange()[0]
            if not x0 <= t <= x1:  # page along with playback
                width = x1 - x0
                self.envelope_plot.setXRange(t - 0.1 * width, t + 0.9 * width, padding=0)

    def zoom(self, how: str) -> None:
        vb = self.envelope_plot.getViewBox()
        if how == "fit":
            self.envelope_plot.setXRange(0.0, self.duration, padding=0)
            return
        factor = 0.5 if how == "in" else 2.0
        vb.scaleBy(x=factor, center=(self.playhead.value(), 0.0))

    # -- document ------------------------------------------------------------------------
    def refresh_envelope(self) -> None:
        track = self.doc.selected_track()
        if track is None or len(track.envelope) == 0:
            self.item.set_envelope(None)
            return
        self.item.set_envelope(track.envelope.values, track.envelope.rate)

    def _envelope_changed(self, track_id: str, _start: int, _end: int) -> None:
        if track_id == self.doc.selected_track_id:
            self.refresh_envelope()

    def _commit_gesture(self, label: str, values) -> None:
        track = self.doc.selected_track()
        if track is not None:
            self.doc.edit_envelope(track.id, values, label)

    def _span_op(self, label: str, op, *args) -> None:
        """A toolbar op on the selected span (or the whole track when nothing is selected)."""
        track = self.doc.selected_track()
        if track is None or not len(track.envelope):
            return
        span = self.item.selection_frames() or (0, len(track.envelope))
        self.doc.apply_envelope_op(track.id, label, op, span, *args)

    def _set_snap(self, on: bool) -> None:
        self.item.settings.snap = on

    # -- internals -----------------------------------------------------------------------
    def _set_limits(self, duration: float) -> None:
        self.envelope_plot.setLimits(xMin=0.0, xMax=duration, minXRange=min(0.05, duration),
                                     yMin=FLOOR_DB - 2.0, yMax=6.0)

    def _playhead_dragged(self) -> None:
        t = float(np.clip(self.playhead.value(), 0.0, self.duration))
        for line in self._playhead_rows:
            line.setValue(t)
        if not self._setting_playhead:
            self.seekRequested.emit(t)

    def _add_thumb(self, thumb) -> None:
        t, image = thumb
        item = pg.ImageItem(image, axisOrder="row-major")
        item.setCacheMode(CACHED)  # the moving playhead must not re-scale every picture
        w = min(self._thumb_step, self.duration - t)
        item.setRect(t, 0.0, max(w, 1e-3), 1.0)
        self.filmstrip.addItem(item)
        self._thumbs.append(item)


def _thumbnail_job(clip, step: float):
    """A generator job: one (t, RGB image) per `step` seconds, decoded in one pass."""

    def job(token, _progress):
        next_t = 0.0
        for frame in clip.frames(width=THUMB_WIDTH, gray=False):
            token.check()
            if frame.t + 1e-6 >= next_t:
                yield frame.t, frame.image
                next_t = (math.floor(frame.t / step + 1e-6) + 1) * step

    return job
