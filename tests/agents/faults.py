"""Fault campaign for the actuation protocol: SIGKILL at random points and races.

Run as a program (the test suite and ``python -m bench faults`` do)::

    python -m tests.agents.faults --url sqlite:///runs.db --kills 40 --races 10 --json

It imports LangGraph once, then forks one child per action (run, approve, reject, resume,
confirm), so hundreds of crashed processes cost seconds, not minutes. Children are killed
with SIGKILL after a random delay, at a chosen step boundary, or inside the actuating tool
before or after its side effect. After each trial the thread is driven to its end by fresh
processes that act as a careful operator would (approve once, resume, and when an outcome is
unknown look at the plant's side-effect file before answering). Counted, per backend:

- duplicate actuations (two plant writes for one thread) and unapproved ones;
- stuck threads (not completed after a bounded number of operator actions);
- disagreement between the audit store and the checkpoints;
- problems ``agentarts runs verify`` reports.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

AGENT_REF = "tests.agents.plant_agent:agent"


def _child(action: str, thread: str, url: str, kill_event: int | None) -> dict[str, Any]:
    """One action in a fresh process; returns what it saw."""
    from agentarts.graph import Agent
    from tests.agents.plant_agent import builder, effects

    agent = Agent(builder, name="plant", database_url=url)
    agent.ref = AGENT_REF
    if kill_event is not None:
        seen = [0]

        def killer(event: Any) -> None:
            if event.kind in ("step_start", "step_end"):
                seen[0] += 1
                if seen[0] >= kill_event:
                    os.kill(os.getpid(), signal.SIGKILL)

        agent.events.subscribers.append(killer)
    result: Any = None
    if action == "run":
        result = agent.run({}, thread_id=thread)
    elif action == "approve":
        result = agent.approve(thread, by="ana", reason="checked")
    elif action == "reject":
        result = agent.reject(thread, reason="not now", by="ben")
    elif action == "resume":
        result = agent.resume(thread)
    elif action == "drive":
        result = _drive_once(agent, thread, effects())
    out = {"status": getattr(result, "status", None), "error": getattr(result, "error", None)}
    agent.close()
    return out


def _drive_once(agent: Any, thread: str, plant: list[dict[str, Any]]) -> Any:
    """What a careful operator does next with ``thread``."""
    from agentarts.errors import ApprovalError, NotFoundError

    try:
        current = agent.status(thread)
    except NotFoundError:  # killed before its first checkpoint: start it again
        return agent.run({}, thread_id=thread)
    if current.status == "waiting_approval":
        recorded = agent.store.decision_for(thread, current.pending["interrupt_id"])
        if recorded is None:
            try:
                return agent.approve(thread, by="ana", reason="checked")
            except ApprovalError:  # someone decided meanwhile
                return agent.resume(thread)
        return agent.resume(thread)
    if current.status == "interrupted":
        return agent.resume(thread)
    if current.status == "needs_confirmation":
        key = current.pending["grant"]
        happened = any(e["key"] == key for e in plant)
        return agent.confirm_outcome(thread, happened, by="ana", reason="read the plant")
    return current


def _fork(
    action: str,
    thread: str,
    url: str,
    env: dict[str, str],
    kill_event: int | None,
    release: int | None = None,
) -> tuple[int, int]:
    """Fork a child for ``action``; returns (pid, read end of its result pipe)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read)
            os.environ.update(env)
            if release is not None:
                os.read(release, 1)  # wait for the starting gun (races)
            out = _child(action, thread, url, kill_event)
        except BaseException as exc:  # report, then leave without running parent cleanup
            out = {"status": "exception", "error": f"{type(exc).__name__}: {exc}"}
            code = 3
        with os.fdopen(write, "w") as handle:
            handle.write(json.dumps(out))
        os._exit(code)
    os.close(write)
    return pid, read


def _wait(pid: int, read: int, kill_after: float | None, timeout: float = 60.0) -> dict[str, Any]:
    start = time.monotonic()
    killed = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        elapsed = time.monotonic() - start
        if not killed and kill_after is not None and elapsed >= kill_after:
            os.kill(pid, signal.SIGKILL)
            killed = True
        if elapsed > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            return {"status": "hung"}
        time.sleep(0.002)
    with os.fdopen(read) as handle:
        text = handle.read()
    if os.WIFSIGNALED(status):
        return {"status": "killed"}
    return json.loads(text) if text else {"status": "no-output"}


OUTCOMES: dict[str, int] = {}


def _one(action: str, thread: str, url: str, rng: random.Random, kill: bool) -> dict[str, Any]:
    env: dict[str, str] = {}
    kill_event = None
    kill_after = None
    if kill:
        how = rng.choice(["delay", "delay", "event", "tool-before", "tool-after"])
        if how == "delay":
            kill_after = rng.uniform(0.0, 0.25)
        elif how == "event":
            kill_event = rng.randint(1, 8)
        else:
            env["PLANT_KILL"] = how.removeprefix("tool-")
    else:
        env["PLANT_KILL"] = ""
    pid, read = _fork(action, thread, url, env, kill_event)
    out = _wait(pid, read, kill_after)
    OUTCOMES[str(out.get("status"))] = OUTCOMES.get(str(out.get("status")), 0) + 1
    return out


def _finish(thread: str, url: str, rng: random.Random, limit: int = 12) -> dict[str, Any]:
    last: dict[str, Any] = {}
    for _ in range(limit):
        last = _one("drive", thread, url, rng, kill=False)
        if last.get("status") == "completed":
            return last
    return {**last, "stuck": True}


def _check(thread: str, url: str, expect_effects: int | None) -> list[str]:
    """Problems with ``thread`` once it has been driven to its end."""
    from agentarts.graph.verify import verify
    from agentarts.store import RunStore
    from tests.agents.plant_agent import effects

    problems = []
    store = RunStore(url)
    try:
        record = store.thread(thread)
        grants = {a["grant_id"] for a in store.actuations(thread)}
        mine = [e for e in effects() if e["key"] in grants]
        keys = [e["key"] for e in mine]
        if len(keys) != len(set(keys)) or len(mine) > 1:
            problems.append(f"{thread}: {len(mine)} actuations for one approval")
        approved = [a for a in record["approvals"] if a["decision"] == "approved"]
        if mine and not approved:
            problems.append(f"{thread}: actuated without an approval")
        if expect_effects is not None:
            want = expect_effects if approved or expect_effects == 0 else 0
            if len(mine) != want:
                problems.append(f"{thread}: {len(mine)} actuations, expected {want}")
        store.repair_stale_runs(thread)
        runs = store.thread(thread)["runs"]
        if any(r["status"] == "running" for r in runs):
            problems.append(f"{thread}: a run is still recorded as running")
        from agentarts.cli._agents import _live_statuses

        rows = [dict(runs[-1])]
        _live_statuses(rows)  # the status `agentarts runs list` shows
        if rows[0]["status"] != "completed":
            problems.append(f"{thread}: runs list says {rows[0]['status']}, not completed")
        report = verify(store, thread)
        problems += [f"{thread}: verify {p['kind']}: {p['detail']}" for p in report.problems]
    finally:
        store.close()
    return problems


def campaign(url: str, kills: int, races: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    tag = f"{seed}-{os.getpid()}"
    summary: dict[str, Any] = {"url_kind": url.split(":", 1)[0], "kills": 0, "races": 0}
    problems: list[str] = []
    stuck = 0
    started = time.perf_counter()
    for i in range(kills):
        thread = f"k{tag}-{i}"
        _one("run", thread, url, rng, kill=rng.random() < 0.3)
        _one("drive", thread, url, rng, kill=True)  # approve (or recover) under a kill
        for _ in range(rng.randint(0, 2)):  # and maybe a crashing recovery or two
            _one("drive", thread, url, rng, kill=True)
        summary["kills"] += 1
        end = _finish(thread, url, rng)
        stuck += bool(end.get("stuck"))
        problems += _check(thread, url, expect_effects=1)
    for i in range(races):
        thread = f"r{tag}-{i}"
        _one("run", thread, url, rng, kill=False)
        actions = rng.choice(
            [
                ["approve", "resume"],
                ["approve", "resume", "resume"],
                ["approve", "reject"],
                ["approve", "approve", "resume"],
                ["reject", "resume", "approve"],
            ]
        )
        gun_read, gun_write = os.pipe()
        children = [_fork(a, thread, url, {"PLANT_KILL": ""}, None, gun_read) for a in actions]
        os.write(gun_write, b"x" * len(children))
        for pid, read in children:
            _wait(pid, read, None)
        os.close(gun_read)
        os.close(gun_write)
        summary["races"] += 1
        end = _finish(thread, url, rng)
        stuck += bool(end.get("stuck"))
        problems += _check(thread, url, expect_effects=None)
    from agentarts.store import RunStore
    from tests.agents.plant_agent import effects

    store = RunStore(url)
    granted = {a["grant_id"] for a in store.actuations()}
    store.close()
    problems += [
        f"actuation {e['key']} has no claimed grant" for e in effects() if e["key"] not in granted
    ]
    summary.update(
        actuations=len(effects()),
        outcomes=dict(sorted(OUTCOMES.items())),
        stuck=stuck,
        problems=problems,
        seconds=round(time.perf_counter() - started, 1),
    )
    return summary


def run_campaign(
    url: str, effects: Path, kills: int, races: int, seed: int, timeout: float | None = None
) -> dict[str, Any]:
    """Run a campaign in a fresh interpreter (the tests and ``python -m bench faults``)."""
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.agents.faults",
            "--url",
            url,
            "--kills",
            str(kills),
            "--races",
            str(races),
            "--seed",
            str(seed),
            "--effects",
            str(effects),
        ],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"the fault campaign printed nothing: {proc.stderr[-3000:]}")
    return {**json.loads(lines[-1]), "returncode": proc.returncode}


def fresh_postgres(base: str, prefix: str = "agentarts_faults") -> str:
    """A new, empty database on the server of ``base``; its URL."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + "/" + name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", required=True, help="database URL (sqlite:///... or postgresql://...)"
    )
    parser.add_argument("--kills", type=int, default=40, help="trials with random SIGKILLs")
    parser.add_argument("--races", type=int, default=10, help="trials with racing processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--effects", type=Path, required=True, help="the plant's side-effect file")
    args = parser.parse_args(argv)
    os.environ["PLANT_EFFECTS"] = str(args.effects)
    os.environ["AGENTARTS_DATABASE_URL"] = args.url
    # import once in the parent so forked children start warm
    import tests.agents.plant_agent  # noqa: F401

    summary = campaign(args.url, args.kills, args.races, args.seed)
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0 if not summary["problems"] and not summary["stuck"] else 1


if __name__ == "__main__":
    sys.exit(main())
