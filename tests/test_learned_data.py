"""Synthetic footage with production sound for the learned Video2RMS tests, and tests of the
pieces that need no torch (labels, checkpoint header, features, split, cache).

`bouncing_clip` writes a 160x90 clip of a square bouncing between the side walls on a
textured floor; every wall contact is a click (a decaying noise burst) in its audio track,
so the picture predicts the sound and a model can learn it in seconds.
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from foley_studio.core.errors import EngineError, FoleyError
from foley_studio.core.rms import FRAME_RATE, NUM_BINS
from foley_studio.engines.video2rms.learned.checkpoint import ModelConfig, read_config, read_header
from foley_studio.engines.video2rms.learned.features import (
    FeatureConfig,
    extract,
    to_rms_rate,
)
from foley_studio.engines.video2rms.learned.labels import decay, smoothed_labels, smoothing_table
from foley_studio.training.video2rms_data import find_clips, load_clip, split
from tests.mediagen import write_video

W, H, FPS, SR = 160, 90, 30, 16_000
SIDE = 16


def bounce_times(x0: float, speed: float, duration: float) -> list[float]:
    """Times the square touches a wall, moving right from x0 at `speed` px/s."""
    span = W - SIDE
    times, t, x, v = [], 0.0, x0, speed
    while True:
        dt = ((span - x) if v > 0 else x) / abs(v)
        t += dt
        if t >= duration:
            return times
        times.append(t)
        x, v = (span if v > 0 else 0.0), -v


def square_x(x0: float, speed: float, t: float) -> float:
    span = W - SIDE
    p = (x0 + speed * t) % (2 * span)
    return p if p <= span else 2 * span - p


def bouncing_clip(path, seed: int = 0, duration: float = 1.5, audio: bool = True, loud: float = 0.5) -> str:
    rng = np.random.default_rng(seed)
    speed = float(rng.uniform(260, 420))
    x0 = float(rng.uniform(0, W - SIDE))
    floor = (100 + np.random.default_rng(7).integers(-25, 25, (H, W))).astype(np.uint8)

    def frame(i: int, t: float) -> np.ndarray:
        img = floor.copy()
        x = int(round(square_x(x0, speed, t)))
        y = (H - SIDE) // 2
        img[y:y + SIDE, x:x + SIDE] = 245
        return img

    track = None
    if audio:
        n = int(round(duration * SR))
        samples = np.zeros(n, np.float32)
        tail = np.arange(int(0.2 * SR)) / SR
        burst = (np.random.default_rng(seed + 100).standard_normal(len(tail)) * np.exp(-tail / 0.04)).astype(np.float32)
        for t in bounce_times(x0, speed, duration):
            a = int(t * SR)
            m = min(n - a, len(burst))
            samples[a:a + m] += loud * burst[:m]
        track = (np.clip(samples, -1, 1), SR)
    return write_video(path, frame, fps=FPS, size=(W, H), duration=duration, audio=track, audio_sr=SR)


def make_folder(folder, n: int = 5, duration: float = 1.5, seed: int = 0) -> str:
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        bouncing_clip(os.path.join(folder, f"clip{i}.mp4"), seed=seed + i, duration=duration)
    return os.fspath(folder)


# --- Gaussian label smoothing (the release's criterion) -----------------------------------


def test_silence_row_is_one_hot():
    row = smoothing_table()[0]
    assert row[0] == 1.0 and row.sum() == 1.0


def test_class_spreads_over_plus_minus_two_with_release_weights():
    # exp(-2**d / (2 * 2**1)): 1 at the class, e^-0.5 at +-1, e^-1 at +-2, nothing further, unnormalised
    k = 30
    row = smoothed_labels(np.array([k]))[0]
    expected = np.zeros(NUM_BINS, np.float32)
    expected[k] = 1.0
    expected[[k - 1, k + 1]] = math.exp(-0.5)
    expected[[k - 2, k + 2]] = math.exp(-1.0)
    np.testing.assert_allclose(row, expected, rtol=1e-6)
    assert decay(1) == pytest.approx(0.60653066) and decay(2) == pytest.approx(0.36787944)


def test_smoothing_never_reaches_silence_and_clamps_at_the_top():
    table = smoothing_table()
    assert np.all(table[1:, 0] == 0.0)
    # class 1: nothing below it; class 2: class 1 gets the +-1 weight (nearer distance wins)
    np.testing.assert_allclose(table[1, :4], [0, 1, math.exp(-0.5), math.exp(-1)], rtol=1e-6)
    np.testing.assert_allclose(table[2, :5], [0, math.exp(-0.5), 1, math.exp(-0.5), math.exp(-1)], rtol=1e-6)
    np.testing.assert_allclose(table[63, 60:], [0, math.exp(-1), math.exp(-0.5), 1], rtol=1e-6)
    np.testing.assert_allclose(table[62, 59:], [0, math.exp(-1), math.exp(-0.5), 1, math.exp(-0.5)], rtol=1e-6)
    assert smoothed_labels(np.zeros((2, 3), int)).shape == (2, 3, NUM_BINS)


# --- features ----------------------------------------------------------------------------


class _F:
    def __init__(self, t, image):
        self.t, self.image = t, image


def test_features_see_the_bounce_and_are_quiet_when_still():
    rng = np.random.default_rng(0)
    floor = (100 + rng.integers(-25, 25, (H, W))).astype(np.uint8)
    x0, speed = 20.0, 300.0
    frames = []
    for i in range(30):
        img = floor.copy()
        x = int(round(square_x(x0, speed, i / FPS)))
        img[37:53, x:x + SIDE] = 245
        frames.append(_F(i / FPS, img))
    times, feats = extract(frames)
    cfg = FeatureConfig()
    assert feats.shape == (29, cfg.n_features) and np.all(np.isfinite(feats))
    g = cfg.grid * cfg.grid
    accel = feats[:, 2 * g:3 * g].max(axis=1)
    bounces = bounce_times(x0, speed, 1.0)
    near = np.zeros(len(times), bool)
    for b in bounces:
        near |= np.abs(times - b) < 2.5 / FPS
    assert len(bounces) == 2
    for b in bounces:  # each contact stands far above the velocity-change level elsewhere
        assert accel[np.abs(times - b) < 2.5 / FPS].max() > 2.0 * np.median(accel[~near]) + 0.5
    still = extract([_F(i / FPS, floor) for i in range(5)])[1]
    assert np.abs(still).max() < 1e-3


def test_to_rms_rate_is_linear_in_time_and_holds_the_ends():
    times = np.array([0.1, 0.3])
    feats = np.array([[0.0], [2.0]], np.float32)
    out = to_rms_rate(times, feats, int(0.5 * FRAME_RATE))
    centres = (np.arange(len(out)) + 0.5) / FRAME_RATE
    np.testing.assert_allclose(out[:, 0], np.clip((centres - 0.1) / 0.2, 0, 1) * 2, atol=1e-6)
    assert to_rms_rate(np.zeros(0), np.zeros((0, 3), np.float32), 4).shape == (4, 3)


# --- dataset -----------------------------------------------------------------------------


def test_targets_follow_the_clicks_and_are_cached(tmp_path):
    path = bouncing_clip(tmp_path / "a.mp4", seed=3)
    cache = tmp_path / "cache"
    data = load_clip(path, "a.mp4", str(cache), FeatureConfig())
    n = int(round(1.5 * FRAME_RATE))
    assert len(data) == n and data.features.shape == (n, FeatureConfig().n_features)
    rng = np.random.default_rng(3)
    speed, x0 = float(rng.uniform(260, 420)), float(rng.uniform(0, W - SIDE))
    for t in bounce_times(x0, speed, 1.5):
        k = int(t * FRAME_RATE)
        assert data.classes[k:k + 6].max() > 30  # the click is loud right after the contact
    assert (data.classes == 0).mean() > 0.3  # silence between clicks
    assert len(os.listdir(cache)) == 1
    again = load_clip(path, "a.mp4", str(cache), FeatureConfig())
    np.testing.assert_array_equal(again.features, data.features)
    np.testing.assert_array_equal(again.classes, data.classes)


def test_split_is_deterministic_by_clip_and_seeded():
    names = [f"c{i}.mp4" for i in range(10)]
    tr, va = split(names, 0.2, 0)
    assert len(va) == 2 and sorted(tr + va) == names
    assert split(list(reversed(names)), 0.2, 0) == (tr, va)
    assert any(split(names, 0.2, s)[1] != va for s in range(1, 6))
    assert split(names, 0.0, 0) == (names, [])
    with pytest.raises(FoleyError, match="at least 2 usable clips"):
        split(["one.mp4"], 0.2, 0)


def test_find_clips_errors_name_the_folder(tmp_path):
    with pytest.raises(FoleyError, match="not found"):
        find_clips(tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(FoleyError, match="not a folder"):
        find_clips(tmp_path / "f.txt")
    assert find_clips(tmp_path) == []


# --- checkpoint header, without torch ----------------------------------------------------


def _write_safetensors(path, header: dict, payload: bytes = b"") -> str:
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + payload)
    return os.fspath(path)


def test_pickle_file_is_refused_as_not_safetensors(tmp_path):
    import pickle

    path = tmp_path / "evil.safetensors"

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path.write_bytes(pickle.dumps({"w": Boom()}))
    with pytest.raises(EngineError, match="not a safetensors file") as err:
        read_config(str(path))
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert not (tmp_path / "pwned").exists()


def test_header_without_config_or_wrong_format_is_one_line(tmp_path):
    plain = _write_safetensors(tmp_path / "plain.safetensors", {"__metadata__": {"x": "y"}})
    with pytest.raises(EngineError, match="not a Video2RMS checkpoint"):
        read_config(plain)
    no_cfg = _write_safetensors(tmp_path / "nocfg.safetensors", {"__metadata__": {"format": "foley-studio.video2rms"}})
    with pytest.raises(EngineError, match="no 'config'"):
        read_config(no_cfg)
    bad = _write_safetensors(tmp_path / "bad.safetensors", {"__metadata__": {
        "format": "foley-studio.video2rms", "config": json.dumps({"hidden": 8, "wings": 2})}})
    with pytest.raises(EngineError, match="unknown model config keys"):
        read_config(bad)
    ok = _write_safetensors(tmp_path / "ok.safetensors", {"__metadata__": {
        "format": "foley-studio.video2rms", "config": json.dumps(ModelConfig(hidden=8).as_dict())}})
    assert read_config(ok)[0].hidden == 8
    assert read_header(ok)[0] == {}
    (tmp_path / "short.safetensors").write_bytes(b"abc")
    with pytest.raises(EngineError, match="too short"):
        read_header(str(tmp_path / "short.safetensors"))


def test_importing_and_asking_the_engine_does_not_load_torch(tmp_path):
    code = (
        "import sys\n"
        "from foley_studio.engines.video2rms.learned import LearnedEngine\n"
        "import foley_studio.training.cli, foley_studio.training.video2rms\n"
        "e = LearnedEngine(weights=sys.argv[1])\n"
        "ok, why = e.available()\n"
        "assert not ok and 'not found' in why, why\n"
        "assert LearnedEngine().info.needs_weights\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = dict(os.environ)
    env.pop("FOLEY_STUDIO_WEIGHTS", None)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "missing.safetensors")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
