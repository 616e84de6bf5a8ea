"""`agentarts --help` and every `<command> --help` stay light (docs/architecture.md)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_python

HEAVY = ["langgraph", "onnxruntime", "fastapi", "torch", "matplotlib", "uvicorn", "copier"]


def _loaded_after(argv: list[str]) -> tuple[int, list[str], str]:
    code = (
        "import sys, json\n"
        "from agentarts.cli.main import app\n"
        "try:\n"
        f"    app({argv!r}, prog_name='agentarts')\n"
        "except SystemExit as exc:\n"
        "    code = exc.code or 0\n"
        f"sys.stderr.write(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
        "sys.exit(code)\n"
    )
    out = run_python(code)
    return out.returncode, json.loads(out.stderr.strip().splitlines()[-1]), out.stdout


def _commands() -> list[list[str]]:
    from typer.main import get_command

    from agentarts.cli.main import app

    group = get_command(app)
    found: list[list[str]] = []

    def walk(cmd, prefix):
        for name, sub in getattr(cmd, "commands", {}).items():
            found.append([*prefix, name])
            walk(sub, [*prefix, name])

    walk(group, [])
    return found


def test_top_level_help_is_light():
    code, heavy, stdout = _loaded_after(["--help"])
    assert code == 0
    assert "new" in stdout and "doctor" in stdout
    assert heavy == []


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_command_help_is_light(command):
    code, heavy, stdout = _loaded_after([*command, "--help"])
    assert code == 0
    assert "Usage" in stdout
    assert heavy == []


def test_version(runner, cli):
    import agentarts

    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"agentarts {agentarts.__version__}"


def test_unknown_command_is_one_line_exit_2(runner, cli):
    result = runner.invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:")


def test_a_group_with_no_command_shows_its_help_then_one_error_line(runner, cli):
    """`agentarts runs` printed its whole help folded into one `error:` line."""
    result = runner.invoke(cli, ["runs"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Usage: ") and "Commands:" in lines
    assert lines[-1] == "error: missing command"
