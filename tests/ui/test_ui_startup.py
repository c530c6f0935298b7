"""Start-up: the window module loads without the heavy modules, the first frame comes
before the filmstrip and waveform decodes start, the start-up stamp for benchmarks, and
background jobs started from inside the event loop are still waited for on close."""

import os
import subprocess
import sys

import pytest
from PySide6.QtCore import QThreadPool, QTimer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(code: str, **env) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT, QT_QPA_PLATFORM="offscreen", **env)
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_editor_module_loads_without_scipy_cv2_or_torch():
    done = _run("import sys\n"
                "import foley_studio.ui.app\n"
                "heavy = [m for m in ('scipy', 'cv2', 'torch', 'tokenizers', 'safetensors') if m in sys.modules]\n"
                "assert not heavy, heavy\n")
    assert done.returncode == 0, done.stderr


def test_the_deferred_modules_load_on_first_use_and_on_warm_up():
    done = _run("import sys\n"
                "from foley_studio.ui import lazy_import\n"
                "assert 'foley_studio.core.envelope_ops' not in sys.modules\n"
                "import numpy as np\n"
                "assert lazy_import.envelope_ops.erase(np.ones(4, np.float32), (1, 3)).tolist() == [1, 0, 0, 1]\n"
                "lazy_import.warm_up().join()\n"
                "assert all(m in sys.modules for m in lazy_import.DEFERRED)\n")
    assert done.returncode == 0, done.stderr


def test_the_startup_stamp_is_printed_when_the_first_frame_is_painted(clip_path, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, QT_QPA_PLATFORM="offscreen", FOLEY_STUDIO_AUDIO="none",
               FOLEY_STUDIO_STARTUP_STAMP="quit", FOLEY_STUDIO_RECOVERY_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "foley_studio.cli", "gui", str(clip_path)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    stamps = [line.split() for line in done.stderr.splitlines() if line.startswith("first-frame-shown")]
    assert len(stamps) == 1 and float(stamps[0][1]) > 1e9  # seconds since the epoch
    assert "Traceback" not in done.stderr


def test_filmstrip_and_waveform_wait_for_the_first_picture(make_window, clip_path, qtbot):
    w = make_window(video_view=None, playback=None)
    with qtbot.waitSignal(w.video_view.firstFrameShown, timeout=3000):
        assert w.open_path(clip_path)
        assert not w.jobs.running("thumbnails") and not w.jobs.running("original-audio")
    assert w.jobs.running("thumbnails") or w.timeline.thumbnail_count > 0  # started by the picture
    qtbot.waitUntil(lambda: w.timeline.thumbnail_count > 0, timeout=3000)
    qtbot.waitUntil(lambda: w.timeline.waveform_item.duration > 0 and w.timeline.waveform_item.is_ready,
                    timeout=3000)


def test_a_hidden_window_starts_them_at_once(qtbot, clip_path, engine_factory, dialogs, tmp_path,
                                            no_leftover_threads):
    from foley_studio.ui.main_window import MainWindow

    w = MainWindow(engine_factory=engine_factory, dialogs=dialogs, recovery_dir=str(tmp_path))
    qtbot.addWidget(w)
    try:
        assert w.open_path(clip_path)
        assert w.jobs.running("thumbnails")  # no frame will be painted: nothing to wait for
    finally:
        w.close()


def test_jobs_started_inside_the_event_loop_are_waited_for_on_shutdown(qtbot, no_leftover_threads):
    """superqt hands such a worker to the pool one timer tick later: shutdown must see it."""
    from foley_studio.ui.background import Jobs

    jobs = Jobs()
    ran, seen_at_shutdown = [], []

    def start_and_close():
        jobs.start("late", lambda token, _progress: ran.append(token.cancelled))
        seen_at_shutdown.append((jobs.shutdown(), list(ran)))  # before the worker reached the pool

    QTimer.singleShot(0, start_and_close)
    qtbot.waitUntil(lambda: bool(seen_at_shutdown), timeout=3000)
    assert seen_at_shutdown == [(True, [True])]  # it ran, cancelled, before shutdown returned
    assert QThreadPool.globalInstance().activeThreadCount() == 0
    jobs.deleteLater()


@pytest.mark.parametrize("value, loaded", [("none", False), ("off", False), ("", True)])
def test_the_audio_prefetch_loads_sounddevice_unless_told_not_to(value, loaded):
    done = _run("import sys\n"
                "from foley_studio.ui import audio_output\n"
                "audio_output.prefetch_backend().join(30)\n"
                "print('sounddevice' in sys.modules)\n", FOLEY_STUDIO_AUDIO=value)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(loaded)
