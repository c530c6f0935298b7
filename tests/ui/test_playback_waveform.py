"""The waveform item: exact peaks, long clips built off the GUI thread, painting works."""

import numpy as np
import pyqtgraph as pg

from foley_studio.core.audio import Audio
from foley_studio.ui.waveform import WaveformItem, build_peaks
from tests.ui.conftest_audio import assert_no_threads_left, live_threads


def test_peaks_hold_every_extreme_at_every_level():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(10_007)).astype(np.float32)
    x[5_000] = 0.9
    x[7_777] = -0.8
    for size, lo, hi in build_peaks(x):
        assert hi.max() == np.float32(0.9) and lo.min() == np.float32(-0.8)
        assert len(hi) == -(-len(x) // size) or len(hi) == 1


def test_columns_follow_the_pixels(qtbot):
    item = WaveformItem()
    sr = 48_000
    x = np.zeros(4 * sr, np.float32)
    x[sr] = 1.0  # one click at 1 s
    item.set_audio(Audio(x, sr))
    assert item.is_ready
    times, lo, hi = item.columns(0.0, 4.0, 400)
    assert 400 <= len(times) <= 800
    assert hi.max() == 1.0 and abs(times[hi.argmax()] - 1.0) < 4.0 / 400


def test_long_audio_is_built_in_the_background_and_painted(qtbot):
    before = live_threads()
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    item = WaveformItem()
    plot.addItem(item)
    sr = 16_000
    audio = Audio(np.sin(np.arange(40 * sr) / 30.0).astype(np.float32) * 0.5, sr)
    with qtbot.waitSignal(item.ready, timeout=3000):
        item.set_audio(audio)
        assert not item.is_ready  # returned before the peaks existed
    plot.resize(400, 200)
    plot.show()
    plot.setXRange(0, 40)
    image = plot.grab().toImage()  # runs paint() at the current zoom
    colored = sum(image.pixelColor(x, y).name() == "#6fa8dc"
                  for x in range(0, image.width(), 4) for y in range(0, image.height(), 4))
    assert colored > 50  # the band was filled
    item.set_audio(None)
    item.shutdown()
    assert_no_threads_left(before)
