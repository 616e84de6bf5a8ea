"""The runtime benchmark's storms (section 4 of ``bench.bench_runtime``): 2,560 connections
for 15 s against our server (and the bare server on the MLP), the same server's 64-connection
rate just before and just after each storm (the interleaved sustainable rate), where the CPU
went, the probe's latency per status, the server's own refusal times, and the printed rows."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench._common import kserve_bodies, table, wrk
from bench._runtime_peers import (
    CpuMeter,
    bare_server,
    histogram_quantile_ms,
    ours_server,
    probe_stats,
    refusal_histogram,
    sample,
    storm,
)

# Storms on ``cnn_500ms``, where the line must be partly refused: the clients of wrk's default
# (closed loop: a refused client resends at once) and clients that honour a 429's wait.
HONOURING = (("honour_s", "retry-after"), ("honour_ms", "retry-after-ms"))


def overload(
    repo: Path,
    sustainable_rps: float,
    model: str = "mlp",
    kind: str = "json",
    bare: bool = True,
    honouring: bool = False,
) -> dict[str, float]:
    """2,560 connections, 40x the 64 of the sustainable run, for 15 s (ours, the bare server
    when ``bare``, and ours under clients honouring Retry-After or retry-after-ms when
    ``honouring``), with the probe's latency per status, the server's own refusal times (its
    /metrics histogram) and where the CPU went."""
    out: dict[str, float] = {}
    shape = (1, 64) if model == "mlp" else (1, 1, 64, 64)
    body, headers = kserve_bodies(sample(shape))[kind]
    storms: list[tuple[str, Any, str | None]] = [("ours", lambda: ours_server(repo), None)]
    if bare:
        storms.append(("bare", lambda: bare_server(repo, model, "inline"), None))
    if honouring:
        storms += [(label, lambda: ours_server(repo), header) for label, header in HONOURING]
    for label, server, honour in storms:
        with server() as srv:
            url = f"{srv.url}/v2/models/{model}/infer"
            paired = after = float("nan")
            if label != "bare":  # this server's own 64-connection rate, just before its storm
                wrk(url, body, headers, 64, 1, workdir=repo)
                meter = CpuMeter(srv.proc.pid)
                paired = wrk(url, body, headers, 64, 5, workdir=repo)["goodput_rps"]
                calm_us = meter.stop(paired * 5.0)["server_us_per_answer"]
            meter = CpuMeter(srv.proc.pid)
            r, latencies = storm(url, body, headers, 2560, 15.0, repo, honour)
            r.update(meter.stop(r["rps"] * 15.0))
            if label != "bare":  # ... and just after it (the line drained first)
                time.sleep(1.0)
                after = wrk(url, body, headers, 64, 5, workdir=repo)["goodput_rps"]
            r["paired_rps"], r["after_rps"] = paired, after
            r["interleaved_rps"] = (paired + after) / 2
            if label != "bare":  # server CPU per 200 at 64 connections, and what a 429 cost
                r["calm_us_per_answer"] = calm_us
                r["us_per_refusal"] = float("nan")
                if r["non2xx"]:
                    storm_cpu_us = r["server_us_per_answer"] * r["rps"] * 15.0
                    served_us = calm_us * r["goodput_rps"] * 15.0
                    r["us_per_refusal"] = (storm_cpu_us - served_us) / r["non2xx"]
            if label != "bare":
                buckets = refusal_histogram(srv.url)
                r["server_429"] = float(buckets[-1][1] if buckets else 0)
                r["server_429_p50_ms"] = histogram_quantile_ms(buckets, 0.50)
                r["server_429_p99_ms"] = histogram_quantile_ms(buckets, 0.99)
        out.update({f"{label}_{k}": v for k, v in r.items()})
        out[f"{label}_goodput_vs_sustainable"] = r["goodput_rps"] / sustainable_rps
        out[f"{label}_goodput_vs_interleaved"] = r["goodput_rps"] / r["interleaved_rps"]
        out.update({f"{label}_{k}": v for k, v in probe_stats(latencies).items()})
    return out


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


_STORM_NAMES = {
    "ours": "ours",
    "bare": "bare",
    "honour_s": "ours, clients honour Retry-After",
    "honour_ms": "ours, clients honour retry-after-ms",
}


def cpu_note(r: dict[str, float], key: str) -> str:
    return (
        f"server CPU {r[key + '_server_us_per_answer']:.0f} us/answer, "
        f"other processes {r[key + '_other_cores']:.2f} cores, steal {r[key + '_steal_cores']:.2f}"
    )


def _calm_note(ov: dict[str, float], label: str) -> str:
    """The same server's CPU per answer at 64 connections just before the storm, and what
    each 429 cost (the storm's CPU less its 200s at that rate, over the 429s)."""
    if label == "bare":
        return ""
    note = f"; at 64 connections just before: {ov[label + '_calm_us_per_answer']:.0f} us/answer"
    if ov[label + "_non2xx"]:
        note += f"; ~{ov[label + '_us_per_refusal']:.0f} us per 429 (the rest of the storm's CPU)"
    return note


def _overload_rows(ov: dict[str, float], labels: list[str]) -> list[tuple[str, str, str]]:
    rows = []
    for label in labels:
        name = _STORM_NAMES[label]
        good = ov[f"{label}_goodput_vs_sustainable"]
        target = label != "bare"
        table_note = f"{good:.2f}x the serving table's rate" if good == good else "no serving table"
        if target and good == good:
            table_note += f" (target >= 0.8x: {met(good >= 0.8)})"
        elif not target:
            table_note = f"{good:.2f}x ours' serving-table rate" if good == good else "-"
        refused = ov[f"{label}_probe_429"]
        p99 = ov[f"{label}_probe_429_p99_ms"]
        verdict = ""
        if target:
            verdict = f" (target < 5 ms: {met(p99 < 5)})" if refused else " (no refusal to time)"
        rows += [
            (
                f"{name}: goodput at 2,560 connections",
                f"{ov[label + '_goodput_rps']:,.0f} req/s",
                table_note
                + f"; {ov[label + '_non2xx']:,.0f} non-2xx, {ov[label + '_socket_errors']:,.0f}"
                + f" socket errors; p50 {ov[label + '_p50_ms']:.0f} ms, p99 "
                + f"{ov[label + '_p99_ms']:.0f} ms",
            ),
            (
                f"{name}: CPU during the storm",
                "",
                f"{cpu_note(ov, label)}; {ov[label + '_listen_overflows']:,.0f} listen overflows"
                + _calm_note(ov, label),
            ),
            (
                f"{name}: probe, 429 answers",
                f"{refused:,.0f} x 429",
                f"p50 {ov[label + '_probe_429_p50_ms']:.1f} ms, p99 {p99:.1f} ms, "
                f"max {ov[label + '_probe_429_max_ms']:.1f} ms{verdict}",
            ),
            (
                f"{name}: probe, 200 answers",
                f"{ov[label + '_probe_200']:,.0f} x 200",
                f"p50 {ov[label + '_probe_ok_p50_ms']:.1f} ms, "
                f"p99 {ov[label + '_probe_ok_p99_ms']:.1f} ms; "
                f"{ov[label + '_probe_other']:,.0f} other answers or socket errors",
            ),
        ]
        paired = ov[f"{label}_paired_rps"]
        if paired == paired:  # measured (not nan)
            ratio = ov[f"{label}_goodput_vs_interleaved"]
            rows.append(
                (
                    f"{name}: same server, 64 conns, before/after",
                    f"{paired:,.0f} / {ov[label + '_after_rps']:,.0f} req/s",
                    f"storm goodput = {ratio:.2f}x their mean (sustainable rate measured "
                    f"interleaved); target >= 0.8x: {met(ratio >= 0.8)}",
                )
            )
        if target and ov[f"{label}_server_429"]:
            p99 = ov[f"{label}_server_429_p99_ms"]
            rows.append(
                (
                    f"{name}: 429s timed in the server",
                    f"{ov[label + '_server_429']:,.0f} x 429",
                    f"p50 <= {ov[label + '_server_429_p50_ms']:g} ms, p99 <= {p99:g} ms "
                    f"(ASGI call to answer written; /metrics buckets); target < 5 ms: "
                    f"{met(p99 <= 5)}",
                )
            )
        if label in ("ours", "bare"):  # closed loop: every connection always waits for one
            rows.append(
                (
                    f"{name}: Little's law, closed loop",
                    f"{2560 / ov[label + '_rps'] * 1e3:,.0f} ms",
                    f"mean time per answer = 2,560 connections / {ov[label + '_rps']:,.0f} "
                    "answers/s, whatever the server does: every answer under 5 ms would take "
                    "512,000 answers/s",
                )
            )
    return rows


def run_storms(repo: Path, sv: dict[str, float], parts: set[str]) -> None:
    # cnn_500ms: the same CNN with a 500 ms timeout in its card, so that 2,560 connections
    # (~1.2 s of work in line) must be partly refused: the refusal latency is measured there.
    # It also runs storms of clients that honour the 429's wait (HONOURING).
    for model, kind, bare in (
        ("mlp", "json", True),
        ("cnn", "binary", False),
        ("cnn_500ms", "binary", False),
    ):
        if model not in parts:
            continue
        sustainable = sv.get(f"{model[:3]}_ours_{kind}_goodput_rps", float("nan"))
        honouring = model == "cnn_500ms"
        ov = overload(repo, sustainable, model, kind, bare, honouring)
        sv.update({f"overload_{model}_{k}": v for k, v in ov.items()})
        labels = ["ours", *(["bare"] if bare else []), *(["honour_s", "honour_ms"] * honouring)]
        title = f"Runtime: overload, {model} ({kind}), 2,560 connections"
        table(f"{title} (serving table: {sustainable:,.0f} req/s)", _overload_rows(ov, labels))
