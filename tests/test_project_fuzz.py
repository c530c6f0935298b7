"""Hostile project files: whatever the bytes, load() returns a valid Project or raises a
one-line ProjectError naming the file, and writes nothing anywhere.

Media path policy (documented in core/project.py): a project may name its clip anywhere,
relative ("../footage/x.mov") or absolute, through symlinks too: the clip is only ever
read, as if the user had picked it in the Open dialog. Refused at load: a path that is not
text, empty, holds a NUL byte, is over 4096 characters or is not valid Unicode. A path
that is not a regular file (folder, /dev/zero, a FIFO) counts as missing, so the editor
offers to relink instead of opening it. Nothing a project names is ever written: a save
writes only the chosen file, its .bak and a temporary beside it.
"""

import json
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foley_studio.core import project as project_module
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import ProjectError
from foley_studio.core.project import Project, Track, load, save

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def snapshot(root) -> dict:
    """Every path under root with its size and modification time."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(folder, name)
            st_ = os.lstat(p)
            out[p] = (st_.st_size, st_.st_mtime_ns)
    return out


def load_or_refuse(path, root) -> Project | None:
    """load(path): a Project, or None after checking the refusal is one clean line."""
    before = snapshot(root)
    try:
        project = load(path)
    except ProjectError as exc:  # any other exception type fails the test
        text = str(exc)
        assert "\n" not in text and "\r" not in text, text
        assert text.startswith(f"{os.path.abspath(path)}: ") and exc.path == os.path.abspath(path)
        assert len(exc.problem) < 1000, exc.problem[:200]
        text.encode("utf-8")  # printable in a dialog and a terminal
        project = None
    assert snapshot(root) == before, "load wrote something"
    return project


def check(path, root) -> Project | None:
    """As load_or_refuse; what loads must also save and load back the same."""
    project = load_or_refuse(path, root)
    if project is not None:
        again = os.path.join(root, "again.foley")
        save(project, again)
        assert load(again) == project
        os.remove(again)
    return project


def valid_doc() -> dict:
    return {
        "schema_version": 1, "app": "foley-studio", "media_path": "media/clip.mp4",
        "media_fingerprint": "sha256:abc", "duration": 0.04, "video2rms_engine": "motion",
        "sample_rate": 48000,
        "tracks": [{"id": f"t{i}", "name": "Steps", "prompt": "boots", "seed": 7, "engine": "palette",
                    "engine_params": {"brightness": 0.5, "layers": [1, 2]}, "gain_db": -3.0,
                    "mute": False, "solo": False,
                    "envelope": {"rate": 125, "values": [0.0, 0.25, 0.5, 1.0, 0.125]}}
                   for i in range(2)],
    }


def write(root, data, name="p.foley") -> str:
    path = os.path.join(root, name)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else json.dumps(data, allow_nan=True).encode())
    return path


# --- property tests ------------------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.text(max_size=30)
                | st.integers(min_value=-(10**30), max_value=10**30)
                | st.floats(allow_nan=True, allow_infinity=True)
                | st.sampled_from([2**63, -(2**63) - 1, 10**300, 1e308, -0.0, 5e-324]))
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.text(max_size=10), kids, max_size=4), max_leaves=12)


@FUZZ
@given(data=st.binary(max_size=300))
def test_binary_junk(tmp_path, data):
    load_or_refuse(write(tmp_path, data), tmp_path)


@FUZZ
@given(doc=json_values)
def test_any_json_document(tmp_path, doc):
    assert check(write(tmp_path, doc), tmp_path) is None  # nothing random is a project


def paths_in(doc, prefix=()):
    """Every (path to a value) in a nested document, the root excluded."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield prefix + (key,)
        yield from paths_in(value, prefix + (key,))


mutations = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["set", "delete", "extra"]),
                               json_values), min_size=1, max_size=3)


@FUZZ
@given(steps=mutations)
def test_mutated_valid_project(tmp_path, steps):
    """Start from a valid saved project and break fields: set, delete, add unknown ones."""
    doc = valid_doc()
    for pick, how, value in steps:
        paths = list(paths_in(doc))
        path = paths[pick % len(paths)]
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if how == "set":
            parent[path[-1]] = value
        elif how == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent["x-extra"] = value
    loaded = check(write(tmp_path, doc), tmp_path)
    if loaded is not None:
        assert len(loaded.tracks) <= 2 and all(0 <= t.seed < 2**32 for t in loaded.tracks)


@FUZZ
@given(cut=st.integers(0, 10**6), junk=st.binary(min_size=1, max_size=8))
def test_truncated_or_spliced_file(tmp_path, cut, junk):
    good = json.dumps(valid_doc()).encode()
    at = cut % len(good)
    load_or_refuse(write(tmp_path, good[:at]), tmp_path)  # a save cut short by a crash
    check(write(tmp_path, good[:at] + junk + good[at:]), tmp_path)


@FUZZ
@given(text=st.text(max_size=20), key=st.text(min_size=1, max_size=20))
def test_any_text_in_text_fields_and_keys(tmp_path, text, key):
    """Names, prompts and parameter keys may hold any Unicode, lone surrogates excepted."""
    doc = valid_doc()
    doc["tracks"][0].update(name=text, prompt=text, engine_params={key: text})
    check(write(tmp_path, doc), tmp_path)


# --- named hostile cases (the table in the issue note) ---------------------------------------

def edited(**changes):
    doc = valid_doc()
    for dotted, value in changes.items():
        keys = [int(k) if k.isdigit() else k for k in dotted.split("__")]
        obj = doc
        for k in keys[:-1]:
            obj = obj[k]
        if value is ...:
            del obj[keys[-1]]
        else:
            obj[keys[-1]] = value
    return doc


def nested(depth):
    doc = edited()
    inner = 0
    for _ in range(depth):
        inner = {"k": inner}
    doc["tracks"][0]["engine_params"] = inner
    return doc


HOSTILE = {
    "empty file": (b"", "file is empty"),
    "binary junk": (bytes(range(256)) * 4, "not UTF-8 text"),
    "UTF-16 text": (json.dumps(valid_doc()).encode("utf-16"), "not UTF-8 text"),
    "Latin-1 bytes in a name": (json.dumps(valid_doc()).replace("Steps", "St\u00e9ps").encode("latin-1"),
                                "not UTF-8 text"),
    "a pickle": (b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94.", "not UTF-8 text"),
    "truncated JSON": (json.dumps(valid_doc()).encode()[:100], "not valid JSON"),
    "JSON list": ([valid_doc()], "expected a JSON object, got a list"),
    "deeply nested arrays": (b"[" * 200_000 + b"]" * 200_000, "not valid JSON"),
    "deeply nested params": (nested(50), "nested too deeply"),
    "200 000 tracks": (edited(tracks=[{"id": "x"}] * 200_000), "tracks: more than 512 tracks"),
    "a million-entry envelope of text": (edited(tracks__0__envelope__values=["x"] * 1_000_000),
                                          "envelope.values[0]: expected a level"),
    "5000 unknown fields": (dict(edited(), **{f"f{i}" * 30: 1 for i in range(5000)}),
                            "(and 4997 more)"),
    "a 5000-digit integer": (b'{"schema_version": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    "huge integer seed": (edited(tracks__0__seed=10**300), "seed: 1000000000000000000000000000"),
    "huge float gain": (edited(tracks__0__gain_db=1e308), "gain_db: 1e+308 is out of range"),
    "NaN level": (edited(tracks__0__envelope__values=[float("nan")]), "expected a level within 0..1, got NaN"),
    "Infinity duration": (edited(duration=math.inf), "duration: expected a finite number, got Infinity"),
    "-Infinity gain": (edited(tracks__0__gain_db=-math.inf), "expected a finite number, got -Infinity"),
    "missing tracks": (edited(tracks=...), "tracks: missing"),
    "missing envelope": (edited(tracks__0__envelope=...), "tracks[0].envelope: missing"),
    "extra field": (edited(plugin="x"), "plugin: unknown field"),
    "schema_version 2 (future)": (edited(schema_version=2), "made by a newer Foley Studio"),
    "schema_version 10**30": (edited(schema_version=10**30), "out of range"),
    "schema_version 0": (edited(schema_version=0), "unsupported version 0"),
    "schema_version -1": (edited(schema_version=-1), "unsupported version -1"),
    "schema_version 1.5": (edited(schema_version=1.5), "schema_version: expected an integer"),
    "schema_version \"1\"": (edited(schema_version="1"), "schema_version: expected an integer"),
    "schema_version missing": (edited(schema_version=...), "schema_version: missing"),
    "lone surrogate in a name": (edited(tracks__0__name="\ud800"), "name: not valid Unicode text"),
    "newline in a parameter key": (edited(tracks__0__engine_params={"a\nb": math.nan}),
                                   "engine_params.a\\nb: expected a finite number"),
    "NUL in media path": (edited(media_path="a\x00b"), "media_path: not a path"),
    "track id escaping into file names": (edited(tracks__0__id="../../x"), "tracks[0].id: expected 1-64 of"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_file(tmp_path, case):
    content, expected = HOSTILE[case]
    path = write(tmp_path, content)
    assert load_or_refuse(path, tmp_path) is None
    with pytest.raises(ProjectError) as info:
        load(path)
    assert expected in str(info.value), str(info.value)[:300]


def test_not_a_regular_file(tmp_path, monkeypatch):
    assert load_or_refuse(tmp_path, tmp_path) is None
    with pytest.raises(ProjectError, match="is a folder, not a project file"):
        load(tmp_path)
    fifo = tmp_path / "pipe.foley"
    os.mkfifo(fifo)  # opening must not wait for a writer
    with pytest.raises(ProjectError, match="pipe.foley: not a regular file"):
        load(fifo)
    with pytest.raises(ProjectError, match="not a regular file"):
        load("/dev/zero")  # would never end if read
    with pytest.raises(ProjectError, match="file not found"):
        load(tmp_path / "none.foley")
    path = write(tmp_path, valid_doc())

    def denied(*args, **kwargs):  # the tests may run as root, where chmod 000 still reads
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(project_module.os, "open", denied)
    with pytest.raises(ProjectError, match="p.foley: cannot read: Permission denied"):
        load(path)
    monkeypatch.undo()
    os.chmod(path, 0)
    try:
        assert load_or_refuse(path, tmp_path) is None or os.getuid() == 0
    finally:
        os.chmod(path, 0o644)


def test_too_big_file_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(project_module, "MAX_FILE_BYTES", 100)
    with pytest.raises(ProjectError, match="over 100 bytes"):
        load(write(tmp_path, valid_doc()))


@pytest.mark.parametrize("media", ["../../etc/passwd", "/etc/passwd", "../outside/clip.mp4",
                                   "media/link.mp4", "C:/footage/clip.mp4", "http://example.com/x.mp4"])
def test_media_anywhere_is_read_only_and_resolved(tmp_path, media):
    """Allowed: the clip is only read. Resolved to one absolute local path, never a URL."""
    proj = tmp_path / "proj"
    (proj / "media").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "clip.mp4").write_bytes(b"video")
    os.symlink(tmp_path / "outside" / "clip.mp4", proj / "media" / "link.mp4")
    path = write(proj, edited(media_path=media))
    project = load_or_refuse(path, tmp_path)
    assert project is not None and os.path.isabs(project.media_path)
    assert project.media_path == os.path.normpath(os.path.join(proj, media))
    before = snapshot(tmp_path / "outside")
    save(project, path)  # saving writes the project, never the media
    assert snapshot(tmp_path / "outside") == before
    assert sorted(os.listdir(proj)) == ["media", "p.foley", "p.foley.bak"]
    assert load(path).media_path == project.media_path


def test_media_that_is_not_a_regular_file_counts_as_missing(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    for media in ("/dev/zero", str(tmp_path / "fifo"), str(tmp_path), str(tmp_path / "nope.mp4")):
        assert Project(media_path=media).media_missing(), media  # relink instead of opening it


def test_save_never_writes_through_planted_symlinks(tmp_path):
    """A .bak or temp name planted as a symlink to a file elsewhere: that file stays as it was."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    proj = tmp_path / "proj"
    proj.mkdir()
    target = proj / "p.foley"
    save(Project(), target)
    os.symlink(victim, proj / "p.foley.bak")
    save(Project(sample_rate=44100), target)
    assert victim.read_text() == "precious" and not os.path.islink(proj / "p.foley.bak")
    os.symlink(victim, proj / "link.foley")  # the project file itself is a link elsewhere
    save(Project(sample_rate=8000), proj / "link.foley")
    assert victim.read_text() == "precious" and load(proj / "link.foley").sample_rate == 8000


def test_loaded_envelope_is_exact_and_bounded(tmp_path):
    doc = edited(tracks__0__envelope__values=[0, 1, 0.5, 5e-324])
    p = load(write(tmp_path, doc))
    assert p.tracks[0].envelope == Envelope([0, 1, 0.5, 0]) and isinstance(p.tracks[0], Track)
