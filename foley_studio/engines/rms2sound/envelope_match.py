"""Shape a signal so that its paper-RMS (rms.analyze) follows a target envelope.

The gain is applied as sqrt(p(t)), where p (an energy gain) is piecewise linear with
one knot per RMS frame at the frame centre ((k + 0.5) / 125 s). With that choice the
mean square of frame k of the gained signal is exactly LINEAR in the five knots
k-2..k+2, because a frame (512 samples at 16 kHz) spans exactly four knot intervals
(128 samples each):

    E_k = (1/512) * sum_{i=k..k+3} S0_i Q_i + S1_i Q_{i+1}

with Q the knots as the reflect-padded analysis sees them and S0, S1 the first
energy moments of the 16 kHz signal over each interval. The moments cost one resample
and one reshape; the solver then works on 125 Hz vectors only.

The solver is Richardson-Lucy (multiplicative, non-negative): p <- p * A'(T^2/E) / A'1.
A plain per-frame ratio update diverges: the frame response to a knot pattern has
weights 1 2 2 2 1, whose spectrum is negative around a 3-frame period; A'A is not.
"""

from __future__ import annotations

import math

import numpy as np

from foley_studio.core.audio import resample
from foley_studio.core.rms import RMS_FRAME, RMS_HOP, RMS_PAD, RMS_SR

# Frames at or below this linear RMS render as exact zeros. -80 dBFS is the UI's floor
# (envelope.to_dbfs); the paper's class 0 (< 0.01) is not used because E-L1 counts
# every frame, and zeroing a recording's -50 dB room tone would cost up to 0.01 there.
SILENCE_RMS = 1e-4

_U = np.arange(RMS_HOP, dtype=np.float64) / RMS_HOP  # position within a knot interval
_FRAME_HOPS = RMS_FRAME // RMS_HOP  # 4


def frames_per_grid(sr: int) -> int:
    """Smallest number of RMS frames that spans a whole number of samples at sr."""
    return 125 // math.gcd(int(sr), 125)


def lerp_knots(knots: np.ndarray, n_samples: int, sr: int) -> np.ndarray:
    """Piecewise-linear curve through knots at frame centres, sampled at sr (float32).

    Knot k sits at sample (k + 0.5) * sr / 125; before the first and after the last
    knot the curve is flat. Same values as np.interp but ~10x faster: the knot/sample
    pattern repeats every frames_per_grid(sr) frames, so each sub-frame of the pattern
    is one broadcast multiply over all repeats.
    """
    q = np.asarray(knots, dtype=np.float32)
    m = len(q)
    if n_samples <= 0:
        return np.zeros(0, np.float32)
    if m == 0:
        return np.zeros(n_samples, np.float32)
    p = frames_per_grid(sr)
    span = p * sr // 125  # samples per repeat of the pattern
    n_rep = -(-n_samples // span)
    # knots extended by clamping: ext[j + 1] = q[j], constant before the first and after the last
    ext = np.empty(max(n_rep * p + 3, m + 1), np.float32)
    ext[0] = q[0]
    ext[1 : m + 1] = q
    ext[m + 1 :] = q[-1]
    out = np.empty((n_rep, span), np.float32)
    pos = np.arange(span, dtype=np.float64) * 125.0 / sr - 0.5  # in frames
    j = np.floor(pos).astype(np.int64)
    w = (pos - j).astype(np.float32)
    base = np.arange(n_rep) * p
    for jj in range(-1, p):
        cols = np.nonzero(j == jj)[0]
        if len(cols) == 0:
            continue
        a, b = cols[0], cols[-1] + 1
        left = ext[base + jj + 1][:, None]
        right = ext[base + jj + 2][:, None]
        out[:, a:b] = left + (right - left) * w[None, a:b]
    return out.reshape(-1)[:n_samples]


def to_16k(samples: np.ndarray, sr: int, n_frames: int) -> np.ndarray:
    """Resample like rms.analyze does, then fit to exactly n_frames hops."""
    x = resample(samples, sr, RMS_SR)
    n = n_frames * RMS_HOP
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros(n - len(x), np.float32)])


class EnergyModel:
    """Frame mean-squares of x16 * sqrt(curve(p)) as a banded linear map of the knots p."""

    def __init__(self, x16: np.ndarray):
        x = np.asarray(x16, dtype=np.float64)
        if len(x) > RMS_PAD:
            x = np.pad(x, RMS_PAD, mode="reflect")
        else:
            x = np.pad(x, RMS_PAD, mode="edge" if len(x) == 1 else "symmetric")
        e = (x * x).reshape(-1, RMS_HOP)  # (M + 3, 128)
        # elementwise sums, not a BLAS product: BLAS may sum in a different order from
        # run to run (threads, alignment), and renders must be bit-identical
        self.s1 = (e * _U).sum(axis=1)
        self.s0 = e.sum(axis=1) - self.s1
        self.m = m = len(self.s0) - 3
        i = np.arange(m + 3)
        # interval i lies in frames i-3 .. i: cumulative-sum bounds for the adjoint
        self._hi = np.minimum(i + 1, m)
        self._lo = np.clip(i - 3, 0, m)
        self._norm = None

    @staticmethod
    def padded(p: np.ndarray) -> np.ndarray:
        """Knots as the reflect-padded frames see them: p1 p0 | p0 .. pM-1 | pM-1 pM-2."""
        before = p[1] if len(p) > 1 else p[0]
        after = p[-2] if len(p) > 1 else p[0]
        return np.concatenate(([before, p[0]], p, [p[-1], after]))

    def energy(self, p: np.ndarray) -> np.ndarray:
        q = self.padded(p)
        c = self.s0 * q[:-1]
        c += self.s1 * q[1:]
        cs = np.empty(len(c) + 1)
        cs[0] = 0.0
        np.cumsum(c, out=cs[1:])
        e = cs[_FRAME_HOPS:] - cs[:-_FRAME_HOPS]
        np.maximum(e, 0.0, out=e)
        return e / RMS_FRAME

    def adjoint(self, v: np.ndarray) -> np.ndarray:
        """A' v: how much each knot contributes to the frames, weighted by v."""
        m = self.m
        cs = np.empty(m + 1)
        cs[0] = 0.0
        np.cumsum(v, out=cs[1:])
        ms = cs[self._hi] - cs[self._lo]
        q = np.empty(m + 4)
        q[:-1] = self.s0 * ms
        q[-1] = 0.0
        q[1:] += self.s1 * ms
        out = q[2 : m + 2]  # a view; q is ours
        if m > 1:
            out[1] += q[0]
            out[-2] += q[m + 3]
        else:
            out[0] += q[0] + q[m + 3]
        out[0] += q[1]
        out[-1] += q[m + 2]
        return out / RMS_FRAME

    def norm(self) -> np.ndarray:
        if self._norm is None:
            self._norm = self.adjoint(np.ones(self.m))
        return self._norm


def solve_gains(x16: np.ndarray, target: np.ndarray, iterations: int = 40,
                relax: float = 1.5) -> np.ndarray:
    """Energy-gain knots p >= 0 so that frame RMS of x16 * sqrt(curve(p)) ~= target.

    Over-relaxed Richardson-Lucy; the best iterate (mean |rms - target|) is returned,
    so an over-eager step can never make the result worse than the start.
    """
    t = np.asarray(target, dtype=np.float64)
    model = EnergyModel(x16)
    t2 = t * t
    silent = t <= SILENCE_RMS
    f = model.energy(np.ones(len(t)))
    p = np.where(silent, 0.0, t2 / np.maximum(f, 1e-24))
    norm = np.maximum(model.norm(), 1e-30)
    best, best_err = p, np.inf
    for _ in range(iterations):
        f = model.energy(p)
        err = float(np.abs(np.sqrt(f) - t).mean())
        if err < best_err:
            best, best_err = p, err
        ratio = np.divide(t2, f, out=np.ones_like(f), where=f > 1e-24)
        step = model.adjoint(ratio)
        step /= norm
        p = p * (step**relax if relax != 1.0 else step)
        p[silent] = 0.0
    f = model.energy(p)
    if float(np.abs(np.sqrt(f) - t).mean()) < best_err:
        best = p
    return best


def apply_gains(samples: np.ndarray, sr: int, p: np.ndarray) -> np.ndarray:
    curve = lerp_knots(p, len(samples), sr)
    np.sqrt(curve, out=curve)
    return samples * curve


def shape(samples: np.ndarray, sr: int, target: np.ndarray, iterations: int = 40) -> np.ndarray:
    """samples (at sr) times a smooth gain so that rms.analyze follows target (float32).

    The gain is fitted on the resampled signal and applied at sr; resampling after the
    gain differs only where the gain bends, which measured below 1e-5 E-L1.
    """
    x = np.asarray(samples, dtype=np.float32)
    p = solve_gains(to_16k(x, sr, len(target)), np.asarray(target, dtype=np.float64), iterations)
    return apply_gains(x, sr, p)
