"""Menus, actions and keyboard shortcuts of the main window.

Kept apart from main_window.py so the window stays about layout and wiring; every
action here just calls a window method.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

if TYPE_CHECKING:
    from foley_studio.ui.main_window import MainWindow


def _action(window, text: str, slot: Callable, shortcut=None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        keys = shortcut if isinstance(shortcut, list) else [shortcut]
        action.setShortcuts([QKeySequence(k) for k in keys])
    # window-wide, but a focused text box still gets its own keys (Space, arrows) first
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(lambda _checked=False: slot())
    window.addAction(action)
    return action


def install_actions(w: "MainWindow") -> SimpleNamespace:
    a = SimpleNamespace()
    K = QKeySequence.StandardKey
    a.open = _action(w, "&Open video or project…", w.open_dialog, K.Open)
    a.save = _action(w, "&Save", w.save, K.Save)
    a.save_as = _action(w, "Save &As…", w.save_as, "Ctrl+Shift+S")
    a.export = _action(w, "&Export…", w.export, "Ctrl+E", "Stems, mix, muxed video, envelope CSV")
    a.quit = _action(w, "&Quit", w.close, K.Quit)

    a.undo = w.doc.undo_stack.createUndoAction(w, "&Undo")
    a.undo.setShortcuts([QKeySequence("Ctrl+Z")])
    a.redo = w.doc.undo_stack.createRedoAction(w, "&Redo")
    a.redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    for action in (a.undo, a.redo):
        w.addAction(action)
    a.add_track = _action(w, "&Add track", w.add_track, "Ctrl+T")
    a.auto = _action(w, "Auto-&generate", w.auto_generate, "Ctrl+G",
                     "Predict the envelope from the picture and render the selected track")

    a.play = _action(w, "&Play / pause", w.toggle_play, Qt.Key.Key_Space)
    a.back = _action(w, "Previous frame", lambda: w.step_frames(-1), Qt.Key.Key_Left)
    a.forward = _action(w, "Next frame", lambda: w.step_frames(1), Qt.Key.Key_Right)
    a.home = _action(w, "Go to start", lambda: w.seek(0.0), Qt.Key.Key_Home)
    a.end = _action(w, "Go to end", w.seek_end, Qt.Key.Key_End)

    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    for action in (a.open, a.save, a.save_as, None, a.export, None, a.quit):
        file_menu.addSeparator() if action is None else file_menu.addAction(action)
    edit_menu = bar.addMenu("&Edit")
    for action in (a.undo, a.redo, None, a.add_track, a.auto):
        edit_menu.addSeparator() if action is None else edit_menu.addAction(action)
    play_menu = bar.addMenu("&Playback")
    for action in (a.play, a.back, a.forward, a.home, a.end):
        play_menu.addAction(action)
    return a
