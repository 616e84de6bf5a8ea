"""A batch job embedding an AgentArts agent: check every tank of a CSV, write a report.

Actuations are never auto-approved: runs that need a decision are left waiting, listed in
the report, and an operator approves them later (``agentarts runs approve THREAD``). Each tank
has one thread (``batch-<tank_id>``), so a rerun does not start a second proposal for a tank
whose first one still waits: it reports that thread as waiting again.

    python -m examples.batch_job tanks.csv report.json [--database-url sqlite:///runs.db]

Runs are stored in ``examples/.agentarts/`` unless ``--database-url``, ``AGENTARTS_DATABASE_URL``
or ``AGENTARTS_DATA_DIR`` say otherwise. Bad input (a missing or malformed CSV, a report path
in a missing folder) prints one ``error:`` line and exits with code 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from agentarts.errors import AgentArtsError, InvalidInputError
from examples.tank_agent.agent import make_agent


def read_tanks(tanks_csv: Path) -> list[str]:
    """The ``tank_id`` column of ``tanks_csv``; InvalidInputError if the file does not fit."""
    try:
        with tanks_csv.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise InvalidInputError(f"{tanks_csv}: no such file") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{tanks_csv}: is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{tanks_csv}: not UTF-8 text") from None
    except (OSError, csv.Error) as exc:
        raise InvalidInputError(f"{tanks_csv}: cannot read: {exc}") from None
    ids = [(row.get("tank_id") or "").strip() for row in rows]
    if not rows or not all(ids):
        raise InvalidInputError(f"{tanks_csv}: needs a tank_id column with a value on every row")
    return ids


def main(tanks_csv: Path, report: Path, database_url: str | None = None) -> dict[str, Any]:
    """Check every tank of ``tanks_csv``, write the summary to ``report`` and return it."""
    tank_ids = read_tanks(tanks_csv)
    if not report.parent.is_dir():
        raise InvalidInputError(f"{report}: folder {report.parent} does not exist")
    results = []
    with make_agent(database_url) as agent:
        for tank_id in tank_ids:
            thread = f"batch-{tank_id}"
            earlier = _waiting(agent, thread)
            result = earlier or agent.run({"tank_id": tank_id}, thread_id=thread)
            results.append(
                {
                    "tank_id": tank_id,
                    "thread_id": result.thread_id,
                    "status": result.status,
                    "proposal": result.pending and result.pending.get("proposal"),
                    "from_earlier_run": earlier is not None,
                }
            )
    summary = {
        "checked": len(results),
        "waiting_approval": [r for r in results if r["status"] == "waiting_approval"],
        "no_action": [r["tank_id"] for r in results if r["status"] == "completed"],
        "failed": [r for r in results if r["status"] == "failed"],
    }
    tmp = report.with_name(report.name + ".part")
    try:
        tmp.write_text(json.dumps(summary, indent=2))
        tmp.replace(report)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InvalidInputError(f"{report}: cannot write the report: {exc.strerror}") from None
    return summary


def _waiting(agent: Any, thread: str) -> Any:
    """The thread's state if an earlier batch left it waiting for a decision, else None."""
    try:
        current = agent.status(thread)
    except AgentArtsError:  # no such thread yet
        return None
    return current if current.status == "waiting_approval" else None


def cli(argv: list[str] | None = None) -> int:
    """Command-line entry: one ``error:`` line and exit 2 on bad input, 1 on failures."""
    parser = argparse.ArgumentParser(prog="python -m examples.batch_job", description=__doc__)
    parser.add_argument("tanks_csv", type=Path, help="CSV file with a tank_id column")
    parser.add_argument("report", type=Path, help="where to write the JSON report")
    parser.add_argument("--database-url", help="run store, e.g. sqlite:///runs.db")
    args = parser.parse_args(argv)
    try:
        summary = main(args.tanks_csv, args.report, args.database_url)
    except AgentArtsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    waiting = len(summary["waiting_approval"])
    print(f"checked {summary['checked']} tanks, {waiting} waiting for approval: {args.report}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli())
