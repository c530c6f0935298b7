"""The default RMS2Sound engine: procedural sources and user samples, no weights.

A prompt picks one or two sources (prompt_match); the envelope's onsets get hits,
the rest gets texture, and the result is shaped so that its paper-RMS follows the
envelope frame by frame (region.py, envelope_match.py). Same inputs give the same
samples; a span re-render redoes a short region and crossfades it into the previous
render, leaving everything outside the span (plus CROSSFADE) bit-identical.
"""

from __future__ import annotations

import math

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

    def __init__(self, sample_dirs: list[str] | tuple[str, ...] = (), matcher: str = "auto"):
        if matcher not in MATCHERS:
            raise EngineError(f"palette: matcher must be one of {', '.join(MATCHERS)}, got {matcher!r}")
        if isinstance(sample_dirs, str):
            sample_dirs = [sample_dirs]
        self._library = SampleLibrary(list(sample_dirs)) if sample_dirs else None
        self._matcher = PromptMatcher(matcher)

    def available(self) -> tuple[bool, str]:
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
        previous: Audio | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> Audio:
        sr = int(sample_rate)
        if sr <= 0:
            raise EngineError(f"palette: sample rate must be positive, got {sample_rate}")
        n_samples = int(round(envelope.duration * sr))
        env = np.asarray(envelope.values, dtype=np.float32)
        if envelope.rate != FRAME_RATE:
            env = resample_curve(env, int(round(envelope.duration * FRAME_RATE)))
        if len(env) == 0 or n_samples == 0:
            return Audio.silence(n_samples, sr)

        report(progress, 0.0, "choosing sound")
        check(cancel)
        layers = [region.Layer(src, w, banks.BANKS.get(src, seed, sr)) for src, w in self.choose(prompt)]
        check(cancel)
        found = onsets.detect(env)
        report(progress, 0.2, "synthesising")

        def step(fraction: float, message: str) -> None:
            check(cancel)
            report(progress, fraction, message)

        usable = (
            span is not None
            and previous is not None
            and previous.sr == sr
            and len(previous) == n_samples
        )
        if usable:
            out = self._render_span(layers, env, found, seed, sr, span, previous, step)
        else:
            out = Audio(region.render(layers, env, found, seed, sr, 0, len(env), n_samples, step)[1], sr)
        report(progress, 1.0, "done")
        return out

    @staticmethod
    def _render_span(layers, env, found, seed, sr, span, previous, step) -> Audio:
        n_samples = len(previous)
        t0, t1 = sorted(float(t) for t in span)
        fade = max(1, int(round(CROSSFADE * sr)))
        a = max(0, int(round(t0 * sr)) - fade)
        b = min(n_samples, int(round(t1 * sr)) + fade)
        if b <= a:
            return Audio(previous.samples.copy(), sr)
        grid = frames_per_grid(sr)
        n_frames = len(env)
        fa = max(0, (int(a * FRAME_RATE // sr) - CONTEXT_FRAMES) // grid * grid)
        fb = math.ceil(b * FRAME_RATE / sr) + CONTEXT_FRAMES
        fb = min(n_frames, -(-fb // grid) * grid)
        start, new = region.render(layers, env, found, seed, sr, fa, fb, n_samples, step)
        out = previous.samples.copy()
        new = new[a - start : b - start]
        # crossfade only where the span does not touch the track's ends
        lead = fade if a > 0 else 0
        trail = fade if b < n_samples else 0
        lead, trail = min(lead, (b - a) // 2), min(trail, (b - a) // 2)
        out[a + lead : b - trail] = new[lead : len(new) - trail]
        if lead:
            w = (np.arange(1, lead + 1, dtype=np.float32)) / (lead + 1)
            out[a : a + lead] += w * (new[:lead] - out[a : a + lead])
        if trail:
            w = (np.arange(trail, 0, -1, dtype=np.float32)) / (trail + 1)
            out[b - trail : b] += w * (new[len(new) - trail :] - out[b - trail : b])
        return Audio(out, sr)
