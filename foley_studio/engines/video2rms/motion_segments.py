"""A long clip's motion measured in pieces, one worker process per core.

Decoding a frame (FFmpeg, then shrinking it) and measuring it (OpenCV and numpy, driven by
Python) cost about the same. In one process they ran as two threads sharing the
interpreter lock, and on two cores they overlapped badly: an hour of 720p took 221 s of
CPU and its envelope came at 27.5x real time. Two worker processes, each decoding and
measuring whole pieces on one thread (FFmpeg's own threads would only compete with the
other worker), reach 31-35x on the same machine. So a clip longer than two segments is
cut into pieces of about SEGMENT_S, handed to worker processes (motion_worker.py).

Each piece starts decoding WARMUP_S early and drops the rows of those frames: measuring
has state (the background model, the objects followed, the previous frame's flow), and
the warm-up rebuilds it as an uninterrupted pass would have it: row for row on the test
clips and the benchmark's hour. (State older than the warm-up, say a background hidden
behind something that has not moved for longer, could still differ just after a seam.)
Where the pieces fall depends on the clip's length alone, never on the number of cores,
so a clip's envelope does not depend on the machine it was computed on. Rows come back in clip order and form one MotionTrace: what follows (peak
picking, levels) sees the whole clip as before.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from foley_studio.core import errors
from foley_studio.core.errors import EngineError, MediaError
from foley_studio.engines.base import ROI, CancelToken, Progress, check, report
from foley_studio.engines.video2rms import motion_worker
from foley_studio.engines.video2rms.motion_worker import TRACE_FIELDS

# seconds of clip per piece (about): long enough that the warm-up costs little (5.6%),
# short enough that an hour's 40 pieces share out evenly to 2, 4 or 8 workers
SEGMENT_S = 90.0
# decoded and measured before a piece, rows dropped. State lasts longer than any one
# constant says (a ball resting when the warm-up starts leaves a ghost in the background
# until it moves and the ghost settles): on the benchmark's hour of bouncing balls 2 s
# of warm-up left 128 of 18,000 rows different, 4 s none. 5 s, and 150 frames at least
# for slow clips.
WARMUP_S = 5.0
WARMUP_FRAMES = 150
WORKERS_ENV = "FOLEY_STUDIO_WORKERS"  # worker processes; 1 measures the pieces in-process
SEGMENT_ENV = "FOLEY_STUDIO_MOTION_SEGMENT_S"  # another piece length (checks of the bundle)
POLL_S = 0.1  # how often cancel is checked and progress reported while workers run
# a worker's resident memory (~130 MB measured on 720p: libraries, decoder, one picture
# at a time), rounded up; and a limit on their number, which keeps a many-core machine's
# workers (and the decoders reading the same file) to what pays
WORKER_MB = 160
MAX_WORKERS = 8


@dataclass(frozen=True)
class Segment:
    start: float  # the first kept frame's time (s)
    end: float | None  # frames before this are kept; None: to the end of the clip
    decode_from: float  # start minus the warm-up


def plan(duration: float, fps: float, segment_s: float | None = None,
         warmup_s: float | None = None) -> list[Segment]:
    """Pieces of a clip: one for a clip up to two segments long, else equal pieces of
    about segment_s (SEGMENT_S unless given; between 3/4 and 5/4 of it), so that workers
    finish together."""
    if segment_s is None:
        segment_s = _env_float(SEGMENT_ENV, SEGMENT_S)
    if warmup_s is None:
        warmup_s = max(WARMUP_S, WARMUP_FRAMES / max(float(fps), 1e-3))
    if duration <= 2 * segment_s:
        return [Segment(0.0, None, 0.0)]
    n = max(2, round(duration / segment_s))
    starts = [duration * i / n for i in range(n)]
    ends: list[float | None] = [*starts[1:], None]
    return [Segment(s, e, max(0.0, s - warmup_s)) for s, e in zip(starts, ends)]


def _env_float(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def worker_count(n_segments: int) -> int:
    """Worker processes for this many pieces: $FOLEY_STUDIO_WORKERS, else the cores this
    process may use, at most MAX_WORKERS and what a quarter of the free memory holds;
    never more than there are pieces."""
    wanted = os.environ.get(WORKERS_ENV, "").strip()
    try:
        n = int(wanted) if wanted else min(len(os.sched_getaffinity(0)), MAX_WORKERS, _fit_in_memory())
    except (ValueError, AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, n_segments))


def _fit_in_memory() -> int:
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return MAX_WORKERS
    return int(free // 4 // (WORKER_MB << 20))


def measure_segments(
    clip: Any,
    segments: list[Segment],
    roi: ROI | None,
    params: Any,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    workers: int | None = None,
):
    """The MotionTrace of the whole clip, measured piece by piece (in worker processes
    when there is more than one worker)."""
    from foley_studio.engines.video2rms.motion import MotionTrace

    info = clip.info
    workers = worker_count(len(segments)) if workers is None else max(1, min(workers, len(segments)))
    tasks = [(clip.path, info, seg, params, roi) for seg in segments]
    # frames decoded in all: the clip's, plus each later piece's warm-up
    total = max(1.0, info.n_frames + sum(s.start - s.decode_from for s in segments) * info.fps)
    clip.check_unchanged()
    try:
        if workers == 1:
            rows = _in_process(tasks, total, progress, cancel)
        else:
            rows = _Workers(workers).run(tasks, total, progress, cancel)
    except MediaError:
        clip.check_unchanged()  # "changed on disk" explains a decode error best
        raise
    clip.check_unchanged()
    data = np.concatenate(rows) if rows else np.zeros((0, len(TRACE_FIELDS)))
    # by name: the wire's column order (TRACE_FIELDS) need not be MotionTrace's field order
    return MotionTrace(**{name: np.ascontiguousarray(data[:, i]) for i, name in enumerate(TRACE_FIELDS)})


def _in_process(tasks, total, progress, cancel) -> list[np.ndarray]:
    done = 0

    def count(n: int) -> None:
        nonlocal done
        done += n
        check(cancel)
        report(progress, 0.95 * min(done / total, 1.0), "optical flow")

    return [motion_worker.trace_rows(motion_worker.measure_piece(task, count)) for task in tasks]


class _Workers:
    """Worker processes handed one piece at a time (a free worker takes the next), their
    replies read by one thread each into a queue this thread waits on."""

    def __init__(self, n: int):
        self.n = n
        self._events: queue.Queue = queue.Queue()

    def run(self, tasks, total, progress, cancel) -> list[np.ndarray]:
        procs, readers, logs = [], [], []
        try:
            for i in range(self.n):
                log = tempfile.TemporaryFile()  # a file, not a pipe: nobody must drain it
                logs.append(log)
                try:
                    proc = subprocess.Popen(motion_worker.command(), stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=log,
                                            env=motion_worker.environment())
                except OSError as exc:
                    raise EngineError(f"cannot start a motion worker process ({exc.strerror or exc})") from None
                procs.append(proc)
                reader = threading.Thread(target=self._read, args=(i, proc.stdout),
                                          name=f"foley-motion-worker-{i}", daemon=True)
                reader.start()
                readers.append(reader)
            return self._schedule(procs, logs, tasks, total, progress, cancel)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()  # cancelled or failed: the other pieces are not wanted
            for proc in procs:
                proc.wait()
                for stream in (proc.stdin, proc.stdout):
                    try:
                        stream.close()
                    except OSError:
                        pass
            for reader in readers:
                reader.join()
            for log in logs:
                log.close()

    def _schedule(self, procs, logs, tasks, total, progress, cancel) -> list[np.ndarray]:
        pending = deque(enumerate(tasks))
        results: list[np.ndarray | None] = [None] * len(tasks)
        busy: dict[int, int] = {}  # worker -> task index
        done_frames = 0

        def hand_out(worker: int) -> None:
            try:
                if pending:
                    index, (path, info, seg, params, roi) = pending.popleft()
                    busy[worker] = index
                    procs[worker].stdin.write(motion_worker.encode_task(path, info, seg, params, roi))
                    procs[worker].stdin.flush()
                else:
                    procs[worker].stdin.close()  # no more pieces: the worker exits
            except OSError:  # it died before it could read: say why
                raise EngineError(f"a motion worker process stopped "
                                  f"({_exit_reason(procs[worker], logs[worker])})") from None

        for worker in range(len(procs)):
            hand_out(worker)
        while busy:
            check(cancel)
            report(progress, 0.95 * min(done_frames / total, 1.0), "optical flow")
            try:
                worker, kind, payload = self._events.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if kind == "count":
                done_frames += payload
            elif kind == "done":
                results[busy.pop(worker)] = payload
                hand_out(worker)
            elif kind == "error":
                raise _rebuilt(payload)
            elif worker in busy:  # "exit" of a worker in the middle of a piece
                raise EngineError(f"a motion worker process stopped ({_exit_reason(procs[worker], logs[worker])})")
        return [r for r in results if r is not None]

    def _read(self, worker: int, stream) -> None:
        """Replies of one worker, as events; ("exit", None) when its output ends."""
        put = self._events.put
        try:
            for line in iter(stream.readline, b""):
                word, _, rest = line.rstrip(b"\n").partition(b" ")
                if word == b"count":
                    put((worker, "count", int(rest)))
                elif word == b"done":
                    n = int(rest)
                    raw = stream.read(n * len(TRACE_FIELDS) * 8)
                    if len(raw) != n * len(TRACE_FIELDS) * 8:
                        break  # cut off: the worker died while writing
                    put((worker, "done", np.frombuffer(raw, np.float64).reshape(n, len(TRACE_FIELDS))))
                elif word == b"error":
                    put((worker, "error", rest))
        except (OSError, ValueError):
            pass  # the pipe closed under us: the worker is gone, reported as its exit
        put((worker, "exit", None))


def _rebuilt(payload: bytes) -> Exception:
    """The FoleyError a worker reported, as the same class here."""
    error = json.loads(payload)
    kind = getattr(errors, str(error.get("kind")), None)
    if not (isinstance(kind, type) and issubclass(kind, errors.FoleyError)):
        kind = EngineError
    return kind(str(error.get("problem")), error.get("path"))


def _exit_reason(proc: subprocess.Popen, log) -> str:
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    log.seek(0)
    lines = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    last = lines[-1] if lines else "no message"
    return f"exit status {code}: {last}"
