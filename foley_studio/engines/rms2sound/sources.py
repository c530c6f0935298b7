"""Sound sources: what the palette engine can sound like.

A source is a pair of seeded generators, a TRANSIENT (one hit: a knock, a step, a
drip) and a TEXTURE (what sustains between hits: scraping, rustle, hum), plus a
one-sentence description that the prompt matcher compares with the prompt, and a
few weighted keywords for the matcher's fallback. The built-in procedural sources
live in sources_impacts.py, sources_steps.py and sources_textures.py; user samples
become sources in sample_library.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

Transient = Callable[[np.random.Generator, int], np.ndarray]  # (rng, sr) -> one hit
Texture = Callable[[np.random.Generator, int, int], np.ndarray]  # (rng, sr, n) -> n samples


@dataclass(frozen=True, eq=False)
class Source:
    id: str
    description: str
    transient: Transient
    texture: Texture
    # concept -> weight for the keyword matcher (concepts are prompt_match's canonical words)
    keywords: dict[str, float] = field(default_factory=dict)
    # loudness of a hit's loudest 50 ms, relative to the envelope level after the onset
    transient_gain: float = 2.0
    # loudness of the texture relative to the envelope (before the envelope match)
    texture_gain: float = 0.35
    # "shuffle": texture blocks from random places in the loop, crossfaded (noisy textures);
    # "loop": the loop played straight through (tonal textures whose phase must not jump)
    mode: Literal["shuffle", "loop"] = "shuffle"
    block: float = 0.35  # seconds per shuffled texture block
    loop_seconds: float = 3.0  # length of the generated texture loop
    periodic: bool = False  # the texture generator already returns a seamless loop
    variants: int = 6  # different hits per seed
    key: str = ""  # cache identity; built-ins use their id, samples add path and mtime

    @property
    def cache_key(self) -> str:
        return self.key or self.id


_BUILTINS: dict[str, Source] | None = None


def builtin_sources() -> dict[str, Source]:
    """All procedural sources by id (built on first use)."""
    global _BUILTINS
    if _BUILTINS is None:
        from foley_studio.engines.rms2sound import sources_impacts, sources_steps, sources_textures

        found: dict[str, Source] = {}
        for module in (sources_impacts, sources_steps, sources_textures):
            for src in module.SOURCES:
                if src.id in found:
                    raise ValueError(f"duplicate sound source id {src.id!r}")
                found[src.id] = src
        _BUILTINS = found
    return _BUILTINS


DEFAULT_SOURCE = "impact_wood"


def get(source_id: str) -> Source:
    return builtin_sources()[source_id]


def descriptions() -> dict[str, str]:
    return {sid: s.description for sid, s in builtin_sources().items()}
