"""A dark, legible look: Fusion style, a dark palette, a small stylesheet, pyqtgraph colours.

Dark because the picture is the subject: a bright frame around video makes it look
washed out. Contrast stays high (text ~ #e6e6e6 on ~ #202226) so small labels stay legible.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#1b1d21"
PANEL = "#24272c"
BASE = "#15171a"
TEXT = "#e6e6e6"
MUTED_TEXT = "#9aa0a8"
ACCENT = "#f0a030"  # the envelope's colour, reused for selection so the eye links them
HIGHLIGHT = "#3d6fb6"

STYLESHEET = f"""
QWidget {{ font-size: 10pt; }}
QToolTip {{ color: {TEXT}; background: {PANEL}; border: 1px solid #444; }}
QFrame#TrackRow {{ background: {PANEL}; border: 1px solid #33373d; border-radius: 4px; }}
QFrame#TrackRow[selected="true"] {{ border: 1px solid {ACCENT}; }}
QLabel#sectionTitle {{ font-weight: bold; color: {TEXT}; }}
QLabel#renderStatus {{ color: {MUTED_TEXT}; font-size: 9pt; }}
QToolButton {{ padding: 3px 7px; border: 1px solid #3a3e45; border-radius: 3px; background: {PANEL}; }}
QToolButton:checked {{ background: {HIGHLIGHT}; border-color: #5b8bd6; }}
QToolButton:hover {{ border-color: #6a707a; }}
QToolButton#toggleMute:checked {{ background: #b84a3a; }}
QToolButton#toggleSolo:checked {{ background: #b89a2a; color: #111; }}
QPushButton {{ padding: 4px 10px; }}
QPushButton#autoGenerate {{ background: {ACCENT}; color: #111; font-weight: bold; border-radius: 3px; }}
QPushButton#autoGenerate:disabled {{ background: #5a4a30; color: #999; }}
QStatusBar QLabel {{ color: {MUTED_TEXT}; padding: 0 6px; }}
QLabel#timecode {{ font-family: monospace; font-size: 13pt; color: {TEXT}; padding: 0 8px; }}
"""


def dark_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: BACKGROUND,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: PANEL,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.BrightText: "#ff6060",
        QPalette.ColorRole.Highlight: HIGHLIGHT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#6fa8ff",
        QPalette.ColorRole.PlaceholderText: "#7a8088",
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6a6f76"))
    return p


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")  # the one style that honours a palette the same on every OS
    app.setPalette(dark_palette())
    app.setStyleSheet(STYLESHEET)
    pg.setConfigOptions(background=BASE, foreground=MUTED_TEXT, antialias=True)
