"""A worker process of motion_segments.py: measures pieces of a clip it is told about.

    python -m foley_studio.engines.video2rms.motion_worker    (the bundle: APP --motion-worker)

Wire format, no pickle (nothing here can run code it is sent):
  parent -> worker, stdin: one JSON line per piece
      {"path", "info": {MediaInfo fields}, "segment": [start, end|null, decode_from],
       "params": {MotionParams fields}, "roi": [x, y, w, h]|null}; end of input: exit.
  worker -> parent, stdout:
      b"count N\\n"                                frames decoded since the last count
      b"done ROWS\\n" + ROWS x 6 float64 (C order)  the piece's MotionTrace, columns in TRACE_FIELDS order
      b"error {json}\\n"                            a FoleyError: {"kind", "problem", "path"}
Anything a library prints goes to stderr: fd 1 is pointed there before anything is imported
that could write to it, and the protocol has a descriptor of its own.

The worker is run by path of this interpreter (sys.executable), with the parent's sys.path,
so it imports the very same foley_studio and libraries as the process that started it, and
runs no user script: multiprocessing's spawn would re-import the caller's __main__ (a
script without an `if __name__ == "__main__"` guard would start workers of its own).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Callable, Iterator

WORKER_ARG = "--motion-worker"  # how a frozen bundle's one executable is told to be a worker
TRACE_FIELDS = ("t_contact", "impact", "t_motion", "motion", "flow_impact", "track_impact")
COUNT_EVERY = 30  # frames between progress counts


def command() -> list[str]:
    """argv that starts a worker process."""
    if getattr(sys, "frozen", False):  # PyInstaller: sys.executable is the bundle's program
        return [sys.executable, WORKER_ARG]
    return [sys.executable, "-m", "foley_studio.engines.video2rms.motion_worker"]


def environment() -> dict:
    """The worker's environment: this process's module path, so the same packages load."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def encode_task(path: str, info, segment, params, roi) -> bytes:
    from dataclasses import asdict

    task = {"path": path, "info": asdict(info),
            "segment": [segment.start, segment.end, segment.decode_from],
            "params": asdict(params), "roi": None if roi is None else [float(v) for v in roi]}
    return (json.dumps(task) + "\n").encode()


def decode_task(line: bytes):
    from foley_studio.core.media_io import MediaInfo
    from foley_studio.engines.video2rms.motion import MotionParams
    from foley_studio.engines.video2rms.motion_segments import Segment

    task = json.loads(line)
    start, end, decode_from = task["segment"]
    roi = tuple(task["roi"]) if task["roi"] is not None else None
    return (task["path"], MediaInfo(**task["info"]), Segment(start, end, decode_from),
            MotionParams(**task["params"]), roi)


def measure_piece(task, count: Callable[[int], None]):
    """One piece's MotionTrace: decoded on this thread alone, the warm-up's rows dropped."""
    from foley_studio.core.media_decode import iter_frames
    from foley_studio.engines.video2rms.motion import _measure, _opencv_threads

    path, info, seg, params, roi = task
    # one decoder thread: the other workers keep the other cores busy
    frames = iter_frames(path, width=params.analysis_width, gray=not params.colour,
                         start=seg.decode_from, end=seg.end, info=info, threads=1)
    with _opencv_threads(params.opencv_threads):
        return _measure(_counted(frames, count), roi, (info.width, info.height), params,
                        None, None, None, keep_from=seg.start)


def _counted(frames, count: Callable[[int], None]) -> Iterator:
    n = 0
    try:
        for frame in frames:
            yield frame
            n += 1
            if n == COUNT_EVERY:
                count(n)
                n = 0
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
    count(n)


def trace_rows(trace):
    import numpy as np

    return np.ascontiguousarray(np.stack([getattr(trace, f) for f in TRACE_FIELDS], axis=1),
                                dtype=np.float64)


def main() -> int:
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library printing to stdout must not corrupt the protocol
    sys.stdout = sys.stderr
    from foley_studio.core.errors import FoleyError

    def count(n: int) -> None:
        protocol.write(b"count %d\n" % n)
        protocol.flush()

    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            rows = trace_rows(measure_piece(decode_task(line), count))
        except FoleyError as exc:
            error = {"kind": type(exc).__name__, "problem": exc.problem, "path": exc.path}
            protocol.write(b"error " + json.dumps(error).encode() + b"\n")
            protocol.flush()
            continue
        protocol.write(b"done %d\n" % len(rows))
        protocol.write(rows.tobytes())
        protocol.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
