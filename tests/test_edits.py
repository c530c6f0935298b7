import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from foley_studio.core import envelope_ops as ops
from foley_studio.core.edits import (
    EditHistory,
    EnvelopeEdit,
    UndoStep,
    apply_edits,
    revert_edits,
)

SETTINGS = settings(max_examples=60, deadline=None)
# any float32 bit pattern that is finite, including subnormals and -0.0
finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def old_and_new(draw):
    old = draw(arrays(np.float32, st.integers(1, 60), elements=finite32))
    new = old.copy()
    a = draw(st.integers(0, len(old)))
    b = draw(st.integers(a, len(old)))
    new[a:b] = draw(arrays(np.float32, b - a, elements=finite32))
    return old, new


@SETTINGS
@given(old_and_new())
def test_between_apply_revert_is_bit_exact(pair):
    old, new = pair
    edit = EnvelopeEdit.between("t1", old, new, "Draw")
    if edit is None:
        assert np.array_equal(old.view(np.uint32), new.view(np.uint32))
        return
    applied = edit.apply(old)
    assert applied.view(np.uint32).tolist() == new.view(np.uint32).tolist()
    reverted = edit.revert(applied)
    assert reverted.view(np.uint32).tolist() == old.view(np.uint32).tolist()
    a, b = edit.span
    assert (a, b) == ops.span_of_change(old.view(np.uint32), new.view(np.uint32))
    assert len(edit.before) == b - a


@SETTINGS
@given(old_and_new())
def test_to_dict_from_dict_is_bit_exact_through_json(pair):
    old, new = pair
    edit = EnvelopeEdit.between("abc", old, new, "Scale")
    if edit is None:
        return
    again = EnvelopeEdit.from_dict(json.loads(json.dumps(edit.to_dict())))
    assert again == edit
    assert again.after.view(np.uint32).tolist() == edit.after.view(np.uint32).tolist()


def test_edit_stores_copies_and_is_read_only():
    before = np.array([0.1, 0.2], np.float32)
    after = np.array([0.3, 0.4], np.float32)
    edit = EnvelopeEdit("t", 1, before, after, "x")
    before[0] = 0.9
    assert edit.before[0] == np.float32(0.1)
    with pytest.raises(ValueError):
        edit.after[0] = 0.0
    values = np.zeros(4, np.float32)
    out = edit.apply(values)
    assert out is not values and not values.any()
    np.testing.assert_array_equal(out, np.array([0, 0.3, 0.4, 0], np.float32))


def test_between_without_change_is_none_and_length_change_is_refused():
    v = np.ones(5, np.float32)
    assert EnvelopeEdit.between("t", v, v.copy(), "nothing") is None
    with pytest.raises(ValueError):
        EnvelopeEdit.between("t", v, np.ones(6, np.float32), "longer")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start=-1), "start must be >= 0"),
        (dict(start=1.5), "start must be an integer"),
        (dict(after=[0.1]), "lengths differ"),
    ],
)
def test_edit_validation(kwargs, message):
    args = dict(track_id="t", start=0, before=[0.1, 0.2], after=[0.3, 0.4], label="x")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        EnvelopeEdit(**args)


def test_apply_outside_the_envelope_is_refused():
    edit = EnvelopeEdit("t", 3, [0.1, 0.2], [0.3, 0.4], "x")
    with pytest.raises(ValueError, match="does not fit"):
        edit.apply(np.zeros(4, np.float32))


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "must be an object"),
        ({"track_id": "t", "start": 0, "before": [0.1]}, "missing after"),
        ({"track_id": "t", "start": 0, "before": [0.1], "after": ["x"]}, "after must be a list"),
        ({"track_id": "t", "start": 0, "before": [float("nan")], "after": [0.1]}, "before must"),
        ({"track_id": 5, "start": 0, "before": [0.1], "after": [0.1]}, "track_id must be"),
    ],
)
def test_from_dict_rejects_bad_data(data, message):
    with pytest.raises(ValueError, match=message):
        EnvelopeEdit.from_dict(data)


# --- history -----------------------------------------------------------------------------


class Doc:
    """A tiny document for history tests: {track_id: values} plus edit helpers."""

    def __init__(self):
        self.env = {"a": np.zeros(10, np.float32), "b": np.zeros(10, np.float32)}
        self.history = EditHistory(max_depth=50)

    def edit(self, track, new, label):
        cmd = EnvelopeEdit.between(track, self.env[track], new, label)
        self.env = apply_edits([cmd], self.env) if cmd else self.env
        self.history.push(cmd)

    def undo(self):
        step = self.history.undo()
        if step:
            self.env = revert_edits(step.commands, self.env)
        return step

    def redo(self):
        step = self.history.redo()
        if step:
            self.env = apply_edits(step.commands, self.env)
        return step


def test_history_undo_redo_and_fork():
    doc = Doc()
    doc.edit("a", ops.erase(np.ones(10, np.float32), (0, 2)), "one")
    first = doc.env["a"].copy()
    doc.edit("a", ops.scale(doc.env["a"], (0, 10), 0.5), "two")
    assert doc.history.undo_label() == "two"
    assert doc.undo().label == "two"
    np.testing.assert_array_equal(doc.env["a"], first)
    assert doc.history.can_redo() and doc.history.redo_label() == "two"
    doc.redo()
    np.testing.assert_allclose(doc.env["a"], first * 0.5)
    doc.undo()
    doc.undo()
    assert not doc.env["a"].any() and not doc.history.can_undo()
    assert doc.undo() is None
    doc.redo()
    doc.edit("b", np.full(10, 0.2, np.float32), "three")  # a new edit drops the redo branch
    assert not doc.history.can_redo() and doc.history.redo() is None


def test_macro_is_one_undo_step_and_nests():
    doc = Doc()
    doc.history.begin_macro("Drag")
    for k in range(1, 5):
        doc.edit("a", np.full(10, 0.1 * k, np.float32), f"step {k}")
        doc.history.begin_macro("inner")
        doc.edit("b", np.full(10, 0.05 * k, np.float32), "inner edit")
        assert doc.history.end_macro() is None  # the inner end does not close the step
    assert not doc.history.can_undo()  # refused while the gesture is open
    with pytest.raises(RuntimeError, match="macro"):
        doc.history.undo()
    step = doc.history.end_macro()
    assert isinstance(step, UndoStep) and step.label == "Drag" and len(step.commands) == 8
    doc.undo()
    assert not doc.env["a"].any() and not doc.env["b"].any()
    doc.redo()
    np.testing.assert_allclose(doc.env["a"], 0.4)
    np.testing.assert_allclose(doc.env["b"], 0.2)


def test_empty_macro_records_nothing_and_cancel_returns_commands():
    h = EditHistory()
    h.begin_macro("nothing")
    assert h.end_macro() is None and not h.can_undo()
    with pytest.raises(RuntimeError):
        h.end_macro()
    doc = Doc()
    doc.history.begin_macro("Drag")
    doc.edit("a", np.full(10, 0.7, np.float32), "move")
    cancelled = doc.history.cancel_macro()
    doc.env = revert_edits(cancelled.commands, doc.env)
    assert not doc.env["a"].any() and not doc.history.can_undo() and not doc.history.in_macro


def test_max_depth_drops_oldest():
    h = EditHistory(max_depth=3)
    for k in range(5):
        h.push(EnvelopeEdit("t", 0, [0.0], [k / 10], f"e{k}"))
    labels = []
    while h.can_undo():
        labels.append(h.undo().label)
    assert labels == ["e4", "e3", "e2"]
    with pytest.raises(ValueError):
        EditHistory(max_depth=0)


def test_push_none_is_ignored():
    h = EditHistory()
    h.push(None)
    assert not h.can_undo()


def test_apply_edits_names_unknown_track():
    with pytest.raises(KeyError, match="zz"):
        apply_edits([EnvelopeEdit("zz", 0, [0.0], [1.0], "x")], {"a": np.zeros(2, np.float32)})
