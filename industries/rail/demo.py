"""`agentarts demo rail`: a shift of trains through the six camera stations.

Each train is generated (seeded), triaged crop by crop through the runtime, and every suspected
fault waits at an approval gate for a person: confirm (a work order: set the car out, repair on
site or re-check), reject (a false alarm) or re-inspect. ``--auto-confirm`` stands for a person
who looks at each crop and answers from the generator's truth: a crop that holds a fault is
confirmed (its work order raised), a normal crop is rejected as a false alarm. No labels are
kept from such decisions. Recall and false alarms are scored against the same truth, which the
models never see.

Summary counts of the gates: ``work_orders`` (work orders raised: every confirmed finding),
``work_orders_on_faults`` (of those, the ones on a crop that truly holds a fault; with
auto-confirm all of them), ``false_alarms_rejected`` (findings rejected as false alarms) and
``reinspections`` (sent to a look on site).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.errors import AgentArtsError, NotFoundError, UsageError
from agentarts.industries.rail.decide import check_sensitivity

__all__ = ["FAULT_RATE", "run_demo", "score", "shift"]

#: share of component windows showing a fault in the demo (~10 per 40-car train); real trains
#: have far fewer, which only lowers the person's confirmation time
FAULT_RATE = 0.004


def _ask(pending: dict[str, Any]) -> tuple[str, str]:
    import typer

    typer.echo(f"\n{pending.get('summary', '')}", err=True)
    choice = typer.prompt("[c]onfirm / [r]eject / re-[i]nspect", default="c", err=True)
    choice = choice.strip().lower()[:1]
    if choice == "r":
        return "reject", typer.prompt("Reason", default="no fault visible", err=True)
    if choice == "i":
        return "re-inspect", "re-inspect on site"
    return "confirm", ""


#: the reason auto-confirm gives when it rejects a normal crop
NORMAL_REASON = "false alarm (generator truth: normal)"


def _current(result: Any) -> dict[str, Any]:
    """The finding waiting at the gate."""
    state = result.output or {}
    return state["queue"][state["position"]]


def _truth_of(train: Any, finding: dict[str, Any]) -> str | None:
    """The generator's fault in the finding's crop (None: the crop is normal)."""
    for car in train.cars:
        if car.index != finding["car_index"]:
            continue
        for frame in car.frames:
            if frame.station == finding["station"] and frame.number == finding["frame"]:
                return frame.faults[int(finding["window"])]
    raise KeyError(f"finding not in train {train.train_id}: {finding}")


def score(train: Any, result: Any) -> dict[str, Any]:
    """Triage of one generated train against its truth."""
    from agentarts.industries.rail.catalogue import load_catalogue
    from agentarts.industries.rail.train import HELD_OUT

    cat = load_catalogue()
    truth = {}
    for car in train.cars:
        for frame in car.frames:
            for k, (comp, fault) in enumerate(zip(frame.components, frame.faults, strict=True)):
                truth[(car.index, frame.station, frame.number, k)] = (comp, fault)
    faults = [truth[key] for key in result.keys]
    is_fault = np.array([f is not None for _, f in faults])
    crit = np.array([cat.get(c, f).criticality if f else "" for c, f in faults])
    unseen = np.array([f in HELD_OUT for _, f in faults])
    return {
        "is_fault": is_fault,
        "critical": crit == "critical",
        "unseen": unseen,
        "margin": result.margin,
        "flags": result.flags,
        "keys": result.keys,
        "cls_flags": result.cls_flags,
        "classifier_flags": result.classifier_flags,
    }


def shift(
    seed: int = 7,
    trains: int = 5,
    auto_approve: bool = True,
    progress: Any = None,
    database_url: str | None = None,
    cars: int | None = None,
    sensitivity: float | None = None,
) -> dict[str, Any]:
    """Run the shift; returns the summary (and per-train details under '_trains').

    ``auto_approve`` answers each gate from the generator's truth (confirm a real fault, reject
    a normal crop as a false alarm); otherwise a person is asked on the terminal. ``cars``
    fixes the train length (default: drawn per train); ``sensitivity`` lowers the validated
    thresholds by that many decades (decide.decide; default: the project's setting, else 0)."""
    from agentarts.industries.rail import agent as rail_agent
    from agentarts.industries.rail import tools as rail_tools
    from agentarts.industries.rail.catalogue import load_catalogue
    from agentarts.industries.rail.triage import MODELS, runtime_for

    started = time.perf_counter()
    runtime = runtime_for()
    for name in MODELS:  # load before the first train: not a triage cost
        with contextlib.suppress(NotFoundError):  # a project without the slot model
            runtime.model_metadata(name)
    tmp = tempfile.TemporaryDirectory(prefix="agentarts-rail-")
    database_url = database_url or f"sqlite:///{tmp.name}/demo.db"
    rail_tools.LABELS_OVERRIDE[:] = [Path(tmp.name) / "labels"]
    agent = rail_agent.Agent(rail_agent.builder, name="rail-demo", database_url=database_url)
    per_train, scores = [], []
    try:
        for t in range(trains):
            train_seed = seed * 100 + t
            thread = f"rail-{train_seed}"
            request = {"source": "generator", "seed": train_seed, "fault_rate": FAULT_RATE}
            if cars is not None:
                request["cars"] = cars
            if sensitivity is not None:
                request["sensitivity"] = sensitivity
            result = agent.run({"request": request}, thread_id=thread)
            while result.status == "waiting_approval":
                if auto_approve:
                    if _truth_of(rail_tools._LAST["train"], _current(result)) is not None:
                        result = agent.approve(thread, by="auto-confirm")
                    else:
                        result = agent.reject(thread, reason=NORMAL_REASON, by="auto-confirm")
                    continue
                choice, reason = _ask(result.pending)
                result = (
                    agent.approve(thread, by="inspector")
                    if choice == "confirm"
                    else agent.reject(thread, reason=reason, by="inspector")
                )
            if result.status != "completed":
                # the CLI prints one `error:` line, exit 1 (the demo's run store is temporary)
                raise AgentArtsError(f"train {train_seed}: run {result.status}: {result.error}")
            out = result.output
            truth_train = rail_tools._LAST["train"]
            scores.append(score(truth_train, rail_tools._LAST["result"]))
            for d in out.get("decisions") or []:  # scored afterwards, for people's answers too
                d["true_fault"] = _truth_of(truth_train, d["finding"])
            per_train.append(
                {
                    "seed": train_seed,
                    "triage": out["triage"],
                    "report": out["report"],
                    "decisions": out.get("decisions") or [],
                    "work_orders": out.get("work_orders") or [],
                }
            )
            if progress is not None:
                progress(t)
    finally:
        agent.close()
        rail_tools.LABELS_OVERRIDE.clear()
        tmp.cleanup()
    summary = summarise(per_train, scores, len(load_catalogue().types))
    summary["seed"] = seed
    summary["sensitivity"] = per_train[0]["triage"].get("sensitivity", 0.0) if per_train else 0.0
    summary["auto_confirm"] = auto_approve
    summary["runtime_s"] = round(time.perf_counter() - started, 1)
    summary["_trains"], summary["_scores"] = per_train, scores
    return summary


def _rate(hit: np.ndarray, mask: np.ndarray) -> float | None:
    return round(float(hit[mask].mean()), 4) if mask.any() else None


def _count(per_train: list[dict], decision: str, true_fault: bool | None) -> int:
    """Decisions of one kind; with ``true_fault`` only those on crops that hold a fault."""
    return sum(
        1
        for p in per_train
        for d in p["decisions"]
        if d["decision"] == decision
        and (true_fault is None or (d.get("true_fault") is not None) == true_fault)
    )


def summarise(per_train: list[dict], scores: list[dict], fault_types: int) -> dict[str, Any]:
    flags = np.concatenate([s["flags"] for s in scores])
    is_fault = np.concatenate([s["is_fault"] for s in scores])
    critical = np.concatenate([s["critical"] for s in scores])
    unseen = np.concatenate([s["unseen"] for s in scores])
    tri = [p["triage"] for p in per_train]
    seconds = sum(t["seconds"] for t in tri)
    frames = sum(t["frames"] for t in tri)
    crops = sum(t["crops"] for t in tri)
    n = len(per_train)
    return {
        "trains": n,
        "fault_types": fault_types,
        "crops_per_train": round(crops / n, 1),
        "frames_per_train": round(frames / n, 1),
        "faults": int(is_fault.sum()),
        "critical_faults": int(critical.sum()),
        "unseen_faults": int(unseen.sum()),
        "recall": _rate(flags, is_fault),
        "critical_recall": _rate(flags, critical),
        "unseen_fault_recall": _rate(flags, unseen),
        "false_alarms_per_train": round(float((flags & ~is_fault).sum()) / n, 2),
        "images_per_s": round(frames / seconds, 1),
        "crops_per_s": round(crops / seconds, 1),
        "device_ms_per_batch": round(
            float(np.mean([t["device_ms_per_batch"] or 0 for t in tri])), 3
        ),
        "minutes_per_train": round(
            float(np.mean([p["report"]["minutes_per_train"] for p in per_train])), 2
        ),
        "manual_minutes_per_train": round(
            float(np.mean([p["report"]["manual_minutes_per_train"] for p in per_train])), 2
        ),
        "work_orders": sum(len(p["work_orders"]) for p in per_train),
        "work_orders_on_faults": _count(per_train, "confirm", True),
        "false_alarms_rejected": _count(per_train, "reject", None),
        "reinspections": _count(per_train, "re-inspect", None),
        "input_errors": sum(len(t["errors"]) for t in tri),
    }


def run_demo(
    *,
    seed: int = 7,
    trains: int = 5,
    auto_approve: bool = False,
    as_json: bool = False,
    plot: Path | None = None,
    sensitivity: float | None = None,
) -> dict[str, Any]:
    """Entry point of `agentarts demo rail`."""
    if not 1 <= trains <= 50:
        raise UsageError("--trains must be between 1 and 50")
    if sensitivity is not None:
        try:
            check_sensitivity(sensitivity, "--sensitivity")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if not 0 <= seed < 1000:
        raise UsageError("--seed must be between 0 and 999 (higher seeds are training data)")
    if plot is not None and plot.suffix.lower() != ".png":
        raise UsageError("--plot must name a .png file")
    if not auto_approve and not sys.stdin.isatty():
        raise UsageError("not a terminal: pass --auto-confirm to confirm every suspected fault")
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    err = Console(stderr=True)
    with Progress(
        TextColumn("[bold]rail demo[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} trains"),
        console=err,
        disable=as_json or not auto_approve,
        transient=True,
    ) as bar:
        task = bar.add_task(f"seed {seed}", total=trains)
        progress = lambda t: bar.update(task, completed=t + 1)  # noqa: E731
        summary = shift(seed, trains, auto_approve, progress, sensitivity=sensitivity)
    if plot is not None:
        from agentarts.industries.rail.plot import plot_shift

        plot_shift(summary, plot)
    public = {k: v for k, v in summary.items() if not k.startswith("_")}
    if as_json:
        sys.stdout.write(json.dumps(public, indent=2) + "\n")
        return public
    _print(summary, plot)
    return public


def _print(s: dict[str, Any], plot: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console()
    table = Table(title=f"Rail inspection shift: {s['trains']} trains, seed {s['seed']}")
    columns = ("train", "cars", "crops", "suspected", "work orders", "rejected", "minutes (manual)")
    for col in columns:
        table.add_column(col)
    for p in s["_trains"]:
        t, r = p["triage"], p["report"]
        table.add_row(
            t["train_id"],
            str(t["cars"]),
            str(t["crops"]),
            str(len(t["findings"])),
            str(len(p["work_orders"])),
            str(sum(d["decision"] == "reject" for d in p["decisions"])),
            f"{r['minutes_per_train']:.1f} ({r['manual_minutes_per_train']:.1f})",
        )
    out.print(table)
    out.print(
        f"Catalogue {s['fault_types']} fault types. Recall {s['recall']} (critical "
        f"{s['critical_recall']}, unseen modes {s['unseen_fault_recall']}) over {s['faults']} "
        f"faults; {s['false_alarms_per_train']} false alarms per train of "
        f"{s['crops_per_train']:.0f} crops; {s['images_per_s']} images/s, {s['crops_per_s']} "
        f"crops/s; simulated 910B2 {s['device_ms_per_batch']} ms per batch (roofline estimate)"
    )
    out.print(
        f"Gates: {s['work_orders']} work orders ({s['work_orders_on_faults']} on real faults), "
        f"{s['false_alarms_rejected']} findings rejected as false alarms, "
        f"{s['reinspections']} sent to re-inspection"
        + (" (auto-confirm answered from the generator's truth)" if s.get("auto_confirm") else "")
    )
    if s.get("sensitivity"):
        out.print(f"Thresholds lowered by {s['sensitivity']:g} decades ([rail] sensitivity)")
    out.print(s["_trains"][-1]["report"]["text"], markup=False)  # "[critical]" is text
    if plot is not None:
        out.print(f"plot: {plot}")
