"""`foley-studio convert-weights`: the paper's released checkpoints -> the controlnet weights folder.

Inputs are the official files: AudioLDM-S (`audioldm-s-full.ckpt`, a Lightning checkpoint)
and Video-Foley's RMS-ControlNet (`ControlNetstep300000.pth`). Both are read with
torch.load(weights_only=True) (engines/weights.py); the output is the diffusers-style
folder the `controlnet` engine reads (components.py): config.json + safetensors per
component. Each component is loaded into its class with strict=True before it is written,
so a missing or mis-shaped tensor stops the conversion with one line naming the file.

When the AudioLDM checkpoint also holds CLAP's audio branch (HTSAT, under
cond_stage_model.model.audio_branch.*), it is written as audio_encoder/
(ClapAudioModelWithProjection + the ClapFeatureExtractor settings that fit it), which the
engine uses for audio prompts (clap_audio_keymap.py). Without it the conversion goes on,
prints a note, and the folder serves text prompts only.

The checkpoints hold no tokenizer: the CLAP text branch uses RoBERTa's. It comes from
--tokenizer DIR (a folder with vocab.json + merges.txt or tokenizer.json, such as
laion/clap-htsat-unfused or roberta-base), else from the local Hugging Face cache of one
of those two, never from the network.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any, Callable

from foley_studio.core.errors import EngineError, OutputError
from foley_studio.engines.weights import describe_load_error, first_line, torch_load_tensors

TOKENIZER_CACHE_IDS = ("laion/clap-htsat-unfused", "roberta-base")
# AudioLDM's noise schedule (its config: linear_start, linear_end, timesteps); LDM's
# "linear" schedule is diffusers' "scaled_linear"
# buffers a target model computes from its config; filled in where a source did not store them
DERIVED_BUFFERS = ("position_ids", "token_type_ids", "relative_position_index", "num_batches_tracked")
SCHEDULER = {"num_train_timesteps": 1000, "beta_start": 0.0015, "beta_end": 0.0195,
             "beta_schedule": "scaled_linear", "steps_offset": 1, "clip_sample": False,
             "set_alpha_to_one": False, "prediction_type": "epsilon"}


def _tokenizer(source: str | None):
    from transformers import AutoTokenizer

    if source:
        try:
            return AutoTokenizer.from_pretrained(os.fspath(source), local_files_only=True)
        except Exception as exc:
            raise EngineError(f"not a tokenizer folder ({first_line(exc)})", source) from None
    for repo in TOKENIZER_CACHE_IDS:
        try:
            return AutoTokenizer.from_pretrained(repo, local_files_only=True)
        except Exception:
            continue
    raise EngineError("no RoBERTa tokenizer found (the checkpoints hold none): pass --tokenizer DIR, a folder "
                      "with vocab.json + merges.txt such as laion/clap-htsat-unfused's or roberta-base's")


def _build(cls_name: str, make: Callable[[], Any], state: dict, source: str) -> Any:
    """The target model with `state` loaded strictly; mapping errors name the source file."""
    model = make()
    expected = model.state_dict()
    for key, value in expected.items():  # buffers the originals never stored
        if key not in state and key.endswith(DERIVED_BUFFERS):
            state[key] = value
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise EngineError(f"does not fit {cls_name}: {describe_load_error(exc)}", source) from None
    return model


def _map(fn, *args, source: str):
    from foley_studio.engines.rms2sound.controlnet.keymap import MappingError

    try:
        return fn(*args)
    except MappingError as exc:
        raise EngineError(str(exc), source) from None


def _prepare_output(out_dir: str, overwrite: bool) -> None:
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError("exists and is not a folder", out_dir)
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not overwrite:
            raise OutputError("folder is not empty (use --overwrite to replace it)", out_dir)
    os.makedirs(out_dir, exist_ok=True)


def convert(audioldm_ckpt: str | os.PathLike, controlnet_pth: str | os.PathLike, out_dir: str | os.PathLike,
            tokenizer: str | os.PathLike | None = None, overwrite: bool = False,
            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write the controlnet weights folder; returns a summary (parameter counts per component)."""
    import diffusers
    import transformers
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import ClapTextConfig, ClapTextModelWithProjection, SpeechT5HifiGan, SpeechT5HifiGanConfig

    from foley_studio.engines.rms2sound.controlnet import clap_audio_keymap, keymap
    from foley_studio.engines.rms2sound.controlnet.model import RMSControlNet

    say = progress or (lambda message: None)
    ckpt, cpth, out = os.fspath(audioldm_ckpt), os.fspath(controlnet_pth), os.path.abspath(os.fspath(out_dir))
    for path in (ckpt, cpth):
        if not os.path.isfile(path):
            raise EngineError("file not found", path)
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    tok = _tokenizer(os.fspath(tokenizer) if tokenizer else None)
    _prepare_output(out, overwrite)

    say(f"reading {ckpt}")
    sd = torch_load_tensors(ckpt)
    say(f"reading {cpth}")
    cn = torch_load_tensors(cpth)

    unet_cfg, unet_sd = _map(keymap.unet, sd, source=ckpt)
    cn_cfg, cn_sd = _map(keymap.controlnet, cn, unet_cfg, source=cpth)
    vae_cfg, vae_sd = _map(keymap.vae, sd, source=ckpt)
    text_cfg, text_sd = _map(keymap.clap_text, sd, source=ckpt)
    voc_cfg, voc_sd = _map(keymap.vocoder, sd, source=ckpt)
    notes, audio = [], None
    absent = clap_audio_keymap.absent_reason(sd)
    if absent:  # the engine then refuses audio prompts with one line; text prompts work as before
        notes.append(f"no audio_encoder/ written ({os.path.basename(ckpt)}: {absent}); audio prompts will be "
                     "unavailable, text prompts work")
    else:
        audio = _map(clap_audio_keymap.clap_audio, sd, source=ckpt)
    del sd, cn

    models = {
        "unet": _build("UNet2DConditionModel", lambda: UNet2DConditionModel(**unet_cfg), unet_sd, ckpt),
        "controlnet": _build("RMSControlNet", lambda: RMSControlNet(**cn_cfg), cn_sd, cpth),
        "vae": _build("AutoencoderKL", lambda: AutoencoderKL(**vae_cfg), vae_sd, ckpt),
        "text_encoder": _build("ClapTextModelWithProjection",
                               lambda: ClapTextModelWithProjection(ClapTextConfig(**text_cfg)), text_sd, ckpt),
        "vocoder": _build("SpeechT5HifiGan", lambda: SpeechT5HifiGan(SpeechT5HifiGanConfig(**voc_cfg)), voc_sd, ckpt),
    }
    if audio is not None:
        from transformers import ClapAudioConfig, ClapAudioModelWithProjection

        audio_cfg, audio_sd = audio
        models["audio_encoder"] = _build("ClapAudioModelWithProjection",
                                         lambda: ClapAudioModelWithProjection(ClapAudioConfig(**audio_cfg)),
                                         audio_sd, ckpt)
    if len(tok) > text_cfg["vocab_size"]:
        raise EngineError(f"the tokenizer has {len(tok)} tokens, the CLAP text branch {text_cfg['vocab_size']}",
                          getattr(tok, "name_or_path", None) or "tokenizer")
    # RoBERTa positions start after the padding index: two fewer than the table holds
    tok.model_max_length = min(int(tok.model_max_length), text_cfg["max_position_embeddings"] - 2)

    summary: dict[str, Any] = {"out_dir": out, "components": {}, "notes": notes}
    for name, model in models.items():
        say(f"writing {name}/")
        target = os.path.join(out, name)
        shutil.rmtree(target, ignore_errors=True)
        model.save_pretrained(target, safe_serialization=True)
        summary["components"][name] = sum(p.numel() for p in model.parameters())
    if audio is not None:  # the feature extractor's settings travel with the branch they fit
        from transformers import ClapFeatureExtractor

        ClapFeatureExtractor(**clap_audio_keymap.feature_extractor_config(audio[0])).save_pretrained(
            os.path.join(out, "audio_encoder"))
    else:
        shutil.rmtree(os.path.join(out, "audio_encoder"), ignore_errors=True)  # none left from an --overwrite
    shutil.rmtree(os.path.join(out, "tokenizer"), ignore_errors=True)
    tok.save_pretrained(os.path.join(out, "tokenizer"))
    DDIMScheduler(**SCHEDULER).save_pretrained(os.path.join(out, "scheduler"))
    summary["controlnet_transformers_per_attention"] = cn_cfg["transformers_per_attention"]
    with open(os.path.join(out, "model_index.json"), "w", encoding="utf-8") as f:
        json.dump({"_class_name": "FoleyStudioRMSControlNet", "engine": "controlnet",
                   "sources": [os.path.basename(ckpt), os.path.basename(cpth)],
                   "components": sorted([*models, "tokenizer", "scheduler"])}, f, indent=2)
    return summary


def add_convert_parser(subparsers, parents=()) -> Any:
    """The `convert-weights` subcommand (dispatch it to run_convert)."""
    p = subparsers.add_parser(
        "convert-weights", parents=list(parents),
        help="make the controlnet engine's weights folder from the official checkpoints",
        description="Convert AudioLDM-S (audioldm-s-full.ckpt) and the Video-Foley RMS-ControlNet "
        "(ControlNetstep300000.pth) to the folder the controlnet engine reads. Reads local files only.")
    p.add_argument("audioldm_ckpt", metavar="AUDIOLDM_CKPT", help="AudioLDM-S checkpoint (audioldm-s-full.ckpt)")
    p.add_argument("controlnet_pth", metavar="CONTROLNET_PTH", help="Video-Foley ControlNet (ControlNetstep300000.pth)")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="folder to write (default: $FOLEY_STUDIO_WEIGHTS/audioldm-controlnet)")
    p.add_argument("--tokenizer", metavar="DIR",
                   help="RoBERTa tokenizer folder (default: laion/clap-htsat-unfused or roberta-base from the "
                   "local Hugging Face cache)")
    p.add_argument("--overwrite", action="store_true", help="replace the files of an existing output folder")
    return p


def run_convert(args) -> int:
    from foley_studio.engines.rms2sound.controlnet.engine import WEIGHTS_SUBFOLDER
    from foley_studio.engines.weights import resolve_weights_dir

    out = resolve_weights_dir(getattr(args, "output", None), WEIGHTS_SUBFOLDER)
    if out is None:
        raise OutputError("no output folder: pass -o DIR or set FOLEY_STUDIO_WEIGHTS")
    quiet = bool(getattr(args, "quiet", False))
    say = (lambda message: None) if quiet else (lambda message: print(f"convert-weights: {message}", flush=True))
    summary = convert(args.audioldm_ckpt, args.controlnet_pth, out, tokenizer=getattr(args, "tokenizer", None),
                      overwrite=bool(getattr(args, "overwrite", False)), progress=say)
    for note in summary.get("notes", []):  # shown even with -q: the output lacks a component
        print(f"convert-weights: note: {note}", file=sys.stderr, flush=True)
    if not quiet:
        for name, count in summary["components"].items():
            print(f"  {name:<13} {count / 1e6:8.1f} M parameters")
        print(f"wrote {summary['out_dir']} (use it with --weights {summary['out_dir']})")
    return 0
