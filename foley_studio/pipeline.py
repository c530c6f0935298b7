"""The headless pipeline that the CLI and the editor share.

clip -> envelope (Video2RMS engine) -> project with tracks -> audio per track
(RMS2Sound engine through the render service) -> export.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

from foley_studio.core.audio_store import AnyAudio
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import EngineError, FoleyError
from foley_studio.core.render import RenderRequest, RenderService
from foley_studio.engines import registry
from foley_studio.engines.base import CancelToken, Progress


def create_engine(engine_id: str, params: dict | None = None) -> Any:
    """Build an engine and fail with one clear line when it cannot run here."""
    engine = registry.create(engine_id, **(params or {}))
    ok, why = engine.available()
    if not ok:
        raise EngineError(f"engine '{engine_id}' is not available: {why}")
    return engine


def predict_envelope(
    clip,
    engine_id: str = registry.DEFAULT_VIDEO2RMS,
    roi: tuple[int, int, int, int] | None = None,
    params: dict | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> Envelope:
    engine = create_engine(engine_id, params)
    if engine.info.kind != "video2rms":
        raise EngineError(f"engine '{engine_id}' does not predict envelopes from video")
    if roi is not None:
        _check_roi(roi, clip)
    return engine.predict(clip, roi=roi, progress=progress, cancel=cancel)


def _check_roi(roi, clip) -> None:
    x, y, w, h = roi
    W, H = clip.info.width, clip.info.height
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > W or y + h > H:
        raise FoleyError(f"region of interest {x},{y},{w},{h} is outside the {W}x{H} picture", clip.path)


@dataclass(frozen=True)
class TrackSpec:
    name: str
    prompt: str


def new_project(
    video_path: str,
    envelope: Envelope,
    tracks: Sequence[TrackSpec],
    seed: int = 0,
    engine_id: str = registry.DEFAULT_RMS2SOUND,
    duration: float | None = None,
    sample_rate: int = 48_000,
    fingerprint: str | None = None,
):
    """A project on `video_path` with one track per spec, all starting from `envelope`."""
    from foley_studio.core.project import Project, Track

    project = Project(
        media_path=os.path.abspath(video_path),
        media_fingerprint=fingerprint,
        duration=duration,
        sample_rate=sample_rate,
        tracks=[],
    )
    for i, spec in enumerate(tracks):
        project.add_track(
            Track(name=spec.name, prompt=spec.prompt, seed=seed + i, engine=engine_id, envelope=envelope)
        )
    return project


def render_tracks(
    project,
    service: RenderService | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, AnyAudio]:
    """Render every track of a project synchronously; returns track id -> audio.

    Tracks longer than render.STORE_ABOVE_S come back as AudioFiles (on disk, rendered in
    chunks); export and playback read them a chunk at a time."""
    own = service is None
    service = service or RenderService(create_engine)
    try:
        out: dict[str, AnyAudio] = {}
        n = max(len(project.tracks), 1)
        for i, track in enumerate(project.tracks):
            request = RenderRequest(
                track.id,
                track.envelope,
                track.prompt,
                track.seed,
                track.engine,
                dict(track.engine_params),
                project.sample_rate,
            )
            sub = None
            if progress is not None:
                sub = lambda f, m, i=i, name=track.name: progress((i + f) / n, f"{name}: {m}")
            out[track.id] = service.render(request, sub, cancel).audio
        return out
    finally:
        if own:
            service.shutdown()
