"""Long audio kept on disk: a whole track of an hour-long clip without holding it in memory.

An hour of 48 kHz float32 mono is 691 MB, so a track, the mix and a resampled copy of each
would blow any sensible memory budget. `AudioFile` keeps the samples in an anonymous
temporary file (removed by the OS when closed or when the process dies) and hands out
the stretch a caller asks for. Reads and writes go through ordinary file I/O, not a
memory map: pages of a map that were touched count as the process's resident memory
until the kernel evicts them, plain reads leave them in the page cache, which it can.

`Audio` (in memory) and `AudioFile` share the reading side: `sr`, `len()`, `duration`,
`read(start, n)` and `with_patch(start, samples)`; code that streams audio (export,
playback, peaks) takes either. `chunks()` walks one of them in fixed steps.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from typing import Iterator, Union

import numpy as np
import soxr

from foley_studio.core.audio import Audio

CHUNK_SAMPLES = 1 << 18  # ~5.5 s at 48 kHz: 1 MB of float32 per chunk
_ITEM = 4  # bytes per float32 sample
# A span re-render of a stored track is kept in memory over the (shared, frozen) file it
# patches, up to this many samples across its patches (16 MB): copying an hour's file for
# every edit took 3 s. Beyond it the patched track is written out to a file of its own.
MAX_PATCH_SAMPLES = 1 << 22


class AudioFile:
    """Mono float32 samples at `sr` in a temporary file; silent (zeros) until written."""

    def __init__(self, n_samples: int, sr: int, folder: str | None = None):
        if int(sr) <= 0:
            raise ValueError(f"sample rate must be positive, got {sr}")
        self.sr = int(sr)
        self._n = max(int(n_samples), 0)
        # unnamed: nothing to clean up after a crash, the space returns when it is closed
        self._file = tempfile.TemporaryFile(prefix="foley-audio-", suffix=".f32", dir=folder)
        self._file.truncate(self._n * _ITEM)  # sparse where the OS allows: reads as zeros
        self._lock = threading.Lock()  # one file position shared by reader threads
        self._written = False
        # (start, samples) laid over the file in order; the file is then shared with the
        # AudioFile this one was patched from, and frozen (see with_patch)
        self._patches: tuple[tuple[int, np.ndarray], ...] = ()
        self._frozen = [False]  # shared by every AudioFile over the same file

    @property
    def silent(self) -> bool:
        """Nothing was ever written: all zeros (a mixer can skip it without reading)."""
        return not self._written and not self._patches

    def __len__(self) -> int:
        return self._n

    @property
    def duration(self) -> float:
        return self._n / self.sr

    def write(self, start: int, samples: np.ndarray) -> None:
        """Samples [start, start + len) replaced; anything outside the file is dropped.

        Only while the file is its own: once patched (with_patch) it is shared, read-only."""
        if self._frozen[0]:
            raise RuntimeError("this audio file is shared with a patched copy and read-only")
        x = np.asarray(samples, dtype=np.float32)
        a, b = max(int(start), 0), min(int(start) + len(x), self._n)
        if a >= b:
            return
        data = np.ascontiguousarray(x[a - start : b - start], dtype="<f4")
        self._written = True
        with self._lock:
            self._file.seek(a * _ITEM)
            self._file.write(memoryview(data).cast("B"))

    def read(self, start: int, n: int) -> np.ndarray:
        """Samples [start, start + n) as a new float32 array, zeros outside the file."""
        n = max(int(n), 0)
        out = np.zeros(n, np.float32)
        a, b = max(int(start), 0), min(int(start) + n, self._n)
        if a < b:
            view = memoryview(out[a - start : b - start]).cast("B")
            with self._lock:
                self._file.seek(a * _ITEM)
                got = self._file.readinto(view)
            if got != len(view):
                raise OSError(f"short read from a temporary audio file ({got} of {len(view)} bytes)")
        for p0, px in self._patches:  # later patches over earlier ones
            lo, hi = max(p0, start), min(p0 + len(px), start + n)
            if lo < hi:
                out[lo - start : hi - start] = px[lo - p0 : hi - p0]
        return out

    def with_patch(self, start: int, samples: np.ndarray) -> "AudioFile":
        """A copy with samples [start, start + len) replaced (a span re-render).

        This one is left as it was (playback may still be reading it). The copy shares
        the file and keeps the new samples in memory, until the patches outgrow
        MAX_PATCH_SAMPLES; then it gets a file of its own."""
        x = np.asarray(samples, dtype=np.float32)
        a, b = max(int(start), 0), min(int(start) + len(x), self._n)
        patch = ((a, x[a - start : b - start].copy()),) if a < b else ()
        patches = self._patches + patch
        if sum(len(px) for _, px in patches) <= MAX_PATCH_SAMPLES:
            self._frozen[0] = True
            view = object.__new__(AudioFile)
            view.__dict__.update(self.__dict__)
            view._patches = patches
            return view
        copy = AudioFile(self._n, self.sr)
        copy._written = True
        with self._lock:
            self._file.seek(0)
            copy._file.seek(0)
            shutil.copyfileobj(self._file, copy._file, 16 << 20)
        for p0, px in patches:
            copy.write(p0, px)
        return copy

    def patched_since(self, other: "AudioFile") -> tuple[int, int] | None:
        """[a, b) if this is `other` with one more patch (with_patch), else None."""
        if not isinstance(other, AudioFile) or self._file is not other._file or self._n != other._n:
            return None
        mine, theirs = self._patches, other._patches
        if len(mine) != len(theirs) + 1 or any(p is not q for p, q in zip(mine, theirs)):
            return None
        p0, px = mine[-1]
        return p0, p0 + len(px)

    def to_audio(self) -> Audio:
        """Everything in memory (only for short files: tests, small exports)."""
        return Audio(self.read(0, self._n), self.sr)

    def close(self) -> None:
        """Give the disk space back now (a file shared with patched copies stays open)."""
        if not self._frozen[0]:
            self._file.close()

    def __repr__(self) -> str:
        return f"AudioFile({self.duration:.1f} s at {self.sr} Hz)"


AnyAudio = Union[Audio, AudioFile]


def chunks(audio: AnyAudio, size: int = CHUNK_SAMPLES, n_samples: int | None = None) -> Iterator[np.ndarray]:
    """Consecutive pieces of `size` samples (the last shorter), cropped or zero-padded to
    n_samples in all when given."""
    total = len(audio) if n_samples is None else int(n_samples)
    for at in range(0, total, size):
        yield audio.read(at, min(size, total - at))


def resampled_chunks(audio: AnyAudio, sr_out: int, n_samples: int,
                     size: int = CHUNK_SAMPLES) -> Iterator[np.ndarray]:
    """`audio` at sr_out in pieces of `size` samples, exactly n_samples in all (cut or
    zero-padded, as Audio.fitted does), streamed through soxr so only pieces are in memory."""
    if audio.sr == sr_out:
        return chunks(audio, size, n_samples)
    return _reblocked(_resampled_pieces(audio, sr_out, size), int(n_samples), size)


def _resampled_pieces(audio: AnyAudio, sr_out: int, size: int) -> Iterator[np.ndarray]:
    stream = soxr.ResampleStream(audio.sr, sr_out, 1, dtype="float32", quality="HQ")
    for piece in chunks(audio, size):
        yield stream.resample_chunk(piece)
    yield stream.resample_chunk(np.zeros(0, np.float32), last=True)


def _reblocked(pieces: Iterator[np.ndarray], n_samples: int, size: int) -> Iterator[np.ndarray]:
    """Pieces of any length regrouped into `size`-sample blocks, n_samples in all."""
    held, made = np.zeros(0, np.float32), 0
    for piece in pieces:
        held = np.concatenate([held, piece]) if len(held) else piece
        while len(held) >= size and made < n_samples:
            take = min(size, n_samples - made)
            yield held[:take]
            held, made = held[take:], made + take
        if made >= n_samples:
            return
    while made < n_samples:  # the source ran dry: the rest is silence
        take = min(size, n_samples - made)
        block = np.zeros(take, np.float32)
        block[: min(take, len(held))] = held[:take]
        held = held[take:]
        yield block
        made += take


def store(audio: AnyAudio, sr: int | None = None) -> AudioFile:
    """`audio` (at sr, when given) written into a new AudioFile, piece by piece."""
    sr = int(sr or audio.sr)
    n = int(round(len(audio) * sr / audio.sr))
    out = AudioFile(n, sr)
    at = 0
    for piece in resampled_chunks(audio, sr, n):
        out.write(at, piece)
        at += len(piece)
    return out
