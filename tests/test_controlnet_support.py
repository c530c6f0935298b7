"""Tiny random AudioLDM + RMS-ControlNet weights folders for the controlnet tests (no downloads).

Shapes follow AudioLDM-S (8 latent channels, 64 mel bins, 4x VAE, 160x HiFi-GAN at
16 kHz) with a few channels per layer, so a 10.24 s window renders in well under a second
on the CPU. No tests here: helpers imported by test_controlnet*.py and test_convert_weights.py.
"""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

TINY_UNET = dict(
    sample_size=64, in_channels=8, out_channels=8,
    # attention only at the lowest resolution (64 x 4 tokens): the tiny model's cost is its attention
    down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    block_out_channels=(8, 8, 16), layers_per_block=1, cross_attention_dim=(8, 8, 16), attention_head_dim=(1, 1, 2),
    class_embed_type="simple_projection", projection_class_embeddings_input_dim=16,
    class_embeddings_concat=True, norm_num_groups=4,
)
TINY_VAE = dict(
    in_channels=1, out_channels=1, down_block_types=("DownEncoderBlock2D",) * 3,
    up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(8, 8, 8), layers_per_block=1,
    latent_channels=8, norm_num_groups=4, sample_size=64, scaling_factor=0.5,
)
TINY_VOCODER = dict(
    model_in_dim=64, sampling_rate=16000, upsample_initial_channel=32, upsample_rates=[5, 4, 2, 2, 2],
    upsample_kernel_sizes=[10, 8, 4, 4, 4], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]],
    normalize_before=False,
)
TINY_TEXT = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                 projection_dim=16, max_position_embeddings=40, layer_norm_eps=1e-5)
SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.0015, beta_end=0.0195, beta_schedule="scaled_linear",
                 steps_offset=1, clip_sample=False, set_alpha_to_one=False)


def write_tokenizer(folder: str, max_length: int = 16) -> int:
    """A byte-level BPE RoBERTa tokenizer with no merges; returns its vocabulary size."""
    from transformers import RobertaTokenizer

    os.makedirs(folder, exist_ok=True)
    # GPT-2's byte-to-unicode table: printable bytes map to themselves, the rest above 255
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for b in range(256):
        vocab[chars[b]] = len(vocab)
    vocab["<mask>"] = len(vocab)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
    tok = RobertaTokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"),
                           model_max_length=max_length)
    tok.save_pretrained(folder)
    return len(vocab)


def unzero(module, seed: int = 0, scale: float = 0.05) -> None:
    """Give the zero-initialised layers small random weights, so the control has an effect."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * scale)


def build_models(transformers_per_attention: int = 1, seed: int = 0) -> dict:
    """Tiny random models keyed like the weights folder's components."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import ClapTextConfig, ClapTextModelWithProjection, SpeechT5HifiGan, SpeechT5HifiGanConfig

    from foley_studio.engines.rms2sound.controlnet.model import RMSControlNet

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**TINY_UNET)
    unzero(unet, seed)
    controlnet = RMSControlNet.from_unet_config(unet.config, transformers_per_attention)
    unzero(controlnet, seed + 1, scale=0.5)  # a strong control, so envelope edits are audible
    vae = AutoencoderKL(**TINY_VAE)
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(**TINY_VOCODER))
    for m in vocoder.modules():  # its own init (std 0.01) makes near-silence: keep the variance instead
        if isinstance(m, torch.nn.Conv1d):
            torch.nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
        elif isinstance(m, torch.nn.ConvTranspose1d):
            fan_in = m.weight.shape[0] * m.weight.shape[2] / m.stride[0]
            torch.nn.init.normal_(m.weight, std=(2.0 / fan_in) ** 0.5)
    return {"unet": unet, "controlnet": controlnet, "vae": vae, "vocoder": vocoder,
            "text": lambda vocab: ClapTextModelWithProjection(ClapTextConfig(vocab_size=vocab, **TINY_TEXT))}


def write_folder(root: str, transformers_per_attention: int = 1, seed: int = 0) -> str:
    """A complete tiny weights folder, as convert-weights would write one."""
    from diffusers import DDIMScheduler

    models = build_models(transformers_per_attention, seed)
    vocab = write_tokenizer(os.path.join(root, "tokenizer"))
    torch.manual_seed(seed + 2)
    models.pop("text")(vocab).save_pretrained(os.path.join(root, "text_encoder"))
    for name, model in models.items():
        model.save_pretrained(os.path.join(root, name))
    DDIMScheduler(**SCHEDULER).save_pretrained(os.path.join(root, "scheduler"))
    return root


# HTSAT-tiny's geometry (256 spectrogram side, 64 mels, 4x4 patches, window 8, so real 10 s
# features fit) with 8 channels; its 16-d projection matches TINY_UNET's FiLM input
TINY_AUDIO = dict(patch_embeds_hidden_size=8, depths=[1, 1], num_attention_heads=[1, 2], window_size=8,
                  spec_size=256, num_mel_bins=64, patch_size=4, patch_stride=[4, 4], hidden_size=16,
                  projection_dim=16, enable_fusion=False)


def write_audio_encoder(root: str, seed: int = 0) -> str:
    """Add a tiny random CLAP audio branch (audio_encoder/) to a weights folder, as convert-weights writes it."""
    from transformers import ClapAudioConfig, ClapAudioModelWithProjection, ClapFeatureExtractor

    from foley_studio.engines.rms2sound.controlnet.clap_audio_keymap import feature_extractor_config

    torch.manual_seed(seed + 5)
    model = ClapAudioModelWithProjection(ClapAudioConfig(**TINY_AUDIO))
    folder = os.path.join(root, "audio_encoder")
    model.save_pretrained(folder)
    ClapFeatureExtractor(**feature_extractor_config(TINY_AUDIO)).save_pretrained(folder)
    return root


def write_sound(path, seconds: float, sr: int, seed: int, channels: int = 1) -> str:
    """A decaying tone with a little noise: a reference sound for audio prompts."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) * np.exp(-rng.uniform(1, 8) * (t % 0.5))
    x = x + 0.05 * rng.standard_normal(len(t))
    sf.write(str(path), np.stack([x] * channels, axis=1) if channels > 1 else x, sr)
    return str(path)


def sine_envelope(seconds: float, seed: int = 0):
    """A bumpy loudness curve at 125 Hz."""
    import numpy as np

    from foley_studio.core.envelope import Envelope

    t = np.arange(int(round(seconds * 125))) / 125
    rng = np.random.default_rng(seed)
    return Envelope(0.2 + 0.15 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) ** 2)
