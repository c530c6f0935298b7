"""A failed export leaves the output folder exactly as it was: no new file, no temporary,
and an older export that the new one was to overwrite untouched, byte for byte.

Failures are injected at every stage: a stem or CSV writer raising, the mux failing, the
disk filling up while data is flushed, a rename failing, the user cancelling. The mux is
replaced by a stand-in that writes a few bytes (the real one is tested in test_media),
so this file stays fast and tests only export's all-or-nothing contract.
"""

import hashlib
import importlib
import os
import re
import stat

import numpy as np
import pytest

from foley_studio.core import atomic as atomic_module
from foley_studio.core import export as export_mod
from foley_studio.core.audio import Audio
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import Cancelled, FoleyError, MediaError, OutputError
from foley_studio.core.export import ExportOptions, export_project
from foley_studio.core.project import Project, Track

SR = 16_000
# what export_project writes, in order: per track a stem then a CSV, then the mix, the video
PLAN = ["01-A.wav", "01-A.csv", "02-B.wav", "02-B.csv", "foley-mix.wav", "clip-foley.mp4"]

# The commit phase (fsync and rename of finished files) once renamed files one by one while
# an ExitStack unwound: a failure there left a partial export, half-overwrote an older one
# and escaped as a bare OSError. The fsync#/rename# stages below guard against that.


def project_and_renders():
    env = Envelope(np.linspace(0, 1, 125))
    project = Project(tracks=[Track(id="a", name="A", envelope=env), Track(id="b", name="B", envelope=env)])
    rng = np.random.default_rng(0)
    renders = {t.id: Audio((0.1 * rng.standard_normal(SR)).astype(np.float32), SR) for t in project.tracks}
    return project, renders


@pytest.fixture
def fake_mux(monkeypatch):
    """The mux stand-in, wherever export imports it from; `fake_mux.fail` makes it raise."""

    class Mux:
        fail: Exception | None = None

        def __call__(self, video_path, audio, out_path, *args, **kwargs):
            with open(out_path, "wb") as f:
                f.write(b"\x00\x00\x00\x18ftypmp42 muxed")
            if self.fail is not None:
                raise self.fail

    mux = Mux()
    for name in ("foley_studio.core.media", "foley_studio.core.media_stream"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "mux"):
            monkeypatch.setattr(module, "mux", mux)
    return mux


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"a video")
    return str(path)


def state(folder) -> dict:
    """Every entry of the folder (hidden temporaries included) with a hash of its bytes."""
    out = {}
    for name in os.listdir(folder):
        p = os.path.join(folder, name)
        with open(p, "rb") as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def export(out, video, overwrite=False, progress=None):
    project, renders = project_and_renders()
    options = ExportOptions(sample_rate=SR, bit_depth=16, overwrite=overwrite)
    return export_project(project, renders, out, 1.0, video_path=video, options=options, progress=progress)


def failing_nth(real, n, error):
    calls = [0]

    def call(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            raise error
        return real(*args, **kwargs)
    return call


def final_name(temp_path: str) -> str | None:
    m = re.fullmatch(r"\.(.+)\.\d+-[0-9a-f]{8}\.partial\.\w+", os.path.basename(temp_path))
    return m.group(1) if m else None


def disk_full():
    return OSError(28, "No space left on device")


def inject(monkeypatch, fake_mux, where):
    """Make the export fail at `where`."""
    if where.startswith("write_wav"):  # the 1st stem, the 2nd stem, the mix
        n = int(where.split("#")[1])
        monkeypatch.setattr(export_mod, "write_wav", failing_nth(export_mod.write_wav, n, disk_full()))
    elif where == "csv":
        monkeypatch.setattr(export_mod, "write_envelope_csv",
                            failing_nth(export_mod.write_envelope_csv, 2, disk_full()))
    elif where == "mux MediaError":
        fake_mux.fail = MediaError("no video stream", "clip.mp4")
    elif where == "mux disk full":
        fake_mux.fail = disk_full()
    elif where.startswith("fsync"):  # flushing a finished output file: during the renames
        n = int(where.split("#")[1])
        real, calls = atomic_module._fsync_file, [0]

        def fsync(path):
            if final_name(path) in PLAN:  # not the temporaries nested writers make
                calls[0] += 1
                if calls[0] == n:
                    raise disk_full()
            return real(path)
        monkeypatch.setattr(atomic_module, "_fsync_file", fsync)
    elif where.startswith("rename"):
        n = int(where.split("#")[1])
        real, calls = os.replace, [0]

        def replace(src, dst):
            if os.path.basename(os.fspath(dst)) in PLAN:
                calls[0] += 1
                if calls[0] == n:
                    raise PermissionError(13, "Permission denied")
            return real(src, dst)
        monkeypatch.setattr(os, "replace", replace)


STAGES = ["write_wav#1", "write_wav#2", "write_wav#3", "csv", "mux MediaError", "mux disk full",
          "fsync#1", "fsync#2", "fsync#6", "rename#1", "rename#2", "rename#6"]


def test_the_plan_matches_what_export_writes(tmp_path, fake_mux, video):
    out = tmp_path / "out"
    result = export(out, video)
    assert sorted(os.listdir(out)) == sorted(PLAN)
    assert os.path.basename(result.video) == PLAN[-1]


@pytest.mark.parametrize("where", STAGES)
def test_failed_export_into_an_empty_folder_leaves_it_empty(tmp_path, monkeypatch, fake_mux, video, where):
    out = tmp_path / "out"
    out.mkdir()
    inject(monkeypatch, fake_mux, where)
    with pytest.raises(FoleyError) as info:
        export(out, video)
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    assert state(out) == {}, f"left behind after a failure at {where}"


@pytest.mark.parametrize("where", STAGES)
def test_failed_overwrite_keeps_the_older_export(tmp_path, monkeypatch, fake_mux, video, where):
    out = tmp_path / "out"
    export(out, video)
    for name in PLAN:  # make the old export recognisably different from the new one
        with open(out / name, "ab") as f:
            f.write(b"old")
    before = state(out)
    inject(monkeypatch, fake_mux, where)
    with pytest.raises(FoleyError):
        export(out, video, overwrite=True)
    monkeypatch.undo()
    assert state(out) == before, f"the older export changed after a failure at {where}"


def test_cancelled_export_leaves_nothing(tmp_path, fake_mux, video):
    out = tmp_path / "out"

    def progress(fraction, text):
        if fraction > 0.5:
            raise Cancelled()

    with pytest.raises(Cancelled):
        export(out, video, progress=progress)
    assert state(out) == {}


def test_refusing_to_overwrite_happens_before_anything_is_written(tmp_path, fake_mux, video):
    out = tmp_path / "out"
    out.mkdir()
    (out / PLAN[-1]).write_bytes(b"someone else's file")
    before = state(out)
    with pytest.raises(OutputError, match="already exists"):
        export(out, video)
    assert state(out) == before


def test_leftovers_of_a_killed_export_are_removed_by_the_next_one(tmp_path, fake_mux, video):
    out = tmp_path / "out"
    out.mkdir()
    dead = [f".{name}.999999999-0123abcd.partial{os.path.splitext(name)[1]}" for name in PLAN]
    for name in dead:  # as kill -9 in the middle of an export leaves them (pid long gone)
        (out / name).write_bytes(b"half")
    export(out, video)
    assert sorted(os.listdir(out)) == sorted(PLAN)


def test_outputs_get_ordinary_permissions(tmp_path, fake_mux, video):
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        export(out, video)
    finally:
        os.umask(old)
    for name in PLAN:
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o644, name  # not mkstemp's 0600


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL (POSIX)")
def test_kill_during_an_overwriting_export_leaves_each_file_old_or_new(tmp_path, fake_mux, video):
    """kill -9 before each file-system call of an export over an older one: every output
    name then holds the old or the new file, whole (all-or-nothing across files cannot
    survive kill -9), and the next export removes what the dead one left."""
    import signal

    ref = tmp_path / "ref"
    export(ref, video)
    new = state(ref)
    out = tmp_path / "out"
    for k in range(1, 200):
        if out.exists():
            for name in os.listdir(out):
                os.remove(out / name)
        export(out, video, overwrite=True)
        for name in PLAN:
            with open(out / name, "ab") as f:
                f.write(b"old")
        old = state(out)
        pid = os.fork()
        if pid == 0:  # the child: count file-system calls, die just before call k
            try:
                calls = [0]

                def counted(real):
                    def call(*args, **kwargs):
                        calls[0] += 1
                        if calls[0] == k:
                            os.kill(os.getpid(), signal.SIGKILL)
                        return real(*args, **kwargs)
                    return call

                for name in ("replace", "rename", "unlink", "link", "fsync"):
                    setattr(os, name, counted(getattr(os, name)))
                export(out, video, overwrite=True)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        now = state(out)
        for name in PLAN:
            assert now.get(name) in (old[name], new[name]), f"{name} after a kill before call {k}"
        export(out, video, overwrite=True)  # the next export cleans up after the dead one
        assert state(out) == new
        if os.WIFEXITED(status):
            break
    assert k > 10  # the export made that many calls, each one a kill point
