"""``agentarts demo``: run an installed industry pack's offline demo."""

from __future__ import annotations

from pathlib import Path

import typer

from agentarts.cli._base import console, fail, print_json


def demo(
    industry: str | None = typer.Argument(None, help="Industry pack, e.g. steel."),
    list_: bool = typer.Option(False, "--list", help="List installed packs and their demos."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the simulation."),
    hours: float = typer.Option(72.0, "--hours", help="Simulated hours."),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Approve every gate."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG plot here."),
) -> None:
    """Run an industry pack's closed-loop demo offline."""
    from agentarts.plugins import discover_packs, get_pack

    if list_ or industry is None:
        found = discover_packs()
        rows = [
            {"name": p.name, "title": p.title, "demo": bool(p.demo), "description": p.description}
            for p in found.packs.values()
        ]
        if as_json:
            print_json({"packs": rows, "broken": found.broken})
            return
        if industry is None and not list_ and not rows:
            fail("no industry pack with a demo is installed (see `agentarts demo --list`)")
        _print_packs(rows, found.broken)
        return
    pack = get_pack(industry)
    run = pack.demo_function()
    if run is None:
        fail(f"industry pack {industry!r} has no demo")
        return
    run(seed=seed, hours=hours, auto_approve=auto_approve, as_json=as_json, plot=plot)


def _print_packs(rows: list[dict[str, object]], broken: dict[str, str]) -> None:
    from rich.table import Table

    table = Table(title="Installed industry packs")
    for column in ("name", "title", "demo", "description"):
        table.add_column(column)
    for row in rows:
        cells = ("yes" if v is True else "no" if v is False else str(v) for v in row.values())
        table.add_row(*cells)
    out = console()
    if rows:
        out.print(table)
    else:
        out.print("No industry packs installed (the blank template is always available).")
    for name, why in broken.items():
        out.print(f"[red]broken pack[/] {name}: {why}")


def register(app: typer.Typer) -> None:
    app.command()(demo)
