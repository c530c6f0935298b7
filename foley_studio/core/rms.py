"""The paper's RMS: analysis, smoothing, mu-law discretisation, ControlNet condition.

These definitions are the contract between engines and metrics (DESIGN.md, "Numbers
that are fixed"); they follow the Video-Foley release so that envelopes, the E-L1
metric and the neural engines agree frame for frame.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from foley_studio.core.audio import Audio, resample

RMS_SR = 16_000
RMS_FRAME = 512
RMS_HOP = 128
RMS_PAD = (RMS_FRAME - RMS_HOP) // 2  # 192: frame k is centred on sample k*hop + hop/2
FRAME_RATE = RMS_SR / RMS_HOP  # 125 frames per second

MU = 63
NUM_BINS = 64
RMS_MIN = 0.01  # -40 dBFS; below it is class 0, silence

COND_FRAME = 1024
COND_HOP = 160
COND_PAD = (COND_FRAME - COND_HOP) // 2  # 432
COND_FRAMES = 1024  # per 10.24 s window
COND_SECONDS = COND_FRAMES * COND_HOP / RMS_SR  # 10.24


def frame_rms(samples: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """RMS of reflect-padded frames, not centred (librosa's rms with center=False)."""
    x = np.asarray(samples, dtype=np.float64)
    pad = (frame - hop) // 2
    if len(x) == 0:
        return np.zeros(0, np.float32)
    if len(x) <= pad:
        # reflect padding needs more samples than the pad; edge padding is the nearest sane choice
        x = np.pad(x, pad, mode="edge" if len(x) == 1 else "symmetric")
    else:
        x = np.pad(x, pad, mode="reflect")
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    # cumulative sum of squares: O(n) regardless of frame length
    csum = np.concatenate(([0.0], np.cumsum(x * x)))
    starts = np.arange(0, len(x) - frame + 1, hop)
    energy = (csum[starts + frame] - csum[starts]) / frame
    return np.sqrt(np.maximum(energy, 0.0)).astype(np.float32)


def rms_16k(samples16k: np.ndarray) -> np.ndarray:
    """The paper's frame RMS of a 16 kHz mono signal: 125 frames/s."""
    return frame_rms(samples16k, RMS_FRAME, RMS_HOP)


def analyze(audio: Audio) -> np.ndarray:
    """RMS at 125 frames/s of any audio (resampled to 16 kHz first). Unsmoothed."""
    return rms_16k(resample(audio.samples, audio.sr, RMS_SR))


def n_frames(n_samples_16k: int) -> int:
    """How many RMS frames a 16 kHz signal of that length gives (n // 128 for whole hops)."""
    if n_samples_16k <= 0:
        return 0
    return max(1, 1 + (n_samples_16k + 2 * RMS_PAD - RMS_FRAME) // RMS_HOP)


@lru_cache(maxsize=1)
def _smoothing_filter() -> tuple[np.ndarray, np.ndarray]:
    from scipy.signal import ellip  # scipy.signal costs ~1 s of import: load it on first use

    return ellip(4, 0.01, 120, 0.125)


def smooth(rms: np.ndarray) -> np.ndarray:
    """Zero-phase elliptic low-pass of an RMS curve, clipped to >= 0 (targets of the paper)."""
    x = np.asarray(rms, dtype=np.float64)
    if len(x) < 2:
        return x.astype(np.float32)
    from scipy.signal import filtfilt

    b, a = _smoothing_filter()
    y = filtfilt(b, a, x, method="gust")
    return np.clip(y, 0.0, None).astype(np.float32)


def mu_law(x: np.ndarray, mu: int = MU) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)


def inverse_mu_law(y: np.ndarray, mu: int = MU) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu


@lru_cache(maxsize=8)
def _bin_edges(mu: int, num_bins: int, rms_min: float) -> np.ndarray:
    edges = inverse_mu_law(np.linspace(mu_law(rms_min, mu), 1.0, num_bins), mu)
    edges.setflags(write=False)
    return edges


def bin_edges(mu: int = MU, num_bins: int = NUM_BINS, rms_min: float = RMS_MIN) -> np.ndarray:
    """The 64 mu-law edges: 0.01, 0.0116, 0.0132, ... 1.0 (read-only)."""
    return _bin_edges(mu, num_bins, float(rms_min))


def discretize(rms: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
    """Class per frame: 0 below the first edge (silence), k where edges[k-1] <= v < edges[k].

    Same as torch.bucketize(v, edges, right=True); a value at or above the last edge
    (only a full-scale square wave gets there) is kept in the top class.
    """
    edges = bin_edges() if edges is None else edges
    v = np.maximum(np.asarray(rms, dtype=np.float64), 0.0)
    classes = np.searchsorted(edges, v, side="right")
    return np.minimum(classes, len(edges) - 1).astype(np.int64)


def undiscretize(classes: np.ndarray, edges: np.ndarray | None = None) -> np.ndarray:
    """Class k>0 to edges[k] (the release's lookup with edges[0] zeroed); class 0 to 0."""
    edges = bin_edges() if edges is None else edges
    table = edges.astype(np.float32).copy()
    table[0] = 0.0
    return table[np.asarray(classes, dtype=np.int64)]


def resample_curve(values: np.ndarray, n_out: int) -> np.ndarray:
    """Resample a frame curve to n_out frames covering the same time span.

    Frame centres are matched (frame i of n covers [i, i+1)/n of the span), with linear
    interpolation; used to move envelopes between 125 Hz, the 100 Hz ControlNet
    condition, and display resolutions.
    """
    v = np.asarray(values, dtype=np.float32)
    if n_out <= 0:
        return np.zeros(0, np.float32)
    if len(v) == 0:
        return np.zeros(n_out, np.float32)
    if len(v) == n_out:
        return v.copy()
    src = (np.arange(len(v)) + 0.5) / len(v)
    dst = (np.arange(n_out) + 0.5) / n_out
    return np.interp(dst, src, v).astype(np.float32)


def condition_from_audio(samples16k: np.ndarray) -> np.ndarray:
    """ControlNet condition frames of a 16 kHz signal: frame 1024, hop 160 (100 frames/s)."""
    return frame_rms(samples16k, COND_FRAME, COND_HOP)


def condition_from_envelope(values_125hz: np.ndarray, seconds: float = COND_SECONDS) -> np.ndarray:
    """An envelope at 125 Hz as the ControlNet condition [1, 1, 1024, 1] for a 10.24 s window.

    The envelope is cut or zero-padded to `seconds` (silence beyond the clip), then
    resampled onto the 100 Hz condition grid.
    """
    v = np.asarray(values_125hz, dtype=np.float32)
    n_env = int(round(seconds * FRAME_RATE))  # 1280 frames per 10.24 s
    padded = np.zeros(n_env, np.float32)
    padded[: min(n_env, len(v))] = v[:n_env]
    cond = resample_curve(padded, int(round(seconds * RMS_SR / COND_HOP)))
    return cond.reshape(1, 1, -1, 1)


def frames_view(samples: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Strided (n, frame) view of a signal, no copy (for metrics that need raw frames)."""
    return sliding_window_view(samples, frame)[::hop]
