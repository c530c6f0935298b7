"""What the no_leftover_threads fixture checks, as functions a test can also call."""

import threading

from PySide6.QtCore import QThreadPool


def snapshot() -> set:
    return set(threading.enumerate())


def leftovers(before: set) -> list[str]:
    """Python threads started since `before` that still run, and busy Qt pool threads."""
    pool = QThreadPool.globalInstance()
    pool.waitForDone(100)  # only lets runnables that are already finishing retire
    left = [t.name for t in threading.enumerate()
            if t not in before and t.is_alive() and not isinstance(t, threading._DummyThread)]
    if pool.activeThreadCount():
        left.append(f"{pool.activeThreadCount()} Qt thread-pool job(s)")
    return left
