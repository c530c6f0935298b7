"""`foley-studio bench`: run tests/benchmarks/bench_*.py, print a table, write JSON.

Each benchmark module has run() -> list of rows {"name", "value", "unit", "target"}
and, optionally, "better": "lower" | "higher" (default lower). A module that sets
RUN_BY_DEFAULT = False (an hour-long clip, say) runs only when named: `bench --only long_clip`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

from foley_studio.core.errors import FoleyError

BENCH_DIR = Path(__file__).resolve().parent.parent / "tests" / "benchmarks"


def discover(only: list[str]) -> list[Path]:
    if not BENCH_DIR.is_dir():
        raise FoleyError("benchmarks live in the source checkout (tests/benchmarks); not found", BENCH_DIR)
    files = sorted(BENCH_DIR.glob("bench_*.py"))
    if only:
        files = [f for f in files if any(o in f.stem for o in only)]
    return files


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"foley_bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def verdict(row: dict) -> str:
    target = row.get("target")
    if target is None:
        return ""
    better = row.get("better", "lower")
    ok = row["value"] <= target if better == "lower" else row["value"] >= target
    return "ok" if ok else "MISSED"


def format_table(rows: list[dict]) -> str:
    header = ("benchmark", "value", "unit", "target", "")
    lines = [header]
    for r in rows:
        target = r.get("target")
        sign = "<=" if r.get("better", "lower") == "lower" else ">="
        lines.append((r["name"], f"{r['value']:.4g}", r.get("unit", ""),
                      f"{sign} {target:g}" if target is not None else "", verdict(r)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def run_benchmarks(only: list[str], json_file: str | None, quiet: bool = False) -> int:
    rows: list[dict] = []
    for path in discover(only):
        if not quiet:
            print(f"running {path.stem} ...", file=sys.stderr)
        started = time.perf_counter()
        module = _load(path)
        if not only and not getattr(module, "RUN_BY_DEFAULT", True):
            if not quiet:
                print(f"  {path.stem} skipped: runs only when named", file=sys.stderr)
            continue
        for row in module.run():
            row.setdefault("module", path.stem)
            rows.append(row)
        if not quiet:
            print(f"  {path.stem} took {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(format_table(rows))
    if json_file:
        os.makedirs(os.path.dirname(os.path.abspath(json_file)), exist_ok=True)
        meta = {"machine": platform.machine(), "python": platform.python_version(),
                "cpus": os.cpu_count(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with open(json_file, "w") as f:
            json.dump({"meta": meta, "results": rows}, f, indent=2)
        print(f"wrote {json_file}", file=sys.stderr)
    return 0
