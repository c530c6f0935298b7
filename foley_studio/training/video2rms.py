"""Train the `learned` Video2RMS engine on the user's own footage.

    metrics = train("shots/", "video2rms.safetensors", epochs=30)

Every clip with sound teaches the network its own loudness (video2rms_data.py); a
validation share of whole clips is held out (chosen by a seeded hash of the file name)
and scored after every epoch with the paper's ACC, ACC+-2/5/8 and E-L1. The loss is the
release's cross entropy over Gaussian-smoothed labels (labels.py), the optimiser Adam.
Random windows of each clip (4 s by default) are batched by length, so clips of any
duration train together without padding; an epoch makes at least 16 optimiser steps.

After every epoch the weights are written to `out_ckpt` (config, metrics and the split in
the safetensors metadata) and the optimiser + RNG state to `X.optim.safetensors` beside
it. `resume=` continues from such a pair: `epochs` is the total to reach, and a run cut
after epoch k and resumed gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from foley_studio.core.errors import FoleyError
from foley_studio.core.metrics import video2rms_accuracy
from foley_studio.core.rms import FRAME_RATE, NUM_BINS
from foley_studio.engines.base import CancelToken, Progress, check, report
from foley_studio.engines.video2rms.learned.checkpoint import ModelConfig, read_config
from foley_studio.engines.video2rms.learned.engine import decode
from foley_studio.engines.video2rms.learned.features import FeatureConfig
from foley_studio.training import VIDEO2RMS_DEFAULT_EPOCHS
from foley_studio.training.video2rms_data import ClipData, default_cache_dir, find_clips, load_clip, split

log = logging.getLogger("foley_studio.training")

DEFAULT_EPOCHS = VIDEO2RMS_DEFAULT_EPOCHS


def _load_clips(clip_dir, cache_dir, config: FeatureConfig, warn, progress, cancel) -> tuple[list[ClipData], list]:
    paths = find_clips(clip_dir)
    if not paths:
        raise FoleyError("no video clips found in the training folder", clip_dir)
    clips, skipped = [], []
    for i, path in enumerate(paths):
        check(cancel)
        report(progress, 0.2 * i / len(paths), f"features {i + 1}/{len(paths)}")
        name = os.path.relpath(path, clip_dir)
        try:
            clips.append(load_clip(path, name, cache_dir, config, on_frame=lambda _i: check(cancel)))
        except FoleyError as exc:
            skipped.append({"clip": name, "reason": exc.problem})
            warn(f"skipping {path}: {exc.problem}")
    if not clips:
        reasons = sorted({s["reason"] for s in skipped})
        raise FoleyError(f"no usable clips ({len(paths)} found; {'; '.join(reasons)})", clip_dir)
    return clips, skipped


def _windows(clips: list[ClipData], window: int, batch_size: int, rng: np.random.Generator, min_steps: int = 1):
    """Batches of (length, clip index, start) with one length per batch: a clip longer than
    the window gives ceil(n / window) random windows, a shorter one itself. Passes over the
    clips repeat (with new random windows) until there are at least `min_steps` batches."""
    items = []
    while not items or math.ceil(len(items) / batch_size) < min_steps:
        for ci, clip in enumerate(clips):
            n = len(clip)
            if n <= window:
                items.append((n, ci, 0))
            else:
                for start in rng.integers(0, n - window + 1, size=math.ceil(n / window)):
                    items.append((window, ci, int(start)))
    order = rng.permutation(len(items))
    items = sorted((items[i] for i in order), key=lambda it: it[0])  # stable: random within a length
    batches = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _batch_arrays(clips, batch):
    length = min(it[0] for it in batch)  # the shortest in a batch of near-equal lengths
    x = np.stack([clips[ci].features[s:s + length] for _, ci, s in batch])
    y = np.stack([clips[ci].classes[s:s + length] for _, ci, s in batch])
    return x, y


def evaluate(model, clips: list[ClipData], device=None) -> dict[str, float]:
    """Loss, ACC/ACC+-k (argmax) and E-L1s over whole clips, frames pooled."""
    from foley_studio.engines.video2rms.learned.labels import smoothing_table
    from foley_studio.engines.video2rms.learned.network import predict_probs

    if not clips:
        return {}
    table = smoothing_table(model.config.num_classes)
    preds, trues, losses = [], [], []
    err = {"e_l1": 0.0, "e_l1_expectation": 0.0, "e_l1_smoothed": 0.0}
    n_total = 0
    for clip in clips:
        probs = predict_probs(model, clip.features, device=device)
        losses.append(-(np.log(np.maximum(probs, 1e-12)) * table[clip.classes]).sum(axis=1))
        preds.append(probs.argmax(axis=1))
        trues.append(clip.classes)
        argmax_env, expect_env = decode(probs, "argmax"), decode(probs, "expectation")
        err["e_l1"] += float(np.abs(argmax_env - clip.rms).sum())
        err["e_l1_expectation"] += float(np.abs(expect_env - clip.rms).sum())
        err["e_l1_smoothed"] += float(np.abs(argmax_env - clip.target).sum())
        n_total += len(clip)
    out = {"loss": float(np.concatenate(losses).mean())}
    out.update(video2rms_accuracy(np.concatenate(preds), np.concatenate(trues)))
    out.update({k: v / max(n_total, 1) for k, v in err.items()})
    out["frames"] = float(n_total)
    return out


@dataclass(frozen=True)
class TrainOptions:
    cache_dir: str | None
    batch_size: int = 8
    window_s: float = 4.0
    lr: float = 1e-3
    model_config: ModelConfig | None = None
    min_steps: int = 16


def train(
    clip_dir: str | os.PathLike,
    out_ckpt: str | os.PathLike,
    epochs: int = DEFAULT_EPOCHS,
    val_fraction: float = 0.2,
    seed: int = 0,
    progress: Progress | None = None,
    resume: str | os.PathLike | None = None,
    device: str = "auto",
    *,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    window_s: float = 4.0,
    lr: float = 1e-3,
    min_steps: int = 16,
    model_config: ModelConfig | None = None,
    cancel: CancelToken | None = None,
    warn: Callable[[str], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train (or continue training) and return the last epoch's metrics (see module doc).

    cache_dir: where per-clip features live (default ~/.cache/foley-studio/...; "" = none).
    min_steps: an epoch is one pass over every training clip in random windows, repeated
    until it makes at least this many optimiser steps (small folders would learn little
    per epoch otherwise).
    model_config: network size for a fresh run (n_features is filled in).
    warn(message): skipped clips and other notices (default: the logging module).
    on_epoch(row): called after each epoch with that epoch's history row.
    threads: torch CPU threads while training (default 1 on the CPU; restored afterwards).
    """
    from foley_studio.engines.video2rms.learned.network import pick_device

    clip_dir, out_ckpt = os.fspath(clip_dir), os.fspath(out_ckpt)
    if epochs < 1:
        raise FoleyError(f"epochs must be at least 1, got {epochs}")
    if batch_size < 1 or window_s <= 0 or lr <= 0:
        raise FoleyError(f"batch size, window and learning rate must be positive ({batch_size}, {window_s}, {lr})")
    out_dir = os.path.dirname(os.path.abspath(out_ckpt))
    if not os.path.isdir(out_dir):
        raise FoleyError("output folder does not exist", out_dir)
    options = TrainOptions(default_cache_dir() if cache_dir is None else (os.fspath(cache_dir) or None),
                           batch_size, window_s, lr, model_config, max(1, int(min_steps)))
    torch_device = pick_device(device)
    with _cpu_threads(torch_device, threads):
        session = _Session(clip_dir, out_ckpt, val_fraction, seed, options, torch_device,
                           os.fspath(resume) if resume is not None else None, warn or log.warning, progress, cancel)
        return session.run(epochs, on_epoch)


@contextlib.contextmanager
def _cpu_threads(device, threads: int | None):
    import torch

    previous = torch.get_num_threads()
    if threads is not None or device.type == "cpu":
        # the network is small and its LSTM sequential: on a shared CPU one thread trains
        # faster than several that wait on each other (2.3 s vs 4.2 s for the test run here)
        torch.set_num_threads(max(1, threads or 1))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _Session:
    """One training run: data, model, optimiser and RNGs, fresh or restored from `resume`."""

    def __init__(self, clip_dir, out_ckpt, val_fraction, seed, options: TrainOptions, device, resume, warn,
                 progress, cancel):
        import torch

        from foley_studio.engines.video2rms.learned.weights import load_model, new_model
        from foley_studio.training.adam import Adam
        from foley_studio.training.state import load_state, state_path

        self.out_ckpt, self.options, self.device = out_ckpt, options, device
        self.warn, self.progress, self.cancel, self.resume = warn, progress, cancel, resume
        resumed: dict[str, Any] = {}
        if resume is not None:
            config, meta, _ = read_config(resume)
            resumed = _json_meta(meta)
        else:
            base = options.model_config or ModelConfig()
            n_features = FeatureConfig(base.analysis_width, base.grid).n_features
            config = ModelConfig(**{**base.as_dict(), "n_features": n_features})
        feature_config = FeatureConfig(config.analysis_width, config.grid, config.feature_version)
        clips, self.skipped = _load_clips(clip_dir, options.cache_dir, feature_config, warn, progress, cancel)
        by_name = {c.name: c for c in clips}
        stored_split = resumed.get("train", {}).get("split")
        self.train_names, self.val_names = _split(list(by_name), val_fraction, seed, stored_split)
        if not self.train_names:
            raise FoleyError("no clips left for training after the validation split", clip_dir)
        self.train_clips = [by_name[n] for n in self.train_names]
        self.val_clips = [by_name[n] for n in self.val_names]

        if resume is not None:
            self.model, _ = load_model(resume, device)
        else:
            self.model = new_model(config, seed).to(device)
            feats = np.concatenate([c.features for c in self.train_clips])
            self.model.set_normalisation(feats.mean(axis=0), feats.std(axis=0))
            counts = np.bincount(np.concatenate([c.classes for c in self.train_clips]), minlength=NUM_BINS)
            self.model.set_class_prior(counts)
        self.optimizer = Adam(self.model.named_parameters(), lr=options.lr)
        self.rng = np.random.default_rng(seed)
        self.history: list[dict[str, Any]] = list(resumed.get("train", {}).get("history", []))
        self.metrics: dict[str, Any] = resumed.get("metrics", {}) or {}
        self.start_epoch = int(resumed.get("epoch", 0))
        if resume is not None:
            opt_path = state_path(resume)
            if os.path.exists(opt_path):
                extra = load_state(opt_path, self.optimizer)
                if "numpy_rng" in extra:
                    self.rng.bit_generator.state = extra["numpy_rng"]
            else:
                warn(f"no optimiser state beside {resume} ({os.path.basename(opt_path)}): Adam starts afresh")
                torch.manual_seed(seed + self.start_epoch)
        self.settings = {"seed": seed, "val_fraction": val_fraction, "lr": options.lr,
                         "batch_size": options.batch_size, "window_s": options.window_s,
                         "min_steps": options.min_steps,
                         "split": {"train": self.train_names, "val": self.val_names}}

    def run(self, epochs: int, on_epoch) -> dict[str, Any]:
        if self.start_epoch >= epochs:
            self.warn(f"{self.resume} already has {self.start_epoch} epochs (asked for {epochs}): evaluating only")
            self.metrics = {"epoch": self.start_epoch, "split": "val" if self.val_clips else "train",
                            **evaluate(self.model, self.val_clips or self.train_clips, self.device)}
        for epoch in range(self.start_epoch + 1, epochs + 1):
            row = self._epoch(epoch, epochs)
            if on_epoch is not None:
                on_epoch(row)
        report(self.progress, 1.0, "done")
        return {
            **self.metrics,
            "epochs": max(epochs, self.start_epoch),
            "checkpoint": self.out_ckpt,
            "history": self.history,
            "n_train": len(self.train_clips),
            "n_val": len(self.val_clips),
            "val_clips": self.val_names,
            "skipped": self.skipped,
            "device": str(self.device),
        }

    def _epoch(self, epoch: int, epochs: int) -> dict[str, Any]:
        import torch

        from foley_studio.engines.video2rms.learned.network import gls_cross_entropy
        from foley_studio.engines.video2rms.learned.weights import save_model
        from foley_studio.training.state import save_state, state_path

        model, device = self.model, self.device
        model.train()
        window = max(8, int(round(self.options.window_s * FRAME_RATE)))
        batches = _windows(self.train_clips, window, self.options.batch_size, self.rng, self.options.min_steps)
        total, frames = 0.0, 0
        span = max(epochs - self.start_epoch, 1)
        for bi, batch in enumerate(batches):
            check(self.cancel)
            x, y = _batch_arrays(self.train_clips, batch)
            loss = gls_cross_entropy(model(torch.from_numpy(x).to(device)), torch.from_numpy(y).to(device))
            self.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            self.optimizer.step()
            total += float(loss.detach()) * y.size
            frames += y.size
            done = (epoch - 1 - self.start_epoch + (bi + 1) / len(batches)) / span
            report(self.progress, 0.2 + 0.8 * done, f"epoch {epoch}/{epochs}")
        scored = evaluate(model, self.val_clips or self.train_clips, device)
        row = {"epoch": epoch, "train_loss": total / max(frames, 1),
               "split": "val" if self.val_clips else "train", **scored}
        self.history.append(row)
        self.metrics = row
        save_model(model, self.out_ckpt, epoch=epoch, metrics=row, train={**self.settings, "history": self.history})
        save_state(state_path(self.out_ckpt), self.optimizer, epoch=epoch, numpy_rng=self.rng.bit_generator.state)
        return row


def _split(names, val_fraction, seed, stored) -> tuple[list[str], list[str]]:
    """The seeded split; when resuming, clips keep the side they were on before."""
    train_names, val_names = split(names, val_fraction, seed)
    if not stored:
        return train_names, val_names
    old_train, old_val = set(stored.get("train", [])), set(stored.get("val", []))
    new_val = [n for n in names if n in old_val or (n not in old_train and n in val_names)]
    new_train = [n for n in names if n not in set(new_val)]
    return sorted(new_train), sorted(new_val)


def _json_meta(meta: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("epoch", "metrics", "train"):
        if key in meta:
            try:
                out[key] = json.loads(meta[key])
            except json.JSONDecodeError:
                pass
    return out

