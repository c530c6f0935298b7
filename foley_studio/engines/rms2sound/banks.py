"""Per (source, seed, rate) banks of hits and a texture loop, and reading them out.

Everything a render needs from a source is generated once per (source, seed, sr) and
cached, so a render is mostly copying. Randomness at render time never comes from a
running RNG stream: each texture block and each onset gets its own hash of (seed,
block or onset index), so rendering any time range gives the same samples there as a
full render does, which is what span re-rendering relies on.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from foley_studio.engines.rms2sound import synth
from foley_studio.engines.rms2sound.sources import Source

_MASK = (1 << 64) - 1
CROSSFADE = 0.02  # seconds between shuffled texture blocks


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of strings and ints that is the same in every process (unlike hash())."""
    h = 0x6A09E667F3BCC908
    for p in parts:
        v = zlib.crc32(p.encode("utf-8")) if isinstance(p, str) else int(p) & _MASK
        h = _splitmix(h ^ v)
    return h


def hash_many(base: int, index: np.ndarray) -> np.ndarray:
    """splitmix64(base ^ i) for an array of indices (uint64, wraps like the scalar one)."""
    x = (np.asarray(index, dtype=np.int64).astype(np.uint64) ^ np.uint64(base))
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass(frozen=True, eq=False)
class Bank:
    hits: tuple[np.ndarray, ...]  # each scaled so its loudest 50 ms has RMS 1
    loop: np.ndarray  # seamless texture loop, RMS 1
    loop_ext: np.ndarray  # loop followed by its own start, so blocks slice without wrapping
    tail: int  # samples in the longest hit


def build_bank(source: Source, seed: int, sr: int) -> Bank:
    hits = []
    for v in range(max(1, source.variants)):
        rng = np.random.default_rng(stable_hash("hit", source.cache_key, seed, v))
        x = np.asarray(source.transient(rng, sr), np.float32)
        level = synth.peak_window_rms(x, sr)
        hits.append((x / level).astype(np.float32) if level > 0 else x)
    rng = np.random.default_rng(stable_hash("texture", source.cache_key, seed))
    n = synth.n_of(source.loop_seconds, sr)
    loop = np.asarray(source.texture(rng, sr, n), np.float32)
    if not source.periodic:
        loop = synth.make_loop(loop, sr)
    if not np.any(loop):  # a texture must exist wherever the envelope asks for sound
        loop = synth.make_loop(synth.noise(rng, n), sr)
    loop = synth.unit_rms(loop)
    block = synth.n_of(source.block, sr) + synth.n_of(CROSSFADE, sr)
    reps = 1 + -(-block // len(loop))
    ext = np.tile(loop, reps + 1)
    for h in hits:
        h.setflags(write=False)
    return Bank(tuple(hits), loop, ext, max(len(h) for h in hits))


class _BankCache:
    """A small thread-safe LRU: banks are a few MB each and cheap to rebuild."""

    def __init__(self, size: int = 48):
        self._size = size
        self._items: OrderedDict[tuple, Bank] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, source: Source, seed: int, sr: int) -> Bank:
        key = (source.cache_key, int(seed), int(sr))
        with self._lock:
            bank = self._items.get(key)
            if bank is not None:
                self._items.move_to_end(key)
                return bank
        bank = build_bank(source, seed, sr)
        with self._lock:
            self._items[key] = bank
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return bank

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


BANKS = _BankCache(size=24)


@lru_cache(maxsize=32)
def _block_window(body: int, fade: int) -> np.ndarray:
    """Equal-power fade-in over `fade`, flat, fade-out over the last `fade` samples."""
    w = np.ones(body + fade, np.float32)
    if fade:
        phase = (np.arange(fade, dtype=np.float64) + 0.5) / fade * (np.pi / 2)
        w[:fade] = np.sin(phase)
        w[body:] = np.cos(phase)
    w.setflags(write=False)
    return w


def texture(bank: Bank, source: Source, seed: int, sr: int, start: int, n: int) -> np.ndarray:
    """Texture samples [start, start + n) of the absolute timeline (RMS ~1)."""
    out = np.zeros(n, np.float32)
    size = len(bank.loop)
    if source.mode == "loop":
        pos = (stable_hash("offset", source.cache_key, seed) + start) % size
        done = 0
        while done < n:
            take = min(n - done, size - pos)
            out[done : done + take] = bank.loop[pos : pos + take]
            done += take
            pos = 0
        return out
    body = synth.n_of(source.block, sr)
    fade = min(synth.n_of(CROSSFADE, sr), body // 2)
    window = _block_window(body, fade)
    first = start // body
    last = (start + n + fade) // body  # block b covers [b*body - fade, (b+1)*body)
    blocks = np.arange(first, last + 1)
    offsets = hash_many(stable_hash("blocks", source.cache_key, seed), blocks) % np.uint64(size)
    for b, off in zip(blocks.tolist(), offsets.tolist()):
        at = b * body - fade - start  # where the block's first sample lands in out
        a, e = max(0, at), min(n, at + body + fade)
        if a < e:
            seg = bank.loop_ext[off + a - at : off + e - at]
            out[a:e] += seg * window[a - at : e - at]
    return out


def hits(out: np.ndarray, bank: Bank, source: Source, seed: int, start: int,
         onset_samples: np.ndarray, onset_ids: np.ndarray, amps: np.ndarray) -> None:
    """Add the hit for each onset into out (which holds samples [start, start + len(out)))."""
    if len(onset_samples) == 0:
        return
    h = hash_many(stable_hash("variant", source.cache_key, seed), onset_ids)
    variant = (h % np.uint64(len(bank.hits))).astype(np.int64)
    sign = np.where((h >> np.uint64(32)) & np.uint64(1), -1.0, 1.0)
    n = len(out)
    for at, v, a in zip((onset_samples - start).tolist(), variant.tolist(), (amps * sign).tolist()):
        hit = bank.hits[v]
        lo, hi = max(0, at), min(n, at + len(hit))
        if lo < hi:
            out[lo:hi] += np.float32(a) * hit[lo - at : hi - at]
