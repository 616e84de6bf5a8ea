"""Bad input found by a new user's walk through the docs: one ``error:`` line, exit 2."""

from __future__ import annotations

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
