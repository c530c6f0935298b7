"""Envelope CSV: `time,rms`, one row per 125 Hz frame, for spreadsheets and other tools.

time is the frame's start (i / 125 s, 6 decimals) and rms the linear level (0..1) with
9 significant digits, which is enough for a float32 to read back bit-exactly. Reading is
tolerant of what editors do to text (BOM, CRLF, spaces, blank lines, a rounded time
column, frame centres instead of starts) and strict about what would silently corrupt an
envelope (missing header, NaN, values outside 0..1 such as dB, wrong or uneven rate);
every refusal names the line.
"""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np

from foley_studio.core.atomic import write_text_atomic
from foley_studio.core.envelope import Envelope
from foley_studio.core.errors import EnvelopeFileError, OutputError
from foley_studio.core.rms import FRAME_RATE

HEADER = ("time", "rms")
MAX_BYTES = 512 * 1024**2  # 24 h at 125 Hz is ~250 MB of CSV
STEP = 1.0 / FRAME_RATE
# Time tolerance: an eighth of a frame absorbs rounding to milliseconds (1/125 s is 8 ms,
# so ms-rounded times are exact anyway) and float noise, yet catches any other rate.
TIME_TOLERANCE = STEP / 8


def format_csv(envelope: Envelope) -> str:
    if envelope.rate != FRAME_RATE:
        raise ValueError(f"CSV envelopes are {FRAME_RATE:g} frames/s, got {envelope.rate:g}")
    rows = [",".join(HEADER)]
    rows += [f"{i / FRAME_RATE:.6f},{float(v):.9g}" for i, v in enumerate(envelope.values)]
    return "\n".join(rows) + "\n"


def write_csv(path: str | os.PathLike, envelope: Envelope) -> None:
    """Write atomically (temp file in the same folder, then rename): no half-written CSV."""
    path = os.path.abspath(os.fspath(path))
    text = format_csv(envelope)
    try:
        write_text_atomic(path, text)
    except OSError as exc:
        raise OutputError(f"cannot write envelope CSV: {exc.strerror or exc}", path) from None


def read_csv(path: str | os.PathLike) -> Envelope:
    """Read an envelope CSV; EnvelopeFileError(problem, path) says which line is wrong."""
    path = os.fspath(path)
    text = _read_text(path)
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line]  # blank lines carry nothing
    if not lines:
        raise EnvelopeFileError("file is empty", path)
    n0, header = lines[0]
    if tuple(c.strip().strip('"').lower() for c in header.split(",")) != HEADER:
        problem = f'line {n0}: expected the header "time,rms", got {header[:60]!r}'
        raise EnvelopeFileError(problem, path)
    if len(lines) == 1:
        raise EnvelopeFileError("no data rows after the header", path)
    rows = lines[1:]
    table = _fast_parse(rows)
    if table is None:  # something is wrong: the row-by-row parse finds and names it
        table = np.array([_parse_row(line, n, path) for n, line in rows], dtype=np.float64)
    _check_times(table[:, 0], [n for n, _ in rows], path)
    return Envelope(table[:, 1].astype(np.float32), FRAME_RATE)


def _fast_parse(rows: list[tuple[int, str]]) -> np.ndarray | None:
    """numpy parse of a well-formed file (a few times faster); None if anything is off."""
    joined = ",".join(line for _, line in rows)
    # exactly one comma per row: as many commas in all as rows, and none without
    if joined.count(",") != 2 * len(rows) - 1 or not all("," in line for _, line in rows):
        return None
    try:
        table = np.array(joined.split(","), dtype=np.float64).reshape(-1, 2)
    except ValueError:
        return None
    if not np.isfinite(table).all():
        return None
    if not ((table[:, 1] >= 0) & (table[:, 1] <= 1)).all():
        return None
    return table


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise EnvelopeFileError("file not found", path) from None
    except OSError as exc:
        raise EnvelopeFileError(f"cannot read: {exc.strerror or exc}", path) from None
    if len(raw) > MAX_BYTES:
        raise EnvelopeFileError(f"file is over {MAX_BYTES} bytes: not an envelope CSV", path)
    try:
        return raw.decode("utf-8-sig")  # "-sig" drops the BOM that spreadsheet apps write
    except UnicodeDecodeError as exc:
        raise EnvelopeFileError(f"not UTF-8 text (byte {exc.start})", path) from None


def _parse_row(line: str, n: int, path: str) -> tuple[float, float]:
    cells = [c.strip().strip("\"").strip() for c in line.split(",")]
    if len(cells) != 2:
        raise EnvelopeFileError(f"line {n}: expected 2 values (time,rms), got {len(cells)}", path)
    t = _number(cells[0], "time", n, path)
    v = _number(cells[1], "rms", n, path)
    if v < 0:
        raise EnvelopeFileError(f"line {n}: rms {cells[1]} is negative (levels are 0..1)", path)
    if v > 1:
        raise EnvelopeFileError(
            f"line {n}: rms {cells[1]} is above 1 (levels are linear 0..1, not dB)", path
        )
    return t, v


def _number(cell: str, what: str, n: int, path: str) -> float:
    try:
        x = float(cell)
    except ValueError:
        raise EnvelopeFileError(f"line {n}: {what} {cell[:30]!r} is not a number", path) from None
    if math.isnan(x):
        raise EnvelopeFileError(f"line {n}: {what} is NaN", path)
    if math.isinf(x):
        raise EnvelopeFileError(f"line {n}: {what} is infinite", path)
    return x


def _check_times(times: np.ndarray, line_numbers: list[int], path: str) -> None:
    """Times must step by 1/125 s from a start within the first frame (0 or its centre)."""
    if not -TIME_TOLERANCE <= times[0] <= STEP / 2 + TIME_TOLERANCE:
        raise EnvelopeFileError(
            f"line {line_numbers[0]}: first time is {times[0]:g} s; the envelope must start at 0",
            path,
        )
    if len(times) < 2:
        return
    steps = np.diff(times)
    bad_step = np.flatnonzero(np.abs(steps - STEP) > TIME_TOLERANCE)
    if len(bad_step):
        i = int(bad_step[0]) + 1
        raise EnvelopeFileError(
            f"line {line_numbers[i]}: time step is {steps[i - 1]:g} s, expected {STEP:g} s "
            f"({FRAME_RATE:g} frames per second, evenly spaced)",
            path,
        )
    # small per-row errors that are each within tolerance may still add up to drift
    drift = np.abs(times - (times[0] + np.arange(len(times)) * STEP))
    bad = np.flatnonzero(drift > TIME_TOLERANCE)
    if len(bad):
        i = int(bad[0])
        raise EnvelopeFileError(
            f"line {line_numbers[i]}: time {times[i]:g} s drifts from the "
            f"{FRAME_RATE:g} frames-per-second grid",
            path,
        )
