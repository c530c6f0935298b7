"""Training data for Video2RMS from a folder of the user's clips (self-supervised).

Each clip's own sound is the target: its audio track decoded at 16 kHz -> the paper's
frame RMS (rms.analyze) -> zero-phase smoothing (rms.smooth) -> 64 mu-law classes
(rms.discretize), on the same 125 Hz grid as the visual features. Both are cached per
clip as .npz (never pickled), keyed by the file's fingerprint and the feature settings,
so later epochs and later runs skip decoding and optical flow entirely.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from foley_studio.core.atomic import atomic_output
from foley_studio.core.errors import FoleyError
from foley_studio.core.media import fingerprint, open_clip
from foley_studio.core.rms import FRAME_RATE, RMS_SR, analyze, discretize, smooth
from foley_studio.engines.video2rms.learned.features import FeatureConfig, clip_features
from foley_studio.training.files import cache_dir, find_files

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mts", ".m2ts", ".mxf", ".mpg", ".mpeg",
    ".3gp", ".wmv", ".flv", ".ts",
})
TARGET_VERSION = 1  # bump when the target recipe changes (invalidates cached targets)


@dataclass(frozen=True, eq=False)
class ClipData:
    name: str  # path relative to the training folder: what the split and reports use
    path: str
    features: np.ndarray  # (n, F) float32 at 125 Hz
    rms: np.ndarray  # (n,) the paper's frame RMS of the clip's audio, unsmoothed (E-L1)
    target: np.ndarray  # (n,) smoothed RMS
    classes: np.ndarray  # (n,) int64 mu-law classes of the smoothed RMS: the labels

    def __len__(self) -> int:
        return len(self.classes)


def default_cache_dir() -> str:
    return cache_dir("video2rms-features")


def find_clips(clip_dir: str | os.PathLike) -> list[str]:
    """Video files under clip_dir (recursive, hidden folders skipped), sorted by path."""
    return find_files(clip_dir, tuple(VIDEO_EXTENSIONS), "clips")


def fit(values: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad a curve to n frames (audio shorter than the picture is silence)."""
    out = np.zeros(n, np.float32)
    m = min(n, len(values))
    out[:m] = values[:m]
    return out


def _cache_key(fp: str, config: FeatureConfig) -> str:
    text = json.dumps({"fingerprint": fp, "features": config.as_dict(), "targets": TARGET_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _read_cache(path: str, key: str) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            return {k: data[k] for k in ("features", "rms", "target", "classes")}
    except (OSError, KeyError, ValueError):
        return None  # missing or damaged: recompute


def _write_cache(path: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_output(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, key=np.array(key), **arrays)
    except OSError:
        pass  # a read-only cache only costs time


def load_clip(path: str, name: str, cache_dir: str | None, config: FeatureConfig,
              on_frame: Callable[[int], None] | None = None) -> ClipData:
    """Features and targets of one clip; raises FoleyError (one line) when it cannot be used."""
    fp = fingerprint(path)
    key = _cache_key(fp, config)
    cache_path = os.path.join(cache_dir, key + ".npz") if cache_dir else None
    arrays = _read_cache(cache_path, key) if cache_path else None
    if arrays is None:
        clip = open_clip(path)
        if not clip.info.has_audio:
            raise FoleyError("no audio track to learn from", path)
        n = int(round(clip.info.duration * FRAME_RATE))
        if n < 2:
            raise FoleyError("too short to learn from", path)
        audio = clip.audio(sr=RMS_SR)
        rms = fit(analyze(audio), n)
        target = smooth(rms)
        features = clip_features(clip, None, config, on_frame)
        arrays = {"features": features, "rms": rms, "target": target, "classes": discretize(target)}
        if cache_path:
            _write_cache(cache_path, key, arrays)
    return ClipData(name, path, arrays["features"].astype(np.float32), arrays["rms"].astype(np.float32),
                    arrays["target"].astype(np.float32), arrays["classes"].astype(np.int64))


def split(names: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, validation) names: a fixed share of clips, chosen by a seeded hash of the name,
    so the same folder and seed always give the same split, on any machine."""
    if not 0.0 <= val_fraction < 1.0:
        raise FoleyError(f"validation fraction must be in [0, 1), got {val_fraction}")
    if val_fraction == 0.0:
        return sorted(names), []
    if len(names) < 2:
        raise FoleyError(f"need at least 2 usable clips to hold one out for validation, found {len(names)} "
                         "(add clips, or pass --val-fraction 0)")
    n_val = min(len(names) - 1, max(1, int(round(val_fraction * len(names)))))
    order = sorted(names, key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest())
    return sorted(order[n_val:]), sorted(order[:n_val])
