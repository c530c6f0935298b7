"""Key mapping of CLAP's HTSAT audio branch (AudioLDM checkpoint) -> transformers' ClapAudioModelWithProjection.

AudioLDM-S stores its whole CLAP model under `cond_stage_model.model.`: the text branch
(keymap.clap_text) and the audio branch, an HTSAT-tiny Swin transformer (`audio_branch.*`)
plus its projection MLP (`audio_projection.0/.2`). Names and shapes were read from LAION
CLAP's htsat.py / AudioLDM's audioldm/clap/open_clip/htsat.py (the original modules) and
from transformers' modeling_clap.py (the target); the renames agree with the table in
transformers' convert_clap_original_pytorch_to_hf.py. The mapping:

    audio_branch.bn0.*                          -> audio_encoder.batch_norm.*
    audio_branch.patch_embed.proj|norm.*        -> audio_encoder.patch_embed.proj|norm.*
    ...layers.i.blocks.j.norm1|norm2.*          -> ...layernorm_before|layernorm_after.*
    ...layers.i.blocks.j.attn.qkv.*             -> ...attention.self.query|key|value.* (thirds of dim 0)
    ...layers.i.blocks.j.attn.proj.*            -> ...attention.output.dense.*
    ...attn.relative_position_bias_table|index  -> ...attention.self.relative_position_bias_table|index
    ...layers.i.blocks.j.mlp.fc1|fc2.*          -> ...intermediate.dense|output.dense.*
    audio_branch.layers.i.downsample.*          -> audio_encoder.layers.i.downsample.* (same names)
    audio_branch.norm.*                         -> audio_encoder.norm.*
    audio_projection.0|2.*                      -> audio_projection.linear1|linear2.*

Dropped (DROPPED): the STFT / log-mel kernels (ClapFeatureExtractor computes the features),
the AudioSet classifier (tscam_conv, head: not part of the embedding), the shifted-window
masks (transformers rebuilds them) and audio_transform (a contrastive-training head). A
fused HTSAT (mel_conv2d / fusion_model keys) is not what AudioLDM-S uses: `absent_reason`
reports it so the converter skips the branch instead of writing a model that cannot run.

Sizes come from tensor shapes, so the same code maps the real checkpoint and the tiny ones
the tests build. Values are never changed; qkv is only split.
"""

from __future__ import annotations

import math
import re
from typing import Any

from foley_studio.engines.rms2sound.controlnet.keymap import MappingError, _indices, _need, with_prefix

CLAP = "cond_stage_model.model."
BRANCH = CLAP + "audio_branch."
PROJECTION = CLAP + "audio_projection."
ENCODER = "audio_model.audio_encoder."
WHAT = "the AudioLDM checkpoint's CLAP audio branch (cond_stage_model.model.audio_branch.*)"
# HTSAT's spectrogram "image" side (tiny, base and large all use 256); read off the
# shifted-window masks when the checkpoint has them
DEFAULT_SPEC_SIZE = 256
# AudioLDM-S's CLAP audio front end (HTSAT-tiny.json audio_cfg): 48 kHz, 1024-point STFT, hop
# 480, 64 mel bands 50 Hz..14 kHz, 10 s clips. Short clips are repeated then padded
# ("repeatpad", as AudioLDM embeds audio); long ones are cropped by the caller, not at random.
FEATURES = {"sampling_rate": 48_000, "fft_window_size": 1024, "hop_length": 480, "max_length_s": 10,
            "frequency_min": 50, "frequency_max": 14_000, "truncation": "rand_trunc", "padding": "repeatpad"}

DROPPED = ("spectrogram_extractor.", "logmel_extractor.", "tscam_conv.", "head.")
FUSION = ("patch_embed.mel_conv2d.", "patch_embed.fusion_model.", "mel_conv1d.", "fusion_model.")
BLOCK = (("norm1.", "layernorm_before."), ("norm2.", "layernorm_after."),
         ("mlp.fc1.", "intermediate.dense."), ("mlp.fc2.", "output.dense."),
         ("attn.proj.", "attention.output.dense."),
         ("attn.relative_position_bias_table", "attention.self.relative_position_bias_table"),
         ("attn.relative_position_index", "attention.self.relative_position_index"))
QKV = ("query", "key", "value")
_BLOCK_KEY = re.compile(r"(layers\.\d+\.blocks\.\d+\.)(.*)")


def absent_reason(sd_all: dict[str, Any]) -> str:
    """"" when the checkpoint holds an unfused HTSAT audio branch with its projection, else why not."""
    branch = with_prefix(sd_all, BRANCH)
    if not any(k.startswith("patch_embed.proj.") for k in branch):
        return "it has no CLAP audio branch (no cond_stage_model.model.audio_branch.patch_embed.*)"
    if not any(k.startswith(PROJECTION) for k in sd_all):
        return "its CLAP audio branch has no projection (cond_stage_model.model.audio_projection.*)"
    fused = [k for k in branch if k.startswith(FUSION)]
    if fused:
        return f"its CLAP audio branch is a fused HTSAT ({BRANCH}{fused[0]}), which AudioLDM-S does not use"
    return ""


def _window(table_rows: int, key: str) -> int:
    """Swin window side from its relative-position table: (2w - 1)^2 rows."""
    side = math.isqrt(table_rows)
    if side * side != table_rows or side % 2 == 0:
        raise MappingError(f"{WHAT}: {key} has {table_rows} rows, not (2 * window - 1)^2")
    return (side + 1) // 2


def clap_audio(sd_all: dict[str, Any]) -> tuple[dict, dict]:
    """(ClapAudioConfig kwargs, state dict for ClapAudioModelWithProjection)."""
    sd = with_prefix(sd_all, BRANCH)
    if not sd:
        raise MappingError(f"{WHAT} is absent: no key starts with {BRANCH}")
    out: dict[str, Any] = {}
    for key, value in sd.items():
        if key.startswith(DROPPED) or key.endswith(".attn_mask"):
            continue
        if key.startswith("bn0."):
            out[ENCODER + "batch_norm." + key[4:]] = value
            continue
        m = _BLOCK_KEY.fullmatch(key)
        if m is None:  # patch_embed, downsample, final norm: same names (unknown keys fail the strict load)
            out[ENCODER + key] = value
            continue
        block, rest = m.groups()
        if rest.startswith("attn.qkv."):
            if value.shape[0] % 3:
                raise MappingError(f"{WHAT}: {BRANCH}{key} has {value.shape[0]} rows, not 3 equal parts")
            for name, part in zip(QKV, value.chunk(3, dim=0)):
                out[f"{ENCODER}{block}attention.self.{name}.{rest.rsplit('.', 1)[1]}"] = part
            continue
        for a, b in BLOCK:
            if rest.startswith(a):
                rest = b + rest[len(a):]
                break
        out[ENCODER + block + rest] = value
    proj = with_prefix(sd_all, PROJECTION)
    for i, name in (("0", "linear1"), ("2", "linear2")):
        for k, v in proj.items():
            if k.startswith(i + "."):
                out[f"audio_projection.{name}.{k[2:]}"] = v
    return _config(sd, proj), out


def _config(sd: dict[str, Any], proj: dict[str, Any]) -> dict[str, Any]:
    patch = _need(sd, "patch_embed.proj.weight", WHAT)
    embed = int(patch.shape[0])
    layers = _indices(sd, r"layers\.(\d+)\.")
    if not layers or layers != list(range(len(layers))):
        raise MappingError(f"{WHAT} lacks {BRANCH}layers.0.blocks.0.*")
    depths = [len(_indices(sd, rf"layers\.{i}\.blocks\.(\d+)\.")) for i in layers]
    tables = [_need(sd, f"layers.{i}.blocks.0.attn.relative_position_bias_table", WHAT) for i in layers]
    window = _window(int(tables[0].shape[0]), f"{BRANCH}layers.0.blocks.0.attn.relative_position_bias_table")
    stride = [int(s) for s in patch.shape[2:]]  # HTSAT's patches do not overlap: stride = kernel
    spec = DEFAULT_SPEC_SIZE
    mask = sd.get("layers.0.blocks.1.attn_mask")
    if mask is not None:  # one mask per window of the first stage: (side / window)^2 of them
        spec = window * math.isqrt(int(mask.shape[0])) * stride[0]
    width = embed * 2 ** (len(layers) - 1)
    what = "the CLAP audio projection (cond_stage_model.model.audio_projection)"
    hidden = int(_need(proj, "0.weight", what).shape[1])
    if hidden != width:
        raise MappingError(f"{WHAT}: audio_projection.0 takes {hidden} features, the last stage gives {width}")
    return {
        "patch_embeds_hidden_size": embed, "patch_embed_input_channels": int(patch.shape[1]),
        "patch_size": stride[0], "patch_stride": stride, "depths": depths, "num_hidden_layers": len(depths),
        "num_attention_heads": [int(t.shape[1]) for t in tables], "window_size": window,
        "mlp_ratio": int(_need(sd, "layers.0.blocks.0.mlp.fc1.weight", WHAT).shape[0]) / embed,
        "qkv_bias": "layers.0.blocks.0.attn.qkv.bias" in sd,
        "enable_patch_layer_norm": "patch_embed.norm.weight" in sd,
        "num_mel_bins": int(_need(sd, "bn0.weight", WHAT).shape[0]), "spec_size": spec,
        "hidden_size": hidden, "projection_dim": int(_need(proj, "2.weight", what).shape[0]),
        "enable_fusion": False, "layer_norm_eps": 1e-5, "hidden_act": "gelu", "projection_hidden_act": "relu",
        "flatten_patch_embeds": True,
    }


def feature_extractor_config(audio_config: dict[str, Any]) -> dict[str, Any]:
    """ClapFeatureExtractor kwargs that fit the converted branch."""
    return {**FEATURES, "feature_size": int(audio_config["num_mel_bins"])}
