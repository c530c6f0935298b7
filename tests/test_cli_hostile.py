"""Hostile media through the CLI (issue 5): `rms` and `generate` exit 2 with one stderr line
naming the file for every bad case, and work for the odd-but-valid ones. Most run in
process (cli.main); a few as real subprocesses to see exactly what a shell sees."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from foley_studio.cli import main
from tests.media_cases import BAD, DAMAGED, GOOD, assert_one_clear_line, build_cases
from tests.test_media_hostile import REPO, run_without_read_access, unreadable_clip  # noqa: F401


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return build_cases(tmp_path_factory.mktemp("hostile_cli"))


def run(capsys, *argv):
    code = main(["--quiet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_bad_input(code: int, err: str, path, words: str | None = None) -> None:
    assert code == 2, err
    assert err.startswith("foley-studio: error: "), err
    assert_one_clear_line(err, path)
    if words:
        assert words in err


@pytest.mark.parametrize("name", BAD + DAMAGED)
def test_rms_on_a_bad_file_exits_2_with_one_line(cases, tmp_path, capsys, name):
    case = cases[name]
    out = tmp_path / "envelope.csv"
    code, _, err = run(capsys, "rms", case.path, "-o", str(out))
    assert_bad_input(code, err, case.path, case.error)
    assert not out.exists()


@pytest.mark.parametrize("name", ["cut inside moov", ".mp4 that is a JPEG", "audio only (m4a)",
                                  "header claims 16000x9000", "directory", "damaged mid-stream"])
def test_generate_on_a_bad_file_exits_2_and_writes_nothing(cases, tmp_path, capsys, name):
    case = cases[name]
    out = tmp_path / "out"
    code, _, err = run(capsys, "generate", case.path, "--prompt", "door", "--out", str(out))
    assert_bad_input(code, err, case.path, case.error)
    assert not out.exists() or not os.listdir(out)


@pytest.mark.parametrize("name", GOOD)
def test_rms_works_on_odd_but_valid_clips(cases, tmp_path, capsys, name):
    from foley_studio.core import media
    from foley_studio.core.envelope_csv import read_csv

    case = cases[name]
    out = tmp_path / "envelope.csv"
    code, _, err = run(capsys, "rms", case.path, "-o", str(out))
    assert code == 0, err
    assert len(read_csv(str(out))) == round(media.probe(case.path).duration * 125)


@pytest.mark.parametrize("name", ["single frame", "spaces and unicode in the name"])
def test_generate_works_on_odd_but_valid_clips(cases, tmp_path, capsys, name):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "generate", cases[name].path, "--prompt", "door", "--out", str(out))
    assert code == 0, err
    stem = os.path.splitext(os.path.basename(cases[name].path))[0]
    assert (out / f"{stem}.foley.json").is_file() and (out / f"{stem}-foley.mp4").is_file()


def _cli(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foley_studio.cli", "--quiet", *argv],
                          capture_output=True, text=True, cwd=REPO, timeout=120, **kwargs)


def test_as_a_subprocess_bad_files_print_one_line_and_exit_2(cases, tmp_path):
    garbage = cases["random bytes"].path
    done = _cli("rms", garbage, "-o", str(tmp_path / "e.csv"))
    assert_bad_input(done.returncode, done.stderr, garbage, "not a media file")
    still = cases["PNG still"].path
    done = _cli("generate", still, "--prompt", "door", "--out", str(tmp_path / "out"))
    assert_bad_input(done.returncode, done.stderr, still, "still image (PNG)")
    assert done.stdout == ""


def test_unreadable_file_exits_2(unreadable_clip, tmp_path):  # noqa: F811
    os.chmod(tmp_path, 0o777)  # the capability-less child writes its CSV here
    argv = [sys.executable, "-m", "foley_studio.cli", "--quiet", "rms", unreadable_clip,
            "-o", str(tmp_path / "e.csv")]
    done = run_without_read_access(argv, cwd=REPO)
    assert_bad_input(done.returncode, done.stderr, unreadable_clip, "permission denied")


def test_generate_stops_when_the_video_is_replaced_during_the_work(tmp_path, capsys, monkeypatch):
    from foley_studio import pipeline
    from tests.media_cases import good_clip

    video = good_clip(tmp_path / "take.mp4", 0.4, freq=440)
    other = good_clip(tmp_path / "other.mp4", 0.6, freq=880)
    render_tracks = pipeline.render_tracks

    def replaced_meanwhile(*args, **kwargs):
        os.replace(other, video)  # e.g. a new export of the edit lands on the same name
        return render_tracks(*args, **kwargs)

    monkeypatch.setattr(pipeline, "render_tracks", replaced_meanwhile)
    out = tmp_path / "out"
    code, _, err = run(capsys, "generate", video, "--prompt", "door", "--out", str(out))
    assert_bad_input(code, err, video, "changed on disk")
    assert not out.exists() or not os.listdir(out)  # no MP4 of the wrong picture
