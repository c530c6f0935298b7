"""Long clips measured in pieces by worker processes (motion_segments.py, motion_worker.py).

The pieces must add up to what one uninterrupted pass measures, whatever the number of
workers; errors, cancel and a dying worker must end in one line with no process left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from foley_studio.core import media
from foley_studio.core.errors import Cancelled, EngineError, MediaError
from foley_studio.engines.base import CancelToken
from foley_studio.engines.video2rms import motion_segments, motion_worker
from foley_studio.engines.video2rms.motion import MotionEngine, MotionParams, contact_events
from foley_studio.engines.video2rms.motion_segments import Segment, measure_segments, plan
from tests.mediagen import write_corrupted, write_video
from tests.test_motion import FPS, bouncing_ball

SEGMENT = 3.0  # seconds per piece in these tests (the engine's is a minute)
WARMUP = 1.0
FIELDS = motion_worker.TRACE_FIELDS


@pytest.fixture(scope="module")
def bounces(tmp_path_factory):
    """A 12 s clip: four balls dropped one after another, contacts all along (and at seams)."""
    pictures, contacts = [], []
    for k in range(4):
        frames, hits = bouncing_ball(n=90, x0=40 + 70 * k, seed=k)
        pictures += [f.image for f in frames]
        contacts += list(hits + 90 * k)
    stack = np.repeat(np.stack(pictures)[..., None], 3, axis=-1)
    path = write_video(tmp_path_factory.mktemp("segments") / "bounces.mp4", stack, fps=FPS)
    return media.open_clip(path), np.array(contacts)


def whole_trace(clip):
    """What the engine measures in one pass (its path for clips up to two pieces long)."""
    return MotionEngine()._measure_whole(clip, None, None, None)


def rows(trace) -> np.ndarray:
    return np.stack([getattr(trace, f) for f in FIELDS], axis=1)


def children() -> set[int]:
    """Live child processes of this one."""
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                found.add(int(pid))
    return found


# --- the plan ------------------------------------------------------------------------------


def test_a_clip_up_to_two_segments_is_one_piece():
    longest = 2 * motion_segments.SEGMENT_S
    assert plan(0.0, 30) == plan(longest, 30) == [Segment(0.0, None, 0.0)]
    assert len(plan(longest + 0.1, 30)) == 2


@pytest.mark.parametrize("segments", [2.01, 2.5, 2.99, 3.0, 3.5, 6.667, 40.0, 40.7])
def test_pieces_tile_the_clip_in_equal_lengths(segments):
    duration = segments * motion_segments.SEGMENT_S
    pieces = plan(duration, 30)
    assert pieces[0].start == 0.0 and pieces[0].decode_from == 0.0 and pieces[-1].end is None
    for a, b in zip(pieces, pieces[1:]):
        assert a.end == b.start  # no gap, no overlap of kept frames
        assert b.decode_from == b.start - motion_segments.WARMUP_S
    lengths = [(p.end if p.end is not None else duration) - p.start for p in pieces]
    # equal pieces (workers finish together) near the segment length
    assert max(lengths) - min(lengths) < 1e-6
    assert 0.75 * motion_segments.SEGMENT_S <= lengths[0] <= 1.25 * motion_segments.SEGMENT_S


def test_warm_up_covers_enough_frames_of_a_slow_clip():
    # at 1 fps two seconds would be two frames: the warm-up is counted in frames too
    pieces = plan(3600.0, 1.0)
    assert pieces[-1].start - pieces[-1].decode_from == motion_segments.WARMUP_FRAMES
    assert plan(3600.0, 30.0)[-1].start - plan(3600.0, 30.0)[-1].decode_from == motion_segments.WARMUP_S


# --- pieces add up to the whole ------------------------------------------------------------


def test_pieces_measure_what_one_pass_measures(bounces):
    clip, contacts = bounces
    whole = whole_trace(clip)
    pieces = plan(clip.info.duration, FPS, SEGMENT, WARMUP)
    assert len(pieces) == 4
    pieced = measure_segments(clip, pieces, None, MotionParams(), workers=1)
    # the same frames, each measured once, in order
    np.testing.assert_array_equal(pieced.t_contact, whole.t_contact)
    # after the warm-up the measuring state is the uninterrupted pass's: every row equal
    np.testing.assert_array_equal(rows(pieced), rows(whole))
    times, levels = contact_events(pieced)
    assert len(times) >= len(contacts) - 2  # the contacts are there (a real test of content)


def test_worker_processes_give_the_in_process_result_exactly(bounces):
    clip, _ = bounces
    pieces = plan(clip.info.duration, FPS, SEGMENT, WARMUP)
    before = children()
    alone = measure_segments(clip, pieces, None, MotionParams(), workers=1)
    reported = []
    shared = measure_segments(clip, pieces, None, MotionParams(), workers=2,
                              progress=lambda f, m: reported.append(f))
    np.testing.assert_array_equal(rows(shared), rows(alone))
    assert children() == before  # every worker exited
    assert reported and all(0.0 <= f <= 0.95 for f in reported)
    assert all(b >= a for a, b in zip(reported, reported[1:]))


def test_the_engine_cuts_a_long_clip_into_pieces(bounces, monkeypatch):
    clip, contacts = bounces
    whole = MotionEngine().predict(clip)  # 12 s: one piece at the engine's own length
    seen = []
    real = motion_segments.measure_segments
    monkeypatch.setattr(motion_segments, "SEGMENT_S", SEGMENT)
    monkeypatch.setattr(motion_segments, "measure_segments",
                        lambda clip, segments, *a, **k: seen.append(segments) or real(clip, segments, *a, **k))
    pieced = MotionEngine().predict(clip)
    assert len(seen) == 1 and len(seen[0]) == 4
    np.testing.assert_array_equal(pieced.values, whole.values)


def test_a_script_without_a_main_guard_can_start_workers(bounces, tmp_path):
    # multiprocessing's spawn would re-run such a script in each worker; ours runs none
    clip, _ = bounces
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(f"""
        from foley_studio.core import media
        from foley_studio.engines.video2rms.motion import MotionParams
        from foley_studio.engines.video2rms.motion_segments import measure_segments, plan
        clip = media.open_clip({clip.path!r})
        trace = measure_segments(clip, plan(clip.info.duration, 30, 3.0, 1.0), None, MotionParams(), workers=2)
        print("rows", len(trace.t_contact))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=os.getcwd(), env=motion_worker.environment())
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["rows", str(len(whole_trace(clip).t_contact))]


# --- failures ------------------------------------------------------------------------------


def test_a_decode_error_in_a_worker_arrives_as_the_same_one_line_error(bounces, tmp_path):
    clip, _ = bounces
    damaged = media.open_clip(write_corrupted(clip.path, tmp_path / "damaged.mp4", start=0.5))
    pieces = plan(damaged.info.duration, FPS, SEGMENT, WARMUP)
    before = children()
    with pytest.raises(MediaError) as err:
        measure_segments(damaged, pieces, None, MotionParams(), workers=2)
    assert err.value.path == damaged.path and "damaged video data" in err.value.problem
    assert "\n" not in str(err.value)
    assert children() == before


def test_cancel_stops_the_workers(bounces):
    clip, _ = bounces
    token = CancelToken()
    before = children()

    def progress(fraction, _message):
        if fraction > 0.1:
            token.cancel()

    started = time.monotonic()
    with pytest.raises(Cancelled):
        measure_segments(clip, plan(clip.info.duration, FPS, SEGMENT, WARMUP), None, MotionParams(),
                         workers=2, progress=progress, cancel=token)
    assert time.monotonic() - started < 30
    assert children() == before


def test_a_worker_that_dies_is_reported_with_its_last_words(bounces, monkeypatch):
    clip, _ = bounces
    monkeypatch.setattr(motion_worker, "command", lambda: [
        sys.executable, "-c", "import sys; sys.stdin.readline(); sys.stderr.write('out of memory\\n'); sys.exit(3)"])
    before = children()
    with pytest.raises(EngineError, match=r"motion worker process stopped \(exit status 3: out of memory\)"):
        measure_segments(clip, plan(clip.info.duration, FPS, SEGMENT, WARMUP), None, MotionParams(), workers=2)
    assert children() == before


def test_a_clip_replaced_while_measured_is_named_changed(bounces, tmp_path):
    clip, _ = bounces
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(open(clip.path, "rb").read())
    opened = media.open_clip(copy)
    write_video(copy, np.zeros((30, 90, 160, 3), np.uint8), fps=FPS)  # another picture, same name
    with pytest.raises(MediaError, match="changed on disk"):
        measure_segments(opened, plan(opened.info.duration, FPS, SEGMENT, WARMUP), None, MotionParams(), workers=2)


def test_library_output_on_stdout_does_not_corrupt_the_replies(bounces):
    # the worker points fd 1 at stderr: only protocol lines reach the parent
    clip, _ = bounces
    task = motion_worker.encode_task(clip.path, clip.info, Segment(0.0, 1.0, 0.0), MotionParams(), None)
    code = textwrap.dedent("""
        import os, runpy
        from foley_studio.engines.video2rms import motion
        real = motion._measure
        def noisy(*args, **kwargs):
            print("print noise")
            os.write(1, b"raw noise\\n")
            return real(*args, **kwargs)
        motion._measure = noisy
        runpy.run_module("foley_studio.engines.video2rms.motion_worker", run_name="__main__")
    """)
    done = subprocess.run([sys.executable, "-c", code], input=task, capture_output=True, timeout=60,
                          env=motion_worker.environment())
    assert done.returncode == 0, done.stderr[-2000:]
    assert b"print noise" in done.stderr and b"raw noise" in done.stderr
    out, pos, counted = done.stdout, 0, 0
    while out.startswith(b"count ", pos):  # nothing but protocol, from the first byte
        end = out.index(b"\n", pos)
        counted, pos = counted + int(out[pos + 6:end]), end + 1
    assert out.startswith(b"done ", pos)
    end = out.index(b"\n", pos)
    n, body = int(out[pos + 5:end]), out[end + 1:]
    expected = motion_worker.trace_rows(motion_worker.measure_piece(motion_worker.decode_task(task),
                                                                    lambda _n: None))
    assert counted == 30 and n == len(expected) > 20  # the first second's frames
    assert body == expected.tobytes()


# --- the bundle ----------------------------------------------------------------------------


def test_a_frozen_app_starts_itself_as_the_worker(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert motion_worker.command() == [sys.executable, "--motion-worker"]


def test_the_bundle_entry_script_runs_workers(bounces, monkeypatch):
    # what `APP --motion-worker` runs in the PyInstaller app: the entry script, not the CLI
    clip, _ = bounces
    entry = os.path.join(os.path.dirname(__file__), os.pardir, "packaging", "foley_studio_entry.py")
    monkeypatch.setattr(motion_worker, "command",
                        lambda: [sys.executable, os.path.abspath(entry), motion_worker.WORKER_ARG])
    pieces = plan(clip.info.duration, FPS, SEGMENT, WARMUP)
    shared = measure_segments(clip, pieces, None, MotionParams(), workers=2)
    np.testing.assert_array_equal(rows(shared), rows(measure_segments(clip, pieces, None, MotionParams(), workers=1)))


def test_piece_length_can_be_set_for_checks(monkeypatch):
    monkeypatch.setenv(motion_segments.SEGMENT_ENV, "2")
    assert len(plan(8.0, 30)) == 4
    monkeypatch.setenv(motion_segments.SEGMENT_ENV, "nonsense")
    assert len(plan(8.0, 30)) == 1


def test_workers_follow_cores_memory_and_the_setting(monkeypatch):
    monkeypatch.delenv(motion_segments.WORKERS_ENV, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(64)))
    monkeypatch.setattr(motion_segments, "_fit_in_memory", lambda: 100)
    assert motion_segments.worker_count(60) == motion_segments.MAX_WORKERS
    assert motion_segments.worker_count(3) == 3  # never more than the pieces
    monkeypatch.setattr(motion_segments, "_fit_in_memory", lambda: 2)
    assert motion_segments.worker_count(60) == 2  # a quarter of the free memory holds two
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
    assert motion_segments.worker_count(60) == 1
    monkeypatch.setenv(motion_segments.WORKERS_ENV, "12")
    assert motion_segments.worker_count(60) == 12


def test_free_memory_is_read():
    assert motion_segments._fit_in_memory() >= 1  # this machine has gigabytes free


def test_a_worker_that_cannot_start_is_one_line(bounces, monkeypatch, tmp_path):
    clip, _ = bounces
    monkeypatch.setattr(motion_worker, "command", lambda: [str(tmp_path / "no-such-program")])
    with pytest.raises(EngineError, match=r"cannot start a motion worker process \(No such file"):
        measure_segments(clip, plan(clip.info.duration, FPS, SEGMENT, WARMUP), None, MotionParams(), workers=2)


def test_a_region_of_interest_reaches_the_workers(bounces):
    clip, _ = bounces
    roi = (0.0, 0.0, clip.info.width / 2, clip.info.height)  # the left half: two of the balls
    pieces = plan(clip.info.duration, FPS, SEGMENT, WARMUP)
    whole = MotionEngine()._measure_whole(clip, roi, None, None)
    shared = measure_segments(clip, pieces, roi, MotionParams(), workers=2)
    np.testing.assert_array_equal(rows(shared), rows(whole))
    assert not np.array_equal(rows(shared), rows(whole_trace(clip)))  # the region mattered
