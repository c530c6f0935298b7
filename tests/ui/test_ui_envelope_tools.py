"""The gesture arithmetic of each envelope tool (no Qt)."""

import numpy as np
import pytest

from foley_studio.core.envelope import to_dbfs
from foley_studio.ui import envelope_tools as tools
from foley_studio.ui.envelope_tools import GestureContext, ToolSettings

RATE = 125.0


def ctx(n=250, level=0.1, selection=None, **settings):
    values = np.full(n, level, np.float32)
    return GestureContext(values, RATE, selection, ToolSettings(**settings))


def test_pencil_follows_the_mouse_between_its_points_only():
    c = ctx(level=0.05)
    g = tools.PencilGesture(c)
    g.begin(0.5, -20.0)
    out = g.update(1.0, -20.0)
    changed = np.flatnonzero(out != c.values)
    # frame i is drawn at (i + 0.5) / rate, so 0.5..1.0 s are frames 62..124
    assert changed.min() == 62 and changed.max() == 124
    assert np.allclose(out[62:125], 0.1, atol=1e-6)  # -20 dBFS = 0.1 linear
    out = g.update(1.2, -6.0)
    assert to_dbfs(out[150:151])[0] == pytest.approx(-6.0, abs=0.01)  # the last point
    assert np.array_equal(out[:62], c.values[:62]) and np.array_equal(out[151:], c.values[151:])


def test_pencil_at_the_floor_draws_silence():
    c = ctx()
    g = tools.PencilGesture(c)
    g.begin(0.2, tools.FLOOR_DB)
    out = g.update(0.4, tools.FLOOR_DB - 5)
    assert np.all(out[25:49] == 0.0)


def test_scale_moves_the_selection_by_the_vertical_drag_in_db():
    c = ctx(selection=(50, 100))
    g = tools.ScaleGesture(c)
    g.begin(0.5, -30.0)
    out = g.update(0.9, -36.0)  # horizontal motion does not matter
    assert np.allclose(to_dbfs(out[50:100]), -26.0, atol=1e-3)
    assert np.array_equal(out[:50], c.values[:50]) and np.array_equal(out[100:], c.values[100:])


def test_shift_snaps_to_video_frames():
    values = np.zeros(250, np.float32)
    values[100:110] = 0.5
    c = GestureContext(values, RATE, (100, 110), ToolSettings(snap=True, fps=25.0))
    g = tools.ShiftGesture(c)
    g.begin(1.0, -20.0)
    out = g.update(1.03, -20.0)  # 30 ms rounds to one 25 fps frame = 40 ms = 5 envelope frames
    assert np.flatnonzero(out).tolist() == list(range(105, 115))


def test_gate_silences_what_is_below_the_mouse():
    values = np.array([0.001, 0.02, 0.2, 0.005] * 10, np.float32)
    c = GestureContext(values, RATE, None, ToolSettings())
    g = tools.GateGesture(c)
    g.begin(0.1, -30.0)
    out = g.update(0.1, -30.0)  # threshold 0.0316
    assert np.all(out[values < 0.0316] == 0) and np.array_equal(out[values >= 0.0316], values[values >= 0.0316])


def test_erase_and_smooth_cover_the_dragged_span():
    c = ctx()
    out = tools.EraseGesture(c)
    out.begin(0.8, 0.0)
    erased = out.update(0.4, 0.0)  # dragging leftwards works too
    assert np.flatnonzero(erased == 0).tolist() == list(range(50, 100))
    bumpy = np.tile(np.array([0.0, 0.2], np.float32), 125)
    s = tools.SmoothGesture(GestureContext(bumpy, RATE, None, ToolSettings(smooth_frames=9)))
    s.begin(0.4, 0.0)
    smoothed = s.update(1.2, 0.0)
    assert np.ptp(smoothed[80:120]) < 0.05
    assert np.array_equal(smoothed[:50], bumpy[:50]) and np.array_equal(smoothed[150:], bumpy[150:])


def test_hit_is_inserted_at_the_snapped_click_with_the_clicked_level():
    c = ctx(level=0.0, snap=True, fps=25.0)
    out = tools.insert_hit(c, 0.51, -12.0)  # snaps to 0.52 s = frame 65
    assert np.flatnonzero(out)[0] == 65
    assert to_dbfs(out[65:66])[0] == pytest.approx(-12.0, abs=0.01)
    assert out[66] < out[65]  # it decays
