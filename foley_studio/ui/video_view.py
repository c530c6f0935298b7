"""The video picture: the frame at the playhead, a time code, and a region of interest.

Frames are decoded on a background thread (frame_decoder.py), already scaled to the
widget, into a small cache around the playhead, so scrubbing and playback never decode
on the GUI thread. show_time(t) shows the frame whose timestamp is the latest <= t as
soon as it is decoded; until then the nearest earlier cached frame stays up. When the
clip cannot be decoded (damaged, or its file replaced or deleted while open) the reason
is painted over the picture and decodeFailed tells the window.

Frames are decoded at the exact device-pixel size of the picture, so painting one is a
plain copy: scaling 720p frames smoothly on the GUI thread at 30 fps cost ~15% of a core
on two (Qt spreads it over its pool threads). After a resize, until the frames of the new
size arrive, the old ones are drawn scaled.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QCoreApplication, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QRubberBand, QSizePolicy, QWidget

from foley_studio.ui.frame_decoder import FrameCache, FrameDecoder

SIZE_SLACK_PX = 2  # a frame this close to the picture's size is drawn 1:1 (sizes are even)
MIN_ROI_PX = 4  # a shorter drag is a click, not a region


def time_code(t: float, fps: float) -> str:
    """HH:MM:SS:FF of clock time (not drop-frame counting): FF is the frame within the second."""
    t = max(t, 0.0) + 1e-6  # frame times like 0.1 are stored as 0.09999...
    seconds = int(t)
    ff = min(int((t - seconds) * fps), max(int(math.ceil(fps)) - 1, 0))
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{ff:02d}"


class VideoView(QWidget):
    """Shows a clip's frame at a time; draws and reports a region of interest."""

    roiChanged = Signal(object)  # (x, y, w, h) in source pixels, or None
    firstFrameShown = Signal()  # once per clip, when its first picture has been painted
    # once per clip and reason: the picture cannot be decoded (damaged, or the file was
    # replaced or deleted while open); the window tells the user
    decodeFailed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 90)
        self._clip = None
        self._wanted = 0.0
        self._shown: tuple[float, QImage, bool] | None = None
        self._painted_first = False
        self._roi: tuple[int, int, int, int] | None = None
        self._roi_mode = False
        self._drag_from: QPoint | None = None
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, self)
        self._cache = FrameCache()
        self._decoder = decoder = FrameDecoder(self._cache)
        decoder.decoded.connect(self._refresh)
        decoder.failed.connect(self._decode_failed)
        self._reported: set[str] = set()
        self._decode_width = 0
        self.destroyed.connect(lambda *_: decoder.stop())
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(decoder.stop)

    # --- public interface ------------------------------------------------------------------

    def set_clip(self, clip) -> None:
        self._clip, self._shown, self._wanted, self._roi = clip, None, 0.0, None
        self._painted_first = False
        self._reported = set()
        self._decode_width = self._width_for_decoding()
        self._decoder.set_source(clip, self._decode_width)
        self.show_time(0.0)
        self.update()

    def show_time(self, t: float) -> None:
        self._wanted = float(t)
        if self._clip is not None:
            self._decoder.request(self._wanted)
            self._refresh()

    def set_roi_mode(self, on: bool) -> None:
        self._roi_mode = bool(on)
        self.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    def clear_roi(self) -> None:
        self._roi = None
        self.update()
        self.roiChanged.emit(None)

    @property
    def roi(self) -> tuple[int, int, int, int] | None:
        return self._roi

    @property
    def displayed_time(self) -> float | None:
        """Timestamp of the frame on screen (None before the first frame)."""
        return None if self._shown is None else self._shown[0]

    @property
    def displayed_exact(self) -> bool:
        """True when the frame on screen is the one for the last show_time."""
        return self._shown is not None and self._shown[2]

    def shutdown(self) -> None:
        """Stop and join the decoder thread (also done on quit and when the widget is destroyed)."""
        self._decoder.stop()

    # --- frames ----------------------------------------------------------------------------

    def _width_for_decoding(self) -> int:
        """The drawn picture's width in device pixels; never above the source's."""
        if self._clip is None:
            return 0
        px = self._image_rect().width() * self.devicePixelRatioF()
        return min(max(int(round(px)), 2), self._clip.info.width)

    def _refresh(self) -> None:
        hit = self._cache.lookup(self._wanted)
        if hit is None:
            return
        if self._shown is None or hit[1] is not self._shown[1]:
            self.update()
        self._shown = hit

    def _decode_failed(self, clip, message: str) -> None:
        if clip is not self._clip or message in self._reported:
            return  # an older clip's decoder, or already said
        self._reported.add(message)
        self.update()  # the reason is painted over the picture
        self.decodeFailed.emit(message)

    @property
    def error(self) -> str | None:
        """Why the picture could not be decoded (None: no problem)."""
        return self._decoder.error

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        width = self._width_for_decoding()
        if self._clip is not None and width != self._decode_width:
            self._decode_width = width
            self._decoder.set_source(self._clip, width)  # keeps showing the old frame meanwhile
            self._decoder.request(self._wanted)

    # --- painting --------------------------------------------------------------------------

    def _image_rect(self) -> QRectF:
        """Where the picture goes: the largest rect with the clip's aspect, centred."""
        if self._clip is None:
            return QRectF(self.rect())
        scale = min(self.width() / self._clip.info.width, self.height() / self._clip.info.height)
        w, h = self._clip.info.width * scale, self._clip.info.height * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(16, 16, 16))
        if self._clip is None:
            p.setPen(QColor(150, 150, 150))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No video — File → Open")
            return
        target = self._image_rect()
        if self._shown is not None:
            image = self._shown[1]
            exact = self._exact_rect(image, target)
            if exact is not None:
                p.drawImage(exact, image)  # pixel-aligned 1:1: a copy, no resampling
            else:
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                p.drawImage(target, image)
        if self._decoder.error:
            # over the last good frame too: a stale picture must not pass for the clip's
            self._paint_error(p, self._decoder.error, centred=self._shown is None)
        if self._roi is not None:
            p.setPen(QPen(QColor(255, 210, 0), 2, Qt.PenStyle.DashLine))
            p.drawRect(self._roi_to_widget(self._roi, target))
        self._paint_time_code(p)
        if self._shown is not None and not self._painted_first:
            p.end()
            self._painted_first = True
            self.firstFrameShown.emit()

    def _exact_rect(self, image: QImage, target: QRectF) -> QRectF | None:
        """Where `image` covers `target` 1:1 in device pixels, or None if it needs scaling."""
        dpr = self.devicePixelRatioF()
        w, h = image.width(), image.height()
        if abs(w - target.width() * dpr) > SIZE_SLACK_PX or abs(h - target.height() * dpr) > SIZE_SLACK_PX:
            return None
        centre = target.center()
        x, y = round(centre.x() * dpr - w / 2.0), round(centre.y() * dpr - h / 2.0)
        return QRectF(x / dpr, y / dpr, w / dpr, h / dpr)

    def _paint_error(self, p: QPainter, text: str, centred: bool) -> None:
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        box = self.rect().adjusted(8, 8, -8, -8)
        if not centred:
            box.setHeight(p.fontMetrics().height() * 3)
            p.fillRect(box, QColor(0, 0, 0, 190))
        p.setPen(QColor(235, 130, 130))
        p.drawText(box, flags, text)

    def _paint_time_code(self, p: QPainter) -> None:
        t = self.displayed_time if self.displayed_time is not None else self._wanted
        text = time_code(t, self._clip.info.fps or 25.0)
        p.setFont(QFont("monospace", 10))
        box = p.fontMetrics().boundingRect(text).adjusted(-6, -3, 6, 3)
        box.moveBottomLeft(QPoint(8, self.height() - 8))
        p.fillRect(box, QColor(0, 0, 0, 160))
        p.setPen(QColor(235, 235, 235))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    # --- region of interest ----------------------------------------------------------------

    def _roi_to_widget(self, roi, target: QRectF) -> QRectF:
        sx, sy = target.width() / self._clip.info.width, target.height() / self._clip.info.height
        x, y, w, h = roi
        return QRectF(target.x() + x * sx, target.y() + y * sy, w * sx, h * sy)

    def _widget_to_source(self, rect: QRectF) -> tuple[int, int, int, int] | None:
        target = self._image_rect()
        area = rect.intersected(target)
        if area.isEmpty():
            return None
        sx, sy = self._clip.info.width / target.width(), self._clip.info.height / target.height()
        x0, x1 = (int(round((v - target.x()) * sx)) for v in (area.left(), area.right()))
        y0, y1 = (int(round((v - target.y()) * sy)) for v in (area.top(), area.bottom()))
        return (x0, y0, x1 - x0, y1 - y0) if min(x1 - x0, y1 - y0) >= MIN_ROI_PX else None

    def mousePressEvent(self, event) -> None:
        if self._roi_mode and self._clip is not None and event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.position().toPoint()
            self._band.setGeometry(QRect(self._drag_from, QSize()))
            self._band.show()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._drag_from is not None:
            self._band.setGeometry(QRect(self._drag_from, event.position().toPoint()).normalized())
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._drag_from is None:
            return super().mouseReleaseEvent(event)
        # from the points, not QRect(p, q): that one counts both end pixels
        rect = QRectF(QPointF(self._drag_from), event.position()).normalized()
        self._drag_from = None
        self._band.hide()
        roi = self._widget_to_source(rect)
        if roi is not None:
            self._roi = roi
            self.update()
            self.roiChanged.emit(roi)
