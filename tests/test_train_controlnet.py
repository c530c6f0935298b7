"""`foley-studio train controlnet`: the RMS-ControlNet trained on a folder of sounds, on tiny
random AudioLDM weights (tests/test_controlnet_support.py) and 1.28 s windows."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
sf = pytest.importorskip("soundfile")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from foley_studio.core.errors import FoleyError, OutputError  # noqa: E402
from foley_studio.training.controlnet import STATE_FILE, init_from_unet, train  # noqa: E402
from foley_studio.training.controlnet_data import caption_for, find_sounds, windows  # noqa: E402
from tests.test_controlnet_support import build_models, sine_envelope, write_folder  # noqa: E402

FAST = dict(batch_size=3, seconds=1.28, device="cpu")
WEIGHTS = os.path.join("controlnet", "diffusion_pytorch_model.safetensors")


def write_sounds(folder, n: int = 3, seconds: float = 1.5) -> str:
    """Noise under different loudness curves, 16 kHz; one with a sidecar caption, one unreadable."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * seconds)) / 16000
    names = ["door_slam_01.wav", "FootstepsGravel.flac", "glass.wav", "wind-gust.ogg"][:n]
    for i, name in enumerate(names):
        x = rng.standard_normal(len(t)) * 0.3 * np.sin(2 * np.pi * (0.5 + i) * t) ** 2
        sf.write(os.path.join(folder, name), x.astype(np.float32), 16000)
    with open(os.path.join(folder, "glass.txt"), "w", encoding="utf-8") as f:
        f.write("breaking  glass\nshards\n")
    with open(os.path.join(folder, "broken.wav"), "wb") as f:
        f.write(b"not a wav file at all")
    return str(folder)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train-controlnet")
    base = write_folder(str(root / "base"))
    shutil.rmtree(os.path.join(base, "controlnet"))  # a plain AudioLDM folder: the ControlNet starts from the UNet
    sounds = write_sounds(root / "sounds")
    return {"root": root, "base": base, "sounds": sounds, "cache": str(root / "cache")}


@pytest.fixture(scope="module")
def run(data):
    warnings: list[str] = []
    out = str(data["root"] / "out")
    metrics = train(data["sounds"], data["base"], out, steps=20, lr=1e-2, save_every=10, cache_dir=data["cache"],
                    warn=warnings.append, **FAST)
    return {"out": out, "metrics": metrics, "warnings": warnings}


def test_loss_goes_down(run):
    m = run["metrics"]
    assert m["step"] == 20 and len(m["losses"]) == 20 and m["init"] == "unet"
    assert all(np.isfinite(m["losses"]))
    # the fixed probe batch (same noise and timesteps before and after)
    assert m["probe_loss_end"] < 0.95 * m["probe_loss_start"], m
    assert np.mean(m["losses"][-5:]) < np.mean(m["losses"][:5])
    assert [h["step"] for h in m["history"]] == [10, 20]


def test_unreadable_file_skipped_with_warning(run):
    m = run["metrics"]
    assert m["n_files"] == 3 and m["n_windows"] == 3
    assert [s["file"] for s in m["skipped"]] == ["broken.wav"]
    assert len(run["warnings"]) == 1 and "broken.wav" in run["warnings"][0] and "\n" not in run["warnings"][0]


def test_checkpoint_is_an_engine_folder_that_renders(run):
    from foley_studio.engines.rms2sound.controlnet.components import folder_problem
    from foley_studio.engines.rms2sound.controlnet.engine import ControlNetEngine

    out = run["out"]
    assert folder_problem(out) == ""
    assert os.path.isfile(os.path.join(out, STATE_FILE))
    with open(os.path.join(out, "controlnet", "training.json"), encoding="utf-8") as f:
        assert json.load(f)["step"] == 20
    tensors = load_file(os.path.join(out, WEIGHTS))
    assert tensors["controlnet_mid_block.weight"].abs().sum() > 0  # the zero convs have learnt
    assert not any(n.endswith((".partial", ".old")) for n in os.listdir(out))
    engine = ControlNetEngine(weights=out, steps=1, device="cpu")
    env = sine_envelope(0.5)
    audio = engine.render(env, "door slam", seed=1, sample_rate=16000)
    assert len(audio.samples) == round(env.duration * 16000) and np.isfinite(audio.samples).all()
    assert np.abs(audio.samples).max() > 0


def test_fine_tunes_a_controlnet_in_the_base_folder(run, data, tmp_path):
    base = tmp_path / "base-with-controlnet"
    shutil.copytree(data["base"], base)
    shutil.copytree(os.path.join(run["out"], "controlnet"), base / "controlnet")
    m = train(data["sounds"], str(base), tmp_path / "tuned", steps=1, lr=1e-2, cache_dir=data["cache"],
              warn=lambda m: None, **FAST)
    assert m["init"] == "base controlnet"
    # the same probe batch on the saved weights gives what the first run ended with
    assert m["probe_loss_start"] == pytest.approx(run["metrics"]["probe_loss_end"], rel=1e-6)
    with pytest.raises(OutputError, match="--overwrite"):  # training into the base folder itself
        train(data["sounds"], str(base), str(base), steps=1, **FAST)


def test_latents_are_cached(run, data):
    files = [f for f in os.listdir(data["cache"]) if f.endswith(".npz")]
    assert len(files) == 3


def test_resume_matches_an_unbroken_run(data, tmp_path):
    kw = dict(lr=1e-2, seed=3, save_every=2, cache_dir=data["cache"], **FAST)
    whole = train(data["sounds"], data["base"], tmp_path / "whole", steps=4, warn=lambda m: None, **kw)
    cut = train(data["sounds"], data["base"], tmp_path / "cut", steps=2, warn=lambda m: None, **kw)
    more = train(data["sounds"], data["base"], tmp_path / "cut", steps=4, resume=True, warn=lambda m: None, **kw)
    assert cut["step"] == 2 and more["start_step"] == 2 and more["step"] == 4 and more["init"] == "resume"
    assert cut["losses"] + more["losses"] == whole["losses"]
    a, b = load_file(str(tmp_path / "whole" / WEIGHTS)), load_file(str(tmp_path / "cut" / WEIGHTS))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [h["step"] for h in more["history"]] == [2, 4]


def test_init_copies_the_unet_encoder():
    from foley_studio.engines.rms2sound.controlnet.model import RMSControlNet

    models = build_models()
    unet = models["unet"]
    cn = RMSControlNet.from_unet_config(unet.config)
    assert init_from_unet(cn, unet) > 10
    assert torch.equal(cn.conv_in.weight, unet.conv_in.weight)
    assert torch.equal(cn.down_blocks[0].resnets[0].conv1.weight, unet.down_blocks[0].resnets[0].conv1.weight)
    assert torch.equal(cn.down_blocks[2].attentions[0][0].transformer_blocks[0].attn1.to_q.weight,
                       unet.down_blocks[2].attentions[0].transformer_blocks[0].attn1.to_q.weight)
    assert torch.equal(cn.mid_block.resnets[1].conv2.weight, unet.mid_block.resnets[1].conv2.weight)
    assert torch.equal(cn.class_embedding.weight, unet.class_embedding.weight)
    for zero in list(cn.controlnet_down_blocks) + [cn.controlnet_mid_block, cn.rms_embedding.zero_conv]:
        assert not zero.weight.any() and not zero.bias.any()


def test_captions_and_windows(data, tmp_path):
    folder = data["sounds"]
    assert caption_for(os.path.join(folder, "glass.wav")) == "breaking glass shards"
    assert caption_for(os.path.join(folder, "door_slam_01.wav")) == "door slam"
    assert caption_for(os.path.join(folder, "FootstepsGravel.flac")) == "footsteps gravel"
    assert [os.path.basename(p) for p in find_sounds(folder)] == [
        "FootstepsGravel.flac", "broken.wav", "door_slam_01.wav", "glass.wav"]
    w = windows(np.ones(2500, np.float32), 1000)  # 1000, 1000, then 500 (half full: kept)
    assert [len(x) for x in w] == [1000] * 3 and w[2][499] == 1 and w[2][500] == 0
    assert len(windows(np.ones(2400, np.float32), 1000)) == 2
    assert len(windows(np.ones(10, np.float32), 1000)) == 1


def test_errors_are_one_line(data, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no sounds here")
    with pytest.raises(FoleyError, match="no audio files"):
        train(str(empty), data["base"], tmp_path / "o1", steps=1, cache_dir="", **FAST)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.wav").write_bytes(b"junk")
    with pytest.raises(FoleyError, match="no readable audio files"):
        train(str(bad), data["base"], tmp_path / "o2", steps=1, cache_dir="", warn=lambda m: None, **FAST)
    with pytest.raises(FoleyError, match="not found"):
        train(str(tmp_path / "nowhere"), data["base"], tmp_path / "o3", steps=1, **FAST)
    partial = tmp_path / "partial-base"
    shutil.copytree(data["base"], partial)
    shutil.rmtree(partial / "vae")
    os.remove(partial / "text_encoder" / "model.safetensors")
    with pytest.raises(FoleyError, match=r"missing vae/, text_encoder/model.safetensors") as exc:
        train(data["sounds"], str(partial), tmp_path / "o4", steps=1, **FAST)
    assert "\n" not in str(exc.value) and str(partial) in str(exc.value)
    with pytest.raises(FoleyError, match="nothing to resume"):
        train(data["sounds"], data["base"], tmp_path / "o5", steps=1, resume=True, **FAST)
    (tmp_path / "o6" / "controlnet").mkdir(parents=True)
    with pytest.raises(OutputError, match="--resume"):
        train(data["sounds"], data["base"], tmp_path / "o6", steps=1, **FAST)
    with pytest.raises(FoleyError, match="steps"):
        train(data["sounds"], data["base"], tmp_path / "o7", steps=0, **FAST)


def test_cli(data, tmp_path, capsys):
    from foley_studio.cli import main

    out = tmp_path / "cli-out"
    argv = ["train", "controlnet", data["sounds"], "--base", data["base"], "-o", str(out), "--steps", "2",
            "--batch-size", "2", "--seconds", "1.28", "--device", "cpu", "--cache-dir", data["cache"],
            "--save-every", "1", "--json"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    metrics = json.loads(printed.out)
    assert metrics["step"] == 2 and metrics["device"] == "cpu"
    assert "broken.wav" in printed.err
    assert os.path.isfile(out / WEIGHTS)
    # a second run without --resume refuses; with it, continues
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(argv[:-1] + ["--steps", "3", "--resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 3
    assert main(["train", "controlnet", data["sounds"], "--base", str(tmp_path / "nope"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.split("\r")[-1].strip()  # after the progress bar's last redraw
    assert err.startswith("foley-studio: error:") and "base AudioLDM folder not found" in err and "\n" not in err
