"""``agentarts doctor``."""

from __future__ import annotations

import typer

from agentarts.cli._base import console, print_json


def doctor(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Check the installation: versions, providers, storage, packs."""
    from agentarts.doctor import run_checks

    report = run_checks()
    if as_json:
        print_json(report.as_dict())
    else:
        from rich.table import Table

        table = Table(title="agentarts doctor", show_lines=False)
        for column in ("check", "status", "detail"):
            table.add_column(column)
        colours = {"ok": "green", "warn": "yellow", "fail": "red", "info": "cyan"}
        for check in report.checks:
            detail = check.detail + (f"\n[dim]fix: {check.fix}[/]" if check.fix else "")
            table.add_row(check.name, f"[{colours[check.status]}]{check.status}[/]", detail)
        console().print(table)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(doctor)
