"""What each envelope tool does with a mouse gesture, as plain numpy (no Qt).

A gesture starts from the envelope as saved in the document and maps every mouse
position (x in seconds, y in dBFS, the timeline's data coordinates) to a whole new
array of values through the core's envelope_ops. The envelope item shows that array as
a preview while the mouse moves and hands the last one to the document when the button
is released, so a gesture is one undo step and a cancel is simply "drop the preview".
Keeping this apart from the pyqtgraph item lets the arithmetic be tested without a view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from foley_studio.core.envelope import from_dbfs
from foley_studio.ui.lazy_import import envelope_ops as ops

FLOOR_DB = -80.0  # the lowest level the timeline shows; at or below it is silence

# tool ids, in toolbar order; None is "pan/zoom" (the view handles the mouse)
PENCIL, SELECT, SCALE, SHIFT, SMOOTH, GATE, ERASE, HIT = (
    "pencil", "select", "scale", "shift", "smooth", "gate", "erase", "hit")
TOOLS = (PENCIL, SELECT, SCALE, SHIFT, SMOOTH, GATE, ERASE, HIT)
EDIT_TOOLS = frozenset({PENCIL, SCALE, SHIFT, SMOOTH, GATE, ERASE})  # drag -> new values


@dataclass
class ToolSettings:
    smooth_frames: int = 9  # moving-average width of the smooth tool (~70 ms)
    hit_decay_s: float = 0.15  # time constant of an inserted hit's tail
    snap: bool = False  # snap times to video frames
    fps: float = 0.0  # video frame rate for snapping; 0 = no video


@dataclass
class GestureContext:
    """Everything a gesture needs, captured when the drag starts."""

    values: np.ndarray  # the saved envelope (never written)
    rate: float  # envelope frames per second
    selection: tuple[int, int] | None = None  # frames [a, b) of the selected span
    settings: ToolSettings = field(default_factory=ToolSettings)
    floor_db: float = FLOOR_DB

    def snap(self, t: float) -> float:
        s = self.settings
        if s.snap and s.fps > 0:
            return round(t * s.fps) / s.fps
        return t

    def snap_delta(self, dt: float) -> float:
        """A time offset rounded to whole video frames when snapping is on."""
        return self.snap(dt)

    def span_of(self, t0: float, t1: float) -> tuple[int, int]:
        """Frames [a, b) covering seconds t0..t1 (either order), snapped and clamped."""
        lo, hi = sorted((self.snap(t0), self.snap(t1)))
        n = len(self.values)
        a = int(np.clip(math.floor(lo * self.rate), 0, n))
        b = int(np.clip(math.ceil(hi * self.rate), 0, n))
        return a, b

    def target_span(self) -> tuple[int, int]:
        """The selected span, or the whole envelope when nothing is selected."""
        return self.selection if self.selection is not None else (0, len(self.values))

    def level(self, y_db: float) -> float:
        return float(from_dbfs(np.float64(min(y_db, 0.0)), self.floor_db))

    def frame_position(self, x: float) -> float:
        """Fractional frame index under time x; frame i is drawn at its centre (i + 0.5)/rate."""
        return x * self.rate - 0.5


class Gesture:
    """One drag of one tool: begin() at the press, update() at every move."""

    label = "Edit envelope"

    def __init__(self, ctx: GestureContext):
        self.ctx = ctx
        self.x0 = self.y0 = 0.0

    def begin(self, x: float, y: float) -> np.ndarray:
        self.x0, self.y0 = x, y
        return self.update(x, y)

    def update(self, x: float, y: float) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class PencilGesture(Gesture):
    """Freehand redraw: the span the mouse passes over follows the mouse."""

    label = "Draw envelope"

    def begin(self, x, y):
        self.frames: list[float] = []
        self.levels: list[float] = []
        return super().begin(x, y)

    def update(self, x, y):
        self.frames.append(self.ctx.frame_position(x))
        self.levels.append(self.ctx.level(y))
        return ops.draw_points(self.ctx.values, self.frames, self.levels)


class ScaleGesture(Gesture):
    """Vertical drag: the selected span moves up or down by as many dB as the mouse."""

    label = "Scale span"

    def update(self, x, y):
        self.db = float(np.clip(y - self.y0, -120.0, 60.0))
        return ops.scale_db(self.ctx.values, self.ctx.target_span(), self.db)


class ShiftGesture(Gesture):
    """Horizontal drag: the selected span moves in time (whole video frames when snapping)."""

    label = "Shift span"

    def update(self, x, y):
        offset = int(round(self.ctx.snap_delta(x - self.x0) * self.ctx.rate))
        return ops.shift(self.ctx.values, self.ctx.target_span(), offset)


class SmoothGesture(Gesture):
    """Horizontal drag: smooth the span dragged over."""

    label = "Smooth"

    def update(self, x, y):
        span = self.ctx.span_of(self.x0, x)
        return ops.smooth(self.ctx.values, span, self.ctx.settings.smooth_frames)


class GateGesture(Gesture):
    """Vertical drag: the mouse height is the threshold; quieter frames in the span go silent."""

    label = "Gate"

    def update(self, x, y):
        self.threshold = min(self.ctx.level(y), 1.0)
        return ops.gate(self.ctx.values, self.ctx.target_span(), self.threshold)


class EraseGesture(Gesture):
    """Horizontal drag: silence the span dragged over."""

    label = "Erase"

    def update(self, x, y):
        return ops.erase(self.ctx.values, self.ctx.span_of(self.x0, x))


GESTURES: dict[str, Callable[[GestureContext], Gesture]] = {
    PENCIL: PencilGesture,
    SCALE: ScaleGesture,
    SHIFT: ShiftGesture,
    SMOOTH: SmoothGesture,
    GATE: GateGesture,
    ERASE: EraseGesture,
}


def insert_hit(ctx: GestureContext, x: float, y: float) -> np.ndarray:
    """A click of the hit tool: an impact starting at the (snapped) click, as loud as its height."""
    frame = int(np.clip(math.floor(ctx.snap(x) * ctx.rate), 0, max(len(ctx.values) - 1, 0)))
    peak = ctx.level(y)
    return ops.insert_hit(ctx.values, frame, peak, decay_s=ctx.settings.hit_decay_s, rate=ctx.rate)
