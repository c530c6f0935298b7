"""The default RMS2Sound engine: procedural sources and user samples, no weights.

A prompt picks one or two sources (prompt_match); the envelope's onsets get hits,
the rest gets texture, and the result is shaped so that its paper-RMS follows the
envelope frame by frame (region.py, envelope_match.py). Same inputs give the same
samples; a span re-render redoes a short region and crossfades it into the previous
render, leaving everything outside the span (plus CROSSFADE) bit-identical.

Long tracks render in CHUNK_S pieces (render_chunks; render() too past LONG_FRAMES): each
piece is a region rendered with CONTEXT_FRAMES of context, so it is shaped as a one-shot
render shapes it (within 1e-4 per sample, tests/test_long_render.py), and neighbours are
crossfaded over CROSSFADE. Memory then follows the chunk, not the clip: an hour would
otherwise need several GB for the envelope match's float64 working set.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from foley_studio.core.audio import Audio
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import EngineError
from foley_studio.core.rms import FRAME_RATE, resample_curve
from foley_studio.engines.base import CancelToken, EngineInfo, Progress, Span, check, report
from foley_studio.engines.rms2sound import banks, onsets, region
from foley_studio.engines.rms2sound.envelope_match import frames_per_grid
from foley_studio.engines.rms2sound.prompt_match import MATCHERS, PromptMatcher
from foley_studio.engines.rms2sound.sample_library import SampleLibrary
from foley_studio.engines.rms2sound.sources import Source, builtin_sources

CROSSFADE = 0.010  # seconds of linear crossfade on each side of a re-rendered span
# frames rendered beyond the crossfade and thrown away, so the kept part is shaped as
# a full render would shape it (the envelope match looks a few frames each way)
CONTEXT_FRAMES = 25
# tracks longer than LONG_FRAMES envelope frames render in CHUNK_S pieces (render_chunks)
CHUNK_S = 30.0
LONG_FRAMES = int(1.5 * CHUNK_S * FRAME_RATE)


class PaletteEngine:
    info = EngineInfo(
        id="palette",
        name="Palette (procedural + samples)",
        kind="rms2sound",
        needs_weights=False,
        realtime=True,
        devices=("cpu",),
        description="Procedural sound sources and your own samples, chosen by the prompt and "
        "shaped to follow the envelope exactly. No model weights needed.",
        supports_span=True,
    )

    def __init__(self, sample_dirs: list[str] | tuple[str, ...] = (), matcher: str = "auto",
                 audio_prompt: str | None = None):
        # taken only to refuse it in available() with a clear line: a track moved from an
        # engine that takes sound files to this one still carries its audio_prompt
        self._audio_prompt = audio_prompt
        if matcher not in MATCHERS:
            raise EngineError(f"palette: matcher must be one of {', '.join(MATCHERS)}, got {matcher!r}")
        if isinstance(sample_dirs, str):
            sample_dirs = [sample_dirs]
        self._library = SampleLibrary(list(sample_dirs)) if sample_dirs else None
        self._matcher = PromptMatcher(matcher)

    def available(self) -> tuple[bool, str]:
        if self._audio_prompt:
            return False, (f"palette takes its timbre from the text prompt, not from a sound file "
                           f"({self._audio_prompt}): remove the sound file from the track or choose controlnet")
        return True, ""

    def sources(self) -> dict[str, Source]:
        """Every source a prompt can pick: built-ins, then user samples."""
        found = dict(builtin_sources())
        if self._library is not None:
            for src in self._library.sources():
                found[src.id] = src
        return found

    def choose(self, prompt: str) -> list[tuple[Source, float]]:
        """The source(s) for a prompt with energy weights summing to 1."""
        sources = self.sources()
        return [(sources[sid], w) for sid, w in self._matcher.match(prompt, list(sources.values()))]

    def render(
        self,
        envelope: Envelope,
        prompt: str,
        seed: int,
        sample_rate: int,
        span: Span | None = None,
        previous=None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ):
        """Audio following the envelope; with span and previous (an Audio or an AudioFile of
        the same length), previous with that span re-rendered (same type as previous)."""
        job = self._prepare(envelope, prompt, seed, sample_rate, progress, cancel)
        if job is None:
            return Audio.silence(int(round(envelope.duration * int(sample_rate))), int(sample_rate))
        usable = (
            span is not None
            and previous is not None
            and previous.sr == job.sr
            and len(previous) == job.n_samples
        )
        if usable:
            a, patch = job.span_patch(span, previous)
            out = previous.with_patch(a, patch)
        elif len(job.env) > LONG_FRAMES:
            # long tracks in chunks: the solver's working set stays a chunk's, not the clip's
            out = Audio(np.empty(job.n_samples, np.float32), job.sr)
            for start, piece in job.chunks(CHUNK_S):
                out.samples[start : start + len(piece)] = piece
        else:
            out = Audio(job.region(0, len(job.env), job.step)[1], job.sr)
        report(progress, 1.0, "done")
        return out

    def render_chunks(
        self,
        envelope: Envelope,
        prompt: str,
        seed: int,
        sample_rate: int,
        chunk_seconds: float | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """The render of `render` in consecutive pieces: (first sample, samples), covering
        the track exactly once, in order; only one chunk is in memory at a time."""
        sr = int(sample_rate)
        job = self._prepare(envelope, prompt, seed, sample_rate, progress, cancel)
        if job is None:
            n = int(round(envelope.duration * sr))
            for at in range(0, n, int(CHUNK_S * sr)):
                yield at, np.zeros(min(int(CHUNK_S * sr), n - at), np.float32)
            return
        yield from job.chunks(chunk_seconds or CHUNK_S)
        report(progress, 1.0, "done")

    def _prepare(self, envelope, prompt, seed, sample_rate, progress, cancel) -> "_Job | None":
        sr = int(sample_rate)
        if sr <= 0:
            raise EngineError(f"palette: sample rate must be positive, got {sample_rate}")
        n_samples = int(round(envelope.duration * sr))
        env = np.asarray(envelope.values, dtype=np.float32)
        if envelope.rate != FRAME_RATE:
            env = resample_curve(env, int(round(envelope.duration * FRAME_RATE)))
        if len(env) == 0 or n_samples == 0:
            return None
        report(progress, 0.0, "choosing sound")
        check(cancel)
        layers = [region.Layer(src, w, banks.BANKS.get(src, seed, sr)) for src, w in self.choose(prompt)]
        check(cancel)
        found = onsets.detect(env)
        report(progress, 0.2, "synthesising")
        return _Job(layers, env, found, int(seed), sr, n_samples, progress, cancel)


class _Job:
    """One prepared render: sources chosen, onsets found; renders regions of the track."""

    def __init__(self, layers, env, found, seed, sr, n_samples, progress, cancel):
        self.layers, self.env, self.found = layers, env, found
        self.seed, self.sr, self.n_samples = seed, sr, n_samples
        self._progress, self._cancel = progress, cancel
        self.grid = frames_per_grid(sr)

    def step(self, fraction: float, message: str) -> None:
        check(self._cancel)
        report(self._progress, fraction, message)

    def region(self, fa: int, fb: int, step=None) -> tuple[int, np.ndarray]:
        return region.render(self.layers, self.env, self.found, self.seed, self.sr, fa, fb,
                             self.n_samples, step)

    def _context(self, a: int, b: int) -> tuple[int, int]:
        """Grid-aligned frames around samples [a, b), with CONTEXT_FRAMES on each side."""
        fa = max(0, (int(a * FRAME_RATE // self.sr) - CONTEXT_FRAMES) // self.grid * self.grid)
        fb = math.ceil(b * FRAME_RATE / self.sr) + CONTEXT_FRAMES
        return fa, min(len(self.env), -(-fb // self.grid) * self.grid)

    def rendered(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b), rendered with context so they are shaped as a full render shapes them."""
        fa, fb = self._context(a, b)
        start, new = self.region(fa, fb)
        return new[a - start : b - start]

    def chunks(self, chunk_seconds: float) -> Iterator[tuple[int, np.ndarray]]:
        """Consecutive pieces; neighbours overlap by CROSSFADE and are crossfaded there, so a
        seam never clicks even where two regions' gain solutions differ slightly."""
        n, sr = self.n_samples, self.sr
        size = max(int(round(chunk_seconds * sr)), 1)
        fade = max(1, int(round(CROSSFADE * sr)))
        tail = None  # the previous chunk's render of the first `fade` samples of this one
        for a in range(0, n, size):
            b = min(a + size, n)
            self.step(0.2 + 0.8 * a / n, "synthesising")
            ext = min(b + fade, n)
            piece = self.rendered(a, ext)
            if tail is not None:
                k = min(len(tail), len(piece))
                w = np.arange(1, k + 1, dtype=np.float32) / (k + 1)
                piece[:k] = tail[:k] + w * (piece[:k] - tail[:k])
            tail = piece[b - a :].copy()
            yield a, piece[: b - a]

    def span_patch(self, span: Span, previous) -> tuple[int, np.ndarray]:
        """(first sample, samples) that replace previous around the span, crossfaded into it
        over CROSSFADE where the span does not touch the track's ends."""
        n_samples, sr = self.n_samples, self.sr
        t0, t1 = sorted(float(t) for t in span)
        fade = max(1, int(round(CROSSFADE * sr)))
        a = max(0, int(round(t0 * sr)) - fade)
        b = min(n_samples, int(round(t1 * sr)) + fade)
        if b <= a:
            return a, np.zeros(0, np.float32)
        fa, fb = self._context(a, b)
        start, new = self.region(fa, fb, self.step)
        new = new[a - start : b - start]
        old = previous.read(a, b - a)
        out = new.copy()
        # crossfade only where the span does not touch the track's ends
        lead = fade if a > 0 else 0
        trail = fade if b < n_samples else 0
        lead, trail = min(lead, (b - a) // 2), min(trail, (b - a) // 2)
        if lead:
            w = (np.arange(1, lead + 1, dtype=np.float32)) / (lead + 1)
            out[:lead] = old[:lead] + w * (new[:lead] - old[:lead])
        if trail:
            w = (np.arange(trail, 0, -1, dtype=np.float32)) / (trail + 1)
            out[len(out) - trail :] = old[len(old) - trail :] + w * (new[len(new) - trail :] - old[len(old) - trail :])
        return a, out
