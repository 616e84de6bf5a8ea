"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def console_script(name: str) -> str:
    """The installed console script next to this interpreter (not a pyenv shim)."""
    path = BIN / name
    if not path.exists():
        raise SystemExit(f"{name} is not installed next to {sys.executable}: pip install -e .")
    return str(path)


def time_command(
    cmd: Sequence[str],
    runs: int = 15,
    cwd: Path | None = None,
    before: Callable[[], Any] | None = None,
) -> float:
    """Median wall time of ``cmd`` in seconds over ``runs`` runs (after one warm-up)."""
    samples = []
    for i in range(runs + 1):
        if before:
            before()
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        if i:
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def time_call(fn: Callable[[], Any], runs: int = 50, warmup: int = 5) -> list[float]:
    """Per-call wall times of ``fn`` in seconds."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(title: str, rows: list[tuple[str, str, str]]) -> None:
    """Print a result table: (measure, value, ratio or target)."""
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n## {title}\n")
    for name, value, note in rows:
        print(f"{name:<{width}} {value:>14}   {note}")
