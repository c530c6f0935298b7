"""Timbre from a sound file: the CLAP audio embedding of a reference sound instead of a text one.

AudioLDM was trained conditioning on CLAP *audio* embeddings and is sampled with CLAP *text*
embeddings of the same joint space, so the audio embedding of a reference recording can take
the text embedding's place (the unconditional branch stays the empty text's). It needs the
CLAP audio branch in the weights folder:

    audio_encoder/  ClapAudioModelWithProjection  config.json, model.safetensors,
                    preprocessor_config.json (ClapFeatureExtractor: 48 kHz, 64 mels, 10 s)

The reference is read with core.audio (anything libsndfile reads, mixed to mono), resampled to
the extractor's rate by soxr and cropped to its first 10 s here, deterministically (the
extractor's own truncation of long clips is a random crop); shorter clips are repeated then
padded by the extractor ("repeatpad", as AudioLDM embeds audio). The embedding is
L2-normalised like the text one. Layout checks read no torch; the encoder loads on first use.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from foley_studio.core.audio import read_audio, resample
from foley_studio.core.errors import AudioFileError, EngineError
from foley_studio.engines.weights import first_line, missing_files

AUDIO_ENCODER = "audio_encoder"
LAYOUT = {AUDIO_ENCODER: (("config.json",), ("model.safetensors",), ("preprocessor_config.json",))}
FileStamp = tuple[str, int, int]  # (absolute path, mtime in ns, size): a changed file is a new prompt


def no_branch_message(root: str) -> str:
    return (f"the weights folder {root} has no CLAP audio branch ({AUDIO_ENCODER}/); convert an AudioLDM "
            "checkpoint that includes it, or use a text prompt")


def branch_problem(root: str) -> str:
    """"" when the folder holds a usable audio branch, else why not (one line, no torch)."""
    if not os.path.isdir(os.path.join(root, AUDIO_ENCODER)):
        return no_branch_message(root)
    missing = missing_files(root, LAYOUT)
    if missing:
        return f"the weights folder {root} has an incomplete CLAP audio branch: missing {', '.join(missing)}"
    at = os.path.join(root, AUDIO_ENCODER, "config.json")
    try:
        audio = _json(at)
        features = _json(os.path.join(root, AUDIO_ENCODER, "preprocessor_config.json"))
        unet = _json(os.path.join(root, "unet", "config.json"))
    except (OSError, ValueError) as exc:
        return f"unreadable config in {root} ({type(exc).__name__}: {first_line(exc)})"
    dim, film = audio.get("projection_dim"), unet.get("projection_class_embeddings_input_dim")
    if dim != film:  # the audio embedding must fit the UNet's FiLM input, as the text one does
        return f"{at}: projection_dim {dim} does not match unet projection_class_embeddings_input_dim {film}"
    if features.get("feature_size") != audio.get("num_mel_bins"):
        return (f"{at}: num_mel_bins {audio.get('num_mel_bins')} does not match the feature extractor's "
                f"feature_size {features.get('feature_size')} (preprocessor_config.json)")
    return ""


def _json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def file_stamp(path: str) -> FileStamp:
    """The prompt file's identity for caches; EngineError naming the file when it is not there."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    try:
        st = os.stat(path)
    except OSError:
        raise EngineError("audio prompt: file not found", path) from None
    if not os.path.isfile(path):
        raise EngineError("audio prompt: not a file", path)
    return path, int(st.st_mtime_ns), int(st.st_size)


def read_clip(path: str, sr: int, seconds: float) -> np.ndarray:
    """Mono float32 samples at `sr`, at most `seconds` long (the clip's start)."""
    try:
        audio = read_audio(path)
    except AudioFileError as exc:
        raise EngineError(f"audio prompt: {exc.problem}", path) from None
    wave = resample(audio.samples, audio.sr, sr)[: int(round(seconds * sr))]
    if not np.all(np.isfinite(wave)):
        raise EngineError("audio prompt: the file holds NaN or infinite samples", path)
    if not np.any(wave):  # CLAP's embedding of silence says nothing about timbre
        raise EngineError("audio prompt: the file is silent", path)
    return wave


class AudioPromptEncoder:
    """CLAP audio branch + its feature extractor; embeds reference files (imports torch)."""

    def __init__(self, root: str, device: Any):
        import torch
        import transformers
        from transformers import ClapAudioModelWithProjection, ClapFeatureExtractor

        from foley_studio.engines.rms2sound.controlnet.components import _load

        problem = branch_problem(root)
        if problem:
            raise EngineError(problem)
        transformers.logging.set_verbosity_error()
        folder = os.path.join(root, AUDIO_ENCODER)
        # float32 on any device: it runs once per reference file, and its batch norm and
        # log-mel input are the parts half precision would hurt
        self.model = _load(ClapAudioModelWithProjection, root, AUDIO_ENCODER, ("relative_position_index",))
        self.model.to(device=device, dtype=torch.float32).eval().requires_grad_(False)
        try:
            self.features = ClapFeatureExtractor.from_pretrained(folder, local_files_only=True)
        except Exception as exc:
            raise EngineError(f"cannot load the CLAP feature extractor ({first_line(exc)})",
                              os.path.join(folder, "preprocessor_config.json")) from None
        self.device, self.folder = device, folder

    def embed(self, path: str):
        """L2-normalised CLAP audio embedding [1, D] (float32, on the device) of the file at `path`."""
        import torch

        fe = self.features
        wave = read_clip(path, int(fe.sampling_rate), float(fe.max_length_s))
        feats = fe(wave, sampling_rate=fe.sampling_rate, truncation="rand_trunc", padding="repeatpad",
                   return_tensors="pt")
        try:
            with torch.inference_mode():
                out = self.model(input_features=feats["input_features"].to(self.device, torch.float32))
        except (RuntimeError, ValueError) as exc:  # features that do not fit the model's spectrogram size
            raise EngineError(f"the CLAP audio branch cannot embed {path} ({first_line(exc)})", self.folder) from None
        return torch.nn.functional.normalize(out.audio_embeds.float(), dim=-1)
