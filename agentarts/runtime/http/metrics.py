"""Prometheus text for ``GET /metrics``: Triton's counters with an ``agentarts_`` prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentarts.runtime.batching.admission import REFUSAL_BUCKETS_S

if TYPE_CHECKING:
    from agentarts.runtime.batching.admission import Admission
    from agentarts.runtime.local import LocalRuntime

__all__ = ["render_metrics"]

_COUNTERS = [
    ("inference_request_success", "request_success", "Number of successful inference requests"),
    ("inference_request_failure", "request_failure", "Number of failed inference requests"),
    ("inference_count", "inference_count", "Number of inferences (rows) performed"),
    ("inference_exec_count", "exec_count", "Number of model executions (batches) performed"),
    ("inference_request_duration_us", "request_us", "Cumulative request duration in us"),
    ("inference_queue_duration_us", "queue_us", "Cumulative time requests spent queued in us"),
    ("inference_compute_infer_duration_us", "compute_us", "Cumulative compute time in us"),
]


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _refusal_histogram(admission: Admission) -> list[str]:
    """The time each 429 took inside the server, as a Prometheus histogram (seconds)."""
    name = "agentarts_admission_refusal_seconds"
    lines = [
        f"# HELP {name} Time from a refused request's ASGI call (its head parsed) to its 429 "
        "handed to the transport",
        f"# TYPE {name} histogram",
    ]
    total = 0
    for bound, count in zip(
        (*REFUSAL_BUCKETS_S, float("inf")), admission.refusal_buckets, strict=True
    ):
        total += count
        le = "+Inf" if bound == float("inf") else f"{bound:g}"
        lines.append(f'{name}_bucket{{le="{le}"}} {total}')
    lines += [f"{name}_sum {admission.refusal_sum_s:.6f}", f"{name}_count {total}"]
    return lines


def render_metrics(
    runtime: LocalRuntime,
    http_errors: dict[int, int] | None = None,
    refused: int = 0,
    waited: int = 0,
    admission: Admission | None = None,
    fast_requests: int | None = None,
) -> str:
    """Prometheus exposition text for every loaded model and every simulated card, plus the
    front end's error answers by HTTP status, its admission refusals and (with ``admission``)
    the refusal-time histogram."""
    lines: list[str] = []
    if admission is not None:
        refused, waited = admission.refused, admission.waited
    if http_errors is not None:
        name = "agentarts_http_error_responses"
        lines += [f"# HELP {name} Error answers sent, by HTTP status", f"# TYPE {name} counter"]
        lines += [f'{name}{{status="{code}"}} {n}' for code, n in sorted(http_errors.items())]
        name = "agentarts_admission_refused"
        lines += [
            f"# HELP {name} Requests refused (429) before their body was read",
            f"# TYPE {name} counter",
            f"{name} {refused}",
        ]
        name = "agentarts_admission_waited"
        lines += [
            f"# HELP {name} Requests that waited, body unread, for a slot and were then admitted",
            f"# TYPE {name} counter",
            f"{name} {waited}",
        ]
        if admission is not None:
            lines += _refusal_histogram(admission)
    if fast_requests is not None:
        name = "agentarts_http_fast_path_requests"
        lines += [
            f"# HELP {name} Infer requests taken inside the HTTP protocol (no ASGI cycle)",
            f"# TYPE {name} counter",
            f"{name} {fast_requests}",
        ]
    models = runtime.loaded()
    for metric, attr, help_text in _COUNTERS:
        name = f"agentarts_{metric}"
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        for lm in models:
            value = getattr(lm.batcher.stats, attr)
            labels = f'model="{_esc(lm.name)}",version="{_esc(lm.version)}"'
            lines.append(
                f"{name}{{{labels}}} {value:g}"
                if isinstance(value, float)
                else f"{name}{{{labels}}} {value}"
            )
    name = "agentarts_inference_queue_depth"
    lines += [f"# HELP {name} Requests waiting in the batcher queue", f"# TYPE {name} gauge"]
    for lm in models:
        lines.append(
            f'{name}{{model="{_esc(lm.name)}",version="{_esc(lm.version)}"}} '
            f"{lm.batcher.queue_depth}"
        )
    gauges = [
        (
            "agentarts_device_hbm_total_bytes",
            "hbm_total_bytes",
            "gauge",
            "Simulated device memory capacity",
        ),
        (
            "agentarts_device_hbm_used_bytes",
            "hbm_used_bytes",
            "gauge",
            "Simulated device memory reserved by loaded models",
        ),
        (
            "agentarts_device_busy_us",
            "busy_us",
            "counter",
            "Simulated device busy time (roofline estimate) in us",
        ),
    ]
    cards = runtime.devices_status()
    for name, key, kind, help_text in gauges:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for card in cards:
            lines.append(
                f'{name}{{device="{card["index"]}",profile="{_esc(card["profile"])}"}} '
                f"{card[key]:g}"
            )
    return "\n".join(lines) + "\n"
