"""The editable envelope curve on the timeline (a pyqtgraph item).

Values are stored linear; the curve is drawn in dBFS (core.envelope.to_dbfs, floored at
FLOOR_DB) because that is how loudness is read and drawn by ear. The item lives in the
plot's view box, so its coordinates are the plot's data coordinates: x in seconds, y in dB.

It follows pyqtgraph's editable-item pattern:
  press + move   -> sigEditStarted, then sigEditChanged(preview) on every move: the
                    curve shows the preview, the document is not touched;
  release        -> sigEditFinished(label, values): the owner makes that ONE undo step
                    (and the render controller re-renders because the document changed);
  right-click or Esc during the drag -> the preview is dropped, sigEditCancelled.
What each tool does with the mouse is in envelope_tools.py.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal

from foley_studio.core.envelope import to_dbfs
from foley_studio.core.rms import FRAME_RATE
from foley_studio.ui import envelope_tools as tools
from foley_studio.ui.envelope_tools import FLOOR_DB, GestureContext, ToolSettings

# one-pixel pens: a 2 px antialiased stroke of a long curve costs ~20x more to draw
CURVE_PEN = pg.mkPen("#f5a623", width=1)
PREVIEW_PEN = pg.mkPen("#ffe08a", width=1)
REGION_BRUSH = pg.mkBrush(90, 160, 255, 50)


class EnvelopeItem(pg.GraphicsObject):
    sigEditStarted = Signal()
    sigEditChanged = Signal(object)  # preview values (linear)
    sigEditFinished = Signal(str, object)  # undo label, final values (linear)
    sigEditCancelled = Signal()
    sigSelectionChanged = Signal(object)  # (t0, t1) seconds or None

    def __init__(self, settings: ToolSettings | None = None):
        super().__init__()
        # it only catches the mouse over the whole editable area; its children draw. Without
        # this flag every repaint of the plot (30 a second while playing) called paint() here
        self.setFlag(self.GraphicsItemFlag.ItemHasNoContents)
        self.settings = settings or ToolSettings()
        self.tool: str | None = None
        self.rate = FRAME_RATE
        self._values = np.zeros(0, np.float32)  # the saved state (what the document holds)
        self._duration = 1.0
        self._gesture: tools.Gesture | None = None
        self._preview: np.ndarray | None = None
        self._selecting_from: float | None = None
        self._swallow_drag = False  # after a cancel, ignore the rest of that drag

        # no fill under the curve: filling thousands of segments made each redraw ~8x slower
        self._curve = pg.PlotCurveItem(pen=CURVE_PEN, skipFiniteCheck=True)
        self._curve.setParentItem(self)
        # the playhead crosses this curve 30 times a second: repaint it from a pixmap, not
        # by stroking and filling thousands of antialiased segments every time
        self._curve.setCacheMode(pg.GraphicsObject.CacheMode.DeviceCoordinateCache)
        self._region = pg.LinearRegionItem(brush=REGION_BRUSH, movable=True)
        self._region.setParentItem(self)
        self._region.setZValue(10)
        self._region.hide()
        self._region.sigRegionChangeFinished.connect(self._region_moved)
        self.set_tool(tools.PENCIL)

    # -- data from the document ----------------------------------------------------------
    def set_envelope(self, values: np.ndarray | None, rate: float = FRAME_RATE) -> None:
        """Show the document's envelope (None: no track). Cancels a drag in progress."""
        if self._gesture is not None:
            self.cancel()
        self._values = np.zeros(0, np.float32) if values is None else np.asarray(values, np.float32)
        self.rate = float(rate)
        if len(self._values):
            self.set_duration(len(self._values) / self.rate)
        self._show(self._values)

    def set_duration(self, seconds: float) -> None:
        self.prepareGeometryChange()
        self._duration = max(float(seconds), 1e-3)
        self.update()

    def set_tool(self, tool: str | None) -> None:
        """Pick the tool for left drags/clicks (None: the view pans and zooms)."""
        self.cancel()
        self.tool = tool
        # the span can be moved and resized only with the select tool; with the others a
        # drag inside it is an edit of what it holds
        self._region.setMovable(tool == tools.SELECT)

    @property
    def values(self) -> np.ndarray:
        return self._values

    @property
    def dragging(self) -> bool:
        return self._gesture is not None

    # -- selection -----------------------------------------------------------------------
    def selection(self) -> tuple[float, float] | None:
        if not self._region.isVisible():
            return None
        t0, t1 = self._region.getRegion()
        return (float(t0), float(t1)) if t1 > t0 else None

    def selection_frames(self) -> tuple[int, int] | None:
        sel = self.selection()
        if sel is None or not len(self._values):
            return None
        a, b = self._context().span_of(*sel)
        return (a, b) if b > a else None

    def set_selection(self, t0: float, t1: float) -> None:
        lo, hi = sorted((max(t0, 0.0), min(t1, self._duration)))
        self._region.blockSignals(True)
        self._region.setRegion((lo, hi))
        self._region.blockSignals(False)
        self._region.setVisible(hi > lo)
        self.sigSelectionChanged.emit(self.selection())

    def clear_selection(self) -> None:
        if self._region.isVisible():
            self._region.hide()
            self.sigSelectionChanged.emit(None)

    # -- gestures ------------------------------------------------------------------------
    def cancel(self) -> bool:
        """Drop the drag in progress (right-click / Esc); True if there was one."""
        if self._gesture is None and self._selecting_from is None:
            return False
        self._gesture, self._preview, self._selecting_from = None, None, None
        self._swallow_drag = True
        self._show(self._values)
        self.sigEditCancelled.emit()
        return True

    def mouseDragEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self.tool is None or not len(self._values):
            ev.ignore()  # middle/right drags and the pan tool: the view pans and zooms
            return
        ev.accept()
        x, y = self._clamped(ev.pos())
        if ev.isStart():
            self._swallow_drag = False
            start_x, start_y = self._clamped(ev.buttonDownPos())
            if self.tool == tools.SELECT:
                self._selecting_from = start_x
            elif self.tool in tools.GESTURES:
                self._gesture = tools.GESTURES[self.tool](self._context())
                self.sigEditStarted.emit()
                self._preview = self._gesture.begin(start_x, start_y)
        if self._swallow_drag:
            return
        if self._selecting_from is not None:
            ctx = self._context()
            self.set_selection(ctx.snap(self._selecting_from), ctx.snap(x))
            if ev.isFinish():
                self._selecting_from = None
            return
        if self._gesture is None:
            return
        self._preview = self._gesture.update(x, y)
        self._show(self._preview, preview=True)
        self.sigEditChanged.emit(self._preview)
        if ev.isFinish():
            label, values = self._gesture.label, self._preview
            self._gesture, self._preview = None, None
            self._show(values)  # the document will confirm these through set_envelope
            self.sigEditFinished.emit(label, values)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.RightButton:
            if self.cancel():
                ev.accept()
            else:
                ev.ignore()
            return
        if ev.button() != Qt.MouseButton.LeftButton or not len(self._values):
            ev.ignore()
            return
        x, y = self._clamped(ev.pos())
        if self.tool == tools.HIT:
            ev.accept()
            values = tools.insert_hit(self._context(), x, y)
            self.sigEditStarted.emit()
            self._show(values)
            self.sigEditFinished.emit("Insert hit", values)
        elif self.tool == tools.SELECT:
            ev.accept()
            self.clear_selection()
        else:
            ev.ignore()

    def hoverEvent(self, ev) -> None:
        if ev.isExit() or self.tool is None:
            return
        ev.acceptDrags(Qt.MouseButton.LeftButton)  # so the view does not pan under our tools
        ev.acceptClicks(Qt.MouseButton.LeftButton)
        if self._gesture is not None:
            ev.acceptClicks(Qt.MouseButton.RightButton)

    # -- QGraphicsItem -------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        # the whole editable area, so a drag that starts on empty space still reaches us
        return QRectF(0.0, FLOOR_DB - 20.0, self._duration, -FLOOR_DB + 40.0)

    def paint(self, painter, option, widget=None) -> None:
        pass  # the child curve and region draw themselves

    # -- internals -----------------------------------------------------------------------
    def _context(self) -> GestureContext:
        ctx = GestureContext(self._values, self.rate, None, self.settings)
        if self._region.isVisible() and len(self._values):
            a, b = ctx.span_of(*self._region.getRegion())
            ctx.selection = (a, b) if b > a else None
        return ctx

    def _clamped(self, pos) -> tuple[float, float]:
        return float(np.clip(pos.x(), 0.0, self._duration)), float(min(pos.y(), 6.0))

    def _show(self, values: np.ndarray, preview: bool = False) -> None:
        if not len(values):
            self._curve.setData([], [])
            return
        x = (np.arange(len(values)) + 0.5) / self.rate
        self._curve.setData(x, to_dbfs(values, FLOOR_DB), pen=PREVIEW_PEN if preview else CURVE_PEN)

    def _region_moved(self) -> None:
        t0, t1 = self._region.getRegion()
        ctx = self._context()
        s0, s1 = ctx.snap(t0), ctx.snap(t1)
        if (s0, s1) != (t0, t1):
            self.set_selection(s0, s1)
        else:
            self.sigSelectionChanged.emit(self.selection())
