"""VideoView: the frame shown is the latest one at or before the time; ROI in source pixels."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from foley_studio.core.media import open_clip
from foley_studio.ui.video_view import VideoView, time_code
from tests.mediagen import write_video
from tests.ui.conftest_audio import assert_no_threads_left, live_threads

FPS = 30


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "tiny.mp4"
    write_video(path, flat_frames(), fps=FPS)
    return open_clip(path)


def flat_frames(n: int = 2 * FPS) -> np.ndarray:
    """Frame i is a flat grey of level 20 + 3i: the picture itself tells which frame it is."""
    levels = (20 + 3 * np.arange(n)).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (n, 90, 160, 3)).copy()


@pytest.fixture
def view(qtbot, clip):
    before = live_threads()
    widget = VideoView()
    qtbot.addWidget(widget)
    widget.resize(320, 180)
    widget.show()
    widget.set_clip(clip)
    yield widget
    widget.shutdown()
    assert_no_threads_left(before)


def shown_after(qtbot, view, t):
    view.show_time(t)
    qtbot.waitUntil(lambda: view.displayed_exact, timeout=3000)
    return view.displayed_time


@pytest.mark.parametrize("t, frame", [(0.0, 0), (0.5, 15), (0.51, 15), (0.499, 14), (1.2, 36),
                                      (0.1, 3), (1.99, 59), (5.0, 59)])
def test_shows_the_latest_frame_at_or_before_t(qtbot, view, t, frame):
    assert shown_after(qtbot, view, t) == pytest.approx(frame / FPS, abs=1e-6)


def frame_index_in_picture(image) -> int:
    grey = image.pixelColor(image.width() // 2, image.height() // 2).red()
    return int(round((grey - 20) / 3))


def test_scrubbing_back_and_forth_shows_the_right_pictures(qtbot, view):
    for t in (1.5, 0.2, 1.0, 0.03, 1.8, 1.79):
        ft = shown_after(qtbot, view, t)
        index = int(np.floor(t * FPS + 1e-9))
        assert int(round(ft * FPS)) == index
        assert frame_index_in_picture(view._shown[1]) == index


def test_playback_finds_frames_already_decoded(qtbot, view):
    shown_after(qtbot, view, 0.0)
    qtbot.wait(300)  # idle: the decoder prefetches past the playhead
    view.show_time(0.3)
    assert view.displayed_exact and view.displayed_time == pytest.approx(9 / FPS)


def test_frames_are_decoded_at_the_widget_size(qtbot, view):
    shown_after(qtbot, view, 0.0)
    assert view._shown[1].width() <= 160
    assert view._decode_width == 160  # source is smaller than the widget: never upscaled


def test_time_code():
    assert time_code(0.0, 30) == "00:00:00:00"
    assert time_code(61.5, 30) == "00:01:01:15"
    assert time_code(3600 + 0.034, 29.97) == "01:00:00:01"
    assert time_code(0.1, 30) == "00:00:00:03"  # stored as 0.0999..., still frame 3


def test_roi_drag_reports_source_pixels(qtbot, view):
    # 320x180 widget, 160x90 clip: the picture fills it at scale 2, no letterbox
    shown_after(qtbot, view, 0.0)
    with qtbot.assertNotEmitted(view.roiChanged):
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(200, 100))  # mode off
    view.set_roi_mode(True)
    with qtbot.waitSignal(view.roiChanged) as roi:
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(200, 100))
        qtbot.mouseMove(view, QPoint(120, 60))
        qtbot.mouseMove(view, QPoint(40, 20))  # dragged up-left: the rect is normalised
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(40, 20))
    assert roi.args == [(20, 10, 80, 40)] and view.roi == (20, 10, 80, 40)
    with qtbot.waitSignal(view.roiChanged) as cleared:
        view.clear_roi()
    assert cleared.args == [None] and view.roi is None


def test_roi_is_clipped_to_the_picture_when_letterboxed(qtbot, view):
    view.resize(320, 280)  # picture 320x180 centred: 50 px bars top and bottom
    view.set_roi_mode(True)
    with qtbot.waitSignal(view.roiChanged) as roi:
        # (not 0,0: QTest reads a null point as "the centre")
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(1, 1))
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(161, 140))
    assert roi.args == [(0, 0, 80, 45)]


@pytest.fixture(scope="module")
def wide_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("wide") / "wide.mp4"
    write_video(path, flat_frames(FPS // 2).repeat(4, axis=1).repeat(4, axis=2), fps=FPS)  # 640x360
    return open_clip(path)


@pytest.mark.parametrize("size", [(401, 300), (333, 187), (640, 360)])
def test_frames_come_at_the_pictures_pixel_size_and_are_drawn_without_scaling(qtbot, wide_clip, size):
    """Any width, also one whose RGB rows FFmpeg pads (3 * 400 bytes is no multiple of 64)."""
    before = live_threads()
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.set_clip(wide_clip)
    try:
        shown_after(qtbot, view, 0.2)
        image, target = view._shown[1], view._image_rect()
        assert abs(image.width() - target.width()) <= 2 and abs(image.height() - target.height()) <= 2
        exact = view._exact_rect(image, target)
        assert exact is not None and exact.width() == image.width()
        assert exact.x() == int(exact.x()) and exact.y() == int(exact.y())  # whole pixels: a plain copy
        grab = view.grab().toImage()
        centre = grab.pixelColor(int(target.center().x()), int(target.center().y())).red()
        assert abs(centre - (20 + 3 * 6)) <= 3  # frame 6 is on screen
    finally:
        view.shutdown()
    assert_no_threads_left(before)


def test_a_frame_of_another_size_is_scaled_into_the_picture(qtbot, view):
    shown_after(qtbot, view, 0.0)
    image = view._shown[1]
    view.resize(300, 170)  # until frames of the new size arrive the old one is scaled
    assert view._exact_rect(image, view._image_rect()) is None
    view.grab()  # paints without error


def test_first_frame_shown_is_signalled_once_per_clip(qtbot, clip):
    before = live_threads()
    view = VideoView()
    qtbot.addWidget(view)
    view.resize(320, 180)
    seen = []
    view.firstFrameShown.connect(lambda: seen.append(view.displayed_time))
    view.show()
    try:
        with qtbot.waitSignal(view.firstFrameShown, timeout=3000):
            view.set_clip(clip)
        shown_after(qtbot, view, 1.0)
        view.repaint()
        assert seen == [0.0]
        with qtbot.waitSignal(view.firstFrameShown, timeout=3000):
            view.set_clip(clip)
        assert len(seen) == 2
    finally:
        view.shutdown()
    assert_no_threads_left(before)
