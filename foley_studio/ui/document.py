"""The open document: a core Project, its file path, its undo stack, and change events.

Views never change the project themselves: they call a Document method, which pushes a
QUndoCommand (undo_commands.py); the command calls one of the `_` mutators below, and
the mutator emits the signal every view listens to (napari's "models emit events, views
subscribe"). So an edit, its undo and its redo refresh the screen and the render
queue through the same path.

Saving uses the core's atomic save. While there are unsaved changes a recovery copy is
written every AUTOSAVE_MS under the recovery folder; it is removed on save and on a
clean close, so one that is still there (and newer than its project) means a crash.
The autosave timer is periodic and edits never restart it, so however fast edits keep
coming a crash loses at most the last AUTOSAVE_MS of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import os
import re
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from foley_studio.core import project as project_io
from foley_studio.core.atomic import pid_alive
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import ProjectError
from foley_studio.core.project import Project, Track
from foley_studio.ui.undo_commands import (
    AddTrackCommand,
    EnvelopeEditCommand,
    RemoveTrackCommand,
    TrackFieldCommand,
)

if TYPE_CHECKING:
    from foley_studio.core.edits import EnvelopeEdit

AUTOSAVE_MS = 20_000
RECOVERY_SUFFIX = ".recovery.json"
# fields whose change means the track sounds different (the render controller listens)
SOUND_FIELDS = frozenset({"prompt", "seed", "engine", "engine_params", "envelope"})
FIELD_LABELS = {"prompt": "Change prompt", "seed": "New take", "engine": "Change engine",
                "gain_db": "Change gain", "mute": "Mute", "solo": "Solo", "name": "Rename track",
                "envelope": "Replace envelope", "engine_params": "Change engine settings"}


def default_recovery_dir() -> str:
    override = os.environ.get("FOLEY_STUDIO_RECOVERY_DIR")
    if override:
        return override
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "foley-studio", "recovery")


def recovery_file_for(project_path: str | None, recovery_dir: str, session: str) -> str:
    """Where the recovery copy of a project goes: one per project file, one per untitled session."""
    if project_path is None:
        return os.path.join(recovery_dir, f"untitled-{session}{RECOVERY_SUFFIX}")
    path = os.path.abspath(project_path)
    stem = os.path.basename(path).split(".")[0] or "project"
    digest = hashlib.sha1(path.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return os.path.join(recovery_dir, f"{stem}-{digest}{RECOVERY_SUFFIX}")


class Document(QObject):
    trackAdded = Signal(str)
    trackRemoved = Signal(str)
    envelopeChanged = Signal(str, int, int)  # track id, frames [start, end)
    trackChanged = Signal(str, str)  # track id, field name
    selectionChanged = Signal(str)  # track id ("" when there is no track)
    modifiedChanged = Signal(bool)
    projectReset = Signal()  # a whole new project: views rebuild
    pathChanged = Signal(str)

    def __init__(self, project: Project | None = None, path: str | None = None,
                 recovery_dir: str | None = None, autosave_ms: int = AUTOSAVE_MS,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.project = project if project is not None else Project()
        self.path = os.path.abspath(path) if path else None
        self.selected_track_id: str | None = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(500)
        # a bound method, not a lambda: Qt drops it when the Document goes, so the stack's
        # own teardown (which emits cleanChanged) cannot call into a deleted object
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.recovery_dir = recovery_dir or default_recovery_dir()
        # the pid tells a crashed session's copy from one another running editor still writes
        self._session = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._force_modified = False  # a recovered or freshly generated project
        self._was_modified = False
        self._autosave = QTimer(self)
        self._autosave.timeout.connect(self.autosave_now)
        if autosave_ms > 0:  # a tick with nothing unsaved does nothing, so it can always run
            self._autosave.start(autosave_ms)
        self._select_first()

    # -- queries -------------------------------------------------------------------------
    @property
    def tracks(self) -> list[Track]:
        return self.project.tracks

    def track(self, track_id: str) -> Track:
        return self.project.track(track_id)

    def track_index(self, track_id: str) -> int:
        return [t.id for t in self.project.tracks].index(track_id)

    def selected_track(self) -> Track | None:
        if self.selected_track_id is None:
            return None
        return self.project.track(self.selected_track_id)

    @property
    def modified(self) -> bool:
        return self._force_modified or not self.undo_stack.isClean()

    @property
    def recovery_path(self) -> str:
        return recovery_file_for(self.path, self.recovery_dir, self._session)

    def display_name(self) -> str:
        if self.path:
            return os.path.basename(self.path)
        if self.project.media_path:
            return os.path.basename(self.project.media_path) + " (unsaved)"
        return "Untitled"

    # -- whole-document changes ----------------------------------------------------------
    def reset(self, project: Project, path: str | None = None, modified: bool = False) -> None:
        """Show another project (opened, created from a video, or recovered)."""
        self.discard_recovery()
        self.project = project
        self.path = os.path.abspath(path) if path else None
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._force_modified = modified
        self.selected_track_id = None
        self._select_first()
        self.projectReset.emit()
        self.pathChanged.emit(self.path or "")
        self.selectionChanged.emit(self.selected_track_id or "")
        self._update_modified(always=True)

    def open(self, path: str) -> None:
        """Load a project file (ProjectError on a bad one: the current project stays)."""
        self.reset(project_io.load(path), path)

    def save(self, path: str | None = None) -> str:
        """Atomic save to `path` (Save As) or the current path; ProjectError on failure."""
        target = os.path.abspath(path or self.path or "")
        if not target or os.path.isdir(target):
            raise ValueError("save needs a file path")
        project_io.save(self.project, target)
        self.discard_recovery()  # the old recovery copy is stale now
        if target != self.path:
            self.path = target
            self.pathChanged.emit(target)
        self._force_modified = False
        self.undo_stack.setClean()
        self._update_modified(always=True)
        return target

    # -- autosave and recovery -----------------------------------------------------------
    def stop_autosave(self) -> None:
        self._autosave.stop()

    def autosave_now(self) -> str | None:
        """Write the recovery copy if there is anything unsaved; returns its path.

        The copy goes to the recovery folder only, never to the project file, and is
        written atomically (the core's save), so a crash mid-autosave leaves the previous
        copy. With nothing unsaved (say, every edit undone) an old copy is removed: after
        a crash it would offer back edits the user took away.
        """
        if not self.modified:
            self.discard_recovery()
            return None
        target = self.recovery_path
        try:
            os.makedirs(self.recovery_dir, exist_ok=True)
            project_io.save(self.project, target)
        except (OSError, ProjectError):
            return None  # a failed autosave must never interrupt work; the next tick retries
        return target

    def discard_recovery(self) -> None:
        target = self.recovery_path
        for p in (target, target + ".bak"):
            with contextlib.suppress(OSError):
                os.remove(p)

    @staticmethod
    def recovery_candidate(project_path: str | None, recovery_dir: str | None = None) -> str | None:
        """A recovery copy left by a crash: for `project_path` if it is newer than the
        project file, or (for None) the newest untitled one."""
        folder = recovery_dir or default_recovery_dir()
        if project_path is None:
            found = [p for p in glob.glob(os.path.join(glob.escape(folder), f"untitled-*{RECOVERY_SUFFIX}"))
                     if not _other_editor_running(p)]
            return max(found, key=os.path.getmtime) if found else None
        candidate = recovery_file_for(project_path, folder, "")
        if not os.path.isfile(candidate):
            return None
        if os.path.isfile(project_path) and os.path.getmtime(candidate) <= os.path.getmtime(project_path):
            return None
        return candidate

    def recover(self, recovery_path: str, project_path: str | None) -> None:
        """Load a recovery copy as unsaved changes to `project_path` (or untitled)."""
        project = project_io.load(recovery_path)
        self.reset(project, project_path, modified=True)
        # write this session's copy before the old one goes: a second crash before the
        # next tick must not lose what was just recovered
        if self.autosave_now() is not None and os.path.abspath(recovery_path) != self.recovery_path:
            for p in (recovery_path, recovery_path + ".bak"):
                with contextlib.suppress(OSError):
                    os.remove(p)

    # -- edits (each one undo step) ------------------------------------------------------
    @contextlib.contextmanager
    def macro(self, label: str) -> Iterator[None]:
        """Group several edits into one undo step."""
        self.undo_stack.beginMacro(label)
        try:
            yield
        finally:
            self.undo_stack.endMacro()

    def edit_envelope(self, track_id: str, values: np.ndarray, label: str = "Edit envelope") -> bool:
        """Make the track's envelope `values` (same length); False when nothing changed."""
        # imported here, not at start-up: core.edits loads scipy.ndimage (~0.5 s before the
        # window could show); MainWindow warms it up in the background after the first frame
        from foley_studio.core.edits import EnvelopeEdit

        old = self.track(track_id).envelope.values
        edit = EnvelopeEdit.between(track_id, old, np.asarray(values, np.float32), label)
        if edit is None:
            return False
        self.undo_stack.push(EnvelopeEditCommand(self, edit))
        return True

    def apply_envelope_op(self, track_id: str, label: str, op: Callable[..., np.ndarray],
                          *args: Any, **kwargs: Any) -> bool:
        """Run a core envelope_ops function on the track's envelope as one undo step."""
        values = op(self.track(track_id).envelope.values, *args, **kwargs)
        return self.edit_envelope(track_id, values, label)

    def set_envelope(self, track_id: str, envelope: Envelope, label: str = "Replace envelope") -> None:
        """Swap in a whole new envelope (a fresh prediction, maybe of another length)."""
        old = self.track(track_id).envelope
        if len(old) == len(envelope) and old.rate == envelope.rate:
            self.edit_envelope(track_id, envelope.values, label)
        else:
            self.set_track_field(track_id, "envelope", envelope, label)

    def set_track_field(self, track_id: str, field: str, value: Any, label: str | None = None) -> bool:
        old = getattr(self.track(track_id), field)
        if _same(old, value):
            return False
        cmd = TrackFieldCommand(self, track_id, field, old, value, label or FIELD_LABELS.get(field, "Edit track"))
        self.undo_stack.push(cmd)
        return True

    def add_track(self, track: Track, label: str = "Add track") -> Track:
        self.undo_stack.push(AddTrackCommand(self, track, label=label))
        return track

    def remove_track(self, track_id: str) -> None:
        self.undo_stack.push(RemoveTrackCommand(self, track_id))

    def select(self, track_id: str | None) -> None:
        if track_id == self.selected_track_id:
            return
        if track_id is not None:
            self.track(track_id)  # KeyError for an unknown id, before anything changes
        self.selected_track_id = track_id
        self.selectionChanged.emit(track_id or "")

    # -- mutators (only undo commands call these) ----------------------------------------
    def _apply_envelope_edit(self, edit: EnvelopeEdit, forward: bool) -> None:
        track = self.track(edit.track_id)
        values = edit.apply(track.envelope.values) if forward else edit.revert(track.envelope.values)
        self.project.replace_envelope(edit.track_id, track.envelope.with_values(values))
        self.envelopeChanged.emit(edit.track_id, *edit.span)

    def _set_track_field(self, track_id: str, field: str, value: Any) -> None:
        i = self.track_index(track_id)
        # replaced, not mutated: a render request holding the old Track stays consistent
        self.project.tracks[i] = dataclasses.replace(self.project.tracks[i], **{field: value})
        self.trackChanged.emit(track_id, field)
        if field == "envelope":
            self.envelopeChanged.emit(track_id, 0, len(value))

    def _insert_track(self, index: int, track: Track) -> None:
        self.project.tracks.insert(index, track)
        self.trackAdded.emit(track.id)
        if self.selected_track_id is None:
            self.select(track.id)

    def _remove_track(self, track_id: str) -> Track:
        i = self.track_index(track_id)
        track = self.project.tracks.pop(i)
        if self.selected_track_id == track_id:
            rest = self.project.tracks
            self.selected_track_id = rest[min(i, len(rest) - 1)].id if rest else None
            self.selectionChanged.emit(self.selected_track_id or "")
        self.trackRemoved.emit(track_id)
        return track

    # -- internals -----------------------------------------------------------------------
    def _select_first(self) -> None:
        if self.selected_track_id is None and self.project.tracks:
            self.selected_track_id = self.project.tracks[0].id

    def _clean_changed(self, _clean: bool) -> None:
        self._update_modified()

    def _update_modified(self, always: bool = False) -> None:
        now = self.modified
        if always or now != self._was_modified:
            self._was_modified = now
            self.modifiedChanged.emit(now)


def _other_editor_running(recovery_path: str) -> bool:
    """True for an untitled copy whose editor (another process) is still running."""
    m = re.match(r"untitled-(\d+)-", os.path.basename(recovery_path))
    pid = int(m.group(1)) if m else None
    return pid is not None and pid != os.getpid() and pid_alive(pid) is True


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Envelope) or isinstance(b, Envelope):
        return a is b or (isinstance(a, Envelope) and a == b)
    return type(a) is type(b) and a == b
