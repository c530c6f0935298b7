"""Train the RMS-ControlNet of the `controlnet` engine on a folder of the user's sounds.

    metrics = train("sounds/", "audioldm-s/", "my-controlnet/", steps=20000)

The AudioLDM components of `base_dir` (VAE, CLAP text encoder + tokenizer, UNet, scheduler
config) are loaded with the engine's loaders (safetensors, local files only) and frozen.
The ControlNet starts from `base_dir/controlnet/` when there is one (fine-tuning), else as
ControlNet training does: the UNet's encoder weights (time and class embeddings, conv_in,
down blocks, mid block) copied, the zero convolutions and the RMS embedding's zero conv
at zero, so training starts exactly at the base model.

Each step takes a random batch of 10.24 s windows (controlnet_data.py): VAE latents
sampled from their cached posterior, the RMS of the sound itself as the condition, the
caption's CLAP embedding (replaced by the empty prompt's with probability
`caption_dropout`, which classifier-free guidance needs), then DDPM noise at a random
timestep and the MSE between the UNet's prediction (with the ControlNet's residuals) and
the noise (or the velocity, for a v-prediction scheduler). Only the ControlNet learns (Adam).

`out_dir` becomes a complete weights folder for the engine: controlnet/ (config.json,
diffusion_pytorch_model.safetensors, training.json) rewritten every `save_every` steps and
at the end, the other components linked (or copied) from base_dir, and
training_state.safetensors (Adam moments, RNG states, step; no pickle) to resume from.
`resume=True` continues in out_dir up to `steps` in total; a run cut at a checkpoint
and resumed gives the same weights as an unbroken one (same device).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from typing import Any, Callable

import numpy as np

from foley_studio.core.errors import EngineError, FoleyError, OutputError
from foley_studio.engines.base import CancelToken, Progress, check, report

log = logging.getLogger("foley_studio.training")

BASE_PARTS = ("unet", "vae", "vocoder", "text_encoder", "tokenizer", "scheduler")
STATE_FILE = "training_state.safetensors"
INFO_FILE = "training.json"
SECONDS = 10.24
LATENT_SECONDS = 0.04  # one latent frame
PROBE_ITEMS = 8


def train(
    audio_dir: str | os.PathLike,
    base_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    steps: int = 10_000,
    batch_size: int = 4,
    lr: float = 1e-5,
    seed: int = 0,
    resume: bool = False,
    device: str = "auto",
    progress: Progress | None = None,
    *,
    seconds: float = SECONDS,
    save_every: int = 500,
    caption_dropout: float = 0.1,
    cache_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    cancel: CancelToken | None = None,
    warn: Callable[[str], None] | None = None,
    on_step: Callable[[int, float], None] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train (or continue training) and return metrics (see the module doc).

    seconds: window length (10.24 s is what the engine renders; shorter trains faster).
    cache_dir: where per-file latents are cached (default ~/.cache/foley-studio/...; "" = none).
    warn(message): skipped files and notices (default: the logging module).
    on_step(step, loss): after every optimiser step.
    threads: torch CPU threads while training (restored afterwards); 1 makes CPU runs
    bit-reproducible (several threads may sum gradients in a different order run to run).
    """
    from foley_studio.training.controlnet_data import default_cache_dir

    audio_dir, base_dir, out_dir = os.fspath(audio_dir), os.fspath(base_dir), os.fspath(out_dir)
    if int(steps) < 1:
        raise FoleyError(f"steps must be at least 1, got {steps}")
    if int(batch_size) < 1 or not float(lr) > 0 or int(save_every) < 1:
        raise FoleyError(f"batch size, learning rate and save interval must be positive "
                         f"({batch_size}, {lr}, {save_every})")
    if not 0.0 <= float(caption_dropout) < 1.0:
        raise FoleyError(f"caption dropout must be in [0, 1), got {caption_dropout}")
    if not float(seconds) > 0:
        raise FoleyError(f"window length must be positive, got {seconds}")
    _check_base(base_dir)
    _check_out(out_dir, base_dir, resume, overwrite)
    cache = default_cache_dir() if cache_dir is None else (os.fspath(cache_dir) or None)
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    try:
        session = _Session(audio_dir, base_dir, out_dir, int(batch_size), float(lr), int(seed), bool(resume),
                           device, float(seconds), int(save_every), float(caption_dropout), cache,
                           warn or log.warning, progress, cancel)
        return session.run(int(steps), on_step)
    finally:
        torch.set_num_threads(previous)


def _check_base(base_dir: str) -> None:
    from foley_studio.engines.rms2sound.controlnet.components import LAYOUT
    from foley_studio.engines.weights import missing_files

    if not os.path.isdir(base_dir):
        raise FoleyError("base AudioLDM folder not found", base_dir)
    missing = missing_files(base_dir, {k: LAYOUT[k] for k in BASE_PARTS})
    if missing:
        raise FoleyError(f"base AudioLDM folder is missing {', '.join(missing)}", base_dir)


def _check_out(out_dir: str, base_dir: str, resume: bool, overwrite: bool) -> None:
    parent = os.path.dirname(os.path.abspath(out_dir))
    if not os.path.isdir(parent):
        raise OutputError("output folder's parent does not exist", parent)
    state = os.path.join(out_dir, STATE_FILE)
    if resume:
        if not os.path.isfile(state) or not os.path.isdir(os.path.join(out_dir, "controlnet")):
            raise FoleyError(f"nothing to resume: no controlnet/ and {STATE_FILE} here", out_dir)
        return
    # also when out_dir is base_dir: its converted controlnet/ is only replaced on request
    if (os.path.isfile(state) or os.path.isdir(os.path.join(out_dir, "controlnet"))) and not overwrite:
        raise OutputError("already holds a trained ControlNet (pass --resume to continue it, or --overwrite)",
                          out_dir)


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def _complete_folder(base_dir: str, out_dir: str) -> None:
    """out_dir gets the base's frozen components, so the engine can load it as it is."""
    os.makedirs(out_dir, exist_ok=True)
    if os.path.abspath(out_dir) == os.path.abspath(base_dir):
        return
    for part in BASE_PARTS:
        dst = os.path.join(out_dir, part)
        if not os.path.exists(dst):
            tmp = dst + ".partial"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(os.path.join(base_dir, part), tmp, copy_function=_link_or_copy)
            os.replace(tmp, dst)


def _weights_id(base_dir: str, part: str) -> str:
    from foley_studio.core.media import fingerprint

    folder = os.path.join(base_dir, part)
    with open(os.path.join(folder, "config.json"), "rb") as f:
        config = f.read()
    return hashlib.sha256(config + fingerprint(os.path.join(folder, "diffusion_pytorch_model.safetensors")).encode()
                          ).hexdigest()[:32]


def init_from_unet(controlnet, unet) -> int:
    """Copy the UNet's encoder weights into the ControlNet (zero convs and RMS embedding
    untouched); returns how many tensors were copied."""
    import torch

    source = unet.state_dict()
    copied = 0
    with torch.no_grad():
        for name, tensor in controlnet.state_dict().items():
            if name.startswith(("controlnet_", "rms_embedding.")):
                continue
            parts = name.split(".")
            if parts[0] == "down_blocks" and len(parts) > 4 and parts[2] == "attentions":
                parts = parts[:4] + parts[5:]  # down_blocks.i.attentions.j.k.* -> down_blocks.i.attentions.j.*
            elif parts[:2] == ["mid_block", "attentions"]:
                parts = parts[:2] + ["0"] + parts[3:]
            theirs = source.get(".".join(parts))
            if theirs is not None and theirs.shape == tensor.shape:
                tensor.copy_(theirs)
                copied += 1
    return copied


def _device(device: str):
    import torch

    from foley_studio.engines.rms2sound.controlnet.components import resolve_device

    if device not in ("auto", "cpu", "cuda", "mps") and not str(device).startswith(("cuda:", "mps:")):
        raise FoleyError(f"device must be auto, cuda, mps or cpu, got {device!r}")
    name = resolve_device(device)
    try:
        torch.zeros(1, device=name)
    except Exception as exc:  # an absent device
        raise FoleyError(f"cannot use device {name!r} ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    return torch.device(name)


class _Session:
    def __init__(self, audio_dir, base_dir, out_dir, batch_size, lr, seed, resume, device, seconds, save_every,
                 caption_dropout, cache_dir, warn, progress, cancel):
        import diffusers
        import torch
        import transformers
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import AutoTokenizer, ClapTextModelWithProjection

        from foley_studio.engines.rms2sound.controlnet.components import LAYOUT, _config, _load, latent_bins
        from foley_studio.engines.rms2sound.controlnet.model import RMSControlNet
        from foley_studio.engines.weights import describe_load_error, missing_files
        from foley_studio.training.adam import Adam
        from foley_studio.training.controlnet_data import SAMPLES_PER_LATENT, MelVAE, load_items

        diffusers.logging.set_verbosity_error()
        transformers.logging.set_verbosity_error()
        diffusers.utils.logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()
        self.base_dir, self.out_dir, self.batch_size, self.seed = base_dir, out_dir, batch_size, seed
        self.save_every, self.caption_dropout, self.warn = save_every, caption_dropout, warn
        self.progress, self.cancel, self.resume = progress, cancel, resume
        self.device = _device(device)
        report(progress, 0.0, "loading the base model")
        try:
            self.unet = _load(UNet2DConditionModel, base_dir, "unet")
            vae = _load(AutoencoderKL, base_dir, "vae")
            buffers = ("position_ids", "token_type_ids", "mean", "scale")
            text_encoder = _load(ClapTextModelWithProjection, base_dir, "text_encoder", buffers)
        except EngineError as exc:
            raise FoleyError(exc.problem, exc.path) from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(os.path.join(base_dir, "tokenizer"), local_files_only=True)
        except Exception as exc:
            raise FoleyError(f"cannot load the tokenizer: {describe_load_error(exc)}",
                             os.path.join(base_dir, "tokenizer")) from None
        sched_cfg = _config(base_dir, "scheduler", "scheduler_config.json")
        self.scheduler = DDPMScheduler.from_config(sched_cfg)
        self.prediction = sched_cfg.get("prediction_type", "epsilon")
        if self.prediction not in ("epsilon", "v_prediction"):
            raise FoleyError(f"scheduler prediction_type {self.prediction!r} is not supported (epsilon or "
                             "v_prediction)", os.path.join(base_dir, "scheduler"))
        vae_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        if vae_factor != 4:
            raise FoleyError(f"a VAE that downsamples by {vae_factor}; the RMS-ControlNet needs 4 (AudioLDM)",
                             os.path.join(base_dir, "vae"))
        n_mels = int(_config(base_dir, "vocoder")["model_in_dim"])
        if n_mels // vae_factor != latent_bins(base_dir) or n_mels % vae_factor:
            raise FoleyError(f"model_in_dim {n_mels} is not a multiple of the VAE factor",
                             os.path.join(base_dir, "vocoder"))
        for m in (self.unet, vae, text_encoder):
            m.to(self.device).eval().requires_grad_(False)
        self.scaling = float(vae.config.scaling_factor)

        # the window: whole latent frames, a multiple of the UNet's downsampling
        unet_factor = 2 ** (len(self.unet.config.block_out_channels) - 1)
        frames = max(unet_factor, int(round(seconds / LATENT_SECONDS)) // unet_factor * unet_factor)
        self.seconds = frames * LATENT_SECONDS
        encoder = MelVAE(vae, n_mels, self.device, _weights_id(base_dir, "vae"))

        def on_file(i: int, n: int) -> None:
            check(cancel)
            report(progress, 0.1 * i / n, f"encoding sounds {i + 1}/{n}")

        self.items, self.skipped = load_items(audio_dir, encoder, frames * SAMPLES_PER_LATENT, cache_dir, warn,
                                              on_file)
        del encoder, vae
        self.mean = torch.from_numpy(np.stack([it.mean for it in self.items]))
        self.std = torch.from_numpy(np.stack([it.std for it in self.items]))
        self.cond = torch.from_numpy(np.stack([it.cond for it in self.items]))[:, None, :, None]
        captions = sorted({it.caption for it in self.items} | {""})
        table = self._embed(tokenizer, text_encoder, captions)
        self.caption_index = np.array([captions.index(it.caption) for it in self.items])
        self.empty_index = captions.index("")
        self.text = table
        del text_encoder

        # the ControlNet: resumed, fine-tuned from the base's, or initialised from the UNet
        self.init = "unet"
        if resume:
            source = out_dir
            self.init = "resume"
        elif not missing_files(base_dir, {"controlnet": LAYOUT["controlnet"]}):
            source = base_dir
            self.init = "base controlnet"
        if self.init != "unet":
            try:
                self.controlnet = _load(RMSControlNet, source, "controlnet")
            except EngineError as exc:
                raise FoleyError(exc.problem, exc.path) from None
            self._check_controlnet(source)
        else:
            torch.manual_seed(seed)  # the RMS embedding's first conv is the one random layer
            self.controlnet = RMSControlNet.from_unet_config(self.unet.config)
            if init_from_unet(self.controlnet, self.unet) == 0:
                raise FoleyError("the UNet shares no encoder weights with the ControlNet",
                                 os.path.join(base_dir, "unet"))
        self.controlnet.to(self.device).train().requires_grad_(True)
        self.optimizer = Adam(self.controlnet.named_parameters(), lr=lr)
        self.rng = np.random.default_rng(seed)
        self.start_step, self.history = 0, []
        if resume:
            self._restore()
        else:
            torch.manual_seed(seed)
        self.settings = {"seed": seed, "lr": lr, "batch_size": batch_size, "seconds": self.seconds,
                         "caption_dropout": caption_dropout, "save_every": save_every,
                         "base": os.path.abspath(base_dir), "init": self.init}

    # -- setup helpers ------------------------------------------------------------------
    def _embed(self, tokenizer, text_encoder, captions: list[str]):
        """L2-normalised CLAP embeddings [N, D] on the device, as encode_prompts makes them."""
        import torch

        rows = []
        with torch.no_grad():
            for i in range(0, len(captions), 32):
                tok = tokenizer(captions[i:i + 32], padding="max_length", max_length=tokenizer.model_max_length,
                                truncation=True, return_tensors="pt")
                out = text_encoder(input_ids=tok.input_ids.to(self.device),
                                   attention_mask=tok.attention_mask.to(self.device))
                rows.append(torch.nn.functional.normalize(out.text_embeds.float(), dim=-1))
        return torch.cat(rows)

    def _check_controlnet(self, root: str) -> None:
        cfg, unet = self.controlnet.config, self.unet.config
        for key, theirs in (("block_out_channels", "block_out_channels"), ("layers_per_block", "layers_per_block"),
                            ("in_channels", "in_channels"),
                            ("projection_class_embeddings_input_dim", "class_embed_input_dim")):
            a, b = unet[key], cfg[theirs]
            a, b = (list(a) if isinstance(a, (list, tuple)) else a), (list(b) if isinstance(b, (list, tuple)) else b)
            if a != b:
                raise FoleyError(f"{theirs} {b} does not match the base unet's {key} {a}",
                                 os.path.join(root, "controlnet", "config.json"))

    def _restore(self) -> None:
        from foley_studio.training.state import load_state

        info_path = os.path.join(self.out_dir, "controlnet", INFO_FILE)
        try:
            with open(info_path, encoding="utf-8") as f:
                info = json.load(f)
        except (OSError, ValueError) as exc:
            raise FoleyError(f"unreadable training info ({exc.__class__.__name__})", info_path) from None
        extra = load_state(os.path.join(self.out_dir, STATE_FILE), self.optimizer)
        step = int(extra.get("step", -1))
        if step != int(info.get("step", -2)):
            raise FoleyError(f"{STATE_FILE} is at step {step} but controlnet/ at step {info.get('step')}",
                             self.out_dir)
        if "numpy_rng" in extra:
            self.rng.bit_generator.state = extra["numpy_rng"]
        self.start_step = step
        self.history = list(info.get("history", []))

    # -- training -----------------------------------------------------------------------
    def _batch(self, indices: np.ndarray, dropout: bool):
        import torch

        mean, std = self.mean[indices], self.std[indices]
        latents = (mean + std * torch.randn(mean.shape)) * self.scaling
        caps = self.caption_index[indices].copy()
        if dropout and self.caption_dropout > 0:
            caps[self.rng.random(len(caps)) < self.caption_dropout] = self.empty_index
        noise = torch.randn(latents.shape)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(indices),))
        return latents, noise, t, self.text[torch.from_numpy(caps).to(self.text.device)], self.cond[indices]

    def _loss(self, latents, noise, t, emb, cond):
        import torch

        dev = self.device
        latents, noise, t, cond = latents.to(dev), noise.to(dev), t.to(dev), cond.to(dev)
        noisy = self.scheduler.add_noise(latents, noise, t)
        target = noise if self.prediction == "epsilon" else self.scheduler.get_velocity(latents, noise, t)
        down, mid = self.controlnet(noisy, t, emb, cond)
        pred = self.unet(noisy, t, encoder_hidden_states=None, class_labels=emb,
                         down_block_additional_residuals=down, mid_block_additional_residual=mid,
                         return_dict=False)[0]
        return torch.nn.functional.mse_loss(pred.float(), target.float())

    def probe_loss(self) -> float:
        """The loss on a fixed batch (the first items, fixed noise and timesteps, no dropout)."""
        import torch

        n = min(PROBE_ITEMS, len(self.items))
        idx = np.arange(n)
        g = torch.Generator().manual_seed(self.seed + 7919)
        mean, std = self.mean[idx], self.std[idx]
        latents = (mean + std * torch.randn(mean.shape, generator=g)) * self.scaling
        noise = torch.randn(latents.shape, generator=g)
        total = self.scheduler.config.num_train_timesteps
        t = torch.from_numpy(np.linspace(total * 0.05, total * 0.95, n).astype(np.int64))
        emb = self.text[torch.from_numpy(self.caption_index[idx]).to(self.text.device)]
        with torch.no_grad():
            return float(self._loss(latents, noise, t, emb, self.cond[idx]))

    def run(self, steps: int, on_step) -> dict[str, Any]:
        import torch

        from foley_studio.core.atomic import write_text_atomic

        _complete_folder(self.base_dir, self.out_dir)
        probe_start = self.probe_loss()
        if self.start_step >= steps:
            self.warn(f"{self.out_dir} is already at step {self.start_step} (asked for {steps}): nothing to do")
        losses: list[float] = []
        params = list(self.optimizer.params.values())
        window: list[float] = []
        for step in range(self.start_step + 1, steps + 1):
            check(self.cancel)
            replace = len(self.items) < self.batch_size
            indices = self.rng.choice(len(self.items), size=self.batch_size, replace=replace)
            loss = self._loss(*self._batch(indices, dropout=True))
            self.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            self.optimizer.step()
            value = float(loss.detach())
            if not np.isfinite(value):
                raise FoleyError(f"the loss became {value} at step {step} (try a lower --lr)")
            losses.append(value)
            window.append(value)
            if on_step is not None:
                on_step(step, value)
            report(self.progress, 0.1 + 0.9 * (step - self.start_step) / max(steps - self.start_step, 1),
                   f"step {step}/{steps}  loss {value:.4f}")
            if step % self.save_every == 0 or step == steps:
                self.history.append({"step": step, "loss": float(np.mean(window))})
                window = []
                self._save(step, write_text_atomic)
        probe_end = self.probe_loss()
        report(self.progress, 1.0, "done")
        return {
            "step": max(steps, self.start_step),
            "start_step": self.start_step,
            "loss": float(np.mean(losses[-50:])) if losses else None,
            "losses": losses,
            "probe_loss_start": probe_start,
            "probe_loss_end": probe_end,
            "history": self.history,
            "output": self.out_dir,
            "n_files": len({it.name.rsplit("#", 1)[0] for it in self.items}),
            "n_windows": len(self.items),
            "skipped": self.skipped,
            "seconds": self.seconds,
            "init": self.init,
            "device": str(self.device),
        }

    def _save(self, step: int, write_text_atomic) -> None:
        from foley_studio.training.state import save_state

        final = os.path.join(self.out_dir, "controlnet")
        tmp, old = final + ".partial", final + ".old"
        for leftover in (tmp, old):
            shutil.rmtree(leftover, ignore_errors=True)
        self.controlnet.save_pretrained(tmp, safe_serialization=True)
        info = {"step": step, "settings": self.settings, "history": self.history,
                "captions": len(self.text) - 1, "windows": len(self.items)}
        write_text_atomic(os.path.join(tmp, INFO_FILE), json.dumps(info, indent=1))
        if os.path.isdir(final):
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        save_state(os.path.join(self.out_dir, STATE_FILE), self.optimizer, step=step,
                   numpy_rng=self.rng.bit_generator.state, settings=self.settings)
