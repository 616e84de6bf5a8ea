"""`agentarts doctor` reports the installation and fails with a fix hint."""

from __future__ import annotations

import json

from agentarts import doctor


def test_doctor_json_ok(runner, cli):
    result = runner.invoke(cli, ["doctor", "--json"])
    assert result.exit_code == 0, result.stdout
    report = json.loads(result.stdout)
    names = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is True
    assert "CPUExecutionProvider" in names["onnxruntime providers"]["detail"]
    assert names["data dir"]["status"] == "ok"
    assert names["database"]["detail"].startswith("sqlite:///")


def test_doctor_fails_with_hint_when_a_dependency_is_missing(runner, cli, monkeypatch):
    monkeypatch.setattr(doctor, "REQUIRED", (*doctor.REQUIRED, "surely-not-installed-pkg"))
    result = runner.invoke(cli, ["doctor", "--json"])
    assert result.exit_code == 1
    failed = [c for c in json.loads(result.stdout)["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == ["surely-not-installed-pkg"]
    assert "pip install" in failed[0]["fix"]


def test_doctor_unwritable_data_dir(runner, cli, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("AGENTARTS_DATA_DIR", str(blocker / "sub"))
    result = runner.invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert "data dir" in result.stdout


def test_doctor_bad_settings_file(runner, cli, monkeypatch, tmp_path):
    (tmp_path / "agentarts.toml").write_text("this is = = not toml")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["doctor", "--json"])
    assert result.exit_code == 1
    failed = [c for c in json.loads(result.stdout)["checks"] if c["status"] == "fail"]
    assert failed[0]["name"] == "settings"


def _database(monkeypatch, path) -> None:
    monkeypatch.setenv("AGENTARTS_DATABASE_URL", f"sqlite:///{path}")


def test_doctor_names_a_database_file_that_is_not_one(runner, cli, monkeypatch, tmp_path):
    import os
    import sqlite3

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(4096))
    folder = tmp_path / "folder.db"
    folder.mkdir()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(b"SQLite format 3\x00" + b"\x10\x00" + b"\x00" * 10)
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    for path, words in [
        (garbage, "not a usable SQLite database"),
        (folder, "not a file"),
        (truncated, "not a usable SQLite database"),
        (foreign, "not an AgentArts run store"),
    ]:
        before = path.read_bytes() if path.is_file() else None
        _database(monkeypatch, path)
        result = runner.invoke(cli, ["doctor", "--json"])
        assert result.exit_code == 1, path
        checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
        assert checks["database"]["status"] == "fail" and words in checks["database"]["detail"]
        assert "move the file aside" in checks["database"]["fix"]
        assert (path.read_bytes() if path.is_file() else None) == before  # read-only look


def test_doctor_accepts_a_missing_or_real_run_store(runner, cli, monkeypatch, tmp_path):
    from agentarts.store import RunStore

    _database(monkeypatch, tmp_path / "new.db")
    assert runner.invoke(cli, ["doctor", "--json"]).exit_code == 0
    assert not (tmp_path / "new.db").exists()
    RunStore(f"sqlite:///{tmp_path / 'real.db'}").close()
    _database(monkeypatch, tmp_path / "real.db")
    assert runner.invoke(cli, ["doctor", "--json"]).exit_code == 0
