"""``agentarts run``, ``agentarts runs ...`` and ``agentarts tools list``."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import typer

from agentarts.cli._base import console, print_json

runs_app = typer.Typer(
    help="Inspect and steer runs: list, show, approve, reject, resume, export.",
    no_args_is_help=True,
)
tools_app = typer.Typer(help="Tools of an agent or module.", no_args_is_help=True)


def _project_imports() -> Any:
    """Settings, with the project's src/ (and root) importable so its agent can be loaded."""
    from agentarts.config import load_settings

    settings = load_settings()
    if settings.project_root is not None:
        for folder in (settings.project_root / "src", settings.project_root):
            if folder.is_dir() and str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
    return settings


def _agent(ref: str | None) -> Any:
    from agentarts.errors import UsageError
    from agentarts.graph.agent import Agent

    settings = _project_imports()
    ref = ref or settings.agent_ref
    if not ref:
        raise UsageError(
            "no agent given: pass REF (package.module:attr) or run inside a project "
            "whose agentarts.toml names [agent] ref"
        )
    return Agent.from_ref(ref)


def _agent_for_thread(thread_id: str) -> Any:
    """The agent that ran ``thread_id`` (its ref is in the run store)."""
    from agentarts.config import load_settings
    from agentarts.errors import NotFoundError
    from agentarts.store import RunStore

    settings = _project_imports()
    store = RunStore(settings.database_url)
    runs = store.thread(thread_id)["runs"]
    store.close()
    if not runs:
        raise NotFoundError(
            f"no run with thread id {thread_id!r} in {load_settings().database_url}"
        )
    return _agent(runs[0]["agent"])


def _parse_input(raw: str) -> dict[str, Any]:
    from agentarts.errors import InvalidInputError

    text = raw
    if raw.startswith("@"):
        try:
            text = Path(raw[1:]).read_text()
        except OSError as exc:
            raise InvalidInputError(f"--input {raw}: {exc.strerror}") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"--input is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInputError("--input must be a JSON object")
    return value


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None
    out = console(stderr=True)

    def on_event(event: Any) -> None:
        if event.kind == "step_end":
            mark = {"ok": "[green]✓[/]", "waiting": "[yellow]⏸[/]"}.get(
                event.data["status"], "[red]✗[/]"
            )
            out.print(f"  {mark} {event.node} [dim]{event.data['duration_ms']:.1f} ms[/]")
        elif event.kind == "tool_call":
            out.print(
                f"    [dim]tool {event.data['tool']} ({event.data['safety']}) "
                f"{event.data['duration_ms']:.1f} ms[/]"
            )

    return on_event


def _report(result: Any, as_json: bool) -> None:
    if as_json:
        print_json(result.as_dict())
    else:
        out = console()
        colour = {"completed": "green", "waiting_approval": "yellow"}.get(result.status, "red")
        out.print(f"thread [bold]{result.thread_id}[/]: [{colour}]{result.status}[/]")
        if result.error:
            out.print(f"[red]{result.error}[/]")
        if result.pending:
            p = result.pending
            out.print(
                f"[yellow]approval needed[/] for [bold]{p.get('action')}[/] "
                f"({p.get('safety')}): {json.dumps(p.get('proposal'))}"
            )
            out.print(
                f"  agentarts runs approve {result.thread_id} --by NAME\n"
                f"  agentarts runs reject {result.thread_id} --reason TEXT"
            )
    if result.status == "failed":
        raise typer.Exit(1)


def run(
    ref: str | None = typer.Argument(None, help="package.module:attr (default: agentarts.toml)"),
    input: str = typer.Option("{}", "--input", help="JSON object, or @FILE."),
    thread: str | None = typer.Option(None, "--thread", help="Thread id (default: new)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run an agent; stops at approval gates (then use `agentarts runs approve`)."""
    payload = _parse_input(input)
    agent = _agent(ref)
    subscriber = _progress(not as_json)
    if subscriber:
        agent.events.subscribers.append(subscriber)
    result = agent.run(payload, thread_id=thread)
    _report(result, as_json)


@runs_app.command("list")
def list_runs(
    as_json: bool = typer.Option(False, "--json"), limit: int = typer.Option(50, "--limit", min=1)
) -> None:
    """Threads, newest first, with the status of their latest run."""
    from agentarts.store import RunStore

    settings = _project_imports()
    store = RunStore(settings.database_url)
    rows = store.list_threads(limit)
    store.close()
    if as_json:
        print_json({"runs": rows})
        return
    from rich.table import Table

    table = Table(title=f"Runs ({settings.database_url})")
    for col in ("thread", "agent", "status", "started", "error"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["thread_id"], r["agent"], r["status"], r["started_at"][:19], (r["error"] or "")[:60]
        )
    console().print(table if rows else "No runs yet.")


def _show(thread_id: str) -> dict[str, Any]:
    from agentarts.errors import NotFoundError
    from agentarts.graph.agent import _pid_alive
    from agentarts.store import RunStore

    settings = _project_imports()
    store = RunStore(settings.database_url)
    record = store.thread(thread_id)
    store.close()
    if not record["runs"]:
        raise NotFoundError(f"no run with thread id {thread_id!r}")
    last = record["runs"][-1]
    status, pending = last["status"], None
    if status != "failed":
        # the live status comes from the checkpoint; if the agent's code is gone, the audit
        # record still shows with the status it last recorded
        with contextlib.suppress(Exception):
            agent = _agent(last["agent"])
            current = agent.status(thread_id)
            status, pending = current.status, current.pending
            agent.close()
    if last["status"] == "running" and _pid_alive(last["host"]):
        status = "running"
    return {
        "thread_id": thread_id,
        "status": status,
        "agent": last["agent"],
        "pending": pending,
        "output": last["output"],
        **{k: v for k, v in record.items() if k != "thread_id"},
    }


@runs_app.command()
def show(thread_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Everything a thread did: status, steps, tool calls, approvals, alerts, work orders."""
    record = _show(thread_id)
    if as_json:
        print_json(record)
        return
    from rich.table import Table

    out = console()
    out.print(f"thread [bold]{thread_id}[/] ({record['agent']}): {record['status']}")
    table = Table(title="Steps")
    for col in ("node", "status", "ms", "started"):
        table.add_column(col)
    for s in record["steps"]:
        table.add_row(s["node"], s["status"], f"{s['duration_ms']:.1f}", s["started_at"][11:23])
    out.print(table)
    for a in record["approvals"]:
        out.print(
            f"{a['decision']} by {a['by']} at {a['decided_at'][:19]}: {a['action']} "
            f"{json.dumps(a['proposal'])} {a['reason']}"
        )
    if record["pending"]:
        out.print(f"[yellow]waiting for approval of {record['pending'].get('action')}[/]")


@runs_app.command()
def approve(
    thread_id: str,
    by: str = typer.Option("operator", "--by"),
    reason: str = typer.Option("", "--reason"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Approve the pending action of a thread and continue the run."""
    agent = _agent_for_thread(thread_id)
    if not as_json:
        agent.events.subscribers.append(_progress(True))
    _report(agent.approve(thread_id, by=by, reason=reason), as_json)


@runs_app.command()
def reject(
    thread_id: str,
    reason: str = typer.Option(..., "--reason", help="Why (recorded)."),
    by: str = typer.Option("operator", "--by"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Reject the pending action of a thread (with a reason) and continue the run."""
    agent = _agent_for_thread(thread_id)
    if not as_json:
        agent.events.subscribers.append(_progress(True))
    _report(agent.reject(thread_id, reason=reason, by=by), as_json)


@runs_app.command()
def resume(thread_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Continue a thread from its last checkpoint (after a crash)."""
    agent = _agent_for_thread(thread_id)
    if not as_json:
        agent.events.subscribers.append(_progress(True))
    _report(agent.resume(thread_id), as_json)


@runs_app.command()
def export(
    thread_id: str,
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
) -> None:
    """The full audit record of a thread as one JSON document."""
    record = _show(thread_id)
    text = json.dumps(record, indent=2, default=str) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    tmp = output.with_name(output.name + ".part")
    tmp.write_text(text)
    tmp.replace(output)  # never a half-written export
    console(stderr=True).print(f"wrote {output}")


@tools_app.command("list")
def list_tools(
    ref: str | None = typer.Argument(None, help="module, module:attr (list, Agent, tool)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Tools with their safety level and JSON schemas."""
    from agentarts.tools.discovery import find_tools

    settings = _project_imports()
    found = find_tools(ref or (settings.agent_ref or "").partition(":")[0] or None)
    if as_json:
        print_json({"tools": [t.schema() for t in found]})
        return
    from rich.table import Table

    table = Table(title="Tools")
    for col in ("name", "safety", "inputs", "description"):
        table.add_column(col)
    for t in found:
        inputs = ", ".join(t.input_model.model_json_schema().get("properties", {}))
        table.add_row(t.name, t.safety.value, inputs, t.description)
    console().print(table if found else "No tools found.")


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.add_typer(runs_app, name="runs")
    app.add_typer(tools_app, name="tools")
