"""The actuation protocol's long fault campaign: random SIGKILLs and racing processes.

``python -m bench faults`` runs tests/agents/faults.py with 500 kill trials and 100 race trials
on SQLite and, when ``AGENTARTS_TEST_POSTGRES_URL`` names a server, on a fresh Postgres
database. Counted: duplicate or unapproved actuations, stuck threads, disagreement between the
status `runs list` shows and the checkpoint, and `runs verify` problems. Target: all zero.
Smaller: ``FAULTS_KILLS=50 FAULTS_RACES=10 python -m bench faults``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench._common import table
from tests.agents.faults import fresh_postgres, run_campaign


def run() -> dict[str, Any]:
    kills = int(os.environ.get("FAULTS_KILLS", "500"))
    races = int(os.environ.get("FAULTS_RACES", "100"))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        backends = {"sqlite": f"sqlite:///{folder / 'runs.db'}"}
        if os.environ.get("AGENTARTS_TEST_POSTGRES_URL"):
            base = os.environ["AGENTARTS_TEST_POSTGRES_URL"]
            backends["postgres"] = fresh_postgres(base, "agentarts_bench")
        for seed, (name, url) in enumerate(backends.items(), start=101):
            results[name] = run_campaign(url, folder / f"plant-{seed}.jsonl", kills, races, seed)
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
    for name, r in results.items():
        for problem in r["problems"][:10]:
            print(f"  {name}: {problem}")
    return results


if __name__ == "__main__":
    run()
