"""DDIM sampling of one 10.24 s window with the RMS-ControlNet (imports torch: load lazily).

Classifier-free guidance acts on the text: the unconditional and conditional branches get
the unconditional and prompt CLAP embeddings, and both get the RMS control (the release's
default 'WOCFG' mode). With `known` and `mask`, latents where mask is 0 are tied to `known`
(RePaint-style): after every step they are replaced by `known` noised to the next
timestep, and by `known` itself after the last, so they come out unchanged.
"""

from __future__ import annotations

from typing import Callable

import torch


def predict_noise(unet, controlnet, x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor,
                  cond: torch.Tensor, guidance: float) -> torch.Tensor:
    """Guided noise prediction. emb is [2, D] (unconditional, prompt), or [1, D] without guidance."""
    guided = guidance != 1.0 and emb.shape[0] == 2
    if not guided:
        emb = emb[-1:]
    x_in = torch.cat([x] * emb.shape[0])
    c_in = cond.expand(x_in.shape[0], *cond.shape[1:])
    down, mid = controlnet(x_in, t, emb, c_in)
    eps = unet(x_in, t, encoder_hidden_states=None, class_labels=emb, down_block_additional_residuals=down,
               mid_block_additional_residual=mid, return_dict=False)[0]
    if not guided:
        return eps
    uncond, text = eps.chunk(2)
    return uncond + guidance * (text - uncond)


@torch.inference_mode()
def denoise(unet, controlnet, scheduler, noise: torch.Tensor, emb: torch.Tensor, cond: torch.Tensor,
            steps: int, guidance: float, eta: float = 0.0,
            known: torch.Tensor | None = None, mask: torch.Tensor | None = None,
            renoise: torch.Tensor | None = None, generator: torch.Generator | None = None,
            step_done: Callable[[int], None] | None = None, predict: Callable | None = None) -> torch.Tensor:
    """Latents of one window. `scheduler` is a fresh DDIMScheduler (its state changes here).

    noise, known, renoise: [1, C, T, F] on the model's device; mask: [1, 1, T, 1], 1 where
    new latents are made. step_done(i) runs after each step (progress, cancellation).
    predict(x, t, emb, cond, guidance) replaces predict_noise (a compiled one, say).
    """
    if predict is None:
        def predict(x, t, emb, cond, guidance):
            return predict_noise(unet, controlnet, x, t, emb, cond, guidance)

    scheduler.set_timesteps(steps, device=noise.device)
    timesteps = scheduler.timesteps
    x = noise * scheduler.init_noise_sigma
    tied = known is not None and mask is not None
    if tied:
        renoise = noise if renoise is None else renoise
        x = mask * x + (1 - mask) * scheduler.add_noise(known, renoise, timesteps[:1])
    for i, t in enumerate(timesteps):
        eps = predict(scheduler.scale_model_input(x, t), t, emb, cond, guidance)
        x = scheduler.step(eps, t, x, eta=eta, generator=generator, return_dict=False)[0]
        if tied:
            after = known if i + 1 == len(timesteps) else scheduler.add_noise(known, renoise, timesteps[i + 1: i + 2])
            x = mask * x + (1 - mask) * after
        if step_done is not None:
            step_done(i)
    return x


@torch.inference_mode()
def decode(vae, vocoder, latents: torch.Tensor) -> torch.Tensor:
    """Latents [1, C, T, F] -> 16 kHz waveform [n] (float32, on the CPU)."""
    mel = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]
    if mel.dim() == 4:
        mel = mel.squeeze(1)
    wave = vocoder(mel.to(next(vocoder.parameters()).dtype))
    return wave.reshape(-1).float().cpu()
