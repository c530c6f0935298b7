"""Streamed export and decode for long clips: exact lengths, the mix is the sum of the
stems, the MP4 carries the whole mix, and memory stays a few chunks whatever the length.

A 3-minute low-resolution clip stands in for an hour: at 48 kHz one whole-clip float32
buffer is 34.6 MB, and the old export held at least four (each stem, the mix, the mux
input). The streamed export's Python-side peak (tracemalloc, which numpy reports to) must
stay under a quarter of ONE such buffer.
"""

import tracemalloc

import av
import numpy as np
import pytest
import soundfile as sf

from foley_studio.core import media, media_stream
from foley_studio.core.audio import Audio
from foley_studio.core.audio_store import AudioFile
from foley_studio.core.envelope import Envelope
from foley_studio.core.export import ExportOptions, export_project
from foley_studio.core.project import Project, Track
from tests import mediagen

SR = 48_000
MINUTES = 3.0
SECONDS = MINUTES * 60


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "three-minutes.mp4"
    rng = np.random.default_rng(0)
    audio = (0.05 * rng.standard_normal(int(SECONDS * SR))).astype(np.float32)
    mediagen.write_video(path, fps=2, size=(32, 18), duration=SECONDS, audio=audio, audio_sr=SR)
    return str(path)


def stored_track(seed: int, sr: int = SR) -> AudioFile:
    out = AudioFile(int(SECONDS * sr), sr)
    rng = np.random.default_rng(seed)
    step = 1 << 17
    for at in range(0, len(out), step):
        out.write(at, (0.2 * rng.standard_normal(step)).astype(np.float32))
    return out


def project() -> Project:
    env = Envelope(np.full(int(SECONDS * 125), 0.1, np.float32))
    return Project(tracks=[Track(id="a", name="A", envelope=env, gain_db=-6.0),
                           Track(id="b", name="B", envelope=env)])


def test_streamed_export_has_exact_lengths_and_bounded_memory(tmp_path, long_clip):
    renders = {"a": stored_track(1), "b": stored_track(2)}
    whole_buffer = SECONDS * SR * 4  # bytes of one whole-clip float32 buffer
    tracemalloc.start()
    try:
        result = export_project(project(), renders, tmp_path, SECONDS, long_clip,
                                ExportOptions(bit_depth=32, envelopes=False))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < whole_buffer / 4, f"export peaked at {peak / 1e6:.1f} MB"

    stems = {tid: sf.read(path, dtype="float32")[0] for tid, path in result.stems.items()}
    mix, mix_sr = sf.read(result.mix, dtype="float32")
    assert mix_sr == SR and len(mix) == int(SECONDS * SR)
    assert all(len(s) == len(mix) for s in stems.values())
    # stems carry their gains and sum to the mix
    gain = np.float32(10 ** (-6 / 20))
    np.testing.assert_allclose(stems["a"][:1000], renders["a"].read(0, 1000) * gain, rtol=1e-6)
    np.testing.assert_allclose(stems["a"] + stems["b"], mix, atol=1e-6)
    with av.open(result.video) as c:
        sound = c.streams.audio[0]
        decoded = sum(f.samples for f in c.decode(sound))
    assert abs(decoded / SR - SECONDS) < 0.05  # the whole mix, encoded as it streamed


def test_export_resamples_long_tracks_piece_by_piece(tmp_path):
    renders = {"a": stored_track(1, sr=44_100), "b": stored_track(2, sr=44_100)}
    result = export_project(project(), renders, tmp_path, SECONDS, None,
                            ExportOptions(video=False, envelopes=False, bit_depth=32))
    mix = sf.read(result.mix, dtype="float32")[0]
    assert len(mix) == int(SECONDS * SR)
    a = Audio(renders["a"].read(0, 44_100 * 10), 44_100).resampled(SR).samples
    stem_a = sf.read(result.stems["a"], dtype="float32", frames=SR * 10)[0]
    gain = np.float32(10 ** (-6 / 20))
    np.testing.assert_allclose(stem_a[SR:SR * 9], a[SR:SR * 9] * gain, atol=2e-5)


def test_streamed_audio_decode_equals_the_whole_decode(long_clip):
    whole = media.decode_audio(long_clip)
    sr, pieces = media_stream.audio_pieces(long_clip)
    streamed = np.concatenate(list(pieces))
    assert sr == whole.sr
    np.testing.assert_array_equal(streamed, whole.samples)
