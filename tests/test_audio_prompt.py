"""Timbre from a sound file (controlnet engine + CLAP audio branch) on tiny random weights: renders,
determinism, cache keys that follow the file, one-line errors, and the CLI's --audio-prompt."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from foley_studio.core.errors import EngineError

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from foley_studio.engines.rms2sound.controlnet.engine import ControlNetEngine  # noqa: E402
from tests.test_controlnet_support import sine_envelope, write_audio_encoder, write_folder, write_sound  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = write_folder(str(tmp_path_factory.mktemp("weights") / "audioldm-controlnet"))
    return write_audio_encoder(root)


@pytest.fixture(scope="module", autouse=True)
def loaded(folder):
    """Holds the folder's models: engines share them while one is alive, so each test does not reload."""
    engine = ControlNetEngine(weights=folder)
    engine.components()
    yield engine


@pytest.fixture(scope="module")
def sounds(tmp_path_factory):
    d = tmp_path_factory.mktemp("sounds")
    # stereo 44.1 kHz (mixed down, resampled), and one longer than CLAP's 10 s (cropped)
    return {"door": write_sound(d / "door.wav", 1.5, 44_100, 1, channels=2),
            "rain": write_sound(d / "rain.flac", 11.0, 16_000, 2)}


ENGINE = dict(steps=1, guidance_scale=1.0)  # one UNet pass per step: a 10.24 s window costs ~1 s on a CPU


def render(engine, prompt="footsteps", seed=1):
    return engine.render(sine_envelope(1.0), prompt, seed, 16_000).samples


def condition(engine, prompt="footsteps"):
    """The [2, D] (unconditional, conditional) embeddings a render would use."""
    return engine._condition(engine.components(), prompt, engine._timbre(prompt)).float()


@pytest.fixture(scope="module")
def door_render(folder, sounds):
    return render(ControlNetEngine(weights=folder, audio_prompt=sounds["door"], **ENGINE))


def test_audio_prompt_render_differs_from_the_text_one(folder, door_render):
    a = door_render
    assert len(a) == 16_000 and np.all(np.isfinite(a)) and np.abs(a).max() > 0
    assert not np.allclose(a, render(ControlNetEngine(weights=folder, **ENGINE)))


def test_audio_embedding_takes_the_text_ones_place(folder, sounds):
    text = ControlNetEngine(weights=folder, **ENGINE)
    door = ControlNetEngine(weights=folder, audio_prompt=sounds["door"], **ENGINE)
    assert door.available() == (True, "") and door.available_features()["audio_prompt"] == (True, "")
    t, d = condition(text), condition(door)
    assert torch_equal(d[0], t[0])  # the unconditional branch is still the empty text's
    assert not torch.allclose(d[1], t[1]) and float(d[1].norm()) == pytest.approx(1.0, abs=1e-5)
    assert not torch.allclose(condition(ControlNetEngine(weights=folder, audio_prompt=sounds["rain"])), d)
    # the audio prompt wins: at weight 1 the text prompt changes neither the condition nor the cache key
    assert torch_equal(condition(door, "glass"), d) and door._timbre("glass") == door._timbre("footsteps")
    # engines on one folder share the loaded models: one load per folder, not per audio prompt
    assert door.components() is text.components()


def test_weight_mixes_text_and_audio(folder, sounds):
    t = condition(ControlNetEngine(weights=folder), "glass")[1]
    a = condition(ControlNetEngine(weights=folder, audio_prompt=sounds["door"]), "glass")[1]
    half = ControlNetEngine(weights=folder, audio_prompt=sounds["door"], audio_prompt_weight=0.25)
    want = torch.nn.functional.normalize(0.25 * a + 0.75 * t, dim=-1)
    assert torch.allclose(condition(half, "glass")[1], want, atol=1e-6)
    assert half._timbre("glass") != half._timbre("rain")  # mixed: the text is part of the key
    none = ControlNetEngine(weights=folder, audio_prompt=sounds["door"], audio_prompt_weight=0.0)
    assert torch.allclose(condition(none, "glass")[1], t, atol=1e-6)
    with pytest.raises(EngineError, match="audio_prompt_weight"):
        ControlNetEngine(weights=folder, audio_prompt=sounds["door"], audio_prompt_weight=1.5)


def test_changed_file_is_a_new_prompt(folder, sounds, tmp_path):
    from foley_studio.core.render import RenderRequest

    ref = shutil.copy(sounds["door"], tmp_path / "ref.wav")
    engine = ControlNetEngine(weights=folder, audio_prompt=str(ref))
    token, key, before = engine.cache_token(), engine._timbre("x"), condition(engine)
    assert str(ref) in token
    write_sound(ref, 2.0, 22_050, 9)
    os.utime(ref, ns=(1, 1_000_000_000))  # a different mtime even on coarse file systems
    assert engine.cache_token() != token and engine._timbre("x") != key  # render and latent cache keys
    assert not torch.allclose(condition(engine), before)  # same engine, same path: embedded again
    keys = {RenderRequest("t", sine_envelope(1.0), "x", 0, "controlnet", {"audio_prompt": p}).sound_key()
            for p in (sounds["door"], sounds["rain"])}
    assert len(keys) == 2 and ControlNetEngine(weights=folder).cache_token() == ""


def torch_equal(a, b) -> bool:
    return bool(torch.equal(a, b))


def test_relative_path_is_taken_from_the_working_directory(folder, sounds, monkeypatch):
    monkeypatch.chdir(os.path.dirname(sounds["door"]))
    engine = ControlNetEngine(weights=folder, audio_prompt="door.wav")
    assert engine.audio_prompt == sounds["door"] and engine.available() == (True, "")


def test_missing_branch_is_one_line(folder, sounds, tmp_path):
    bare = shutil.copytree(folder, tmp_path / "text-only")
    shutil.rmtree(bare / "audio_encoder")
    engine = ControlNetEngine(weights=str(bare), steps=1, audio_prompt=sounds["door"])
    ok, why = engine.available()
    want = f"the weights folder {bare} has no CLAP audio branch (audio_encoder/); convert an AudioLDM checkpoint"
    assert not ok and want in why and "or use a text prompt" in why and "\n" not in why
    assert engine.available_features()["audio_prompt"] == (False, why.removeprefix("controlnet: "))
    with pytest.raises(EngineError, match=r"no CLAP audio branch \(audio_encoder/\)"):
        render(engine)
    assert ControlNetEngine(weights=str(bare), steps=1).available() == (True, "")  # text prompts still work

    partial = shutil.copytree(folder, tmp_path / "partial")
    os.remove(partial / "audio_encoder" / "preprocessor_config.json")
    ok, why = ControlNetEngine(weights=str(partial), audio_prompt=sounds["door"]).available()
    assert not ok and "incomplete CLAP audio branch: missing audio_encoder/preprocessor_config.json" in why
    shutil.copy(folder + "/audio_encoder/preprocessor_config.json", partial / "audio_encoder")
    cfg = partial / "audio_encoder" / "config.json"
    cfg.write_text(cfg.read_text().replace('"num_mel_bins": 64', '"num_mel_bins": 32'))
    ok, why = ControlNetEngine(weights=str(partial), audio_prompt=sounds["door"]).available()
    assert not ok and f"{cfg}: num_mel_bins 32 does not match the feature extractor's feature_size 64" in why


def test_missing_and_bad_files_are_one_line(folder, tmp_path):
    missing = str(tmp_path / "nope.wav")
    engine = ControlNetEngine(weights=folder, steps=1, audio_prompt=missing)
    ok, why = engine.available()
    assert not ok and f"{missing}: audio prompt: file not found" in why
    with pytest.raises(EngineError, match="nope.wav: audio prompt: file not found"):
        render(engine)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really a wave file" * 20)
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(4800), 48_000)
    for path, problem in ((garbage, "not a readable audio file"), (silent, "the file is silent")):
        with pytest.raises(EngineError) as err:
            render(ControlNetEngine(weights=folder, steps=1, audio_prompt=str(path)))
        assert str(err.value).startswith(f"{path}: audio prompt: {problem}") and "\n" not in str(err.value)


def fast_controlnet(monkeypatch):
    """The CLI's controlnet engines with ENGINE's settings (the CLI has no --steps)."""
    from foley_studio import pipeline

    made = pipeline.create_engine

    def create(engine_id, params=None):
        return made(engine_id, {**(params or {}), **(ENGINE if engine_id == "controlnet" else {})})

    monkeypatch.setattr(pipeline, "create_engine", create)


def test_cli_audio_prompt(folder, sounds, door_render, tmp_path, capsys, monkeypatch):
    from foley_studio.cli import main
    from foley_studio.core.envelope_csv import write_csv

    fast_controlnet(monkeypatch)
    env = str(tmp_path / "env.csv")
    write_csv(env, sine_envelope(1.0))
    out = tmp_path / "door.wav"
    assert main(["-q", "render", "--envelope", env, "--engine", "controlnet", "--weights", folder, "--audio-prompt",
                 sounds["door"], "--seed", "1", "--sample-rate", "16000", "--bit-depth", "32", "-o", str(out)]) == 0
    data, sr = sf.read(str(out), dtype="float32")
    # the CLI's flag reached the engine, and a fresh engine on the same file and seed renders the same samples
    assert sr == 16_000 and np.array_equal(data, door_render)

    code = main(["-q", "render", "--envelope", env, "--prompt", "x", "--audio-prompt", sounds["door"],
                 "-o", str(tmp_path / "p.wav")])
    err = capsys.readouterr().err
    assert code == 2 and "engine 'palette' does not take an audio prompt (--audio-prompt)" in err
    code = main(["-q", "render", "--envelope", env, "--engine", "controlnet", "--weights", folder,
                 "--audio-prompt", str(tmp_path / "gone.wav"), "-o", str(tmp_path / "g.wav")])
    err = capsys.readouterr().err
    assert code == 2 and "gone.wav: audio prompt: file not found" in err and err.count("\n") == 1
    code = main(["-q", "render", "--envelope", env, "--engine", "controlnet", "--weights", folder,
                 "-o", str(tmp_path / "n.wav")])
    assert code == 2 and "give --prompt TEXT or --audio-prompt FILE" in capsys.readouterr().err
    code = main(["-q", "generate", str(tmp_path / "clip.mp4"), "--audio-prompt", sounds["door"]])
    assert code == 2 and "engine 'palette' does not take an audio prompt" in capsys.readouterr().err


def test_generate_gives_every_track_the_audio_prompt(folder, sounds, tmp_path, monkeypatch):
    import json

    from foley_studio.cli import main
    from tests.mediagen import write_video

    fast_controlnet(monkeypatch)
    monkeypatch.setenv("FOLEY_STUDIO_WEIGHTS", os.path.dirname(folder))  # generate reads weights from there
    monkeypatch.chdir(os.path.dirname(sounds["door"]))
    clip = write_video(tmp_path / "clip.mp4", duration=0.5)
    out = tmp_path / "out"
    assert main(["-q", "generate", clip, "--engine", "controlnet", "--audio-prompt", "door.wav", "--track", "B=rain",
                 "--out", str(out)]) == 0
    project = json.loads((out / "clip.foley.json").read_text())
    # a relative --audio-prompt is taken from the working directory; the project file
    # stores it relative to itself (like the media path), and loading resolves it again
    stored = [(t["prompt"], t["engine_params"]) for t in project["tracks"]]
    assert stored == [("rain", {"audio_prompt": os.path.relpath(sounds["door"], out).replace(os.sep, "/")})]
    from foley_studio.core import project as project_io

    loaded = project_io.load(str(out / "clip.foley.json"))
    assert [t.engine_params for t in loaded.tracks] == [{"audio_prompt": sounds["door"]}]


def test_render_cache_follows_the_engines_cache_token():
    """Same request, same envelope: the render service reuses its audio unless the engine's token changed."""
    from foley_studio.core.audio import Audio
    from foley_studio.core.render import RenderCache, RenderRequest, render_with_cache
    from foley_studio.engines.base import EngineInfo

    class Engine:
        info = EngineInfo("fake", "Fake", "rms2sound", False, True, supports_audio_prompt=True)
        token, renders = "a.wav:1:10", 0

        def cache_token(self):
            return self.token

        def render(self, envelope, prompt, seed, sample_rate, **kwargs):
            self.renders += 1
            return Audio(np.zeros(round(envelope.duration * sample_rate), np.float32), sample_rate)

    engine, cache = Engine(), RenderCache()
    request = RenderRequest("t", sine_envelope(0.2), "x", 0, "fake", {"audio_prompt": "a.wav"}, 16_000)
    render_with_cache(request, engine, cache)
    assert render_with_cache(request, engine, cache).cached and engine.renders == 1
    engine.token = "a.wav:2:12"  # the file was rewritten in place
    assert not render_with_cache(request, engine, cache).cached and engine.renders == 2
