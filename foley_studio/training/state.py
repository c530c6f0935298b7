"""Resumable training state as safetensors (never pickle): Adam's moments per parameter
name and the torch RNG as tensors; Adam's hyper-parameters and step count, the epoch and
the numpy RNG as JSON metadata. Lives beside the weights: X.safetensors -> X.optim.safetensors.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from foley_studio.core.atomic import atomic_output
from foley_studio.core.errors import FoleyError
from foley_studio.engines.video2rms.learned.checkpoint import read_header
from foley_studio.training.adam import Adam

FORMAT = "foley-studio.training-state"


def state_path(weights_path: str | os.PathLike) -> str:
    root, ext = os.path.splitext(os.fspath(weights_path))
    return f"{root}.optim{ext or '.safetensors'}"


def save_state(path: str, optimizer: Adam, **extra: Any) -> None:
    tensors = {f"adam.{k}": v.detach().to("cpu").contiguous() for k, v in optimizer.state_tensors().items()}
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"format": FORMAT, "adam": json.dumps(optimizer.hyper())}
    meta.update({k: json.dumps(v) for k, v in extra.items()})
    with atomic_output(path) as tmp:
        save_file(tensors, tmp, metadata=meta)


def load_state(path: str, optimizer: Adam) -> dict[str, Any]:
    """Restore the optimiser and the torch RNG; returns the extra metadata (decoded JSON)."""
    _, meta = read_header(path)
    if meta.get("format") != FORMAT:
        raise FoleyError(f"not a foley-studio training state (metadata lacks format={FORMAT})", path)
    try:
        tensors = load_file(path, device="cpu")
        hyper = json.loads(meta["adam"])
        extra = {k: json.loads(v) for k, v in meta.items() if k not in ("format", "adam")}
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise FoleyError(f"damaged training state ({str(exc).splitlines()[0]})", path) from None
    adam = {k[len("adam."):]: v for k, v in tensors.items() if k.startswith("adam.")}
    try:
        optimizer.load(adam, hyper)
    except (KeyError, ValueError, TypeError) as exc:
        raise FoleyError(f"training state does not match the model ({exc})", path) from None
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    return extra
