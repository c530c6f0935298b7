"""The controlnet RMS2Sound engine on tiny random weights: length, rate, seeds, progress, cancel,
windowing, span inpainting, and the one-line errors for missing or mismatched weights."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from foley_studio.core.audio import Audio
from foley_studio.core.cancel import CancelToken
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import Cancelled, EngineError

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from foley_studio.engines.rms2sound.controlnet import windows as win  # noqa: E402
from foley_studio.engines.rms2sound.controlnet.engine import ControlNetEngine  # noqa: E402
from tests.test_controlnet_support import sine_envelope, write_folder  # noqa: E402

STEPS = 1  # each step of a window costs about a second on a shared CPU core


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(str(tmp_path_factory.mktemp("weights") / "audioldm-controlnet"))


@pytest.fixture(scope="module")
def engine(folder):
    return ControlNetEngine(weights=folder, steps=STEPS, device="cpu")


def test_info_and_features():
    info = ControlNetEngine.info
    assert (info.id, info.kind, info.needs_weights, info.realtime, info.supports_span) == \
        ("controlnet", "rms2sound", True, False, True)
    assert info.devices == ("cuda", "mps", "cpu")
    features = ControlNetEngine(weights="/nowhere").available_features()
    assert features["text_prompt"][0] and not features["audio_prompt"][0] and "CLAP audio" in features["audio_prompt"][1]


def test_import_and_availability_do_not_load_torch(folder):
    code = (
        "import sys\n"
        "import foley_studio.engines.rms2sound.controlnet as c, foley_studio.convert_weights\n"
        "from foley_studio.engines.rms2sound.controlnet.engine import ControlNetEngine\n"
        f"ok, why = ControlNetEngine(weights={folder!r}).available()\n"
        "assert ok, why\n"
        "c.ControlNetEngine().available()\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'safetensors') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          env={**os.environ, "FOLEY_STUDIO_WEIGHTS": ""})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("frames,sr", [(375, 48_000), (377, 44_100), (100, 16_000)])
def test_length_and_rate(engine, frames, sr):
    env = Envelope(np.full(frames, 0.2, np.float32))
    audio = engine.render(env, "rain on a roof", 3, sr)
    assert audio.sr == sr and len(audio) == round(env.duration * sr)
    assert np.all(np.isfinite(audio.samples)) and np.abs(audio.samples).max() > 0


def test_seeds(engine):
    env = sine_envelope(2.0)
    a = engine.render(env, "footsteps", 1, 16_000)
    b = engine.render(env, "footsteps", 1, 16_000)
    c = engine.render(env, "footsteps", 2, 16_000)
    assert np.array_equal(a.samples, b.samples)
    assert not np.allclose(a.samples, c.samples)


def test_envelope_and_prompt_change_the_sound(engine):
    a = engine.render(sine_envelope(2.0, seed=1), "footsteps", 1, 16_000)
    b = engine.render(sine_envelope(2.0, seed=2), "footsteps", 1, 16_000)
    c = engine.render(sine_envelope(2.0, seed=1), "glass", 1, 16_000)
    assert not np.allclose(a.samples, b.samples) and not np.allclose(a.samples, c.samples)


def test_progress_per_step_and_cancel(folder):
    engine = ControlNetEngine(weights=folder, steps=2)
    calls = []
    engine.render(sine_envelope(1.0), "wind", 0, 16_000, progress=lambda f, m: calls.append((f, m)))
    steps = [m for _, m in calls if "step" in m]
    assert steps == ["window 1/1, step 1/2", "window 1/1, step 2/2"]
    assert calls[-1] == (1.0, "done") and all(b[0] >= a[0] for a, b in zip(calls, calls[1:]))

    token = CancelToken()

    def cancel_after_first_step(fraction, message):
        if "step 1/" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        engine.render(sine_envelope(1.0), "wind", 0, 16_000, progress=cancel_after_first_step, cancel=token)


def test_guidance_one_and_two_transformer_layout(tmp_path):
    root = write_folder(str(tmp_path / "w"), transformers_per_attention=2, seed=4)
    engine = ControlNetEngine(weights=root, steps=1, guidance_scale=1.0)
    audio = engine.render(sine_envelope(1.0), "door", 0, 22_050)
    assert len(audio) == 22_050 and np.all(np.isfinite(audio.samples))


def _edited(env: Envelope, t0: float, t1: float) -> Envelope:
    v = env.values.copy()
    v[int(t0 * 125): int(t1 * 125)] = 0.6
    return Envelope(v)


def _check_splice(prev: Audio, new: Audio, span, sr):
    a, b, _ = win.span_samples(span, sr, len(prev))
    assert len(new) == len(prev) and new.sr == prev.sr
    assert np.array_equal(new.samples[:a], prev.samples[:a])
    assert np.array_equal(new.samples[b:], prev.samples[b:])
    assert not np.allclose(new.samples[a:b], prev.samples[a:b])


def test_span_inpainting_leaves_the_rest_bit_identical(folder):
    engine = ControlNetEngine(weights=folder, steps=STEPS)
    env, sr, span = sine_envelope(6.0), 24_000, (2.0, 3.0)
    prev = engine.render(env, "footsteps", 5, sr)
    calls = []
    new = engine.render(_edited(env, *span), "footsteps", 5, sr, span=span, previous=prev,
                        progress=lambda f, m: calls.append(m))
    _check_splice(prev, new, span, sr)
    # inpainting: the new latents equal the old ones outside the regenerated frames
    cached = engine._cache[("footsteps", 5, len(env))][1][0]
    assert cached.shape[2] == win.WINDOW
    # a fresh engine has no cached latents: the touched windows are rendered afresh, still spliced
    other = ControlNetEngine(weights=folder, steps=STEPS)
    again = other.render(_edited(env, *span), "footsteps", 5, sr, span=span, previous=prev)
    _check_splice(prev, again, span, sr)
    # `previous` older than the cached render (an undo): its latents are not used, the splice holds
    undone = engine.render(_edited(env, *span), "footsteps", 5, sr, span=span, previous=prev)
    _check_splice(prev, undone, span, sr)


def test_inpainting_keeps_latents_outside_the_mask(folder):
    engine = ControlNetEngine(weights=folder, steps=STEPS)
    env = sine_envelope(4.0)
    engine.render(env, "rain", 1, 16_000)
    before = engine._cache[("rain", 1, len(env))][1][0].clone()
    prev = engine.render(env, "rain", 1, 16_000)
    engine.render(_edited(env, 1.0, 1.5), "rain", 1, 16_000, span=(1.0, 1.5), previous=prev)
    after = engine._cache[("rain", 1, len(env))][1][0]
    fa, fb = win.span_frames(*win.span_samples((1.0, 1.5), 16_000, len(prev))[:2], 16_000, win.WINDOW)
    assert torch_equal(after[:, :, :fa], before[:, :, :fa]) and torch_equal(after[:, :, fb:], before[:, :, fb:])
    assert not torch_equal(after[:, :, fa:fb], before[:, :, fa:fb])


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_25_seconds_in_overlapping_windows(folder):
    assert win.plan(win.n_frames(25 * 125)) == [0, 231, 369]
    engine = ControlNetEngine(weights=folder, steps=STEPS)
    env, sr = sine_envelope(25.0), 16_000
    calls = []
    prev = engine.render(env, "engine hum", 9, sr, progress=lambda f, m: calls.append(m))
    assert len(prev) == 25 * sr and np.all(np.isfinite(prev.samples))
    assert [m for m in calls if "step" in m] == [f"window {k}/3, step 1/1" for k in (1, 2, 3)]
    # a span across the first overlap (9.24 s .. 10.24 s) touches two windows
    span = (9.5, 10.5)
    calls.clear()
    new = engine.render(_edited(env, *span), "engine hum", 9, sr, span=span, previous=prev,
                        progress=lambda f, m: calls.append(m))
    _check_splice(prev, new, span, sr)
    assert [m for m in calls if "step" in m] == ["window 1/3, step 1/1", "window 2/3, step 1/1"]


def test_window_crossfade_sums_to_one():
    starts = win.plan(700)
    first, joined = win.assemble(starts, {k: np.ones(win.WINDOW * win.FRAME_SAMPLES) for k in range(len(starts))})
    assert first == 0 and np.allclose(joined, 1.0, atol=1e-6)


def test_no_weights_configured_says_how_to_get_them(monkeypatch):
    monkeypatch.delenv("FOLEY_STUDIO_WEIGHTS", raising=False)
    ok, why = ControlNetEngine().available()
    assert not ok and "convert-weights" in why and "\n" not in why
    with pytest.raises(EngineError, match="convert-weights"):
        ControlNetEngine().render(sine_envelope(0.5), "x", 0, 16_000)
    monkeypatch.setenv("FOLEY_STUDIO_WEIGHTS", "/srv/models")
    assert ControlNetEngine().weights == os.path.join("/srv/models", "audioldm-controlnet")


def test_missing_folder_and_component(folder, tmp_path):
    ok, why = ControlNetEngine(weights=str(tmp_path / "absent")).available()
    assert not ok and str(tmp_path / "absent") in why and "not found" in why
    broken = shutil.copytree(folder, tmp_path / "broken")
    os.remove(broken / "vae" / "diffusion_pytorch_model.safetensors")
    shutil.rmtree(broken / "tokenizer")
    ok, why = ControlNetEngine(weights=str(broken)).available()
    assert not ok and "\n" not in why
    assert str(broken) in why and "vae/diffusion_pytorch_model.safetensors" in why and "tokenizer/" in why


def test_mismatched_config_is_one_line(folder, tmp_path):
    broken = shutil.copytree(folder, tmp_path / "cfg")
    path = broken / "controlnet" / "config.json"
    cfg = json.loads(path.read_text())
    cfg["block_out_channels"] = [8, 32]
    path.write_text(json.dumps(cfg))
    ok, why = ControlNetEngine(weights=str(broken)).available()
    assert not ok and str(path) in why and "[8, 32]" in why and "\n" not in why


def test_mismatched_and_missing_tensors_are_one_line(folder, tmp_path):
    from safetensors.torch import load_file, save_file

    broken = shutil.copytree(folder, tmp_path / "shapes")
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    tensors["conv_in.weight"] = tensors["conv_in.weight"][:4]
    save_file(tensors, weights)
    with pytest.raises(EngineError) as err:
        ControlNetEngine(weights=str(broken), steps=1).render(sine_envelope(0.5), "x", 0, 16_000)
    msg = str(err.value)
    assert "\n" not in msg and str(broken / "unet") in msg and "conv_in.weight" in msg and "[4, 8, 3, 3]" in msg

    del tensors["conv_in.weight"]
    save_file(tensors, weights)
    with pytest.raises(EngineError) as err:
        ControlNetEngine(weights=str(broken), steps=1).render(sine_envelope(0.5), "x", 0, 16_000)
    msg = str(err.value)
    assert "\n" not in msg and str(broken / "unet") in msg and "conv_in.weight" in msg


def test_bad_parameters():
    with pytest.raises(EngineError, match="device"):
        ControlNetEngine(device="tpu")
    with pytest.raises(EngineError, match="steps"):
        ControlNetEngine(steps=0)
