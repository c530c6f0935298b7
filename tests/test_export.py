"""Export: exact durations, stems sum to the mix, all-or-nothing writes, no silent overwrite."""

import os

import numpy as np
import pytest
import soundfile as sf

from foley_studio.core import export as export_mod
from foley_studio.core.audio import Audio
from foley_studio.core.envelope import Envelope
from foley_studio.core.envelope_csv import read_csv
from foley_studio.core.errors import OutputError
from foley_studio.core.export import ExportOptions, export_project
from foley_studio.core.project import Project, Track

NO_VIDEO = ExportOptions(video=False)


def make_project(duration=2.0):
    env = Envelope(np.linspace(0, 0.5, int(duration * 125)))
    tracks = [
        Track(name="Steps", prompt="footsteps", seed=1, envelope=env, gain_db=-6.0),
        Track(name="Door/slam", prompt="door", seed=2, envelope=env),
        Track(name="Muted", prompt="wind", seed=3, envelope=env, mute=True),
    ]
    project = Project(tracks=tracks)
    rng = np.random.default_rng(0)
    # renders a little longer / shorter than the video and at another rate: export must fit them
    renders = {
        tracks[0].id: Audio(0.1 * rng.standard_normal(int(2.1 * 44_100)), 44_100),
        tracks[1].id: Audio(0.1 * rng.standard_normal(int(1.7 * 48_000)), 48_000),
        tracks[2].id: Audio(0.1 * rng.standard_normal(2 * 48_000), 48_000),
    }
    return project, renders


@pytest.mark.parametrize("duration, rate, depth", [(2.0, 48_000, 24), (1.2345, 44_100, 16), (2.0, 96_000, 32)])
def test_every_output_lasts_exactly_the_video_duration(tmp_path, duration, rate, depth):
    project, renders = make_project()
    options = ExportOptions(sample_rate=rate, bit_depth=depth, video=False)
    result = export_project(project, renders, tmp_path, duration, options=options)
    expected = int(round(duration * rate))
    for path in list(result.stems.values()) + [result.mix]:
        info = sf.info(path)
        assert info.frames == expected and info.samplerate == rate and info.channels == 1
        assert info.subtype == {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}[depth]
    for path in result.envelopes.values():
        assert len(read_csv(path)) == int(round(duration * 125))


def test_stems_are_named_by_track_and_sum_to_the_mix(tmp_path):
    project, renders = make_project()
    result = export_project(project, renders, tmp_path, 2.0, options=ExportOptions(video=False, bit_depth=32))
    names = sorted(os.path.basename(p) for p in result.stems.values())
    assert names == ["01-Steps.wav", "02-Door-slam.wav", "03-Muted.wav"]
    stems = {tid: sf.read(p)[0] for tid, p in result.stems.items()}
    mix = sf.read(result.mix)[0]
    audible = [t.id for t in project.tracks if not t.mute]
    assert np.allclose(sum(stems[t] for t in audible), mix, atol=1e-6)
    # the stem carries the track gain (-6 dB)
    steps = project.tracks[0]
    raw = renders[steps.id].resampled(48_000).fitted(96_000).samples
    assert np.allclose(stems[steps.id], raw * 10 ** (-6 / 20), atol=1e-6)


def test_refuses_to_overwrite_unless_asked(tmp_path):
    project, renders = make_project()
    export_project(project, renders, tmp_path, 2.0, options=NO_VIDEO)
    before = {p: os.path.getmtime(p) for p in map(str, tmp_path.iterdir())}
    with pytest.raises(OutputError, match="already exists"):
        export_project(project, renders, tmp_path, 2.0, options=NO_VIDEO)
    assert {p: os.path.getmtime(p) for p in map(str, tmp_path.iterdir())} == before
    export_project(project, renders, tmp_path, 2.0, options=ExportOptions(video=False, overwrite=True))


def test_a_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    project, renders = make_project()
    calls = {"n": 0}
    real = export_mod.write_wav

    def failing(path, audio, depth):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real(path, audio, depth)

    monkeypatch.setattr(export_mod, "write_wav", failing)
    with pytest.raises(OutputError, match="No space left"):
        export_project(project, renders, tmp_path, 2.0, options=NO_VIDEO)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_or_missing_render_is_a_clear_error(tmp_path):
    project, renders = make_project()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create output folder|not a folder"):
        export_project(project, renders, blocker / "out", 2.0, options=NO_VIDEO)
    del renders[project.tracks[1].id]
    with pytest.raises(OutputError, match="has not been rendered"):
        export_project(project, renders, tmp_path / "o", 2.0, options=NO_VIDEO)


def test_solo_limits_the_mix(tmp_path):
    project, renders = make_project()
    project.tracks[1].solo = True
    result = export_project(project, renders, tmp_path, 2.0, options=ExportOptions(video=False, bit_depth=32))
    mix = sf.read(result.mix)[0]
    door = sf.read(result.stems[project.tracks[1].id])[0]
    assert np.allclose(mix, door, atol=1e-6)
