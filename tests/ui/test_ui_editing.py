"""Editing the envelope with simulated mouse gestures: the stored envelope changes only
where the gesture went, each gesture is one undo step, undo/redo are bit-exact, and a
right-click or Esc during a drag leaves everything as it was."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from foley_studio.core.envelope import to_dbfs
from foley_studio.ui import envelope_tools as tools
from tests.ui import mouse

RATE = 125.0


@pytest.fixture
def editor(make_window, clip_path, qtbot):
    """A window on the tiny clip whose only track holds a known, bumpy envelope."""
    w = make_window()
    assert w.open_path(clip_path)
    track = w.doc.tracks[0]
    n = len(track.envelope)
    values = (0.05 + 0.04 * np.sin(np.arange(n) / 7.0)).astype(np.float32)
    w.doc.edit_envelope(track.id, values, "setup")
    w.doc.undo_stack.clear()  # start the test with an empty history
    with qtbot.waitSignal(w.renders.idleChanged, timeout=3000, check_params_cb=lambda idle: idle):
        w.renders.flush()
    return w


def stored(w):
    return w.doc.tracks[0].envelope.values.copy()


def changed_frames(a, b):
    return np.flatnonzero(a != b)


def test_pencil_stroke_changes_only_its_span_and_undo_redo_are_exact(editor, qtbot):
    w = editor
    before = stored(w)
    started, changed, finished = [], [], []
    w.timeline.item.sigEditStarted.connect(lambda: started.append(1))
    w.timeline.item.sigEditChanged.connect(lambda v: changed.append(v))
    w.timeline.item.sigEditFinished.connect(lambda label, v: finished.append(label))

    with qtbot.waitSignal(w.renders.rendered, timeout=3000):
        mouse.drag(w.timeline, [(0.30, -20.0), (0.45, -10.0), (0.60, -20.0)])

    after = stored(w)
    diff = changed_frames(before, after)
    assert len(diff) > 20, "the stroke did not change the envelope"
    # frame i is drawn at (i + 0.5) / rate: a stroke over 0.30..0.60 s covers frames 37..74
    assert diff.min() >= int(0.30 * RATE) - 1 and diff.max() <= int(0.60 * RATE) + 1
    assert np.allclose(to_dbfs(after[40:70]), np.interp(np.arange(40, 70), [37, 56, 74], [-20, -10, -20]),
                       atol=1.5)
    assert started == [1] and finished == ["Draw envelope"] and len(changed) >= 3
    assert w.doc.undo_stack.count() == 1  # one undo step for the whole gesture
    assert w.windowTitle().startswith("*")

    w.doc.undo_stack.undo()
    assert np.array_equal(stored(w), before)  # bit-exact
    assert np.array_equal(w.timeline.item.values, before)  # and the curve shows it
    w.doc.undo_stack.redo()
    assert np.array_equal(stored(w), after)
    w.doc.undo_stack.undo()
    assert not w.windowTitle().startswith("*")  # back at the clean state


def test_preview_does_not_touch_the_document(editor):
    w = editor
    before = stored(w)
    mouse.press(w.timeline, 0.2, -10.0)
    mouse.move(w.timeline, 0.3, -10.0)
    mouse.move(w.timeline, 0.4, -5.0)
    assert w.timeline.item.dragging
    assert np.array_equal(stored(w), before)  # previews are the item's, not the document's
    assert not np.array_equal(w.timeline.item._curve.yData, to_dbfs(before))
    mouse.release(w.timeline, 0.4, -5.0)
    assert not np.array_equal(stored(w), before)


def test_right_click_during_a_drag_cancels(editor, qtbot):
    w = editor
    before = stored(w)
    cancelled = []
    w.timeline.item.sigEditCancelled.connect(lambda: cancelled.append(1))
    mouse.press(w.timeline, 0.2, -10.0)
    mouse.move(w.timeline, 0.3, -10.0)
    mouse.move(w.timeline, 0.5, -10.0)
    mouse.right_click(w.timeline, 0.5, -10.0)
    mouse.move(w.timeline, 0.7, -10.0)  # the rest of the drag is ignored
    mouse.release(w.timeline, 0.7, -10.0)
    assert cancelled == [1]
    assert np.array_equal(stored(w), before)
    assert np.array_equal(w.timeline.item._curve.yData, to_dbfs(before, tools.FLOOR_DB))
    assert w.doc.undo_stack.count() == 0


def test_escape_during_a_drag_cancels(editor, qtbot):
    w = editor
    before = stored(w)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=2000)
    mouse.press(w.timeline, 0.2, -10.0)
    mouse.move(w.timeline, 0.4, -10.0)
    QTest.keyClick(w.timeline.view.viewport(), Qt.Key.Key_Escape)
    mouse.release(w.timeline, 0.6, -10.0)
    assert np.array_equal(stored(w), before)
    assert w.doc.undo_stack.count() == 0


def test_select_then_scale_by_dragging_is_one_step(editor):
    w = editor
    before = stored(w)
    w.timeline.toolbar.buttons[tools.SELECT].click()
    mouse.drag(w.timeline, [(0.2, -60.0), (0.4, -60.0)])
    a, b = w.timeline.item.selection_frames()
    assert abs(a - 25) <= 1 and abs(b - 50) <= 1
    w.timeline.toolbar.buttons[tools.SCALE].click()
    mouse.drag(w.timeline, [(0.3, -30.0), (0.3, -24.0)])  # up 6 dB
    after = stored(w)
    diff = changed_frames(before, after)
    assert diff.min() >= a and diff.max() < b
    gain_db = 20 * np.log10(after[a:b] / before[a:b])
    assert np.ptp(gain_db) < 1e-3  # one gain for the whole span
    assert abs(gain_db.mean() - 6.0) < 1.0  # mouse positions land on whole pixels
    assert w.doc.undo_stack.count() == 1 and w.doc.undo_stack.text(0) == "Scale span"


def test_toolbar_gain_and_erase_apply_to_the_selection(editor):
    w = editor
    before = stored(w)
    w.timeline.item.set_selection(0.6, 0.8)
    w.timeline.toolbar.db.setValue(-6.0)
    w.timeline.toolbar.scaleRequested.emit(-6.0)
    w.timeline.toolbar.eraseRequested.emit()
    after = stored(w)
    a, b = w.timeline.item.selection_frames()
    assert np.all(after[a:b] == 0) and np.array_equal(after[:a], before[:a])
    assert np.array_equal(after[b:], before[b:])
    assert w.doc.undo_stack.count() == 2


def test_hit_click_inserts_one_hit(editor):
    w = editor
    before = stored(w)
    w.timeline.toolbar.buttons[tools.HIT].click()
    mouse.click(w.timeline, 0.5, -6.0)
    after = stored(w)
    i = int(0.5 * RATE)
    assert abs(to_dbfs(after[i - 1:i + 2]).max() + 6.0) < 0.5
    assert np.array_equal(after[: i - 1], before[: i - 1])
    assert w.doc.undo_stack.count() == 1 and w.doc.undo_stack.text(0) == "Insert hit"


def test_pan_tool_leaves_the_envelope_alone(editor):
    w = editor
    before = stored(w)
    w.timeline.toolbar.buttons[None].click()
    mouse.drag(w.timeline, [(0.3, -20.0), (0.6, -20.0)])
    assert np.array_equal(stored(w), before)
    assert w.doc.undo_stack.count() == 0
