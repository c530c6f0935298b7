"""The track row's "timbre from a sound file": offered only by engines that take an audio
prompt, one undo step to set and to clear, shown as a chip with the file's name."""

import numpy as np
import pytest

from foley_studio.core.envelope import Envelope
from foley_studio.core.project import Project, Track
from foley_studio.ui import track_list
from foley_studio.ui.document import SOUND_FIELDS, Document
from foley_studio.ui.track_list import TrackList


@pytest.fixture
def rows(qtbot, tmp_path):
    env = Envelope(np.full(250, 0.1, np.float32))
    project = Project(duration=2.0, tracks=[
        Track(id="n", name="Neural", prompt="door", engine="controlnet", envelope=env),
        Track(id="p", name="Palette", prompt="steps", engine="palette", envelope=env)])
    doc = Document(project, recovery_dir=str(tmp_path / "rec"), autosave_ms=0)
    view = TrackList(doc)
    qtbot.addWidget(view)
    view.show()
    yield doc, view.rows
    view.close()  # the view holds the rows: keep it alive until the test ends


def test_only_engines_that_take_a_sound_open_the_dialog(rows, monkeypatch):
    doc, r = rows
    asked = []
    monkeypatch.setattr(track_list, "pick_sound_file", lambda parent: asked.append(1) or "")
    r["p"].sound.click()
    assert asked == [] and "takes its timbre from the text prompt" in r["p"].status.text()
    assert doc.track("p").engine_params == {} and doc.undo_stack.count() == 0
    r["n"].sound.click()
    assert asked == [1]
    assert not r["n"].sound_chip.isVisible()


def test_drawing_the_rows_does_not_import_the_engines():
    """palette's module pulls in scipy.signal (~1.4 s): the editor must show its first picture
    without it, so the rows may not ask engines anything until the user does."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from PySide6.QtWidgets import QApplication\n"
            "app = QApplication([])\n"
            "from foley_studio.core.envelope import Envelope\n"
            "from foley_studio.core.project import Project, Track\n"
            "from foley_studio.ui.document import Document\n"
            "from foley_studio.ui.track_list import TrackList\n"
            "doc = Document(Project(duration=1.0, tracks=[Track(id='a', engine='palette', "
            "envelope=Envelope(np.zeros(125, np.float32)))]), autosave_ms=0)\n"
            "view = TrackList(doc); view.show(); app.processEvents()\n"
            "loaded = [m for m in ('foley_studio.engines.rms2sound.palette', 'scipy.signal') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_choosing_a_sound_is_one_undo_step_and_the_chip_clears_it(rows, monkeypatch, tmp_path):
    doc, r = rows
    sound = tmp_path / "creaky door.wav"
    sound.write_bytes(b"RIFF")
    monkeypatch.setattr(track_list, "pick_sound_file", lambda parent: str(sound))
    r["n"].sound.click()
    assert doc.track("n").engine_params == {"audio_prompt": str(sound)}
    assert doc.undo_stack.count() == 1 and doc.undo_stack.text(0) == "Timbre from sound file"
    assert r["n"].sound_chip.isVisible() and r["n"].sound_chip.text().startswith("creaky door.wav")
    assert "engine_params" in SOUND_FIELDS  # so the change re-renders the track

    r["n"].sound_chip.click()
    assert doc.track("n").engine_params == {} and not r["n"].sound_chip.isVisible()
    doc.undo_stack.undo()
    assert doc.track("n").engine_params == {"audio_prompt": str(sound)} and r["n"].sound_chip.isVisible()
    doc.undo_stack.undo()
    assert doc.track("n").engine_params == {}


def test_cancelling_the_dialog_changes_nothing(rows, monkeypatch):
    doc, r = rows
    monkeypatch.setattr(track_list, "pick_sound_file", lambda parent: "")
    r["n"].sound.click()
    assert doc.track("n").engine_params == {} and doc.undo_stack.count() == 0


def test_other_engine_settings_survive(rows, monkeypatch, tmp_path):
    doc, r = rows
    doc.set_track_field("n", "engine_params", {"steps": 50})
    monkeypatch.setattr(track_list, "pick_sound_file", lambda parent: str(tmp_path / "a.wav"))
    r["n"].sound.click()
    r["n"].sound_chip.click()
    assert doc.track("n").engine_params == {"steps": 50}


def test_a_click_from_a_removed_row_selects_nothing(rows):
    """A queued FocusIn can reach a row whose track was just removed (opening a project
    while a row had focus); it used to raise KeyError from Document.select."""
    doc, r = rows
    stale = r["p"]
    doc.remove_track("p")
    doc.select("n")
    stale.clicked.emit("p")
    assert doc.selected_track_id == "n"
