"""User sample folders: indexing, sidecar descriptions, bad files, the index cache, rendering."""

import os
import warnings

import numpy as np
import pytest
import soundfile as sf

from foley_studio.core.envelope import Envelope
from foley_studio.engines.rms2sound import sample_library, synthetic_foley
from foley_studio.engines.rms2sound.palette import PaletteEngine
from foley_studio.engines.rms2sound.sample_library import SampleLibrary, describe_name, index_folder


def _tone(seconds, sr, f, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * f * t) * np.exp(-t / 0.2) + 0.05 * rng.standard_normal(len(t))
    return x.astype(np.float32)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLEY_STUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sample_library, "_MEMORY", {})
    root = tmp_path / "samples"
    (root / "sub").mkdir(parents=True)
    sf.write(root / "Door_Slam-heavy_02.wav", _tone(0.8, 44_100, 120), 44_100)
    sf.write(root / "take7.flac", _tone(0.5, 48_000, 900, 1), 48_000)
    (root / "take7.txt").write_text("an old wooden door creaking open\n")
    sf.write(root / "sub" / "rain-loop.ogg", _tone(1.0, 22_050, 3000, 2), 22_050)
    (root / "broken.wav").write_bytes(b"RIFF this is not audio at all")
    (root / "notes.md").write_text("not audio")
    return root


def _by_name(entries):
    return {os.path.basename(e.path): e for e in entries}


def test_indexes_audio_with_descriptions_and_skips_broken_files(folder):
    with pytest.warns(UserWarning, match="broken.wav"):
        entries = index_folder(folder)
    found = _by_name(entries)
    assert set(found) == {"Door_Slam-heavy_02.wav", "take7.flac", "rain-loop.ogg"}
    assert found["Door_Slam-heavy_02.wav"].description == "door slam heavy"
    assert found["take7.flac"].description == "an old wooden door creaking open"
    assert found["rain-loop.ogg"].description == "rain loop"
    assert found["take7.flac"].sr == 48_000 and found["take7.flac"].frames == 24_000


def test_describe_name_turns_separators_into_words():
    assert describe_name("glassBreak_01.wav") == "glass break"
    assert describe_name("/x/foot-steps.on.gravel (3).flac") == "foot steps on gravel"


def test_index_is_reused_from_memory_and_disk(folder, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = index_folder(folder)
    cache_files = list((folder.parent / "cache" / "samples").glob("*.json"))
    assert len(cache_files) == 1

    def no_header_reads(*_a, **_k):
        raise AssertionError("the index should come from the cache")

    monkeypatch.setattr(sample_library.sf, "info", no_header_reads)
    assert index_folder(folder) == first  # in memory
    monkeypatch.setattr(sample_library, "_MEMORY", {})
    assert index_folder(folder) == first  # from the disk cache

    # a changed file invalidates the cache: headers are read again
    monkeypatch.undo()
    monkeypatch.setenv("FOLEY_STUDIO_CACHE", str(folder.parent / "cache"))
    sf.write(folder / "take7.flac", _tone(0.25, 48_000, 900, 1), 48_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = _by_name(index_folder(folder))
    assert again["take7.flac"].frames == 12_000


def test_missing_folder_warns_and_gives_nothing(tmp_path):
    with pytest.warns(UserWarning, match="not found"):
        assert index_folder(tmp_path / "nope") == []


def test_engine_renders_with_a_matching_sample(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = PaletteEngine(sample_dirs=[str(folder)], matcher="keyword")
        chosen = engine.choose("old door creaking")
    assert chosen[0][0].id.startswith("sample:take7.flac")
    env = synthetic_foley.envelopes(duration=4.0, seed=3)["impacts"]
    audio = engine.render(Envelope(env), "old door creaking", 1, 48_000)
    assert synthetic_foley.e_l1(audio, env) <= 0.003


def test_sample_deleted_after_indexing_does_not_crash(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lib = SampleLibrary([str(folder)])
        sources = {s.description: s for s in lib.sources()}
        os.remove(folder / "sub" / "rain-loop.ogg")
        src = sources["rain loop"]
        hit = src.transient(np.random.default_rng(0), 16_000)
        tex = src.texture(np.random.default_rng(0), 16_000, 16_000)
    assert np.all(np.isfinite(hit)) and np.all(np.isfinite(tex))
