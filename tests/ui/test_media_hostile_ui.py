"""Hostile media in the editor (issue 5): a bad file shows one clear error and leaves the
open document and clip as they were; odd-but-valid clips open and show a picture; a clip
whose file is replaced or deleted while open is reported, never decoded as if unchanged."""

from __future__ import annotations

import os
import shutil

import pytest

from foley_studio.core import media
from foley_studio.ui.video_view import VideoView
from tests.media_cases import BAD, DAMAGED, GOOD, assert_one_clear_line, build_cases, good_clip


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return build_cases(tmp_path_factory.mktemp("hostile_ui"))


@pytest.fixture
def window(make_window):
    """A window with the real VideoView (its decoder thread is what meets a changed file)."""
    return make_window(video_view=VideoView())


def first_picture(qtbot, w) -> None:
    qtbot.waitUntil(lambda: w.video_view.displayed_time is not None, timeout=3000)


def test_bad_files_leave_the_editor_as_it_was(window, cases, dialogs, qtbot):
    w = window
    good = cases["spaces and unicode in the name"].path
    assert w.open_path(good)
    track = w.doc.tracks[0]
    w.doc.set_track_field(track.id, "prompt", "gravel steps")  # unsaved work
    for name in BAD:
        path = cases[name].path
        before = len(dialogs.errors)
        assert not w.open_path(path), name
        assert len(dialogs.errors) == before + 1, name
        assert_one_clear_line(dialogs.errors[-1], path)
        assert cases[name].error in dialogs.errors[-1], name
        # the file is refused before the save question: nothing asked, nothing replaced
        assert not dialogs.questions, name
        assert w.clip is not None and w.clip.path == good, name
        assert w.doc.project.media_path == os.path.abspath(good), name
        assert w.doc.tracks[0].prompt == "gravel steps" and w.doc.modified, name
    first_picture(qtbot, w)  # the view still draws the clip that stayed open
    assert w.video_view.error is None
    assert w.open_path(cases["single frame"].path)  # and another file opens as usual
    assert w.doc.project.media_path == os.path.abspath(cases["single frame"].path)


def test_unreadable_file_is_refused(window, dialogs, tmp_path, monkeypatch):
    locked = good_clip(tmp_path / "locked.mp4", 0.4)
    os.chmod(locked, 0)
    if os.geteuid() == 0:  # root reads anything: pretend, as the kernel would for a user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: os.fspath(p) != locked
                            and real_access(p, mode, **kw))
    assert not window.open_path(locked)
    assert "permission denied" in dialogs.errors[-1]
    assert_one_clear_line(dialogs.errors[-1], locked)
    assert window.clip is None


def test_odd_but_valid_clips_open_and_show_a_picture(window, cases, dialogs, qtbot):
    w = window  # one window for all: opening clip after clip is part of the check
    for name in GOOD:
        assert w.open_path(cases[name].path), name
        assert w.clip.duration == pytest.approx(media.probe(cases[name].path).duration), name
        assert w.timeline.duration == pytest.approx(w.clip.duration, abs=0.05), name
        first_picture(qtbot, w)
        image = w.video_view._shown[1]
        if w.clip.info.rotation in (90, 270):
            assert image.height() > image.width(), name  # shown upright: a portrait picture
        if w.clip.info.truncated:
            assert "cut short" in w.statusBar().currentMessage(), name
        w.seek(w.clip.duration)  # the last frame decodes too
        qtbot.waitUntil(lambda: w.video_view.displayed_exact, timeout=3000)
        assert not dialogs.errors and w.video_view.error is None, name


@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_clip_opens_and_says_so_once(window, cases, dialogs, qtbot, name):
    w = window
    path = cases[name].path
    assert w.open_path(path)
    w.seek(0.5)  # inside the damaged span
    qtbot.waitUntil(lambda: bool(dialogs.errors), timeout=3000)
    assert cases[name].error in dialogs.errors[0]
    assert_one_clear_line(dialogs.errors[0], path)
    _auto_generate_fails(w, qtbot, cases[name].error)
    assert len(dialogs.errors) == 1  # the same problem is not shown twice
    assert w.open_path(cases["single frame"].path) and w.video_view.error is None


# --- the clip's file changes while it is open -------------------------------------------


@pytest.fixture
def opened(window, tmp_path, qtbot):
    """(window with a.mp4 open and its first frame shown, a different clip b.mp4)."""
    a = good_clip(tmp_path / "a.mp4", 1.0, freq=440)
    b = good_clip(tmp_path / "b.mp4", 0.6, freq=880)
    assert window.open_path(a)
    first_picture(qtbot, window)
    return window, b


def _auto_generate_fails(w, qtbot, words: str) -> None:
    before = (w.doc.undo_stack.count(), w.doc.tracks[0].envelope)
    with qtbot.waitSignal(w.autoFailed, timeout=5000) as failed:
        w.auto_generate()
    assert words in failed.args[0]
    assert_one_clear_line(failed.args[0], w.clip.path)
    assert (w.doc.undo_stack.count(), w.doc.tracks[0].envelope) == before  # untouched


def test_replaced_clip_is_reported_not_shown(opened, dialogs, qtbot, cases):
    w, other = opened
    os.replace(other, w.clip.path)
    # past the prefetched frames: the decoder reads on (or reopens) and meets the check,
    # at the latest at the clip's end, which is within its prefetch from here
    w.seek(0.9)
    # the picture's decoder and the filmstrip's may meet the change first: wait for both
    qtbot.waitUntil(lambda: bool(dialogs.errors) and w.video_view.error is not None, timeout=3000)
    assert "changed on disk" in dialogs.errors[0]
    assert_one_clear_line(dialogs.errors[0], w.clip.path)
    assert "changed on disk" in w.video_view.error  # painted over the stale picture
    assert "changed on disk" in w.statusBar().currentMessage()
    _auto_generate_fails(w, qtbot, "changed on disk")
    assert len(dialogs.errors) == 1  # said once, not once per decode
    assert w.open_path(cases["single frame"].path) and w.video_view.error is None


def test_deleted_clip_is_reported_and_the_project_can_still_be_saved(opened, dialogs, qtbot,
                                                                       tmp_path):
    w, _ = opened
    os.remove(w.clip.path)
    w._check_clip_file()  # what returning to the window (activation) runs
    assert len(dialogs.errors) == 1 and "deleted or moved" in dialogs.errors[0]
    _auto_generate_fails(w, qtbot, "deleted or moved")
    dialogs.save_to = str(tmp_path / "kept.foley.json")
    assert w.save() and os.path.isfile(dialogs.save_to)


def test_project_whose_video_changed_since_saving_warns(opened, dialogs, make_window, tmp_path):
    w, other = opened
    dialogs.save_to = str(tmp_path / "p.foley.json")
    assert w.save()
    video = w.clip.path
    os.replace(other, video)
    w2 = make_window(video_view=VideoView())
    assert w2.open_path(dialogs.save_to)
    assert "changed since the project was saved" in dialogs.errors[-1]
    assert_one_clear_line(dialogs.errors[-1], video)
    assert w2.clip is not None and w2.clip.duration == pytest.approx(0.6)


def test_project_whose_video_is_now_garbage_opens_without_it(opened, dialogs, tmp_path, cases):
    w, _ = opened
    dialogs.save_to = str(tmp_path / "p.foley.json")
    assert w.save()
    video = w.clip.path
    shutil.copy(cases["random bytes"].path, video)
    assert w.open_path(dialogs.save_to)
    assert "not a media file" in dialogs.errors[-1]
    assert_one_clear_line(dialogs.errors[-1], video)
    # the project is open without a picture, not beside the clip that was open before
    assert w.doc.path == os.path.abspath(dialogs.save_to) and w.clip is None
    assert w.video_view.displayed_time is None
