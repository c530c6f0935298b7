"""User sample folders as palette sources.

Every WAV/FLAC/OGG under a folder becomes a source. Its description is the sidecar
text file (`door_01.txt` or `door_01.wav.txt`) when there is one, else the file name
with separators turned into words. The index (description, rate, length per file) is
built once per folder and cached in memory and on disk, keyed by the folder path and
every file's size and mtime, so reopening a big library reads no audio headers.
Unreadable files are skipped with a warning; nothing here raises for a bad file.

A sample acts as a source: the slice from one of its onsets is the hit, the whole
file looped with a crossfade is the texture.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from foley_studio.core.audio import read_audio, resample
from foley_studio.engines.rms2sound import synth
from foley_studio.engines.rms2sound.sources import Source

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
CACHE_VERSION = 1
HIT_SECONDS = 0.6
MAX_LOOP_SECONDS = 30.0


@dataclass(frozen=True)
class SampleEntry:
    path: str  # absolute
    description: str
    sr: int
    frames: int


def cache_dir() -> Path:
    env = os.environ.get("FOLEY_STUDIO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "foley-studio"


def describe_name(path: str | os.PathLike) -> str:
    """'Door_Slam-heavy_02.wav' -> 'door slam heavy' (numbers carry no meaning)."""
    stem = Path(path).stem
    stem = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
    words = [w for w in re.split(r"[\s_\-.+,()\[\]]+", stem.lower()) if w and not w.isdigit()]
    return " ".join(words) or Path(path).stem


def _sidecar(path: Path) -> Path | None:
    for cand in (path.with_suffix(".txt"), path.with_name(path.name + ".txt")):
        if cand.is_file():
            return cand
    return None


def _scan(folder: Path) -> list[tuple[str, int, int, str | None, int, int]]:
    """(relative path, size, mtime_ns, sidecar, its size, its mtime_ns) for each audio file."""
    rows = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if not name.lower().endswith(AUDIO_EXTENSIONS):
                continue
            p = Path(root) / name
            try:
                st = p.stat()
                side = _sidecar(p)
                sst = side.stat() if side else None
            except OSError:
                continue
            rows.append((str(p.relative_to(folder)), st.st_size, st.st_mtime_ns,
                         side.name if side else None, sst.st_size if sst else 0, sst.st_mtime_ns if sst else 0))
    return rows


def _read_description(path: Path) -> str:
    side = _sidecar(path)
    if side is not None:
        try:
            text = " ".join(side.read_text(encoding="utf-8", errors="replace").split())
            if text:
                return text[:300]
        except OSError:
            pass
    return describe_name(path)


_MEMORY: dict[str, tuple[str, list[SampleEntry]]] = {}
_MEMORY_LOCK = threading.Lock()


def index_folder(folder: str | os.PathLike) -> list[SampleEntry]:
    """The folder's samples, from memory, then the disk cache, else by reading headers."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        warnings.warn(f"sample folder not found: {root}", stacklevel=2)
        return []
    rows = _scan(root)
    signature = hashlib.sha1(json.dumps([CACHE_VERSION, str(root), rows]).encode()).hexdigest()
    with _MEMORY_LOCK:
        hit = _MEMORY.get(str(root))
    if hit and hit[0] == signature:
        return hit[1]
    cache_file = cache_dir() / "samples" / f"{hashlib.sha1(str(root).encode()).hexdigest()[:20]}.json"
    entries = _load_cache(cache_file, signature)
    if entries is None:
        entries = _build(root, rows)
        _save_cache(cache_file, signature, root, entries)
    with _MEMORY_LOCK:
        _MEMORY[str(root)] = (signature, entries)
    return entries


def _build(root: Path, rows) -> list[SampleEntry]:
    entries = []
    for rel, *_ in rows:
        path = root / rel
        try:
            info = sf.info(str(path))
            if info.frames <= 0 or info.samplerate <= 0:
                raise ValueError("no audio frames")
        except Exception as exc:  # any unreadable file is skipped, never fatal
            warnings.warn(f"skipping unreadable sample {path}: {str(exc).splitlines()[0] if str(exc) else exc!r}",
                          stacklevel=3)
            continue
        entries.append(SampleEntry(str(path), _read_description(path), int(info.samplerate), int(info.frames)))
    return entries


def _load_cache(path: Path, signature: str) -> list[SampleEntry] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("signature") != signature:
            return None
        return [SampleEntry(**e) for e in data["entries"]]
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _save_cache(path: Path, signature: str, root: Path, entries: list[SampleEntry]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"signature": signature, "folder": str(root),
                                   "entries": [asdict(e) for e in entries]}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home must not stop rendering
        warnings.warn(f"could not write sample index cache {path}: {exc}", stacklevel=2)


@lru_cache(maxsize=8)
def _audio(path: str, mtime_ns: int, sr: int) -> np.ndarray:
    """The sample as mono float32 at sr (empty if it cannot be read any more)."""
    try:
        audio = read_audio(path)
    except Exception as exc:
        warnings.warn(f"skipping unreadable sample {path}: {exc}", stacklevel=2)
        return np.zeros(0, np.float32)
    x = resample(audio.samples, audio.sr, sr)
    return x[: int(MAX_LOOP_SECONDS * sr)]


def _onsets(x: np.ndarray, sr: int) -> list[int]:
    """Sample positions where the 10 ms energy jumps up (at least the loudest start)."""
    hop = max(1, sr // 100)
    n = len(x) // hop
    if n < 2:
        return [0]
    e = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)) + 1e-9
    rise = 20 * np.log10(e[1:] / e[:-1])
    loud = e[1:] > 0.1 * e.max()
    cand = [0] if e[0] > 0.1 * e.max() else []
    cand += [int(i + 1) for i in np.nonzero((rise > 6) & loud)[0]]
    if not cand:
        cand = [int(np.argmax(e))]
    return [max(0, c * hop - hop // 2) for c in cand[:16]]


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def as_source(entry: SampleEntry) -> Source:
    mtime = _mtime(entry.path)

    def transient(rng: np.random.Generator, sr: int) -> np.ndarray:
        x = _audio(entry.path, mtime, sr)
        if len(x) == 0:
            return np.zeros(synth.n_of(0.05, sr), np.float32)
        starts = _onsets(x, sr)
        at = starts[int(rng.integers(len(starts)))]
        return synth.fade_out(x[at : at + synth.n_of(HIT_SECONDS, sr)], sr, 0.02)

    def texture(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
        x = _audio(entry.path, mtime, sr)
        if len(x) < synth.n_of(0.05, sr):
            return np.zeros(max(len(x), synth.n_of(0.1, sr)), np.float32)
        return synth.make_loop(x, sr, min(0.1, len(x) / sr / 8))

    name = os.path.basename(entry.path)
    return Source(
        id=f"sample:{name}:{hashlib.sha1(entry.path.encode()).hexdigest()[:8]}",
        description=entry.description,
        transient=transient,
        texture=texture,
        periodic=True,  # texture() already returns a crossfaded loop
        block=0.5,
        variants=4,
        key=f"sample:{entry.path}:{mtime}:{entry.frames}",
    )


class SampleLibrary:
    """The samples of some folders, indexed once per instance (refresh() to rescan)."""

    def __init__(self, folders: list[str | os.PathLike]):
        self.folders = [os.fspath(f) for f in folders]
        self._sources: list[Source] | None = None
        self._lock = threading.Lock()

    def entries(self) -> list[SampleEntry]:
        found: list[SampleEntry] = []
        for folder in self.folders:
            found.extend(index_folder(folder))
        return found

    def sources(self) -> list[Source]:
        with self._lock:
            if self._sources is None:
                self._sources = [as_source(e) for e in self.entries()]
            return self._sources

    def refresh(self) -> None:
        with self._lock:
            self._sources = None
