"""The row of envelope tools above the timeline: pick a tool, snap, and typed-in span ops.

It only reports what the user asked for (signals); the timeline turns those requests
into document edits, so this widget knows nothing about tracks or undo.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QActionGroup, QKeySequence
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QToolButton, QWidget

from foley_studio.ui import envelope_tools as tools

# (tool id, button text, shortcut, tooltip); None = pan/zoom with the mouse
TOOL_BUTTONS = (
    (None, "Pan", "V", "Pan and zoom the timeline (wheel zooms, drag pans)"),
    (tools.PENCIL, "Pencil", "P", "Freehand: redraw the envelope where you drag"),
    (tools.SELECT, "Select", "S", "Select a span (then scale, shift, smooth, gate or erase it)"),
    (tools.SCALE, "Scale", "G", "Drag up or down to raise or lower the selected span in dB"),
    (tools.SHIFT, "Shift", "T", "Drag sideways to move the selected span in time"),
    (tools.SMOOTH, "Smooth", "M", "Drag over a span to smooth it"),
    (tools.GATE, "Gate", "A", "Drag to set a threshold: quieter frames in the span go silent"),
    (tools.ERASE, "Erase", "E", "Drag over a span to silence it"),
    (tools.HIT, "Hit", "H", "Click to insert a hit (its height is its loudness)"),
)


class EnvelopeToolbar(QWidget):
    toolChanged = Signal(object)  # tool id or None
    snapToggled = Signal(bool)
    scaleRequested = Signal(float)  # dB, applied to the selected span
    smoothRequested = Signal()
    eraseRequested = Signal()
    gateRequested = Signal(float)  # threshold in dBFS
    zoomRequested = Signal(str)  # "in", "out", "fit"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.setSpacing(2)
        self.buttons: dict[object, QToolButton] = {}
        group = QActionGroup(self)
        group.setExclusive(True)
        for tool, text, key, tip in TOOL_BUTTONS:
            button = QToolButton(self)
            action = group.addAction(text)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(key))
            action.setToolTip(f"{tip} ({key})")
            action.setData(tool)
            action.triggered.connect(lambda _on=False, t=tool: self.toolChanged.emit(t))
            button.setDefaultAction(action)
            button.setObjectName(f"tool-{tool or 'pan'}")
            self.addAction(action)  # the shortcut works while the timeline has focus
            row.addWidget(button)
            self.buttons[tool] = button
        row.addSpacing(12)

        self.snap = QToolButton(self)
        self.snap.setText("Snap")
        self.snap.setCheckable(True)
        self.snap.setToolTip("Snap spans, shifts and hits to video frames")
        self.snap.toggled.connect(self.snapToggled)
        row.addWidget(self.snap)
        row.addSpacing(12)

        row.addWidget(QLabel("Span:"))
        self.db = QDoubleSpinBox(self)
        self.db.setRange(-60.0, 24.0)
        self.db.setSingleStep(1.0)
        self.db.setSuffix(" dB")
        self.db.setToolTip("Gain to apply to the selected span")
        row.addWidget(self.db)
        # the span buttons say "span": the tool buttons to their left carry the bare verbs
        row.addWidget(self._button("Apply gain", lambda: self.scaleRequested.emit(self.db.value()), "apply-gain"))
        row.addWidget(self._button("Smooth span", self.smoothRequested.emit, "apply-smooth"))
        self.gate_db = QDoubleSpinBox(self)
        self.gate_db.setRange(-80.0, 0.0)
        self.gate_db.setValue(-40.0)
        self.gate_db.setSuffix(" dB")
        self.gate_db.setToolTip("Gate threshold")
        row.addWidget(self.gate_db)
        row.addWidget(self._button("Gate span", lambda: self.gateRequested.emit(self.gate_db.value()),
                                   "apply-gate"))
        row.addWidget(self._button("Erase span", self.eraseRequested.emit, "apply-erase"))
        row.addStretch(1)
        for text, what in (("−", "out"), ("+", "in"), ("Fit", "fit")):
            row.addWidget(self._button(text, lambda w=what: self.zoomRequested.emit(w)))
        self.set_tool(tools.PENCIL)

    def set_tool(self, tool: str | None) -> None:
        self.buttons[tool].defaultAction().setChecked(True)

    def _button(self, text: str, slot, name: str = "") -> QToolButton:
        b = QToolButton(self)
        b.setText(text)
        b.setObjectName(name)
        b.clicked.connect(lambda _checked=False: slot())
        return b
