"""Engine protocols and the small types they share (DESIGN.md, "Engines").

An engine is any object with an `info` and the method of its kind. Long work reports
progress through a plain callable and checks a CancelToken between steps, so the same
engine runs under the CLI's progress bar and the editor's background thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol, runtime_checkable

from foley_studio.core.audio import Audio
from foley_studio.core.envelope import Envelope
from foley_studio.core.cancel import CancelToken  # re-exported: engines import it from here

# fraction done (0..1) and a short message, e.g. progress(0.4, "optical flow")
Progress = Callable[[float, str], None]
# region of interest in source-video pixels: x, y, width, height
ROI = tuple[int, int, int, int]
# a time range in seconds: start, end
Span = tuple[float, float]

EngineKind = Literal["video2rms", "rms2sound"]


@dataclass(frozen=True)
class EngineInfo:
    id: str
    name: str
    kind: EngineKind
    needs_weights: bool
    realtime: bool
    devices: tuple[str, ...] = ("cpu",)
    description: str = ""
    supports_span: bool = False
    # render() conditions on a reference sound given as engine parameter "audio_prompt" (a file path)
    supports_audio_prompt: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "needs_weights": self.needs_weights,
            "realtime": self.realtime,
            "devices": list(self.devices),
            "description": self.description,
            "supports_span": self.supports_span,
            "supports_audio_prompt": self.supports_audio_prompt,
        }


def report(progress: Progress | None, fraction: float, message: str = "") -> None:
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), message)


def check(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.check()


@runtime_checkable
class VideoToRMS(Protocol):
    info: EngineInfo

    def available(self) -> tuple[bool, str]:
        """(True, "") when the engine can run here, else (False, why)."""
        ...

    def predict(
        self,
        clip: Any,  # foley_studio.core.media.Clip
        roi: ROI | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> Envelope: ...


@runtime_checkable
class RMSToSound(Protocol):
    info: EngineInfo

    def available(self) -> tuple[bool, str]: ...

    def render(
        self,
        envelope: Envelope,
        prompt: str,
        seed: int,
        sample_rate: int,
        span: Span | None = None,
        previous: Audio | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> Audio:
        """Audio of exactly round(envelope.duration * sample_rate) samples.

        With `span` and `previous` (the last render of the same track, same length and
        rate), only that time range is re-rendered: outside it, beyond a short
        crossfade, the result is bit-identical to `previous`. Engines that cannot do
        this render everything and say so with info.supports_span = False.
        """
        ...


@dataclass
class EngineParams:
    """Free-form engine parameters as stored in a project track (JSON-safe values)."""

    values: dict[str, Any] = field(default_factory=dict)
