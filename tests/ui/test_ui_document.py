"""Document and undo commands without a window: events, undo steps, save, recovery."""

import os
import time

import numpy as np
import pytest

from foley_studio.core import envelope_ops as ops
from foley_studio.core.envelope import Envelope
from foley_studio.core.project import Project, Track
from foley_studio.ui.document import Document


@pytest.fixture
def doc(qtbot, tmp_path):
    env = Envelope(np.linspace(0, 0.5, 250, dtype=np.float32))
    project = Project(duration=2.0, tracks=[Track(id="a", name="A", prompt="steps", envelope=env),
                                             Track(id="b", name="B", prompt="door", envelope=env)])
    d = Document(project, recovery_dir=str(tmp_path / "rec"), autosave_ms=0)
    yield d
    d.deleteLater()


def record(signal):
    seen = []
    signal.connect(lambda *a: seen.append(a))
    return seen


def test_envelope_op_is_one_undo_step_with_its_span(doc):
    changed = record(doc.envelopeChanged)
    before = doc.track("a").envelope.values.copy()
    assert doc.apply_envelope_op("a", "Erase", ops.erase, (10, 20))
    assert changed == [("a", 10, 20)]
    assert doc.undo_stack.count() == 1 and doc.modified
    doc.undo_stack.undo()
    assert np.array_equal(doc.track("a").envelope.values, before)
    assert changed[-1] == ("a", 10, 20) and not doc.modified
    assert not doc.edit_envelope("a", before, "nothing")  # no change, no step
    assert doc.undo_stack.count() == 1


def test_macro_groups_edits_into_one_step(doc):
    with doc.macro("Two things"):
        doc.apply_envelope_op("a", "Erase", ops.erase, (0, 5))
        doc.set_track_field("b", "prompt", "glass")
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert doc.track("b").prompt == "door" and doc.track("a").envelope.values[1] > 0


def test_gain_changes_merge_but_other_fields_do_not(doc):
    for db in (-1.0, -2.0, -3.0):
        doc.set_track_field("a", "gain_db", db)
    doc.set_track_field("a", "prompt", "x")
    doc.set_track_field("a", "prompt", "y")
    assert doc.undo_stack.count() == 3
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.track("a").gain_db == 0.0


def test_tracks_add_remove_and_selection(doc):
    added, removed, selected = record(doc.trackAdded), record(doc.trackRemoved), record(doc.selectionChanged)
    assert doc.selected_track_id == "a"
    doc.remove_track("a")
    assert removed == [("a",)] and doc.selected_track_id == "b" and selected == [("b",)]
    doc.undo_stack.undo()
    assert [t.id for t in doc.tracks] == ["a", "b"] and added == [("a",)]
    t = doc.add_track(Track(id="c", name="C"))
    assert doc.tracks[-1] is t
    doc.undo_stack.undo()
    assert [t.id for t in doc.tracks] == ["a", "b"]


def test_replacing_an_envelope_of_another_length(doc):
    new = Envelope(np.full(300, 0.2, np.float32))
    doc.set_envelope("a", new, "Auto-generate")
    assert doc.track("a").envelope == new
    doc.undo_stack.undo()
    assert len(doc.track("a").envelope) == 250


def test_save_marks_clean_and_removes_the_recovery_copy(doc, tmp_path):
    doc.set_track_field("a", "prompt", "rain")
    assert doc.autosave_now() == doc.recovery_path and os.path.isfile(doc.recovery_path)
    path = doc.save(str(tmp_path / "x.foley.json"))
    assert not doc.modified and not os.path.exists(doc.recovery_path)
    assert doc.autosave_now() is None  # nothing unsaved: nothing written
    reopened = Document(recovery_dir=doc.recovery_dir, autosave_ms=0)
    reopened.open(path)
    assert reopened.track("a").prompt == "rain" and not reopened.modified


def test_recovery_candidate_only_when_newer_than_the_project(doc, tmp_path):
    path = doc.save(str(tmp_path / "p.foley.json"))
    doc.set_track_field("a", "prompt", "wind")
    rec = doc.autosave_now()
    assert Document.recovery_candidate(path, doc.recovery_dir) == rec
    old = time.time() - 60
    os.utime(rec, (old, old))
    assert Document.recovery_candidate(path, doc.recovery_dir) is None  # the project is newer


def test_untitled_recovery_is_found(qtbot, tmp_path):
    d = Document(Project(tracks=[Track(id="a")]), recovery_dir=str(tmp_path / "rec"), autosave_ms=0)
    d.set_track_field("a", "prompt", "thunder")
    rec = d.autosave_now()
    assert Document.recovery_candidate(None, d.recovery_dir) == rec
    other = Document(recovery_dir=d.recovery_dir, autosave_ms=0)
    other.recover(rec, None)
    assert other.track("a").prompt == "thunder" and other.modified and other.path is None
    assert not os.path.exists(rec)
