"""Minimal stand-ins for the video view and playback, with the same interfaces.

The editor normally gets VideoView (video_view.py) and Playback (playback.py). These
simple versions are used where those cannot be loaded, and by the window tests, which
need a silent, deterministic clock and no audio device: StillVideoView shows the frame
nearest a time (decoded on demand, small), ClockPlayback runs a monotonic clock.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from foley_studio.core.errors import FoleyError

PREVIEW_WIDTH = 480


class StillVideoView(QLabel):
    roiChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setText("Open a video (File → Open, or drop it here)")
        self.clip = None
        self.roi_mode = False
        self._shown_t: float | None = None

    def set_clip(self, clip) -> None:
        self.clip = clip
        self._shown_t = None
        self.show_time(0.0)

    def set_roi_mode(self, on: bool) -> None:
        self.roi_mode = bool(on)

    def show_time(self, t: float) -> None:
        if self.clip is None:
            return
        fps = self.clip.info.fps or 25.0
        t = round(t * fps) / fps
        if t == self._shown_t:
            return
        self._shown_t = t
        try:  # on the GUI thread: a clip replaced or deleted while open must not raise into Qt
            frame = next(iter(self.clip.frames(width=PREVIEW_WIDTH, gray=False, start=t)), None)
        except FoleyError as exc:
            self.setText(str(exc))
            return
        if frame is None:
            return
        image = np.ascontiguousarray(frame.image)
        h, w = image.shape[:2]
        qimage = QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.setPixmap(QPixmap.fromImage(qimage).scaled(
            self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))


class ClockPlayback(QObject):
    """Silent transport driven by time.monotonic (what Playback does without a device)."""

    stateChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.duration = 0.0
        self.has_device = False
        self.device_status = "no audio output — using a monotonic clock"
        self.tracks: dict[str, object] = {}
        self.gains: dict[str, float] = {}
        self.audible: set[str] = set()
        self._anchor = 0.0
        self._started_at: float | None = None

    @property
    def is_playing(self) -> bool:
        return self._started_at is not None

    def position(self) -> float:
        if self._started_at is None:
            return self._anchor
        t = self._anchor + time.monotonic() - self._started_at
        if self.duration and t >= self.duration:
            self._anchor, self._started_at = self.duration, None
            self.stateChanged.emit(False)
            return self.duration
        return t

    def play(self) -> None:
        if self._started_at is None:
            if self.duration and self._anchor >= self.duration:
                self._anchor = 0.0
            self._started_at = time.monotonic()
            self.stateChanged.emit(True)

    def pause(self) -> None:
        if self._started_at is not None:
            self._anchor = self.position()
            self._started_at = None
            self.stateChanged.emit(False)

    def toggle(self) -> None:
        self.pause() if self.is_playing else self.play()

    def seek(self, t: float) -> None:
        self._anchor = min(max(float(t), 0.0), self.duration or float(t))
        if self._started_at is not None:
            self._started_at = time.monotonic()

    def set_track_audio(self, track_id: str, audio) -> None:
        self.tracks[track_id] = audio

    def remove_track(self, track_id: str) -> None:
        self.tracks.pop(track_id, None)

    def set_mix_params(self, gains: dict, audible: set) -> None:
        """gains: track id -> gain in dB (as Playback takes them)."""
        self.gains, self.audible = dict(gains), set(audible)

    def close(self) -> None:
        self.pause()
