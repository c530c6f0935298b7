"""The export dialog: choose outputs, format and folder; export in the background; never overwrite
without asking.

The writing itself is core.export.export_project (exact durations, all-or-nothing). This
dialog only gathers options, asks before replacing files, shows progress and keeps the
GUI responsive by running the export on a superqt worker.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
    QLabel, QLineEdit, QMessageBox, QProgressBar, QPushButton, QVBoxLayout, QWidget,
)
from superqt.utils import create_worker

from foley_studio.core.errors import FoleyError
from foley_studio.core.export import ExportOptions, ExportResult, _unique, export_project, slug

SAMPLE_RATES = (44_100, 48_000, 96_000)
BIT_DEPTHS = ((16, "16-bit PCM"), (24, "24-bit PCM"), (32, "32-bit float"))
BASE_NAME = "foley"
MAX_LISTED = 12  # files named in the overwrite question before "and N more"


def planned_paths(project, folder: str, video_path: str | None, options: ExportOptions,
                  base_name: str = BASE_NAME) -> list[str]:
    """The files export_project will write, named exactly as it names them."""
    paths, used = [], set()
    for index, track in enumerate(project.tracks, start=1):
        name = _unique(f"{index:02d}-{slug(track.name)}", used)
        if options.stems:
            paths.append(os.path.join(folder, name + ".wav"))
        if options.envelopes:
            paths.append(os.path.join(folder, name + ".csv"))
    if options.mix:
        paths.append(os.path.join(folder, f"{base_name}-mix.wav"))
    if options.video and video_path:
        stem = os.path.splitext(os.path.basename(video_path))[0]
        paths.append(os.path.join(folder, f"{stem}-{base_name}.mp4"))
    return paths


def _default_duration(project, renders, video_path: str | None) -> float:
    if project.duration:
        return float(project.duration)
    if video_path:
        from foley_studio.core.media import probe

        return probe(video_path).duration
    return max((a.duration for a in renders.values()), default=0.0)


class _Progress(QObject):
    changed = Signal(float, str)  # emitted on the worker thread, delivered on the GUI thread


class ExportDialog(QDialog):
    """Modal export; `result_value` holds the ExportResult once accepted."""

    def __init__(self, parent: QWidget | None, project, renders, video_path: str | None,
                 duration: float | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self._project, self._renders, self._video_path = project, dict(renders), video_path
        self._duration = duration if duration is not None else _default_duration(
            project, renders, video_path)
        self.result_value: ExportResult | None = None
        self._worker = None
        self._progress = _Progress(self)
        self._progress.changed.connect(self._show_progress)
        self._build()

    # --- layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        self.stems_box = QCheckBox("WAV stem per track")
        self.mix_box = QCheckBox("Mix (WAV)")
        self.video_box = QCheckBox("Video with the new sound (MP4)")
        self.csv_box = QCheckBox("Envelope per track (CSV)")
        self.keep_original_box = QCheckBox("Keep the clip's original sound as a second audio track")
        for box in (self.stems_box, self.mix_box, self.video_box, self.csv_box):
            box.setChecked(True)
            box.toggled.connect(self._update_enabled)
        if not self._video_path:
            self.video_box.setChecked(False)
            self.video_box.setEnabled(False)
            self.video_box.setToolTip("The project has no video file")
        outputs = QVBoxLayout()
        for box in (self.stems_box, self.mix_box, self.csv_box, self.video_box, self.keep_original_box):
            outputs.addWidget(box)

        self.rate_combo = QComboBox()
        for rate in SAMPLE_RATES:
            self.rate_combo.addItem(f"{rate} Hz", rate)
        rate = getattr(self._project, "sample_rate", 48_000)
        self.rate_combo.setCurrentIndex(SAMPLE_RATES.index(rate) if rate in SAMPLE_RATES else 1)
        self.depth_combo = QComboBox()
        for depth, label in BIT_DEPTHS:
            self.depth_combo.addItem(label, depth)
        self.depth_combo.setCurrentIndex(1)  # 24-bit: DESIGN.md's default

        self.folder_edit = QLineEdit(self._default_folder())
        self.folder_edit.textChanged.connect(self._update_enabled)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Outputs", outputs)
        form.addRow("Sample rate", self.rate_combo)
        form.addRow("Bit depth", self.depth_combo)
        form.addRow("Folder", folder_row)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.status_label = QLabel(f"Every file lasts exactly {self._duration:.3f} s (the video).")
        self.status_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        self.buttons.accepted.connect(self.start_export)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        self._update_enabled()

    def _default_folder(self) -> str:
        base = os.path.dirname(os.path.abspath(self._video_path)) if self._video_path else os.getcwd()
        return os.path.join(base, "foley-export")

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def _update_enabled(self) -> None:
        self.keep_original_box.setEnabled(self.video_box.isChecked())
        self.export_button.setEnabled(self._worker is None and self._any_output()
                                      and bool(self.folder_edit.text().strip()))

    def _any_output(self) -> bool:
        return any(b.isChecked() for b in (self.stems_box, self.mix_box, self.video_box, self.csv_box))

    # --- export ----------------------------------------------------------------------------

    def options(self, overwrite: bool = False) -> ExportOptions:
        return ExportOptions(
            sample_rate=int(self.rate_combo.currentData()),
            bit_depth=int(self.depth_combo.currentData()),
            stems=self.stems_box.isChecked(),
            mix=self.mix_box.isChecked(),
            video=self.video_box.isChecked() and bool(self._video_path),
            envelopes=self.csv_box.isChecked(),
            keep_original_audio=self.video_box.isChecked() and self.keep_original_box.isChecked(),
            overwrite=overwrite,
        )

    def folder(self) -> str:
        return os.path.abspath(os.path.expanduser(self.folder_edit.text().strip()))

    def start_export(self) -> None:
        """Ask about existing files, then export on a worker; accept() when it is done."""
        if self._worker is not None or not self._any_output():
            return
        folder = self.folder()
        existing = [p for p in planned_paths(self._project, folder, self._video_path, self.options())
                    if os.path.exists(p)]
        if existing and not self.confirm_overwrite(existing):
            self.status_label.setText("Nothing was written: choose another folder, or allow replacing.")
            return
        options = self.options(overwrite=bool(existing))
        self.progress_bar.setValue(0)
        self.status_label.setText("Exporting…")
        self._worker = create_worker(
            export_project, self._project, self._renders, folder, self._duration,
            video_path=self._video_path, options=options, base_name=BASE_NAME,
            progress=self._progress.changed.emit, _start_thread=False, _ignore_errors=True,
        )
        self._worker.returned.connect(self._done)
        self._worker.errored.connect(self._failed)
        self._worker.finished.connect(self._worker_finished)
        self._update_enabled()
        self._worker.start()

    def confirm_overwrite(self, existing: list[str]) -> bool:
        """Yes/No question naming the files that would be replaced (default: No)."""
        names = [os.path.basename(p) for p in existing[:MAX_LISTED]]
        more = len(existing) - len(names)
        text = "These files already exist in the folder and would be replaced:\n\n" + "\n".join(names)
        if more:
            text += f"\n… and {more} more"
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        answer = QMessageBox.question(self, "Replace existing files?", text, buttons,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    @property
    def running(self) -> bool:
        return self._worker is not None

    def _show_progress(self, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(round(100 * max(0.0, min(fraction, 1.0)))))
        self.status_label.setText(message)

    def _done(self, result: ExportResult) -> None:
        self.result_value = result
        self.progress_bar.setValue(100)
        self.status_label.setText(f"Wrote {len(result.paths())} files to {self.folder()}")

    def _failed(self, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, FoleyError) else f"Unexpected error: {exc!r}"
        self.status_label.setText(f"Export failed: {message}")
        QMessageBox.warning(self, "Export failed", message)

    def _worker_finished(self) -> None:
        self._worker = None
        self._update_enabled()
        if self.result_value is not None:
            self.accept()

    def reject(self) -> None:
        if self._worker is not None:  # export_project cannot stop half-way: let it finish
            self.status_label.setText("Finishing the export… (it writes everything or nothing)")
            return
        super().reject()

    def closeEvent(self, event) -> None:
        if self._worker is not None:
            event.ignore()
            return
        super().closeEvent(event)

    @staticmethod
    def run(parent, project, renders, video_path: str | None,
            duration: float | None = None) -> ExportResult | None:
        """Show the dialog modally; the ExportResult, or None if cancelled."""
        dialog = ExportDialog(parent, project, renders, video_path, duration)
        try:
            accepted = dialog.exec() == QDialog.DialogCode.Accepted
            return dialog.result_value if accepted else None
        finally:
            dialog.deleteLater()
