"""Every Python example in README.md runs."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


#: ``print(...)  # expected`` in a README block: the printed line must show what the comment says.
_PRINT_WITH_COMMENT = re.compile(r"^\s*print\(.*\)\s+#\s*(?P<expected>.+)$")


def expected_prints(code: str) -> list[str | None]:
    """One entry per top-level ``print`` line: the comment's expectation, or None."""
    out: list[str | None] = []
    for line in code.splitlines():
        if line.lstrip().startswith("print("):
            match = _PRINT_WITH_COMMENT.match(line)
            out.append(match["expected"].strip() if match else None)
    return out


def matches(expected: str, printed: str) -> bool:
    """``"completed {'loop': 'TIC-101', ...}"`` matches a line holding those parts in order."""
    position = 0
    for part in (p.strip() for p in expected.split("...")):
        found = printed.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def test_matches_is_strict():
    assert matches("completed {'loop': 'TIC-101', ...}", "completed {'loop': 'TIC-101', 'v': 1}")
    assert not matches("completed", "failed")
    assert expected_prints("print(a)  # done\nprint(b)\n") == ["done", None]


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out.splitlines()
    expected = expected_prints(code)
    # every top-level print ran (one line each), and each commented one printed what it says
    assert len(printed) == len(expected), printed
    for want, got in zip(expected, printed, strict=True):
        assert want is None or matches(want, got), (want, got)


def test_readme_agent_example_checks_its_statuses():
    """The agent block's statuses are checked, so a run that fails cannot pass silently."""
    agent_blocks = [b for b in BLOCKS if "agent.run(" in b]
    assert agent_blocks
    for block in agent_blocks:
        wanted = [e for e in expected_prints(block) if e]
        assert any(e.startswith("waiting_approval") for e in wanted)
        assert any(e.startswith("completed") for e in wanted)


def test_ci_runs_the_readme_set_up_commands():
    """The two commands of the README's "Set up" are lines of .ci/run, verbatim."""
    setup = (REPO / "README.md").read_text().split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = [b.split("```", 1)[0].strip() for b in setup.split("```bash\n")[1:]]
    assert len(commands) == 2, commands
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    for command in commands:
        assert command in ci_lines, command


def _cli_lines() -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    block = text.split("## CLI at a glance", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        words = line.split()
        if not words or words[0] != "agentarts":
            continue
        path = []
        for word in words[1:]:
            if not word.isidentifier() or word.isupper():
                break
            path.append(word)
        if path:
            commands.append(path)
    return commands


@pytest.mark.parametrize("command", _cli_lines(), ids=" ".join)
def test_readme_cli_commands_exist(runner, cli, command):
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.stderr


def test_repository_is_self_contained():
    """Code and docs cite docs/architecture.md and docs/sources.md, never a design file kept
    outside the repository."""
    import subprocess

    assert (REPO / "docs" / "architecture.md").is_file()
    assert (REPO / "docs" / "sources.md").is_file()
    found = subprocess.run(
        ["git", "grep", "-n", "-I", "DESIGN" + ".md", "--", ".", ":!tests/test_docs.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if found.returncode == 128:
        pytest.skip("not a git checkout")
    assert found.stdout == "", found.stdout


def _contract_lines(path: str, heading: str) -> list[tuple[str | None, list[str]]]:
    """(command, --flags) for each line of the first code block under ``heading``; a
    continuation line belongs to the command of the last ``agentarts X`` line above it."""
    text = (REPO / path).read_text()
    block = text.split(heading, 1)[1].split("```", 2)[1]
    out: list[tuple[str | None, list[str]]] = []
    command: str | None = None
    for line in block.splitlines():
        words = line.split()
        if words[:1] == ["agentarts"]:
            command = words[1] if len(words) > 1 and not words[1].startswith("-") else None
        out.append((command, re.findall(r"(?<![\w-])--[a-z0-9][a-z0-9-]*", line)))
    return out


def _options_under(command) -> set[str]:
    found = {o for p in command.params for o in (*p.opts, *getattr(p, "secondary_opts", ()))}
    for sub in getattr(command, "commands", {}).values():
        found |= _options_under(sub)
    return found


@pytest.mark.parametrize(
    ("path", "heading"),
    [("docs/architecture.md", "## CLI contract"), ("README.md", "## CLI at a glance")],
)
def test_cli_synopses_match_the_cli(cli, path, heading):
    """Every command of the synopsis exists and every --flag it names is one of its options."""
    import typer

    root = typer.main.get_command(cli)
    lines = _contract_lines(path, heading)
    assert {c for c, _ in lines} >= {"new", "run", "runs", "serve", "users", "runtime", "train"}
    for command, flags in lines:
        target = root if command is None else root.commands.get(command)
        assert target is not None, f"agentarts {command} is not a command"
        options = _options_under(target) | {"--help", "--version"}
        missing = [f for f in flags if f not in options]
        assert not missing, f"agentarts {command}: no option {missing}"
