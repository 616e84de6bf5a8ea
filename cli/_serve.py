"""``agentarts serve``: the project's agent over HTTP, with the operator console at ``/``.

Settings (flags override ``[serve]`` in agentarts.toml): ``four_eyes`` (an approver may not
approve a run they started), ``session_hours`` (absolute session lifetime, default 12),
``idle_minutes`` (default 30).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

import typer

from agentarts.cli._base import console, fail


def is_loopback(host: str) -> bool:
    """True if ``host`` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except (OSError, ValueError):
            return False


def serve_settings(
    section: dict[str, Any],
    four_eyes: bool | None,
    session_hours: float | None,
    idle_minutes: float | None,
) -> tuple[bool, float, float]:
    """``(four_eyes, session_hours, idle_minutes)``: the flags, else ``[serve]``, else the
    defaults (off, 12, 30). A ``[serve]`` value of the wrong type or out of the flags' range
    is a usage error naming the key (never a traceback, never a silent ``bool("no")``)."""

    def number(key: str, flag: float | None, default: float, least: float) -> float:
        if flag is not None:
            return float(flag)
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= least:
            fail(f"[serve] {key} in agentarts.toml must be a number >= {least}, not {value!r}")
        return float(value)

    if four_eyes is None:
        four_eyes = section.get("four_eyes", False)
        if not isinstance(four_eyes, bool):
            fail(f"[serve] four_eyes in agentarts.toml must be true or false, not {four_eyes!r}")
    return (
        four_eyes,
        number("session_hours", session_hours, 12.0, 0.01),
        number("idle_minutes", idle_minutes, 30.0, 0.1),
    )


def build(
    project_dir: Path | None,
    host: str,
    agents: list[str] | None,
    four_eyes: bool | None,
    session_hours: float | None,
    idle_minutes: float | None,
    workers: int = 1,
) -> Any:
    """The app ``serve`` runs (also used by the multi-worker factory)."""
    from agentarts.server import ServerConfig, UserStore, create_app, load_project_agents

    settings, loaded = load_project_agents(project_dir, agents)
    section = settings.doc.get("serve", {}) if isinstance(settings.doc, dict) else {}
    if not isinstance(section, dict):
        fail("[serve] in agentarts.toml must be a table")
    users = UserStore(settings.database_url)
    try:
        has_users = users.count() > 0
    finally:
        users.close()
    loopback = is_loopback(host)
    if not loopback and not has_users:
        fail(
            f"refusing to serve on {host} with no users: add one first "
            "(agentarts users add NAME --role admin --password-stdin), or bind 127.0.0.1"
        )
    four_eyes, session_hours, idle_minutes = serve_settings(
        section, four_eyes, session_hours, idle_minutes
    )
    config = ServerConfig(
        four_eyes=four_eyes,
        session_lifetime_s=3600 * session_hours,
        session_idle_s=60 * idle_minutes,
        open_local=loopback and not has_users,
        workers=8,
        freeze_gc=True,  # a server process of its own: its start-up heap lives as long as it
    )
    industry = (settings.project or {}).get("industry")
    return create_app(loaded, settings.database_url, config, industry=industry), config


def app_from_env() -> Any:
    """uvicorn factory for ``--workers N``: the options travel in AGENTARTS_SERVE_*."""
    env = os.environ
    flag = env.get("AGENTARTS_SERVE_FOUR_EYES")
    app, _ = build(
        Path(env["AGENTARTS_SERVE_PROJECT"]) if env.get("AGENTARTS_SERVE_PROJECT") else None,
        env.get("AGENTARTS_SERVE_HOST", "127.0.0.1"),
        [r for r in env.get("AGENTARTS_SERVE_AGENTS", "").split(",") if r] or None,
        None if flag is None else flag == "1",
        float(env["AGENTARTS_SERVE_SESSION_HOURS"] or 0) or None,
        float(env["AGENTARTS_SERVE_IDLE_MINUTES"] or 0) or None,
        int(env.get("AGENTARTS_SERVE_WORKERS", "1")),
    )
    return app


def serve(
    project_dir: Path | None = typer.Argument(
        None, metavar="PROJECT_DIR", help="Project folder (default: here)."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", metavar="HOST", help="Address to bind (loopback default)."
    ),
    port: int = typer.Option(
        8080, "--port", metavar="PORT", min=1, max=65535, help="Port to listen on."
    ),
    workers: int = typer.Option(
        1, "--workers", metavar="N", min=1, max=64, help="Worker processes."
    ),
    agent: list[str] | None = typer.Option(
        None,
        "--agent",
        metavar="REF",
        help="Agent ref to serve (repeatable; default: agentarts.toml).",
    ),
    four_eyes: bool | None = typer.Option(
        None, "--four-eyes/--no-four-eyes", help="An approver cannot approve a run they started."
    ),
    session_hours: float | None = typer.Option(
        None,
        "--session-hours",
        metavar="HOURS",
        min=0.01,
        help="A console sign-in ends after this many hours ([serve] session_hours; 12).",
    ),
    idle_minutes: float | None = typer.Option(
        None,
        "--idle-minutes",
        metavar="MINUTES",
        min=0.1,
        help="It also ends after this many minutes unused ([serve] idle_minutes; 30).",
    ),
) -> None:
    """Serve the project's agent: POST /invocations, GET /ping, WS /ws, the runs API and the
    operator console at http://HOST:PORT/ (sign-in with `agentarts users`)."""
    import uvicorn

    if project_dir is not None and not project_dir.is_dir():
        fail(f"{project_dir} is not a folder")
    app, config = build(project_dir, host, agent, four_eyes, session_hours, idle_minutes, workers)
    out = console(stderr=True)
    if config.open_local:
        out.print(
            "[yellow]no users configured: anyone on this machine acts as admin. "
            "Add one with `agentarts users add NAME --role admin`.[/]"
        )
    out.print(f"console and API on http://{host}:{port}/  (four-eyes: {config.four_eyes})")
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=75)
        return
    os.environ.update(
        AGENTARTS_SERVE_PROJECT=str(project_dir or ""),
        AGENTARTS_SERVE_HOST=host,
        AGENTARTS_SERVE_AGENTS=",".join(agent or []),
        AGENTARTS_SERVE_SESSION_HOURS=str(session_hours or ""),
        AGENTARTS_SERVE_IDLE_MINUTES=str(idle_minutes or ""),
        AGENTARTS_SERVE_WORKERS=str(workers),
    )
    if four_eyes is not None:
        os.environ["AGENTARTS_SERVE_FOUR_EYES"] = "1" if four_eyes else "0"
    uvicorn.run(
        "agentarts.cli._serve:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        timeout_keep_alive=75,
        # a worker loads the project's agent before it answers the supervisor's health
        # check: give it time on a busy machine instead of restarting it in a loop
        **_healthcheck(),
    )


def _healthcheck() -> dict[str, Any]:
    import inspect

    import uvicorn

    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        return {"timeout_worker_healthcheck": 120}
    return {}


def register(app: typer.Typer) -> None:
    app.command(short_help="Serve the project's agents over HTTP, with the console.")(serve)
