"""Cooperative cancellation shared by engines, the render service and the UI."""

from __future__ import annotations

import threading

from foley_studio.core.errors import Cancelled


class CancelToken:
    """Set from any thread; the worker calls check() between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()
