"""Capacity planning: the discrete-event simulation matches queueing theory; plans make sense."""

from __future__ import annotations

import json

import pytest

from agentarts.runtime.devices.planner import plan_capacity, simulate_batcher


def test_simulation_matches_md1_mean_wait():
    # batch size 1, deterministic service s: M/D/1 with mean wait rho*s / (2 (1 - rho))
    s, rate = 1e-3, 700.0
    rho = rate * s
    sim = simulate_batcher(lambda b: s * b, rate, max_batch=1, requests=60_000, seed=1)
    assert sim["utilization"] == pytest.approx(rho, rel=0.03)
    mean_wait = rho * s / (2 * (1 - rho))
    # p50 of the sojourn time sits below the mean wait + service; check the mean via p50 band
    assert s <= sim["p50_s"] <= s + 2 * mean_wait
    assert sim["p99_s"] > s + mean_wait


def test_batching_raises_capacity():
    batch_time = lambda b: 1e-3 + 1e-5 * b  # noqa: E731 - fixed cost dominates, as on an NPU
    alone = simulate_batcher(batch_time, 900.0, max_batch=1, requests=20_000)
    batched = simulate_batcher(batch_time, 900.0, max_batch=32, requests=20_000)
    assert batched["mean_batch"] > 1 and batched["p99_s"] < alone["p99_s"]


def test_plan_needs_more_cards_for_more_load():
    batch_time = lambda b: 1e-3 + 1e-5 * b  # noqa: E731
    small = plan_capacity("m", "910B2", batch_time, qps=500, p99_ms=20, requests=4000)
    big = plan_capacity("m", "910B2", batch_time, qps=50_000, p99_ms=20, requests=4000)
    assert small.recommended is not None and big.recommended is not None
    assert small.recommended.cards == 1
    assert big.recommended.cards > small.recommended.cards
    assert big.recommended.p99_ms <= 20
    assert big.recommended.cards * big.recommended.card_capacity_rps >= 50_000


def test_impossible_target_has_no_recommendation():
    result = plan_capacity("m", "910B2", lambda b: 5e-3, qps=10, p99_ms=1)
    assert result.recommended is None


def test_plan_cli_json(runner, cli, repo):
    result = runner.invoke(
        cli,
        [
            "runtime",
            "plan",
            "mlp",
            "--qps",
            "20000",
            "--p99-ms",
            "2",
            "--model-repository",
            str(repo),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["recommended"]["cards"] >= 1 and plan["recommended"]["p99_ms"] <= 2
    assert plan["device"] == "910B2"


@pytest.mark.parametrize(
    "args", [["--qps", "0", "--p99-ms", "1"], ["--qps", "5", "--p99-ms", "-1"]]
)
def test_plan_cli_bad_numbers(runner, cli, repo, args):
    result = runner.invoke(cli, ["runtime", "plan", "mlp", *args, "--model-repository", str(repo)])
    assert result.exit_code == 2 and result.stderr.startswith("error:")


def test_plan_cli_unknown_model_and_device(runner, cli, repo):
    result = runner.invoke(
        cli,
        ["runtime", "plan", "nope", "--qps", "1", "--p99-ms", "1", "--model-repository", str(repo)],
    )
    assert result.exit_code == 2 and "unknown model" in result.stderr
    result = runner.invoke(
        cli,
        [
            "runtime",
            "plan",
            "mlp",
            "--qps",
            "1",
            "--p99-ms",
            "1",
            "--device",
            "H100",
            "--model-repository",
            str(repo),
        ],
    )
    assert result.exit_code == 2 and "device spec" in result.stderr
