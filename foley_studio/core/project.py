"""The project document: tracks with their envelopes, the clip, and the JSON file format.

A project file is JSON (never pickle): {"schema_version": 1, "app": "foley-studio", ...}.
Media paths are written relative to the project file so a project folder can move;
in memory they are absolute. Saving is atomic and keeps the previous file as `.bak`.
Loading checks every field and raises ProjectError naming the field
(`tracks[1].seed: expected an integer, got "abc"`), because a project file is user
input: it may be hand-edited, truncated, hostile, or from another version. Loading
writes nothing and runs nothing.

Media paths: a project may name its clip anywhere (relative with "../", absolute, via
symlinks), because the clip is only ever read, as if picked in the Open dialog. Refused:
a path that is not text, is empty, holds NUL, is over 4096 characters or not valid
Unicode. Not a regular file (folder, device, FIFO) counts as missing: the editor offers
to relink rather than open it. Nothing a project names is ever written; a save writes
only the chosen path (a symlink there is replaced, its target untouched), `.bak` and a
temporary beside them. Track ids become file names, so they are [A-Za-z0-9_-] only.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from foley_studio.core.atomic import keep_backup, write_text_atomic
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import ProjectError
from foley_studio.core.rms import FRAME_RATE

SCHEMA_VERSION = 1
APP_ID = "foley-studio"

MAX_SECONDS = 24 * 3600  # a day of clip: beyond any Foley job, well inside memory
MAX_FRAMES = int(MAX_SECONDS * FRAME_RATE)
MAX_TRACKS = 512
MAX_FILE_BYTES = 1024**3
SAMPLE_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000)
ENVELOPE_DECIMALS = 6  # 1e-6 is -120 dBFS: far below audibility, keeps files compact
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # ids end up in stem file names


@dataclass(kw_only=True)
class Track:
    """One layer: a prompt (timbre), a seed, an engine and the envelope it follows."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    name: str = ""
    prompt: str = ""
    seed: int = 0
    engine: str = "palette"
    engine_params: dict[str, Any] = field(default_factory=dict)
    envelope: Envelope = field(default_factory=lambda: Envelope(np.zeros(0, np.float32)))
    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False


@dataclass(kw_only=True)
class Project:
    """A Foley session. `media_path` is absolute in memory (relative only in the file)."""

    media_path: str | None = None
    media_fingerprint: str | None = None
    duration: float | None = None  # of the video, seconds
    video2rms_engine: str = "motion"
    sample_rate: int = 48000
    tracks: list[Track] = field(default_factory=list)

    def audible_tracks(self) -> list[Track]:
        """As a mixer does it: if any track is soloed only soloed ones play; muted never do."""
        any_solo = any(t.solo for t in self.tracks)
        return [t for t in self.tracks if not t.mute and (t.solo or not any_solo)]

    def _index(self, track_id: str) -> int:
        for i, t in enumerate(self.tracks):
            if t.id == track_id:
                return i
        raise KeyError(f"no track with id {track_id!r}")

    def track(self, track_id: str) -> Track:
        return self.tracks[self._index(track_id)]

    def add_track(self, track: Track) -> Track:
        if any(t.id == track.id for t in self.tracks):
            raise ValueError(f"a track with id {track.id!r} is already in the project")
        self.tracks.append(track)
        return track

    def remove_track(self, track_id: str) -> Track:
        return self.tracks.pop(self._index(track_id))

    def replace_envelope(self, track_id: str, envelope: Envelope) -> Track:
        """Swap a track's envelope. The Track is replaced, not mutated, so a render request
        holding the old Track keeps a consistent snapshot."""
        i = self._index(track_id)
        self.tracks[i] = replace(self.tracks[i], envelope=envelope)
        return self.tracks[i]

    def media_missing(self) -> bool:
        """True if the project names a clip that is not on disk (the UI offers to relink)."""
        return self.media_path is not None and not os.path.isfile(self.media_path)

    def media_changed(self, fingerprint: Callable[[str], str]) -> bool:
        """True if the clip on disk is not the one saved (fingerprint: media.fingerprint)."""
        if self.media_path is None or self.media_fingerprint is None or self.media_missing():
            return False
        return fingerprint(self.media_path) != self.media_fingerprint


def _relative_media(media_path: str, folder: str) -> str:
    try:
        rel = os.path.relpath(os.path.abspath(media_path), folder)
    except ValueError:  # another drive on Windows: no relative path exists
        return os.path.abspath(media_path)
    return rel.replace(os.sep, "/")  # portable between systems


# engine parameters that hold file paths (a reference sound): stored relative to the
# project file like media_path, so a project folder with its sounds can move
PATH_PARAMS = ("audio_prompt",)


def _portable_params(params: dict[str, Any], folder: str) -> dict[str, Any]:
    return {k: _relative_media(v, folder) if k in PATH_PARAMS and isinstance(v, str) and v.strip() else v
            for k, v in params.items()}


def _resolve_params(params: dict[str, Any], folder: str) -> dict[str, Any]:
    return {k: _resolve_path(v, folder) if k in PATH_PARAMS and isinstance(v, str) and v.strip() else v
            for k, v in params.items()}


def _resolve_path(stored: str, folder: str) -> str:
    """A path as written by _relative_media, back to a local path (absolute ones stay)."""
    return os.path.normpath(os.path.join(folder, stored.replace("/", os.sep)))


def _envelope_json(env: Envelope) -> str:
    vals = np.round(env.values.astype(np.float64), ENVELOPE_DECIMALS)
    return json.dumps({"rate": env.rate, "values": vals.tolist()}, separators=(",", ":"))


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x  # numpy scalars from UI code


def to_json(project: Project, folder: str) -> str:
    """The file text; envelopes go on one line each so files stay compact and diffable.
    Raises _Invalid if the project holds something load() would refuse: a save must never
    write a file that cannot be opened again."""
    token = uuid.uuid4().hex  # placeholder that no user string contains by chance
    doc = {
        "schema_version": SCHEMA_VERSION,
        "app": APP_ID,
        "media_path": project.media_path and _relative_media(project.media_path, folder),
        "media_fingerprint": project.media_fingerprint,
        "duration": _plain(project.duration),
        "video2rms_engine": project.video2rms_engine,
        "sample_rate": _plain(project.sample_rate),
        "tracks": [
            {"id": t.id, "name": t.name, "prompt": t.prompt, "seed": _plain(t.seed),
             "engine": t.engine, "engine_params": _portable_params(t.engine_params, folder),
             "gain_db": _plain(t.gain_db),
             "mute": _plain(t.mute), "solo": _plain(t.solo),
             "envelope": {"rate": FRAME_RATE, "values": []}}
            for t in project.tracks
        ],
    }
    from_dict(doc, folder)  # checks all but the envelope values, which Envelope guarantees
    for i, t in enumerate(project.tracks):
        env = t.envelope
        ok = isinstance(env, Envelope) and env.rate == FRAME_RATE and len(env) <= MAX_FRAMES
        _check(ok, f"tracks[{i}].envelope", f"expected an Envelope at {FRAME_RATE:g}/s, <= 24 h")
        doc["tracks"][i]["envelope"] = f"{token}{i}"
    text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False)
    envs = [_envelope_json(t.envelope) for t in project.tracks]
    return re.sub(f'"{token}(\\d+)"', lambda m: envs[int(m.group(1))], text) + "\n"


def save(project: Project, path: str | os.PathLike) -> None:
    """Write atomically: temp file + fsync, old file kept as `.bak`, then rename over.

    At every instant `path` is either the old or the new complete file. On failure the old
    file is left as it was and ProjectError says why.
    """
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    try:
        text = to_json(project, folder)
    except (_Invalid, TypeError, ValueError) as exc:  # TypeError: params JSON cannot hold
        raise ProjectError(f"cannot save: {exc}", path) from None
    if not os.path.isdir(folder):
        raise ProjectError(f"cannot save: folder {folder} does not exist", path)
    try:  # any failure before the final rename leaves `path` as it was
        write_text_atomic(path, text, before_replace=keep_backup)
    except OSError as exc:
        raise ProjectError(f"cannot save: {exc.strerror or exc}", path) from None


def load(path: str | os.PathLike) -> Project:
    """Read and validate a project file; ProjectError names the first field at fault.

    A missing media file is not an error (see Project.media_missing).
    """
    path = os.path.abspath(os.fspath(path))
    try:
        return from_dict(_read_json(path), os.path.dirname(path))
    except _Invalid as exc:
        raise ProjectError(str(exc), path) from None
    except MemoryError:  # a file under the size limit can still hold too much to parse
        raise ProjectError("too large to load into memory", path) from None


def _read_bytes(path: str) -> bytes:
    # O_NONBLOCK: opening a FIFO named as a project must not wait forever for a writer
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):  # a device or pipe: /dev/zero would never end
            raise _Invalid("not a regular file")
        too_big = _Invalid(f"file is over {MAX_FILE_BYTES} bytes: not a project")
        if st.st_size > MAX_FILE_BYTES:
            raise too_big
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:  # it grew since fstat
        raise too_big
    return raw


def _read_json(path: str) -> Any:
    try:
        text = _read_bytes(path).decode("utf-8-sig")
        if not text.strip():
            raise _Invalid("file is empty")
        return json.loads(text, parse_constant=float)  # NaN parses, so its field is named
    except FileNotFoundError:
        raise _Invalid("file not found") from None
    except IsADirectoryError:  # Python's file objects refuse a folder's descriptor
        raise _Invalid("is a folder, not a project file") from None
    except OSError as exc:
        raise _Invalid(f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise _Invalid(f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise _Invalid(f"not valid JSON: {exc.msg} at line {exc.lineno}:{exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer with 5000 digits
        raise _Invalid(f"not valid JSON: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}") from None


class _Invalid(Exception):
    """A field problem; load() and save() add the file path."""


def _show(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = f'"{_escape(value)}"' if isinstance(value, str) else json.dumps(value, default=repr)
    return text if len(text) <= 40 else text[:36] + "..." + text[0] * (text[0] == '"')


def _escape(text: str) -> str:
    """File text fit for a one-line message: newlines escaped, lone surrogates too."""
    text = json.dumps(text, ensure_ascii=False)[1:-1]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _check(ok: Any, where: str, problem: str) -> None:
    if not ok:
        raise _Invalid(f"{where}: {problem}")


def _obj(value: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    prefix = f"{where}." if where else ""
    _check(isinstance(value, dict), where, f"expected an object, got {_show(value)}")
    missing = sorted(required - value.keys())
    _check(not missing, prefix + ", ".join(missing), "missing")
    unknown = sorted(value.keys() - required - optional)
    if unknown:  # names come from the file: any length, any number, so show a few, shortened
        names = ", ".join(k if len(k) <= 40 else k[:36] + "..." for k in unknown[:3])
        more = f" (and {len(unknown) - 3} more)" if len(unknown) > 3 else ""
        raise _Invalid(f"{prefix}{_escape(names)}: unknown field{more}")
    return value


def _int(v: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(v, float) and v.is_integer() and lo <= v <= hi:
        v = int(v)  # 48000.0 written by another tool is still 48000
    ok = isinstance(v, int) and not isinstance(v, bool)
    _check(ok, where, f"expected an integer, got {_show(v)}")
    _check(lo <= v <= hi, where, f"{_show(v)} is out of range ({lo}..{hi})")  # _show: 4000 digits
    return v


def _num(v: Any, where: str, lo: float, hi: float) -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    _check(ok, where, f"expected a number, got {_show(v)}")
    finite = not isinstance(v, float) or math.isfinite(v)
    _check(finite, where, f"expected a finite number, got {_show(v)}")
    _check(lo <= v <= hi, where, f"{_show(v)} is out of range ({lo:g}..{hi:g})")  # exact for ints
    return float(v)


def _typed(v: Any, where: str, kind: type, what: str, max_len: int = 0) -> Any:
    _check(isinstance(v, kind), where, f"expected {what}, got {_show(v)}")
    if max_len:
        _check(len(v) <= max_len, where, f"too long ({len(v)} characters, at most {max_len})")
    if isinstance(v, str):  # JSON's "\ud800" parses to a lone surrogate no file can hold
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _Invalid(f"{where}: not valid Unicode text (character {exc.start})") from None
    return v


def _str(v: Any, where: str, max_len: int, allow_none: bool = False) -> str | None:
    return None if v is None and allow_none else _typed(v, where, str, "text", max_len)


def _engine_id(v: Any, where: str) -> str:
    _check(_str(v, where, 100).strip(), where, "engine id is empty")
    return v


def _params(v: Any, where: str, depth: int = 0) -> Any:
    """Engine parameters: plain JSON, finite numbers, bounded size (engines check meaning)."""
    _check(depth <= 8, where, "nested too deeply")
    if isinstance(v, (dict, list)):
        _check(len(v) <= 4096, where, f"too many entries ({len(v)})")
    if isinstance(v, dict):
        return {_str(k, where, 100): _params(x, f"{where}.{_escape(k)}", depth + 1) for k, x in v.items()}
    if isinstance(v, list):
        return [_params(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v)]
    if isinstance(v, float):
        _check(math.isfinite(v), where, f"expected a finite number, got {_show(v)}")
    _check(v is None or isinstance(v, (bool, int, float, str)), where, f"not a JSON value: {v!r}")
    return _str(v, where, 10_000) if isinstance(v, str) else v


def _envelope(v: Any, where: str) -> Envelope:
    d = _obj(v, where, {"rate", "values"}, set())
    rate = _num(d["rate"], f"{where}.rate", 0, math.inf)
    _check(rate == FRAME_RATE, f"{where}.rate", f"expected {FRAME_RATE:g} frames/s, got {rate:g}")
    at = f"{where}.values"
    vals = _typed(d["values"], at, list, "a list of numbers")
    _check(len(vals) <= MAX_FRAMES, at, f"too long: {len(vals)} frames, over 24 h")
    for i, x in enumerate(vals):  # bool/None/text are not levels; a huge int would overflow
        if type(x) is not float and (type(x) is not int or not 0 <= x <= 1):
            raise _Invalid(f"{at}[{i}]: expected a level within 0..1, got {_show(x)}")
    arr = np.asarray(vals, dtype=np.float64)
    bad = np.flatnonzero(~((arr >= 0.0) & (arr <= 1.0)))  # NaN and inf fail too
    if len(bad):
        raise _Invalid(f"{at}[{bad[0]}]: expected a level within 0..1, got {_show(vals[bad[0]])}")
    return Envelope(arr.astype(np.float32), rate)


def _track(v: Any, where: str) -> Track:
    optional = {"name", "prompt", "seed", "engine", "engine_params", "gain_db", "mute", "solo"}
    d = _obj(v, where, {"id", "envelope"}, optional)
    tid = _str(d["id"], f"{where}.id", 64)
    _check(_ID_RE.fullmatch(tid), f"{where}.id", f"expected 1-64 of A-Za-z0-9_-, got {_show(tid)}")
    params = _typed(d.get("engine_params", {}), f"{where}.engine_params", dict, "an object")
    return Track(
        id=tid,
        name=_str(d.get("name", ""), f"{where}.name", 200),
        prompt=_str(d.get("prompt", ""), f"{where}.prompt", 2000),
        seed=_int(d.get("seed", 0), f"{where}.seed", 0, 2**32 - 1),
        engine=_engine_id(d.get("engine", "palette"), f"{where}.engine"),
        engine_params=_params(params, f"{where}.engine_params"),
        envelope=_envelope(d["envelope"], f"{where}.envelope"),
        gain_db=_num(d.get("gain_db", 0.0), f"{where}.gain_db", -120.0, 24.0),
        mute=_typed(d.get("mute", False), f"{where}.mute", bool, "true or false"),
        solo=_typed(d.get("solo", False), f"{where}.solo", bool, "true or false"),
    )


def from_dict(data: Any, folder: str) -> Project:
    """Validate a parsed project document; relative media paths resolve against `folder`."""
    if not isinstance(data, dict):
        raise _Invalid(f"not a Foley Studio project (expected a JSON object, got {_show(data)})")
    if "schema_version" not in data:
        raise _Invalid("schema_version: missing (not a Foley Studio project?)")
    version = _int(data["schema_version"], "schema_version", -(2**63), 2**63)
    newer = f"version {version} was made by a newer Foley Studio (this one reads {SCHEMA_VERSION})"
    _check(version <= SCHEMA_VERSION, "schema_version", newer)
    _check(version >= 1, "schema_version", f"unsupported version {version}")
    optional = {"media_path", "media_fingerprint", "duration", "video2rms_engine", "sample_rate"}
    d = _obj(data, "", {"schema_version", "app", "tracks"}, optional)
    _check(d["app"] == APP_ID, "app", f"got {_show(d['app'])}: not a Foley Studio project")
    media = _str(d.get("media_path"), "media_path", 4096, allow_none=True)
    if media is not None:
        _check(media.strip() and "\x00" not in media, "media_path", f"not a path: {_show(media)}")
        # absolute and "../" paths are fine: media is only ever read, never written
        media = _resolve_path(media, folder)
    duration = d.get("duration")
    if duration is not None:
        duration = _num(duration, "duration", 0.0, MAX_SECONDS)
    sample_rate = _int(d.get("sample_rate", 48000), "sample_rate", 8000, 192000)
    rates = ", ".join(map(str, SAMPLE_RATES))
    _check(sample_rate in SAMPLE_RATES, "sample_rate", f"{sample_rate} is not one of {rates}")
    tracks_raw = _typed(d["tracks"], "tracks", list, "a list")
    _check(len(tracks_raw) <= MAX_TRACKS, "tracks", f"more than {MAX_TRACKS} tracks")
    tracks = [_track(raw, f"tracks[{i}]") for i, raw in enumerate(tracks_raw)]
    for t in tracks:  # like media_path: only ever read, so "../" and absolute paths are fine
        t.engine_params = _resolve_params(t.engine_params, folder)
    first: dict[str, int] = {}
    for i, t in enumerate(tracks):
        j = first.setdefault(t.id, i)
        _check(j == i, f"tracks[{i}].id", f"duplicate id {_show(t.id)} (also tracks[{j}])")
    return Project(
        media_path=media,
        media_fingerprint=_str(d.get("media_fingerprint"), "media_fingerprint", 256, True),
        duration=duration,
        video2rms_engine=_engine_id(d.get("video2rms_engine", "motion"), "video2rms_engine"),
        sample_rate=sample_rate,
        tracks=tracks,
    )
