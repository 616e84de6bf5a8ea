"""Shared CLI plumbing: the error contract, consoles and JSON output.

Errors follow docs/architecture.md ("CLI contract"): one line on stderr, exit code 2 for bad
usage or input, 1 for failures; ``--json`` output is one JSON document on stdout and nothing
else there.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from agentarts.errors import AgentArtsError

_Abort = typer.Abort
try:  # newer typer vendors click
    from typer._click.exceptions import ClickException as _ClickException
    from typer._click.exceptions import NoArgsIsHelpError as _NoArgsIsHelp
except ImportError:  # pragma: no cover - older typer on real click
    import click.exceptions as _click_exceptions

    _ClickException = _click_exceptions.ClickException  # type: ignore[misc]

    class _NeverRaised(Exception):
        """click < 8.2 prints the help itself and has no NoArgsIsHelpError."""

    _NoArgsIsHelp = getattr(_click_exceptions, "NoArgsIsHelpError", _NeverRaised)  # type: ignore[misc]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def fail(message: str, code: int = 2) -> None:
    """Print one ``error:`` line on stderr and exit with ``code``."""
    sys.stderr.write(f"error: {_one_line(message)}\n")
    sys.stderr.flush()
    raise typer.Exit(code)


class AgentArtsGroup(TyperGroup):
    """A Typer group that renders every error as one line on stderr."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except AgentArtsError as exc:
            sys.stderr.write(f"error: {_one_line(str(exc))}\n")
            sys.exit(exc.exit_code)
        except _NoArgsIsHelp as exc:
            # `agentarts runs` with no command: the group's help as written (not one flat
            # line), then the contract's one error line
            sys.stderr.write(exc.format_message().rstrip() + "\n\nerror: missing command\n")
            sys.exit(exc.exit_code)
        except _ClickException as exc:
            sys.stderr.write(f"error: {_one_line(exc.format_message())}\n")
            sys.exit(exc.exit_code)
        except _Abort:
            sys.stderr.write("error: aborted\n")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def print_json(obj: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def console(stderr: bool = False) -> Any:
    """A rich Console (imported on first use to keep startup fast)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)
