"""A dark, legible look: Fusion style, a dark palette, a small stylesheet, pyqtgraph colours.

The stylesheet is resources/theme/dark.qss, with the colours below filled in.

Dark because the picture is the subject: a bright frame around video makes it look
washed out. Contrast stays high (text ~ #e6e6e6 on ~ #202226) so small labels stay legible.
"""

from __future__ import annotations

from string import Template

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from foley_studio.core import resources

BACKGROUND = "#1b1d21"
PANEL = "#24272c"
BASE = "#15171a"
TEXT = "#e6e6e6"
MUTED_TEXT = "#9aa0a8"
ACCENT = "#f0a030"  # the envelope's colour, reused for selection so the eye links them
HIGHLIGHT = "#3d6fb6"

# the stylesheet is a resource file (resources/theme/dark.qss) so it can be edited as
# QSS; its placeholders ($ before a name) are these colours
COLOURS = {
    "BACKGROUND": BACKGROUND, "PANEL": PANEL, "BASE": BASE, "TEXT": TEXT,
    "MUTED_TEXT": MUTED_TEXT, "ACCENT": ACCENT, "HIGHLIGHT": HIGHLIGHT,
}


def stylesheet() -> str:
    """The bundled stylesheet with the colours filled in (an unknown placeholder raises)."""
    return Template(resources.read_text(*resources.STYLESHEET)).substitute(COLOURS)


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
    app.setStyleSheet(stylesheet())
    pg.setConfigOptions(background=BASE, foreground=MUTED_TEXT, antialias=True)
