"""Every Python example in README.md runs."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})


def test_readme_names_the_ci_test_command():
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in (REPO / "README.md").read_text()


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
