"""End-to-end through the CLI: every command, exact output lengths, and bad input.

Bad input must exit 2 with one line on stderr that names the file, with no traceback
and no half-written outputs.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from foley_studio.cli import main
from foley_studio.core import media
from foley_studio.core.envelope import Envelope
from foley_studio.core.envelope_csv import read_csv, write_csv
from tests.mediagen import moving_square, tone, write_audio_only, write_garbage, write_truncated, write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "bounce.mp4"
    return write_video(path, moving_square(stop_at=0.6), fps=30, duration=1.5, audio=tone(1.5))


def run(capsys, *argv):
    code = main(["--quiet", *argv] if argv[0] != "--help" else list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_is_fast_and_never_loads_torch_or_qt():
    code = (
        "import sys, runpy; sys.argv=['foley-studio','--help']\n"
        "try:\n    runpy.run_module('foley_studio.cli', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "bad = [m for m in ('torch', 'PySide6', 'diffusers', 'cv2') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "generate" in done.stdout and "render-project" in done.stdout


def test_generate_writes_project_stems_mix_and_mp4(tmp_path, capsys, clip):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "generate", clip, "--prompt", "ball on wood", "--track", "Steps=footsteps on gravel",
                            "--seed", "7", "--out", str(out), "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    duration = media.probe(clip).duration
    assert summary["duration"] == pytest.approx(1.5)
    assert len(summary["stems"]) == 2 and [t["seed"] for t in summary["tracks"]] == [7, 8]
    for path in summary["stems"] + [summary["mix"]]:
        info = sf.info(path)
        assert info.samplerate == 48_000 and info.frames == round(duration * 48_000) and info.subtype == "PCM_24"
    muxed = media.probe(summary["video"])
    assert muxed.has_audio and muxed.n_frames == media.probe(clip).n_frames
    assert os.path.exists(summary["project"])
    # and the project renders again headlessly
    code, _, err = run(capsys, "render-project", summary["project"], "--out", str(tmp_path / "again"))
    assert code == 0, err
    again = sorted(p.name for p in (tmp_path / "again").iterdir())
    assert any(n.endswith("-mix.wav") for n in again) and any(n.endswith(".mp4") for n in again)


def test_rms_then_render_round_trip(tmp_path, capsys, clip):
    env_csv = tmp_path / "env.csv"
    code, _, err = run(capsys, "rms", clip, "-o", str(env_csv))
    assert code == 0, err
    envelope = read_csv(env_csv)
    assert len(envelope) == round(1.5 * 125)
    wav = tmp_path / "out.wav"
    code, _, err = run(capsys, "render", "--envelope", str(env_csv), "--prompt", "metal clang", "--sample-rate", "44100",
                       "--bit-depth", "16", "-o", str(wav))
    assert code == 0, err
    info = sf.info(wav)
    assert info.samplerate == 44_100 and info.frames == round(len(envelope) / 125 * 44_100) and info.subtype == "PCM_16"


def test_rms_with_roi(tmp_path, capsys, clip):
    code, _, err = run(capsys, "rms", clip, "--roi", "0,0,40,40", "-o", str(tmp_path / "roi.csv"))
    assert code == 0, err
    code, _, err = run(capsys, "rms", clip, "--roi", "100,50,500,500", "-o", str(tmp_path / "bad.csv"))
    assert code == 2 and "outside" in err and not (tmp_path / "bad.csv").exists()


def test_analyze_gives_the_papers_rms(tmp_path, capsys):
    sr = 16_000
    x = np.zeros(2 * sr, np.float32)
    x[sr // 2 : sr] = 0.5 * np.sin(2 * np.pi * 500 * np.arange(sr // 2) / sr)
    wav = tmp_path / "imitation.wav"
    sf.write(wav, x, sr)
    code, _, err = run(capsys, "analyze", str(wav), "--raw", "-o", str(tmp_path / "a.csv"))
    assert code == 0, err
    env = read_csv(tmp_path / "a.csv")
    assert len(env) == 250
    assert env.values[80:120] == pytest.approx(0.5 / np.sqrt(2), abs=0.01)
    assert env.values[:55].max() == 0.0


def test_engines_json_lists_the_defaults(capsys):
    code, out, _ = run(capsys, "engines", "--json")
    rows = {r["id"]: r for r in json.loads(out)}
    assert {"motion", "palette"} <= set(rows)
    for row in rows.values():
        assert {"id", "name", "needs_weights", "available"} <= set(row)
    assert rows["palette"]["available"] and rows["palette"]["needs_weights"] is False


def _bad_inputs(tmp):
    clip_ok = write_video(tmp / "ok.mp4", duration=0.5)
    (tmp / "empty.mp4").write_bytes(b"")
    (tmp / "notes.mp4").write_text("this is not a video\n")
    (tmp / "folder.mp4").mkdir()
    write_garbage(tmp / "garbage.mp4")
    write_truncated(clip_ok, tmp / "cut.mp4", keep=0.3)
    audio_only = write_audio_only(tmp / "voice.wav")
    (tmp / "bad.csv").write_text("time,rms\n0.0,0.1\n0.008,abc\n")
    (tmp / "bad.foley.json").write_text('{"schema_version": 1, "tracks": [{"seed": "x"}]')
    return {
        "missing": ["generate", str(tmp / "nope.mp4"), "--prompt", "x"],
        "empty": ["generate", str(tmp / "empty.mp4"), "--prompt", "x"],
        "text file": ["generate", str(tmp / "notes.mp4"), "--prompt", "x"],
        "directory": ["rms", str(tmp / "folder.mp4"), "-o", str(tmp / "o.csv")],
        "garbage": ["rms", str(tmp / "garbage.mp4"), "-o", str(tmp / "o.csv")],
        "truncated": ["rms", str(tmp / "cut.mp4"), "-o", str(tmp / "o.csv")],
        "audio only": ["generate", audio_only, "--prompt", "x"],
        "unwritable out": ["generate", clip_ok, "--prompt", "x", "--out", str(tmp / "notes.mp4" / "out")],
        "missing out folder": ["rms", clip_ok, "-o", str(tmp / "no" / "such" / "o.csv")],
        "malformed csv": ["render", "--envelope", str(tmp / "bad.csv"), "--prompt", "x", "-o", str(tmp / "o.wav")],
        "malformed project": ["render-project", str(tmp / "bad.foley.json")],
        "unknown engine": ["rms", clip_ok, "--engine", "nope", "-o", str(tmp / "o.csv")],
    }


def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, capsys):
    cases = _bad_inputs(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for name, argv in cases.items():
        code, out, err = run(capsys, *argv)
        assert code == 2, f"{name}: exit {code}, stderr={err!r}"
        lines = err.strip().splitlines()
        assert len(lines) == 1, f"{name}: {err!r}"
        assert "Traceback" not in err and lines[0].startswith("foley-studio: error:"), f"{name}: {err!r}"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "bad input left files behind"


def test_bad_input_messages_name_the_file(tmp_path, capsys):
    cases = _bad_inputs(tmp_path)
    for name in ("missing", "empty", "text file", "garbage", "audio only", "malformed csv", "malformed project"):
        code, _, err = run(capsys, *cases[name])
        target = next(a for a in cases[name][1:] if a.startswith(str(tmp_path)))
        assert os.path.basename(target) in err, f"{name}: {err!r}"


def test_render_with_the_controlnet_engine_and_a_weights_folder(tmp_path, capsys):
    from tests.test_controlnet_support import write_folder

    weights = write_folder(str(tmp_path / "weights"))
    env = tmp_path / "env.csv"
    write_csv(env, Envelope(np.r_[np.zeros(40), np.full(85, 0.2)].astype(np.float32)))
    wav = tmp_path / "cn.wav"
    code, _, err = run(capsys, "render", "--envelope", str(env), "--prompt", "door", "--engine", "controlnet",
                       "--weights", weights, "--sample-rate", "16000", "-o", str(wav))
    assert code == 0, err
    assert sf.info(wav).frames == 16_000
    code, _, err = run(capsys, "render", "--envelope", str(env), "--prompt", "door", "--engine", "controlnet",
                       "--weights", str(tmp_path / "missing"), "-o", str(tmp_path / "x.wav"))
    assert code == 2 and "missing" in err and len(err.strip().splitlines()) == 1


def test_engine_info_comes_from_the_class_without_building_the_engine(monkeypatch):
    from foley_studio.engines import registry
    from foley_studio.engines.rms2sound.palette import PaletteEngine

    def refuse(*args, **kwargs):
        raise AssertionError("engine_info built an engine")

    monkeypatch.setattr(registry, "create", refuse)
    assert registry.engine_info("palette") is PaletteEngine.info
    assert registry.engine_info("controlnet").supports_audio_prompt
    assert not registry.engine_info("palette").supports_audio_prompt
