"""Edit commands as plain data, and a plain undo/redo history.

An EnvelopeEdit keeps only the changed slice (before and after) of one track's envelope,
so undo is cheap for long clips and the render service knows which span to re-render.
The Qt UI wraps these in QUndoCommands; the CLI and tests use EditHistory directly.
The history does not own any state: undo()/redo() hand back the step and the caller
reverts/applies it to its envelopes (see apply_edits / revert_edits).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from foley_studio.core.envelope_ops import span_of_change


def _frozen_slice(x: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    v = np.array(x, dtype=np.float32)  # own copy: a command must not alias live arrays
    if v.ndim != 1:
        raise ValueError(f"edit {what} must be 1-D, got shape {v.shape}")
    v.setflags(write=False)
    return v


@dataclass(frozen=True, eq=False)
class EnvelopeEdit:
    """Frames [start, start + len(before)) of track `track_id` went from `before` to `after`."""

    track_id: str
    start: int
    before: np.ndarray
    after: np.ndarray
    label: str = "Edit envelope"

    def __post_init__(self) -> None:
        if isinstance(self.start, bool) or not isinstance(self.start, (int, np.integer)):
            raise ValueError(f"edit start must be an integer frame, got {self.start!r}")
        if self.start < 0:
            raise ValueError(f"edit start must be >= 0, got {self.start}")
        before, after = _frozen_slice(self.before, "before"), _frozen_slice(self.after, "after")
        if len(before) != len(after):
            raise ValueError(f"edit before/after lengths differ: {len(before)} vs {len(after)}")
        object.__setattr__(self, "start", int(self.start))
        object.__setattr__(self, "before", before)
        object.__setattr__(self, "after", after)

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.start + len(self.before)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, EnvelopeEdit)
            and (self.track_id, self.start, self.label)
            == (other.track_id, other.start, other.label)
            and np.array_equal(self.before, other.before)
            and np.array_equal(self.after, other.after)
        )

    def _put(self, values: np.ndarray, content: np.ndarray) -> np.ndarray:
        out = np.array(values, dtype=np.float32)
        a, b = self.span
        if out.ndim != 1 or b > len(out):
            raise ValueError(
                f"edit of frames {a}..{b} does not fit an envelope of shape {out.shape}"
            )
        out[a:b] = content
        return out

    def apply(self, values: np.ndarray) -> np.ndarray:
        """A new array with the span set to `after`."""
        return self._put(values, self.after)

    def revert(self, values: np.ndarray) -> np.ndarray:
        """A new array with the span set back to `before`."""
        return self._put(values, self.before)

    def to_dict(self) -> dict[str, Any]:
        # float32 -> Python float is exact and JSON writes floats round-trippably,
        # so from_dict(to_dict()) is bit-exact.
        return {
            "track_id": self.track_id,
            "start": self.start,
            "before": [float(x) for x in self.before],
            "after": [float(x) for x in self.after],
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EnvelopeEdit":
        if not isinstance(data, Mapping):
            raise ValueError(f"edit must be an object, got {type(data).__name__}")
        missing = {"track_id", "start", "before", "after"} - set(data)
        if missing:
            raise ValueError(f"edit is missing {', '.join(sorted(missing))}")
        for key in ("before", "after"):
            seq = data[key]
            if not isinstance(seq, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                for x in seq
            ):
                raise ValueError(f"edit {key} must be a list of finite numbers")
        if not isinstance(data["track_id"], str):
            raise ValueError(f"edit track_id must be a string, got {data['track_id']!r}")
        label = data.get("label", "Edit envelope")
        if not isinstance(label, str):
            raise ValueError(f"edit label must be a string, got {label!r}")
        return cls(data["track_id"], data["start"], data["before"], data["after"], label)

    @classmethod
    def between(
        cls, track_id: str, old_values: np.ndarray, new_values: np.ndarray, label: str
    ) -> "EnvelopeEdit | None":
        """The minimal edit turning `old_values` into `new_values`; None if they are equal.

        Envelope length changes are not edits (they come with a new clip): ValueError.
        """
        old, new = np.asarray(old_values, np.float32), np.asarray(new_values, np.float32)
        # compare bit patterns: -0.0 vs 0.0 (or NaN) must not break bit-exact apply/revert
        span = span_of_change(old.view(np.uint32), new.view(np.uint32))
        if span is None:
            return None
        a, b = span
        return cls(track_id, a, old[a:b], new[a:b], label)


def apply_edits(
    edits: Iterable[EnvelopeEdit], envelopes: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Apply edits in order to {track_id: values}; returns a new dict (inputs untouched)."""
    out = dict(envelopes)
    for e in edits:
        out[e.track_id] = e.apply(_values_of(out, e.track_id))
    return out


def revert_edits(
    edits: Sequence[EnvelopeEdit], envelopes: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Revert edits in reverse order (undo of a group)."""
    out = dict(envelopes)
    for e in reversed(edits):
        out[e.track_id] = e.revert(_values_of(out, e.track_id))
    return out


def _values_of(envelopes: Mapping[str, np.ndarray], track_id: str) -> np.ndarray:
    try:
        return envelopes[track_id]
    except KeyError:
        raise KeyError(f"edit refers to track {track_id!r}, which is not there") from None


@dataclass(frozen=True)
class UndoStep:
    """One user-visible undo step: a label and the commands in the order they were done."""

    label: str
    commands: tuple[Any, ...]


@dataclass
class EditHistory:
    """Undo/redo stack of UndoSteps, oldest dropped beyond `max_depth`.

    push() records a command that has already been done. Between begin_macro() and
    end_macro() pushes collect into one step (a drag gesture, a multi-track op); macros
    nest and only the outermost closes the step. Undo/redo are refused while a macro is open.
    """

    max_depth: int = 200
    _undo: list[UndoStep] = field(default_factory=list, init=False, repr=False)
    _redo: list[UndoStep] = field(default_factory=list, init=False, repr=False)
    _macro_label: str | None = field(default=None, init=False, repr=False)
    _macro_depth: int = field(default=0, init=False, repr=False)
    _macro_commands: list[Any] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_depth < 1:
            raise ValueError(f"history depth must be at least 1, got {self.max_depth}")

    def push(self, command: Any, label: str | None = None) -> None:
        if command is None:  # EnvelopeEdit.between() says "no change" with None
            return
        if self._macro_depth:
            self._macro_commands.append(command)
            return
        self._record(UndoStep(label or getattr(command, "label", "Edit"), (command,)))

    def _record(self, step: UndoStep) -> None:
        self._undo.append(step)
        del self._undo[: -self.max_depth]
        self._redo.clear()  # a new edit forks history: the redo branch is gone

    def begin_macro(self, label: str) -> None:
        if self._macro_depth == 0:
            self._macro_label, self._macro_commands = label, []
        self._macro_depth += 1

    def end_macro(self) -> UndoStep | None:
        """Close the innermost macro; the outermost records its step (if anything was pushed)."""
        if self._macro_depth == 0:
            raise RuntimeError("end_macro() without begin_macro()")
        self._macro_depth -= 1
        if self._macro_depth:
            return None
        step = UndoStep(self._macro_label or "Edit", tuple(self._macro_commands))
        self._macro_label, self._macro_commands = None, []
        if step.commands:
            self._record(step)
            return step
        return None

    def cancel_macro(self) -> UndoStep:
        """Drop the whole open macro (right-click during a drag) and return what it held,
        so the caller can revert those commands; nothing is recorded."""
        if self._macro_depth == 0:
            raise RuntimeError("cancel_macro() without begin_macro()")
        step = UndoStep(self._macro_label or "Edit", tuple(self._macro_commands))
        self._macro_label, self._macro_commands, self._macro_depth = None, [], 0
        return step

    @property
    def in_macro(self) -> bool:
        return self._macro_depth > 0

    def can_undo(self) -> bool:
        return bool(self._undo) and not self._macro_depth

    def can_redo(self) -> bool:
        return bool(self._redo) and not self._macro_depth

    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None

    def undo(self) -> UndoStep | None:
        """The step to revert (caller reverts its commands in reverse order), or None."""
        self._refuse_in_macro("undo")
        if not self._undo:
            return None
        step = self._undo.pop()
        self._redo.append(step)
        return step

    def redo(self) -> UndoStep | None:
        """The step to apply again (caller applies its commands in order), or None."""
        self._refuse_in_macro("redo")
        if not self._redo:
            return None
        step = self._redo.pop()
        self._undo.append(step)
        return step

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._macro_label, self._macro_commands, self._macro_depth = None, [], 0

    def _refuse_in_macro(self, what: str) -> None:
        if self._macro_depth:
            raise RuntimeError(f"cannot {what} while a macro ({self._macro_label!r}) is open")
