"""Long clips in the editor: the production-audio waveform is built from streamed peaks,
the filmstrip is re-decoded for the visible range when zoomed in (not stretched), and
playback mixes long renders kept on disk into compact (int16) play buffers."""

import numpy as np
import pytest

from foley_studio.core import media
from foley_studio.core.audio import Audio
from foley_studio.core.audio_store import AudioFile
from foley_studio.core.cancel import CancelToken
from foley_studio.ui.playback import TrackMixer
from foley_studio.ui.transport import INT16_SCALE, Transport
from foley_studio.ui.waveform import PeakBuilder, base_block_for, build_peaks, clip_peaks_job
from tests.mediagen import tone, write_video
from tests.ui.conftest_audio import FakeClock, FakeTimeInfo

SR = 48_000
FPS = 10
SECONDS = 30.0


def frame_number_picture(i: int, t: float) -> np.ndarray:
    """Grey level = 8 * frame index (mod 256): a picture says which frame it is."""
    return np.full((36, 64, 3), (8 * i) % 256, np.uint8)


@pytest.fixture(scope="module")
def numbered_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("long-ui") / "numbered.mp4"
    rng = np.random.default_rng(3)
    audio = tone(SECONDS)[0] + (0.05 * rng.standard_normal(int(SECONDS * SR))).astype(np.float32)
    return write_video(path, frame_number_picture, fps=FPS, size=(64, 36), duration=SECONDS,
                       audio=audio, audio_sr=SR)


def test_peak_builder_equals_whole_signal_peaks():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(100_003).astype(np.float32)
    builder = PeakBuilder(128)
    at = 0
    for size in rng.integers(1, 5000, 60):
        builder.add(x[at:at + size])
        at += size
        partial = builder.levels()  # as shown while streaming: the prefix's peaks
        np.testing.assert_array_equal(partial[0][2], build_peaks(x[:at], 128)[0][2])
    builder.add(x[at:])
    for (s1, lo1, hi1), (s2, lo2, hi2) in zip(builder.levels(), build_peaks(x, 128), strict=True):
        assert s1 == s2
        np.testing.assert_array_equal(lo1, lo2)
        np.testing.assert_array_equal(hi1, hi2)
    assert base_block_for(3600 * SR) * (1 << 21) >= 3600 * SR  # an hour stays within the bound


def test_streamed_waveform_peaks_match_the_full_decode(numbered_clip):
    job = clip_peaks_job(numbered_clip, SECONDS)
    results = list(job(CancelToken(), lambda *_: None))
    levels, sr, complete = results[-1]
    assert complete and sr == SR and all(not r[2] for r in results[:-1])
    whole = media.decode_audio(numbered_clip)
    expected = build_peaks(whole.samples, levels[0][0])
    assert len(levels) == len(expected)
    for (s1, lo1, hi1), (s2, lo2, hi2) in zip(levels, expected):
        assert s1 == s2
        np.testing.assert_array_equal(lo1, lo2)
        np.testing.assert_array_equal(hi1, hi2)


def test_window_shows_the_streamed_waveform(make_window, numbered_clip, qtbot):
    w = make_window(playback=None)
    assert w.open_path(numbered_clip)
    item = w.timeline.waveform_item
    qtbot.waitUntil(lambda: item.is_ready, timeout=10_000)
    assert item.duration == pytest.approx(SECONDS, abs=0.1)
    times, lo, hi = item.columns(0.0, SECONDS, 300)
    assert len(times) >= 300 and hi.max() > 0.5 and lo.min() < -0.5  # the tone is there


def _picture_frame(image: np.ndarray) -> int:
    return int(round(float(image.mean()) / 8.0))


def test_zooming_in_redecodes_the_filmstrip_for_the_visible_range(make_window, numbered_clip, qtbot):
    w = make_window()
    assert w.open_path(numbered_clip)
    timeline = w.timeline
    qtbot.waitUntil(lambda: timeline.thumbnail_count > 0 and not w.jobs.running("thumbnails"),
                    timeout=10_000)
    overview_step = SECONDS / timeline.thumbnail_count
    assert timeline.detail_thumbnails == []  # zoomed out: the overview is sharp
    x0, x1 = 12.0, 14.0
    timeline.envelope_plot.setXRange(x0, x1, padding=0)
    qtbot.waitUntil(lambda: len(timeline.detail_thumbnails) > 3 and not w.jobs.running("thumbnails-detail"),
                    timeout=10_000)
    detail = timeline.detail_thumbnails
    widths = [width for _, width, _ in detail]
    assert max(widths) < overview_step / 1.5  # narrower pictures, not the overview's stretched
    for start, width, image in detail:
        assert x0 - width <= start <= x1
        # the picture really is the frame at its slot (decoded there, not copied)
        assert _picture_frame(image) == int(np.ceil(start * FPS - 1e-6)) % 32
    # zooming back out drops the detail strip
    timeline.zoom("fit")
    qtbot.waitUntil(lambda: timeline.detail_thumbnails == [], timeout=5000)
    assert timeline.thumbnail_count <= 60


def test_long_buffers_are_int16_and_play_a_stored_render():
    clock = FakeClock()
    transport = Transport(SR, device_driven=True, latency=0.03, clock=clock, compact_above_s=1.0)
    mixer = TrackMixer(transport)
    try:
        rng = np.random.default_rng(1)
        x = np.clip(0.1 * rng.standard_normal(3 * SR), -0.9, 0.9).astype(np.float32)
        stored = AudioFile(len(x), SR)
        stored.write(0, x)
        mixer.set_duration(3.0)
        mixer.set_source("t", stored)
        assert mixer.wait_idle()
        assert transport.front_samples().dtype == np.int16 or transport.acquire_back().dtype == np.int16
        out = np.zeros((512, 2), np.float32)
        transport.callback(out, 512, FakeTimeInfo(clock.now, clock.now + 0.03), 0)  # takes the mix
        transport.play()
        played = []
        for _ in range(40):
            clock.now += 512 / SR
            transport.callback(out, 512, FakeTimeInfo(clock.now, clock.now + 0.03), 0)
            played.append(out[:, 0].copy())
        heard = np.concatenate(played)
        fade = int(0.015 * SR)
        np.testing.assert_allclose(heard[fade:], x[fade:len(heard)], atol=1.01 * INT16_SCALE)
    finally:
        mixer.close()


def test_mixing_a_stored_render_equals_mixing_it_in_memory():
    rng = np.random.default_rng(2)
    x = (0.2 * rng.standard_normal(2 * SR + 17)).astype(np.float32)
    stored = AudioFile(len(x), SR)
    stored.write(0, x)
    mixes = []
    for source in (Audio(x, SR), stored):
        transport = Transport(SR)
        mixer = TrackMixer(transport)
        try:
            mixer.set_duration(len(x) / SR)
            mixer.set_params({"t": -6.0}, None)
            mixer.set_source("t", source)
            assert mixer.wait_idle()
            mixes.append(np.array(transport.front_samples()))
        finally:
            mixer.close()
    np.testing.assert_array_equal(mixes[0], mixes[1])
    np.testing.assert_allclose(mixes[0], x * np.float32(10 ** (-6 / 20)), atol=1e-7)


def test_silent_long_tracks_leave_the_play_buffers_untouched():
    """A new long clip's silent first track must not fault in hundreds of MB of zeros."""
    transport = Transport(SR, compact_above_s=1.0)
    mixer = TrackMixer(transport)
    try:
        mixer.set_duration(3.0)
        mixer.set_source("t", AudioFile(3 * SR, SR))  # never written: silent
        assert mixer.wait_idle()
        assert mixer._written == set() and not transport.front_samples().any()
        sound = AudioFile(3 * SR, SR)
        sound.write(SR, np.full(100, 0.5, np.float32))
        mixer.set_source("t", sound)
        assert mixer.wait_idle()
        assert len(mixer._written) == 1
        front = transport.front_samples()
        assert front[SR] == round(0.5 * 32767) and not front[:SR].any()
        mixer.set_source("t", AudioFile(3 * SR, SR))  # silent again: the written buffer is cleared
        assert mixer.wait_idle()
        assert not transport.front_samples().any()
    finally:
        mixer.close()


@pytest.mark.parametrize("compact", [True, False])
def test_a_span_edit_of_a_stored_track_remixes_only_its_span(compact):
    """The mix after a span re-render equals a full mix, but only the span was mixed."""
    rng = np.random.default_rng(5)
    x = np.clip(0.1 * rng.standard_normal(4 * SR), -0.9, 0.9).astype(np.float32)
    other = Audio(np.clip(0.05 * rng.standard_normal(4 * SR), -0.5, 0.5).astype(np.float32), SR)
    first = AudioFile(len(x), SR)
    first.write(0, x)
    edited = first.with_patch(SR, np.full(SR // 2, 0.25, np.float32))
    edited_again = edited.with_patch(3 * SR, np.full(100, -0.25, np.float32))
    limit = 1.0 if compact else 60.0
    transport = Transport(SR, compact_above_s=limit)
    mixer = TrackMixer(transport)
    reference = Transport(SR, compact_above_s=limit)
    full = TrackMixer(reference)
    try:
        for m in (mixer, full):
            m.set_duration(4.0)
            m.set_params({"t": -3.0, "o": -6.0}, None)
            m.set_source("o", other)
        mixer.set_source("t", first)
        assert mixer.wait_idle()
        assert mixer.last_range == (0, 4 * SR)
        for source, span in ((edited, (SR, SR + SR // 2)), (edited_again, (3 * SR, 3 * SR + 100))):
            mixer.set_source("t", source)
            assert mixer.wait_idle()
            assert mixer.last_range == span  # only the span was mixed...
            full.set_source("t", source)
            assert full.wait_idle()
            # ...and the play buffer is exactly what a full mix gives
            np.testing.assert_array_equal(transport.front_samples(), reference.front_samples())
        mixer.set_params({"t": -4.0, "o": -6.0}, None)  # a gain change: everything again
        assert mixer.wait_idle()
        assert mixer.last_range == (0, 4 * SR)
    finally:
        mixer.close()
        full.close()


def test_a_held_waveform_build_waits_then_finishes_or_cancels(numbered_clip):
    import threading
    import time

    from foley_studio.core.errors import Cancelled

    hold = threading.Event()
    hold.set()
    results, errors = [], []

    def run(token):
        try:
            results.extend(clip_peaks_job(numbered_clip, SECONDS, hold)(token, lambda *_: None))
        except Cancelled as exc:
            errors.append(exc)

    token = CancelToken()
    worker = threading.Thread(target=run, args=(token,))
    worker.start()
    time.sleep(0.6)  # longer than a whole unheld build of this clip takes
    assert worker.is_alive() and results == []  # held before its first piece
    hold.clear()
    worker.join(10)
    assert results and results[-1][2]  # went on and completed

    hold.set()
    results.clear()
    token = CancelToken()
    worker = threading.Thread(target=run, args=(token,))
    worker.start()
    time.sleep(0.3)
    token.cancel()  # a held build still stops when told (window closed, another clip)
    worker.join(2)
    assert not worker.is_alive() and errors and results == []


def test_the_waveform_waits_while_the_envelope_is_predicted(make_window, numbered_clip, qtbot):
    import threading

    from foley_studio.core.envelope import Envelope
    from foley_studio.core.rms import FRAME_RATE

    release = threading.Event()

    def predictor(clip, engine_id, roi, progress=None, cancel=None):
        while not release.wait(0.02):
            cancel.check()
        return Envelope(np.full(int(clip.duration * FRAME_RATE), 0.1, np.float32), FRAME_RATE)

    w = make_window(playback=None, predictor=predictor)
    hold = w.timeline.background_hold
    assert w.open_path(numbered_clip)
    w.auto_generate()
    assert hold.is_set()
    qtbot.wait(800)  # the waveform alone completes in less
    assert not w.timeline.waveform_item.is_ready
    release.set()
    qtbot.waitUntil(lambda: w.timeline.waveform_item.is_ready, timeout=10_000)
    assert not hold.is_set()
    # a cancelled prediction (it says nothing else) lets the waveform go on too
    release.clear()
    w.auto_generate()
    assert hold.is_set()
    w.jobs.cancel("predict")
    qtbot.waitUntil(lambda: not hold.is_set(), timeout=5_000)
