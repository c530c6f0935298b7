"""Training data for the RMS-ControlNet from a folder of sounds (imports torch: load lazily).

Every WAV/FLAC/OGG under the folder (recursive, hidden folders skipped) is read at 16 kHz
mono and cut into consecutive windows (10.24 s by default; a short file, or a last piece
at least half a window long, is padded with silence). Each window gives one item:

    latents  the VAE posterior (mean, std) of its AudioLDM log-mel spectrogram
    cond     its own RMS as the ControlNet condition (core.rms.condition_from_audio)
    caption  the sidecar text file (`door_01.txt` or `door_01.wav.txt`), else the file name
             in words (sample_library.describe_name)

Latents are cached per file as .npz (never pickled), keyed by the file's fingerprint, the
VAE's weights and the window length, so later runs skip decoding and the VAE encoder.
The mel is AudioLDM's: STFT 1024 / hop 160 / Hann 1024, reflect-padded by 432 each side
(the same framing as the RMS condition, so both give 4 frames per latent frame), slaney
mel filters 0-8 kHz, natural log of magnitudes clamped at 1e-5.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from foley_studio.core.atomic import atomic_output
from foley_studio.core.audio import read_audio, resample
from foley_studio.core.errors import FoleyError
from foley_studio.core.media import fingerprint
from foley_studio.core.rms import COND_FRAME, COND_HOP, RMS_SR, condition_from_audio
from foley_studio.training.files import cache_dir, find_files

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
CACHE_VERSION = 1
MAX_WINDOWS_PER_FILE = 64
SAMPLES_PER_LATENT = 640  # 16 kHz samples per latent frame (4 mel frames of hop 160)


@dataclass(frozen=True, eq=False)
class Item:
    name: str  # "relative/path.wav#k": window k of that file
    caption: str
    mean: np.ndarray  # [C, T, F] VAE posterior mean (unscaled)
    std: np.ndarray  # [C, T, F]
    cond: np.ndarray  # [4T] RMS condition frames


def default_cache_dir() -> str:
    return cache_dir("controlnet-latents")


def find_sounds(audio_dir: str | os.PathLike) -> list[str]:
    """Audio files under audio_dir (recursive, hidden folders skipped), sorted by path."""
    return find_files(audio_dir, AUDIO_EXTENSIONS, "sounds")


def caption_for(path: str | os.PathLike) -> str:
    """The sidecar text (first 300 characters, whitespace collapsed), else the file name in words."""
    from foley_studio.engines.rms2sound.sample_library import describe_name

    p = Path(path)
    for side in (p.with_suffix(".txt"), p.with_name(p.name + ".txt")):
        if side.is_file():
            try:
                text = " ".join(side.read_text(encoding="utf-8", errors="replace").split())
            except OSError:
                continue
            if text:
                return text[:300]
    return describe_name(p)


def windows(samples16k: np.ndarray, n: int) -> list[np.ndarray]:
    """Consecutive n-sample pieces; the first always, later ones when at least half full."""
    out = []
    for start in range(0, max(len(samples16k), 1), n):
        piece = samples16k[start:start + n]
        if start and len(piece) < n // 2:
            break
        if len(piece) < n:
            piece = np.pad(piece, (0, n - len(piece)))
        out.append(np.ascontiguousarray(piece, dtype=np.float32))
        if len(out) >= MAX_WINDOWS_PER_FILE:
            break
    return out


class MelVAE:
    """16 kHz windows -> AudioLDM log-mel -> VAE posterior (mean, std), on the VAE's device."""

    def __init__(self, vae, n_mels: int, device, vae_id: str):
        import torch
        from transformers.audio_utils import mel_filter_bank

        self.vae, self.device, self.vae_id = vae, device, vae_id
        fb = mel_filter_bank(num_frequency_bins=COND_FRAME // 2 + 1, num_mel_filters=n_mels, min_frequency=0.0,
                             max_frequency=RMS_SR / 2, sampling_rate=RMS_SR, norm="slaney", mel_scale="slaney")
        self.filters = torch.from_numpy(np.ascontiguousarray(fb.T, dtype=np.float32)).to(device)  # [M, 513]
        self.window = torch.hann_window(COND_FRAME).to(device)

    def mel(self, x):
        """[B, n] float32 -> [B, 1, n/160, M] log-mel."""
        import torch

        pad = (COND_FRAME - COND_HOP) // 2
        x = torch.nn.functional.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(x, COND_FRAME, COND_HOP, COND_FRAME, self.window, center=False, return_complex=True)
        mag = spec.abs()  # [B, 513, T]
        mel = torch.log(torch.clamp(self.filters @ mag, min=1e-5))
        return mel.transpose(1, 2).unsqueeze(1)

    def encode(self, pieces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        x = torch.from_numpy(np.stack(pieces)).to(self.device)
        with torch.no_grad():
            dist = self.vae.encode(self.mel(x)).latent_dist
        return dist.mean.float().cpu().numpy(), dist.std.float().cpu().numpy()


def _cache_file(cache_dir: str, key: dict) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return os.path.join(cache_dir, f"{digest}.npz")


def load_file_items(path: str, name: str, encoder: MelVAE, window_samples: int, cache_dir: str | None) -> list[Item]:
    """Items of one sound (from the cache when its fingerprint matches). Raises FoleyError."""
    fp = fingerprint(path)  # MediaError (a FoleyError) when unreadable
    caption = caption_for(path)
    key = {"v": CACHE_VERSION, "file": fp, "vae": encoder.vae_id, "window": window_samples}
    cached = _cache_file(cache_dir, key) if cache_dir else None
    if cached and os.path.isfile(cached):
        try:
            with np.load(cached, allow_pickle=False) as z:
                mean, std, cond = z["mean"], z["std"], z["cond"]
            return [Item(f"{name}#{k}", caption, mean[k], std[k], cond[k]) for k in range(len(mean))]
        except (OSError, KeyError, ValueError):
            pass  # a damaged cache entry: recompute
    audio = read_audio(path)  # AudioFileError (a FoleyError) when unreadable
    samples = resample(audio.samples, audio.sr, RMS_SR).astype(np.float32)
    if not np.isfinite(samples).all():
        raise FoleyError("audio has NaN or infinite samples", path)
    pieces = windows(samples, window_samples)
    mean, std = encoder.encode(pieces)
    cond = np.stack([condition_from_audio(p) for p in pieces]).astype(np.float32)
    if cached:
        os.makedirs(cache_dir, exist_ok=True)
        try:
            with atomic_output(cached) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, mean=mean, std=std, cond=cond)
        except OSError:
            pass  # a read-only cache only costs time
    return [Item(f"{name}#{k}", caption, mean[k], std[k], cond[k]) for k in range(len(mean))]


def load_items(audio_dir: str, encoder: MelVAE, window_samples: int, cache_dir: str | None,
               warn: Callable[[str], None], on_file: Callable[[int, int], None] | None = None
               ) -> tuple[list[Item], list[dict]]:
    paths = find_sounds(audio_dir)
    if not paths:
        raise FoleyError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found in the training folder", audio_dir)
    items, skipped = [], []
    for i, path in enumerate(paths):
        if on_file is not None:
            on_file(i, len(paths))
        name = os.path.relpath(path, audio_dir)
        try:
            items.extend(load_file_items(path, name, encoder, window_samples, cache_dir))
        except FoleyError as exc:
            skipped.append({"file": name, "reason": exc.problem})
            warn(f"skipping {path}: {exc.problem}")
    if not items:
        reasons = sorted({s["reason"] for s in skipped})
        raise FoleyError(f"no readable audio files ({len(paths)} found; {'; '.join(reasons)})", audio_dir)
    return items, skipped
