"""A batch job embedding an AgentArts agent: check every tank of a CSV, write a report.

Actuations are never auto-approved: runs that need a decision are left waiting, listed in
the report, and an operator approves them later (``agentarts runs approve THREAD``).

    python -m examples.batch_job tanks.csv report.json
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from examples.tank_agent.agent import make_agent


def main(tanks_csv: Path, report: Path, database_url: str | None = None) -> dict[str, Any]:
    agent = make_agent(database_url)
    rows = list(csv.DictReader(tanks_csv.open()))
    results = []
    for row in rows:
        result = agent.run({"tank_id": row["tank_id"]}, thread_id=f"batch-{row['tank_id']}")
        results.append(
            {
                "tank_id": row["tank_id"],
                "thread_id": result.thread_id,
                "status": result.status,
                "proposal": result.pending and result.pending.get("proposal"),
            }
        )
    summary = {
        "checked": len(results),
        "waiting_approval": [r for r in results if r["status"] == "waiting_approval"],
        "no_action": [r["tank_id"] for r in results if r["status"] == "completed"],
        "failed": [r for r in results if r["status"] == "failed"],
    }
    tmp = report.with_name(report.name + ".part")
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(report)
    agent.close()
    return summary


if __name__ == "__main__":  # pragma: no cover
    main(Path(sys.argv[1]), Path(sys.argv[2]))
