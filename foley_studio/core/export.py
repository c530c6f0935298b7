"""Export: WAV stems, the mix, a muxed MP4 and envelope CSVs.

Every output lasts exactly the video's duration, to the sample. Everything is written
under temporary names and renamed only when all of it succeeded, so a failed export
leaves nothing behind and never clobbers earlier files half-way.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from foley_studio.core.atomic import atomic_output
from foley_studio.core.audio import Audio, write_wav
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


def write_envelope_csv(path: str, envelope: Envelope) -> None:
    from foley_studio.core.envelope_csv import write_csv

    write_csv(path, envelope)


def export_project(
    project,
    renders: Mapping[str, Audio],
    out_dir: str | os.PathLike,
    duration: float,
    video_path: str | None = None,
    options: ExportOptions = ExportOptions(),
    base_name: str = "foley",
    progress: Progress | None = None,
) -> ExportResult:
    """Write the chosen outputs of a project whose tracks have been rendered.

    `renders` maps track id to that track's audio; `duration` is the video duration in
    seconds that every output is fitted to.
    """
    out_dir = os.fspath(out_dir)
    _prepare_folder(out_dir)
    sr = options.sample_rate
    n = int(round(duration * sr))
    planned: list[tuple[str, Callable[[str], None]]] = []  # (final path, writer(temp path))
    result = ExportResult()
    used: set[str] = set()

    stems: list[tuple[np.ndarray, float]] = []
    audible = {t.id for t in project.audible_tracks()}
    for index, track in enumerate(project.tracks, start=1):
        name = _unique(f"{index:02d}-{slug(track.name)}", used)
        if track.id not in renders:
            raise OutputError(f"track '{track.name}' has not been rendered", out_dir)
        samples = fit_audio(renders[track.id], sr, n)
        if track.id in audible:
            stems.append((samples, track.gain_db))
        if options.stems:
            path = os.path.join(out_dir, name + ".wav")
            result.stems[track.id] = path
            # stems carry the track's gain so that summing the stems gives the mix
            stem = Audio(samples * np.float32(db_to_gain(track.gain_db)), sr)
            planned.append((path, lambda p, a=stem: write_wav(p, a, options.bit_depth)))
        if options.envelopes:
            path = os.path.join(out_dir, name + ".csv")
            result.envelopes[track.id] = path
            env = Envelope(resample_curve(track.envelope.values, int(round(duration * track.envelope.rate))))
            planned.append((path, lambda p, e=env: write_envelope_csv(p, e)))

    mix = Audio(mix_down(stems, n), sr)
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
    if not overwrite:
        for path, _ in planned:
            if os.path.exists(path):
                raise OutputError("already exists (choose another folder or allow overwriting)", path)
    # every file is written under a temporary name; the renames happen only when the
    # stack unwinds without an error, otherwise every temporary is removed
    with contextlib.ExitStack() as stack:
        for i, (path, writer) in enumerate(planned):
            if progress:
                progress(i / max(len(planned), 1), f"writing {os.path.basename(path)}")
            try:
                writer(stack.enter_context(atomic_output(path)))
            except OSError as exc:
                raise OutputError(f"cannot write ({exc.strerror or exc})", path) from None
    if progress:
        progress(1.0, "export done")
