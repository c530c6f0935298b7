"""Progress bars on stderr for the CLI (tqdm), or nothing with --quiet."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

ProgressFn = Callable[[float, str], None]


@contextlib.contextmanager
def progress_bar(label: str, quiet: bool = False) -> Iterator[ProgressFn | None]:
    """Yields progress(fraction, message) drawing a bar; None when quiet or not a terminal."""
    if quiet:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=label, file=sys.stderr, leave=False, dynamic_ncols=True,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}")

    def update(fraction: float, message: str = "") -> None:
        target = int(round(min(max(fraction, 0.0), 1.0) * 1000))
        if target > bar.n:
            bar.update(target - bar.n)
        if message:
            bar.set_postfix_str(message[:40], refresh=False)

    try:
        yield update
    finally:
        bar.close()
