"""Background jobs for the editor (prediction, thumbnails, audio decoding) on superqt workers.

A job is a plain function that takes a CancelToken and a progress callable; it runs in
Qt's global thread pool and its result, error and progress come back on the GUI thread.
Jobs owns the workers it started so the window can cancel and wait for all of them on
close: nothing may still be running, or still about to call into a closed window,
after the editor is gone.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Qt, QThreadPool, Signal
from superqt.utils import WorkerBase, create_worker

from foley_studio.core.cancel import CancelToken
from foley_studio.core.errors import Cancelled

Progress = Callable[[float, str], None]


class _ProgressBridge(QObject):
    progress = Signal(float, str)


class Job:
    """One running piece of work; cancel() asks it to stop at its next check."""

    def __init__(self, name: str, worker: WorkerBase, token: CancelToken, bridge: _ProgressBridge):
        self.name, self.worker, self.token, self._bridge = name, worker, token, bridge
        self.done = False
        self.entered = threading.Event()  # set on the pool thread when the job begins to run

    def cancel(self) -> None:
        self.token.cancel()
        self.worker.quit()  # generator jobs also stop at their next yield


class Jobs(QObject):
    """The set of background jobs of one window."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._jobs: list[Job] = []
        self._closed = False

    def start(
        self,
        name: str,
        fn: Callable[[CancelToken, Progress], Any],
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        on_yield: Callable[[Any], None] | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> Job | None:
        """Run fn(token, progress) in the pool; a generator fn streams values to on_yield.
        on_finished runs when it has ended in any way (result, error or cancelled).

        A job of the same name that is still running is cancelled first (latest wins)."""
        if self._closed:
            return None
        self.cancel(name)
        token = CancelToken()
        bridge = _ProgressBridge(self)
        # errors come back through on_error; superqt would otherwise re-raise them in the GUI loop
        worker = create_worker(fn, token, bridge.progress.emit, _start_thread=False, _ignore_errors=True)
        job = Job(name, worker, token, bridge)
        if on_progress is not None:
            bridge.progress.connect(lambda f, m: self._alive(job) and on_progress(f, m))
        if on_yield is not None and hasattr(worker.signals, "yielded"):
            worker.yielded.connect(lambda v: self._alive(job) and on_yield(v))
        worker.returned.connect(lambda r: self._alive(job) and on_result and on_result(r))
        worker.errored.connect(lambda e: self._report(job, e, on_error))
        worker.finished.connect(lambda: self._finish(job))
        if on_finished is not None:
            worker.finished.connect(on_finished)
        worker.started.connect(job.entered.set, Qt.ConnectionType.DirectConnection)
        self._jobs.append(job)
        worker.start()
        return job

    def running(self, name: str | None = None) -> bool:
        return any(not j.done and (name is None or j.name == name) for j in self._jobs)

    def cancel(self, name: str | None = None) -> None:
        for job in self._jobs:
            if name is None or job.name == name:
                job.cancel()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel every job and wait for the pool; True when nothing is left running."""
        self._closed = True
        self.cancel()
        deadline = time.monotonic() + timeout_ms / 1000.0
        # superqt hands a worker started inside a running event loop to the pool one timer
        # tick later; waitForDone cannot see it yet. Let those ticks happen, so that no
        # (cancelled) job can still begin after this returns, into a window being torn down.
        while any(not j.done and not j.entered.is_set() for j in self._jobs) \
                and time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents, 5)
        left_ms = max(int((deadline - time.monotonic()) * 1000), 0)
        return QThreadPool.globalInstance().waitForDone(left_ms)

    # -- internals -----------------------------------------------------------------------
    def _alive(self, job: Job) -> bool:
        return not self._closed and not job.token.cancelled

    def _report(self, job: Job, exc: BaseException, on_error) -> None:
        if isinstance(exc, Cancelled) or not self._alive(job):
            return
        if on_error is not None:
            on_error(exc)

    def _finish(self, job: Job) -> None:
        job.done = True
        if job in self._jobs:
            self._jobs.remove(job)
