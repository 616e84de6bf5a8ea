"""Bad input found by a new user's walk through the docs: one ``error:`` line, exit 2."""

from __future__ import annotations

import json
import math

import pytest


def _one_error_line(result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "steel", "--seed", "-1", "--hours", "9", "--auto-approve"],
        ["demo", "weather", "--seed", "-5", "--days", "1", "--auto-approve"],
        ["train", "steel", "--seed", "-1"],
    ],
)
def test_negative_seed_is_refused(runner, cli, args: list[str]) -> None:
    assert "--seed" in _one_error_line(runner.invoke(cli, args))


def test_weather_demo_refuses_nan_days(runner, cli) -> None:
    from agentarts.errors import UsageError
    from agentarts.industries.weather.demo import run_demo

    with pytest.raises(UsageError, match="--days"):
        run_demo(days=math.nan, auto_approve=True)
    line = _one_error_line(
        runner.invoke(cli, ["demo", "weather", "--days", "nan", "--auto-approve"])
    )
    assert "--days" in line


def test_verify_of_an_unknown_thread_is_an_error(runner, cli) -> None:
    line = _one_error_line(runner.invoke(cli, ["runs", "verify", "no-such-thread"]))
    assert "no run with thread id 'no-such-thread'" in line
    assert runner.invoke(cli, ["runs", "verify"]).exit_code == 0  # all (none) still checks out


def test_show_prints_the_threads_alerts_and_work_orders(runner, cli) -> None:
    """``runs show`` says it shows alerts and work orders; the text view printed neither."""
    from agentarts.config import load_settings
    from agentarts.store import RunStore

    args = ["run", "examples.tank_agent.agent:builder", "--input", '{"tank_id": "T-2"}']
    assert runner.invoke(cli, [*args, "--thread", "t-show"]).exit_code == 0
    store = RunStore(load_settings().database_url)
    try:
        run_id = store.latest_run_id("t-show")
        store.add_alert("t-show", run_id, "warning", "TANK_HIGH", "level above 90 %")
        store.add_work_order("t-show", run_id, "T-2", "inspect the level switch", priority="high")
    finally:
        store.close()
    result = runner.invoke(cli, ["runs", "show", "t-show"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "alert warning TANK_HIGH: level above 90 %" in result.stdout
    assert "work order 1 (high, open) T-2: inspect the level switch" in result.stdout


def test_runtime_models_names_the_simulated_card(runner, cli) -> None:
    """The timing column was headed "910B2" whatever card the settings simulate."""
    env = {"AGENTARTS_DEVICES": "310P", "COLUMNS": "200"}
    result = runner.invoke(cli, ["runtime", "models"], env=env)
    assert result.exit_code == 0, result.stderr
    assert "simulated 310P time of one row" in result.stdout
    assert "910B2" not in result.stdout
    assert "x[N,36,14]" in result.stdout  # tensors print without spaces, so they wrap whole


def test_runtime_models_fits_80_columns(runner, cli) -> None:
    """At 80 columns every tensor column folded each row over five lines."""
    result = runner.invoke(cli, ["runtime", "models"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == len({line.split("│")[1].strip() for line in rows}) >= 3  # one line each
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "inputs and outputs: --json or a wider" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["runtime", "plan", "bf_thermal", "--qps", "nan", "--p99-ms", "1"],
        ["runtime", "plan", "bf_thermal", "--qps", "1", "--p99-ms", "inf"],
        ["runtime", "models", "--model-repository", "no-such-folder"],
        ["runtime", "plan", "bf_thermal", "--qps", "1", "--p99-ms", "1", "--model-repository", "x"],
        ["runtime", "serve", "--port", "18849", "--model-repository", "no-such-folder"],
    ],
)
def test_runtime_bad_numbers_and_missing_repositories(runner, cli, args: list[str]) -> None:
    """NaN reached ``math.ceil`` (traceback); a mistyped repository was silently ignored."""
    line = _one_error_line(runner.invoke(cli, args))
    assert "--qps" in line or "--model-repository" in line


def test_a_failed_run_is_listed_and_shown_as_failed(runner, cli) -> None:
    """The checkpoint of a run whose node raised waits at that node ("interrupted", as after
    a crash); the CLI showed that instead of the recorded "failed" (the server shows failed)."""
    args = ["run", "examples.tank_agent.agent:builder", "--input", '{"tank_id": "T-9"}']
    assert runner.invoke(cli, [*args, "--thread", "t-fail"]).exit_code == 1
    listed = json.loads(runner.invoke(cli, ["runs", "list", "--json"]).stdout)["runs"]
    assert [r["status"] for r in listed if r["thread_id"] == "t-fail"] == ["failed"]
    shown = json.loads(runner.invoke(cli, ["runs", "show", "t-fail", "--json"]).stdout)
    assert shown["status"] == "failed"
    resumed = runner.invoke(cli, ["runs", "resume", "t-fail", "--json"])  # still retryable
    assert resumed.exit_code == 1 and json.loads(resumed.stdout)["status"] == "failed"


def _commands(group, path=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_option_says_what_it_does() -> None:
    """``--help`` of every command explains every option (serve's --session-hours said nothing)."""
    import typer.main

    from agentarts.cli.main import app

    silent = [
        f"agentarts {' '.join(path)} {param.opts[0]}"
        for path, command in _commands(typer.main.get_command(app))
        for param in command.params
        if param.param_type_name == "option" and not (getattr(param, "help", None) or "").strip()
    ]
    assert silent == []


def test_runs_help_names_every_subcommand(runner, cli) -> None:
    text = " ".join(runner.invoke(cli, ["runs", "--help"], env={"COLUMNS": "200"}).stdout.split())
    for name in ("list", "show", "approve", "reject", "resume", "resolve", "verify", "export"):
        assert name in text.split("Inspect and steer runs:")[1].split(".")[0], name


def test_runtime_serve_backlog_below_one_is_refused(runner, cli):
    assert "--backlog" in _one_error_line(
        runner.invoke(cli, ["runtime", "serve", "--backlog", "0"])
    )
