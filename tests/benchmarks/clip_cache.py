"""Where the benchmarks keep the clips they generate, and how they write them.

Clips are written once into $FOLEY_BENCH_CACHE (else ~/.cache/foley-studio-bench) under
a temporary name and renamed when complete, so an interrupted run never leaves a half
clip that a later run would take for a cached one.
"""

from __future__ import annotations

import os
from typing import Callable


def cache_dir() -> str:
    folder = os.environ.get("FOLEY_BENCH_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "foley-studio-bench")
    os.makedirs(folder, exist_ok=True)
    return folder


def write_atomically(path: str, write: Callable[[str], object]) -> None:
    """write(tmp) then rename tmp to path; the temporary is removed whatever happens."""
    tmp = f"{path}.{os.getpid()}.tmp.mp4"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
