"""Key mapping from the official checkpoints to the diffusers-style weights folder.

Sources (key names and shapes, read from the originals): AudioLDM's Lightning checkpoint
(`audioldm-s-full.ckpt`: model.diffusion_model.* openai-style UNet, first_stage_model.*
LDM VAE with its HiFi-GAN under first_stage_model.vocoder.*, cond_stage_model.model.text_*
CLAP text branch) and Video-Foley's `ControlNetstep300000.pth` (the LatentDiffusion state
dict: ...diffusion_model.control_net.* copy of the encoder with zero_convs and
middle_block_out_zero_conv, ...diffusion_model.control_net_input_projection_list.{0,1}).

Each function takes the {key: tensor} of one source, returns (config, state dict) for the
target class, and derives every size it can from tensor shapes, so the same code maps the
real checkpoints and the tiny ones the tests build. Values are never changed, except for
layouts: 1x1-conv attention weights become linear, weight-normed convs are folded.
"""

from __future__ import annotations

import re
from typing import Any

UNET = "model.diffusion_model."
VAE = "first_stage_model."
VOCODER = "first_stage_model.vocoder."
CLAP_TEXT = "cond_stage_model.model.text_"
CONTROL = "control_net."
RMS_PROJECTION = "control_net_input_projection_list."
HEAD_CHANNELS = 32  # AudioLDM's num_head_channels: heads = channels // 32
HOP = 160  # HiFi-GAN samples per mel frame
VAE_ATTENTION = (("norm.", "group_norm."), ("q.", "to_q."), ("k.", "to_k."), ("v.", "to_v."),
                 ("proj_out.", "to_out.0."))
KNOWN_VOCODER_RATES = {(16, 16, 8, 4, 4): (5, 4, 2, 2, 2)}  # AudioLDM 16 kHz HiFi-GAN

RESNET = (("in_layers.0.", "norm1."), ("in_layers.2.", "conv1."), ("emb_layers.1.", "time_emb_proj."),
          ("out_layers.0.", "norm2."), ("out_layers.3.", "conv2."), ("skip_connection.", "conv_shortcut."))


class MappingError(ValueError):
    """A source lacks a tensor or has one of an unexpected shape; the message says which."""


def with_prefix(sd: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def after(sd: dict[str, Any], marker: str) -> dict[str, Any]:
    """Keys holding `marker` as a whole dotted segment, cut after it (any prefix before)."""
    out = {}
    for k, v in sd.items():
        i = k.find(marker)
        if i >= 0 and (i == 0 or k[i - 1] == "."):
            out[k[i + len(marker):]] = v
    return out


def _need(sd: dict[str, Any], key: str, what: str) -> Any:
    if key not in sd:
        raise MappingError(f"{what} lacks {key}")
    return sd[key]


def _move(src: dict, dst: dict, old: str, new: str, renames=()) -> None:
    """Copy every src key under `old` to `new`, renaming inner parts."""
    for k, v in src.items():
        if k.startswith(old):
            rest = k[len(old):]
            for a, b in renames:
                if rest.startswith(a):
                    rest = b + rest[len(a):]
            dst[new + rest] = v


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _indices(sd: dict, pattern: str) -> list[int]:
    found = {int(m.group(1)) for k in sd for m in [re.match(pattern, k)] if m}
    return sorted(found)


def encoder_layout(sd: dict, what: str) -> dict[str, Any]:
    """Levels of an openai-style encoder (input_blocks / middle_block) read off its keys."""
    blocks = _indices(sd, r"input_blocks\.(\d+)\.")
    if not blocks or blocks[0] != 0:
        raise MappingError(f"{what} lacks input_blocks.0.0.weight")
    levels: list[list[int]] = [[]]
    for i in blocks[1:]:
        if f"input_blocks.{i}.0.op.weight" in sd:
            levels.append([])
        else:
            levels[-1].append(i)
    per_level = {len(lv) for lv in levels}
    if len(per_level) != 1 or 0 in per_level:
        raise MappingError(f"{what}: levels have {sorted(per_level)} resnets; expected the same number each")
    channels = [int(_need(sd, f"input_blocks.{lv[0]}.0.out_layers.3.weight", what).shape[0]) for lv in levels]
    subs = {i: _indices(sd, rf"input_blocks\.{i}\.(\d+)\.") for lv in levels for i in lv}
    attention = [len(subs[lv[0]]) > 1 for lv in levels]
    n_tf = {len(subs[i]) - 1 for i in subs if len(subs[i]) > 1} or {1}
    if len(n_tf) != 1:
        raise MappingError(f"{what}: attention levels hold {sorted(n_tf)} transformers; expected the same number")
    film = _need(sd, "film_emb.weight", what)
    temb = int(_need(sd, "time_embed.0.weight", what).shape[0])
    emb_in = int(_need(sd, f"input_blocks.{levels[0][0]}.0.emb_layers.1.weight", what).shape[1])
    return {
        "levels": levels, "channels": channels, "layers": len(levels[0]), "attention": attention,
        "transformers": n_tf.pop(), "in_channels": int(sd["input_blocks.0.0.weight"].shape[1]),
        "film_dim": int(film.shape[1]), "concat": emb_in == 2 * temb,
        "heads": [max(1, c // HEAD_CHANNELS) for c in channels],
    }


def _encoder(sd: dict, lay: dict, out: dict, attn_key) -> None:
    """input_blocks / middle_block -> down_blocks / mid_block. attn_key(b, j, m) names a transformer."""
    _move(sd, out, "time_embed.0.", "time_embedding.linear_1.")
    _move(sd, out, "time_embed.2.", "time_embedding.linear_2.")
    _move(sd, out, "film_emb.", "class_embedding.")
    _move(sd, out, "input_blocks.0.0.", "conv_in.")
    for b, level in enumerate(lay["levels"]):
        for j, i in enumerate(level):
            _move(sd, out, f"input_blocks.{i}.0.", f"down_blocks.{b}.resnets.{j}.", RESNET)
            for m in range(1, lay["transformers"] + 1 if lay["attention"][b] else 1):
                _move(sd, out, f"input_blocks.{i}.{m}.", attn_key(b, j, m - 1))
        if b + 1 < len(lay["levels"]):
            _move(sd, out, f"input_blocks.{level[-1] + 1}.0.op.", f"down_blocks.{b}.downsamplers.0.conv.")
    n = lay["transformers"]
    _move(sd, out, "middle_block.0.", "mid_block.resnets.0.", RESNET)
    for m in range(n):
        _move(sd, out, f"middle_block.{m + 1}.", attn_key(None, None, m))
    _move(sd, out, f"middle_block.{n + 1}.", "mid_block.resnets.1.", RESNET)


def unet(sd_all: dict[str, Any]) -> tuple[dict, dict]:
    """AudioLDM's openai UNet (model.diffusion_model.*) -> UNet2DConditionModel."""
    sd = with_prefix(sd_all, UNET)
    sd = {k: v for k, v in sd.items() if not k.startswith(("control_net.", "control_net_input"))}
    what = "the AudioLDM checkpoint's UNet (model.diffusion_model.*)"
    if not sd:
        raise MappingError(f"{what} is absent: no key starts with {UNET}")
    lay = encoder_layout(sd, what)
    if lay["transformers"] != 1:
        raise MappingError(f"{what} has {lay['transformers']} transformers per level; AudioLDM-S has one")
    out: dict[str, Any] = {}
    _encoder(sd, lay, out, lambda b, j, m: f"down_blocks.{b}.attentions.{j}." if b is not None
             else "mid_block.attentions.0.")
    _move(sd, out, "out.0.", "conv_norm_out.")
    _move(sd, out, "out.2.", "conv_out.")
    n_levels, per = len(lay["channels"]), lay["layers"] + 1
    for i in _indices(sd, r"output_blocks\.(\d+)\."):
        b, j = divmod(i, per)
        attention = lay["attention"][n_levels - 1 - b]
        _move(sd, out, f"output_blocks.{i}.0.", f"up_blocks.{b}.resnets.{j}.", RESNET)
        if attention:
            _move(sd, out, f"output_blocks.{i}.1.", f"up_blocks.{b}.attentions.{j}.")
        up = 2 if attention else 1
        if j == per - 1 and b < n_levels - 1:
            _move(sd, out, f"output_blocks.{i}.{up}.conv.", f"up_blocks.{b}.upsamplers.0.conv.")
    ch = lay["channels"]
    down = ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in lay["attention"]]
    config = {
        "sample_size": 128, "in_channels": lay["in_channels"],
        "out_channels": int(_need(sd, "out.2.weight", what).shape[0]),
        "down_block_types": down,
        "up_block_types": [t.replace("Down", "Up") for t in reversed(down)],
        "block_out_channels": ch, "layers_per_block": lay["layers"], "cross_attention_dim": ch,
        "attention_head_dim": lay["heads"], "class_embed_type": "simple_projection",
        "projection_class_embeddings_input_dim": lay["film_dim"], "class_embeddings_concat": lay["concat"],
    }
    return config, out


def controlnet(sd_all: dict[str, Any], unet_config: dict) -> tuple[dict, dict]:
    """Video-Foley's ControlNetForAudioLDM + RMS input projection -> RMSControlNet."""
    sd = after(sd_all, CONTROL)
    what = "the ControlNet checkpoint (*control_net.*)"
    if not sd:
        raise MappingError(f"{what} is absent: no key holds '{CONTROL}'")
    lay = encoder_layout(sd, what)
    out: dict[str, Any] = {}
    _encoder(sd, lay, out, lambda b, j, m: f"down_blocks.{b}.attentions.{j}.{m}." if b is not None
             else f"mid_block.attentions.{m}.")
    for i in _indices(sd, r"zero_convs\.(\d+)\."):
        _move(sd, out, f"zero_convs.{i}.0.", f"controlnet_down_blocks.{i}.")
    _move(sd, out, "middle_block_out_zero_conv.0.", "controlnet_mid_block.")
    proj = after(sd_all, RMS_PROJECTION)
    _move(proj, out, "0.", "rms_embedding.conv.")
    _move(proj, out, "1.", "rms_embedding.zero_conv.")
    conv = _need(proj, "0.weight", "the ControlNet checkpoint's RMS projection (control_net_input_projection_list)")
    for key, ours, theirs in (("block_out_channels", lay["channels"], unet_config["block_out_channels"]),
                              ("layers_per_block", lay["layers"], unet_config["layers_per_block"]),
                              ("in_channels", lay["in_channels"], unet_config["in_channels"]),
                              ("class embedding input", lay["film_dim"],
                               unet_config["projection_class_embeddings_input_dim"])):
        if _plain(ours) != _plain(theirs):
            raise MappingError(f"{what}: {key} {ours} does not match the AudioLDM UNet's {theirs}")
    config = {
        "in_channels": lay["in_channels"], "block_out_channels": lay["channels"], "layers_per_block": lay["layers"],
        "attention_levels": lay["attention"], "num_attention_heads": list(unet_config["attention_head_dim"]),
        "transformers_per_attention": lay["transformers"], "class_embed_input_dim": lay["film_dim"],
        "rms_kernel": [int(conv.shape[2]), int(conv.shape[3])], "rms_stride": [4, 1],
    }
    return config, out


def vae(sd_all: dict[str, Any]) -> tuple[dict, dict]:
    """The LDM autoencoder (first_stage_model.*, vocoder excluded) -> AutoencoderKL."""
    sd = {k: v for k, v in with_prefix(sd_all, VAE).items() if not k.startswith("vocoder.")}
    what = "the AudioLDM checkpoint's VAE (first_stage_model.*)"
    if not sd:
        raise MappingError(f"{what} is absent: no key starts with {VAE}")
    out: dict[str, Any] = {}
    for part in ("encoder", "decoder"):
        for a, b in (("conv_in", "conv_in"), ("conv_out", "conv_out"), ("norm_out", "conv_norm_out")):
            _move(sd, out, f"{part}.{a}.", f"{part}.{b}.")
        for i in (1, 2):
            _move(sd, out, f"{part}.mid.block_{i}.", f"{part}.mid_block.resnets.{i - 1}.")
        for a, b in VAE_ATTENTION:
            for k, v in sd.items():
                if k.startswith(f"{part}.mid.attn_1.{a}"):
                    v = v.reshape(v.shape[0], -1) if v.dim() == 4 else v  # 1x1 conv -> linear
                    out[f"{part}.mid_block.attentions.0.{b}{k.rsplit('.', 1)[1]}"] = v
    downs = _indices(sd, r"encoder\.down\.(\d+)\.")
    for i in downs:
        _move(sd, out, f"encoder.down.{i}.block.", f"encoder.down_blocks.{i}.resnets.")
        _move(sd, out, f"encoder.down.{i}.downsample.conv.", f"encoder.down_blocks.{i}.downsamplers.0.conv.")
    ups = _indices(sd, r"decoder\.up\.(\d+)\.")
    for i in ups:
        j = len(ups) - 1 - i
        _move(sd, out, f"decoder.up.{i}.block.", f"decoder.up_blocks.{j}.resnets.")
        _move(sd, out, f"decoder.up.{i}.upsample.conv.", f"decoder.up_blocks.{j}.upsamplers.0.conv.")
    out = {k.replace(".nin_shortcut.", ".conv_shortcut."): v for k, v in out.items()}
    for q in ("quant_conv.", "post_quant_conv."):
        _move(sd, out, q, q)
    if "scale_factor" not in sd_all:
        raise MappingError("the AudioLDM checkpoint lacks scale_factor (the latent scaling learnt in training)")
    ch = [int(_need(sd, f"encoder.down.{i}.block.0.conv2.weight", what).shape[0]) for i in downs]
    latent = int(_need(sd, "post_quant_conv.weight", what).shape[0])
    if int(_need(sd, "encoder.conv_out.weight", what).shape[0]) != 2 * latent:
        raise MappingError(f"{what}: z_channels differ from the latent channels ({latent}); diffusers needs them equal")
    config = {
        "in_channels": int(_need(sd, "encoder.conv_in.weight", what).shape[1]),
        "out_channels": int(_need(sd, "decoder.conv_out.weight", what).shape[0]),
        "down_block_types": ["DownEncoderBlock2D"] * len(ch), "up_block_types": ["UpDecoderBlock2D"] * len(ch),
        "block_out_channels": ch, "layers_per_block": len(_indices(sd, r"encoder\.down\.0\.block\.(\d+)\.")),
        "latent_channels": latent, "sample_size": 256, "scaling_factor": float(sd_all["scale_factor"]),
    }
    return config, out


def clap_text(sd_all: dict[str, Any]) -> tuple[dict, dict]:
    """CLAP's RoBERTa text branch + projection (cond_stage_model.model.text_*) -> ClapTextModelWithProjection."""
    sd = with_prefix(sd_all, CLAP_TEXT)
    what = "the AudioLDM checkpoint's CLAP text branch (cond_stage_model.model.text_*)"
    if not sd:
        raise MappingError(f"{what} is absent: no key starts with {CLAP_TEXT}")
    out: dict[str, Any] = {}
    for k, v in sd.items():
        if k.startswith("branch.") and not k.endswith(("position_ids", "token_type_ids")):
            out["text_model." + k[len("branch."):]] = v
    _move(sd, out, "projection.0.", "text_projection.linear1.")
    _move(sd, out, "projection.2.", "text_projection.linear2.")
    words = _need(sd, "branch.embeddings.word_embeddings.weight", what)
    hidden = int(words.shape[1])
    config = {
        "vocab_size": int(words.shape[0]), "hidden_size": hidden,
        "num_hidden_layers": len(_indices(sd, r"branch\.encoder\.layer\.(\d+)\.")),
        "num_attention_heads": max(1, hidden // 64),
        "intermediate_size": int(_need(sd, "branch.encoder.layer.0.intermediate.dense.weight", what).shape[0]),
        "max_position_embeddings": int(_need(sd, "branch.embeddings.position_embeddings.weight", what).shape[0]),
        "type_vocab_size": int(_need(sd, "branch.embeddings.token_type_embeddings.weight", what).shape[0]),
        "projection_dim": int(_need(sd, "projection.2.weight", what).shape[0]),
        "layer_norm_eps": 1e-5, "hidden_act": "gelu", "projection_hidden_act": "relu",
    }
    return config, out


def _fold_weight_norm(sd: dict[str, Any]) -> dict[str, Any]:
    """Replace weight_g / weight_v pairs by the weight they stand for (norm over all but dim 0)."""
    out = {k: v for k, v in sd.items() if not k.endswith((".weight_g", ".weight_v"))}
    for k in sd:
        if k.endswith(".weight_v"):
            base = k[: -len("_v")]
            v, g = sd[k], sd[base + "_g"]
            norm = v.flatten(1).norm(dim=1).reshape(-1, *[1] * (v.dim() - 1))
            out[base] = v * (g / norm)
    return out


def vocoder(sd_all: dict[str, Any]) -> tuple[dict, dict]:
    """AudioLDM's HiFi-GAN (first_stage_model.vocoder.*) -> SpeechT5HifiGan."""
    import torch

    sd = _fold_weight_norm(with_prefix(sd_all, VOCODER))
    what = "the AudioLDM checkpoint's vocoder (first_stage_model.vocoder.*)"
    if not sd:
        raise MappingError(f"{what} is absent: no key starts with {VOCODER}")
    out = {("upsampler." + k[4:] if k.startswith("ups.") else k): v for k, v in sd.items()}
    pre = _need(sd, "conv_pre.weight", what)
    ups = _indices(sd, r"ups\.(\d+)\.")
    kernels = tuple(int(sd[f"ups.{i}.weight"].shape[2]) for i in ups)
    rates = KNOWN_VOCODER_RATES.get(kernels, tuple(k // 2 for k in kernels))
    if int(torch.tensor(rates).prod()) != HOP:
        raise MappingError(f"{what}: cannot tell the upsampling rates of kernels {list(kernels)} (need {HOP}x)")
    n_res = len(_indices(sd, r"resblocks\.(\d+)\."))
    n_kernels = max(1, n_res // max(1, len(ups)))
    res_kernels = [int(_need(sd, f"resblocks.{j}.convs1.0.weight", what).shape[2]) for j in range(n_kernels)]
    n_convs = len(_indices(sd, r"resblocks\.0\.convs1\.(\d+)\."))
    dilations = [list((1, 3, 5, 7, 9)[:n_convs])] * n_kernels
    config = {
        "model_in_dim": int(pre.shape[1]), "sampling_rate": 16000, "upsample_initial_channel": int(pre.shape[0]),
        "upsample_rates": list(rates), "upsample_kernel_sizes": list(kernels), "resblock_kernel_sizes": res_kernels,
        "resblock_dilation_sizes": dilations, "normalize_before": False,
    }
    out["mean"] = torch.zeros(config["model_in_dim"])
    out["scale"] = torch.ones(config["model_in_dim"])
    return config, out
