"""Capacity planning: how many cards and which batch settings meet a QPS and p99 target.

Per card, the batch service time t(b) comes from the roofline cost model. For each candidate
``max_batch_size`` B and queue delay d, a fixed point gives the steady-state batch size
b = min(B, max(1, lambda_card x (t(b) + d))) and the utilisation rho = lambda_card x t(b) / b;
configurations with rho >= 1 are unstable. The p99 latency of each stable candidate is then
measured by a discrete-event simulation of the batcher (Poisson arrivals, Triton's rule: the
device takes up to B queued requests when it frees, waiting at most d for more), which is what
the plan reports. Limits: device time only (no host, network or (de)serialisation time); one
model per card; requests of one row; Poisson arrivals.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agentarts.errors import UsageError

__all__ = ["PlanOption", "PlanResult", "plan_capacity", "simulate_batcher"]

BatchTime = Callable[[int], float]  # rows -> seconds on one card


def simulate_batcher(
    batch_time: BatchTime,
    rate: float,
    max_batch: int,
    delay_s: float = 0.0,
    requests: int = 20_000,
    seed: int = 0,
) -> dict[str, float]:
    """Latency percentiles (seconds) of one card under Poisson arrivals at ``rate`` per second."""
    rng = random.Random(seed)
    arrivals, t = [], 0.0
    for _ in range(requests):
        t += rng.expovariate(rate)
        arrivals.append(t)
    latencies: list[float] = []
    queue: deque[float] = deque()
    i, now, busy_until = 0, 0.0, 0.0
    batches = rows = 0
    busy = 0.0
    while i < len(arrivals) or queue:
        if not queue:
            now = max(now, arrivals[i])
        # admit everything that arrived by now
        while i < len(arrivals) and arrivals[i] <= now:
            queue.append(arrivals[i])
            i += 1
        now = max(now, busy_until)
        while i < len(arrivals) and arrivals[i] <= now:
            queue.append(arrivals[i])
            i += 1
        if delay_s > 0 and len(queue) < max_batch:
            until = queue[0] + delay_s
            while len(queue) < max_batch and i < len(arrivals) and arrivals[i] <= until:
                queue.append(arrivals[i])
                now = max(now, arrivals[i])
                i += 1
            if len(queue) < max_batch:
                now = max(now, until)
        take = min(len(queue), max_batch)
        service = batch_time(take)
        busy += service
        finish = now + service
        for _ in range(take):
            latencies.append(finish - queue.popleft())
        busy_until = finish
        now = finish
        batches += 1
        rows += take
    latencies.sort()
    warm = latencies[len(latencies) // 10 :]  # drop the warm-up tenth

    def pct(p: float) -> float:
        return warm[min(len(warm) - 1, int(p * len(warm)))]

    span = max(busy_until - arrivals[0], 1e-12)
    return {
        "p50_s": pct(0.50),
        "p99_s": pct(0.99),
        "mean_batch": rows / max(1, batches),
        "utilization": busy / span,
    }


@dataclass(frozen=True)
class PlanOption:
    cards: int
    max_batch_size: int
    max_queue_delay_us: int
    mean_batch: float
    utilization: float
    card_capacity_rps: float
    p50_ms: float
    p99_ms: float
    meets_target: bool


@dataclass(frozen=True)
class PlanResult:
    model: str
    device: str
    qps: float
    p99_target_ms: float
    recommended: PlanOption | None
    options: tuple[PlanOption, ...]
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "qps": self.qps,
            "p99_target_ms": self.p99_target_ms,
            "recommended": asdict(self.recommended) if self.recommended else None,
            "options": [asdict(o) for o in self.options],
            "notes": list(self.notes),
        }


def _steady_batch(batch_time: BatchTime, rate: float, max_batch: int, delay_s: float) -> int:
    b = 1
    for _ in range(64):
        nxt = min(max_batch, max(1, math.ceil(rate * (batch_time(b) + delay_s))))
        if nxt == b:
            break
        b = nxt
    return b


def plan_capacity(
    model: str,
    device: str,
    batch_time: BatchTime,
    qps: float,
    p99_ms: float,
    *,
    batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128),
    delays_us: Sequence[int] = (0, 100, 500, 2000),
    max_cards: int = 4096,
    max_utilization: float = 0.8,
    requests: int = 20_000,
    seed: int = 0,
) -> PlanResult:
    """Fewest cards (then lowest p99) whose simulated p99 meets ``p99_ms`` at ``qps``.

    ``max_utilization`` keeps headroom: a card busier than that (simulated) does not count as
    meeting the target, since a small rise in load would then blow the latency up.
    """
    if qps <= 0 or p99_ms <= 0:
        raise UsageError("--qps and --p99-ms must be positive")
    target = p99_ms / 1000
    options: list[PlanOption] = []
    for size in batch_sizes:
        capacity = size / batch_time(size)  # rows per second per card at full batches
        for delay_us in delays_us:
            delay = delay_us / 1e6
            cards = max(1, math.ceil(qps / capacity))
            while cards <= max_cards:
                rate = qps / cards
                b = _steady_batch(batch_time, rate, size, delay)
                rho = rate * batch_time(b) / b
                # Fewer than 5 batch service times of slack cannot meet the target either.
                if rho < 0.97 and 2 * batch_time(b) + delay <= target:
                    sim = simulate_batcher(batch_time, rate, size, delay, requests, seed)
                    ok = sim["p99_s"] <= target and sim["utilization"] <= max_utilization
                    if ok or cards >= max_cards:
                        options.append(
                            PlanOption(
                                cards,
                                size,
                                delay_us,
                                round(sim["mean_batch"], 2),
                                round(sim["utilization"], 3),
                                round(capacity, 1),
                                round(sim["p50_s"] * 1e3, 4),
                                round(sim["p99_s"] * 1e3, 4),
                                ok,
                            )
                        )
                        break
                elif 2 * batch_time(1) + delay > target:
                    break  # even an idle card is too slow with this delay
                cards = cards + 1 if cards < 16 else math.ceil(cards * 1.1)
    meeting = [o for o in options if o.meets_target]
    best = min(meeting, key=lambda o: (o.cards, o.p99_ms)) if meeting else None
    notes = (
        "device time from the roofline cost model (an estimate, not a measurement)",
        f"a card counts only up to {max_utilization:.0%} simulated utilisation (headroom)",
        "excludes host, network and serialisation time; Poisson arrivals of one-row requests",
    )
    options.sort(key=lambda o: (not o.meets_target, o.cards, o.p99_ms))
    return PlanResult(model, device, qps, p99_ms, best, tuple(options), notes)
