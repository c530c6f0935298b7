"""Evaluation metrics of the paper (DESIGN.md, "Numbers that are fixed").

* E-L1: mean absolute difference of the paper's frame RMS of two audios (16 kHz, frame
  512, hop 128, no smoothing, no normalisation), the shorter zero-padded to the longer.
* Onset Acc / AP (CondFoleyGen's protocol in spirit): onsets are detected on both audios;
  a detection matches a reference onset within 0.1 s, one-to-one. Acc = matched / reference
  onsets; AP ranks detections by confidence.
* Video2RMS ACC and ACC+-k over the 64 mu-law classes, frames where both are silence left out.

Onset detection reimplements what CondFoleyGen gets from librosa (which is not a
dependency): a log-compressed band-energy flux, normalised, then peak picking against a
local mean with a minimum gap. numpy/scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from foley_studio.core.audio import Audio, fit_length, resample
from foley_studio.core.rms import RMS_SR, analyze, rms_16k

ONSET_TOLERANCE = 0.1  # seconds: a detection matches a reference onset this close
_CHUNK = 2048  # onset-strength frames computed at a time


# --- E-L1 -------------------------------------------------------------------------------


def e_l1(audio_a: Audio, audio_b: Audio) -> float:
    """The paper's E-L1 between two audios (0 for identical audio; symmetric)."""
    a = resample(audio_a.samples, audio_a.sr, RMS_SR)
    b = resample(audio_b.samples, audio_b.sr, RMS_SR)
    n = max(len(a), len(b))
    if n == 0:
        return 0.0
    return float(np.mean(np.abs(rms_16k(fit_length(a, n)) - rms_16k(fit_length(b, n)))))


def envelope_l1(env_values: np.ndarray, audio: Audio) -> float:
    """Mean |envelope - RMS of audio| at 125 frames/s; the analysis is cut or zero-padded
    to the envelope's length (how closely a render followed its envelope)."""
    env = np.asarray(env_values, dtype=np.float64).ravel()
    if len(env) == 0:
        return 0.0
    measured = np.zeros(len(env))
    rms = analyze(audio)[: len(env)]
    measured[: len(rms)] = rms
    return float(np.mean(np.abs(env - measured)))


# --- onset detection --------------------------------------------------------------------


@dataclass(frozen=True)
class OnsetParams:
    n_fft: int = 512  # 32 ms at 16 kHz
    hop: int = 80  # 5 ms: fine enough to place a click within 10 ms
    n_bands: int = 24  # log-spaced bands, 60 Hz .. 8 kHz, like a small mel filterbank
    compression: float = 1000.0  # log(1 + c * band energy / loudest band energy)
    delta: float = 0.3  # peak must exceed the local mean strength by this (CondFoleyGen: 0.3)
    pre_max: float = 0.03  # s: a peak is the maximum of [t - pre_max, t + post_max]
    post_max: float = 0.03
    pre_avg: float = 0.1  # s: local mean window for the delta test
    post_avg: float = 0.1
    wait: float = 0.05  # s: minimum gap between onsets (CondFoleyGen's NMS window)
    floor_db: float = -60.0  # frames quieter than this (dBFS RMS) cannot hold an onset
    latency: float = 0.010  # s from a sound's start to its strength peak (measured on clicks)


def onset_strength(audio: Audio, params: OnsetParams = OnsetParams()) -> tuple[np.ndarray, float]:
    """Onset strength (one value per hop at 16 kHz, not normalised) and its frame rate.

    Value t is the summed rise of log band energies into the frame that ends at sample
    t * hop. A rise registers a little after its start (the window must take it in
    before the log saturates); detect_onsets subtracts that latency.
    """
    x = resample(audio.samples, audio.sr, RMS_SR).astype(np.float64)
    rate = RMS_SR / params.hop
    n = len(x)
    if n == 0:
        return np.zeros(0), rate
    n_frames = n // params.hop + 1
    window = _window(params.n_fft)
    band_matrix = _band_matrix(params.n_fft, params.n_bands)
    # frame t spans samples [t*hop - n_fft, t*hop): it ends at its time, so a rise shows at once
    padded = np.concatenate([np.zeros(params.n_fft), x, np.zeros(params.hop)])
    bands = np.empty((n_frames, band_matrix.shape[1]))
    loud = np.empty(n_frames)
    offsets = np.arange(params.n_fft)[None, :]
    for start in range(0, n_frames, _CHUNK):  # bounded memory for long audio
        t = np.arange(start, min(start + _CHUNK, n_frames))[:, None]
        frames = padded[t * params.hop + offsets]
        loud[start : start + len(t)] = np.sqrt(np.mean(frames**2, axis=1))
        bands[start : start + len(t)] = (np.abs(np.fft.rfft(frames * window, axis=1)) ** 2) @ band_matrix
    peak = bands.max()
    if peak <= 0:
        return np.zeros(n_frames), rate
    logb = np.log1p(params.compression * bands / peak)
    strength = np.concatenate([[0.0], np.maximum(np.diff(logb, axis=0), 0.0).mean(axis=1)])
    # frames too quiet to be a sound (dither, noise floor) carry no onset
    strength[loud < 10 ** (params.floor_db / 20)] = 0.0
    return strength, rate


def detect_onsets(audio: Audio, params: OnsetParams = OnsetParams()) -> tuple[np.ndarray, np.ndarray]:
    """Onset times (s, ascending) and confidences (0..1, peak strength over the loudest peak)."""
    strength, rate = onset_strength(audio, params)
    if len(strength) == 0 or strength.max() <= 0:
        return np.zeros(0), np.zeros(0)
    s = strength / strength.max()
    pre_max, post_max = int(round(params.pre_max * rate)), int(round(params.post_max * rate))
    pre_avg, post_avg = int(round(params.pre_avg * rate)), int(round(params.post_avg * rate))
    local_max = _window_max(s, pre_max, post_max)
    local_avg = _window_mean(s, pre_avg, post_avg)
    candidates = np.flatnonzero((s == local_max) & (s > 0) & (s >= local_avg + params.delta))
    # strongest first; drop anything within `wait` of an onset already kept
    wait = params.wait * rate
    kept: list[int] = []
    for i in candidates[np.argsort(-s[candidates], kind="stable")]:
        if all(abs(i - k) >= wait for k in kept):
            kept.append(int(i))
    kept.sort()
    idx = np.array(kept, dtype=np.int64)
    times = np.maximum(idx / rate - params.latency, 0.0)
    return times, s[idx]


def _sliding(s: np.ndarray, before: int, after: int, fill: float) -> np.ndarray:
    """(len(s), before + after + 1) view: row t holds s[t - before .. t + after]."""
    padded = np.concatenate([np.full(before, fill), s, np.full(after, fill)])
    return np.lib.stride_tricks.sliding_window_view(padded, before + after + 1)


def _window_max(s: np.ndarray, before: int, after: int) -> np.ndarray:
    return _sliding(s, before, after, -np.inf).max(axis=1)


def _window_mean(s: np.ndarray, before: int, after: int) -> np.ndarray:
    # librosa's peak_pick averages only over samples that exist at the edges
    ones = _sliding(np.ones_like(s), before, after, 0.0).sum(axis=1)
    return _sliding(s, before, after, 0.0).sum(axis=1) / ones


@lru_cache(maxsize=4)
def _window(n: int) -> np.ndarray:
    return np.hanning(n + 2)[1:-1]  # no zero end points: a click at the edge still registers


@lru_cache(maxsize=4)
def _band_matrix(n_fft: int, n_bands: int) -> np.ndarray:
    """(n_fft//2+1, n_bands) 0/1 matrix grouping FFT bins into log-spaced bands."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / RMS_SR)
    edges = np.geomspace(60.0, RMS_SR / 2, n_bands + 1)
    band = np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, n_bands - 1)
    m = np.zeros((len(freqs), n_bands))
    m[np.arange(len(freqs)), band] = 1.0
    m[freqs < 30.0] = 0.0  # DC and rumble are not onsets
    used = m.sum(axis=0) > 0
    return m[:, used]


# --- onset Acc / AP ---------------------------------------------------------------------


def _match(ref_times: np.ndarray, det_times: np.ndarray, order: np.ndarray, tol: float) -> np.ndarray:
    """Greedy one-to-one matching in `order` of detections: True where a detection takes
    the nearest still-unmatched reference onset within tol."""
    ref = np.asarray(ref_times, dtype=np.float64)
    free = np.ones(len(ref), bool)
    hit = np.zeros(len(det_times), bool)
    for i in order:
        if not free.any():
            break
        gaps = np.where(free, np.abs(ref - det_times[i]), np.inf)
        j = int(np.argmin(gaps))
        if gaps[j] <= tol + 1e-9:  # 1.1 - 1.0 is 0.10000000000000009
            free[j] = False
            hit[i] = True
    return hit


def onset_accuracy(ref_times, det_times, tol: float = ONSET_TOLERANCE) -> float:
    """Matched / reference onsets (one-to-one, within tol), in [0, 1].

    With no reference onsets the score is 1.0 when nothing was detected either (silence
    rendered as silence) and 0.0 otherwise.
    """
    ref = np.asarray(ref_times, dtype=np.float64).ravel()
    det = np.sort(np.asarray(det_times, dtype=np.float64).ravel())
    if len(ref) == 0:
        return 1.0 if len(det) == 0 else 0.0
    return float(_match(ref, det, np.arange(len(det)), tol).sum() / len(ref))


def onset_ap(ref_times, det_times, det_conf, tol: float = ONSET_TOLERANCE) -> float:
    """Average precision of detections ranked by confidence, in [0, 1].

    Detections are taken most confident first; one is a true positive when it matches a
    still-unmatched reference onset within tol. AP = sum over ranks of (recall step) *
    precision (sklearn's step rule), recall counted against all reference onsets, so
    missed onsets lower it. Ties in confidence are one threshold, as in sklearn.
    No reference onsets: 1.0 if nothing was detected, else 0.0.
    """
    ref = np.asarray(ref_times, dtype=np.float64).ravel()
    det = np.asarray(det_times, dtype=np.float64).ravel()
    conf = np.asarray(det_conf, dtype=np.float64).ravel()
    if len(det) != len(conf):
        raise ValueError(f"{len(det)} detections but {len(conf)} confidences")
    if len(ref) == 0:
        return 1.0 if len(det) == 0 else 0.0
    if len(det) == 0:
        return 0.0
    order = np.argsort(-conf, kind="stable")
    tp = _match(ref, det, order, tol)[order].astype(np.float64)
    # evaluate only where the confidence changes: tied detections enter together
    last_of_tie = np.r_[conf[order][1:] != conf[order][:-1], True]
    tp_cum = np.cumsum(tp)[last_of_tie]
    n_cum = (np.arange(len(det)) + 1.0)[last_of_tie]
    recall = tp_cum / len(ref)
    precision = tp_cum / n_cum
    steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(steps * precision))


def onset_metrics(ref_audio: Audio, gen_audio: Audio, tol: float = ONSET_TOLERANCE,
                  params: OnsetParams = OnsetParams()) -> dict[str, float]:
    """Onset Acc and AP of generated audio against onsets detected on the reference."""
    ref_times, _ = detect_onsets(ref_audio, params)
    det_times, det_conf = detect_onsets(gen_audio, params)
    return {
        "acc": onset_accuracy(ref_times, det_times, tol),
        "ap": onset_ap(ref_times, det_times, det_conf, tol),
        "n_ref": float(len(ref_times)),
        "n_det": float(len(det_times)),
    }


# --- Video2RMS class accuracy -----------------------------------------------------------


def video2rms_accuracy(pred_classes, true_classes, ks=(2, 5, 8)) -> dict[str, float]:
    """64-class accuracy and ACC+-k (|pred - true| <= k) over frames not silent in both.

    Any shape (a batch of clips is flattened). If every frame is silence in both, the
    prediction is perfect and every score is 1.0.
    """
    pred = np.asarray(pred_classes).ravel().astype(np.int64)
    true = np.asarray(true_classes).ravel().astype(np.int64)
    if pred.shape != true.shape:
        raise ValueError(f"predicted and true classes differ in size ({len(pred)} vs {len(true)})")
    keep = (pred != 0) | (true != 0)
    out: dict[str, float] = {}
    if not keep.any():
        out["acc"] = 1.0
        out.update({f"acc_{k}": 1.0 for k in ks})
        return out
    gap = np.abs(pred[keep] - true[keep])
    out["acc"] = float(np.mean(gap == 0))
    out.update({f"acc_{k}": float(np.mean(gap <= k)) for k in ks})
    return out
