"""Safe, local-only loading of model weights, shared by the neural engines and the converter.

Importing this module is cheap: torch, safetensors and diffusers load inside the functions
that need them. Every failure becomes an EngineError whose message is one line naming the
file or folder and what is missing or wrong (DESIGN.md, "Engines").

Checkpoints in pickle form (.ckpt, .pth) are read with torch.load(weights_only=True) only.
Lightning checkpoints may hold bookkeeping objects next to the weights (hyper-parameters as
omegaconf configs, callback states); those classes are replaced by an inert stub that runs
no code, and only tensors are kept. Anything else a pickle asks for is refused.
"""

from __future__ import annotations

import importlib.util
import os
import re
import zipfile
from typing import Any, Iterable

from foley_studio.core.errors import EngineError

ENV_WEIGHTS = "FOLEY_STUDIO_WEIGHTS"
NEURAL_PACKAGES = ("torch", "diffusers", "transformers", "safetensors")
NEURAL_INSTALL_HINT = "pip install 'foley-studio[neural]'"

# Bookkeeping classes a training checkpoint may pickle beside its weights. They are
# stubbed, never imported or called, so allowing them runs no code from the file.
STUBBED_NAMESPACES = (
    "omegaconf.", "pytorch_lightning.", "lightning.", "lightning_fabric.", "numpy.",
    "collections.", "pathlib.", "argparse.", "typing.", "datetime.", "enum.",
)


def first_line(exc: BaseException | str) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def missing_packages(names: Iterable[str] = NEURAL_PACKAGES) -> list[str]:
    """Packages that are not installed (checked without importing them)."""
    return [n for n in names if importlib.util.find_spec(n) is None]


def resolve_weights_dir(explicit: str | os.PathLike | None, subfolder: str) -> str | None:
    """The folder given, else $FOLEY_STUDIO_WEIGHTS/<subfolder>, else None."""
    if explicit:
        return os.path.abspath(os.path.expanduser(os.fspath(explicit)))
    root = os.environ.get(ENV_WEIGHTS, "").strip()
    if root:
        return os.path.join(os.path.abspath(os.path.expanduser(root)), subfolder)
    return None


def missing_files(root: str, layout: dict[str, tuple[tuple[str, ...], ...]]) -> list[str]:
    """What a component folder lacks: layout maps component -> groups of alternative files.

    A component is complete when, for every group, at least one of its files exists.
    Returns entries such as "unet/ (no folder)" or "vae/diffusion_pytorch_model.safetensors".
    """
    out = []
    for part, groups in layout.items():
        folder = os.path.join(root, part)
        if not os.path.isdir(folder):
            out.append(f"{part}/")
            continue
        for alternatives in groups:
            if not any(os.path.isfile(os.path.join(folder, f)) for f in alternatives):
                out.append(f"{part}/{' or '.join(alternatives)}")
    return out


class _Stub:
    """Stands in for a bookkeeping class of a training checkpoint; keeps nothing, runs nothing."""

    def __new__(cls, *args: Any, **kwargs: Any):
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> "_Stub":
        return self


def _stub_class(name: str) -> type:
    return type(name.rsplit(".", 1)[-1], (_Stub,), {})


def torch_load_tensors(path: str | os.PathLike) -> dict[str, Any]:
    """Every tensor of a pickled PyTorch checkpoint as {key: tensor}, loaded without running code.

    A Lightning checkpoint's {"state_dict": {...}} is unwrapped; other top-level entries
    (optimizer states, hyper-parameters) are dropped. Raises EngineError for a missing or
    unreadable file and for a pickle that asks for anything but weights.
    """
    import torch

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise EngineError("file not found", path)
    zipped = zipfile.is_zipfile(path)  # torch >= 1.6 format; older files cannot be scanned first
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path) if zipped else []
    except Exception as exc:
        raise EngineError(f"not a PyTorch checkpoint ({first_line(exc)})", path) from None
    refused = [g for g in unsafe if not g.startswith(STUBBED_NAMESPACES)]
    if refused:
        raise EngineError(
            f"refused to load: the file asks to run {refused[0]} when unpickled, which no weights "
            "checkpoint needs (loading is weights_only)", path)
    stubs = [(_stub_class(g), g) for g in unsafe]
    try:
        with torch.serialization.safe_globals(stubs):
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except Exception as exc:
        raise EngineError(f"refused to load: {_refusal(exc)} (loading is weights_only)", path) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        extras = {k: v for k, v in obj.items() if k != "state_dict" and torch.is_tensor(v)}
        obj = {**extras, **obj["state_dict"]}
    if not isinstance(obj, dict):
        raise EngineError(f"expected a state dict, found {type(obj).__name__}", path)
    tensors = {str(k): v for k, v in obj.items() if torch.is_tensor(v)}
    if not tensors:
        raise EngineError("holds no tensors", path)
    return tensors


# torch's weights_only message wraps the reason in advice meant for developers
_TORCH_BOILERPLATE = ("Weights only load failed", "Check the documentation", "Please file an issue")


def _refusal(exc: BaseException) -> str:
    """The reason out of torch's multi-paragraph weights_only error, as a phrase."""
    text = str(exc)
    found = re.search(r"GLOBAL (\S+) (?:was not an allowed global|whose module)", text)
    if found:  # legacy (non-zip) pickles are only checked while loading
        return f"it asks to run {found.group(1)} when unpickled"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    reasons = [ln for ln in lines if not ln.startswith(_TORCH_BOILERPLATE)]
    if reasons:
        return f"not a checkpoint the safe loader can read ({reasons[0].removeprefix('WeightsUnpickler error: ')})"
    return lines[-1] if lines else type(exc).__name__


_SIZE = re.compile(
    r"size mismatch for (\S+): copying a param with shape torch\.Size\((\[[^\]]*\])\) from checkpoint, "
    r"the shape in current model is torch\.Size\((\[[^\]]*\])\)")
_KEYS = re.compile(r'(Missing|Unexpected) key\(s\) in state_dict: "([^"]+)"')


def describe_load_error(exc: BaseException) -> str:
    """One line out of a load_state_dict / from_pretrained failure: the first bad key and why."""
    text = str(exc)
    sizes = _SIZE.findall(text)
    if sizes:
        key, got, want = sizes[0]
        more = f" (and {len(sizes) - 1} more)" if len(sizes) > 1 else ""
        return f"{key} has shape {got}, the config expects {want}{more}"
    keys = _KEYS.findall(text)
    if keys:
        kind, key = keys[0]
        return f"{'missing' if kind == 'Missing' else 'unexpected'} tensor {key}"
    return first_line(exc)


def check_loading_info(info: dict[str, Any] | None, where: str, ignore: tuple[str, ...] = ()) -> None:
    """Raise EngineError when from_pretrained(output_loading_info=True) left weights unset."""
    if not info:
        return
    mismatched = info.get("mismatched_keys") or []
    if mismatched:
        item = mismatched[0]
        key = item[0] if isinstance(item, (list, tuple)) else item
        detail = ""
        if isinstance(item, (list, tuple)) and len(item) >= 3:
            detail = f" has shape {list(item[1])}, the config expects {list(item[2])}"
        raise EngineError(f"{key}{detail}", where)
    missing = [k for k in info.get("missing_keys") or [] if not k.endswith(ignore or ("\0",))]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise EngineError(f"weights lack {sorted(missing)[0]}{more}", where)
