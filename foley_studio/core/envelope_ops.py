"""Edit operations on envelope values (linear RMS 0..1 at 125 frames/s).

Every op is a pure function: it takes a 1-D array and returns a NEW float32 array, so undo
can keep before/after slices (edits.py) and the render service can diff versions
(`span_of_change`) to re-render only what moved. Spans are half-open frame ranges
(start, end); they are clamped to the array, and a reversed span is a caller bug
(ValueError). Only the frames an op writes are clipped to 0..1: frames outside the span
are returned bit-for-bit as they came in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np

from foley_studio.core.rms import FRAME_RATE, resample_curve

Span = tuple[int, int]

# A hit's tail is cut where it falls below this (-100 dBFS, under the UI's -80 dB floor),
# so a long decay does not touch the whole rest of the clip.
_HIT_TAIL_FLOOR = 1e-5
_MAX_DECAY_S = 60.0  # longer is a drawn swell, not a hit; also bounds the tail's size


# --- validation -------------------------------------------------------------------------


def _values(values: np.ndarray) -> np.ndarray:
    """A float32 copy of the envelope values (the op's output buffer)."""
    v = np.array(values, dtype=np.float32)
    if v.ndim != 1:
        raise ValueError(f"envelope values must be 1-D, got shape {v.shape}")
    return v


def _int(x: object, what: str) -> int:
    # 5.0 from a settings spin box is still 5 frames; 5.5 is a caller bug
    if isinstance(x, Real) and not isinstance(x, (bool, Integral)) and float(x).is_integer():
        return int(x)
    if isinstance(x, bool) or not isinstance(x, Integral):
        raise ValueError(f"{what} must be an integer number of frames, got {x!r}")
    return int(x)


def _finite(x: object, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, Real) or not math.isfinite(float(x)):
        raise ValueError(f"{what} must be a finite number, got {x!r}")
    return float(x)


def clamp_span(span: Span, n: int) -> Span:
    """Span clamped into [0, n]; raises ValueError if it is malformed or reversed."""
    try:
        start, end = span
    except (TypeError, ValueError):
        raise ValueError(f"span must be a (start, end) pair of frames, got {span!r}") from None
    start, end = _int(start, "span start"), _int(end, "span end")
    if start > end:
        raise ValueError(f"span start {start} is after its end {end}")
    return min(max(start, 0), n), min(max(end, 0), n)


def _stroke(stroke: Sequence[float] | np.ndarray, what: str = "stroke") -> np.ndarray:
    s = np.asarray(stroke, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"{what} must be a 1-D list of levels, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{what} has NaN or infinite levels")
    return s


def _write(out: np.ndarray, start: int, content: np.ndarray) -> np.ndarray:
    """out[start:start+len(content)] = clip(content), dropping what falls outside out."""
    n = len(out)
    lo, hi = max(start, 0), min(start + len(content), n)
    if lo < hi:
        out[lo:hi] = np.clip(content[lo - start : hi - start], 0.0, 1.0)
    return out


# --- ops --------------------------------------------------------------------------------


def draw(
    values: np.ndarray, start: int, stroke: Sequence[float] | np.ndarray, length: int | None = None
) -> np.ndarray:
    """Replace frames from `start` with `stroke` (resampled to `length` frames if given).

    The part of the stroke past the end of the envelope is dropped.
    """
    out = _values(values)
    start = _int(start, "draw start")
    if not 0 <= start <= len(out):
        raise ValueError(f"draw start {start} is outside the envelope (0..{len(out)})")
    s = _stroke(stroke)
    if length is not None:
        length = _int(length, "draw length")
        if length < 0:
            raise ValueError(f"draw length must be >= 0, got {length}")
        s = resample_curve(s, length)
    return _write(out, start, s)


def draw_points(
    values: np.ndarray, frames: Sequence[float], levels: Sequence[float]
) -> np.ndarray:
    """Freehand pencil: a polyline through (frame, level) points in the order drawn.

    Frames may be fractional (mouse positions); each segment sets the whole frames between
    its rounded ends by linear interpolation, and a later segment overwrites an earlier one
    where a stroke doubles back, as a real pencil would.
    """
    out = _values(values)
    f, lv = _stroke(frames, "frames"), _stroke(levels, "levels")
    if len(f) != len(lv):
        raise ValueError(f"got {len(f)} frames but {len(lv)} levels")
    n = len(out)
    if len(f) == 1:
        i = int(round(f[0]))
        if 0 <= i < n:
            out[i] = np.clip(lv[0], 0.0, 1.0)
        return out
    for (f0, l0), (f1, l1) in zip(zip(f[:-1], lv[:-1]), zip(f[1:], lv[1:])):
        a, b = sorted((int(round(f0)), int(round(f1))))
        a, b = max(a, 0), min(b, n - 1)
        if a > b:
            continue
        idx = np.arange(a, b + 1)
        if f0 == f1:
            seg = np.full(len(idx), l1)
        else:
            seg = l0 + (idx - f0) * (l1 - l0) / (f1 - f0)
            # rounding the ends can put a frame just past the segment: hold the end level
            seg = np.clip(seg, min(l0, l1), max(l0, l1))
        out[a : b + 1] = np.clip(seg, 0.0, 1.0)
    return out


def scale(values: np.ndarray, span: Span, factor: float) -> np.ndarray:
    """Multiply the span by `factor` (>= 0), clipped to 0..1."""
    out = _values(values)
    factor = _finite(factor, "scale factor")
    if factor < 0:
        raise ValueError(f"scale factor must be >= 0, got {factor}")
    a, b = clamp_span(span, len(out))
    # float64 product so that scaling by k then 1/k restores the float32 value
    return _write(out, a, out[a:b].astype(np.float64) * factor)


def scale_db(values: np.ndarray, span: Span, db: float) -> np.ndarray:
    """Change the span's level by `db` decibels (amplitude: factor 10**(db/20))."""
    db = _finite(db, "gain in dB")
    if abs(db) > 200:
        raise ValueError(f"gain of {db} dB is out of range (-200..200)")
    return scale(values, span, 10.0 ** (db / 20.0))


def shift(values: np.ndarray, span: Span, offset_frames: int) -> np.ndarray:
    """Move the span's content by `offset_frames` (negative = earlier).

    The source becomes silence except where the destination covers it; content pushed
    past either end is dropped. Frames outside source and destination are untouched.
    """
    out = _values(values)
    off = _int(offset_frames, "shift offset")
    a, b = clamp_span(span, len(out))
    content = out[a:b].copy()
    out[a:b] = 0.0
    return _write(out, a + off, content)


def smooth(values: np.ndarray, span: Span, width_frames: int) -> np.ndarray:
    """Moving-average smoothing inside the span, blended in at its edges.

    The average sees frames just outside the span (so the curve stays continuous), and
    its weight ramps up over half a window from each span edge, so there is no step where
    the smoothed part meets the untouched part. Width 0 or 1 is a no-op; an even width is
    rounded up to the next odd one so the window stays centred.
    """
    out = _values(values)
    width = _int(width_frames, "smoothing width")
    if width < 0:
        raise ValueError(f"smoothing width must be >= 0 frames, got {width}")
    a, b = clamp_span(span, len(out))
    if width <= 1 or a == b:
        return out
    width |= 1
    half = width // 2
    lo, hi = max(a - half, 0), min(b + half, len(out))
    region = out[lo:hi].astype(np.float64)
    from scipy.ndimage import uniform_filter1d  # ~0.5 s import: paid by the first smooth, not start-up

    avg = uniform_filter1d(region, size=width, mode="nearest")[a - lo : b - lo]
    idx = np.arange(a, b)
    ramp = np.minimum(idx - a + 1, b - idx) / (half + 1)
    w = np.minimum(ramp, 1.0)
    orig = out[a:b].astype(np.float64)
    return _write(out, a, orig + w * (avg - orig))


def gate(values: np.ndarray, span: Span, threshold: float) -> np.ndarray:
    """Silence every frame in the span whose level is below `threshold` (linear RMS).

    Any finite threshold is accepted (a mouse dragged past the view's edge): <= 0 changes
    nothing, above 1 silences every frame below full scale.
    """
    out = _values(values)
    t = _finite(threshold, "gate threshold")
    a, b = clamp_span(span, len(out))
    seg = np.clip(out[a:b], 0.0, 1.0)
    seg[seg < t] = 0.0
    out[a:b] = seg
    return out


def erase(values: np.ndarray, span: Span) -> np.ndarray:
    """Silence the span."""
    out = _values(values)
    a, b = clamp_span(span, len(out))
    out[a:b] = 0.0
    return out


def hit_shape(
    peak: float,
    attack_frames: int = 1,
    decay_s: float = 0.15,
    rate: float = FRAME_RATE,
    max_frames: int | None = None,
) -> np.ndarray:
    """The frames of one hit: a linear rise over `attack_frames` to `peak`, then
    exponential decay with time constant `decay_s` (level/e after decay_s seconds),
    cut when it falls below -100 dBFS or at `max_frames`. A peak above 1 is clipped to 1."""
    peak = _finite(peak, "hit peak")
    if peak < 0:
        raise ValueError(f"hit peak must be >= 0 (linear RMS), got {peak}")
    peak = min(peak, 1.0)
    attack = _int(attack_frames, "attack length")
    if attack < 1:
        raise ValueError(f"attack must be at least 1 frame, got {attack}")
    decay = _finite(decay_s, "decay time")
    if not 0 <= decay <= _MAX_DECAY_S:
        raise ValueError(f"decay time must be within 0..{_MAX_DECAY_S:g} seconds, got {decay}")
    rate = _finite(rate, "frame rate")
    if rate <= 0:
        raise ValueError(f"frame rate must be positive, got {rate}")
    limit = math.inf if max_frames is None else max(int(max_frames), 0)
    rise = peak * np.arange(1, min(attack, limit) + 1) / attack
    tau = decay * rate  # in frames
    if tau < 1e-3 or peak <= _HIT_TAIL_FLOOR:  # gone within the peak frame: no tail
        return rise
    n_tail = int(math.ceil(tau * math.log(peak / _HIT_TAIL_FLOOR)))
    n_tail = int(max(min(n_tail, limit - len(rise)), 0))
    tail = peak * np.exp(-np.arange(1, n_tail + 1) / tau)
    return np.concatenate([rise, tail])


def insert_hit(
    values: np.ndarray,
    frame: int,
    peak: float,
    attack_frames: int = 1,
    decay_s: float = 0.15,
    rate: float = FRAME_RATE,
) -> np.ndarray:
    """Add a hit starting at `frame` (see hit_shape), combined with what is there by max."""
    out = _values(values)
    frame = _int(frame, "hit frame")
    if not 0 <= frame < len(out):
        raise ValueError(f"hit frame {frame} is outside the envelope (0..{len(out) - 1})")
    shape = hit_shape(peak, attack_frames, decay_s, rate, max_frames=len(out) - frame)
    end = min(frame + len(shape), len(out))
    seg = np.maximum(out[frame:end].astype(np.float64), shape[: end - frame])
    return _write(out, frame, seg)


def copy(values: np.ndarray, span: Span) -> np.ndarray:
    """The span's frames as a new clip (for paste)."""
    v = _values(values)
    a, b = clamp_span(span, len(v))
    return v[a:b].copy()


def paste(
    values: np.ndarray, at: int, clip: Sequence[float] | np.ndarray, mode: str = "replace"
) -> np.ndarray:
    """Write `clip` from frame `at`; "replace" overwrites, "max" keeps the louder frame.

    The part of the clip past the end of the envelope is dropped.
    """
    out = _values(values)
    at = _int(at, "paste position")
    if not 0 <= at <= len(out):
        raise ValueError(f"paste position {at} is outside the envelope (0..{len(out)})")
    c = _stroke(clip, "clip")
    if mode == "max":
        end = min(at + len(c), len(out))
        c = np.maximum(c[: end - at], out[at:end])
    elif mode != "replace":
        raise ValueError(f'paste mode must be "replace" or "max", got {mode!r}')
    return _write(out, at, c)


def span_of_change(a: np.ndarray, b: np.ndarray) -> Span | None:
    """Smallest half-open span outside which `a` and `b` are equal; None if identical."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"can only diff equal-length 1-D envelopes, got {a.shape} and {b.shape}")
    diff = np.flatnonzero(a != b)
    if len(diff) == 0:
        return None
    return int(diff[0]), int(diff[-1]) + 1
