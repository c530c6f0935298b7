"""Metrics: E-L1, onset detection, onset Acc/AP, Video2RMS ACC+-k (hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foley_studio.core.audio import Audio
from foley_studio.core.metrics import (
    detect_onsets,
    e_l1,
    envelope_l1,
    onset_accuracy,
    onset_ap,
    onset_metrics,
    video2rms_accuracy,
)
from foley_studio.core.rms import analyze, rms_16k

SR = 16_000


def _sine(seconds=1.0, amp=0.5, freq=250.0, sr=SR) -> Audio:
    t = np.arange(int(seconds * sr)) / sr
    return Audio(amp * np.sin(2 * np.pi * freq * t), sr)


def _dc(value, seconds=1.0, sr=SR) -> Audio:
    return Audio(np.full(int(seconds * sr), value, np.float32), sr)


def _clicks(times, seconds=3.0, sr=SR, seed=0, amps=None) -> Audio:
    """Decaying noise bursts (impacts) starting at `times`, over a faint noise floor."""
    rng = np.random.default_rng(seed)
    x = 1e-4 * rng.standard_normal(int(seconds * sr))
    for k, t in enumerate(times):
        i, n = int(round(t * sr)), int(0.06 * sr)
        amp = 0.5 if amps is None else amps[k]
        burst = amp * rng.standard_normal(n) * np.exp(-np.arange(n) / (0.012 * sr))
        x[i : i + n] += burst[: len(x) - i]
    return Audio(x.astype(np.float32), sr)


# --- E-L1 -------------------------------------------------------------------------------


def test_e_l1_of_identical_audio_is_zero():
    a = _clicks([0.3, 1.2])
    assert e_l1(a, a) == 0.0


def test_e_l1_against_silence_is_the_mean_rms():
    a = _sine()
    expected = float(np.mean(rms_16k(a.samples)))
    assert e_l1(a, Audio.silence(len(a), SR)) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_e_l1_is_symmetric():
    a, b = _sine(amp=0.3), _clicks([0.2, 0.7], seconds=1.3)
    assert e_l1(a, b) == pytest.approx(e_l1(b, a), abs=1e-12)


def test_e_l1_scale_is_hand_computable():
    # constant signals: every frame's RMS is the constant itself, reflect padding included
    assert e_l1(_dc(0.5), _dc(0.2)) == pytest.approx(0.3, abs=1e-6)
    # RMS is linear in gain: |rms(2a) - rms(a)| = rms(a)
    a = _sine(amp=0.2)
    b = Audio(2 * a.samples, SR)
    assert e_l1(a, b) == pytest.approx(float(np.mean(rms_16k(a.samples))), rel=1e-5)


def test_e_l1_pads_the_shorter_audio_with_silence():
    # 1 s of DC 0.5 against 0.5 s of it: the second half differs by 0.5 -> about 0.25
    assert e_l1(_dc(0.5, 1.0), _dc(0.5, 0.5)) == pytest.approx(0.25, abs=0.01)
    assert e_l1(_dc(0.5, 0.5), _dc(0.5, 1.0)) == e_l1(_dc(0.5, 1.0), _dc(0.5, 0.5))


def test_e_l1_resamples_to_16k():
    a16, a48 = _sine(sr=16_000), _sine(sr=48_000)
    assert e_l1(a16, a48) < 2e-3
    assert e_l1(Audio(np.zeros(0, np.float32), SR), Audio(np.zeros(0, np.float32), SR)) == 0.0


def test_envelope_l1():
    a = _clicks([0.5])
    env = analyze(a)
    assert envelope_l1(env, a) == pytest.approx(0.0, abs=1e-7)
    assert envelope_l1(np.zeros_like(env), a) == pytest.approx(float(env.mean()), rel=1e-6)
    # an envelope longer than the audio compares against silence beyond its end
    longer = np.concatenate([env, np.full(len(env), 0.1, np.float32)])
    assert envelope_l1(longer, a) == pytest.approx(0.05, rel=1e-4)


# --- onset detection --------------------------------------------------------------------


@pytest.mark.parametrize("sr", [16_000, 22_050, 48_000])
def test_detect_onsets_finds_clicks_within_10_ms(sr):
    times = [0.25, 0.61, 1.003, 1.5, 2.2, 2.71]
    found, conf = detect_onsets(_clicks(times, sr=sr))
    assert len(found) == len(times)
    assert np.max(np.abs(found - np.array(times))) <= 0.010
    assert np.all((conf > 0) & (conf <= 1)) and conf.max() == 1.0


def test_detect_onsets_on_silence_and_steady_tone():
    assert len(detect_onsets(Audio.silence(SR, SR))[0]) == 0
    assert len(detect_onsets(Audio(np.zeros(0, np.float32), SR))[0]) == 0
    times, _ = detect_onsets(_sine(2.0))
    assert np.all(times < 0.05)  # at most the tone's own start


def test_detect_onsets_confidence_follows_strength():
    _, conf = detect_onsets(_clicks([0.5, 1.5], amps=[0.5, 0.1]))
    assert len(conf) == 2 and conf[0] == 1.0 and conf[1] < 1.0


# --- onset Acc / AP ---------------------------------------------------------------------


def test_acc_ap_perfect():
    ref = [0.5, 1.0, 1.5]
    assert onset_accuracy(ref, ref) == 1.0
    assert onset_ap(ref, ref, [0.3, 0.9, 0.5]) == 1.0


def test_acc_ap_half():
    ref = [0.5, 1.0, 1.5, 2.0]
    det, conf = [0.52, 1.04], [0.9, 0.8]
    assert onset_accuracy(ref, det) == 0.5
    # both detections correct: precision 1 at recall 0.25 and 0.5
    assert onset_ap(ref, det, conf) == pytest.approx(0.5)


def test_ap_with_a_confident_false_positive():
    ref = [1.0, 2.0]
    det, conf = [1.0, 5.0, 2.0], [0.5, 0.9, 0.1]
    # ranks: FP (P 0), TP (R .5, P 1/2), TP (R 1, P 2/3) -> .5*.5 + .5*2/3
    assert onset_ap(ref, det, conf) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert onset_accuracy(ref, det) == 1.0
    # the same detections ranked well score 1
    assert onset_ap(ref, det, [0.9, 0.1, 0.5]) == 1.0


def test_ap_tied_confidences_are_one_threshold():
    assert onset_ap([1.0, 2.0], [1.0, 5.0], [0.5, 0.5]) == pytest.approx(0.25)


def test_matching_is_one_to_one_and_within_tolerance():
    assert onset_accuracy([1.0], [1.0, 1.05]) == 1.0
    assert onset_ap([1.0], [1.0, 1.05], [0.9, 0.8]) == 1.0
    assert onset_accuracy([1.0, 1.08], [1.04]) == 0.5
    assert onset_accuracy([1.0], [1.1]) == 1.0  # exactly at the tolerance
    assert onset_accuracy([1.0], [1.1001]) == 0.0
    assert onset_accuracy([1.0], [1.15], tol=0.2) == 1.0


def test_acc_ap_with_nothing():
    assert onset_accuracy([0.5, 1.0], []) == 0.0
    assert onset_ap([0.5, 1.0], [], []) == 0.0
    assert onset_accuracy([], []) == 1.0 and onset_ap([], [], []) == 1.0
    assert onset_accuracy([], [0.3]) == 0.0 and onset_ap([], [0.3], [1.0]) == 0.0
    with pytest.raises(ValueError):
        onset_ap([1.0], [1.0, 2.0], [0.5])


def test_onset_metrics_on_audio():
    times = [0.3, 0.9, 1.6, 2.4]
    ref = _clicks(times, seed=1)
    same = onset_metrics(ref, _clicks(times, seed=2))
    assert same["acc"] == 1.0 and same["ap"] == 1.0 and same["n_ref"] == 4
    late = onset_metrics(ref, _clicks([t + 0.05 for t in times], seed=3))
    assert late["acc"] == 1.0
    wrong = onset_metrics(ref, _clicks([t + 0.2 for t in times], seed=3))
    assert wrong["acc"] == 0.0 and wrong["ap"] == 0.0
    silent = onset_metrics(ref, Audio.silence(3 * SR, SR))
    assert silent == {"acc": 0.0, "ap": 0.0, "n_ref": 4.0, "n_det": 0.0}


# --- Video2RMS ACC+-k -------------------------------------------------------------------


def test_video2rms_accuracy_hand_computed():
    pred = [0, 0, 5, 10, 20, 0]
    true = [0, 3, 5, 12, 30, 1]
    # frame 0 is silent in both and left out; gaps of the rest: 3, 0, 2, 10, 1
    got = video2rms_accuracy(pred, true)
    assert got == pytest.approx({"acc": 0.2, "acc_2": 0.6, "acc_5": 0.8, "acc_8": 0.8})


def test_video2rms_accuracy_edge_cases():
    assert video2rms_accuracy([0, 0], [0, 0]) == {"acc": 1.0, "acc_2": 1.0, "acc_5": 1.0, "acc_8": 1.0}
    assert video2rms_accuracy(np.array([[1, 2], [0, 0]]), np.array([[1, 9], [0, 0]]), ks=(7,)) == {
        "acc": 0.5,
        "acc_7": 1.0,
    }
    with pytest.raises(ValueError):
        video2rms_accuracy([1, 2], [1])


# --- properties -------------------------------------------------------------------------

times = st.lists(st.floats(0, 10, allow_nan=False), max_size=12)


@settings(max_examples=60, deadline=None)
@given(times, st.data())
def test_acc_and_ap_are_in_unit_range(ref, data):
    det = data.draw(times)
    conf = data.draw(st.lists(st.floats(0, 1), min_size=len(det), max_size=len(det)))
    acc = onset_accuracy(ref, det)
    ap = onset_ap(ref, det, conf)
    assert 0.0 <= acc <= 1.0
    assert 0.0 <= ap <= 1.0 + 1e-12
    assert ap <= acc + 1e-12  # AP's recall never passes the matched fraction


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 63), st.integers(0, 63)), min_size=1, max_size=50))
def test_acc_k_is_monotone_in_k(pairs):
    pred, true = zip(*pairs)
    got = video2rms_accuracy(pred, true, ks=(0, 1, 2, 5, 8, 63))
    values = [got[f"acc_{k}"] for k in (0, 1, 2, 5, 8, 63)]
    assert got["acc"] == got["acc_0"]
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert values[-1] == 1.0
