"""The paper's RMS definitions (DESIGN.md): hand-computed values plus properties."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from scipy.signal import ellip, filtfilt

from foley_studio.core import rms
from foley_studio.core.audio import Audio

finite_levels = st.floats(0.0, 1.0, allow_nan=False, width=32)


def test_bin_edges_match_the_paper():
    edges = rms.bin_edges()
    assert len(edges) == 64
    assert edges[:3] == pytest.approx([0.01, 0.0116, 0.0132], abs=5e-5)
    assert edges[-1] == pytest.approx(1.0)
    assert np.all(np.diff(edges) > 0)


def test_mu_law_round_trip_and_fixed_points():
    x = np.linspace(0, 1, 101)
    assert rms.inverse_mu_law(rms.mu_law(x)) == pytest.approx(x, abs=1e-12)
    assert rms.mu_law(0.0) == 0.0 and rms.mu_law(1.0) == pytest.approx(1.0)
    # mu = 63: mu(0.01) = ln(1.63) / ln(64)
    assert rms.mu_law(0.01) == pytest.approx(np.log(1.63) / np.log(64))


def test_frame_count_is_125_per_second():
    assert len(rms.rms_16k(np.zeros(160_000))) == 1250
    assert rms.n_frames(160_000) == 1250
    for n in (1, 100, 127, 128, 129, 511, 512, 1000, 16_001):
        assert rms.n_frames(n) == len(rms.rms_16k(np.zeros(n)))


def test_full_scale_sine_is_0707():
    t = np.arange(16_000) / 16_000
    values = rms.rms_16k(np.sin(2 * np.pi * 1000 * t))
    assert values[10:-10] == pytest.approx(np.sqrt(0.5), abs=1e-3)


def test_frames_are_reflect_padded_and_not_centred():
    x = np.random.default_rng(0).standard_normal(4000)
    padded = np.pad(x, 192, mode="reflect")
    expected = [np.sqrt(np.mean(padded[k * 128 : k * 128 + 512] ** 2)) for k in range(31)]
    assert rms.rms_16k(x) == pytest.approx(expected, rel=1e-5)


def test_analyze_resamples_to_16k_first():
    t = np.arange(48_000) / 48_000
    a = Audio(0.5 * np.sin(2 * np.pi * 440 * t), 48_000)
    values = rms.analyze(a)
    assert len(values) == 125
    assert values[5:-5] == pytest.approx(0.5 / np.sqrt(2), abs=2e-3)


def test_smoothing_is_the_papers_filter():
    x = np.abs(np.random.default_rng(1).standard_normal(500))
    b, a = ellip(4, 0.01, 120, 0.125)
    expected = np.clip(filtfilt(b, a, x, method="gust"), 0, None)
    assert rms.smooth(x) == pytest.approx(expected, abs=1e-6)


def test_discretize_hand_values():
    edges = rms.bin_edges()
    values = [0.0, 0.0099, 0.01, edges[1] - 1e-6, edges[1], 0.5, 1.0, 3.0, -0.2]
    assert list(rms.discretize(values)) == [0, 0, 1, 1, 2, 52, 63, 63, 0]


def test_undiscretize_maps_class_to_its_edge_and_silence_to_zero():
    edges = rms.bin_edges()
    assert rms.undiscretize([0, 1, 2, 63]) == pytest.approx([0.0, edges[1], edges[2], edges[63]])


@settings(max_examples=100, deadline=None)
@given(arrays(np.float32, st.integers(1, 300), elements=finite_levels))
def test_discretize_round_trip_lands_on_the_upper_edge(values):
    edges = rms.bin_edges()
    classes = rms.discretize(values)
    assert classes.min() >= 0 and classes.max() <= 63
    v = values.astype(np.float64)
    assert np.all(v[classes == 0] < 0.01)
    inner = (classes > 0) & (classes < 63)
    assert np.all(edges[classes[inner] - 1] <= v[inner]) and np.all(v[inner] < edges[classes[inner]])
    back = rms.undiscretize(classes)
    assert np.all(back[classes == 0] == 0)
    assert back[classes > 0] == pytest.approx(edges[classes[classes > 0]], rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.integers(1, 3000), elements=st.floats(-1, 1, allow_nan=False)))
def test_rms_is_bounded_by_peak(samples):
    values = rms.rms_16k(samples)
    assert len(values) == rms.n_frames(len(samples))
    assert np.all(values >= 0)
    assert np.all(values <= np.max(np.abs(samples)) + 1e-6)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 2000), st.integers(1, 2000))
def test_resample_curve_keeps_constants_and_length(n_in, n_out):
    v = np.full(n_in, 0.3, np.float32)
    out = rms.resample_curve(v, n_out)
    assert len(out) == n_out and out == pytest.approx(0.3)


def test_condition_shape_and_rate():
    assert rms.condition_from_audio(np.zeros(163_840)).shape == (1024,)
    env = np.zeros(1250, np.float32)
    env[500:600] = 0.2
    cond = rms.condition_from_envelope(env)
    assert cond.shape == (1, 1, 1024, 1)
    c = cond[0, 0, :, 0]
    # 100 Hz grid: 4 s..4.8 s of the envelope lands on condition frames 400..480
    assert c[405:475] == pytest.approx(0.2)
    assert c[:390].max() == 0 and c[490:].max() == 0


def test_condition_from_envelope_agrees_with_audio_condition_for_steady_sound():
    t = np.arange(163_840) / 16_000
    x = 0.3 * np.sin(2 * np.pi * 300 * t)
    env = rms.rms_16k(x)
    from_env = rms.condition_from_envelope(env)[0, 0, :, 0]
    from_audio = rms.condition_from_audio(x)
    # a 512-sample frame holds 9.6 periods of 300 Hz, so frame RMS ripples by ~0.7%
    assert from_env[20:-20] == pytest.approx(from_audio[20:-20], rel=1e-2)
