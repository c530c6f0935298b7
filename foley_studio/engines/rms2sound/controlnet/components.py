"""The weights folder of the ControlNet engine: its layout, its checks, and loading it.

A diffusers-style folder, as `foley-studio convert-weights` writes it:

    unet/          UNet2DConditionModel    config.json, diffusion_pytorch_model.safetensors
    controlnet/    RMSControlNet (ours)    config.json, diffusion_pytorch_model.safetensors
    vae/           AutoencoderKL           config.json, diffusion_pytorch_model.safetensors
    vocoder/       SpeechT5HifiGan         config.json, model.safetensors
    text_encoder/  ClapTextModelWithProjection  config.json, model.safetensors
    tokenizer/     RoBERTa tokenizer       tokenizer.json or vocab.json + merges.txt
    scheduler/     DDIMScheduler           scheduler_config.json
    audio_encoder/ ClapAudioModelWithProjection  optional: audio prompts (audio_prompt.py)

Only safetensors are read (no pickle), always with local_files_only=True. The layout and
config checks read JSON only, so `available()` stays cheap and never imports torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from foley_studio.core.errors import EngineError
from foley_studio.engines.weights import check_loading_info, describe_load_error, missing_files

DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors",)
LAYOUT: dict[str, tuple[tuple[str, ...], ...]] = {
    "unet": (("config.json",), DIFFUSERS_WEIGHTS),
    "controlnet": (("config.json",), DIFFUSERS_WEIGHTS),
    "vae": (("config.json",), DIFFUSERS_WEIGHTS),
    "vocoder": (("config.json",), ("model.safetensors",)),
    "text_encoder": (("config.json",), ("model.safetensors",)),
    "tokenizer": (("tokenizer.json", "vocab.json"),),
    "scheduler": (("scheduler_config.json",),),
}
COND_FRAMES = 1024  # RMS condition frames per 10.24 s window (DESIGN.md)
LATENT_FRAMES = 256  # latent time frames per window


def _config(root: str, part: str, name: str = "config.json") -> dict[str, Any]:
    path = os.path.join(root, part, name)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise EngineError(f"unreadable config ({exc.__class__.__name__}: {exc})", path) from None
    if not isinstance(data, dict):
        raise EngineError("config is not a JSON object", path)
    return data


def _need(cfg: dict, key: str, where: str) -> Any:
    if key not in cfg:
        raise EngineError(f"config lacks '{key}'", where)
    return cfg[key]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def check_configs(root: str) -> None:
    """Raise EngineError naming the first pair of components whose configs disagree."""
    unet, cnet, vae = _config(root, "unet"), _config(root, "controlnet"), _config(root, "vae")
    voc, text = _config(root, "vocoder"), _config(root, "text_encoder")
    at = lambda part: os.path.join(root, part, "config.json")  # noqa: E731
    for key, theirs in (("block_out_channels", "block_out_channels"), ("layers_per_block", "layers_per_block"),
                        ("in_channels", "in_channels"),
                        ("projection_class_embeddings_input_dim", "class_embed_input_dim")):
        a, b = _plain(_need(unet, key, at("unet"))), _plain(_need(cnet, theirs, at("controlnet")))
        if a != b:
            raise EngineError(f"{theirs} {b} does not match unet/config.json {key} {a}", at("controlnet"))
    if _need(vae, "latent_channels", at("vae")) != unet["in_channels"]:
        raise EngineError(f"latent_channels {vae['latent_channels']} does not match unet in_channels "
                          f"{unet['in_channels']}", at("vae"))
    proj = text.get("projection_dim", text.get("text_config", {}).get("projection_dim"))
    if proj != unet["projection_class_embeddings_input_dim"]:
        raise EngineError(f"projection_dim {proj} does not match unet projection_class_embeddings_input_dim "
                          f"{unet['projection_class_embeddings_input_dim']}", at("text_encoder"))
    factor = 2 ** (len(_need(vae, "block_out_channels", at("vae"))) - 1)
    if COND_FRAMES // factor != LATENT_FRAMES:
        raise EngineError(f"a VAE that downsamples by {factor} gives {COND_FRAMES // factor} latent frames per "
                          f"10.24 s; the RMS-ControlNet needs {LATENT_FRAMES}", at("vae"))
    kernel, stride = cnet.get("rms_kernel", (3, 1)), cnet.get("rms_stride", (4, 1))
    if (COND_FRAMES - kernel[0]) // stride[0] + 1 != LATENT_FRAMES:
        raise EngineError(f"rms_kernel {kernel} / rms_stride {stride} do not map {COND_FRAMES} condition "
                          f"frames to {LATENT_FRAMES}", at("controlnet"))
    mels = _need(voc, "model_in_dim", at("vocoder"))
    if mels % factor:
        raise EngineError(f"model_in_dim {mels} (mel bins) is not a multiple of the VAE factor {factor}",
                          at("vocoder"))


def folder_problem(root: str) -> str:
    """"" when the folder looks complete and consistent, else what is wrong (one line)."""
    if not os.path.isdir(root):
        return f"weights folder {root} not found"
    missing = missing_files(root, LAYOUT)
    if missing:
        return f"weights folder {root} is missing {', '.join(missing)}"
    try:
        check_configs(root)
    except EngineError as exc:
        return str(exc)
    return ""


def latent_bins(root: str) -> int:
    """Latent frequency bins: mel bins / VAE downsampling factor (16 for AudioLDM)."""
    vae, voc = _config(root, "vae"), _config(root, "vocoder")
    return int(voc["model_in_dim"]) // 2 ** (len(vae["block_out_channels"]) - 1)


@dataclass
class Components:
    unet: Any
    controlnet: Any
    vae: Any
    vocoder: Any
    text_encoder: Any
    tokenizer: Any
    scheduler_config: dict
    device: Any
    dtype: Any
    latent_channels: int
    latent_bins: int
    root: str = ""
    audio_encoder: Any = None  # loaded on the first audio prompt (audio_prompt.AudioPromptEncoder)


def resolve_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(dtype: str, device: str):
    import torch

    names = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32}
    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    if dtype not in names:
        raise EngineError(f"controlnet: dtype must be auto, float16, bfloat16 or float32, got {dtype!r}")
    return names[dtype]


def _load(cls, root: str, part: str, ignore: tuple[str, ...] = (), **kwargs):
    path = os.path.join(root, part)
    try:
        model, info = cls.from_pretrained(path, local_files_only=True, use_safetensors=True,
                                          output_loading_info=True, **kwargs)
    except EngineError:
        raise
    except Exception as exc:
        raise EngineError(f"cannot load {cls.__name__}: {describe_load_error(exc)}", path) from None
    check_loading_info(info, path, ignore)
    return model


def load(root: str, device: str = "auto", dtype: str = "auto") -> Components:
    """Every component on `device`, in eval mode. Raises EngineError with one line on failure."""
    import diffusers
    import torch
    import transformers
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import AutoTokenizer, ClapTextModelWithProjection, SpeechT5HifiGan

    from foley_studio.engines.rms2sound.controlnet.model import RMSControlNet

    problem = folder_problem(root)
    if problem:
        raise EngineError(problem)
    diffusers.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    buffers = ("position_ids", "token_type_ids", "mean", "scale")
    models = {
        "unet": _load(UNet2DConditionModel, root, "unet"),
        "controlnet": _load(RMSControlNet, root, "controlnet"),
        "vae": _load(AutoencoderKL, root, "vae"),
        "vocoder": _load(SpeechT5HifiGan, root, "vocoder", buffers),
        "text_encoder": _load(ClapTextModelWithProjection, root, "text_encoder", buffers),
    }
    try:
        tokenizer = AutoTokenizer.from_pretrained(os.path.join(root, "tokenizer"), local_files_only=True)
    except Exception as exc:
        raise EngineError(f"cannot load the tokenizer: {describe_load_error(exc)}",
                          os.path.join(root, "tokenizer")) from None
    try:
        for m in models.values():
            m.to(device=torch.device(dev), dtype=dt).eval().requires_grad_(False)
    except Exception as exc:  # an unknown or absent device
        raise EngineError(f"controlnet: cannot use device {dev!r} ({describe_load_error(exc)})") from None
    return Components(tokenizer=tokenizer, scheduler_config=_config(root, "scheduler", "scheduler_config.json"),
                      device=torch.device(dev), dtype=dt, latent_channels=int(models["unet"].config.in_channels),
                      latent_bins=latent_bins(root), root=root, **models)


def encode_prompts(c: Components, prompts: list[str]):
    """L2-normalised CLAP text embeddings [N, D] on the device (AudioLDM's FiLM condition)."""
    import torch

    tok = c.tokenizer(prompts, padding="max_length", max_length=c.tokenizer.model_max_length, truncation=True,
                      return_tensors="pt")
    with torch.inference_mode():
        out = c.text_encoder(input_ids=tok.input_ids.to(c.device), attention_mask=tok.attention_mask.to(c.device))
    emb = out.text_embeds.float()
    return torch.nn.functional.normalize(emb, dim=-1).to(c.dtype)
