"""Render the app icon's PNG sizes from its SVG (the SVG is the source; the PNGs are committed).

    QT_QPA_PLATFORM=offscreen python packaging/make_icons.py

Reads foley_studio/resources/icons/foley-studio.svg and writes foley-studio-<N>.png beside it
for every size in foley_studio.core.resources.ICON_SIZES. Rerun it after editing the SVG.
PNGs exist at all because icon themes, window managers and PyInstaller want bitmaps at
exact sizes; rendering each size from the vector keeps small ones sharp.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display needed

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the checkout's package, not an installed copy

from foley_studio.core import resources  # noqa: E402

ICON_DIR = REPO / "foley_studio" / "resources" / "icons"


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])  # QPainter needs one
    svg = ICON_DIR / resources.ICON_SVG[-1]
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        print(f"make_icons: error: {svg}: not a valid SVG", file=sys.stderr)
        return 1
    for size in resources.ICON_SIZES:
        out = ICON_DIR / f"{resources.ICON_NAME}-{size}.png"
        if not render(renderer, size).save(str(out), "PNG"):
            print(f"make_icons: error: {out}: cannot write", file=sys.stderr)
            return 1
        print(out.relative_to(REPO))
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
