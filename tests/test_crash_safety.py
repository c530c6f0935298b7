"""kill -9 during a project save leaves the old or the new project, never a broken one.

A forked child saves a large project while the test kills it with SIGKILL: once just
before every file-system call a save makes (deterministic: the child kills itself at call
k), then at random moments of a save loop (seeded). After each kill the project file and
its `.bak` must each be exactly one of the two versions, byte for byte, and the next save
must clean up whatever temporary files the dead process left. Forking (not a fresh
interpreter per trial) keeps 40 kills within a few seconds.
"""

import os
import signal
import time

import numpy as np
import pytest

from foley_studio.core.atomic import remove_stale_temps
from foley_studio.core.envelope import Envelope
from foley_studio.core.project import Project, Track, save, to_json

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL (POSIX)")

# every file-system call a save makes; the step test dies just before each in turn
SAVE_CALLS = ("open", "close", "fsync", "chmod", "stat", "link", "replace", "unlink", "scandir")


def big_project(media: str, seed: int, tracks: int = 12, frames: int = 6_000) -> Project:
    rng = np.random.default_rng(seed)
    return Project(
        media_path=media, media_fingerprint=f"sha256:{seed}", duration=frames / 125,
        tracks=[Track(id=f"t{i}", name=f"Track {i}", prompt="gravel steps", seed=seed + i,
                      envelope=Envelope(np.round(rng.uniform(0, 1, frames), 6).astype(np.float32)),
                      engine_params={"version": seed})
                for i in range(tracks)])


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    (root / "media").mkdir()
    (root / "media" / "clip.mp4").write_bytes(b"video")
    proj = root / "proj"
    proj.mkdir()
    media = str(root / "media" / "clip.mp4")
    a, b = big_project(media, 1), big_project(media, 2)
    texts = {"A": to_json(a, str(proj)).encode(), "B": to_json(b, str(proj)).encode()}
    return {"proj": proj, "a": a, "b": b, "texts": texts}


def reset(proj, text_a: bytes) -> str:
    for name in os.listdir(proj):
        os.remove(proj / name)
    target = proj / "scene.foley"
    target.write_bytes(text_a)
    return str(target)


def fork(work) -> int:
    """Run work() in a child that never returns into pytest; returns its pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        finally:
            os._exit(code)
    return pid


def die_before_call(k: int, report: int) -> None:
    """In the child: count file-system calls, SIGKILL ourselves just before call k."""
    calls = [0]

    def counted(name, real):
        def call(*args, **kwargs):
            calls[0] += 1
            if calls[0] == k:
                os.write(report, name.encode())
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return call

    for name in SAVE_CALLS:
        setattr(os, name, counted(name, getattr(os, name)))


def which(path: str, texts: dict) -> str:
    assert os.path.isfile(path), f"{os.path.basename(path)} is gone"
    with open(path, "rb") as f:
        data = f.read()
    found = [name for name, text in texts.items() if data == text]
    assert found, f"{os.path.basename(path)} is neither version ({len(data)} bytes)"
    return found[0]


def check_after_kill(versions, target: str) -> str:
    """The project and its .bak are whole versions; the next save removes the leftovers."""
    texts = versions["texts"]
    version = which(target, texts)
    if os.path.exists(target + ".bak"):
        which(target + ".bak", texts)
    expected = {"scene.foley", "scene.foley.bak"}
    left = set(os.listdir(versions["proj"])) - expected
    assert all(n.startswith(".scene.foley.") for n in left), left  # only our temp names
    save(versions["a"], target)  # the next save cleans up after the dead one
    assert set(os.listdir(versions["proj"])) == expected
    assert which(target, texts) == "A" and which(target + ".bak", texts) == version
    return version


def test_kill_before_each_file_system_call_of_a_save(versions):
    seen = []
    for k in range(1, 100):
        target = reset(versions["proj"], versions["texts"]["A"])
        read, write = os.pipe()

        def work():
            die_before_call(k, write)
            save(versions["b"], target)

        pid = fork(work)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(read, "rb") as f:
            step = f.read().decode()
        if os.WIFEXITED(status):  # k is past the last call: the save completed
            assert os.WEXITSTATUS(status) == 0 and which(target, versions["texts"]) == "B"
            break
        assert os.WTERMSIG(status) == signal.SIGKILL
        seen.append((step, check_after_kill(versions, target)))
    steps = [s for s, _ in seen]
    for name in ("open", "fsync", "link", "replace", "scandir"):
        assert name in steps, steps  # the save did what it must, so it was killed there
    # the old version stays until the final rename, the new one is whole from then on
    results = [v for _, v in seen]
    first_b = results.index("B")
    assert set(results[:first_b]) == {"A"} and set(results[first_b:]) == {"B"}, seen
    assert seen[first_b - 1][0] == "replace"


def test_kill_at_random_moments_of_a_save_loop(versions):
    target = str(versions["proj"] / "scene.foley")
    t0 = time.perf_counter()
    save(versions["b"], target)
    save_s = max(time.perf_counter() - t0, 0.01)
    rng = np.random.default_rng(20261126)
    outcomes = []

    def loop():
        while True:
            save(versions["b"], target)
            save(versions["a"], target)

    for _ in range(30):
        target = reset(versions["proj"], versions["texts"]["A"])
        pid = fork(loop)
        time.sleep(rng.uniform(0, 2.5 * save_s))  # up to two and a half saves in
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status)
        outcomes.append(check_after_kill(versions, target))
    assert set(outcomes) <= {"A", "B"}


def test_stale_temps_of_a_live_writer_are_kept(tmp_path):
    target = tmp_path / "p.foley"
    save(Project(), target)
    mine = tmp_path / f".p.foley.{os.getpid()}-0123abcd.partial.foley"
    mine.write_text("in progress")  # our own pid: maybe another thread still writing
    dead = tmp_path / ".p.foley.999999999-0123abcd.partial.foley"  # above any pid_max
    dead.write_text("left by a crash")
    other = tmp_path / ".q.foley.999999999-0123abcd.partial.foley"  # another target's
    other.write_text("not ours to judge here")
    assert remove_stale_temps(str(target)) == [str(dead)]
    assert mine.exists() and other.exists()
