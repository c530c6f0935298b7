"""`learned` Video2RMS engine: checkpoint loading (safetensors only), errors, predictions.

Checkpoints here are tiny random-initialised networks saved by the tests themselves; the
training tests (test_train_video2rms.py) cover learning.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.torch import save_file  # noqa: E402

from foley_studio.core.envelope import Envelope  # noqa: E402
from foley_studio.core.errors import Cancelled, EngineError  # noqa: E402
from foley_studio.core.media import open_clip  # noqa: E402
from foley_studio.core.rms import FRAME_RATE, bin_edges  # noqa: E402
from foley_studio.engines.base import CancelToken, VideoToRMS  # noqa: E402
from foley_studio.engines.video2rms.learned import LearnedEngine  # noqa: E402
from foley_studio.engines.video2rms.learned.checkpoint import ModelConfig, metadata_for  # noqa: E402
from foley_studio.engines.video2rms.learned.engine import decode  # noqa: E402
from foley_studio.engines.video2rms.learned.features import FeatureConfig, clip_features  # noqa: E402
from foley_studio.engines.video2rms.learned.network import predict_probs  # noqa: E402
from foley_studio.engines.video2rms.learned.weights import load_model, new_model, save_model  # noqa: E402
from tests.test_learned_data import bouncing_clip  # noqa: E402

TINY = ModelConfig(n_features=FeatureConfig().n_features, hidden=16, lstm_hidden=8, dropout=0.0)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("learned")
    clip = bouncing_clip(folder / "a.mp4", seed=1, duration=1.3)
    ckpt = os.fspath(folder / "tiny.safetensors")
    model = new_model(TINY, seed=3)
    with torch.no_grad():
        model.head.bias[0] = -1.0  # random but not all silence
    save_model(model, ckpt, epoch=0)
    return {"folder": folder, "clip": clip, "ckpt": ckpt}


def test_engine_info_and_protocol(media):
    engine = LearnedEngine(weights=media["ckpt"])
    assert isinstance(engine, VideoToRMS)
    assert engine.info.id == "learned" and engine.info.kind == "video2rms" and engine.info.needs_weights
    assert engine.info.devices == ("cuda", "mps", "cpu")
    assert engine.available() == (True, "")


def test_predict_length_rate_and_values(media):
    clip = open_clip(media["clip"])
    seen = []
    env = LearnedEngine(weights=media["ckpt"], device="cpu").predict(clip, progress=lambda f, m: seen.append(f))
    assert isinstance(env, Envelope) and env.rate == FRAME_RATE
    assert len(env) == round(clip.duration * FRAME_RATE)
    table = np.concatenate([[0.0], bin_edges()[1:]]).astype(np.float32)
    assert np.all(np.isin(env.values, table))  # argmax: exactly a class's level, or silence
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_expectation_decoding_is_smooth_and_bounded():
    probs = np.full((3, 64), 1 / 64, np.float32)
    probs[2] = 0
    probs[2, 0] = 1.0
    values = decode(probs, "expectation")
    assert 0 < values[0] < 1 and values[0] == values[1] and values[2] == 0
    with pytest.raises(EngineError, match="decode must be"):
        decode(probs, "median")


def test_checkpoint_round_trip_gives_identical_predictions(media, tmp_path):
    clip = open_clip(media["clip"])
    feats = clip_features(clip)
    model, meta = load_model(media["ckpt"])
    assert json.loads(meta["epoch"]) == 0
    copy = os.fspath(tmp_path / "copy.safetensors")
    save_model(model, copy)
    again, _ = load_model(copy)
    np.testing.assert_array_equal(predict_probs(model, feats), predict_probs(again, feats))
    a = LearnedEngine(weights=media["ckpt"]).predict(clip)
    b = LearnedEngine(weights=copy).predict(clip)
    assert a == b


def test_long_clips_run_in_chunks_like_one_piece():
    model = new_model(TINY, seed=5).eval()
    feats = np.random.default_rng(0).standard_normal((700, TINY.n_features)).astype(np.float32)
    whole = predict_probs(model, feats, chunk=10_000)
    chunked = predict_probs(model, feats, chunk=200, context=125)
    # the BiLSTM's reach beyond a second is negligible: same classes, near-identical probabilities
    assert np.mean(whole.argmax(1) == chunked.argmax(1)) > 0.98
    assert np.abs(whole - chunked).max() < 0.05


def test_roi_and_cancel(media):
    clip = open_clip(media["clip"])
    engine = LearnedEngine(weights=media["ckpt"])
    env = engine.predict(clip, roi=(0, 20, 100, 50))
    assert len(env) == round(clip.duration * FRAME_RATE)
    with pytest.raises(EngineError, match="region of interest"):
        engine.predict(clip, roi=(500, 500, 10, 10))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        engine.predict(clip, cancel=token)


def test_missing_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("FOLEY_STUDIO_WEIGHTS", raising=False)
    ok, why = LearnedEngine().available()
    assert not ok and "FOLEY_STUDIO_WEIGHTS" in why and "--weights" in why
    missing = os.fspath(tmp_path / "nope.safetensors")
    engine = LearnedEngine(weights=missing)
    ok, why = engine.available()
    assert not ok and missing in why and "not found" in why and "\n" not in why
    with pytest.raises(EngineError, match="not found"):
        engine.predict(None)


def test_weights_from_env_folder_or_folder_argument(media, tmp_path, monkeypatch):
    folder = os.fspath(tmp_path)
    shutil.copy(media["ckpt"], os.path.join(folder, "video2rms.safetensors"))
    monkeypatch.setenv("FOLEY_STUDIO_WEIGHTS", folder)
    assert LearnedEngine().weights == os.path.join(folder, "video2rms.safetensors")
    assert LearnedEngine().available() == (True, "")
    assert LearnedEngine(weights=folder).weights == os.path.join(folder, "video2rms.safetensors")


def test_mismatched_tensors_are_one_clear_line(media, tmp_path):
    model = new_model(TINY)
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    tensors["head.weight"] = torch.zeros(64, 3)
    del tensors["input.bias"]
    tensors["extra.thing"] = torch.zeros(1)
    path = os.fspath(tmp_path / "bad.safetensors")
    save_file(tensors, path, metadata=metadata_for(TINY))
    engine = LearnedEngine(weights=path)
    assert engine.available() == (True, "")  # the header is fine; shapes are checked on load
    with pytest.raises(EngineError) as err:
        engine.predict(open_clip(media["clip"]))
    message = str(err.value)
    assert "\n" not in message and path in message
    assert "missing 1 tensors (e.g. input.bias)" in message
    assert "1 unexpected tensors (e.g. extra.thing)" in message
    assert "head.weight: file [64, 3], model [64, 16]" in message


def test_config_and_weights_of_different_sizes_do_not_load(tmp_path):
    small = new_model(TINY)
    path = os.fspath(tmp_path / "liar.safetensors")
    save_file({k: v.contiguous() for k, v in small.state_dict().items()}, path,
              metadata=metadata_for(ModelConfig(n_features=TINY.n_features, hidden=24, lstm_hidden=8)))
    with pytest.raises(EngineError, match="weights do not match the model in its config"):
        load_model(path)


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_pickled_weights_are_refused(media, tmp_path, kind):
    path = tmp_path / "model.safetensors"
    marker = tmp_path / "ran"
    if kind == "pickle":
        import pickle

        class Payload:
            def __reduce__(self):
                return (open, (os.fspath(marker), "w"))

        path.write_bytes(pickle.dumps(Payload()))
    else:
        torch.save(new_model(TINY).state_dict(), path)
    engine = LearnedEngine(weights=os.fspath(path))
    ok, why = engine.available()
    assert not ok and "not a safetensors file" in why
    with pytest.raises(EngineError, match="not a safetensors file"):
        engine.predict(open_clip(media["clip"]))
    assert not marker.exists()


def test_bad_constructor_values_are_one_line():
    with pytest.raises(EngineError, match="device must be"):
        LearnedEngine(device="tpu")
    with pytest.raises(EngineError, match="decode must be"):
        LearnedEngine(decode="mean")
