"""Engine registry: built-ins plus third-party engines from the entry-point group.

Built-ins are imported lazily, so listing engines never loads torch; a third-party
engine registers a zero-argument factory under the group "foley_studio.engines".
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Callable

from foley_studio.core.errors import EngineError

ENTRY_POINT_GROUP = "foley_studio.engines"

# id -> "module:factory"; factories take keyword parameters and return an engine
BUILTINS: dict[str, str] = {
    "motion": "foley_studio.engines.video2rms.motion:MotionEngine",
    "palette": "foley_studio.engines.rms2sound.palette:PaletteEngine",
    "learned": "foley_studio.engines.video2rms.learned:LearnedEngine",
    "controlnet": "foley_studio.engines.rms2sound.controlnet.engine:ControlNetEngine",
}

DEFAULT_VIDEO2RMS = "motion"
DEFAULT_RMS2SOUND = "palette"


def _load(target: str) -> Callable[..., Any]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _third_party() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def engine_ids() -> list[str]:
    return list(BUILTINS) + [k for k in _third_party() if k not in BUILTINS]


def create(engine_id: str, **params: Any) -> Any:
    """Instantiate an engine by id; unknown ids get a one-line error listing the known ones."""
    if engine_id in BUILTINS:
        factory = _load(BUILTINS[engine_id])
    else:
        eps = _third_party()
        if engine_id not in eps:
            raise EngineError(f"unknown engine '{engine_id}' (known: {', '.join(engine_ids())})")
        factory = eps[engine_id].load()
    try:
        return factory(**params)
    except TypeError as exc:
        raise EngineError(f"engine '{engine_id}': bad parameters ({exc})") from None


def engine_info(engine_id: str) -> Any:
    """An engine's EngineInfo, from its class when it declares one (building palette takes
    seconds: it loads the prompt encoder), else from a default-built instance."""
    if engine_id in BUILTINS:
        info = getattr(_load(BUILTINS[engine_id]), "info", None)
        if info is not None:
            return info
    return create(engine_id).info


def describe_all() -> list[dict[str, Any]]:
    """Every engine's info plus whether it can run here (and why not)."""
    out = []
    for engine_id in engine_ids():
        try:
            engine = create(engine_id)
            ok, why = engine.available()
            row = engine.info.as_dict()
        except Exception as exc:  # a broken plug-in must not hide the others
            ok, why = False, f"failed to load: {exc}"
            row = {"id": engine_id, "name": engine_id, "needs_weights": None}
        row["available"] = bool(ok)
        row["unavailable_reason"] = why
        out.append(row)
    return out
