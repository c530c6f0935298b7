"""The timeline: filmstrip, original-audio waveform and the editable envelope, on one time axis.

Three pyqtgraph rows share x (seconds): thumbnails of the clip, the clip's own audio
(the WaveformItem of waveform.py, when given, its peaks streamed in the background) and
the selected track's envelope in dBFS (envelope_item.py). A draggable playhead crosses
all three; the axis reads time code.

Thumbnails are decoded in the background at small width, one per slot, by seeking (a
one-hour clip costs a few dozen seeks, not a decode of every frame), and added as they
arrive: an overview strip of at most MAX_THUMBS over the whole clip, and, once the view
is zoomed in so far that the overview's pictures would stretch, a detail strip decoded
for the visible range (replaced on the next zoom, so never more than MAX_THUMBS).

The timeline talks to the Document only: it shows the selected track's envelope, and
turns finished gestures and toolbar requests into one document edit each.
"""

from __future__ import annotations

import threading

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QVBoxLayout, QWidget

from foley_studio.core.envelope import from_dbfs
from foley_studio.core.errors import FoleyError
from foley_studio.ui.background import Jobs
from foley_studio.ui.document import Document
from foley_studio.ui.envelope_item import EnvelopeItem
from foley_studio.ui.envelope_toolbar import EnvelopeToolbar
from foley_studio.ui.envelope_tools import FLOOR_DB
from foley_studio.ui.lazy_import import envelope_ops as ops

THUMB_WIDTH = 96  # px: decoded this small, a whole clip's strip costs little memory
MAX_THUMBS = 60
# a thumbnail wider than this many times its natural width asks for a detail strip
STRETCH_LIMIT = 1.5
ZOOM_SETTLE_MS = 200  # the detail strip is decoded once the view has stopped moving
SEEK_GAP_S = 2.0  # a later slot closer than this is reached by decoding on, not seeking
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
    mediaFailed = Signal(str)  # the filmstrip or waveform could not be decoded (one line)

    def __init__(self, document: Document, jobs: Jobs, waveform_item=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc, self._jobs = document, jobs
        # set while a prediction runs: the production-audio waveform waits (waveform.py)
        self.background_hold = threading.Event()
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
        self._thumbs: list[pg.ImageItem] = []  # the overview strip
        self._detail: list[pg.ImageItem] = []  # the strip of the zoomed-in range, on top
        self._detail_range: tuple[float, float] | None = None
        self._strip_clip = None  # the clip whose filmstrip is shown
        self._thumb_step = 1.0
        self._zoom_settle = QTimer(self)
        self._zoom_settle.setSingleShot(True)
        self._zoom_settle.setInterval(ZOOM_SETTLE_MS)
        self._zoom_settle.timeout.connect(self._refresh_detail)
        self._clip = None
        self._setting_playhead = False
        self._set_limits(1.0)

        self.playhead.sigPositionChanged.connect(self._playhead_dragged)
        self.envelope_plot.getViewBox().sigXRangeChanged.connect(lambda *_: self._zoom_settle.start())
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
        self._jobs.cancel("thumbnails-detail")
        self._jobs.cancel("original-audio")
        self._clear(self._thumbs)
        self._clear(self._detail)
        self._detail_range = None
        self._clip = self._strip_clip = None  # a clip whose filmstrip is still to be loaded
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
        """Decode the current clip's overview filmstrip in the background (once per clip)."""
        clip, self._clip = self._clip, None
        if clip is None:
            return
        self._strip_clip = clip
        count = self._thumb_count(clip, self.duration)
        self._thumb_step = step = clip.duration / count
        times = [i * step for i in range(count)]
        self._jobs.start("thumbnails", _thumbnail_job(clip, times, step),
                         on_yield=lambda thumb: self._add_thumb(self._thumbs, thumb, 0),
                         on_error=self._media_error)
        self._refresh_detail()

    def load_waveform(self, clip) -> None:
        """Stream the clip's production-audio peaks into the waveform row, in the background."""
        if self.waveform_item is None or clip is None or not clip.info.has_audio:
            return
        from foley_studio.ui.waveform import clip_peaks_job

        try:
            check = getattr(clip, "check_unchanged", None)
            if check is not None:
                check()
        except FoleyError as exc:
            self._media_error(exc)
            return
        self.waveform_item.begin(clip.duration)
        self._jobs.start("original-audio", clip_peaks_job(clip.path, clip.duration, self.background_hold),
                         on_yield=lambda peaks: self.waveform_item.show_peaks(*peaks),
                         on_error=self._media_error)

    def _media_error(self, exc: BaseException) -> None:
        self.mediaFailed.emit(str(exc) or type(exc).__name__)

    def set_duration(self, seconds: float) -> None:
        self.duration = max(float(seconds), 1e-3)
        self.item.set_duration(self.duration)
        self.playhead.setBounds((0.0, self.duration))
        self._set_limits(self.duration)
        self.zoom("fit")

    def set_original_audio(self, audio) -> None:
        if self.waveform_item is not None:
            self.waveform_item.set_audio(audio)

    def _thumb_count(self, clip, span: float) -> int:
        """As many thumbnails as fit the strip at the clip's aspect ratio (no more than the
        frames in `span`)."""
        width_px = self.filmstrip.getViewBox().width() or 1200.0
        thumb_px = FILMSTRIP_HEIGHT * clip.info.width / max(clip.info.height, 1)
        frames = max(int(span * (clip.info.fps or 25.0)), 1)
        return int(np.clip(min(round(width_px / max(thumb_px, 1.0)), frames), 1, MAX_THUMBS))

    def _refresh_detail(self) -> None:
        """Decode a detail strip for the visible range when the overview would stretch."""
        clip = self._strip_clip
        if clip is None:
            return
        x0, x1 = self.envelope_plot.viewRange()[0]
        x0, x1 = max(x0, 0.0), min(x1, clip.duration)
        if x1 <= x0:
            return
        count = self._thumb_count(clip, x1 - x0)
        wanted = (x1 - x0) / count
        if self._thumb_step <= STRETCH_LIMIT * wanted:  # the overview is sharp enough here
            self._jobs.cancel("thumbnails-detail")
            self._clear(self._detail)
            self._detail_range = None
            return
        if self._detail_range is not None:
            d0, d1 = self._detail_range
            if d0 <= x0 and x1 <= d1 and (d1 - d0) <= STRETCH_LIMIT * (x1 - x0):
                return  # the current detail strip already covers this view sharply
        # slots on a grid of the wanted step, so panning reuses the same times
        first = math.floor(x0 / wanted)
        times = [k * wanted for k in range(first, first + count + 1) if k * wanted < clip.duration]
        self._detail_range = (times[0], min(times[-1] + wanted, clip.duration))
        self._clear(self._detail)
        self._jobs.start("thumbnails-detail", _thumbnail_job(clip, times, wanted),
                         on_yield=lambda thumb: self._add_thumb(self._detail, thumb, 1),
                         on_error=self._media_error)

    def _clear(self, items: list) -> None:
        for image in items:
            self.filmstrip.removeItem(image)
        items.clear()

    @property
    def thumbnail_count(self) -> int:
        return len(self._thumbs)

    @property
    def detail_thumbnails(self) -> list[tuple[float, float, np.ndarray]]:
        """(start, width, image) of the detail strip's pictures (tests, benchmarks)."""
        rects = [(item, item.mapRectToParent(item.boundingRect())) for item in self._detail]
        return [(r.x(), r.width(), item.image) for item, r in rects]

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

    def _add_thumb(self, strip: list, thumb, z: int) -> None:
        t, step, image = thumb
        item = pg.ImageItem(image, axisOrder="row-major")
        item.setCacheMode(CACHED)  # the moving playhead must not re-scale every picture
        item.setZValue(z)
        w = min(step, self.duration - t)
        item.setRect(t, 0.0, max(w, 1e-3), 1.0)
        self.filmstrip.addItem(item)
        strip.append(item)


def _thumbnail_job(clip, times: list[float], step: float):
    """A generator job: (t, step, RGB image) for each slot start in `times` (ascending),
    each the first frame at or after t. Far slots are reached by seeking (from the
    keyframe before them), near ones by decoding on."""

    def job(token, _progress):
        frames, last_t = None, -math.inf
        try:
            for target in times:
                token.check()
                if frames is None or target - last_t > SEEK_GAP_S:
                    if frames is not None:
                        frames.close()
                    frames = clip.frames(width=THUMB_WIDTH, gray=False, start=target)
                for frame in frames:
                    last_t = frame.t
                    if frame.t + 1e-6 >= target:
                        yield target, step, frame.image
                        break
                    token.check()
                else:
                    return  # past the last frame
        finally:
            if frames is not None:
                frames.close()

    return job
