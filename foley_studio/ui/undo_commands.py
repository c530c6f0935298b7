"""Small QUndoCommands over the document (orange-canvas-core style).

Each command holds plain data and calls one Document mutator; the Document emits the
change events, so undo and redo refresh every view exactly like the original edit.
Envelope commands carry a core EnvelopeEdit (only the changed slice, before and after),
which makes undo bit-exact and tells the render service which span to re-render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand

if TYPE_CHECKING:
    # core.edits pulls in scipy.ndimage (~0.5 s); only its type is needed here
    from foley_studio.core.edits import EnvelopeEdit
    from foley_studio.core.project import Track
    from foley_studio.ui.document import Document

# ids for QUndoCommand.mergeWith: consecutive changes of one continuous control (a gain
# spin box held down, a slider dragged) become one undo step
MERGE_TRACK_FIELD = 1001


class EnvelopeEditCommand(QUndoCommand):
    def __init__(self, doc: "Document", edit: EnvelopeEdit):
        super().__init__(edit.label)
        self._doc, self.edit = doc, edit

    def redo(self) -> None:
        self._doc._apply_envelope_edit(self.edit, forward=True)

    def undo(self) -> None:
        self._doc._apply_envelope_edit(self.edit, forward=False)


class TrackFieldCommand(QUndoCommand):
    """Set one field of a track (prompt, seed, engine, gain_db, mute, solo, name)."""

    MERGEABLE = frozenset({"gain_db"})

    def __init__(self, doc: "Document", track_id: str, field: str, old: Any, new: Any, label: str):
        super().__init__(label)
        self._doc = doc
        self.track_id, self.field, self.old, self.new = track_id, field, old, new

    def id(self) -> int:
        return MERGE_TRACK_FIELD if self.field in self.MERGEABLE else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, TrackFieldCommand):
            return False
        if (other.track_id, other.field) != (self.track_id, self.field):
            return False
        self.new = other.new
        return True

    def redo(self) -> None:
        self._doc._set_track_field(self.track_id, self.field, self.new)

    def undo(self) -> None:
        self._doc._set_track_field(self.track_id, self.field, self.old)


class AddTrackCommand(QUndoCommand):
    def __init__(self, doc: "Document", track: "Track", index: int | None = None, label: str = "Add track"):
        super().__init__(label)
        self._doc, self.track = doc, track
        self.index = len(doc.project.tracks) if index is None else index

    def redo(self) -> None:
        self._doc._insert_track(self.index, self.track)

    def undo(self) -> None:
        self.track = self._doc._remove_track(self.track.id)  # keep the latest state for redo


class RemoveTrackCommand(QUndoCommand):
    def __init__(self, doc: "Document", track_id: str, label: str = "Remove track"):
        super().__init__(label)
        self._doc, self.track_id = doc, track_id
        self.index = doc.track_index(track_id)
        self.track: "Track | None" = None

    def redo(self) -> None:
        self.track = self._doc._remove_track(self.track_id)

    def undo(self) -> None:
        assert self.track is not None
        self._doc._insert_track(self.index, self.track)
