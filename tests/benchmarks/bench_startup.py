"""Start-up cost: `foley-studio --help` must not load torch (target <= 0.5 s)."""

import statistics
import subprocess
import sys
import time


def _time_help(repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "foley_studio.cli", "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run() -> list[dict]:
    return [{"name": "foley-studio --help (median of 5)", "value": _time_help(), "unit": "s", "target": 0.5}]


if __name__ == "__main__":
    from foley_studio.bench import format_table

    print(format_table(run()))
