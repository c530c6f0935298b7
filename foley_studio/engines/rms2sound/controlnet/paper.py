"""Paper-sized random models for benchmarks (imports torch: load lazily).

AudioLDM-S as the official config has it (model_channels 128, channel_mult 1,2,3,5,
num_res_blocks 2, attention at downsampling 2, 4, 8 with 32 channels per head, a 512-d
CLAP FiLM embedding concatenated to the time embedding): a 185 M-parameter UNet. Its
RMS-ControlNet copies the encoder and middle block: 79.3 M parameters, 81.2 M with the zero
convs and RMS embedding, with one transformer per attention level; 117.7 M with the release
code's extra self-attention layer per level (transformers_per_attention=2). The VAE and HiFi-GAN are AudioLDM's
16 kHz, 64-mel ones. Weights are random: speed only, no sound worth hearing.
"""

from __future__ import annotations

from typing import Any

import torch

UNET = dict(
    sample_size=128, in_channels=8, out_channels=8,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    block_out_channels=(128, 256, 384, 640), layers_per_block=2, cross_attention_dim=(128, 256, 384, 640),
    attention_head_dim=(4, 8, 12, 20), class_embed_type="simple_projection",
    projection_class_embeddings_input_dim=512, class_embeddings_concat=True,
)
VAE = dict(
    in_channels=1, out_channels=1, down_block_types=("DownEncoderBlock2D",) * 3,
    up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(128, 256, 512), layers_per_block=2,
    latent_channels=8, sample_size=256, scaling_factor=1.0,
)
VOCODER = dict(
    model_in_dim=64, sampling_rate=16000, upsample_initial_channel=1024, upsample_rates=[5, 4, 2, 2, 2],
    upsample_kernel_sizes=[16, 16, 8, 4, 4], resblock_kernel_sizes=[3, 7, 11],
    resblock_dilation_sizes=[[1, 3, 5]] * 3, normalize_before=False,
)
SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.0015, beta_end=0.0195, beta_schedule="scaled_linear",
                 steps_offset=1, clip_sample=False, set_alpha_to_one=False)
# a few channels per layer, same geometry: for trying the benchmark code on a CPU
TINY = dict(
    unet=dict(UNET, block_out_channels=(32, 32, 64, 64), cross_attention_dim=(32, 32, 64, 64),
              attention_head_dim=(1, 1, 2, 2), projection_class_embeddings_input_dim=16),
    vae=dict(VAE, block_out_channels=(32, 32, 32)),
    vocoder=dict(VOCODER, upsample_initial_channel=32, resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]]),
)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build(device: str = "cpu", dtype: torch.dtype = torch.float32, tiny: bool = False,
          transformers_per_attention: int = 1, seed: int = 0) -> dict[str, Any]:
    """Random unet, controlnet, vae, vocoder on `device` in eval mode, plus scheduler config and embedding size."""
    import diffusers
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    from foley_studio.engines.rms2sound.controlnet.model import RMSControlNet

    diffusers.logging.set_verbosity_error()
    cfg = TINY if tiny else {"unet": UNET, "vae": VAE, "vocoder": VOCODER}
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**cfg["unet"])
    models = {
        "unet": unet,
        "controlnet": RMSControlNet.from_unet_config(unet.config, transformers_per_attention),
        "vae": AutoencoderKL(**cfg["vae"]),
        "vocoder": SpeechT5HifiGan(SpeechT5HifiGanConfig(**cfg["vocoder"])),
    }
    for m in models.values():
        m.to(device=device, dtype=dtype).eval().requires_grad_(False)
    models["scheduler_config"] = dict(SCHEDULER)
    models["embed_dim"] = cfg["unet"]["projection_class_embeddings_input_dim"]
    return models


def inputs(models: dict[str, Any], device: str, dtype: torch.dtype, seed: int = 0) -> dict[str, torch.Tensor]:
    """Noise [1, 8, 256, 16], CLAP embeddings [2, D] (unconditional, prompt), RMS condition [1, 1, 1024, 1]."""
    g = torch.Generator("cpu").manual_seed(seed)
    emb = torch.nn.functional.normalize(torch.randn(2, models["embed_dim"], generator=g), dim=-1)
    cond = 0.3 * torch.rand(1, 1, 1024, 1, generator=g)
    noise = torch.randn(1, 8, 256, 16, generator=g)
    return {k: v.to(device=device, dtype=dtype) for k, v in {"noise": noise, "emb": emb, "cond": cond}.items()}


def render(models: dict[str, Any], x: dict[str, torch.Tensor], steps: int = 25, guidance: float = 3.5,
           predict=None) -> torch.Tensor:
    """One 10.24 s render: DDIM with guidance, VAE decode, HiFi-GAN. Returns the 16 kHz waveform.

    predict(x, t, emb, cond, guidance) replaces sampler.predict_noise (e.g. a compiled one).
    """
    from diffusers import DDIMScheduler

    from foley_studio.engines.rms2sound.controlnet import sampler

    latents = sampler.denoise(models["unet"], models["controlnet"], DDIMScheduler(**models["scheduler_config"]),
                              x["noise"], x["emb"], x["cond"], steps, guidance, predict=predict)
    return sampler.decode(models["vae"], models["vocoder"], latents)
