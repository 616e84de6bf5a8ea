"""The ``agentarts`` Typer app and its entry point."""

from __future__ import annotations

import typer

from agentarts._version import __version__
from agentarts.cli._base import AgentArtsGroup

app = typer.Typer(
    name="agentarts",
    cls=AgentArtsGroup,
    help="AgentArts: build, run and size industrial AI agents, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentarts {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """AgentArts: build, run and size industrial AI agents, offline."""


def _register() -> None:
    # Each module adds its commands to `app`; none imports a heavy library at import time.
    from agentarts.cli import _agents, _demo, _doctor, _project, _runtime, _serve, _users

    for module in (_project, _agents, _doctor, _demo, _runtime, _serve, _users):
        module.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="agentarts")


if __name__ == "__main__":  # pragma: no cover
    main()
