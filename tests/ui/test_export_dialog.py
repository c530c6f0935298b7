"""ExportDialog: exports in the background, exact durations, and never overwrites unasked."""

import hashlib
import os

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from foley_studio.core.audio import Audio
from foley_studio.core.envelope import Envelope
from foley_studio.core.media import probe
from foley_studio.core.project import Project, Track
from foley_studio.ui.export_dialog import ExportDialog
from tests.mediagen import write_video
from tests.ui.conftest_audio import assert_no_threads_left, live_threads

DURATION = 1.0


@pytest.fixture
def session(tmp_path):
    """(project, renders, video path): two tracks, renders slightly off length and rate."""
    env = Envelope(np.linspace(0.0, 0.5, int(DURATION * 125)))
    tracks = [Track(name="Steps", prompt="steps", envelope=env, gain_db=-6.0),
              Track(name="Door", prompt="door", envelope=env)]
    rng = np.random.default_rng(0)
    renders = {tracks[0].id: Audio(0.1 * rng.standard_normal(int(1.1 * 44_100)), 44_100),
               tracks[1].id: Audio(0.1 * rng.standard_normal(int(0.9 * 48_000)), 48_000)}
    video = write_video(tmp_path / "clip.mp4", fps=30, duration=DURATION)
    return Project(tracks=tracks, duration=DURATION), renders, video


def digest(folder) -> dict[str, str]:
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))}


def open_dialog(qtbot, session, folder, **kwargs):
    project, renders, video = session
    dialog = ExportDialog(None, project, renders, video, **kwargs)
    qtbot.addWidget(dialog)
    dialog.folder_edit.setText(str(folder))
    return dialog


def test_exports_every_output_at_the_chosen_format(qtbot, session, tmp_path):
    before = live_threads()
    out = tmp_path / "out"
    dialog = open_dialog(qtbot, session, out, duration=DURATION)
    dialog.rate_combo.setCurrentIndex(dialog.rate_combo.findData(44_100))
    dialog.depth_combo.setCurrentIndex(dialog.depth_combo.findData(16))
    dialog.keep_original_box.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    result = dialog.result_value
    assert dialog.progress_bar.value() == 100
    assert sorted(os.listdir(out)) == ["01-Steps.csv", "01-Steps.wav", "02-Door.csv", "02-Door.wav",
                                       "clip-foley.mp4", "foley-mix.wav"]
    for path in [*result.stems.values(), result.mix]:
        info = sf.info(path)
        assert (info.frames, info.samplerate, info.subtype) == (44_100, 44_100, "PCM_16")
    for path in result.envelopes.values():
        assert len(open(path).read().strip().splitlines()) >= int(DURATION * 125)
    muxed = probe(result.video)
    assert muxed.has_audio and abs(muxed.duration - DURATION) < 0.05
    assert_no_threads_left(before)


def test_existing_files_are_named_and_no_leaves_them_untouched(qtbot, session, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = open_dialog(qtbot, session, out)
    first.video_box.setChecked(False)  # quicker; the MP4 path is covered above
    with qtbot.waitSignal(first.accepted, timeout=5000):
        first.start_export()
    before = digest(out)

    questions = []

    def answer(choice):
        def question(parent, title, text, *args, **kwargs):
            questions.append(text)
            return choice
        return question

    dialog = open_dialog(qtbot, session, out)
    dialog.video_box.setChecked(False)
    dialog.depth_combo.setCurrentIndex(dialog.depth_combo.findData(32))
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert len(questions) == 1
    for name in ["01-Steps.wav", "02-Door.wav", "01-Steps.csv", "02-Door.csv", "foley-mix.wav"]:
        assert name in questions[0]
    assert not dialog.running and dialog.result_value is None and dialog.result() == 0  # not accepted
    assert digest(out) == before  # "No": nothing touched

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert len(questions) == 2
    assert sf.info(dialog.result_value.mix).subtype == "FLOAT"  # "Yes": replaced


def test_new_folder_needs_no_question(qtbot, session, tmp_path, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("asked needlessly"))
    dialog = open_dialog(qtbot, session, tmp_path / "fresh")
    dialog.video_box.setChecked(False)
    dialog.csv_box.setChecked(False)
    dialog.stems_box.setChecked(False)
    with qtbot.waitSignal(dialog.accepted, timeout=5000):
        dialog.start_export()
    assert os.listdir(tmp_path / "fresh") == ["foley-mix.wav"]
    for box in (dialog.mix_box,):
        box.setChecked(False)
    assert not dialog.export_button.isEnabled()  # nothing to export


def test_run_returns_the_result_or_none(qtbot, session, tmp_path):
    project, renders, video = session

    def press(button_name):
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, ExportDialog)
        dialog.folder_edit.setText(str(tmp_path / "run"))
        dialog.video_box.setChecked(False)
        getattr(dialog, button_name)()

    QTimer.singleShot(0, lambda: press("reject"))
    assert ExportDialog.run(None, project, renders, video) is None
    QTimer.singleShot(0, lambda: press("start_export"))
    result = ExportDialog.run(None, project, renders, video)  # duration from the project
    assert result is not None and sf.info(result.mix).frames == 48_000
