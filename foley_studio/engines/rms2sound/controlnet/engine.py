"""The `controlnet` RMS2Sound engine: AudioLDM-S + the Video-Foley RMS-ControlNet (diffusers).

Renders sound that follows an envelope with the timbre of a text prompt, as the paper's
RMS2Sound stage does: DDIM with classifier-free guidance on the text, the RMS control in
both branches, mel -> HiFi-GAN at 16 kHz, then resampled to the requested rate.

Clips longer than 10.24 s are rendered in overlapping windows (windows.py). A `span`
re-render regenerates only the latents around the span by inpainting against the latents
of the previous render, then splices the new audio into `previous` with a short crossfade,
so everything outside the span (beyond CROSSFADE) is bit-identical to `previous`.

Timbre from a sound file (audio_prompt.py): with `audio_prompt=PATH` (a track's
engine_params {"audio_prompt": PATH}) the conditional branch gets the CLAP audio embedding of
that file instead of the prompt's text embedding: the audio prompt wins, the text prompt is
then only the track's label. `audio_prompt_weight` below 1 mixes the two instead:
normalise(w * audio + (1 - w) * text). Needs audio_encoder/ in the weights folder.

Latent cache: the final latents of every window of the last render are kept in memory, keyed
by (timbre, seed, number of envelope frames) where timbre is the prompt, or the audio prompt
file's (path, mtime, size) and weight; at most CACHE_SIZE keys, least recently used
dropped first, with a digest of the audio that render returned. A span re-render inpaints
against that entry when `previous` is that audio, and then replaces it. Otherwise (another
engine instance, an evicted key, `previous` from an older render) the touched windows are
rendered afresh with the same seeds; the splice still leaves everything outside the span
unchanged.
torch, diffusers and transformers load on first use, never at import.
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from collections import OrderedDict
from typing import Any

import numpy as np

from foley_studio.core.audio import Audio, fit_length, resample
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import EngineError
from foley_studio.core.rms import FRAME_RATE, condition_from_envelope, resample_curve
from foley_studio.engines.base import CancelToken, EngineInfo, Progress, Span, check, report
from foley_studio.engines.rms2sound.controlnet import audio_prompt as ap
from foley_studio.engines.rms2sound.controlnet import windows as win
from foley_studio.engines.weights import NEURAL_INSTALL_HINT, missing_packages, resolve_weights_dir

WEIGHTS_SUBFOLDER = "audioldm-controlnet"
CONVERT_HINT = ("make it with `foley-studio convert-weights audioldm-s-full.ckpt ControlNetstep300000.pth "
                "-o DIR`")
CACHE_SIZE = 16
DEVICES = ("auto", "cpu", "cuda", "mps")
# loaded models shared by the engines on one folder, device and dtype: the render service makes an
# engine per distinct engine_params (one per audio prompt file), and each must not load its own copy
_SHARED: "weakref.WeakValueDictionary[tuple, Any]" = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


class ControlNetEngine:
    info = EngineInfo(
        id="controlnet",
        name="RMS-ControlNet (AudioLDM)",
        kind="rms2sound",
        needs_weights=True,
        realtime=False,
        devices=("cuda", "mps", "cpu"),
        description="The Video-Foley paper's RMS2Sound model: AudioLDM-S with an RMS-ControlNet, "
        "text prompt (or a reference sound, with the CLAP audio branch) for timbre. Needs converted weights "
        "(foley-studio convert-weights); fast on a GPU.",
        supports_span=True,
        supports_audio_prompt=True,
    )

    def __init__(self, weights: str | None = None, device: str = "auto", steps: int = 25,
                 guidance_scale: float = 3.5, dtype: str = "auto", eta: float = 0.0, compile: bool = False,
                 audio_prompt: str | None = None, audio_prompt_weight: float = 1.0):
        if not (device in DEVICES or str(device).startswith(("cuda:", "mps:"))):
            raise EngineError(f"controlnet: device must be one of {', '.join(DEVICES)} or cuda:N, got {device!r}")
        if int(steps) < 1:
            raise EngineError(f"controlnet: steps must be at least 1, got {steps}")
        if not 0.0 <= float(eta) <= 1.0:
            raise EngineError(f"controlnet: eta must be between 0 and 1, got {eta}")
        if not 0.0 <= float(audio_prompt_weight) <= 1.0:
            raise EngineError(f"controlnet: audio_prompt_weight must be between 0 and 1, got {audio_prompt_weight}")
        if audio_prompt is not None and not isinstance(audio_prompt, (str, os.PathLike)):
            raise EngineError(f"controlnet: audio_prompt must be a file path, got {audio_prompt!r}")
        # relative paths are taken from the working directory; a project resolves its own on load
        self.audio_prompt = os.path.abspath(os.path.expanduser(os.fspath(audio_prompt))) if audio_prompt else None
        self.audio_prompt_weight = float(audio_prompt_weight)
        self.weights = resolve_weights_dir(weights, WEIGHTS_SUBFOLDER)
        self.device, self.dtype = str(device), str(dtype)
        self.steps, self.guidance_scale, self.eta = int(steps), float(guidance_scale), float(eta)
        # torch.compile with CUDA graphs (CUDA only): the first render pays about a minute of
        # compiling, later steps run ~8x faster (scripts/gpu_bench_controlnet.py)
        self.compile = bool(compile)
        self._predict: Any = None
        self._components: Any = None
        self._load_lock = threading.Lock()
        # (prompt, seed, envelope frames) -> (digest of the audio rendered, {window: latents})
        self._cache: OrderedDict[tuple, tuple[bytes, dict[int, Any]]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._prompts: dict[str, Any] = {}
        self._audio_embeds: dict[ap.FileStamp, Any] = {}  # float32 [1, D] per file version

    # -- availability -------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        missing = missing_packages()
        if missing:
            return False, f"controlnet: needs {', '.join(missing)} ({NEURAL_INSTALL_HINT})"
        if self.weights is None:
            return False, ("controlnet: no weights folder set: pass --weights DIR or set FOLEY_STUDIO_WEIGHTS; "
                           + CONVERT_HINT)
        from foley_studio.engines.rms2sound.controlnet.components import folder_problem

        problem = folder_problem(self.weights)
        if problem:
            return False, f"controlnet: {problem}; {CONVERT_HINT}"
        if self.audio_prompt is not None:
            problem = ap.branch_problem(self.weights)
            if problem:
                return False, f"controlnet: {problem}"
            try:
                ap.file_stamp(self.audio_prompt)
            except EngineError as exc:
                return False, f"controlnet: {exc}"
        return True, ""

    def available_features(self) -> dict[str, tuple[bool, str]]:
        """Optional inputs this engine takes: name -> (supported, why not)."""
        return {
            "text_prompt": (True, ""),
            "audio_prompt": self._audio_feature(),
            "span": (True, ""),
        }

    def _audio_feature(self) -> tuple[bool, str]:
        if self.weights is None:
            return False, "timbre from an audio prompt needs a weights folder with AudioLDM's CLAP audio branch"
        problem = ap.branch_problem(self.weights)
        return (not problem), problem

    def cache_token(self) -> str:
        """What a render depends on beyond its request: the audio prompt file's version ("" without one)."""
        if self.audio_prompt is None:
            return ""
        try:
            path, mtime, size = ap.file_stamp(self.audio_prompt)
        except EngineError:
            return f"{self.audio_prompt}:missing"
        return f"{path}:{mtime}:{size}"

    def components(self):
        """The loaded models (loads them on first call; shared with engines on the same folder)."""
        with self._load_lock:
            if self._components is None:
                ok, why = self.available()
                if not ok:
                    raise EngineError(why)
                from foley_studio.engines.rms2sound.controlnet.components import load

                key = (self.weights, self.device, self.dtype)
                with _SHARED_LOCK:
                    shared = _SHARED.get(key)
                    if shared is None:
                        shared = load(self.weights, self.device, self.dtype)
                        _SHARED[key] = shared
                self._components = shared
            return self._components

    # -- rendering ----------------------------------------------------------------------
    def render(self, envelope: Envelope, prompt: str, seed: int, sample_rate: int, span: Span | None = None,
               previous: Audio | None = None, progress: Progress | None = None,
               cancel: CancelToken | None = None) -> Audio:
        sr = int(sample_rate)
        if sr <= 0:
            raise EngineError(f"controlnet: sample rate must be positive, got {sample_rate}")
        n_out = int(round(envelope.duration * sr))
        env = np.asarray(envelope.values, np.float32)
        if envelope.rate != FRAME_RATE:
            env = resample_curve(env, int(round(envelope.duration * FRAME_RATE)))
        if len(env) == 0 or n_out == 0:
            return Audio.silence(n_out, sr)
        check(cancel)
        report(progress, 0.0, "loading the model")
        timbre = self._timbre(str(prompt))  # before loading: a missing audio prompt fails fast
        c = self.components()
        starts = win.plan(win.n_frames(len(env)))
        key = (timbre, int(seed), len(env))
        usable = span is not None and previous is not None and previous.sr == sr and len(previous) == n_out
        if usable:
            a, b, fade = win.span_samples(span, sr, n_out)
            if b <= a:
                return Audio(previous.samples.copy(), sr)
            fa, fb = win.span_frames(a, b, sr, starts[-1] + win.WINDOW)
            todo, region = win.touching(starts, fa, fb), (fa, fb)
        else:
            todo, region = list(range(len(starts))), None
        with self._cache_lock:
            entry = self._cache.get(key)
            # latents only fit `previous` if they made it (not an older or other engine's render)
            fits = entry is not None and region is not None and entry[0] == _digest(previous)
            cached = dict(entry[1]) if fits else {}
        emb = self._condition(c, str(prompt), timbre)
        latents = self._denoise(c, env, emb, int(seed), starts, todo, region, cached, progress, cancel)
        report(progress, 0.93, "decoding")
        check(cancel)
        first, wave16 = win.assemble(starts, {k: self._decode(c, latents[k]) for k in todo})
        at = int(round(first * sr / win.SR_MODEL))
        wave = resample(wave16, win.SR_MODEL, sr)
        if usable:
            new = fit_length(wave[a - at:], b - a)
            out = Audio(win.splice(previous.samples, new, a, b, fade), sr)
        else:
            out = Audio(fit_length(wave, n_out), sr)
        with self._cache_lock:
            self._cache.pop(key, None)
            self._cache[key] = (_digest(out), {**cached, **{k: latents[k] for k in todo}})
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        report(progress, 1.0, "done")
        return out

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def _timbre(self, prompt: str) -> Any:
        """The latent-cache key part that stands for the timbre condition."""
        if self.audio_prompt is None:
            return prompt
        stamp = ap.file_stamp(self.audio_prompt)
        mixed = self.audio_prompt_weight < 1.0  # at weight 1 the text plays no part
        return ("audio", *stamp, self.audio_prompt_weight, prompt if mixed else "")

    def _text(self, c, prompt: str):
        """[1, D] CLAP text embedding, cached per prompt."""
        from foley_studio.engines.rms2sound.controlnet.components import encode_prompts

        if prompt not in self._prompts:
            self._prompts[prompt] = encode_prompts(c, [prompt])
        return self._prompts[prompt]

    def _condition(self, c, prompt: str, timbre: Any):
        """[2, D] (unconditional, conditional) embeddings: the empty text, then the prompt or the sound."""
        import torch

        if self.audio_prompt is None:
            return torch.cat([self._text(c, ""), self._text(c, prompt)])
        stamp = timbre[1:4]
        if stamp not in self._audio_embeds:
            self._audio_embeds = {stamp: self._audio_encoder(c).embed(self.audio_prompt)}  # last version only
        cond = self._audio_embeds[stamp].to(c.device)
        w = self.audio_prompt_weight
        if w < 1.0:
            cond = torch.nn.functional.normalize(w * cond + (1 - w) * self._text(c, prompt).float(), dim=-1)
        return torch.cat([self._text(c, ""), cond.to(c.dtype)])

    @staticmethod
    def _audio_encoder(c):
        """The CLAP audio branch, loaded once per shared Components."""
        with _SHARED_LOCK:
            if c.audio_encoder is None:
                c.audio_encoder = ap.AudioPromptEncoder(c.root, c.device)
            return c.audio_encoder

    def _denoise(self, c, env, emb, seed, starts, todo, region, cached, progress, cancel) -> dict[int, Any]:
        import torch
        from diffusers import DDIMScheduler

        from foley_studio.engines.rms2sound.controlnet.sampler import denoise

        shape = (1, c.latent_channels, win.WINDOW, c.latent_bins)
        out: dict[int, Any] = {}
        total = max(1, len(todo) * self.steps)
        for n, k in enumerate(todo):
            known, mask = self._tie(c, starts, k, region, cached, out, shape)
            if known is not None and not bool(mask.any()):
                out[k] = known.float().cpu()
                continue
            s = starts[k]
            env_win = env[s * win.ENV_PER_FRAME: (s + win.WINDOW) * win.ENV_PER_FRAME]
            cond = torch.from_numpy(condition_from_envelope(env_win)).to(c.device, c.dtype)
            noise = torch.randn(shape, generator=_generator(seed, k, 0)).to(c.device, c.dtype)

            def step_done(i: int, n: int = n, k: int = k) -> None:
                check(cancel)
                report(progress, 0.9 * (n * self.steps + i + 1) / total,
                       f"window {k + 1}/{len(starts)}, step {i + 1}/{self.steps}")

            check(cancel)
            x = denoise(c.unet, c.controlnet, DDIMScheduler.from_config(c.scheduler_config), noise, emb, cond,
                        self.steps, self.guidance_scale, self.eta, known=known, mask=mask,
                        generator=_generator(seed, k, 1), step_done=step_done, predict=self._compiled(c))
            out[k] = x.float().cpu()
        return out

    def _compiled(self, c):
        """The guided noise prediction compiled with CUDA graphs, when asked for and on CUDA."""
        if not self.compile or c.device.type != "cuda":
            return None
        if self._predict is None:
            import torch

            from foley_studio.engines.rms2sound.controlnet.sampler import predict_noise

            unet, controlnet = c.unet, c.controlnet

            def guided(x, t, emb, cond, guidance):
                return predict_noise(unet, controlnet, x, t, emb, cond, guidance)

            self._predict = torch.compile(guided, mode="reduce-overhead", dynamic=False)
        return self._predict

    @staticmethod
    def _tie(c, starts, k, region, cached, done, shape):
        """(known latents, mask) for window k: mask 1 where latents are generated, else None."""
        import torch

        s = starts[k]
        known = torch.zeros(shape)
        mask = torch.ones(1, 1, shape[2], 1)
        tied = False
        if region is not None and k in cached:
            known, tied = cached[k].clone(), True
            mask.zero_()
            lo, hi = max(region[0], s) - s, min(region[1], s + win.WINDOW) - s
            mask[:, :, lo:hi] = 1
        shared = win.shared(starts, k)
        if shared and k - 1 in done:  # the overlap continues the window before, as rendered now
            prev = done[k - 1][:, :, win.WINDOW - shared:]
            known[:, :, :shared] = prev
            mask[:, :, :shared] = 0
            tied = True
        if not tied:
            return None, None
        return known.to(c.device, c.dtype), mask.to(c.device, c.dtype)

    @staticmethod
    def _decode(c, latents) -> np.ndarray:
        from foley_studio.engines.rms2sound.controlnet.sampler import decode

        wave = decode(c.vae, c.vocoder, latents.to(c.device, c.dtype)).numpy()
        return fit_length(wave, win.WINDOW * win.FRAME_SAMPLES)  # HiFi-GAN may add a few samples


def _digest(audio: Audio | None) -> bytes:
    if audio is None:
        return b""
    h = hashlib.blake2b(np.ascontiguousarray(audio.samples).view(np.uint8), digest_size=16)
    h.update(str(audio.sr).encode())
    return h.digest()


def _generator(seed: int, window: int, purpose: int):
    """A CPU generator per (seed, window, purpose): the same noise on every device."""
    import torch

    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, window, purpose]).generate_state(2, np.uint32)
    return torch.Generator("cpu").manual_seed(int(state[0]) << 32 | int(state[1]))
