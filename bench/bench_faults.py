"""The actuation protocol's long fault campaign: random SIGKILLs and racing processes.

``python -m bench faults`` runs tests/agents/faults.py with 500 kill trials and 100 race trials
on SQLite and, when ``AGENTARTS_TEST_POSTGRES_URL`` names a server, on a fresh Postgres
database. Counted: duplicate or unapproved actuations, stuck threads, disagreement between the
status `runs list` shows and the checkpoint, and `runs verify` problems. Target: all zero.
Smaller: ``FAULTS_KILLS=50 FAULTS_RACES=10 python -m bench faults``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench._common import table

REPO = Path(__file__).resolve().parents[1]


def _campaign(url: str, folder: Path, kills: int, races: int, seed: int) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.agents.faults",
            "--url",
            url,
            "--kills",
            str(kills),
            "--races",
            str(races),
            "--seed",
            str(seed),
            "--effects",
            str(folder / f"plant-{seed}.jsonl"),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(lines[-1])


def _fresh_postgres(base: str) -> str:
    import psycopg

    name = f"agentarts_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + "/" + name


def run() -> dict[str, Any]:
    kills = int(os.environ.get("FAULTS_KILLS", "500"))
    races = int(os.environ.get("FAULTS_RACES", "100"))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        backends = {"sqlite": f"sqlite:///{folder / 'runs.db'}"}
        if os.environ.get("AGENTARTS_TEST_POSTGRES_URL"):
            backends["postgres"] = _fresh_postgres(os.environ["AGENTARTS_TEST_POSTGRES_URL"])
        for seed, (name, url) in enumerate(backends.items(), start=101):
            results[name] = _campaign(url, folder, kills, races, seed)
    rows = []
    for name, r in results.items():
        rows.append(
            (
                name,
                f"{r['kills']} kill trials, {r['races']} race trials, {r['seconds']:.0f} s",
                f"processes killed {r['outcomes'].get('killed', 0)}, outcome asked of a person "
                f"{r['outcomes'].get('needs_confirmation', 0)}; actuations {r['actuations']}; "
                f"stuck {r['stuck']}; problems {len(r['problems'])}"
                f" -> {'met' if not r['problems'] and not r['stuck'] else 'MISSED'}",
            )
        )
    table("Actuation protocol under SIGKILL and races (target: zero problems, zero stuck)", rows)
    return results


if __name__ == "__main__":
    run()
