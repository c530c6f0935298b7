import copy
import json
import os
import shutil

import numpy as np
import pytest

from foley_studio.core import atomic as atomic_module
from foley_studio.core import project as project_module
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import ProjectError
from foley_studio.core.project import Project, Track, load, save


def quantized(n, seed=0):
    """Envelope values as the file stores them (6 decimals), so load(save(p)) == p exactly."""
    rng = np.random.default_rng(seed)
    return Envelope(np.round(rng.uniform(0, 1, n), 6).astype(np.float32))


def make_project(folder):
    media = os.path.join(folder, "media", "clip.mp4")
    os.makedirs(os.path.dirname(media), exist_ok=True)
    with open(media, "wb") as f:
        f.write(b"not really a video")
    return Project(
        media_path=media,
        media_fingerprint="sha256:abc",
        duration=2.0,
        tracks=[
            Track(name="Steps", prompt="boots on gravel", seed=7, envelope=quantized(250, 1),
                  engine_params={"brightness": 0.5, "layers": [1, 2]}, gain_db=-3.5),
            Track(name="Door", prompt="wooden door", seed=2**32 - 1, engine="controlnet",
                  envelope=quantized(250, 2), mute=True),
        ],
    )


def test_round_trip_equality(tmp_path):
    p = make_project(str(tmp_path))
    path = tmp_path / "scene.foley"
    save(p, path)
    q = load(path)
    assert q == p
    assert q.tracks[0].engine_params == {"brightness": 0.5, "layers": [1, 2]}
    text = path.read_text()
    save(q, path)
    assert path.read_text() == text  # saving what was loaded changes nothing


def test_envelopes_are_rounded_to_six_decimals_and_compact(tmp_path):
    p = Project(tracks=[Track(envelope=Envelope(np.array([0.123456789, 1e-7, 1.0], np.float32)))])
    path = tmp_path / "p.foley"
    save(p, path)
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1 and data["app"] == "foley-studio"
    assert data["tracks"][0]["envelope"] == {"rate": 125.0, "values": [0.123457, 0.0, 1.0]}
    env_lines = [ln for ln in path.read_text().splitlines() if '"envelope"' in ln]
    assert len(env_lines) == 1  # the whole envelope on one line
    np.testing.assert_allclose(load(path).tracks[0].envelope.values, [0.123457, 0, 1], atol=5e-7)


def test_media_path_is_relative_in_file_and_follows_a_moved_folder(tmp_path):
    src = tmp_path / "a"
    src.mkdir()
    p = make_project(str(src))
    save(p, src / "scene.foley")
    assert json.loads((src / "scene.foley").read_text())["media_path"] == "media/clip.mp4"
    shutil.move(str(src), str(tmp_path / "b"))
    q = load(tmp_path / "b" / "scene.foley")
    assert q.media_path == str(tmp_path / "b" / "media" / "clip.mp4")
    assert not q.media_missing()


def test_media_outside_the_project_folder_and_absolute_paths(tmp_path):
    (tmp_path / "proj").mkdir()
    media = tmp_path / "footage" / "x.mov"
    media.parent.mkdir()
    media.write_bytes(b"x")
    save(Project(media_path=str(media)), tmp_path / "proj" / "p.foley")
    data = json.loads((tmp_path / "proj" / "p.foley").read_text())
    assert data["media_path"] == "../footage/x.mov"
    assert load(tmp_path / "proj" / "p.foley").media_path == str(media)
    data["media_path"] = str(media)  # absolute paths written by hand are read as they are
    (tmp_path / "proj" / "p.foley").write_text(json.dumps(data))
    assert load(tmp_path / "proj" / "p.foley").media_path == str(media)


def test_missing_media_is_not_a_load_error(tmp_path):
    p = make_project(str(tmp_path))
    save(p, tmp_path / "p.foley")
    os.remove(p.media_path)
    q = load(tmp_path / "p.foley")
    assert q.media_missing() and not q.media_changed(lambda path: 1 / 0)


def test_media_changed_uses_the_given_fingerprint(tmp_path):
    p = make_project(str(tmp_path))
    assert not p.media_changed(lambda path: "sha256:abc")
    assert p.media_changed(lambda path: "sha256:other")
    assert not Project().media_changed(lambda path: "x") and not Project().media_missing()


def test_bak_keeps_the_previous_version(tmp_path):
    path = tmp_path / "p.foley"
    save(Project(sample_rate=44100), path)
    assert not (tmp_path / "p.foley.bak").exists()
    save(Project(sample_rate=48000), path)
    assert load(str(path) + ".bak").sample_rate == 44100
    assert load(path).sample_rate == 48000
    save(Project(sample_rate=96000), path)
    assert load(str(path) + ".bak").sample_rate == 48000
    assert sorted(os.listdir(tmp_path)) == ["p.foley", "p.foley.bak"]  # no temp files left


@pytest.mark.parametrize("victim", ["replace", "fsync", "link", "json"])
def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch, victim):
    path = tmp_path / "p.foley"
    save(Project(sample_rate=44100), path)
    old = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if victim == "replace":
        real_replace = os.replace
        # let the .bak rotation through, fail the final rename over the project file
        monkeypatch.setattr(os, "replace", lambda a, b: boom() if os.fspath(b) == str(path)
                            else real_replace(a, b))
    elif victim == "fsync":
        monkeypatch.setattr(os, "fsync", boom)
    elif victim == "link":  # no hard links and the copy fails too
        monkeypatch.setattr(os, "link", boom)
        monkeypatch.setattr(atomic_module.shutil, "copy2", boom)
    else:
        def bad_dumps(*args, **kwargs):
            raise TypeError("Object of type Foo is not JSON serializable")

        monkeypatch.setattr(project_module.json, "dumps", bad_dumps)
    with pytest.raises(ProjectError) as info:
        save(Project(sample_rate=96000), path)
    assert "cannot save" in str(info.value)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []
    assert load(path).sample_rate == 44100


def test_bak_falls_back_to_a_copy_without_hard_links(tmp_path, monkeypatch):
    path = tmp_path / "p.foley"
    save(Project(sample_rate=44100), path)

    def no_links(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    save(Project(sample_rate=48000), path)
    assert load(str(path) + ".bak").sample_rate == 44100 and load(path).sample_rate == 48000


def test_save_to_a_missing_or_unwritable_folder(tmp_path, monkeypatch):
    with pytest.raises(ProjectError, match="does not exist"):
        save(Project(), tmp_path / "nope" / "p.foley")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    path = tmp_path / "p.foley"
    save(Project(), path)
    monkeypatch.setattr(atomic_module, "_create_exclusive", denied)
    with pytest.raises(ProjectError, match="Permission denied"):
        save(Project(sample_rate=8000), path)
    monkeypatch.undo()
    assert load(path).sample_rate == 48000


def test_save_refuses_what_load_would_refuse(tmp_path):
    path = tmp_path / "p.foley"
    with pytest.raises(ProjectError, match=r"tracks\[0\]\.seed"):
        save(Project(tracks=[Track(seed=-1)]), path)
    with pytest.raises(ProjectError, match=r"tracks\[0\]\.gain_db"):
        save(Project(tracks=[Track(gain_db=float("nan"))]), path)
    with pytest.raises(ProjectError, match="duplicate id"):
        save(Project(tracks=[Track(id="x"), Track(id="x")]), path)
    assert not path.exists()
    save(Project(tracks=[Track(seed=np.int64(5), gain_db=np.float32(-2.0))]), path)
    assert load(path).tracks[0].seed == 5


# --- validation --------------------------------------------------------------------------


def valid_doc():
    return {
        "schema_version": 1,
        "app": "foley-studio",
        "media_path": "clip.mp4",
        "media_fingerprint": None,
        "duration": 1.0,
        "video2rms_engine": "motion",
        "sample_rate": 48000,
        "tracks": [
            {"id": "a1", "name": "A", "prompt": "p", "seed": 1, "engine": "palette",
             "engine_params": {}, "gain_db": 0.0, "mute": False, "solo": False,
             "envelope": {"rate": 125, "values": [0.0, 0.5, 1.0]}},
            {"id": "b2", "name": "B", "prompt": "q", "seed": 2, "engine": "palette",
             "engine_params": {}, "gain_db": 0.0, "mute": False, "solo": False,
             "envelope": {"rate": 125, "values": [0.1, 0.2, 0.3]}},
        ],
    }


def setter(path, value):
    """A mutation that sets doc[path...] = value (or deletes it with value DELETE)."""

    def mutate(doc):
        obj = doc
        for key in path[:-1]:
            obj = obj[key]
        if value is DELETE:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value
        return doc

    return mutate


DELETE = object()
T1 = ("tracks", 1)

BAD_DOCS = [
    (setter(T1 + ("seed",), "abc"), 'tracks[1].seed: expected an integer, got "abc"'),
    (setter(T1 + ("seed",), -1), "tracks[1].seed: -1 is out of range (0..4294967295)"),
    (setter(T1 + ("seed",), 2**32), "tracks[1].seed: 4294967296 is out of range"),
    (setter(T1 + ("seed",), True), "tracks[1].seed: expected an integer, got true"),
    (setter(T1 + ("seed",), 1.5), "tracks[1].seed: expected an integer, got 1.5"),
    (setter(("schema_version",), 2), "made by a newer Foley Studio"),
    (setter(("schema_version",), 0), "schema_version: unsupported version 0"),
    (setter(("schema_version",), "1"), "schema_version: expected an integer"),
    (setter(("schema_version",), DELETE), "schema_version: missing"),
    (setter(("app",), "other-app"), "not a Foley Studio project"),
    (setter(("app",), DELETE), "app: missing"),
    (setter(("tracks",), DELETE), "tracks: missing"),
    (setter(("tracks",), {}), "tracks: expected a list, got an object"),
    (setter(("extra",), 1), "extra: unknown field"),
    (setter(T1 + ("colour",), "red"), "tracks[1].colour: unknown field"),
    (setter(T1 + ("id",), "a1"), 'tracks[1].id: duplicate id "a1" (also tracks[0])'),
    (setter(T1 + ("id",), "../../etc"), "tracks[1].id: expected 1-64 of"),
    (setter(T1 + ("id",), DELETE), "tracks[1].id: missing"),
    (setter(T1 + ("name",), "x" * 10_000), "tracks[1].name: too long (10000 characters"),
    (setter(T1 + ("prompt",), 5), "tracks[1].prompt: expected text, got 5"),
    (setter(T1 + ("engine",), ""), "tracks[1].engine: engine id is empty"),
    (setter(T1 + ("engine_params",), [1]), "tracks[1].engine_params: expected an object"),
    (setter(T1 + ("engine_params",), {"k": float("nan")}), "tracks[1].engine_params.k: expected a finite"),
    (setter(T1 + ("gain_db",), float("nan")), "tracks[1].gain_db: expected a finite number, got NaN"),
    (setter(T1 + ("gain_db",), float("inf")), "tracks[1].gain_db: expected a finite number, got Infinity"),
    (setter(T1 + ("gain_db",), 30), "tracks[1].gain_db: 30 is out of range (-120..24)"),
    (setter(T1 + ("gain_db",), 10**400), "tracks[1].gain_db:"),
    (setter(T1 + ("gain_db",), "loud"), 'tracks[1].gain_db: expected a number, got "loud"'),
    (setter(T1 + ("mute",), "yes"), 'tracks[1].mute: expected true or false, got "yes"'),
    (setter(T1 + ("solo",), 1), "tracks[1].solo: expected true or false, got 1"),
    (setter(T1 + ("envelope",), [0.1]), "tracks[1].envelope: expected an object, got a list"),
    (setter(T1 + ("envelope", "rate"), 100), "tracks[1].envelope.rate: expected 125 frames/s, got 100"),
    (setter(T1 + ("envelope", "values"), "0.1,0.2"), "tracks[1].envelope.values: expected a list"),
    (setter(T1 + ("envelope", "values", 2), 1.5), "tracks[1].envelope.values[2]: expected a level within 0..1, got 1.5"),
    (setter(T1 + ("envelope", "values", 1), -0.1), "tracks[1].envelope.values[1]: expected a level"),
    (setter(T1 + ("envelope", "values", 0), float("nan")), "tracks[1].envelope.values[0]: expected a level within 0..1, got NaN"),
    (setter(T1 + ("envelope", "values", 0), "0.5"), 'tracks[1].envelope.values[0]: expected a level within 0..1, got "0.5"'),
    (setter(T1 + ("envelope", "values", 0), None), "tracks[1].envelope.values[0]: expected a level"),
    (setter(T1 + ("envelope", "values", 0), 10**400), "tracks[1].envelope.values[0]: expected a level"),
    (setter(T1 + ("envelope", "values", 0), True), "tracks[1].envelope.values[0]: expected a level within 0..1, got true"),
    (setter(T1 + ("envelope", "extra"), 1), "tracks[1].envelope.extra: unknown field"),
    (setter(T1, "track"), 'tracks[1]: expected an object, got "track"'),
    (setter(("sample_rate",), 12345), "sample_rate: 12345 is not one of"),
    (setter(("sample_rate",), 1_000_000), "sample_rate: 1000000 is out of range (8000..192000)"),
    (setter(("sample_rate",), -48000), "sample_rate: -48000 is out of range"),
    (setter(("duration",), -1.0), "duration: -1.0 is out of range (0..86400)"),
    (setter(("duration",), 1e12), "duration: 1000000000000.0 is out of range"),
    (setter(("media_path",), 7), "media_path: expected text, got 7"),
    (setter(("media_path",), ""), "media_path: not a path"),
    (setter(("media_path",), "a" * 5000), "media_path: too long"),
    (setter(("media_fingerprint",), "f" * 1000), "media_fingerprint: too long"),
    (setter(("video2rms_engine",), None), "video2rms_engine: expected text, got null"),
]


@pytest.mark.parametrize("mutate, expected", BAD_DOCS, ids=[e[:40] for _, e in BAD_DOCS])
def test_validation_names_the_field(tmp_path, mutate, expected):
    path = tmp_path / "bad.foley"
    path.write_text(json.dumps(mutate(copy.deepcopy(valid_doc()))))
    with pytest.raises(ProjectError) as info:
        load(path)
    assert expected in str(info.value)
    assert info.value.path == str(path)


def test_the_valid_document_loads(tmp_path):
    path = tmp_path / "ok.foley"
    path.write_text(json.dumps(valid_doc()))
    p = load(path)
    assert [t.id for t in p.tracks] == ["a1", "b2"] and p.media_path == str(tmp_path / "clip.mp4")
    minimal = {"schema_version": 1, "app": "foley-studio",
               "tracks": [{"id": "x", "envelope": {"rate": 125, "values": []}}]}
    path.write_text(json.dumps(minimal))
    t = load(path).tracks[0]
    assert (t.engine, t.seed, t.gain_db, t.mute, t.solo) == ("palette", 0, 0.0, False, False)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "file is empty"),
        (b"   \n", "file is empty"),
        (b"{not json", "not valid JSON"),
        (b'{"schema_version": 1,', "not valid JSON"),
        (b"[1, 2]", "not a Foley Studio project (expected a JSON object, got a list)"),
        (b'"hello"', "not a Foley Studio project"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
        (b"[" * 100_000, "not valid JSON"),
        (b'{"schema_version": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_malformed_files(tmp_path, content, expected):
    path = tmp_path / "bad.foley"
    path.write_bytes(content)
    with pytest.raises(ProjectError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load(path)


def test_bom_is_accepted_and_missing_file_or_folder_reported(tmp_path):
    path = tmp_path / "bom.foley"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(valid_doc()).encode())
    assert len(load(path).tracks) == 2
    with pytest.raises(ProjectError, match="file not found"):
        load(tmp_path / "none.foley")
    with pytest.raises(ProjectError, match="is a folder, not a project file"):
        load(tmp_path)


def test_too_long_envelope_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(project_module, "MAX_FRAMES", 5)
    doc = valid_doc()
    doc["tracks"][0]["envelope"]["values"] = [0.0] * 6
    path = tmp_path / "long.foley"
    path.write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match=r"tracks\[0\]\.envelope\.values: too long"):
        load(path)


# --- document helpers --------------------------------------------------------------------


def test_solo_and_mute_logic():
    a, b, c = Track(name="a"), Track(name="b"), Track(name="c")
    p = Project(tracks=[a, b, c])
    assert p.audible_tracks() == [a, b, c]
    b.mute = True
    assert p.audible_tracks() == [a, c]
    c.solo = True
    assert p.audible_tracks() == [c]
    b.solo = True  # muted beats solo, as on a mixer
    assert p.audible_tracks() == [c]
    c.mute = True
    assert p.audible_tracks() == []


def test_track_helpers():
    p = Project()
    t = p.add_track(Track(name="x"))
    assert len(t.id) == 32 and p.track(t.id) is t
    with pytest.raises(ValueError, match="already"):
        p.add_track(Track(id=t.id))
    env = Envelope(np.ones(3, np.float32))
    new = p.replace_envelope(t.id, env)
    assert new is not t and p.track(t.id).envelope == env and len(t.envelope) == 0
    assert p.remove_track(t.id) is new and p.tracks == []
    with pytest.raises(KeyError):
        p.track("missing")


def test_save_keeps_the_file_mode_and_new_files_follow_the_umask(tmp_path):
    import stat

    path = tmp_path / "p.foley"
    old = os.umask(0o022)
    try:
        save(Project(), path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # not mkstemp's 0600
        os.chmod(path, 0o640)  # the user shared it with a group only
        save(Project(sample_rate=44100), path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    finally:
        os.umask(old)


def test_a_folder_that_refuses_fsync_does_not_fail_a_save_that_happened(tmp_path, monkeypatch):
    import stat

    real = os.fsync

    def no_dir_fsync(fd):  # some network and FUSE file systems
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "Invalid argument")
        return real(fd)

    monkeypatch.setattr(os, "fsync", no_dir_fsync)
    save(Project(sample_rate=44100), tmp_path / "p.foley")
    assert load(tmp_path / "p.foley").sample_rate == 44100


def test_an_audio_prompt_path_is_stored_relative_and_follows_the_folder(tmp_path):
    import json
    import shutil

    from foley_studio.core import project as project_io
    from foley_studio.core.project import Project, Track

    work = tmp_path / "work"
    (work / "sounds").mkdir(parents=True)
    sound = work / "sounds" / "door.wav"
    sound.write_bytes(b"RIFF")
    project = Project(duration=1.0, tracks=[Track(id="a", engine="controlnet",
                                                  engine_params={"audio_prompt": str(sound), "steps": 50})])
    project_io.save(project, str(work / "p.foley.json"))
    stored = json.loads((work / "p.foley.json").read_text())["tracks"][0]["engine_params"]
    assert stored == {"audio_prompt": "sounds/door.wav", "steps": 50}

    shutil.move(str(work), str(tmp_path / "moved"))
    loaded = project_io.load(str(tmp_path / "moved" / "p.foley.json"))
    assert loaded.tracks[0].engine_params == {"audio_prompt": str(tmp_path / "moved" / "sounds" / "door.wav"),
                                             "steps": 50}
