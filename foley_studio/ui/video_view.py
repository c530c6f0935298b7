"""The video picture: the frame at the playhead, a time code, and a region of interest.

Frames are decoded on a background thread, already scaled to the widget (core.media
iter_frames), into a small cache around the playhead, so scrubbing and playback never
decode on the GUI thread. show_time(t) shows the frame whose timestamp is the latest <= t
as soon as it is decoded; until then the nearest earlier cached frame stays up.

Frames are decoded at the exact device-pixel size of the picture, so painting one is a
plain copy: scaling 720p frames smoothly on the GUI thread at 30 fps cost ~15% of a core
on two (Qt spreads it over its pool threads). After a resize, until the frames of the new
size arrive, the old ones are drawn scaled.
"""

from __future__ import annotations

import bisect
import math
import threading

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QRubberBand, QSizePolicy, QWidget

from foley_studio.core.errors import FoleyError

PREFETCH_S = 0.5  # decode this far past the playhead so playback finds frames ready
REUSE_S = 1.0  # a request this far ahead of the decoder is reached by decoding on, not seeking
CACHE_BYTES = 48 * 1024 * 1024
SIZE_SLACK_PX = 2  # a frame this close to the picture's size is drawn 1:1 (sizes are even)
MIN_ROI_PX = 4  # a shorter drag is a click, not a region


def time_code(t: float, fps: float) -> str:
    """HH:MM:SS:FF of clock time (not drop-frame counting): FF is the frame within the second."""
    t = max(t, 0.0) + 1e-6  # frame times like 0.1 are stored as 0.09999...
    seconds = int(t)
    ff = min(int((t - seconds) * fps), max(int(math.ceil(fps)) - 1, 0))
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{ff:02d}"


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
                self.error, frame = str(exc), None
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
                self.error = str(exc)
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


class VideoView(QWidget):
    """Shows a clip's frame at a time; draws and reports a region of interest."""

    roiChanged = Signal(object)  # (x, y, w, h) in source pixels, or None
    firstFrameShown = Signal()  # once per clip, when its first picture has been painted

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
        self._decode_width = 0
        self.destroyed.connect(lambda *_: decoder.stop())
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(decoder.stop)

    # --- public interface ------------------------------------------------------------------

    def set_clip(self, clip) -> None:
        self._clip, self._shown, self._wanted, self._roi = clip, None, 0.0, None
        self._painted_first = False
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
        elif self._decoder.error:
            p.setPen(QColor(220, 120, 120))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._decoder.error)
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
