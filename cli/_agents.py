"""``agentarts run``, ``agentarts runs ...`` and ``agentarts tools list``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from agentarts.cli._base import console, print_json

runs_app = typer.Typer(
    help="Inspect and steer runs: list, show, approve, reject, resume, resolve, verify, export.",
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
    if settings.project_root is None and os.getcwd() not in sys.path:
        # as `python -m`, uvicorn and `langgraph dev` do: modules in the working folder load
        sys.path.insert(0, os.getcwd())
    ref = ref or settings.agent_ref
    if not ref:
        raise UsageError(
            "no agent given: pass REF (package.module:attr) or run inside a project "
            "whose agentarts.toml names [agent] ref"
        )
    return Agent.from_ref(ref)


def _check_thread_id(thread_id: str) -> str:
    """A thread id a database can store: text of at most 200 characters."""
    from agentarts.errors import InvalidInputError

    try:
        thread_id.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"thread id {thread_id!r} is not valid text") from exc
    if not thread_id or len(thread_id) > 200:
        raise InvalidInputError("a thread id has 1 to 200 characters")
    return thread_id


def _agent_for_thread(thread_id: str) -> Any:
    """The agent that ran ``thread_id`` (its ref is in the run store)."""
    from agentarts.config import load_settings
    from agentarts.errors import NotFoundError
    from agentarts.store import RunStore

    _check_thread_id(thread_id)
    settings = _project_imports()
    store = RunStore(settings.database_url)
    runs = store.thread(thread_id)["runs"]
    store.close()
    if not runs:
        raise NotFoundError(
            f"no run with thread id {thread_id!r} in {load_settings().database_url}"
        )
    return _agent(runs[0]["agent"])


MAX_INPUT_BYTES = 16 * 1024 * 1024


def _read_input_file(name: str) -> str:
    """The text of ``--input @FILE``: a regular file, at most 16 MiB, UTF-8."""
    import os
    import stat

    from agentarts.errors import InvalidInputError

    try:
        info = os.stat(name)
    except OSError as exc:
        raise InvalidInputError(f"--input @{name}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        # a FIFO would block forever, /dev/zero would never end, a folder cannot be read
        raise InvalidInputError(f"--input @{name}: not a regular file")
    if info.st_size > MAX_INPUT_BYTES:
        raise InvalidInputError(f"--input @{name}: larger than {MAX_INPUT_BYTES >> 20} MiB")
    try:
        with open(name, "rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InvalidInputError(f"--input @{name}: {exc.strerror}") from exc
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidInputError(f"--input @{name}: larger than {MAX_INPUT_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"--input @{name}: not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x})"
        ) from exc


def _parse_input(raw: str) -> dict[str, Any]:
    from agentarts.errors import InvalidInputError

    text = _read_input_file(raw[1:]) if raw.startswith("@") else raw
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"--input is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInputError("--input is nested too deeply") from exc
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


def _print_pending(out: Any, thread: str, p: dict[str, Any]) -> None:
    """What the thread waits for and the commands that answer it (``thread`` escaped)."""
    from rich.markup import escape

    if p.get("type") == "actuation_uncertain":
        out.print(f"[red]outcome unknown[/]: {escape(str(p.get('question')))}")
        out.print(
            f"  agentarts runs resolve {thread} --happened      (it took effect)\n"
            f"  agentarts runs resolve {thread} --not-happened  (carry it out now)"
        )
        return
    out.print(
        f"[yellow]approval needed[/] for [bold]{escape(str(p.get('action')))}[/] "
        f"({escape(str(p.get('safety')))}): {escape(json.dumps(p.get('proposal')))}"
    )
    if p.get("summary"):
        out.print(f"  [dim]{escape(str(p['summary']))}[/]")
    out.print(
        f"  agentarts runs approve {thread} --reason TEXT\n"
        f"  agentarts runs reject {thread} --reason TEXT"
    )


def _report(result: Any, as_json: bool) -> None:
    from rich.markup import escape

    from agentarts.security import mask_url

    if as_json:
        print_json(result.as_dict())
    else:
        out = console()
        colour = {"completed": "green", "waiting_approval": "yellow"}.get(result.status, "red")
        thread = escape(result.thread_id)
        out.print(f"thread [bold]{thread}[/]: [{colour}]{escape(result.status)}[/]")
        if result.error:
            out.print(f"[red]{escape(mask_url(result.error))}[/]")
        if result.pending:
            _print_pending(out, thread, result.pending)
    if result.status == "failed":
        raise typer.Exit(1)
    if result.status == "busy":
        raise typer.Exit(2)


def run(
    ref: str | None = typer.Argument(
        None, metavar="REF", help="package.module:attr (default: [agent] ref in agentarts.toml)."
    ),
    input: str = typer.Option("{}", "--input", metavar="JSON|@FILE", help="JSON object, or @FILE."),
    thread: str | None = typer.Option(
        None, "--thread", metavar="ID", help="Thread id (default: new)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run an agent; stops at approval gates (then use `agentarts runs approve`)."""
    if thread is not None:
        _check_thread_id(thread)
    payload = _parse_input(input)
    agent = _agent(ref)
    subscriber = _progress(not as_json)
    if subscriber:
        agent.events.subscribers.append(subscriber)
    result = agent.run(payload, thread_id=thread)
    _report(result, as_json)


_JSON_HELP = "Print one JSON document on stdout."
_BY_HELP = "Who decides (recorded in the audit; default: your login name)."


def _default_by() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in a bare container
        return "operator"


def _live_statuses(rows: list[dict[str, Any]]) -> None:
    from agentarts.graph.agent import live_statuses

    live_statuses(rows, _agent)


@runs_app.command("list", short_help="Threads, newest first, with their status.")
def list_runs(
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
    limit: int = typer.Option(
        50, "--limit", metavar="N", min=1, max=10_000, help="Most threads to list."
    ),
) -> None:
    """Threads, newest first, with their status (from their checkpoints)."""
    from rich.markup import escape

    from agentarts.security import mask_url
    from agentarts.store import RunStore

    settings = _project_imports()
    store = RunStore(settings.database_url)
    try:
        store.repair_stale_runs()
        rows = store.list_threads(limit)
    finally:
        store.close()
    _live_statuses(rows)
    if as_json:
        print_json({"runs": rows})
        return
    from rich.table import Table

    table = Table(title=f"Runs ({escape(mask_url(settings.database_url))})")
    # one line per run at any width: the agent ref and the error are cut to what is left of the
    # terminal (`runs show` and `--json` have them whole)
    fixed = {
        "thread": max([6, *(len(r["thread_id"]) for r in rows)]),
        "status": max([6, *(len(r["status"]) for r in rows)]),
        "started (UTC)": 19,
    }
    agent_width = min(28, max([5, *(len(r["agent"]) for r in rows)]))
    left = console().width - sum(fixed.values()) - agent_width - 16  # 6 rules, 10 padding
    table.add_column("thread", no_wrap=True, min_width=fixed["thread"])
    table.add_column("agent", no_wrap=True, overflow="ellipsis", max_width=agent_width)
    table.add_column("status", no_wrap=True, min_width=fixed["status"])
    table.add_column("started (UTC)", no_wrap=True, min_width=19)
    table.add_column("error", no_wrap=True, overflow="ellipsis", max_width=max(8, left))
    for r in rows:
        table.add_row(
            escape(r["thread_id"]),
            escape(r["agent"]),
            escape(r["status"]),
            r["started_at"][:19].replace("T", " "),
            escape(mask_url(r["error"] or "")),
        )
    console().print(table if rows else "No runs yet.")


def _show(thread_id: str) -> dict[str, Any]:
    from agentarts.errors import NotFoundError
    from agentarts.graph.agent import _pid_alive, shown_status
    from agentarts.store import RunStore

    _check_thread_id(thread_id)
    settings = _project_imports()
    store = RunStore(settings.database_url)
    try:
        store.repair_stale_runs(thread_id)
        record = store.thread(thread_id)
        record["actuations"] = store.actuations(thread_id)
    finally:
        store.close()
    if not record["runs"]:
        raise NotFoundError(f"no run with thread id {thread_id!r}")
    last = record["runs"][-1]
    status, pending = last["status"], None
    # the live status comes from the checkpoint; if the agent's code is gone, the audit
    # record still shows with the status it last recorded
    with contextlib.suppress(Exception):
        agent = _agent(last["agent"])
        try:
            current = agent.status(thread_id)
            status, pending = shown_status(last["status"], current.status), current.pending
        finally:
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


@runs_app.command(short_help="Everything a thread did: steps, tools, approvals, alerts.")
def show(
    thread_id: str = typer.Argument(
        ..., metavar="THREAD", help="The thread's id (see `agentarts runs list`)."
    ),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Everything a thread did: status, steps, tool calls, approvals, alerts, work orders."""
    from rich.markup import escape

    record = _show(thread_id)
    if as_json:
        print_json(record)
        return
    from rich.table import Table

    out = console()
    out.print(
        f"thread [bold]{escape(thread_id)}[/] ({escape(record['agent'])}): "
        f"{escape(record['status'])}"
    )
    table = Table(title="Steps")
    for col in ("node", "status", "ms", "started"):
        table.add_column(col)
    for s in record["steps"]:
        table.add_row(
            escape(s["node"]), s["status"], f"{s['duration_ms']:.1f}", s["started_at"][11:23]
        )
    out.print(table)
    for a in record["approvals"]:
        out.print(
            f"{escape(a['decision'])} by {escape(a['by'])} at {a['decided_at'][:19]}: "
            f"{escape(a['action'])} {escape(json.dumps(a['proposal']))} {escape(a['reason'])}"
        )
    for act in record["actuations"]:
        # the grant keeps the arguments as proposed (1, not the signed canonical 1.0)
        grant = json.loads(act.get("grant") or "null") or {}
        args = json.dumps(grant["args"]) if "args" in grant else act["args"]
        out.print(f"actuation {escape(act['action'])} {escape(args)}: {escape(act['status'])}")
    for al in record["alerts"]:
        out.print(f"alert {escape(al['severity'])} {escape(al['code'])}: {escape(al['message'])}")
    for wo in record["work_orders"]:
        out.print(
            f"work order {wo['id']} ({escape(wo['priority'])}, {escape(wo['status'])}) "
            f"{escape(wo['asset'])}: {escape(wo['title'])}"
        )
    if record["pending"]:  # what a person is about to approve, exactly, and how
        _print_pending(out, escape(thread_id), record["pending"])


def _steer(thread_id: str, as_json: bool) -> Any:
    agent = _agent_for_thread(thread_id)
    if not as_json:
        agent.events.subscribers.append(_progress(True))
    return agent


@runs_app.command(short_help="Approve a thread's pending action and continue the run.")
def approve(
    thread_id: str = typer.Argument(
        ..., metavar="THREAD", help="The thread's id (see `agentarts runs list`)."
    ),
    by: str | None = typer.Option(None, "--by", metavar="NAME", help=_BY_HELP),
    reason: str = typer.Option("", "--reason", metavar="TEXT", help="Why (recorded in the audit)."),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Approve the pending action of a thread (exactly as shown) and continue the run."""
    agent = _steer(thread_id, as_json)
    try:
        _report(agent.approve(thread_id, by=by or _default_by(), reason=reason), as_json)
    finally:
        agent.close()


@runs_app.command(short_help="Reject a thread's pending action (with a reason).")
def reject(
    thread_id: str = typer.Argument(
        ..., metavar="THREAD", help="The thread's id (see `agentarts runs list`)."
    ),
    reason: str = typer.Option(
        ..., "--reason", metavar="TEXT", help="Why (required, recorded in the audit)."
    ),
    by: str | None = typer.Option(None, "--by", metavar="NAME", help=_BY_HELP),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Reject the pending action of a thread (with a reason) and continue the run."""
    agent = _steer(thread_id, as_json)
    try:
        _report(agent.reject(thread_id, reason=reason, by=by or _default_by()), as_json)
    finally:
        agent.close()


@runs_app.command(short_help="Continue a thread from its last checkpoint.")
def resume(
    thread_id: str = typer.Argument(
        ..., metavar="THREAD", help="The thread's id (see `agentarts runs list`)."
    ),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Continue a thread from its last checkpoint (after a crash, or a recorded decision)."""
    agent = _steer(thread_id, as_json)
    try:
        _report(agent.resume(thread_id), as_json)
    finally:
        agent.close()


@runs_app.command(short_help="Say whether a crash-interrupted actuation took effect.")
def resolve(
    thread_id: str = typer.Argument(
        ..., metavar="THREAD", help="The thread's id (see `agentarts runs list`)."
    ),
    happened: bool = typer.Option(
        ...,
        "--happened/--not-happened",
        help="Whether the interrupted actuation took effect (look at the plant first).",
    ),
    by: str | None = typer.Option(None, "--by", metavar="NAME", help=_BY_HELP),
    reason: str = typer.Option("", "--reason", metavar="TEXT", help="What you checked (recorded)."),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Answer a thread whose actuation's outcome is unknown after a crash."""
    agent = _steer(thread_id, as_json)
    try:
        result = agent.confirm_outcome(thread_id, happened, by=by or _default_by(), reason=reason)
        _report(result, as_json)
    finally:
        agent.close()


@runs_app.command(short_help="Check every approval and actuation signature.")
def verify(
    thread_id: str | None = typer.Argument(
        None, metavar="THREAD", help="One thread (default: all)."
    ),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Check approvals and actuations against their signatures; exit 1 on any problem."""
    from rich.markup import escape

    from agentarts.errors import NotFoundError
    from agentarts.graph.verify import verify as check
    from agentarts.store import RunStore

    if thread_id is not None:
        _check_thread_id(thread_id)
    settings = _project_imports()
    store = RunStore(settings.database_url)
    try:
        if thread_id is not None and not store.thread(thread_id)["runs"]:
            raise NotFoundError(f"no run with thread id {thread_id!r}")
        report = check(store, thread_id)
    finally:
        store.close()
    if as_json:
        print_json(report.as_dict())
    else:
        out = console()
        out.print(
            f"checked {report.threads} thread(s): {report.requests} requests, "
            f"{report.approvals} decisions, {report.actuations} actuations"
        )
        for p in report.problems:
            out.print(
                f"[red]{escape(p['kind'])}[/] {escape(p['thread_id'])}: {escape(p['detail'])}"
            )
        if report.ok:
            out.print("[green]all signatures and grants check out[/]")
    if not report.ok:
        raise typer.Exit(1)


@runs_app.command()
def export(
    thread_id: str = typer.Argument(
        ..., metavar="THREAD", help="The thread's id (see `agentarts runs list`)."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", metavar="FILE", help="File (default: stdout)."
    ),
) -> None:
    """The full audit record of a thread as one JSON document."""
    from agentarts._files import atomic_write_text, check_output_file

    if output is not None:
        check_output_file(output, "-o")
    record = _show(thread_id)
    text = json.dumps(record, indent=2, default=str) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    atomic_write_text(output, text)
    console(stderr=True).print(f"wrote {output}", markup=False)


@tools_app.command("list")
def list_tools(
    ref: str | None = typer.Argument(
        None,
        metavar="REF",
        help="A module, module:attr (a tool, a list of tools, an Agent) or an installed pack "
        "(e.g. steel); default: the module of the project's agent.",
    ),
    as_json: bool = typer.Option(False, "--json", help=_JSON_HELP),
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
    app.command(short_help="Run an agent until it ends or waits at an approval gate.")(run)
    app.add_typer(
        runs_app, name="runs", short_help="Inspect, approve, reject, resume and verify runs."
    )
    app.add_typer(tools_app, name="tools")
