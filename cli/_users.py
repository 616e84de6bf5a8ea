"""``agentarts users add|token|list|remove|password``: people and roles for ``agentarts serve``.

Users live in the project's database (the run store's URL), in the server's own tables.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from agentarts.cli._base import console, fail, print_json

users_app = typer.Typer(
    help="People and roles for `agentarts serve`: viewer, operator, approver, admin.",
    no_args_is_help=True,
)


def _store() -> Any:
    from agentarts.config import load_settings
    from agentarts.server.users import UserStore

    return UserStore(load_settings().database_url)


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            fail("--password-stdin: no password on standard input")
        return line
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return None


@users_app.command("add", short_help="Add a person (password) or a machine (token only).")
def add(
    name: str = typer.Argument(..., metavar="NAME", help="User name (letters, digits, . _ @ -)."),
    role: str = typer.Option(
        ..., "--role", metavar="ROLE", help="viewer, operator, approver or admin."
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
    agent: str = typer.Option(
        "*",
        "--agent",
        metavar="NAMES",
        help="Agents (names or refs, comma-separated) the role applies to.",
    ),
) -> None:
    """Add a person (with a password, for the console) or a machine (token only)."""
    password = _read_password(password_stdin)
    store = _store()
    try:
        store.add(name, role, password=password, scope=agent)
    finally:
        store.close()
    how = "with a password" if password else "without a password (use `users token`)"
    console(stderr=True).print(f"added {name} ({role}) {how}")


@users_app.command("token", short_help="Print a new API token for NAME (shown once).")
def token(name: str = typer.Argument(..., metavar="NAME", help="User the token acts as.")) -> None:
    """Print a new API token for NAME (shown once; only its hash is stored)."""
    store = _store()
    try:
        value = store.issue_token(name)
    finally:
        store.close()
    sys.stdout.write(value + "\n")


@users_app.command("password")
def password(
    name: str = typer.Argument(..., metavar="NAME", help="The user whose password to set."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Set NAME's password."""
    value = _read_password(password_stdin)
    if value is None:
        fail("no password given: use --password-stdin or run in a terminal")
        return
    store = _store()
    try:
        store.set_password(name, value)
    finally:
        store.close()
    console(stderr=True).print(f"password of {name} changed")


@users_app.command("list")
def list_users(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Users with their role, scope and number of API tokens."""
    store = _store()
    try:
        rows = store.list()
    finally:
        store.close()
    if as_json:
        print_json({"users": rows})
        return
    from rich.table import Table

    table = Table(title="Users")
    for col in ("name", "role", "agents", "password", "tokens", "created"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            r["role"],
            r["scope"],
            "yes" if r["password"] else "no",
            str(r["tokens"]),
            r["created_at"][:19],
        )
    console().print(table if rows else "No users yet: agentarts users add NAME --role admin")


@users_app.command("remove")
def remove(name: str = typer.Argument(..., metavar="NAME", help="The user to remove.")) -> None:
    """Remove NAME with their tokens and sessions (signed out at once)."""
    store = _store()
    try:
        store.remove(name)
    finally:
        store.close()
    console(stderr=True).print(f"removed {name}")


def register(app: typer.Typer) -> None:
    app.add_typer(
        users_app, name="users", short_help="People, roles and API tokens for `agentarts serve`."
    )
