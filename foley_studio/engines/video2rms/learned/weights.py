"""Load and save the network as safetensors (torch side; see checkpoint.py for the header)."""

from __future__ import annotations

import os
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from foley_studio.core.atomic import atomic_output
from foley_studio.core.errors import EngineError
from foley_studio.engines.video2rms.learned.checkpoint import (
    ModelConfig,
    check_tensors,
    metadata_for,
    read_config,
)
from foley_studio.engines.video2rms.learned.network import Video2RMSNet, state_shapes


def load_model(path: str, device: torch.device | str = "cpu") -> tuple[Video2RMSNet, dict[str, str]]:
    """The network of a checkpoint, in eval mode on `device`, and the file's metadata."""
    config, metadata, table = read_config(path)
    model = Video2RMSNet(config)
    file_shapes = {k: v.get("shape", []) for k, v in table.items() if isinstance(v, dict)}
    check_tensors(path, file_shapes, state_shapes(model))
    try:
        tensors = load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise EngineError(f"damaged safetensors file ({str(exc).splitlines()[0]})", path) from None
    bad = [k for k, v in tensors.items() if v.dtype != model.state_dict()[k].dtype]
    if bad:
        raise EngineError(f"weights have the wrong dtype (e.g. {bad[0]}: {tensors[bad[0]].dtype})", path)
    model.load_state_dict(tensors, strict=True)
    model.to(device)
    model.eval()
    return model, metadata


def save_model(model: Video2RMSNet, path: str | os.PathLike, **metadata: Any) -> None:
    """Write weights + config (+ any JSON-able metadata) atomically."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = metadata_for(model.config, **metadata)
    with atomic_output(os.fspath(path)) as tmp:
        save_file(tensors, tmp, metadata=meta)


def new_model(config: ModelConfig, seed: int = 0) -> Video2RMSNet:
    torch.manual_seed(seed)
    return Video2RMSNet(config)
