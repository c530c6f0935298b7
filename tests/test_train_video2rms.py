"""`foley-studio train video2rms`: self-supervised training on clips with their own sound.

The clips (tests/test_learned_data.py) show a square bouncing between walls with a click at
every contact, so a few CPU epochs must learn when it is loud.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.numpy import load_file  # noqa: E402

from foley_studio.core.errors import Cancelled, FoleyError, OutputError  # noqa: E402
from foley_studio.core.media import open_clip  # noqa: E402
from foley_studio.core.metrics import envelope_l1, video2rms_accuracy  # noqa: E402
from foley_studio.core.rms import FRAME_RATE, RMS_SR, discretize  # noqa: E402
from foley_studio.engines.base import CancelToken  # noqa: E402
from foley_studio.engines.video2rms.learned import LearnedEngine  # noqa: E402
from foley_studio.engines.video2rms.learned.checkpoint import read_config  # noqa: E402
from foley_studio.training.cli import add_train_parser, run_train  # noqa: E402
from foley_studio.training.state import state_path  # noqa: E402
from foley_studio.training.video2rms import train  # noqa: E402
from tests.test_learned_data import bouncing_clip, make_folder  # noqa: E402

FAST = dict(window_s=0.5, batch_size=4, device="cpu")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    folder = make_folder(root / "clips", n=5)
    cache = os.fspath(root / "cache")
    ckpt = os.fspath(root / "model.safetensors")
    warnings: list[str] = []
    metrics = train(folder, ckpt, epochs=3, seed=0, cache_dir=cache, warn=warnings.append, **FAST)
    return {"root": root, "folder": folder, "cache": cache, "ckpt": ckpt, "metrics": metrics, "warnings": warnings}


def test_loss_goes_down_and_validation_beats_trivial_baselines(run):
    m = run["metrics"]
    history = m["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[0]["train_loss"] > history[1]["train_loss"] > history[2]["train_loss"]
    assert history[-1]["loss"] < history[0]["loss"]
    assert m["n_train"] == 4 and m["n_val"] == 1 and m["split"] == "val" and not run["warnings"]
    for key in ("acc", "acc_2", "acc_5", "acc_8", "e_l1", "e_l1_expectation", "e_l1_smoothed"):
        assert np.isfinite(m[key])
    # the held-out clip's true classes, and what always-silence / the mean class would score
    (val_name,) = m["val_clips"]
    audio = open_clip(os.path.join(run["folder"], val_name)).audio(sr=RMS_SR)
    from foley_studio.core.rms import analyze, smooth

    n = round(open_clip(os.path.join(run["folder"], val_name)).duration * FRAME_RATE)
    true = discretize(smooth(analyze(audio)))[:n]
    silence = video2rms_accuracy(np.zeros_like(true), true)
    mean_class = video2rms_accuracy(np.full_like(true, int(round(true.mean()))), true)
    assert m["acc_5"] > max(silence["acc_5"], mean_class["acc_5"]) + 0.3
    assert m["acc_8"] >= m["acc_5"] >= m["acc_2"] >= m["acc"]


def test_checkpoint_holds_config_metrics_split_and_predicts(run):
    config, meta, _ = read_config(run["ckpt"])
    assert json.loads(meta["epoch"]) == 3
    assert json.loads(meta["metrics"])["acc_5"] == run["metrics"]["acc_5"]
    settings = json.loads(meta["train"])
    assert settings["split"]["val"] == run["metrics"]["val_clips"] and len(settings["history"]) == 3
    assert os.path.exists(state_path(run["ckpt"]))
    # E-L1 as reported = core.metrics.envelope_l1 of the engine's envelope against the clip's audio
    val = open_clip(os.path.join(run["folder"], run["metrics"]["val_clips"][0]))
    env = LearnedEngine(weights=run["ckpt"], device="cpu").predict(val)
    assert len(env) == round(val.duration * FRAME_RATE)
    assert envelope_l1(env.values, val.audio(sr=RMS_SR)) == pytest.approx(run["metrics"]["e_l1"], rel=1e-4, abs=1e-6)


def test_resume_continues_from_the_saved_epoch_and_matches_an_unbroken_run(run):
    root = run["root"]
    common = dict(seed=1, cache_dir=run["cache"], min_steps=4, **FAST)
    straight = os.fspath(root / "straight.safetensors")
    train(run["folder"], straight, epochs=2, **common)
    part = os.fspath(root / "part.safetensors")
    first = train(run["folder"], part, epochs=1, **common)
    assert [h["epoch"] for h in first["history"]] == [1]
    resumed = train(run["folder"], part, epochs=2, resume=part, **common)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert resumed["history"][0] == first["history"][0]
    a, b = load_file(straight), load_file(part)  # same weights, bit for bit
    assert all(np.array_equal(a[k], b[k]) for k in a)
    notes: list[str] = []
    done = train(run["folder"], part, epochs=1, resume=part, warn=notes.append, **common)
    assert done["epoch"] == 2 and "already has 2 epochs" in notes[0]


def test_progress_and_cancel(run, tmp_path):
    seen: list[float] = []
    train(run["folder"], tmp_path / "p.safetensors", epochs=1, cache_dir=run["cache"],
          progress=lambda f, m: seen.append(f), **FAST)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        train(run["folder"], tmp_path / "c.safetensors", epochs=1, cache_dir=run["cache"], cancel=token, **FAST)
    assert not os.path.exists(tmp_path / "c.safetensors")


def test_resume_without_optimiser_state_warns_and_continues(run, tmp_path):
    ckpt = os.fspath(tmp_path / "w.safetensors")
    shutil.copy(run["ckpt"], ckpt)
    notes: list[str] = []
    m = train(run["folder"], ckpt, epochs=4, resume=ckpt, cache_dir=run["cache"], warn=notes.append, **FAST)
    assert [h["epoch"] for h in m["history"]] == [1, 2, 3, 4]
    assert "Adam starts afresh" in notes[0]


def test_clip_without_audio_is_skipped_with_a_warning(run, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(os.path.join(run["folder"], "clip0.mp4" if name == "a.mp4" else "clip1.mp4"), folder / name)
    bouncing_clip(folder / "silent_film.mp4", seed=9, audio=False)
    (folder / "notes.txt").write_text("not a clip")
    notes: list[str] = []
    m = train(folder, tmp_path / "m.safetensors", epochs=1, val_fraction=0.0, cache_dir=run["cache"],
              warn=notes.append, **FAST)
    assert m["n_train"] == 2 and m["n_val"] == 0 and m["split"] == "train"
    assert m["skipped"] == [{"clip": "silent_film.mp4", "reason": "no audio track to learn from"}]
    assert len(notes) == 1 and "silent_film.mp4" in notes[0] and "no audio" in notes[0]


def test_folders_without_usable_clips_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FoleyError, match="no video clips found") as err:
        train(empty, tmp_path / "m.safetensors", epochs=1, cache_dir="")
    assert str(empty) in str(err.value)
    mute = tmp_path / "mute"
    mute.mkdir()
    bouncing_clip(mute / "a.mp4", audio=False)
    (mute / "b.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(FoleyError) as err:
        train(mute, tmp_path / "m.safetensors", epochs=1, cache_dir="", warn=lambda m: None)
    message = str(err.value)
    assert "\n" not in message and "no usable clips (2 found" in message and "no audio track" in message
    with pytest.raises(FoleyError, match="training folder not found"):
        train(tmp_path / "nowhere", tmp_path / "m.safetensors", epochs=1)
    with pytest.raises(FoleyError, match="output folder does not exist"):
        train(mute, tmp_path / "no" / "m.safetensors", epochs=1)


def _parser():
    parser = argparse.ArgumentParser(prog="foley-studio")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub, [common])
    return parser


def test_cli_parses_and_runs(run, tmp_path, capsys):
    parser = _parser()
    args = parser.parse_args(["train", "video2rms", "DIR", "-o", "x.safetensors", "--epochs", "3",
                              "--val-fraction", "0.25", "--seed", "4", "--resume", "r.safetensors"])
    assert (args.command, args.train_model, args.clip_dir, args.output, args.epochs, args.val_fraction,
            args.seed, args.resume) == ("train", "video2rms", "DIR", "x.safetensors", 3, 0.25, 4, "r.safetensors")
    for bad in (["--epochs", "0"], ["--val-fraction", "1.5"], ["--seed", "-1"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["train", "video2rms", "DIR", *bad])
    with pytest.raises(SystemExit):
        parser.parse_args(["train"])  # a model is required
    out = os.fspath(tmp_path / "cli.safetensors")
    args = parser.parse_args(["train", "video2rms", run["folder"], "-o", out, "--epochs", "1", "-q",
                              "--cache-dir", run["cache"], "--device", "cpu", "--json"])
    assert run_train(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["epoch"] == 1 and report["checkpoint"] == out and "acc_5" in report
    with pytest.raises(OutputError, match="--overwrite"):
        run_train(args)


def test_adam_follows_the_textbook_update():
    # numpy reference (Kingma & Ba, Algorithm 1); torch.optim.Adam is not used here because
    # its first use imports torch._dynamo, seconds of this suite for nothing
    import torch

    from foley_studio.training.adam import Adam

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    ref = {n: p.detach().numpy().astype(np.float64).copy() for n, p in model.named_parameters()}
    m = {n: np.zeros_like(v) for n, v in ref.items()}
    v = {n: np.zeros_like(x) for n, x in ref.items()}
    opt = Adam(model.named_parameters(), lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    x = torch.randn(16, 5)
    for t in range(1, 6):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        grads = {n: p.grad.numpy().astype(np.float64) for n, p in model.named_parameters()}
        opt.step()
        for n, g in grads.items():
            m[n] = 0.9 * m[n] + 0.1 * g
            v[n] = 0.999 * v[n] + 0.001 * g * g
            ref[n] -= 0.01 * (m[n] / (1 - 0.9**t)) / (np.sqrt(v[n] / (1 - 0.999**t)) + 1e-8)
        for n, p in model.named_parameters():
            np.testing.assert_allclose(p.detach().numpy(), ref[n], rtol=1e-5, atol=1e-6)
            ref[n] = p.detach().numpy().astype(np.float64).copy()  # follow ours: no drift build-up
    assert opt.steps == 5 and set(opt.state_tensors()) == {f"{k}.{n}" for k in ("exp_avg", "exp_avg_sq")
                                                             for n, _ in model.named_parameters()}
