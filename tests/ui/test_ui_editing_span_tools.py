"""Shift, smooth, gate and erase by mouse in the window: each drag changes the stored envelope
exactly as the core operation would on the selected (or dragged-over) span, nothing else, as
one undo step that undoes bit-exactly; the toolbar's Smooth and Gate buttons do the same."""

import numpy as np
import pytest

from foley_studio.core import envelope_ops as ops
from foley_studio.core.envelope import to_dbfs
from foley_studio.ui import envelope_tools as tools
from tests.ui import mouse
from tests.ui.test_ui_editing import changed_frames, editor, stored  # noqa: F401 - the fixture

RATE = 125.0


def select(w, t0, t1):
    w.timeline.toolbar.buttons[tools.SELECT].click()
    mouse.drag(w.timeline, [(t0, -60.0), (t1, -60.0)])
    return w.timeline.item.selection_frames()


def check_one_exact_undo_step(w, before, after, label):
    assert w.doc.undo_stack.count() == 1 and w.doc.undo_stack.text(0) == label
    w.doc.undo_stack.undo()
    assert np.array_equal(stored(w), before)
    w.doc.undo_stack.redo()
    assert np.array_equal(stored(w), after)


def test_shift_drag_moves_the_selection_later_by_the_mouse_distance(editor):
    w = editor
    before = stored(w)
    a, b = select(w, 0.2, 0.4)
    w.timeline.toolbar.buttons[tools.SHIFT].click()
    mouse.drag(w.timeline, [(0.3, -30.0), (0.4, -30.0)])  # 0.1 s later
    after = stored(w)
    offset = (changed_frames(before, after).max() + 1) - b  # how far the span's end moved
    assert abs(offset - 0.1 * RATE) <= 1  # mouse positions land on whole pixels
    assert np.array_equal(after, ops.shift(before, (a, b), int(offset)))
    assert np.array_equal(after[:a], before[:a]) and np.array_equal(after[b + offset:], before[b + offset:])
    check_one_exact_undo_step(w, before, after, "Shift span")


def test_shift_with_snap_moves_by_whole_video_frames(editor):
    w = editor
    before = stored(w)
    a, b = select(w, 0.2, 0.4)
    w.timeline.toolbar.snap.setChecked(True)
    w.timeline.toolbar.buttons[tools.SHIFT].click()
    mouse.drag(w.timeline, [(0.3, -30.0), (0.355, -30.0)])
    after = stored(w)
    offset = (changed_frames(before, after).max() + 1) - b
    frames = offset / RATE * w.timeline.fps  # in video frames
    # whole video frames, up to rounding the shift to the envelope's 125 Hz grid
    assert abs(frames - round(frames)) <= w.timeline.fps / RATE / 2 + 1e-9
    assert round(frames) >= 1  # the mouse moved 0.055 s: at least one frame later


def test_smooth_drag_smooths_only_the_span_dragged_over(editor):
    w = editor
    before = stored(w)
    w.timeline.toolbar.buttons[tools.SMOOTH].click()
    mouse.drag(w.timeline, [(0.3, -30.0), (0.7, -30.0)])
    after = stored(w)
    diff = changed_frames(before, after)
    assert len(diff) > 20 and diff.min() >= int(0.3 * RATE) - 1 and diff.max() <= int(0.7 * RATE) + 1
    # smoother: less frame-to-frame movement inside the span than before
    inner = slice(int(0.35 * RATE), int(0.65 * RATE))
    assert np.abs(np.diff(after[inner])).sum() < np.abs(np.diff(before[inner])).sum()
    check_one_exact_undo_step(w, before, after, "Smooth")


def test_gate_drag_silences_the_selection_below_the_mouse_height(editor):
    w = editor
    before = stored(w)
    a, b = select(w, 0.1, 0.9)
    w.timeline.toolbar.buttons[tools.GATE].click()
    mouse.drag(w.timeline, [(0.5, -40.0), (0.5, -28.0)])  # threshold follows the mouse to ~-28 dBFS
    after = stored(w)
    assert np.array_equal(after[:a], before[:a]) and np.array_equal(after[b:], before[b:])
    span_before, span_after = before[a:b], after[a:b]
    silenced = (span_after == 0) & (span_before > 0)
    assert silenced.any() and (span_after > 0).any()  # some frames under the threshold, some above
    threshold_db = to_dbfs(span_before[~silenced].min())
    assert to_dbfs(span_before[silenced].max()) < threshold_db
    assert -29.5 < threshold_db < -26.0  # the kept frames start near the mouse height
    assert np.array_equal(span_after[~silenced], span_before[~silenced])
    check_one_exact_undo_step(w, before, after, "Gate")


def test_erase_drag_silences_what_it_covers(editor):
    w = editor
    before = stored(w)
    w.timeline.toolbar.buttons[tools.ERASE].click()
    mouse.drag(w.timeline, [(0.4, -30.0), (0.6, -30.0)])
    after = stored(w)
    diff = changed_frames(before, after)
    assert np.all(after[diff] == 0) and abs(len(diff) - 0.2 * RATE) <= 2
    check_one_exact_undo_step(w, before, after, "Erase")


@pytest.mark.parametrize("button", ["Smooth span", "Gate span"])
def test_toolbar_buttons_apply_to_the_selection_by_click(editor, button):
    w = editor
    before = stored(w)
    a, b = select(w, 0.2, 0.6)
    w.timeline.toolbar.gate_db.setValue(-30.0)
    clickable = [x for x in w.timeline.toolbar.findChildren(type(w.timeline.toolbar.snap)) if x.text() == button]  # noqa: E501
    assert len(clickable) == 1
    clickable[0].click()
    after = stored(w)
    if button == "Smooth span":
        expected = ops.smooth(before, (a, b), tools.ToolSettings().smooth_frames)
    else:
        expected = ops.gate(before, (a, b), 10 ** (-30.0 / 20))
    np.testing.assert_allclose(after, expected, rtol=0, atol=1e-7)
    assert not np.array_equal(after, before) and w.doc.undo_stack.count() == 1
