"""One long-clip session for bench_long_clip.py, in its own process: prints one JSON line.

    python tests/benchmarks/long_clip_session.py headless|editor CLIP

Each stage reports its wall time, CPU time (this process, all threads) and the peak of
VmRSS sampled every 0.1 s while it ran; the end reports ru_maxrss.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("FOLEY_STUDIO_AUDIO", "none")


def _cpu_s() -> float:
    """CPU time of this process and of its children that have exited (the motion engine's
    worker processes measure long clips)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _vm_rss_mb(pid: str) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass  # exited meanwhile
    return 0.0


def _children() -> list[str]:
    """Child pids, from each thread's /proc children list: scanning all of /proc ten times
    a second cost the sampler 4% of a core, taken from the work being measured."""
    found = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                found += f.read().split()
        except OSError:
            continue  # the thread ended meanwhile
    return found


class RssSampler:
    """Peak VmRSS per named stage, of this process and its child processes together
    (sampled at the same moment), from /proc every `every` seconds."""

    def __init__(self, every: float = 0.1):
        self.every, self.stage, self.peaks = every, None, {}
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="rss-sampler").start()

    @staticmethod
    def rss_mb() -> float:
        return _vm_rss_mb("self") + sum(_vm_rss_mb(pid) for pid in _children())

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        if self.stage is not None:
            self.peaks[self.stage] = max(self.peaks.get(self.stage, 0.0), self.rss_mb())


class Stages:
    def __init__(self, duration: float):
        self.sampler, self.duration, self.rows = RssSampler(), duration, []

    def start(self, name: str, at: float | None = None) -> None:
        """Begin a stage; `at` is when it began (a signal's time), else now."""
        self.sampler.stage = name
        self.sampler.sample()
        self._t0, self._cpu0 = time.perf_counter() if at is None else at, _cpu_s()

    def stop(self, name: str, realtime: bool = True, at: float | None = None) -> None:
        """End a stage; `at` is when it ended (a signal's time), else now."""
        self.sampler.sample()
        wall = (time.perf_counter() if at is None else at) - self._t0
        self.rows.append({"name": name, "wall_s": wall, "cpu_s": _cpu_s() - self._cpu0,
                          "x_realtime": self.duration / wall if realtime else None,
                          "rss_peak_mb": self.sampler.peaks.get(name, 0.0)})


def _done(stages: Stages, extra: dict | None = None) -> dict:
    return {"stages": stages.rows, "extra": extra or {}, "load": os.getloadavg()[0],
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "tree_rss_peak_mb": max((row["rss_peak_mb"] for row in stages.rows), default=0.0)}


def headless(clip_path: str) -> dict:
    from foley_studio import pipeline
    from foley_studio.core import media
    from foley_studio.core.export import ExportOptions, export_project

    clip = media.open_clip(clip_path)
    stages = Stages(clip.duration)
    stages.start("predict")
    envelope = pipeline.predict_envelope(clip, "motion")
    stages.stop("predict")
    project = pipeline.new_project(clip_path, envelope, [pipeline.TrackSpec("Foley", "footsteps on wood")],
                                   duration=clip.duration)
    stages.start("render")
    renders = pipeline.render_tracks(project)
    stages.stop("render")
    with tempfile.TemporaryDirectory(prefix="foley-bench-long-") as out:
        stages.start("export")
        export_project(project, renders, out, clip.duration, clip_path, ExportOptions())
        stages.stop("export")
    return _done(stages)


def editor(clip_path: str) -> dict:
    from PySide6.QtWidgets import QApplication

    from foley_studio.ui import theme
    from foley_studio.ui.app import UnattendedDialogs
    from foley_studio.ui.main_window import MainWindow

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from editor_session import Driver

    app = QApplication([sys.argv[0]])
    theme.apply(app)
    from foley_studio.core import media

    stages = Stages(media.probe(clip_path).duration)
    extra: dict = {}

    def session(window):
        shown, generated, rendered = [], [], []
        window.video_view.firstFrameShown.connect(lambda: shown.append(time.perf_counter()))
        window.autoGenerated.connect(lambda tid: generated.append(time.perf_counter()))
        window.renders.rendered.connect(lambda *_: rendered.append(time.perf_counter()))
        stages.start("open")
        t0 = time.perf_counter()
        window.show()
        assert window.open_path(clip_path), "could not open the clip"
        yield lambda: shown
        stages.stop("open", realtime=False)
        extra["time to first picture (s)"] = shown[0] - t0
        timeline = window.timeline
        wave = timeline.waveform_item

        def strip_done():
            return not window.jobs.running("thumbnails") and timeline.thumbnail_count > 0

        def wave_done():
            return wave is None or wave.is_ready

        done_at = {}

        def watch():  # completion times of the background builds, whatever else is running
            for key, test in (("thumbnails", strip_done), ("waveform", wave_done)):
                if key not in done_at and test():
                    done_at[key] = time.perf_counter() - t0
            return len(done_at) == 2

        stages.start("predict")
        window.auto_generate()
        yield lambda: (watch() and False) or generated
        stages.stop("predict", at=generated[0])
        predicted = generated[0]
        stages.start("render", at=predicted)  # the first render of the predicted envelope (not the silence before)
        yield lambda: (watch() and False) or any(t > predicted for t in rendered)
        stages.stop("render", at=min(t for t in rendered if t > predicted))
        stages.start("background (filmstrip, waveform)")
        yield watch
        stages.stop("background (filmstrip, waveform)", realtime=False)
        # an edit of one second mid-clip: a span re-render patches the stored track and the
        # mixer writes the other play buffer (the steady state of editing a long clip)
        stages.start("edit (1 s span re-render, mixed)")
        track = window.doc.tracks[0]
        values = track.envelope.values.copy()
        mid = len(values) // 2
        values[mid:mid + 125] = 0.2
        edited = time.perf_counter()
        window.doc.edit_envelope(track.id, values, "benchmark edit")
        yield lambda: any(t > edited for t in rendered)
        window.playback.wait_idle(120)
        stages.stop("edit (1 s span re-render, mixed)", realtime=False)
        extra["edit -> new audio in play buffer (s)"] = time.perf_counter() - edited
        extra["filmstrip complete, from open (s)"] = done_at["thumbnails"]
        extra["waveform complete, from open (s)"] = done_at["waveform"]
        extra["thumbnails"] = timeline.thumbnail_count

    with tempfile.TemporaryDirectory(prefix="foley-bench-recovery-") as recovery:
        window = MainWindow(dialogs=UnattendedDialogs(), recovery_dir=recovery)
        # slow polls: the times come from signals, and fast polls slow the prediction down
        driver = Driver(app, session(window), timeout_s=3 * 3600, poll_ms=50)
        app.exec()
        window.shutdown()
    if driver.error is not None:
        raise driver.error
    return _done(stages, extra)


def main() -> int:
    kind, clip = sys.argv[1], sys.argv[2]
    try:
        out = headless(clip) if kind == "headless" else editor(clip)
    except Exception as exc:  # noqa: BLE001 - reported to the runner as one line
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
