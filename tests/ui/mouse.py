"""Simulated mouse gestures on the timeline's envelope plot, in data coordinates.

Positions are mapped from (seconds, dBFS) through the plot's view box to the graphics
view's viewport, and real QTest press / move / release events are sent there, so the
whole path (pyqtgraph's scene, drag detection, the envelope item) is exercised.
"""

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
NONE = Qt.KeyboardModifier.NoModifier


def to_viewport(timeline, t: float, db: float) -> QPoint:
    vb = timeline.envelope_plot.getViewBox()
    scene = vb.mapViewToScene(QPointF(t, db))
    return timeline.view.mapFromScene(scene)


def press(timeline, t, db, button=LEFT):
    vp = timeline.view.viewport()
    pos = to_viewport(timeline, t, db)
    QTest.mouseMove(vp, pos)  # hover first, as a real pointer would
    QTest.mousePress(vp, button, NONE, pos)
    return pos


def move(timeline, t, db):
    QTest.mouseMove(timeline.view.viewport(), to_viewport(timeline, t, db))


def release(timeline, t, db, button=LEFT):
    QTest.mouseRelease(timeline.view.viewport(), button, NONE, to_viewport(timeline, t, db))


def right_click(timeline, t, db):
    QTest.mouseClick(timeline.view.viewport(), RIGHT, NONE, to_viewport(timeline, t, db))


def click(timeline, t, db):
    vp = timeline.view.viewport()
    pos = to_viewport(timeline, t, db)
    QTest.mouseMove(vp, pos)
    QTest.mouseClick(vp, LEFT, NONE, pos)


def drag(timeline, points, steps_between: int = 4):
    """Press at points[0], move through the others (with steps in between), release at the last."""
    press(timeline, *points[0])
    for (t0, d0), (t1, d1) in zip(points[:-1], points[1:]):
        for i in range(1, steps_between + 1):
            f = i / steps_between
            move(timeline, t0 + f * (t1 - t0), d0 + f * (d1 - d0))
    release(timeline, *points[-1])
