"""The loudness envelope: linear frame RMS at 125 frames/s (DESIGN.md).

Envelope is an immutable value; edits (envelope_ops.py) return new arrays, so undo can
keep before/after slices and the render service can compare versions cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from foley_studio.core.rms import FRAME_RATE


@dataclass(frozen=True, eq=False)
class Envelope:
    """Linear RMS (0..1, full-scale sine = 0.707) per frame at `rate` frames/s.

    Frame i covers [i, i+1) / rate seconds of the clip (its centre is at (i + 0.5) / rate).
    """

    values: np.ndarray
    rate: float = FRAME_RATE

    def __post_init__(self) -> None:
        v = np.array(self.values, dtype=np.float32)  # own copy: envelopes never alias
        if v.ndim != 1:
            raise ValueError(f"envelope must be 1-D, got shape {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("envelope has NaN or infinite values")
        np.clip(v, 0.0, 1.0, out=v)
        v.setflags(write=False)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "rate", float(self.rate))

    def __len__(self) -> int:
        return len(self.values)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Envelope)
            and self.rate == other.rate
            and np.array_equal(self.values, other.values)
        )

    @property
    def duration(self) -> float:
        return len(self.values) / self.rate

    def times(self) -> np.ndarray:
        """Start time of each frame in seconds."""
        return np.arange(len(self.values)) / self.rate

    def frame_at(self, t: float) -> int:
        """Index of the frame that contains time t (clamped to the envelope)."""
        return int(np.clip(np.floor(t * self.rate), 0, max(len(self.values) - 1, 0)))

    def span_frames(self, t0: float, t1: float) -> tuple[int, int]:
        """Half-open frame range [a, b) covering seconds t0..t1, clamped."""
        n = len(self.values)
        a = int(np.clip(np.floor(min(t0, t1) * self.rate), 0, n))
        b = int(np.clip(np.ceil(max(t0, t1) * self.rate), 0, n))
        return a, b

    def with_values(self, values: np.ndarray) -> "Envelope":
        return Envelope(values, self.rate)

    @staticmethod
    def silence(duration: float, rate: float = FRAME_RATE) -> "Envelope":
        return Envelope(np.zeros(int(round(duration * rate)), np.float32), rate)


def to_dbfs(values: np.ndarray, floor_db: float = -80.0) -> np.ndarray:
    """Linear RMS to dBFS as the UI shows it (0.707 RMS sine = -3 dBFS), floored."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(np.maximum(v, 0.0))
    return np.maximum(db, floor_db).astype(np.float32)


def from_dbfs(db: np.ndarray, floor_db: float = -80.0) -> np.ndarray:
    """dBFS back to linear RMS; at or below the floor is silence (0)."""
    d = np.asarray(db, dtype=np.float64)
    v = np.power(10.0, d / 20.0)
    return np.where(d <= floor_db, 0.0, v).astype(np.float32)
