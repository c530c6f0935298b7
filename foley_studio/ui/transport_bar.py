"""The row between the picture and the timeline: play/pause, time code, region, auto-generate.

Buttons only report clicks; the window decides what they do.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QToolButton, QWidget


class TransportBar(QWidget):
    playClicked = Signal()
    regionToggled = Signal(bool)
    autoClicked = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        self.play = QPushButton("▶ Play", self)
        self.play.setToolTip("Play / pause (Space)")
        self.play.clicked.connect(self.playClicked)
        self.timecode = QLabel("00:00:00", self)
        self.timecode.setObjectName("timecode")
        self.region = QToolButton(self)
        self.region.setText("Region")
        self.region.setCheckable(True)
        self.region.setToolTip("Draw a region on the video: auto-generate listens only there")
        self.region.toggled.connect(self.regionToggled)
        self.auto = QPushButton("Auto-generate", self)
        self.auto.setObjectName("autoGenerate")
        self.auto.setToolTip("Predict the envelope from the picture and render the selected track")
        self.auto.clicked.connect(self.autoClicked)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(180)
        self.progress.hide()
        row.addWidget(self.play)
        row.addWidget(self.timecode)
        row.addStretch(1)
        for widget in (self.progress, self.region, self.auto):
            row.addWidget(widget)

    def set_playing(self, playing: bool) -> None:
        self.play.setText("❚❚ Pause" if playing else "▶ Play")

    def set_time(self, text: str) -> None:
        self.timecode.setText(text)

    def set_predicting(self, busy: bool) -> None:
        self.auto.setEnabled(not busy)
        self.progress.setValue(0)
        self.progress.setVisible(busy)

    def set_progress(self, fraction: float) -> None:
        self.progress.setValue(int(max(0.0, min(fraction, 1.0)) * 1000))
