"""Smoke test of the PyInstaller app: does the built program work on its own?

    python packaging/package_smoke.py dist/foley-studio/foley-studio [--no-gui]

Runs the app from an empty temporary folder (so nothing of the repository is at hand):
`--version`, `engines --json` (motion and palette ready; the neural engines, whose
packages are not bundled, unavailable with a reason), `generate` on the demo clip that is
bundled inside the app, `rms` on it cut into pieces for worker processes (the app run
again as `--motion-worker`), and (unless --no-gui) the editor offscreen on the same clip,
screenshot and quit. Checks the outputs and prints one line per step with its time;
exits 1 naming the first failure. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

PROMPT = "ball bouncing on a wooden floor"
DEMO_IN_BUNDLE = ("foley_studio", "resources", "demo", "demo.mp4")
DEMO_SECONDS = 8.0
NEURAL_ENGINES = ("learned", "controlnet")
TIMEOUT_S = 600


class SmokeFailure(Exception):
    pass


def run(app: Path, args: list[str], cwd: Path, env: dict[str, str]) -> tuple[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([str(app), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise SmokeFailure(f"`{app.name} {' '.join(args[:2])}` exited {proc.returncode}: {' | '.join(tail)}")
    if "embedding model unavailable" in proc.stderr:
        raise SmokeFailure("the bundled MiniLM model did not load: " + proc.stderr.strip().splitlines()[-1])
    return proc.stdout, seconds


def bundled_demo(app: Path) -> Path:
    """The demo clip inside the bundle (PyInstaller 6 puts data in _internal/)."""
    for base in (app.parent / "_internal", app.parent):
        candidate = base.joinpath(*DEMO_IN_BUNDLE)
        if candidate.is_file():
            return candidate
    raise SmokeFailure(f"{app.parent}: the demo clip is not bundled ({'/'.join(DEMO_IN_BUNDLE)})")


def wav_seconds_and_peak(path: Path) -> tuple[float, int]:
    with wave.open(str(path)) as w:
        frames = w.readframes(w.getnframes())
        width, rate, n = w.getsampwidth(), w.getframerate(), w.getnframes()
    peak = max((abs(int.from_bytes(frames[i:i + width], "little", signed=True))
                for i in range(0, len(frames), width)), default=0)
    return n / rate, peak


def check_engines(stdout: str) -> str:
    rows = {row["id"]: row for row in json.loads(stdout)}
    for ready in ("motion", "palette"):
        if not rows.get(ready, {}).get("available"):
            raise SmokeFailure(f"engine {ready} is not available in the bundle: {rows.get(ready)}")
    for neural in NEURAL_ENGINES:
        if rows.get(neural, {}).get("available"):
            raise SmokeFailure(f"engine {neural} says it is available, but torch is not bundled")
    return "; ".join(f"{n}: {rows[n]['unavailable_reason']}" for n in NEURAL_ENGINES if n in rows)


def check_generate(stdout: str, out: Path) -> str:
    summary = json.loads(stdout)
    project = json.loads(Path(summary["project"]).read_text(encoding="utf-8"))
    if project.get("app") != "foley-studio" or not project.get("tracks"):
        raise SmokeFailure(f"{summary['project']}: not a Foley Studio project with tracks")
    for key in ("video", "mix"):
        path = Path(summary[key])
        if not path.is_file() or path.stat().st_size == 0 or out not in path.parents:
            raise SmokeFailure(f"{path}: {key} output missing or empty")
    seconds, peak = wav_seconds_and_peak(Path(summary["mix"]))
    if abs(seconds - DEMO_SECONDS) > 1e-3:
        raise SmokeFailure(f"{summary['mix']}: lasts {seconds:.4f} s, the clip {DEMO_SECONDS} s")
    if peak == 0:
        raise SmokeFailure(f"{summary['mix']}: silent")
    return f"mix {seconds:.3f} s, {len(summary['stems'])} stem(s), {Path(summary['video']).stat().st_size} B MP4"


def check_same_envelope(whole: Path, pieced: Path) -> str:
    a, b = whole.read_text().splitlines(), pieced.read_text().splitlines()
    if len(a) < 100 or len(a) != len(b):
        raise SmokeFailure(f"{pieced}: {len(b)} lines, the one-piece envelope {len(a)}")
    differ = sum(x != y for x, y in zip(a, b))
    if differ > len(a) // 20:  # a piece's warm-up rebuilds the state; a few frames may differ
        raise SmokeFailure(f"{pieced}: {differ} of {len(a)} lines differ from the one-piece envelope")
    return f"{len(a) - 1} frames, {differ} differ from one piece"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("app", type=Path, help="the built executable, e.g. dist/foley-studio/foley-studio")
    p.add_argument("--no-gui", action="store_true", help="skip the offscreen editor run")
    args = p.parse_args(argv)
    app = args.app.resolve()
    if not app.is_file():
        print(f"package_smoke: error: {app}: no such program (run `make package` first)", file=sys.stderr)
        return 1
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    with tempfile.TemporaryDirectory(prefix="foley-smoke-") as tmp:
        cwd = Path(tmp)
        try:
            version, s = run(app, ["--version"], cwd, env)
            print(f"ok  --version ({s:.1f} s): {version.strip()}")
            engines, s = run(app, ["engines", "--json"], cwd, env)
            print(f"ok  engines ({s:.1f} s): {check_engines(engines)}")
            demo, out = bundled_demo(app), cwd / "out"
            stdout, s = run(app, ["generate", str(demo), "--prompt", PROMPT, "--out", str(out),
                                  "--json", "--quiet"], cwd, env)
            print(f"ok  generate ({s:.1f} s): {check_generate(stdout, out)}")
            # long clips are measured by the app started again as worker processes: cut the
            # demo into 2 s pieces so that path runs too, and it must measure the same
            whole, pieced = cwd / "whole.csv", cwd / "pieced.csv"
            run(app, ["rms", str(demo), "-o", str(whole), "--quiet"], cwd, env)
            _, s = run(app, ["rms", str(demo), "-o", str(pieced), "--quiet"], cwd,
                       dict(env, FOLEY_STUDIO_MOTION_SEGMENT_S="2", FOLEY_STUDIO_WORKERS="2"))
            print(f"ok  rms in worker processes ({s:.1f} s): {check_same_envelope(whole, pieced)}")
            if not args.no_gui:
                shot = cwd / "editor.png"
                _, s = run(app, ["gui", str(demo), "--auto", "--prompt", PROMPT, "--screenshot", str(shot),
                                 "--quit-after-render"], cwd, env)
                if not shot.is_file() or shot.stat().st_size < 10_000:
                    raise SmokeFailure(f"{shot}: the editor's screenshot is missing or blank")
                print(f"ok  gui offscreen ({s:.1f} s): screenshot {shot.stat().st_size} B")
        except (SmokeFailure, subprocess.TimeoutExpired, ValueError, KeyError, OSError) as exc:
            print(f"package_smoke: FAILED: {exc}", file=sys.stderr)
            return 1
    print("package smoke test passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
