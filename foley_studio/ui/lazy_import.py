"""Modules the editor needs only once the user works, loaded on first use, not at start-up.

`envelope_ops` pulls in scipy.ndimage (~0.5 s of the ~2.5 s budget before the window may
show). `envelope_ops.smooth(...)` works as before: the module loads on the first attribute
read. `warm_up()` loads every deferred module on a background thread once the window is
up, so that the first edit does not pay for the import either.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType

DEFERRED = ("foley_studio.core.envelope_ops", "foley_studio.core.edits")


class LazyModule:
    """Stands in for a module and imports it on first attribute access."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str):
        module = self._module
        if module is None:  # the import system's own lock makes concurrent first use safe
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


envelope_ops = LazyModule("foley_studio.core.envelope_ops")


def warm_up(names: tuple[str, ...] = DEFERRED) -> threading.Thread:
    """Import `names` on a daemon thread (started); join it before the program exits."""

    def load() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the first real use reports the error
                return

    thread = threading.Thread(target=load, name="foley-warm-up", daemon=True)
    thread.start()
    return thread
