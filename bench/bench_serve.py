"""``agentarts serve`` under 100 concurrent sessions (issue: agent server and operator console).

``agentarts serve`` (uvicorn on 127.0.0.1:19480, as the CLI starts it) serves a
gate-and-actuate agent; 100 client sessions each start a run over ``POST /invocations``
(operator token), which stops at its approval gate, then approve it over
``POST /runs/{id}/approve`` (approver token), once, as a person clicks once. In the
"doubled" rounds every session also fires a second, concurrent approval of the same request
(two browser tabs), which must be refused (409): 200 requests in flight.

Checked: no lost approval (every run completes, with exactly one recorded approval by the
approver) and no doubled one (the actuating tool ran exactly once per thread, counted in a
file the tool appends to, with the time it ran).

Measured, per approval (in the doubled rounds: until both requests of a session are answered):
- the answer: by default ``202`` once the signed decision is recorded (the run continues on
  the server's background worker); as a burst (all 100 at once, one worker process and two),
  as a doubled burst, and paced (20 a second, doubled);
- until the step ran: from sending the approval to the actuating tool running (one clock);
- ``?wait=true``, the synchronous mode (answer after the step ran), burst;
- baseline: the same approvals through ``Agent.approve`` called directly in one process from
  100 threads (no HTTP, no authentication), measured in the same run.

    python -m bench serve        (or: python bench/bench_serve.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # `python bench/bench_serve.py`: the repository is importable
    sys.path.insert(0, str(REPO))

from agentarts.graph import AgentState  # noqa: E402
from agentarts.tools import tool  # noqa: E402
from bench._common import table  # noqa: E402

SESSIONS = 100
PORT = 19480


class Move(BaseModel):
    asset: str
    value: float


@tool(safety="actuating")
def apply_move(move: Move) -> Move:
    """Apply a setpoint move (appends to BENCH_SERVE_LOG: one line per actuation, with the
    wall-clock time it ran; client and server share the machine's clock)."""
    with open(os.environ["BENCH_SERVE_LOG"], "a") as handle:
        handle.write(f"{move.asset} {time.time():.6f}\n")
    return move


class State(AgentState, total=False):
    asset: str
    proposal: dict[str, Any]
    applied: dict[str, Any] | None


def _builder() -> Any:
    from langgraph.graph import END, START, StateGraph

    from agentarts.graph import approval_gate, route_on_approval, tool_node

    builder = StateGraph(State)
    builder.add_node("propose", lambda s: {"proposal": {"asset": s["asset"], "value": 1.0}})
    builder.add_node("approval", approval_gate(apply_move, proposal="proposal"))
    builder.add_node("apply", tool_node(apply_move, args="proposal", output_key="applied"))
    builder.add_edge(START, "propose")
    builder.add_edge("propose", "approval")
    builder.add_conditional_edges(
        "approval", route_on_approval("apply_move", "apply", END), ["apply", END]
    )
    builder.add_edge("apply", END)
    return builder


def make_agent() -> Any:
    from agentarts.graph import Agent

    agent = Agent(_builder(), name="bench-serve")
    agent.ref = "bench.bench_serve:agent"
    return agent


def __getattr__(name: str) -> Any:  # `bench.bench_serve:agent`, built when the server asks
    if name == "agent":
        value = make_agent()
        globals()["agent"] = value
        return value
    raise AttributeError(name)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _post(conn: Any, path: str, token: str, body: dict[str, Any]) -> int:
    """One HTTP/1.1 POST on an open keep-alive connection; the status code."""
    reader, writer = conn
    data = json.dumps(body).encode()
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    await reader.readexactly(int(length[1]) if length else 0)
    return int(head.split(b" ", 2)[1])


async def _sessions(
    base: str,
    op: str,
    ap: str,
    pace_s: float,
    wait: bool,
    tag: str = "",
    twice: bool = True,
    sessions: int = SESSIONS,
) -> dict[str, Any]:
    """Start 100 runs to their gates, then approve each (``twice``: twice, concurrently);
    ``wait``: the synchronous mode (``?wait=true``), else the default acknowledgement (202)."""
    import httpx

    limits = httpx.Limits(max_connections=SESSIONS * 2, max_keepalive_connections=SESSIONS * 2)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        tag = tag or f"{'w' if wait else 'a'}{pace_s}{'d' if twice else ''}".replace(".", "")

        async def start(i: int) -> str:
            r = await client.post(
                "/invocations",
                json={"asset": f"{tag}-{i}"},
                headers={
                    "Authorization": f"Bearer {op}",
                    "x-hw-agentarts-session-id": f"{tag}-{i}",
                },
            )
            assert r.status_code == 200 and r.json()["status"] == "waiting_approval", r.text
            return r.json()["thread_id"]

        threads = await asyncio.gather(*(start(i) for i in range(sessions)))
        times: list[float] = []
        sent: dict[str, float] = {}
        codes: list[tuple[int, int]] = []
        ok = 200 if wait else 202

        # each session holds two open keep-alive connections, like two browser tabs; the timed
        # part goes over raw sockets (httpx's pool costs O(connections) per request at 200)
        conns = [
            await asyncio.gather(*(asyncio.open_connection("127.0.0.1", PORT) for _ in "ab"))
            for _ in threads
        ]

        async def approve(i: int, tid: str) -> None:
            await asyncio.sleep(i * pace_s)
            path = f"/runs/{tid}/approve" + ("?wait=true" if wait else "")
            sent[tid] = time.time()
            t0 = time.perf_counter()
            if not twice:
                first = await _post(conns[i][0], path, ap, {"reason": "bench"})
                times.append(time.perf_counter() - t0)
                codes.append((first,))
                return
            first, second = await asyncio.gather(
                _post(conns[i][0], path, ap, {"reason": "bench"}),
                _post(conns[i][1], path, ap, {"reason": "again"}),
            )
            times.append(time.perf_counter() - t0)
            codes.append(tuple(sorted((first, second))))

        t0 = time.perf_counter()
        await asyncio.gather(*(approve(i, t) for i, t in enumerate(threads)))
        acked = time.perf_counter() - t0
        for pair in conns:
            for _, writer in pair:
                writer.close()
        auth = {"Authorization": f"Bearer {op}"}
        deadline = time.time() + 120
        while True:  # the background worker finishes the runs
            finals = await asyncio.gather(
                *(client.get(f"/runs/{t}", headers=auth) for t in threads)
            )
            if all(f.json()["status"] == "completed" for f in finals) or time.time() > deadline:
                break
            await asyncio.sleep(0.2)
    lost = sum(
        1
        for f in finals
        if f.json()["status"] != "completed"
        or [a["by"] for a in f.json()["approvals"]] != ["approver"]
    )
    return {
        "threads": threads,
        "sent": sent,
        "times": times,
        "pairs_ok": sum(1 for c in codes if c == (ok, 409)),
        "singles_ok": sum(1 for c in codes if c == (ok,)),
        "twice": twice,
        "lost": lost,
        "ack_wall_s": acked,
    }


@contextlib.contextmanager
def _server(env: dict[str, str], folder: Path, workers: int) -> Any:
    """``agentarts serve`` as the CLI starts it (uvicorn, ``workers`` processes) on PORT."""
    import httpx

    serve_env = {
        **env,
        "AGENTARTS_SERVE_WORKERS": str(workers),
        "AGENTARTS_SERVE_SESSION_HOURS": "",
        "AGENTARTS_SERVE_IDLE_MINUTES": "",
    }
    code = (
        "import uvicorn; uvicorn.run('agentarts.cli._serve:app_from_env', factory=True, "
        f"host='127.0.0.1', port={PORT}, workers={workers}, log_level='warning', "
        "timeout_keep_alive=75)"
    )
    server = subprocess.Popen([sys.executable, "-c", code], env=serve_env, cwd=folder)
    try:
        deadline = time.time() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/ping").status_code == 200:
                    break
            except httpx.HTTPError:
                if server.poll() is not None or time.time() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        time.sleep(1.0 * workers)  # every worker process has loaded the agent
        yield
    finally:
        server.terminate()
        server.wait(30)


def _direct(folder: Path) -> list[float]:
    """Baseline: Agent.approve from 100 threads in one process, no HTTP."""
    from agentarts.graph import Agent

    agent = Agent(_builder(), name="bench-direct", database_url=f"sqlite:///{folder / 'd.db'}")
    tids = [agent.run({"asset": f"d-{i}"}).thread_id for i in range(SESSIONS)]
    times: list[float] = []
    barrier = threading.Barrier(SESSIONS)

    def one(tid: str) -> None:
        barrier.wait()
        t0 = time.perf_counter()
        assert agent.approve(tid, by="approver", reason="bench").status == "completed"
        times.append(time.perf_counter() - t0)

    workers = [threading.Thread(target=one, args=(t,)) for t in tids]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    agent.close()
    return times


def run() -> dict[str, Any]:

    from agentarts.server.users import UserStore

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        log = folder / "actuations.log"
        log.touch()
        env = {
            **os.environ,
            "AGENTARTS_DATA_DIR": str(folder),
            "AGENTARTS_DATABASE_URL": f"sqlite:///{folder / 'runs.db'}",
            "AGENTARTS_AGENT": "bench.bench_serve:agent",
            "BENCH_SERVE_LOG": str(log),
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        os.environ["BENCH_SERVE_LOG"] = str(log)
        store = UserStore(env["AGENTARTS_DATABASE_URL"])
        store.add("operator", "operator")
        store.add("approver", "approver")
        op, ap = store.issue_token("operator"), store.issue_token("approver")
        store.close()
        base = f"http://127.0.0.1:{PORT}"
        with _server(env, folder, workers=1):
            # a server in service is warm: 10 untimed approvals take the first-call costs
            warm = asyncio.run(_sessions(base, op, ap, 0.05, False, "warm", False, 10))
            burst = asyncio.run(_sessions(base, op, ap, 0.0, wait=False, twice=False))
            doubled_burst = asyncio.run(_sessions(base, op, ap, 0.0, wait=False))
            paced = asyncio.run(_sessions(base, op, ap, 0.05, wait=False))  # 20 approvals/s
            sync = asyncio.run(_sessions(base, op, ap, 0.0, wait=True, twice=False))  # ?wait=true
        with _server(env, folder, workers=2):  # `agentarts serve --workers 2`
            burst2 = asyncio.run(_sessions(base, op, ap, 0.0, wait=False, tag="w2", twice=False))
        lines = [line.split() for line in log.read_text().splitlines()]
        direct = _direct(folder)
    ran = {asset: float(at) for asset, at in lines}  # the last run of each (doubles: below)
    doubled = sum(1 for n in _counts([a for a, _ in lines]).values() if n != 1)
    rounds = (warm, burst, doubled_burst, paced, sync, burst2)
    expected = {t for r in rounds for t in r["threads"]}
    missing = len(expected - set(ran))

    def applied(r: dict[str, Any]) -> list[float]:
        """Seconds from sending the approval to the actuating tool running, per thread."""
        return [ran[t] - r["sent"][t] for t in r["threads"] if t in ran]

    b_applied, p_applied, b2_applied = applied(burst), applied(paced), applied(burst2)
    res = {
        "sessions": SESSIONS,
        "burst_ack_p50_ms": statistics.median(burst["times"]) * 1e3,
        "burst_ack_p99_ms": _pct(burst["times"], 0.99) * 1e3,
        "burst_applied_p50_ms": statistics.median(b_applied) * 1e3,
        "burst_applied_p99_ms": _pct(b_applied, 0.99) * 1e3,
        "burst_doubled_ack_p50_ms": statistics.median(doubled_burst["times"]) * 1e3,
        "burst_doubled_ack_p99_ms": _pct(doubled_burst["times"], 0.99) * 1e3,
        "burst2_ack_p50_ms": statistics.median(burst2["times"]) * 1e3,
        "burst2_ack_p99_ms": _pct(burst2["times"], 0.99) * 1e3,
        "burst2_applied_p50_ms": statistics.median(b2_applied) * 1e3,
        "burst2_applied_p99_ms": _pct(b2_applied, 0.99) * 1e3,
        "paced_ack_p50_ms": statistics.median(paced["times"]) * 1e3,
        "paced_ack_p99_ms": _pct(paced["times"], 0.99) * 1e3,
        "paced_applied_p99_ms": _pct(p_applied, 0.99) * 1e3,
        "burst_sync_p50_ms": statistics.median(sync["times"]) * 1e3,
        "burst_sync_p99_ms": _pct(sync["times"], 0.99) * 1e3,
        "direct_burst_p50_ms": statistics.median(direct) * 1e3,
        "direct_burst_p99_ms": _pct(direct, 0.99) * 1e3,
        "lost": sum(r["lost"] for r in rounds) + missing,
        "doubled": doubled,
        "second_approval_refused": sum(r["pairs_ok"] for r in rounds),
        "second_approval_sent": sum(len(r["threads"]) for r in rounds if r["twice"]),
        "single_approval_ok": sum(r["singles_ok"] for r in rounds if not r["twice"]),
    }

    def ms(a: str, b: str) -> str:
        return f"{res[a]:.0f} / {res[b]:.0f} ms"

    table(
        f"agentarts serve: {SESSIONS} sessions approving over HTTP (p50 / p99)",
        [
            (
                "burst: answer (202, recorded)",
                ms("burst_ack_p50_ms", "burst_ack_p99_ms"),
                "target p99 < 200 ms",
            ),
            (
                "burst, doubled: answer",
                ms("burst_doubled_ack_p50_ms", "burst_doubled_ack_p99_ms"),
                "both requests of a session (200 in flight)",
            ),
            (
                "burst: until the step ran",
                ms("burst_applied_p50_ms", "burst_applied_p99_ms"),
                "background worker",
            ),
            (
                "burst: ?wait=true answer",
                ms("burst_sync_p50_ms", "burst_sync_p99_ms"),
                "answer after the step ran",
            ),
            (
                "burst: direct Agent.approve",
                ms("direct_burst_p50_ms", "direct_burst_p99_ms"),
                "100 threads, no HTTP",
            ),
            (
                "burst, --workers 2: answer",
                ms("burst2_ack_p50_ms", "burst2_ack_p99_ms"),
                "target p99 < 200 ms",
            ),
            (
                "burst, --workers 2: step ran",
                ms("burst2_applied_p50_ms", "burst2_applied_p99_ms"),
                "",
            ),
            ("paced 20/s, doubled: answer", ms("paced_ack_p50_ms", "paced_ack_p99_ms"), ""),
            ("paced 20/s: step ran p99", f"{res['paced_applied_p99_ms']:.0f} ms", ""),
            ("lost / doubled", f"{res['lost']} / {res['doubled']}", "target 0 / 0"),
            (
                "2nd approval refused",
                f"{res['second_approval_refused']} of {res['second_approval_sent']}",
                "409",
            ),
        ],
    )
    return res


def _counts(lines: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in lines:
        out[line] = out.get(line, 0) + 1
    return out


if __name__ == "__main__":
    run()
