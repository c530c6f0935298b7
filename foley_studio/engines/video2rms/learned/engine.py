"""`learned` Video2RMS: cheap visual features -> temporal convs + BiLSTM -> 64 mu-law classes.

Weights come from a .safetensors checkpoint trained by `foley-studio train video2rms` on
the user's own footage (config in the file's metadata). torch is imported only when a
prediction runs, so creating the engine or asking available() stays light.

Decoding: argmax of the 64 classes, undiscretized to the class's edge value (class 0 ->
silence). That is the paper's inference and what its ACC metrics score, and the envelope
is exactly 0 wherever silence is the most likely class, so the editor shows clean gaps
between events. `decode="expectation"` gives the probability-weighted mean level instead:
smoother, but every uncertain frame leaks a low bed of sound, and on our synthetic runs its
E-L1 was no better than argmax's (the training report gives both).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np

from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import EngineError
from foley_studio.core.rms import FRAME_RATE, RMS_MIN, undiscretize
from foley_studio.engines.base import ROI, CancelToken, EngineInfo, Progress, check, report
from foley_studio.engines.video2rms.learned.checkpoint import (
    WEIGHTS_ENV,
    WEIGHTS_FILE,
    read_config,
    resolve,
)
from foley_studio.engines.video2rms.learned.features import FeatureConfig, clip_features

DECODERS = ("argmax", "expectation")
DEVICES = ("auto", "cuda", "mps", "cpu")


def decode(probs: np.ndarray, mode: str = "argmax") -> np.ndarray:
    """(T, C) class probabilities -> linear RMS values (T,)."""
    if len(probs) == 0:
        return np.zeros(0, np.float32)
    if mode == "argmax":
        return undiscretize(np.argmax(probs, axis=1))
    if mode == "expectation":
        levels = undiscretize(np.arange(probs.shape[1]))
        values = probs.astype(np.float64) @ levels
        return np.where(values < RMS_MIN, 0.0, values).astype(np.float32)
    raise EngineError(f"decode must be one of {', '.join(DECODERS)}, got '{mode}'")


class LearnedEngine:
    """Video2RMS with a trained network (the paper's Video2RMS stage, on cheap features)."""

    info = EngineInfo(
        id="learned",
        name="Learned (trained on your footage)",
        kind="video2rms",
        needs_weights=True,
        realtime=True,
        devices=("cuda", "mps", "cpu"),
        description="Temporal convolutions + BiLSTM over optical-flow and frame-difference "
        "features, trained with `foley-studio train video2rms` on clips with their own sound.",
    )

    def __init__(self, weights: str | os.PathLike | None = None, device: str = "auto", decode: str = "argmax"):
        if device not in DEVICES:
            raise EngineError(f"device must be one of {', '.join(DEVICES)}, got '{device}'")
        if decode not in DECODERS:
            raise EngineError(f"decode must be one of {', '.join(DECODERS)}, got '{decode}'")
        self.weights = resolve(weights)
        self.device = device
        self.decode = decode
        self._model = None
        self._device = None

    def available(self) -> tuple[bool, str]:
        # packages first: without torch even good weights cannot run (the packaged app leaves it out)
        for package in ("torch", "safetensors"):
            if importlib.util.find_spec(package) is None:
                return False, f"the learned engine needs the '{package}' package (pip install 'foley-studio[neural]')"
        if self.weights is None:
            return False, (f"no weights: pass --weights CKPT (a {WEIGHTS_FILE} from `foley-studio train "
                           f"video2rms`) or set {WEIGHTS_ENV} to the folder holding it")
        try:
            read_config(self.weights)
        except EngineError as exc:
            return False, str(exc)
        return True, ""

    def _load(self):
        if self._model is None:
            ok, why = self.available()
            if not ok:
                raise EngineError(why)
            from foley_studio.engines.video2rms.learned.network import pick_device
            from foley_studio.engines.video2rms.learned.weights import load_model

            self._device = pick_device(self.device)
            self._model, _ = load_model(self.weights, self._device)
        return self._model

    def predict(
        self,
        clip: Any,
        roi: ROI | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> Envelope:
        report(progress, 0.0, "loading model")
        model = self._load()
        cfg = model.config
        n_hint = max(int(getattr(clip.info, "n_frames", 0) or 0), 1)

        def on_frame(i: int) -> None:
            if i % 30 == 0:
                check(cancel)
                report(progress, 0.85 * i / n_hint, "visual features")

        features = clip_features(clip, roi, FeatureConfig(cfg.analysis_width, cfg.grid, cfg.feature_version),
                                 on_frame)
        check(cancel)
        if features.shape[1] != cfg.n_features:
            raise EngineError(f"checkpoint expects {cfg.n_features} features per frame, the extractor gives "
                              f"{features.shape[1]}", self.weights)
        from foley_studio.engines.video2rms.learned.network import predict_probs

        def on_chunk(i: int, n: int) -> None:
            check(cancel)
            report(progress, 0.85 + 0.15 * i / n, "network")

        probs = predict_probs(model, features, device=self._device, on_chunk=on_chunk)
        report(progress, 1.0, "done")
        return Envelope(decode(probs, self.decode), FRAME_RATE)
