"""convert-weights: official key names and shapes in, a working controlnet weights folder out.

The "official" state dicts are built here from the original architectures (AudioLDM's
openai UNet and LDM autoencoder, CLAP's RoBERTa text branch, HiFi-GAN, Video-Foley's
ControlNetForAudioLDM), written out key by key with tiny sizes and random values, then
saved as a Lightning-style .ckpt and a plain .pth.
"""

from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from foley_studio.convert_weights import add_convert_parser, convert, run_convert  # noqa: E402
from foley_studio.core.errors import EngineError, OutputError  # noqa: E402
from tests.test_controlnet_support import sine_envelope, write_sound, write_tokenizer  # noqa: E402

MC, MULT, LAYERS, FILM = 32, (1, 2), 1, 16  # model_channels, channel_mult, num_res_blocks, CLAP dim
ATTN = (False, True)  # attention at the second level only (AudioLDM: all but the first)


# -- the original architectures, as {key: shape} ----------------------------------------
def resblock(p, c_in, c_out, emb):
    d = {p + "in_layers.0.weight": (c_in,), p + "in_layers.0.bias": (c_in,),
         p + "in_layers.2.weight": (c_out, c_in, 3, 3), p + "in_layers.2.bias": (c_out,),
         p + "emb_layers.1.weight": (c_out, emb), p + "emb_layers.1.bias": (c_out,),
         p + "out_layers.0.weight": (c_out,), p + "out_layers.0.bias": (c_out,),
         p + "out_layers.3.weight": (c_out, c_out, 3, 3), p + "out_layers.3.bias": (c_out,)}
    if c_in != c_out:
        d.update({p + "skip_connection.weight": (c_out, c_in, 1, 1), p + "skip_connection.bias": (c_out,)})
    return d


def spatial_transformer(p, c):
    d = {p + "norm.weight": (c,), p + "norm.bias": (c,), p + "proj_in.weight": (c, c, 1, 1), p + "proj_in.bias": (c,),
         p + "proj_out.weight": (c, c, 1, 1), p + "proj_out.bias": (c,)}
    b = p + "transformer_blocks.0."
    for attn in ("attn1", "attn2"):
        d.update({f"{b}{attn}.to_q.weight": (c, c), f"{b}{attn}.to_k.weight": (c, c), f"{b}{attn}.to_v.weight": (c, c),
                  f"{b}{attn}.to_out.0.weight": (c, c), f"{b}{attn}.to_out.0.bias": (c,)})
    d.update({b + "ff.net.0.proj.weight": (8 * c, c), b + "ff.net.0.proj.bias": (8 * c,),
              b + "ff.net.2.weight": (c, 4 * c), b + "ff.net.2.bias": (c,)})
    for n in (1, 2, 3):
        d.update({f"{b}norm{n}.weight": (c,), f"{b}norm{n}.bias": (c,)})
    return d


def openai_encoder(p, n_tf=1):
    """input_blocks + middle_block (+ time/film embeddings) of the openai UNet."""
    emb = 8 * MC  # time embedding (4 * MC) concatenated with the FiLM embedding
    d = {p + "time_embed.0.weight": (4 * MC, MC), p + "time_embed.0.bias": (4 * MC,),
         p + "time_embed.2.weight": (4 * MC, 4 * MC), p + "time_embed.2.bias": (4 * MC,),
         p + "film_emb.weight": (4 * MC, FILM), p + "film_emb.bias": (4 * MC,),
         p + "input_blocks.0.0.weight": (MC, 8, 3, 3), p + "input_blocks.0.0.bias": (MC,)}
    i, ch, chans = 1, MC, [MC]
    for level, mult in enumerate(MULT):
        for _ in range(LAYERS):
            d.update(resblock(f"{p}input_blocks.{i}.0.", ch, mult * MC, emb))
            ch = mult * MC
            if ATTN[level]:
                for m in range(1, n_tf + 1):
                    d.update(spatial_transformer(f"{p}input_blocks.{i}.{m}.", ch))
            chans.append(ch)
            i += 1
        if level < len(MULT) - 1:
            d.update({f"{p}input_blocks.{i}.0.op.weight": (ch, ch, 3, 3), f"{p}input_blocks.{i}.0.op.bias": (ch,)})
            chans.append(ch)
            i += 1
    d.update(resblock(p + "middle_block.0.", ch, ch, emb))
    for m in range(1, n_tf + 1):
        d.update(spatial_transformer(f"{p}middle_block.{m}.", ch))
    d.update(resblock(f"{p}middle_block.{n_tf + 1}.", ch, ch, emb))
    return d, chans, ch


def openai_unet(p="model.diffusion_model."):
    d, chans, ch = openai_encoder(p)
    i = 0
    for level, mult in reversed(list(enumerate(MULT))):
        for j in range(LAYERS + 1):
            d.update(resblock(f"{p}output_blocks.{i}.0.", ch + chans.pop(), mult * MC, 8 * MC))
            ch = mult * MC
            k = 1
            if ATTN[level]:
                d.update(spatial_transformer(f"{p}output_blocks.{i}.1.", ch))
                k = 2
            if level and j == LAYERS:
                d.update({f"{p}output_blocks.{i}.{k}.conv.weight": (ch, ch, 3, 3), f"{p}output_blocks.{i}.{k}.conv.bias": (ch,)})
            i += 1
    d.update({p + "out.0.weight": (MC,), p + "out.0.bias": (MC,), p + "out.2.weight": (8, MC, 3, 3), p + "out.2.bias": (8,)})
    return d


def release_controlnet(n_tf, p="model.diffusion_model."):
    d, chans, ch = openai_encoder(p + "control_net.", n_tf)
    for i, c in enumerate(chans):
        d.update({f"{p}control_net.zero_convs.{i}.0.weight": (c, c, 1, 1), f"{p}control_net.zero_convs.{i}.0.bias": (c,)})
    d.update({f"{p}control_net.middle_block_out_zero_conv.0.weight": (ch, ch, 1, 1),
              f"{p}control_net.middle_block_out_zero_conv.0.bias": (ch,),
              f"{p}control_net_input_projection_list.0.weight": (8, 1, 3, 1),
              f"{p}control_net_input_projection_list.0.bias": (8,),
              f"{p}control_net_input_projection_list.1.weight": (8, 8, 1, 1),
              f"{p}control_net_input_projection_list.1.bias": (8,)})
    return d


def ldm_resnet(p, c_in, c_out):
    d = {p + "norm1.weight": (c_in,), p + "norm1.bias": (c_in,), p + "conv1.weight": (c_out, c_in, 3, 3),
         p + "conv1.bias": (c_out,), p + "norm2.weight": (c_out,), p + "norm2.bias": (c_out,),
         p + "conv2.weight": (c_out, c_out, 3, 3), p + "conv2.bias": (c_out,)}
    if c_in != c_out:
        d.update({p + "nin_shortcut.weight": (c_out, c_in, 1, 1), p + "nin_shortcut.bias": (c_out,)})
    return d


def ldm_mid(p, c):
    d = {**ldm_resnet(p + "mid.block_1.", c, c), **ldm_resnet(p + "mid.block_2.", c, c)}
    for n in ("norm",):
        d.update({f"{p}mid.attn_1.{n}.weight": (c,), f"{p}mid.attn_1.{n}.bias": (c,)})
    for n in ("q", "k", "v", "proj_out"):
        d.update({f"{p}mid.attn_1.{n}.weight": (c, c, 1, 1), f"{p}mid.attn_1.{n}.bias": (c,)})
    return d


def ldm_vae(p="first_stage_model.", ch=32, mult=(1, 2, 2), z=8):
    d = {p + "encoder.conv_in.weight": (ch, 1, 3, 3), p + "encoder.conv_in.bias": (ch,)}
    c = ch
    for i, m in enumerate(mult):
        d.update(ldm_resnet(f"{p}encoder.down.{i}.block.0.", c, ch * m))
        c = ch * m
        if i < len(mult) - 1:
            d.update({f"{p}encoder.down.{i}.downsample.conv.weight": (c, c, 3, 3),
                      f"{p}encoder.down.{i}.downsample.conv.bias": (c,)})
    d.update(ldm_mid(p + "encoder.", c))
    d.update({p + "encoder.norm_out.weight": (c,), p + "encoder.norm_out.bias": (c,),
              p + "encoder.conv_out.weight": (2 * z, c, 3, 3), p + "encoder.conv_out.bias": (2 * z,),
              p + "decoder.conv_in.weight": (c, z, 3, 3), p + "decoder.conv_in.bias": (c,)})
    d.update(ldm_mid(p + "decoder.", c))
    for i in reversed(range(len(mult))):
        for j in range(2):
            d.update(ldm_resnet(f"{p}decoder.up.{i}.block.{j}.", c, ch * mult[i]))
            c = ch * mult[i]
        if i:
            d.update({f"{p}decoder.up.{i}.upsample.conv.weight": (c, c, 3, 3),
                      f"{p}decoder.up.{i}.upsample.conv.bias": (c,)})
    d.update({p + "decoder.norm_out.weight": (c,), p + "decoder.norm_out.bias": (c,),
              p + "decoder.conv_out.weight": (1, c, 3, 3), p + "decoder.conv_out.bias": (1,),
              p + "quant_conv.weight": (2 * z, 2 * z, 1, 1), p + "quant_conv.bias": (2 * z,),
              p + "post_quant_conv.weight": (z, z, 1, 1), p + "post_quant_conv.bias": (z,)})
    return d


def clap_text(vocab, p="cond_stage_model.model.", h=16, inter=32, pos=40):
    b = p + "text_branch."
    d = {b + "embeddings.word_embeddings.weight": (vocab, h), b + "embeddings.position_embeddings.weight": (pos, h),
         b + "embeddings.token_type_embeddings.weight": (1, h), b + "embeddings.LayerNorm.weight": (h,),
         b + "embeddings.LayerNorm.bias": (h,), b + "pooler.dense.weight": (h, h), b + "pooler.dense.bias": (h,),
         p + "text_projection.0.weight": (FILM, h), p + "text_projection.0.bias": (FILM,),
         p + "text_projection.2.weight": (FILM, FILM), p + "text_projection.2.bias": (FILM,),
         p + "text_transform.sequential.0.weight": (FILM, FILM),  # unused by AudioLDM
         p + "audio_branch.spectrogram_extractor.stft.conv_real.weight": (4, 1, 8)}  # audio branch: not exported
    layer = b + "encoder.layer.0."
    for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
        d.update({f"{layer}{n}.weight": (h, h), f"{layer}{n}.bias": (h,)})
    d.update({layer + "attention.output.LayerNorm.weight": (h,), layer + "attention.output.LayerNorm.bias": (h,),
              layer + "intermediate.dense.weight": (inter, h), layer + "intermediate.dense.bias": (inter,),
              layer + "output.dense.weight": (h, inter), layer + "output.dense.bias": (h,),
              layer + "output.LayerNorm.weight": (h,), layer + "output.LayerNorm.bias": (h,)})
    return d


def hifigan(p="first_stage_model.vocoder.", u=32, kernels=(10, 8, 4, 4, 4)):
    d = {p + "conv_pre.weight_g": (u, 1, 1), p + "conv_pre.weight_v": (u, 64, 7), p + "conv_pre.bias": (u,)}
    c = u
    for i, k in enumerate(kernels):
        d.update({f"{p}ups.{i}.weight": (c, c // 2, k), f"{p}ups.{i}.bias": (c // 2,)})
        c //= 2
        for conv in ("convs1", "convs2"):
            d.update({f"{p}resblocks.{i}.{conv}.0.weight": (c, c, 3), f"{p}resblocks.{i}.{conv}.0.bias": (c,)})
    d.update({p + "conv_post.weight": (1, c, 7), p + "conv_post.bias": (1,)})
    return d


def materialise(shapes: dict, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) * 0.1 for k, s in shapes.items()}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """(audioldm.ckpt, controlnet.pth, tokenizer dir, ckpt tensors, pth tensors) in official form."""
    d = tmp_path_factory.mktemp("official")
    vocab = write_tokenizer(str(d / "tok"))
    ckpt = materialise({**openai_unet(), **ldm_vae(), **clap_text(vocab), **hifigan()}, 1)
    ckpt["scale_factor"] = torch.tensor(0.75)
    ckpt["cond_stage_model.model.text_branch.embeddings.position_ids"] = torch.arange(40)[None]
    pth = materialise(release_controlnet(n_tf=2), 2)
    pth["model.diffusion_model.input_blocks.0.0.weight"] = torch.zeros(MC, 8, 3, 3)  # frozen UNet copy: ignored
    # a Lightning checkpoint: weights under "state_dict", bookkeeping objects beside them
    fake = types.ModuleType("omegaconf.dictconfig")
    fake.DictConfig = type("DictConfig", (), {"__module__": "omegaconf.dictconfig", "__init__": lambda s, v: None})
    saved = {m: sys.modules.get(m) for m in ("omegaconf", "omegaconf.dictconfig")}
    sys.modules.update({"omegaconf": types.ModuleType("omegaconf"), "omegaconf.dictconfig": fake})
    try:
        torch.save({"state_dict": ckpt, "epoch": 7, "hyper_parameters": fake.DictConfig({"a": 1})},
                   d / "audioldm-s-full.ckpt")
    finally:
        for m, mod in saved.items():
            if mod is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = mod
    torch.save(pth, d / "ControlNetstep300000.pth")
    return str(d / "audioldm-s-full.ckpt"), str(d / "ControlNetstep300000.pth"), str(d / "tok"), ckpt, pth


@pytest.fixture(scope="module")
def converted(sources, tmp_path_factory):
    ckpt, pth, tok, _, _ = sources
    out = tmp_path_factory.mktemp("converted") / "audioldm-controlnet"
    summary = convert(ckpt, pth, out, tokenizer=tok)
    return str(out), summary


def _tensors(folder):
    from safetensors.torch import load_file

    out = {}
    for part in ("unet", "controlnet", "vae", "text_encoder", "vocoder"):
        name = "model.safetensors" if part in ("text_encoder", "vocoder") else "diffusion_pytorch_model.safetensors"
        out[part] = load_file(os.path.join(folder, part, name))
    return out


def test_every_source_tensor_lands_once_unchanged(sources, converted):
    _, _, _, ckpt, pth = sources
    got = _tensors(converted[0])
    ignored = ("audio_branch", "text_transform", "position_ids", "weight_g", "weight_v", "scale_factor")
    wanted = {k: v for k, v in ckpt.items() if not any(s in k for s in ignored)}
    wanted.update({k: v for k, v in pth.items() if "control_net" in k})  # not the pth's frozen UNet copy
    by_value = {}
    for k, v in wanted.items():
        by_value.setdefault(v.flatten()[:4].numpy().tobytes(), []).append((k, v))
    used = set()
    for part, tensors in got.items():
        for key, value in tensors.items():
            if key in ("mean", "scale") or key.endswith(("position_ids", "token_type_ids")):
                continue
            if part == "vocoder" and key == "conv_pre.weight":
                continue  # folded from weight_g / weight_v: checked below
            matches = by_value.get(value.flatten()[:4].numpy().tobytes(), [])
            hit = [k for k, v in matches if v.numel() == value.numel() and torch.equal(v.reshape(value.shape), value)]
            assert hit, f"{part}/{key} matches no source tensor"
            used.update(hit)
    assert set(wanted) - used == set(), f"source tensors not converted: {sorted(set(wanted) - used)[:5]}"


@pytest.mark.parametrize("part,key,source", [
    ("unet", "down_blocks.0.resnets.0.conv1.weight", "model.diffusion_model.input_blocks.1.0.in_layers.2.weight"),
    ("unet", "down_blocks.0.downsamplers.0.conv.weight", "model.diffusion_model.input_blocks.2.0.op.weight"),
    ("unet", "down_blocks.1.resnets.0.conv_shortcut.weight", "model.diffusion_model.input_blocks.3.0.skip_connection.weight"),
    ("unet", "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight",
     "model.diffusion_model.input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight"),
    ("unet", "mid_block.resnets.1.time_emb_proj.weight", "model.diffusion_model.middle_block.2.emb_layers.1.weight"),
    ("unet", "up_blocks.0.upsamplers.0.conv.weight", "model.diffusion_model.output_blocks.1.2.conv.weight"),
    ("unet", "up_blocks.1.resnets.1.norm2.bias", "model.diffusion_model.output_blocks.3.0.out_layers.0.bias"),
    ("unet", "class_embedding.weight", "model.diffusion_model.film_emb.weight"),
    ("controlnet", "down_blocks.1.attentions.0.1.proj_out.weight", "model.diffusion_model.control_net.input_blocks.3.2.proj_out.weight"),
    ("controlnet", "mid_block.attentions.1.norm.bias", "model.diffusion_model.control_net.middle_block.2.norm.bias"),
    ("controlnet", "mid_block.resnets.1.conv2.weight", "model.diffusion_model.control_net.middle_block.3.out_layers.3.weight"),
    ("controlnet", "controlnet_down_blocks.3.weight", "model.diffusion_model.control_net.zero_convs.3.0.weight"),
    ("controlnet", "controlnet_mid_block.bias", "model.diffusion_model.control_net.middle_block_out_zero_conv.0.bias"),
    ("controlnet", "rms_embedding.conv.weight", "model.diffusion_model.control_net_input_projection_list.0.weight"),
    ("controlnet", "rms_embedding.zero_conv.weight", "model.diffusion_model.control_net_input_projection_list.1.weight"),
    ("vae", "encoder.down_blocks.1.resnets.0.conv_shortcut.weight", "first_stage_model.encoder.down.1.block.0.nin_shortcut.weight"),
    ("vae", "decoder.up_blocks.0.resnets.1.conv1.weight", "first_stage_model.decoder.up.2.block.1.conv1.weight"),
    ("vae", "decoder.up_blocks.1.upsamplers.0.conv.bias", "first_stage_model.decoder.up.1.upsample.conv.bias"),
    ("vae", "decoder.mid_block.attentions.0.to_out.0.weight", "first_stage_model.decoder.mid.attn_1.proj_out.weight"),
    ("text_encoder", "text_projection.linear2.weight", "cond_stage_model.model.text_projection.2.weight"),
    ("text_encoder", "text_model.encoder.layer.0.attention.self.key.bias",
     "cond_stage_model.model.text_branch.encoder.layer.0.attention.self.key.bias"),
    ("vocoder", "upsampler.3.weight", "first_stage_model.vocoder.ups.3.weight"),
])
def test_keys_map_to_their_diffusers_names(sources, converted, part, key, source):
    _, _, _, ckpt, pth = sources
    src = {**ckpt, **pth}[source]
    got = _tensors(converted[0])[part][key]
    assert torch.equal(got, src.reshape(got.shape))


def test_weight_norm_folded_and_configs_read_off_shapes(sources, converted):
    _, _, _, ckpt, _ = sources
    import json

    v, g = ckpt["first_stage_model.vocoder.conv_pre.weight_v"], ckpt["first_stage_model.vocoder.conv_pre.weight_g"]
    want = v * g / v.flatten(1).norm(dim=1).reshape(-1, 1, 1)
    assert torch.allclose(_tensors(converted[0])["vocoder"]["conv_pre.weight"], want)
    cfg = lambda part: json.load(open(os.path.join(converted[0], part, "config.json")))  # noqa: E731
    assert cfg("unet")["block_out_channels"] == [32, 64] and cfg("unet")["class_embeddings_concat"] is True
    assert cfg("unet")["attention_head_dim"] == [1, 2]  # channels // 32, as AudioLDM's num_head_channels
    assert cfg("controlnet")["transformers_per_attention"] == 2
    assert cfg("vae")["scaling_factor"] == pytest.approx(0.75)
    assert cfg("vocoder")["upsample_rates"] == [5, 4, 2, 2, 2]
    assert converted[1]["controlnet_transformers_per_attention"] == 2


def test_converted_folder_renders(converted):
    from foley_studio.engines.rms2sound.controlnet.engine import ControlNetEngine

    engine = ControlNetEngine(weights=converted[0], steps=1)
    assert engine.available() == (True, "")
    audio = engine.render(sine_envelope(1.0), "rain", 0, 16_000)
    assert len(audio) == 16_000 and np.all(np.isfinite(audio.samples))


def test_without_the_audio_branch_a_note_and_no_audio_encoder(converted):
    out, summary = converted
    assert not os.path.exists(os.path.join(out, "audio_encoder")) and "audio_encoder" not in summary["components"]
    assert len(summary["notes"]) == 1
    note = summary["notes"][0]
    assert "no audio_encoder/ written" in note and "audioldm-s-full.ckpt" in note and "no CLAP audio branch" in note


def test_audio_branch_converts_to_audio_encoder(tmp_path, sources):
    import json

    from safetensors.torch import load_file

    from foley_studio.engines.rms2sound.controlnet.engine import ControlNetEngine
    from tests.test_clap_audio_keymap import official_htsat

    _, pth, tok, ckpt, _ = sources
    htsat, pairs = official_htsat(torch.Generator().manual_seed(5))
    torch.save({"state_dict": {**ckpt, **htsat}}, tmp_path / "with-audio.ckpt")
    out = tmp_path / "w"
    summary = convert(tmp_path / "with-audio.ckpt", pth, out, tokenizer=tok)
    assert summary["notes"] == [] and summary["components"]["audio_encoder"] > 0
    got = load_file(out / "audio_encoder" / "model.safetensors")
    for orig, targets in pairs:  # every official tensor where the keymap test's table says, unchanged
        for target, part in targets:
            assert torch.equal(got[target], htsat[orig] if part is None else htsat[orig][part]), target
    features = json.loads((out / "audio_encoder" / "preprocessor_config.json").read_text())
    assert (features["sampling_rate"], features["fft_window_size"], features["hop_length"]) == (48_000, 1024, 480)
    assert (features["feature_size"], features["frequency_min"], features["frequency_max"]) == (64, 50, 14_000)
    assert "audio_encoder" in json.loads((out / "model_index.json").read_text())["components"]
    # the folder serves audio prompts: its embedding is the UNet's FiLM size
    engine = ControlNetEngine(weights=str(out), audio_prompt=write_sound(tmp_path / "ref.wav", 1.0, 48_000, 3))
    assert engine.available() == (True, "")
    c = engine.components()
    assert engine._condition(c, "", engine._timbre("")).shape == (2, FILM)


def test_crafted_pickle_is_refused(tmp_path, sources):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pth"
    torch.save({"model.diffusion_model.x": torch.zeros(1), "payload": Payload()}, evil)
    with pytest.raises(EngineError, match=r"refused to load.*(system|posix)"):
        convert(sources[0], evil, tmp_path / "out", tokenizer=sources[2])
    assert not marker.exists()


def test_mismatched_controlnet_names_file_and_shapes(tmp_path, sources):
    ckpt, _, tok, _, pth = sources
    bad = dict(pth)
    key = "model.diffusion_model.control_net.input_blocks.1.0.out_layers.3.weight"
    bad[key] = torch.zeros(48, 32, 3, 3)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(EngineError) as err:
        convert(ckpt, tmp_path / "bad.pth", tmp_path / "out", tokenizer=tok)
    msg = str(err.value)
    assert "bad.pth" in msg and "\n" not in msg
    assert "[48, 64]" in msg or "48" in msg


def test_missing_tensor_names_file_and_key(tmp_path, sources):
    _, pth, tok, ckpt, _ = sources
    partial = {k: v for k, v in ckpt.items() if k != "first_stage_model.decoder.conv_out.weight"}
    torch.save({"state_dict": partial}, tmp_path / "partial.ckpt")
    with pytest.raises(EngineError) as err:
        convert(tmp_path / "partial.ckpt", pth, tmp_path / "out", tokenizer=tok)
    msg = str(err.value)
    assert "partial.ckpt" in msg and "decoder.conv_out.weight" in msg and "\n" not in msg


def test_missing_inputs_and_tokenizer(tmp_path, sources, monkeypatch):
    ckpt, pth, _, _, _ = sources
    with pytest.raises(EngineError, match="nope.ckpt: file not found"):
        convert(tmp_path / "nope.ckpt", pth, tmp_path / "out")
    monkeypatch.setattr("foley_studio.convert_weights.TOKENIZER_CACHE_IDS", ("no-such-org/no-such-tokenizer",))
    with pytest.raises(EngineError, match="--tokenizer DIR"):
        convert(ckpt, pth, tmp_path / "out")


def test_cli_functions(tmp_path, sources, monkeypatch, capsys):
    import argparse

    ckpt, pth, tok, _, _ = sources
    parser = argparse.ArgumentParser(prog="foley-studio")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true")
    add_convert_parser(parser.add_subparsers(dest="command"), [common])
    out = tmp_path / "w"
    (out / "junk").mkdir(parents=True)
    args = parser.parse_args(["convert-weights", ckpt, pth, "-o", str(out), "--tokenizer", tok])
    with pytest.raises(OutputError, match="not empty"):
        run_convert(args)
    args = parser.parse_args(["convert-weights", ckpt, pth, "-o", str(out), "--tokenizer", tok, "--overwrite"])
    assert run_convert(args) == 0
    assert "wrote" in capsys.readouterr().out
    monkeypatch.setenv("FOLEY_STUDIO_WEIGHTS", str(tmp_path / "env"))
    args = parser.parse_args(["convert-weights", ckpt, pth, "--tokenizer", tok, "-q"])
    assert run_convert(args) == 0
    assert "convert-weights: note: no audio_encoder/ written" in capsys.readouterr().err  # even with -q
    assert (tmp_path / "env" / "audioldm-controlnet" / "unet" / "config.json").is_file()
