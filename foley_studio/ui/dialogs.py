"""Every question and message the window puts to the user, in one replaceable object.

The window never calls QMessageBox or QFileDialog directly; it asks its `dialogs`. Tests
(and the screenshot mode, which must never block on a modal box) swap in an object with
the same methods that answers at once.
"""

from __future__ import annotations

import os

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

APP_NAME = "Foley Studio"
VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.avi *.webm *.m4v)"
PROJECT_FILTER = "Foley Studio projects (*.foley.json *.json)"


class Dialogs:
    def error(self, parent: QWidget, text: str) -> None:
        QMessageBox.warning(parent, APP_NAME, text)

    def confirm(self, parent: QWidget, question: str) -> bool:
        answer = QMessageBox.question(parent, APP_NAME, question)
        return answer == QMessageBox.StandardButton.Yes

    def save_changes(self, parent: QWidget, name: str) -> str:
        """'save', 'discard' or 'cancel'."""
        box = QMessageBox.question(
            parent, APP_NAME, f"Save the changes to {name}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(box, "cancel")

    def open_path(self, parent: QWidget, folder: str = "") -> str | None:
        path, _ = QFileDialog.getOpenFileName(
            parent, "Open video or project", folder,
            f"Videos and projects (*.mp4 *.mov *.mkv *.avi *.webm *.m4v *.json);;{VIDEO_FILTER};;"
            f"{PROJECT_FILTER};;All files (*)")
        return path or None

    def save_path(self, parent: QWidget, suggestion: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(parent, "Save project", suggestion, PROJECT_FILTER)
        if not path:
            return None
        if not path.endswith(".json"):
            path += ".foley.json"
        return path

    def export(self, parent: QWidget, project, renders: dict, video_path: str | None,
               duration: float | None = None):
        """The export dialog (export_dialog.py); returns its ExportResult or None."""
        from foley_studio.ui.export_dialog import ExportDialog

        return ExportDialog.run(parent, project, renders, video_path, duration)


def suggested_project_path(media_path: str | None, current: str | None) -> str:
    if current:
        return current
    if media_path:
        stem = os.path.splitext(media_path)[0]
        return stem + ".foley.json"
    return os.path.join(os.getcwd(), "untitled.foley.json")
