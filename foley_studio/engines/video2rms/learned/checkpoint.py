"""Video2RMS checkpoints: one .safetensors file, the model config in its metadata as JSON.

Only safetensors is ever read (never pickle). The header is parsed in plain Python
(core/safetensors_mmap.py), so `available()` can say what is wrong with a file without importing torch;
tensors are loaded by safetensors itself inside the methods that need torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from foley_studio.core import safetensors_mmap
from foley_studio.core.errors import EngineError
from foley_studio.core.safetensors_mmap import SafetensorsError
from foley_studio.engines.video2rms.learned.features import FEATURE_VERSION

FORMAT = "foley-studio.video2rms"
FORMAT_VERSION = 1
WEIGHTS_ENV = "FOLEY_STUDIO_WEIGHTS"
WEIGHTS_FILE = "video2rms.safetensors"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network; stored with its weights."""

    n_features: int = 69
    hidden: int = 128  # channels of the temporal convolutions
    conv_layers: int = 3
    kernel_size: int = 5
    dilations: tuple[int, ...] = (1, 2, 4)  # receptive field ~0.23 s at 125 Hz, before the LSTM
    lstm_hidden: int = 64  # per direction
    lstm_layers: int = 1
    dropout: float = 0.2
    num_classes: int = 64
    feature_version: int = FEATURE_VERSION
    analysis_width: int = 160
    grid: int = 4

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any], where: str = "") -> "ModelConfig":
        """Checked field by field: the network is built from these numbers before any weight is
        compared, so a hostile file must not make it build a gigantic or broken one."""
        known = set(ModelConfig.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise EngineError(f"unknown model config keys {unknown[:3]} (saved by a newer foley-studio?)",
                              where or None)
        values = dict(d)
        for key, value in values.items():
            lo, hi = _LIMITS[key]
            items = value if key == "dilations" else [value]
            if key == "dilations" and not (isinstance(value, list) and 1 <= len(value) <= 64):
                raise EngineError("bad model config in the metadata (dilations: expected 1-64 numbers)",
                                  where or None)
            for x in items:
                ok = (isinstance(x, (int, float)) if key == "dropout" else isinstance(x, int))
                if not ok or isinstance(x, bool) or not lo <= x <= hi:
                    raise EngineError(f"bad model config in the metadata ({key}: expected a number in "
                                      f"{lo}..{hi}, got {json.dumps(x)[:40]})", where or None)
        if "dilations" in values:
            values["dilations"] = tuple(values["dilations"])
        cfg = ModelConfig(**values)
        if len(cfg.dilations) != cfg.conv_layers:
            raise EngineError(f"model config has {cfg.conv_layers} conv layers but {len(cfg.dilations)} dilations",
                              where or None)
        return cfg


# generous bounds on every config number (the defaults are far inside them)
_LIMITS: dict[str, tuple[float, float]] = {
    "n_features": (1, 4096), "hidden": (1, 4096), "conv_layers": (1, 64), "kernel_size": (1, 63),
    "dilations": (1, 1024), "lstm_hidden": (1, 4096), "lstm_layers": (1, 16), "dropout": (0, 1),
    "num_classes": (2, 1024), "feature_version": (0, 10**6), "analysis_width": (8, 8192), "grid": (1, 64),
}


def default_weights_path() -> str | None:
    """$FOLEY_STUDIO_WEIGHTS/video2rms.safetensors, or None when the variable is unset."""
    folder = os.environ.get(WEIGHTS_ENV, "").strip()
    return os.path.join(os.path.expanduser(folder), WEIGHTS_FILE) if folder else None


def resolve(path: str | os.PathLike | None) -> str | None:
    """A weights argument as a file path: a folder means FOLDER/video2rms.safetensors."""
    if path is None or not os.fspath(path).strip():
        return default_weights_path()
    path = os.path.expanduser(os.fspath(path))
    return os.path.join(path, WEIGHTS_FILE) if os.path.isdir(path) else path


def read_header(path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(tensor table, metadata) of a safetensors file; one-line EngineError otherwise."""
    if not os.path.exists(path):
        raise EngineError("weights file not found", path)
    if os.path.isdir(path):
        raise EngineError(f"is a folder without {WEIGHTS_FILE}", path)
    try:
        table, metadata, _ = safetensors_mmap.read_header(path)
    except SafetensorsError as exc:
        hint = "" if exc.problem.startswith("cannot read") else "; checkpoints load only from safetensors, never pickle"
        raise EngineError(exc.problem + hint, path) from None
    return table, metadata


def read_config(path: str) -> tuple[ModelConfig, dict[str, str], dict[str, Any]]:
    """(config, metadata, tensor table) of a Video2RMS checkpoint, checked without torch."""
    table, metadata = read_header(path)
    if metadata.get("format") != FORMAT:
        raise EngineError(f"not a Video2RMS checkpoint (safetensors metadata lacks format={FORMAT})", path)
    try:
        config_json = json.loads(metadata["config"])
    except KeyError:
        raise EngineError("Video2RMS checkpoint has no 'config' in its metadata", path) from None
    except (ValueError, RecursionError):
        raise EngineError("Video2RMS checkpoint's 'config' metadata is not JSON", path) from None
    if not isinstance(config_json, dict):
        raise EngineError("Video2RMS checkpoint's 'config' metadata is not a JSON object", path)
    config = ModelConfig.from_dict(config_json, path)
    if config.feature_version != FEATURE_VERSION:
        raise EngineError(f"checkpoint was trained on feature version {config.feature_version}, this build "
                          f"computes version {FEATURE_VERSION}; retrain with `foley-studio train video2rms`", path)
    return config, metadata, table


def check_tensors(path: str, file_shapes: dict[str, list[int]], model_shapes: dict[str, list[int]]) -> None:
    """One line naming what is missing, unexpected or the wrong shape; nothing if they match."""
    missing = sorted(set(model_shapes) - set(file_shapes))
    unexpected = sorted(set(file_shapes) - set(model_shapes))
    wrong = sorted(k for k in set(model_shapes) & set(file_shapes) if list(file_shapes[k]) != list(model_shapes[k]))
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensors (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})")
    if wrong:
        k = wrong[0]
        problems.append(f"{len(wrong)} with the wrong shape (e.g. {k}: file {list(file_shapes[k])}, "
                        f"model {list(model_shapes[k])})")
    if problems:
        raise EngineError("weights do not match the model in its config: " + "; ".join(problems), path)


def metadata_for(config: ModelConfig, **extra: Any) -> dict[str, str]:
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "config": json.dumps(config.as_dict())}
    for key, value in extra.items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    return meta
