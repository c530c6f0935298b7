"""Autosave and crash recovery: after a crash at most the last AUTOSAVE_MS (<= 30 s) of
edits are lost, the recovery copy never touches the user's project file, and the next
session offers the copy and gets the edits back.

The crash is real: a separate editor process makes edits, lets one autosave happen, makes
one more edit and is killed with SIGKILL; a new window then opens the project.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from foley_studio.core import project as project_io
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import ProjectError
from foley_studio.core.project import Project, Track
from foley_studio.ui.document import AUTOSAVE_MS, Document

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIMIT_MS = 30_000  # the promise: no more than the last 30 s of edits lost


def saved_project(folder) -> str:
    path = os.path.join(folder, "scene.json")
    project_io.save(Project(tracks=[Track(id="a", prompt="footsteps", envelope=Envelope(np.zeros(125)))]), path)
    return path


def files_under(folder) -> dict:
    out = {}
    for base, _, names in os.walk(folder):
        for n in names:
            p = os.path.join(base, n)
            with open(p, "rb") as f:
                out[p] = (f.read(), os.stat(p).st_mtime_ns)
    return out


def test_default_autosave_interval_is_at_most_30_seconds(make_window):
    assert 0 < AUTOSAVE_MS <= LIMIT_MS
    w = make_window()  # as the app builds it: no interval given
    timer = w.doc._autosave
    assert timer.isActive() and not timer.isSingleShot() and 0 < timer.interval() <= LIMIT_MS


def test_edits_never_restart_the_autosave_timer(qtbot, tmp_path):
    """A debounce would postpone the autosave for as long as edits keep coming."""
    doc = Document(project_io.load(saved_project(tmp_path)), recovery_dir=str(tmp_path / "rec"),
                   autosave_ms=10_000)
    qtbot.wait(300)
    before = doc._autosave.remainingTime()
    for k in range(5):
        doc.set_track_field("a", "prompt", f"edit {k}")
    assert doc._autosave.isActive() and doc._autosave.remainingTime() <= before


def test_continuous_editing_still_autosaves(qtbot, tmp_path):
    doc = Document(project_io.load(saved_project(tmp_path)), recovery_dir=str(tmp_path / "rec"),
                   autosave_ms=200)
    count = [0]

    def edit():
        count[0] += 1
        doc.set_track_field("a", "prompt", f"edit {count[0]}")

    from PySide6.QtCore import QTimer

    editor = QTimer()
    editor.timeout.connect(edit)
    editor.start(20)  # an edit every 20 ms, far faster than the autosave interval
    try:
        qtbot.waitUntil(lambda: os.path.isfile(doc.recovery_path), timeout=3000)
        qtbot.wait(600)
        saved = int(project_io.load(doc.recovery_path).tracks[0].prompt.split()[1])
        now = count[0]
    finally:
        editor.stop()
        doc.stop_autosave()
    assert now >= 10 and saved >= 1
    assert now - saved <= 40, (now, saved)  # within ~2 intervals of the newest edit


def test_autosave_never_touches_the_project_file_or_its_folder(qtbot, tmp_path):
    (tmp_path / "proj").mkdir()
    path = saved_project(tmp_path / "proj")
    before = files_under(tmp_path / "proj")
    doc = Document(project_io.load(path), path, recovery_dir=str(tmp_path / "rec"), autosave_ms=0)
    doc.set_track_field("a", "prompt", "rain")
    for _ in range(3):
        rec = doc.autosave_now()
    assert rec and os.path.dirname(rec) == str(tmp_path / "rec")
    assert files_under(tmp_path / "proj") == before
    assert project_io.load(rec).tracks[0].prompt == "rain"
    assert sorted(os.listdir(tmp_path / "rec")) == sorted([os.path.basename(rec), os.path.basename(rec) + ".bak"])


def test_failed_autosave_keeps_the_previous_copy_and_never_raises(qtbot, tmp_path, monkeypatch):
    path = saved_project(tmp_path)
    doc = Document(project_io.load(path), path, recovery_dir=str(tmp_path / "rec"), autosave_ms=0)
    doc.set_track_field("a", "prompt", "first")
    rec = doc.autosave_now()
    old = open(rec, "rb").read()
    doc.set_track_field("a", "prompt", "second")
    real_replace = os.replace

    def full(src, dst):  # the disk fills up just as the new copy would go in
        if os.fspath(dst) == rec:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full)
    assert doc.autosave_now() is None
    monkeypatch.undo()
    assert open(rec, "rb").read() == old and not [n for n in os.listdir(tmp_path / "rec") if n.startswith(".")]
    monkeypatch.setattr(project_io, "save", lambda *a: (_ for _ in ()).throw(ProjectError("bad", rec)))
    assert doc.autosave_now() is None


def test_undoing_every_edit_removes_the_stale_copy(qtbot, tmp_path):
    path = saved_project(tmp_path)
    doc = Document(project_io.load(path), path, recovery_dir=str(tmp_path / "rec"), autosave_ms=0)
    doc.set_track_field("a", "prompt", "rain")
    rec = doc.autosave_now()
    doc.undo_stack.undo()
    assert not doc.modified and doc.autosave_now() is None
    assert not os.path.exists(rec)  # a crash now must not offer back the undone edit
    assert Document.recovery_candidate(path, doc.recovery_dir) is None


def test_recovered_edits_survive_a_second_crash(qtbot, tmp_path):
    rec_dir = str(tmp_path / "rec")
    first = Document(Project(tracks=[Track(id="a")]), recovery_dir=rec_dir, autosave_ms=0)
    first.set_track_field("a", "prompt", "untitled edit")
    old = first.autosave_now()
    second = Document(recovery_dir=rec_dir, autosave_ms=0)
    second.recover(Document.recovery_candidate(None, rec_dir), None)
    # the copy now belongs to the new session, and is on disk before the old one went
    assert not os.path.exists(old) and os.path.isfile(second.recovery_path)
    assert project_io.load(second.recovery_path).tracks[0].prompt == "untitled edit"


EDITOR = r"""
import os, signal, sys
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from foley_studio.core import project as project_io
from foley_studio.ui.document import Document
path, rec_dir = sys.argv[1], sys.argv[2]
app = QGuiApplication([])
doc = Document(project_io.load(path) if path != "-" else None, None if path == "-" else path,
               recovery_dir=rec_dir, autosave_ms=150)
if path == "-":
    from foley_studio.core.project import Track
    doc.add_track(Track(id="a", prompt="untitled"))
track = doc.tracks[0].id
doc.set_track_field(track, "prompt", "glass shattering")
values = doc.track(track).envelope.values.copy()
values[10:20] = 0.5
doc.edit_envelope(track, values)

def after_autosave():
    doc.set_track_field(track, "seed", 99)  # made after the last autosave: may be lost
    print("killing", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

QTimer.singleShot(400, after_autosave)  # two autosave ticks have passed
app.exec()
"""


def crash_editor(path: str, rec_dir: str) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    child = subprocess.run([sys.executable, "-c", EDITOR, path, rec_dir], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert child.stdout.strip() == "killing"


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_crash_then_the_next_session_recovers_the_edits(make_window, dialogs, tmp_path):
    path = saved_project(tmp_path)
    user_file = open(path, "rb").read()
    rec_dir = str(tmp_path / "recovery")  # the folder make_window's windows use
    time.sleep(0.01)  # the copy must be newer than the project
    crash_editor(path, rec_dir)
    assert open(path, "rb").read() == user_file  # the crashed session never wrote it

    dialogs.confirm_answer = True
    w = make_window()
    assert w.open_path(path)
    assert any("did not close properly" in q for q in dialogs.questions)
    track = w.doc.tracks[0]
    assert track.prompt == "glass shattering"
    assert np.allclose(track.envelope.values[10:20], 0.5) and track.envelope.values[:10].max() == 0
    assert w.doc.modified and w.doc.path == os.path.abspath(path)
    assert open(path, "rb").read() == user_file  # still unsaved: the user decides
    w.save()
    assert project_io.load(path).tracks[0].prompt == "glass shattering"
    assert Document.recovery_candidate(path, rec_dir) is None


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_crash_of_an_untitled_session_is_offered_at_start(make_window, dialogs, tmp_path):
    rec_dir = str(tmp_path / "recovery")
    crash_editor("-", rec_dir)
    found = Document.recovery_candidate(None, rec_dir)
    assert found and json.load(open(found))["tracks"][0]["prompt"] == "glass shattering"
    w = make_window()
    w.recover_untitled(found)  # what app.py does when the user accepts the offer
    assert w.doc.tracks[0].prompt == "glass shattering" and w.doc.modified and w.doc.path is None


@pytest.mark.skipif(os.name != "posix", reason="asks the OS whether a pid runs")
def test_untitled_copy_of_an_editor_still_running_is_not_offered(tmp_path):
    rec_dir = tmp_path / "rec"
    rec_dir.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        copy = rec_dir / f"untitled-{other.pid}-0123abcd.recovery.json"
        project_io.save(Project(tracks=[Track(id="a", prompt="live")]), copy)
        assert Document.recovery_candidate(None, str(rec_dir)) is None  # not a crash: it runs
    finally:
        other.kill()
        other.wait()
    assert Document.recovery_candidate(None, str(rec_dir)) == str(copy)  # now it is one


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("accept", [True, False])
def test_the_start_offer_recovers_or_forgets_the_copy(make_window, dialogs, tmp_path, accept):
    from foley_studio.ui.app import offer_untitled_recovery

    rec_dir = str(tmp_path / "recovery")
    crash_editor("-", rec_dir)
    found = Document.recovery_candidate(None, rec_dir)
    dialogs.confirm_answer = accept
    w = make_window(recovery_dir=rec_dir)
    assert offer_untitled_recovery(w) is accept and len(dialogs.questions) == 1
    if accept:
        assert w.doc.tracks[0].prompt == "glass shattering"
    else:  # declined: deleted, so the next start does not ask again
        assert not os.path.exists(found) and Document.recovery_candidate(None, rec_dir) is None
        assert offer_untitled_recovery(w) is False and len(dialogs.questions) == 1
