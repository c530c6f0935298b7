"""The RMS-ControlNet of Video-Foley as a diffusers model (imports torch: load lazily).

As in the paper's release (jakeoneijk/RMS_ControlNet_Inference, ControlNetForAudioLDM and
UNetWControlNetRMS): a trainable copy of the AudioLDM UNet's encoder (down blocks) and
middle block whose every skip output and middle output go through a zero-initialised
1x1 conv, to be added to the frozen UNet's skip connections and middle block (diffusers'
down_block_additional_residuals / mid_block_additional_residual). The RMS condition
[B, 1, 1024, 1] goes through Conv2d(1 -> 8, kernel (3, 1), stride (4, 1)) and a
zero-initialised 1x1 conv to [B, 8, 256, 1] and is added to the noisy latent
[B, 8, 256, 16] (broadcast over the 16 frequency bins) before the copy's conv_in.
The release uses no padding: (1024 - 3) // 4 + 1 = 256 already.

The timestep and the CLAP embedding (FiLM, concatenated to the time embedding) enter
exactly as in the UNet. The release builds its copy with the training code's default
extra self-attention layer, i.e. two spatial transformers per attention level;
`transformers_per_attention` covers both layouts (the converter reads it off the keys).
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.resnet import Downsample2D, ResnetBlock2D
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch import nn


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class RMSEmbedding(nn.Module):
    """[B, 1, 1024, 1] RMS frames -> [B, C, 256, 1], to be added to the noisy latent."""

    def __init__(self, channels: int, kernel: tuple[int, int], stride: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(1, channels, kernel_size=tuple(kernel), stride=tuple(stride))
        self.zero_conv = _zero(nn.Conv2d(channels, channels, kernel_size=1))

    def forward(self, rms: torch.Tensor) -> torch.Tensor:
        return self.zero_conv(self.conv(rms))


class _Stage(nn.Module):
    """One encoder level: resnets, each followed by its transformers, then a downsampler."""

    def __init__(self, c_in, c_out, layers, heads, n_transformers, temb, groups, eps, downsample):
        super().__init__()
        self.resnets = nn.ModuleList(
            ResnetBlock2D(in_channels=c_in if i == 0 else c_out, out_channels=c_out, temb_channels=temb,
                          groups=groups, eps=eps)
            for i in range(layers)
        )
        self.attentions = nn.ModuleList(
            nn.ModuleList(_transformer(c_out, heads, groups) for _ in range(n_transformers))
            for _ in range(layers if heads else 0)
        )
        self.downsamplers = nn.ModuleList(
            [Downsample2D(c_out, use_conv=True, out_channels=c_out, padding=1, name="op")] if downsample else []
        )


def _transformer(channels: int, heads: int, groups: int) -> Transformer2DModel:
    # no cross-attention context in AudioLDM-S: attn2 attends to the hidden states too
    return Transformer2DModel(heads, channels // heads, in_channels=channels, cross_attention_dim=channels,
                              norm_num_groups=groups)


class RMSControlNet(ModelMixin, ConfigMixin):
    """Encoder copy of an AudioLDM UNet2DConditionModel, conditioned on frame RMS."""

    @register_to_config
    def __init__(
        self,
        in_channels: int = 8,
        block_out_channels: tuple[int, ...] = (128, 256, 384, 640),
        layers_per_block: int = 2,
        attention_levels: tuple[bool, ...] = (False, True, True, True),
        num_attention_heads: tuple[int, ...] = (4, 8, 12, 20),
        transformers_per_attention: int = 1,
        class_embed_input_dim: int = 512,
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        rms_kernel: tuple[int, int] = (3, 1),
        rms_stride: tuple[int, int] = (4, 1),
    ):
        super().__init__()
        ch0 = block_out_channels[0]
        temb = ch0 * 4
        self.time_proj = Timesteps(ch0, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(ch0, temb)
        self.class_embedding = nn.Linear(class_embed_input_dim, temb)
        self.rms_embedding = RMSEmbedding(in_channels, rms_kernel, rms_stride)
        self.conv_in = nn.Conv2d(in_channels, ch0, kernel_size=3, padding=1)

        self.down_blocks = nn.ModuleList()
        skip_channels = [ch0]
        c_in = ch0
        last = len(block_out_channels) - 1
        for i, c_out in enumerate(block_out_channels):
            heads = num_attention_heads[i] if attention_levels[i] else 0
            stage = _Stage(c_in, c_out, layers_per_block, heads, transformers_per_attention, 2 * temb,
                           norm_num_groups, norm_eps, downsample=i < last)
            self.down_blocks.append(stage)
            skip_channels += [c_out] * (layers_per_block + (1 if i < last else 0))
            c_in = c_out

        c_mid = block_out_channels[-1]
        self.mid_block = _Stage(c_mid, c_mid, 2, 0, 0, 2 * temb, norm_num_groups, norm_eps, downsample=False)
        self.mid_block.attentions = nn.ModuleList(
            _transformer(c_mid, num_attention_heads[-1], norm_num_groups) for _ in range(transformers_per_attention)
        )
        self.controlnet_down_blocks = nn.ModuleList(_zero(nn.Conv2d(c, c, kernel_size=1)) for c in skip_channels)
        self.controlnet_mid_block = _zero(nn.Conv2d(c_mid, c_mid, kernel_size=1))

    @classmethod
    def from_unet_config(cls, unet_config, transformers_per_attention: int = 1) -> "RMSControlNet":
        """A ControlNet whose encoder matches a UNet2DConditionModel config (weights random)."""
        c = dict(unet_config)
        heads = c.get("num_attention_heads") or c["attention_head_dim"]
        n = len(c["block_out_channels"])
        heads = tuple(heads) if isinstance(heads, (list, tuple)) else (heads,) * n
        return cls(
            in_channels=c["in_channels"],
            block_out_channels=tuple(c["block_out_channels"]),
            layers_per_block=c["layers_per_block"],
            attention_levels=tuple(t.startswith("CrossAttn") for t in c["down_block_types"]),
            num_attention_heads=heads,
            transformers_per_attention=transformers_per_attention,
            class_embed_input_dim=c["projection_class_embeddings_input_dim"],
            norm_num_groups=c.get("norm_num_groups", 32),
            norm_eps=c.get("norm_eps", 1e-5),
        )

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, class_labels: torch.Tensor,
                rms: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """(down_block_additional_residuals, mid_block_additional_residual) for the UNet.

        sample [B, C, T, F] noisy latents, timestep scalar or [B], class_labels [B, D] CLAP
        embeddings, rms [B, 1, 4*T, 1] condition frames.
        """
        if not torch.is_tensor(timestep):
            timestep = torch.tensor([timestep], device=sample.device)
        timestep = timestep.reshape(-1).expand(sample.shape[0]).to(sample.device)
        t_emb = self.time_proj(timestep).to(dtype=sample.dtype)
        emb = self.time_embedding(t_emb)
        emb = torch.cat([emb, self.class_embedding(class_labels.to(sample.dtype))], dim=-1)

        h = self.conv_in(sample + self.rms_embedding(rms.to(sample.dtype)))
        skips = [h]
        for stage in self.down_blocks:
            for j, resnet in enumerate(stage.resnets):
                h = resnet(h, emb)
                if len(stage.attentions):
                    for attn in stage.attentions[j]:
                        h = attn(h, return_dict=False)[0]
                skips.append(h)
            for down in stage.downsamplers:
                h = down(h)
                skips.append(h)
        h = self.mid_block.resnets[0](h, emb)
        for attn in self.mid_block.attentions:
            h = attn(h, return_dict=False)[0]
        h = self.mid_block.resnets[1](h, emb)
        down = tuple(zc(s) for zc, s in zip(self.controlnet_down_blocks, skips))
        return down, self.controlnet_mid_block(h)
