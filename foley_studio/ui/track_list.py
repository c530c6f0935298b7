"""The track list: one row per layer with its name, prompt, seed, engine, gain, mute/solo
and render status, plus add/remove.

Rows write through Document methods (each change one undo step) and redraw from the
document's trackChanged events, so undo/redo and edits made elsewhere show up here too.
"""

from __future__ import annotations

import os
import random
from functools import lru_cache

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFileDialog, QFrame, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
    QPushButton, QScrollArea, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from foley_studio.core.project import Track
from foley_studio.ui.document import Document

SEED_MAX = 2**31 - 1  # QSpinBox is 32-bit signed; the project allows more, takes stay below
AUDIO_PROMPT = "audio_prompt"  # the engine parameter holding a reference sound's path
SOUND_FILES = "Sounds (*.wav *.flac *.ogg *.aif *.aiff *.mp3);;All files (*)"


def pick_sound_file(parent: QWidget) -> str:
    """The file dialog for a reference sound ('' when cancelled); tests replace it."""
    path, _ = QFileDialog.getOpenFileName(parent, "Timbre from a sound file", "", SOUND_FILES)
    return path


@lru_cache(maxsize=None)
def takes_audio_prompt(engine_id: str) -> bool:
    """Whether the engine conditions on a reference sound (read from its class, not built)."""
    from foley_studio.engines import registry

    try:
        return bool(getattr(registry.engine_info(engine_id), "supports_audio_prompt", False))
    except Exception:  # an unknown or broken engine simply offers no sound-file timbre
        return False


@lru_cache(maxsize=1)
def rms2sound_engines() -> tuple[tuple[str, str], ...]:
    """(id, label) of every RMS2Sound engine; listed once, when a menu first opens."""
    from foley_studio.engines import registry

    try:
        rows = [r for r in registry.describe_all() if r.get("kind") == "rms2sound"]
    except Exception:  # a broken plug-in must not break the editor
        rows = []
    out = [(r["id"], r.get("name") or r["id"]) if r.get("available")
           else (r["id"], f"{r.get('name') or r['id']} (unavailable)") for r in rows]
    return tuple(out) or ((registry.DEFAULT_RMS2SOUND, registry.DEFAULT_RMS2SOUND),)


class EngineCombo(QComboBox):
    """Shows the track's engine at once; lists the others only when opened (listing
    engines instantiates them, which is too slow for start-up)."""

    def set_engine(self, engine_id: str) -> None:
        i = self.findData(engine_id)
        if i < 0:
            self.addItem(engine_id, engine_id)
            i = self.findData(engine_id)
        self.setCurrentIndex(i)

    def showPopup(self) -> None:
        current = self.currentData()
        self.blockSignals(True)
        for engine_id, label in rms2sound_engines():
            i = self.findData(engine_id)
            if i < 0:
                self.addItem(label, engine_id)
            else:
                self.setItemText(i, label)
        self.setCurrentIndex(max(self.findData(current), 0))
        self.blockSignals(False)
        super().showPopup()


class TrackRow(QFrame):
    clicked = Signal(str)

    def __init__(self, doc: Document, track: Track, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc, self.track_id = doc, track.id
        self.setObjectName("TrackRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setSpacing(4)

        self.name = QLineEdit(self)
        self.name.setObjectName("trackName")
        self.name.setPlaceholderText("Track name")
        self.mute = self._toggle("M", "Mute")
        self.solo = self._toggle("S", "Solo")
        self.remove = QToolButton(self)
        self.remove.setText("✕")
        self.remove.setToolTip("Remove track")
        self.gain = QDoubleSpinBox(self)
        self.gain.setRange(-60.0, 12.0)
        self.gain.setSingleStep(1.0)
        self.gain.setDecimals(1)
        self.gain.setSuffix(" dB")
        self.gain.setKeyboardTracking(False)
        self.gain.setToolTip("Track gain")
        head = QHBoxLayout()
        head.addWidget(self.name, 1)
        head.addWidget(self.gain)
        head.addWidget(self.mute)
        head.addWidget(self.solo)
        head.addWidget(self.remove)
        grid.addLayout(head, 0, 0, 1, 3)

        self.prompt = QLineEdit(self)
        self.prompt.setPlaceholderText("Describe the sound, e.g. 'footsteps on gravel'")
        self.prompt.setToolTip("Text prompt: the timbre of this track (Enter re-renders)")
        self.sound = QToolButton(self)
        self.sound.setText("♪")
        self.sound.setObjectName("audioPromptButton")
        self.sound.setToolTip("Timbre from a sound file instead of the text prompt (engines that take "
                              "one: controlnet with the CLAP audio branch)")
        self.sound_chip = QToolButton(self)  # "<file name> ✕": click to go back to the text prompt
        self.sound_chip.setObjectName("audioPromptChip")
        prompt_row = QHBoxLayout()
        prompt_row.addWidget(self.prompt, 1)
        prompt_row.addWidget(self.sound_chip)
        prompt_row.addWidget(self.sound)
        grid.addLayout(prompt_row, 1, 0, 1, 3)

        self.seed = QSpinBox(self)
        self.seed.setRange(0, SEED_MAX)
        self.seed.setKeyboardTracking(False)  # one change per Enter, not per digit
        self.seed.setPrefix("seed ")
        self.take = QPushButton("New take", self)
        self.take.setToolTip("Same prompt, another random seed")
        self.engine = EngineCombo(self)
        self.engine.setToolTip("Sound engine")
        grid.addWidget(self.seed, 2, 0)
        grid.addWidget(self.take, 2, 1)
        grid.addWidget(self.engine, 2, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(2, 1)

        self.status = QLabel("", self)
        self.status.setObjectName("renderStatus")
        grid.addWidget(self.status, 3, 0, 1, 3)

        self.refresh()
        tid = track.id
        self.name.editingFinished.connect(lambda: self._commit_text("name", self.name))
        self.prompt.editingFinished.connect(lambda: self._commit_text("prompt", self.prompt))
        self.seed.valueChanged.connect(lambda v: doc.set_track_field(tid, "seed", int(v)))
        self.take.clicked.connect(self.new_take)
        self.sound.clicked.connect(self.choose_sound)
        self.sound_chip.clicked.connect(lambda: self.set_audio_prompt(None))
        self.engine.activated.connect(lambda _i: doc.set_track_field(tid, "engine", self.engine.currentData()))
        self.gain.valueChanged.connect(lambda v: doc.set_track_field(tid, "gain_db", float(v)))
        self.mute.toggled.connect(lambda on: doc.set_track_field(tid, "mute", bool(on)))
        self.solo.toggled.connect(lambda on: doc.set_track_field(tid, "solo", bool(on)))
        self.remove.clicked.connect(lambda: doc.remove_track(tid))
        for child in self.findChildren(QWidget):
            child.installEventFilter(self)  # focusing any control selects the track

    def _commit_text(self, field: str, edit: QLineEdit) -> None:
        edit.setModified(False)  # committed: later refreshes may overwrite it again
        self.doc.set_track_field(self.track_id, field, edit.text())

    def choose_sound(self) -> None:
        engine = self.doc.track(self.track_id).engine
        # asked here, not when the row is drawn: reading an engine's class imports its module,
        # and palette's pulls in scipy.signal (~1.4 s), which must not delay the first picture
        if not takes_audio_prompt(engine):
            self.status.setText(f"{engine} takes its timbre from the text prompt; choose an engine that "
                                "takes a sound file (controlnet with the CLAP audio branch)")
            return
        path = pick_sound_file(self)
        if path:
            self.set_audio_prompt(os.path.abspath(path))

    def set_audio_prompt(self, path: str | None) -> None:
        """One undo step: the track's timbre from this sound file (None: from the text again)."""
        params = dict(self.doc.track(self.track_id).engine_params)
        if path:
            params[AUDIO_PROMPT] = path
        else:
            params.pop(AUDIO_PROMPT, None)
        label = "Timbre from sound file" if path else "Timbre from text"
        self.doc.set_track_field(self.track_id, "engine_params", params, label)

    def new_take(self) -> None:
        seed = random.randrange(SEED_MAX)
        self.doc.set_track_field(self.track_id, "seed", seed, "New take")

    def refresh(self) -> None:
        """Show the document's values without feeding them back as edits."""
        t = self.doc.track(self.track_id)
        for widget, setter, value in (
            (self.name, self.name.setText, t.name),
            (self.prompt, self.prompt.setText, t.prompt),
            (self.seed, self.seed.setValue, min(int(t.seed), SEED_MAX)),
            (self.engine, self.engine.set_engine, t.engine),
            (self.gain, self.gain.setValue, float(t.gain_db)),
            (self.mute, self.mute.setChecked, bool(t.mute)),
            (self.solo, self.solo.setChecked, bool(t.solo)),
        ):
            if isinstance(widget, QLineEdit) and widget.isModified():
                continue  # the user is typing in it: do not snatch the text away
            widget.blockSignals(True)
            setter(value)
            widget.blockSignals(False)
        self._show_audio_prompt(t)

    def _show_audio_prompt(self, t: Track) -> None:
        path = t.engine_params.get(AUDIO_PROMPT)
        self.sound_chip.setVisible(bool(path))
        if path:
            self.sound_chip.setText(f"{os.path.basename(str(path))} ✕")
            self.sound_chip.setToolTip(f"Timbre from {path}; click to use the text prompt again")
        self.prompt.setPlaceholderText("Label for the sound file's timbre" if path
                                       else "Describe the sound, e.g. 'footsteps on gravel'")

    def set_selected(self, on: bool) -> None:
        self.setProperty("selected", on)
        self.style().unpolish(self)
        self.style().polish(self)

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self.track_id)
        super().mousePressEvent(event)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FocusIn:
            self.clicked.emit(self.track_id)
        return False

    def _toggle(self, text: str, tip: str) -> QToolButton:
        b = QToolButton(self)
        b.setText(text)
        b.setCheckable(True)
        b.setToolTip(tip)
        b.setObjectName(f"toggle{tip}")
        return b


class TrackList(QWidget):
    addRequested = Signal()

    def __init__(self, doc: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = doc
        self.rows: dict[str, TrackRow] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        title = QLabel("Tracks", self)
        title.setObjectName("sectionTitle")
        self.add = QPushButton("+ Add track", self)
        self.add.clicked.connect(self.addRequested)
        head.addWidget(title)
        head.addStretch(1)
        head.addWidget(self.add)
        outer.addLayout(head)
        self._body = QWidget(self)
        self._rows_layout = QVBoxLayout(self._body)
        self._rows_layout.setContentsMargins(0, 0, 0, 0)
        self._rows_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._body)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(scroll, 1)

        doc.projectReset.connect(self.rebuild)
        doc.trackAdded.connect(self._add_row)
        doc.trackRemoved.connect(self._remove_row)
        doc.trackChanged.connect(self._changed)
        doc.selectionChanged.connect(self._select)
        self.rebuild()

    def rebuild(self) -> None:
        for tid in list(self.rows):
            self._remove_row(tid)
        for track in self.doc.tracks:
            self._add_row(track.id)
        self._select(self.doc.selected_track_id or "")

    def set_status(self, track_id: str, text: str) -> None:
        row = self.rows.get(track_id)
        if row is not None:
            row.status.setText(text)

    def _add_row(self, track_id: str) -> None:
        row = TrackRow(self.doc, self.doc.track(track_id), self._body)
        row.clicked.connect(self._row_clicked)
        self.rows[track_id] = row
        self._rows_layout.insertWidget(self.doc.track_index(track_id), row)
        row.set_selected(track_id == self.doc.selected_track_id)

    def _row_clicked(self, track_id: str) -> None:
        # a removed row can still receive a queued FocusIn (opening a project while one of
        # its controls had focus): its track is gone, so there is nothing to select
        if track_id in self.rows and any(t.id == track_id for t in self.doc.tracks):
            self.doc.select(track_id)

    def _remove_row(self, track_id: str) -> None:
        row = self.rows.pop(track_id, None)
        if row is not None:
            row.setParent(None)
            row.deleteLater()

    def _changed(self, track_id: str, _field: str) -> None:
        row = self.rows.get(track_id)
        if row is not None:
            row.refresh()

    def _select(self, track_id: str) -> None:
        for tid, row in self.rows.items():
            row.set_selected(tid == track_id)
