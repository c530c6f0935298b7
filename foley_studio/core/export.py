"""Export: WAV stems, the mix, a muxed MP4 and envelope CSVs.

Every output lasts exactly the video's duration, to the sample. Everything is written
under temporary names and renamed only when all of it succeeded, so a failed export
leaves nothing behind and never clobbers earlier files half-way.

Audio is streamed: renders (an Audio, or an AudioFile for long tracks) are read a chunk
at a time, the mix is summed chunk by chunk as it is written, and the MP4's sound is
encoded while the video packets are copied. An hour-long export holds a few MB of audio.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import soundfile as sf

from foley_studio.core import atomic
from foley_studio.core.audio import SUBTYPES, Audio
from foley_studio.core.audio_store import AnyAudio, chunks, store
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import OutputError
from foley_studio.core.rms import resample_curve

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ExportOptions:
    sample_rate: int = 48_000
    bit_depth: int = 24
    stems: bool = True
    mix: bool = True
    video: bool = True
    envelopes: bool = True
    keep_original_audio: bool = False
    overwrite: bool = False


@dataclass
class ExportResult:
    stems: dict[str, str] = field(default_factory=dict)  # track id -> path
    envelopes: dict[str, str] = field(default_factory=dict)
    mix: str | None = None
    video: str | None = None

    def paths(self) -> list[str]:
        out = list(self.stems.values()) + list(self.envelopes.values())
        return out + [p for p in (self.mix, self.video) if p]


def slug(name: str) -> str:
    """A file-name-safe form of a track name."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return s[:60] or "track"


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def fit_audio(audio: Audio, sample_rate: int, n_samples: int) -> np.ndarray:
    """Resampled to the export rate and cut/padded to exactly n_samples."""
    return audio.resampled(sample_rate).fitted(n_samples).samples


def mix_down(stems: Sequence[tuple[np.ndarray, float]], n_samples: int) -> np.ndarray:
    """Sum of (samples, gain_db) stems; no limiter (the mix is what the user set)."""
    out = np.zeros(n_samples, np.float32)
    for samples, gain_db in stems:
        out += samples[:n_samples] * np.float32(db_to_gain(gain_db))
    return out


class _Gained:
    """A track's render at the export rate, cut or padded to n samples, times a gain."""

    def __init__(self, audio: AnyAudio, sr: int, n: int, gain_db: float):
        self._audio, self.sr, self._n = audio, int(sr), int(n)
        self._source: AnyAudio | None = None  # at the export rate, made on the first read
        self.gain = np.float32(db_to_gain(gain_db))

    def __len__(self) -> int:
        return self._n

    def read(self, start: int, n: int) -> np.ndarray:
        if self._source is None:  # not before the writing starts (after the overwrite check)
            self._source = _at_rate(self._audio, self.sr)
        n = max(min(int(n), self._n - int(start)), 0)
        x = self._source.read(start, n)
        if self.gain != 1.0:
            x *= self.gain
        return x


class _Mix:
    """The sum of gained tracks, summed a chunk at a time as it is read (never stored)."""

    def __init__(self, parts: Sequence[_Gained], n: int, sr: int):
        self.parts, self._n, self.sr = list(parts), int(n), int(sr)

    def __len__(self) -> int:
        return self._n

    def read(self, start: int, n: int) -> np.ndarray:
        n = max(min(int(n), self._n - int(start)), 0)
        out = np.zeros(n, np.float32)
        for part in self.parts:
            out += part.read(start, n)
        return out


def write_wav(path: str, audio, bit_depth: int = 24) -> None:
    """A mono WAV written chunk by chunk from anything with sr, len() and read(start, n).

    bit_depth 16 or 24 is PCM (clipped), 32 is float."""
    if bit_depth not in SUBTYPES:
        raise ValueError(f"bit depth must be one of {sorted(SUBTYPES)}, got {bit_depth}")
    with sf.SoundFile(os.fspath(path), "w", samplerate=audio.sr, channels=1,
                      subtype=SUBTYPES[bit_depth], format="WAV") as f:
        for piece in chunks(audio):
            f.write(np.clip(piece, -1.0, 1.0) if bit_depth != 32 else piece)


def _at_rate(audio: AnyAudio, sr: int) -> AnyAudio:
    if audio.sr == sr:
        return audio
    if isinstance(audio, Audio):  # in memory already: resample in one go
        return audio.resampled(sr)
    return store(audio, sr)  # a long track: resampled piece by piece into a new file


def write_envelope_csv(path: str, envelope: Envelope) -> None:
    from foley_studio.core.envelope_csv import write_csv

    write_csv(path, envelope)


def export_project(
    project,
    renders: Mapping[str, AnyAudio],
    out_dir: str | os.PathLike,
    duration: float,
    video_path: str | None = None,
    options: ExportOptions = ExportOptions(),
    base_name: str = "foley",
    progress: Progress | None = None,
) -> ExportResult:
    """Write the chosen outputs of a project whose tracks have been rendered.

    `renders` maps track id to that track's audio (an Audio or an AudioFile); `duration`
    is the video duration in seconds that every output is fitted to.
    """
    out_dir = os.fspath(out_dir)
    _prepare_folder(out_dir)
    sr = options.sample_rate
    n = int(round(duration * sr))
    planned: list[tuple[str, Callable[[str], None]]] = []  # (final path, writer(temp path))
    result = ExportResult()
    used: set[str] = set()

    for track in project.tracks:
        if track.id not in renders:
            raise OutputError(f"track '{track.name}' has not been rendered", out_dir)
    mixed: list[_Gained] = []
    audible = {t.id for t in project.audible_tracks()}
    for index, track in enumerate(project.tracks, start=1):
        name = _unique(f"{index:02d}-{slug(track.name)}", used)
        # stems carry the track's gain so that summing the stems gives the mix
        gained = _Gained(renders[track.id], sr, n, track.gain_db)
        if track.id in audible:
            mixed.append(gained)
        if options.stems:
            path = os.path.join(out_dir, name + ".wav")
            result.stems[track.id] = path
            planned.append((path, lambda p, a=gained: write_wav(p, a, options.bit_depth)))
        if options.envelopes:
            path = os.path.join(out_dir, name + ".csv")
            result.envelopes[track.id] = path
            env = Envelope(resample_curve(track.envelope.values, int(round(duration * track.envelope.rate))))
            planned.append((path, lambda p, e=env: write_envelope_csv(p, e)))

    mix = _Mix(mixed, n, sr)
    if options.mix:
        result.mix = os.path.join(out_dir, f"{base_name}-mix.wav")
        planned.append((result.mix, lambda p: write_wav(p, mix, options.bit_depth)))
    if options.video:
        if not video_path:
            raise OutputError("a muxed video needs the project's video file", out_dir)
        from foley_studio.core.media import mux

        stem_name = os.path.splitext(os.path.basename(video_path))[0]
        result.video = os.path.join(out_dir, f"{stem_name}-{base_name}.mp4")
        planned.append((result.video, lambda p: mux(video_path, mix, p, options.keep_original_audio)))

    _write_all(planned, options.overwrite, progress)
    return result


def _prepare_folder(out_dir: str) -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder ({exc.strerror})", out_dir) from None
    if not os.path.isdir(out_dir):
        raise OutputError("output path is not a folder", out_dir)
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise OutputError("output folder is not writable", out_dir)


def _unique(name: str, used: set[str]) -> str:
    candidate, k = name, 2
    while candidate in used:
        candidate, k = f"{name}-{k}", k + 1
    used.add(candidate)
    return candidate


def _write_all(planned, overwrite: bool, progress: Progress | None) -> None:
    """Write every output under a temporary name, then put them all in place, or none.

    Phase one writes and flushes each temporary (the slow part: a failure or a cancel
    there leaves the folder as it was). Phase two moves any older files aside, renames
    the new ones in and only then deletes the older ones; a failure half-way moves the
    older files back, so an earlier export is never left half-overwritten.
    """
    if not overwrite:
        for path, _ in planned:
            if os.path.exists(path):
                raise OutputError("already exists (choose another folder or allow overwriting)", path)
    temps: dict[str, str] = {}
    path = ""
    try:
        for i, (path, writer) in enumerate(planned):
            if progress:
                progress(i / max(len(planned), 1), f"writing {os.path.basename(path)}")
            atomic.remove_stale_temps(path)
            temps[path] = atomic.temp_path_for(path, f"partial{os.path.splitext(path)[1]}")
            with open(temps[path], "xb"):  # exclusive: never through a planted link
                pass
            writer(temps[path])
            atomic._fsync_file(temps[path])
        path = _commit(temps)
    except OSError as exc:
        raise OutputError(f"cannot write ({exc.strerror or exc})", path) from None
    finally:
        for tmp in temps.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    if progress:
        progress(1.0, "export done")


def _commit(temps: dict[str, str]) -> str:
    """Rename every temporary over its target, all or none (see _write_all).

    Each older file is first linked (or, where the file system has no hard links, copied)
    aside, so its name always holds a whole file, old or new, even if the process is
    killed between two calls; os.replace then swaps the new one in atomically. On a
    failure the names already replaced get their old file back."""
    aside: dict[str, str] = {}
    placed: list[str] = []
    path = ""
    try:
        for path, tmp in temps.items():
            if os.path.lexists(path):
                aside[path] = atomic.temp_path_for(path, "old")
                try:
                    os.link(path, aside[path])
                except OSError:
                    shutil.copy2(path, aside[path])
            os.replace(tmp, path)
            placed.append(path)
    except OSError:
        for done in placed:
            with contextlib.suppress(OSError):
                if done in aside:
                    os.replace(aside.pop(done), done)
                else:
                    os.unlink(done)
        for old in aside.values():
            with contextlib.suppress(OSError):
                os.unlink(old)
        raise
    for old in aside.values():
        with contextlib.suppress(OSError):
            os.unlink(old)
    for folder in {os.path.dirname(p) for p in temps}:
        atomic.fsync_folder(folder)
    return path
