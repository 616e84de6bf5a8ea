"""``agentarts demo`` and ``agentarts train``: a pack's offline demo, and fitting its models.

Each pack's demo and train functions take keyword options; the CLI passes only the options a
function declares, so a pack's demo can take ``hours`` (steel), ``trains`` (rail) or ``days``
(weather) without the others knowing about them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from agentarts.cli._base import console, fail, print_json


def _accepted(function: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The options ``function`` takes; a given option it does not take is an error."""
    params = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {k: v for k, v in options.items() if v is not None}
    unknown = [k for k, v in options.items() if v is not None and k not in params]
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        fail(f"this pack does not take {flags}")
    return {k: v for k, v in options.items() if k in params and v is not None}


def demo(
    industry: str | None = typer.Argument(
        None, metavar="INDUSTRY", help="Industry pack, e.g. steel."
    ),
    list_: bool = typer.Option(False, "--list", help="List installed packs and their demos."),
    seed: int = typer.Option(
        7, "--seed", metavar="N", min=0, help="Random seed of the simulation."
    ),
    hours: float | None = typer.Option(
        None,
        "--hours",
        metavar="H",
        help="Simulated hours (steel: more than 8, at most 720; default 72).",
    ),
    days: float | None = typer.Option(
        None,
        "--days",
        metavar="D",
        help="Forecast days, a whole number from 1 to 10 (weather; default 5).",
    ),
    trains: int | None = typer.Option(
        None, "--trains", metavar="N", help="Trains in the shift (rail; default 5)."
    ),
    sensitivity: float | None = typer.Option(
        None,
        "--sensitivity",
        metavar="D",
        help=(
            "Lower the validated fault thresholds by D decades, 0 to 2: more findings for a "
            "person, never fewer (rail; default: the project's [rail] sensitivity, else 0)."
        ),
    ),
    auto_approve: bool = typer.Option(
        False,
        "--auto-approve",
        "--auto-confirm",
        help=(
            "Answer every gate without a person (steel, weather: approve; rail: confirm what "
            "the generator's truth says is a fault, reject the rest as false alarms)."
        ),
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON document."),
    plot: Path | None = typer.Option(
        None, "--plot", metavar="FILE", help="Write a PNG plot to this file."
    ),
) -> None:
    """Run an industry pack's demo offline (steel: closed loop; rail: a shift of trains;
    weather: forecasts and site alerts)."""
    from agentarts.plugins import KNOWN_INDUSTRIES, discover_packs, get_pack

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
    found = discover_packs()
    demos = ", ".join(p.name for p in found.packs.values() if p.demo) or "none installed"
    pack = found.packs.get(industry)
    if pack is None:
        if industry not in {*found.broken, *KNOWN_INDUSTRIES, "blank"}:
            fail(f"unknown industry {industry!r} (demos: {demos})")
        pack = get_pack(industry)  # blank, or says which known pack is missing or broken
    run = pack.demo_function()
    if run is None:
        fail(f"industry pack {industry!r} has no demo (demos: {demos})")
        return
    if plot is not None:
        from agentarts._files import check_output_file

        check_output_file(plot, "--plot")
    options = {
        "seed": seed,
        "hours": hours,
        "days": days,
        "trains": trains,
        "sensitivity": sensitivity,
    }
    options = _accepted(run, options)
    run(auto_approve=auto_approve, as_json=as_json, plot=plot, **options)


def train(
    industry: str = typer.Argument(
        ..., metavar="INDUSTRY", help="Industry pack whose models to fit, e.g. steel."
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        metavar="PATH",
        help="Your data (a historian CSV, a folder of images, a NetCDF file).",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        metavar="DIR",
        help="Folder to write the new models to (default: inside the project).",
    ),
    seed: int | None = typer.Option(
        None, "--seed", metavar="N", min=0, help="Random seed of the fit."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON document."),
) -> None:
    """Fit a pack's models on your own data; never writes over the shipped models."""
    from agentarts.plugins import get_pack

    pack = get_pack(industry)
    fit = pack.train_function()
    if fit is None:
        fail(f"industry pack {industry!r} has no train command")
        return
    if data is not None:
        _check_data(data)
    options = _accepted(fit, {"data": data, "out": out, "seed": seed})
    try:
        fit(as_json=as_json, **options)
    except OSError as exc:  # a file the pack could not read or write
        where = exc.filename or data
        fail(f"{where}: {exc.strerror or exc}")


def _check_data(data: Path) -> None:
    """``--data`` is a regular file or a folder (never a device, a FIFO or /proc)."""
    import stat

    try:
        mode = data.stat().st_mode
    except OSError as exc:
        fail(f"--data {data}: {exc.strerror}")
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        fail(f"--data {data} is not a regular file or a folder")
    if str(data.resolve()).startswith(("/proc", "/sys", "/dev")):
        fail(f"--data {data} is a system folder, not your data")


def _print_packs(rows: list[dict[str, object]], broken: dict[str, str]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Installed industry packs")
    for column in ("name", "title", "demo", "description"):
        table.add_column(column)
    for row in rows:
        cells = (
            "yes" if v is True else "no" if v is False else escape(str(v)) for v in row.values()
        )
        table.add_row(*cells)
    out = console()
    if rows:
        out.print(table)
    else:
        out.print("No industry packs installed (the blank template is always available).")
    for name, why in broken.items():
        out.print(f"[red]broken pack[/] {escape(name)}: {escape(why)}")


def register(app: typer.Typer) -> None:
    app.command(short_help="Run an industry pack's demo offline (steel, rail, weather).")(demo)
    app.command(short_help="Fit a pack's models on your data; shipped ones are kept.")(train)
