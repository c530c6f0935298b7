"""Long tracks: the palette engine renders in chunks, the render service keeps long renders
in a temporary file (AudioFile), and a span edit patches that file.

Tolerance of a chunked render against a one-shot render of the same envelope: every
sample within 1e-4 (-80 dBFS; measured ~1e-5, from the envelope match solving each chunk
with its own context) and E-L1 (the paper's loudness metric) below 1e-7 (measured ~2e-9),
four orders of magnitude under the 0.009 the paper reports for a whole model.
"""

import numpy as np
import pytest

from foley_studio.core import render as render_mod
from foley_studio.core import rms
from foley_studio.core.audio import Audio
from foley_studio.core.audio_store import AudioFile, chunks, resampled_chunks, store
from foley_studio.core.envelope import Envelope
from foley_studio.core.metrics import e_l1
from foley_studio.core.render import RenderCache, RenderRequest, render_with_cache
from foley_studio.engines.rms2sound import palette
from foley_studio.engines.rms2sound.palette import PaletteEngine

SR = 48_000
MAX_SAMPLE_DIFF = 1e-4
MAX_E_L1 = 1e-7


def envelope(seconds: float, seed: int = 1) -> Envelope:
    """Impacts scattered over the track plus a stretch of sustained texture."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 125)
    env = np.zeros(n, np.float32)
    for t in rng.uniform(0, seconds, int(seconds * 0.6)):
        k = int(t * 125)
        seg = env[k:k + 40]
        env[k:k + 40] = np.maximum(seg, 0.3 * np.exp(-np.arange(len(seg)) / 10.0))
    env[n // 4:n // 2] = np.maximum(env[n // 4:n // 2], 0.05)
    return Envelope(np.clip(rms.smooth(env), 0, 1).astype(np.float32))


@pytest.fixture
def one_shot(monkeypatch):
    """The engine's render without chunking, whatever the length (the reference)."""
    def render(engine, env, prompt, seed):
        monkeypatch.setattr(palette, "LONG_FRAMES", 10**12)
        try:
            return engine.render(env, prompt, seed, SR).samples
        finally:
            monkeypatch.undo()
    return render


@pytest.mark.parametrize("prompt", ["footsteps on wood", "wind blowing"])
def test_chunked_render_equals_one_shot_within_tolerance(one_shot, prompt):
    env = envelope(40.0)
    engine = PaletteEngine()
    reference = one_shot(engine, env, prompt, 3)
    pieces = list(engine.render_chunks(env, prompt, 3, SR, chunk_seconds=6.0))
    starts = [start for start, _ in pieces]
    joined = np.concatenate([p for _, p in pieces])
    assert starts == [sum(len(p) for _, p in pieces[:i]) for i in range(len(pieces))]  # in order, no gap
    assert len(pieces) == 7 and len(joined) == len(reference) == int(round(env.duration * SR))
    assert np.abs(joined - reference).max() < MAX_SAMPLE_DIFF
    assert e_l1(Audio(reference, SR), Audio(joined, SR)) < MAX_E_L1
    # and it is a real render, not silence: loud where the envelope is
    assert np.abs(joined).max() > 0.1


def test_long_render_in_memory_is_chunked_and_matches(one_shot, monkeypatch):
    env = envelope(20.0, seed=2)
    engine = PaletteEngine()
    reference = one_shot(engine, env, "glass clinking", 0)
    monkeypatch.setattr(palette, "LONG_FRAMES", 125 * 5)  # chunks from 5 s on
    monkeypatch.setattr(palette, "CHUNK_S", 4.0)
    chunked = engine.render(env, "glass clinking", 0, SR).samples
    assert np.abs(chunked - reference).max() < MAX_SAMPLE_DIFF


def test_long_tracks_render_into_a_file_and_span_edits_patch_it(monkeypatch):
    monkeypatch.setattr(render_mod, "STORE_ABOVE_S", 10.0)
    env = envelope(24.0, seed=4)
    engine = PaletteEngine()
    cache = RenderCache()
    first = render_with_cache(RenderRequest("t", env, "knocking on a door", 1), engine, cache)
    assert isinstance(first.audio, AudioFile) and len(first.audio) == int(24.0 * SR)
    direct = np.concatenate([p for _, p in engine.render_chunks(env, "knocking on a door", 1, SR)])
    np.testing.assert_array_equal(first.audio.read(0, len(first.audio)), direct)

    values = env.values.copy()
    values[1250:1375] = 0.2  # 10.0 .. 11.0 s
    second = render_with_cache(RenderRequest("t", Envelope(values), "knocking on a door", 1), engine, cache)
    assert second.span == pytest.approx((10.0, 11.0)) and isinstance(second.audio, AudioFile)
    before, after = first.audio.read(0, len(first.audio)), second.audio.read(0, len(second.audio))
    changed = np.flatnonzero(before != after)
    assert len(changed) and 9.9 * SR < changed[0] and changed[-1] < 11.1 * SR
    # the earlier render is untouched (playback may still be reading it)
    np.testing.assert_array_equal(first.audio.read(0, len(first.audio)), direct)


def test_audio_file_reads_writes_and_patches():
    f = AudioFile(1000, SR)
    assert len(f) == 1000 and f.duration == pytest.approx(1000 / SR)
    np.testing.assert_array_equal(f.read(0, 1000), np.zeros(1000, np.float32))
    x = np.arange(300, dtype=np.float32)
    f.write(900, x)  # runs past the end: the rest is dropped
    np.testing.assert_array_equal(f.read(900, 200), np.r_[x[:100], np.zeros(100, np.float32)])
    np.testing.assert_array_equal(f.read(-5, 5), np.zeros(5, np.float32))
    g = f.with_patch(0, np.ones(10, np.float32))
    assert g.read(0, 10).tolist() == [1.0] * 10 and f.read(0, 10).tolist() == [0.0] * 10
    np.testing.assert_array_equal(g.read(900, 100), x[:100])
    a = Audio(np.arange(10, dtype=np.float32), SR)
    assert a.read(8, 4).tolist() == [8, 9, 0, 0]
    assert a.with_patch(1, np.zeros(2, np.float32)).samples[:4].tolist() == [0, 0, 0, 3]


def test_streamed_resampling_matches_one_shot_and_keeps_the_length():
    rng = np.random.default_rng(0)
    audio = Audio((0.1 * rng.standard_normal(44_100 * 7)).astype(np.float32), 44_100)
    n = 48_000 * 7 + 5  # a few samples past the end: padded with silence
    streamed = np.concatenate(list(resampled_chunks(audio, 48_000, n, size=50_000)))
    assert len(streamed) == n
    one_shot = audio.resampled(48_000).fitted(n).samples
    # soxr's streaming and one-shot paths differ only at the very ends
    np.testing.assert_allclose(streamed[1000:-1000], one_shot[1000:-1000], atol=1e-5)
    stored = store(audio, 48_000)
    assert stored.sr == 48_000 and len(stored) == 48_000 * 7
    assert sum(len(c) for c in chunks(stored, 4096)) == len(stored)


def test_patches_share_the_file_until_they_outgrow_the_limit(monkeypatch):
    from foley_studio.core import audio_store

    f = AudioFile(10_000, SR)
    f.write(0, np.arange(10_000, dtype=np.float32))
    g = f.with_patch(100, np.full(50, -1.0, np.float32))
    h = g.with_patch(120, np.full(10, -2.0, np.float32))  # over the first patch
    assert g._file is f._file and h._file is f._file  # no copy of the file per edit
    expected = np.arange(10_000, dtype=np.float32)
    expected[100:150] = -1.0
    np.testing.assert_array_equal(g.read(0, 10_000), expected)
    expected[120:130] = -2.0
    np.testing.assert_array_equal(h.read(90, 100), expected[90:190])
    np.testing.assert_array_equal(f.read(0, 10_000), np.arange(10_000, dtype=np.float32))
    with pytest.raises(RuntimeError, match="read-only"):
        f.write(0, np.zeros(3, np.float32))  # would change g and h under them
    monkeypatch.setattr(audio_store, "MAX_PATCH_SAMPLES", 55)
    k = h.with_patch(9_990, np.full(20, 7.0, np.float32))  # 50 + 10 + 10 > 55: its own file
    assert k._file is not f._file and not k._patches
    expected[9_990:] = 7.0
    np.testing.assert_array_equal(k.read(0, 10_000), expected)
