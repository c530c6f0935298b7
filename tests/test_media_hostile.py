"""Hostile media at the core level (issue 5): every case in tests/media_cases.py either opens
and decodes, or fails with one clear MediaError line naming the file. Also a clip whose
file is replaced or deleted while open, unreadable files, pipes and absurd frame sizes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from foley_studio import pipeline
from foley_studio.core import media
from foley_studio.core.errors import MediaError
from foley_studio.core.project import Project
from tests.media_cases import (
    BAD,
    DAMAGED,
    GOOD,
    VFR_TIMES,
    assert_one_clear_line,
    build_cases,
    good_clip,
)
from tests.mediagen import write_video, write_y4m_claiming

AUDIO_ONLY = {"audio only (m4a)", "audio only (wav)"}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return build_cases(tmp_path_factory.mktemp("hostile"))


CALLS = {
    "probe": media.probe,
    "open_clip": media.open_clip,
    "frames": lambda p: list(media.iter_frames(p, width=64)),
    "audio": media.decode_audio,
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("name", BAD)
def test_bad_case_is_one_clear_line(cases, name, call):
    case = cases[name]
    if call == "audio" and name in AUDIO_ONLY:
        assert media.decode_audio(case.path).duration == pytest.approx(1.0, abs=0.05)
        return
    if call == "probe" and name in AUDIO_ONLY:
        assert not media.probe(case.path).has_video  # probe describes; open_clip refuses
        return
    with pytest.raises(MediaError) as caught:
        CALLS[call](case.path)
    assert_one_clear_line(str(caught.value), case.path)
    if call != "audio":  # the audio path names its own problem ("no audio stream"...)
        assert case.error in str(caught.value)


@pytest.mark.parametrize("name", GOOD)
def test_good_case_opens_and_decodes(cases, name):
    case = cases[name]
    clip = media.open_clip(case.path)
    info = clip.info
    if case.duration is not None:
        assert info.duration == pytest.approx(case.duration, abs=1e-3)
    if case.fps is not None:
        assert info.fps == pytest.approx(case.fps)
    frames = list(clip.frames(width=64))
    times = [f.t for f in frames]
    assert len(frames) >= max(info.n_frames - 3, 1)  # a cut file may lose its last few
    assert times == sorted(times) and times[-1] < info.duration
    assert all(f.image.shape[1] == 64 for f in frames)  # decoded downscaled
    if info.rotation in (90, 270):
        assert frames[0].image.shape[0] > 64  # portrait: taller than wide
    if info.has_audio:
        assert clip.audio(16_000).duration > 0


@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_clip_opens_but_decoding_it_says_so(cases, name):
    case = cases[name]
    clip = media.open_clip(case.path)  # the index is fine: duration and size are known
    assert clip.duration == pytest.approx(case.duration)
    for use in (lambda: list(clip.frames(width=64)), lambda: pipeline.predict_envelope(clip, "motion")):
        with pytest.raises(MediaError, match=case.error) as caught:
            use()
        assert_one_clear_line(str(caught.value), case.path)


def test_frame_rate_extremes_keep_their_timing(cases):
    slow = [f.t for f in media.open_clip(cases["1 fps"].path).frames(width=32)]
    np.testing.assert_allclose(slow, [0.0, 1.0, 2.0], atol=1e-6)
    fast = [f.t for f in media.open_clip(cases["240 fps"].path).frames(width=32)]
    np.testing.assert_allclose(fast, np.arange(60) / 240, atol=1e-6)
    vfr = [f.t for f in media.open_clip(cases["variable frame rate"].path).frames(width=32)]
    np.testing.assert_allclose(vfr, VFR_TIMES, atol=1e-6)


@pytest.mark.parametrize("name", ["single frame", "1 fps", "240 fps", "cut mid-stream"])
def test_motion_engine_gives_an_envelope_as_long_as_the_clip(cases, name):
    clip = media.open_clip(cases[name].path)
    envelope = pipeline.predict_envelope(clip, "motion")
    assert len(envelope) == round(clip.duration * 125)
    assert np.all(np.isfinite(envelope.values))


def test_a_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    for call in CALLS.values():
        with pytest.raises(MediaError, match="not a regular file") as caught:
            call(fifo)
        assert_one_clear_line(str(caught.value), fifo)


# --- unreadable files -------------------------------------------------------------------


def run_without_read_access(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run argv where chmod 000 means unreadable. Root reads any file, so as root the child
    runs without the capabilities that let it (setpriv, util-linux); skipped if that fails."""
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is missing: cannot make a file unreadable")
        argv = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kwargs)
    if "setpriv:" in done.stderr:
        pytest.skip(f"cannot drop root's file capabilities here: {done.stderr.strip()}")
    return done


@pytest.fixture
def unreadable_clip(tmp_path):
    path = good_clip(tmp_path / "locked.mp4", 0.4)
    os.chmod(path, 0)
    yield path
    os.chmod(path, 0o644)


def test_unreadable_file_is_one_clear_line(unreadable_clip):
    code = (
        "import sys\n"
        "from foley_studio.core import media\n"
        "from foley_studio.core.errors import MediaError\n"
        "for call in (media.probe, media.open_clip, media.decode_audio, media.fingerprint):\n"
        "    try:\n"
        "        call(sys.argv[1])\n"
        "    except MediaError as exc:\n"
        "        print(exc)\n"
    )
    done = run_without_read_access([sys.executable, "-c", code, unreadable_clip], cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout + done.stderr
    for line in lines:
        assert "permission denied" in line
        assert_one_clear_line(line, unreadable_clip)


# --- absurd sizes -----------------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the peak from /proc")
def test_huge_frames_are_refused_from_the_header_without_allocating(tmp_path):
    # 16000x9000 RGB would be 432 MB a frame; the header alone must be enough to refuse
    claims = write_y4m_claiming(tmp_path / "huge.y4m", 16_000, 9_000)
    big = write_video(tmp_path / "qhd.mp4", np.full((1, 1440, 2560, 3), 90, np.uint8), fps=25)
    code = (
        "import sys\n"
        "from foley_studio.core import media\n"
        "from foley_studio.core.errors import MediaError\n"
        "try:\n"
        "    media.open_clip(sys.argv[1])\n"
        "except MediaError as exc:\n"
        "    print(exc)\n"
        "frames = list(media.open_clip(sys.argv[2]).frames(width=160, gray=False))\n"
        "print(frames[0].image.shape)\n"
        # VmHWM is this process's own peak; ru_maxrss would start from the parent's at fork
        "print([int(l.split()[1]) // 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )
    done = subprocess.run([sys.executable, "-c", code, claims, big], capture_output=True,
                          text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    error, shape, peak_mb = done.stdout.splitlines()
    assert "too large" in error and claims in error
    assert shape == "(90, 160, 3)"
    assert int(peak_mb) < 300, f"peak memory {peak_mb} MB"  # ~120 MB here; one 16k frame is 432


# --- the file changes while the clip is open ---------------------------------------------


@pytest.fixture
def open_pair(tmp_path):
    """(clip opened on a.mp4, path of a different clip b.mp4)."""
    a = good_clip(tmp_path / "a.mp4", 1.0, freq=440)
    b = good_clip(tmp_path / "b.mp4", 0.6, freq=880)
    return media.open_clip(a), b


def _assert_refused(clip, words: str) -> None:
    for use in (lambda: list(clip.frames(width=32)), lambda: clip.audio(16_000),
                lambda: pipeline.predict_envelope(clip, "motion")):
        with pytest.raises(MediaError, match=words) as caught:
            use()
        assert_one_clear_line(str(caught.value), clip.path)


def test_replaced_file_is_detected(open_pair):
    clip, other = open_pair
    os.replace(other, clip.path)  # how editors and downloads replace a file
    _assert_refused(clip, "changed on disk")
    assert media.probe(clip.path).duration == pytest.approx(0.6)  # the new file itself is fine
    project = Project(media_path=clip.path, media_fingerprint=clip.fingerprint)
    assert project.media_changed(media.fingerprint)


def test_file_rewritten_in_place_is_detected(open_pair):
    clip, other = open_pair
    with open(other, "rb") as src, open(clip.path, "r+b") as dst:
        dst.truncate(0)
        dst.write(src.read())
    _assert_refused(clip, "changed on disk")


def test_deleted_file_is_detected(open_pair):
    clip, _ = open_pair
    os.remove(clip.path)
    _assert_refused(clip, "deleted or moved")


def test_touched_or_restored_file_still_works(open_pair, tmp_path):
    clip, _ = open_pair
    os.utime(clip.path, (1, 1))
    assert len(list(clip.frames(width=32))) == 25
    backup = shutil.copy(clip.path, tmp_path / "backup.mp4")
    os.replace(backup, clip.path)  # same bytes, new inode: still the same clip
    assert clip.audio(16_000).duration == pytest.approx(1.0, abs=0.01)


def test_file_overwritten_while_decoding_is_detected(open_pair):
    clip, other = open_pair
    frames = clip.frames(width=32)
    first = [next(frames) for _ in range(3)]
    assert [f.t for f in first] == pytest.approx([0.0, 0.04, 0.08])
    with open(clip.path, "r+b") as f:  # in place: the open decoder now reads other bytes
        f.seek(0)
        f.write(os.urandom(os.path.getsize(other)))
        f.truncate()
    with pytest.raises(MediaError, match="changed on disk") as caught:
        list(frames)
    assert_one_clear_line(str(caught.value), clip.path)
