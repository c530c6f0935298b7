"""Auto-generate: predict the envelope from the picture in the background, then give it to
the selected track (or a new one) as one undo step, which starts its first render.

Prediction (Video2RMS, pipeline.predict_envelope) decodes the whole clip, so it runs as a
background job with progress and can be cancelled; the document is only touched back
on the GUI thread, once the envelope is complete.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

from foley_studio.core.errors import FoleyError
from foley_studio.core.project import Track
from foley_studio.ui.background import Jobs
from foley_studio.ui.document import Document
from foley_studio.ui.render_controller import RenderController

JOB = "predict"


class AutoGenerator(QObject):
    started = Signal()
    progress = Signal(float, str)
    finished = Signal(str)  # the track that got the envelope
    failed = Signal(str)  # one-line reason
    ended = Signal()  # after finished, failed, or a cancel (which says nothing else)

    def __init__(self, doc: Document, jobs: Jobs, renders: RenderController, default_prompt: str,
                 predictor: Callable | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.doc, self.jobs, self.renders = doc, jobs, renders
        self.default_prompt = default_prompt
        self._predictor = predictor  # None: pipeline.predict_envelope, imported when first used

    @property
    def running(self) -> bool:
        return self.jobs.running(JOB)

    def run(self, clip, roi: tuple[int, int, int, int] | None = None) -> bool:
        """Start predicting for `clip` (inside `roi`, source pixels); False if already running."""
        if self.running:
            return False
        predict = self._predictor
        if predict is None:
            from foley_studio.pipeline import predict_envelope as predict
        engine_id = self.doc.project.video2rms_engine

        def job(token, progress):
            return predict(clip, engine_id, roi, progress=progress, cancel=token)

        self.started.emit()
        self.jobs.start(JOB, job, on_result=self._apply, on_error=self._fail,
                        on_progress=self.progress.emit, on_finished=self.ended.emit)
        return True

    def _apply(self, envelope) -> None:
        track = self.doc.selected_track()
        if track is None:
            track = Track(name="Foley", prompt=self.default_prompt, envelope=envelope)
            self.doc.add_track(track, label="Auto-generate")
        else:
            self.doc.set_envelope(track.id, envelope, "Auto-generate")
        self.doc.select(track.id)
        self.renders.flush()  # the first render starts now, not at the next throttle tick
        self.finished.emit(track.id)

    def _fail(self, exc: BaseException) -> None:
        self.failed.emit(str(exc) if isinstance(exc, FoleyError) else f"Auto-generate failed: {exc}")
