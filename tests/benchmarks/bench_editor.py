"""The editor's speed targets (issue 3), on a 60 s 1280x720 30 fps clip with the palette engine.

* edit -> play buffer: from the mouse release that ends a pencil stroke to the new render
  being mixed into the play buffer, p95 over 30 strokes made while playing (<= 100 ms);
* GUI-thread stalls while rendering: the longest interval between ticks of a 5 ms timer
  on the GUI thread while the strokes re-render (<= 50 ms), and its p99; the same during
  the first render after auto-generate (which also loads the prompt encoder);
* start-up: from launching `foley-studio gui CLIP` to the video view having painted the
  clip's first frame (<= 2.5 s); the process prints the moment when
  FOLEY_STUDIO_STARTUP_STAMP is set (see foley_studio/ui/app.py), so every import counts;
* memory: peak resident set of the editor process after auto-generate, the first
  render and the strokes (<= 700 MB).

The clip (written once with PyAV into $FOLEY_BENCH_CACHE, else ~/.cache/foley-studio-bench;
`python tests/benchmarks/bench_editor.py --clip` prints its path): a slowly panning textured
floor, so the whole picture moves, and two balls bouncing off the walls; each bounce is
an impact, with a short decaying noise burst at that moment in the AAC track (48 kHz mono).
It is written under a temporary name and renamed, so an interrupted run leaves no half clip.

Every GUI measurement runs in a fresh process (editor_session.py, or the real command
for start-up), offscreen, so this runner's own imports pollute nothing. Wall-clock
numbers on a shared 2-core machine move with its load: each value is the median over
several runs (FOLEY_BENCH_EDITOR_RUNS sessions, default 3; 7 launches), and the load
average is reported with them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from clip_cache import cache_dir, mux_mono_audio, write_atomically

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EDITS = 30
LAUNCHES = 7
STAMP = "first-frame-shown"


# --- the clip ------------------------------------------------------------------------------

W, H, FPS, SECONDS = 1280, 720, 30, 60.0
AUDIO_SR = 48_000
CLIP_VERSION = 1  # bump when the content changes, so stale cached clips are not reused


def clip_path() -> str:
    """Path of the benchmark clip, writing it first if it is not cached yet."""
    path = os.path.join(cache_dir(), f"editor-60s-720p-v{CLIP_VERSION}.mp4")
    if not os.path.isfile(path):
        write_atomically(path, write_clip)
    return path


def _texture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A smooth random floor (bilinear-upsampled noise plus fine grain), uint8 (h, w)."""
    cell = 16
    coarse = rng.random((h // cell + 2, w // cell + 2)).astype(np.float32)
    ys = np.linspace(0, coarse.shape[0] - 1.001, h, dtype=np.float32)
    xs = np.linspace(0, coarse.shape[1] - 1.001, w, dtype=np.float32)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a = coarse[y0][:, x0]
    b = coarse[y0][:, x0 + 1]
    c = coarse[y0 + 1][:, x0]
    d = coarse[y0 + 1][:, x0 + 1]
    smooth = (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy
    grain = rng.random((h, w), dtype=np.float32)
    return np.clip(40 + 130 * smooth + 30 * grain, 0, 255).astype(np.uint8)


def _scene(rng: np.random.Generator):
    """frame(i) -> RGB uint8 (H, W, 3), and the impact times in seconds."""
    floor = _texture(rng, W + 256, H)
    side = 72
    balls = [[float(rng.uniform(0, W - side)), float(rng.uniform(0, H - side)),
              float(rng.uniform(300, 600)) * rng.choice([-1, 1]),
              float(rng.uniform(200, 450)) * rng.choice([-1, 1])] for _ in range(2)]
    n = int(SECONDS * FPS)
    positions, impacts = [], []
    for i in range(n):
        positions.append([(int(b[0]), int(b[1])) for b in balls])
        for b in balls:
            for axis, limit in ((0, W - side), (1, H - side)):
                b[axis] += b[axis + 2] / FPS
                if not 0 <= b[axis] <= limit:
                    b[axis + 2] = -b[axis + 2]
                    b[axis] = min(max(b[axis], 0.0), limit)
                    impacts.append((i + 1) / FPS)

    def frame(i: int) -> np.ndarray:
        pan = int(64 + 60 * np.sin(2 * np.pi * i / (FPS * 8)))  # the "camera" drifts
        grey = floor[:, pan:pan + W].copy()
        for x, y in positions[i]:
            grey[y:y + side, x:x + side] = 235
        rgb = np.empty((H, W, 3), np.uint8)
        rgb[..., 0] = grey
        rgb[..., 1] = grey // 2 + 60
        rgb[..., 2] = 255 - grey
        return rgb

    return frame, n, sorted(impacts)


def _impact_audio(rng: np.random.Generator, impacts: list[float]) -> np.ndarray:
    samples = np.zeros(int(SECONDS * AUDIO_SR), np.float32)
    length = int(0.12 * AUDIO_SR)
    decay = np.exp(-np.arange(length) / (0.03 * AUDIO_SR)).astype(np.float32)
    for t in impacts:
        a = int(t * AUDIO_SR)
        burst = rng.standard_normal(length).astype(np.float32) * decay * 0.5
        m = len(samples[a:a + length])
        samples[a:a + m] += burst[:m]
    samples += rng.standard_normal(len(samples)).astype(np.float32) * 0.003  # room tone
    return np.clip(samples, -1.0, 1.0)


def write_clip(path: str, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    frame, n, impacts = _scene(rng)
    samples = _impact_audio(rng, impacts)
    with av.open(path, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "23"}
        sound = out.add_stream("aac", rate=AUDIO_SR)
        sound.layout = "mono"
        for i in range(n):
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame(i), format="rgb24")))
        out.mux(video.encode(None))
        mux_mono_audio(out, sound, samples, AUDIO_SR)
    return path


# --- measurements --------------------------------------------------------------------------

def _env(**extra: str) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _load() -> float:
    return os.getloadavg()[0]


def startup_seconds(clip: str, launches: int = LAUNCHES) -> list[float]:
    """Launch-to-first-frame of `foley-studio gui CLIP`, once per launch."""
    times = []
    with tempfile.TemporaryDirectory(prefix="foley-bench-recovery-") as recovery:
        env = _env(FOLEY_STUDIO_STARTUP_STAMP="quit", FOLEY_STUDIO_RECOVERY_DIR=recovery)
        for _ in range(launches):
            started = time.time()
            done = subprocess.run([sys.executable, "-m", "foley_studio.cli", "gui", clip], env=env,
                                  cwd=ROOT, capture_output=True, text=True, timeout=120)
            stamps = [line.split()[1] for line in done.stderr.splitlines() if line.startswith(STAMP)]
            if done.returncode != 0 or not stamps:
                raise RuntimeError(f"the editor did not show the clip:\n{done.stderr[-2000:]}")
            times.append(float(stamps[0]) - started)
    return times


def session(clip: str, seed: int) -> dict:
    done = subprocess.run([sys.executable, str(HERE / "editor_session.py"), clip, "--edits", str(EDITS),
                           "--seed", str(seed)], env=_env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"error": done.stderr[-2000:]}
    if done.returncode != 0 or "error" in result:
        raise RuntimeError(f"editor session failed: {result.get('error')}")
    return result


def _session_numbers(result: dict) -> dict:
    edits = np.asarray(result["edit_ms"])
    gaps = {k: np.asarray(v) for k, v in result["gaps_ms"].items()}
    return {
        "edit_p95": float(np.percentile(edits, 95)),
        "edit_p50": float(np.median(edits)),
        "stall_max": float(gaps["edits"].max()),
        "stall_p99": float(np.percentile(gaps["edits"], 99)),
        "first_stall_max": float(gaps["first_render"].max()),
        "first_render_s": float(result["first_render_s"]),
        "rss_mb": float(result["rss_peak_mb"]),
    }


def run() -> list[dict]:
    clip = clip_path()
    runs = int(os.environ.get("FOLEY_BENCH_EDITOR_RUNS", "3"))
    loads = [_load()]
    numbers = []
    for seed in range(runs):
        numbers.append(_session_numbers(session(clip, seed)))
        loads.append(_load())
    launches = startup_seconds(clip)
    loads.append(_load())

    def med(key: str) -> float:
        return statistics.median(n[key] for n in numbers)

    of = f"median of {runs} sessions"
    return [
        {"name": f"editor: stroke end -> new audio in play buffer, p95 of {EDITS} ({of})",
         "value": med("edit_p95"), "unit": "ms", "target": 100},
        {"name": f"editor: stroke end -> new audio in play buffer, median ({of})",
         "value": med("edit_p50"), "unit": "ms", "target": None},
        {"name": f"editor: longest GUI stall while strokes re-render, 5 ms probe ({of})",
         "value": med("stall_max"), "unit": "ms", "target": 50},
        {"name": f"editor: GUI stall p99 while strokes re-render ({of})",
         "value": med("stall_p99"), "unit": "ms", "target": None},
        {"name": f"editor: longest GUI stall during the first render, encoder load included ({of})",
         "value": med("first_stall_max"), "unit": "ms", "target": 50},
        {"name": f"editor: first palette render of 60 s after auto-generate ({of})",
         "value": med("first_render_s"), "unit": "s", "target": None},
        {"name": f"editor: window shown with the clip, from launch (median of {LAUNCHES})",
         "value": statistics.median(launches), "unit": "s", "target": 2.5},
        {"name": f"editor: peak resident memory after auto-generate + render + edits ({of})",
         "value": med("rss_mb"), "unit": "MB", "target": 700},
        {"name": "machine load average (1 min) during the editor benchmark, median",
         "value": statistics.median(loads), "unit": "", "target": None},
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["--clip"]:
        print(clip_path())
        raise SystemExit(0)
    sys.path.insert(0, str(ROOT))
    from foley_studio.bench import format_table

    print(format_table(run()))
