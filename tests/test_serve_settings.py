"""`[serve]` in agentarts.toml (docs/serve.md): flags win, then the file, then the defaults;
a wrong value is one ``error:`` line and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from agentarts.cli._serve import serve_settings


def test_defaults_file_values_and_flags():
    assert serve_settings({}, None, None, None) == (False, 12.0, 30.0)
    section = {"four_eyes": True, "session_hours": 8, "idle_minutes": 15.5}
    assert serve_settings(section, None, None, None) == (True, 8.0, 15.5)
    # flags win, even over a value the file gets wrong
    bad = {"four_eyes": "no", "session_hours": "abc", "idle_minutes": -1}
    assert serve_settings(bad, False, 1.0, 5.0) == (False, 1.0, 5.0)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"session_hours": "abc"}, "session_hours"),
        ({"session_hours": 0}, "session_hours"),
        ({"session_hours": True}, "session_hours"),
        ({"idle_minutes": -1}, "idle_minutes"),
        ({"idle_minutes": float("nan")}, "idle_minutes"),
        ({"four_eyes": "no"}, "four_eyes"),
        ({"four_eyes": 1}, "four_eyes"),
    ],
)
def test_a_wrong_value_is_a_usage_error_naming_the_key(section, key, capsys):
    with pytest.raises(typer.Exit) as caught:
        serve_settings(section, None, None, None)
    assert caught.value.exit_code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: [serve] {key} ")


def test_serve_refuses_a_wrong_file_value_before_listening(runner, cli, tmp_path, monkeypatch):
    from agentarts import server
    from agentarts.config import load_settings

    project = tmp_path / "plant"
    project.mkdir()
    (project / "agentarts.toml").write_text('[serve]\nsession_hours = "twelve"\n')
    monkeypatch.setattr(
        server, "load_project_agents", lambda folder, refs: (load_settings(Path(folder)), [])
    )
    result = runner.invoke(cli, ["serve", str(project), "--port", "19349"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: [serve] session_hours in agentarts.toml must be a number >= 0.01, not 'twelve'\n"
    )
    assert result.stdout == ""
