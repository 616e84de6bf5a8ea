"""`agentarts doctor` reports the installation and fails with a fix hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentarts import doctor
from tests.test_cli_fuzz import REF, invoke, playground, problems, root  # noqa: F401


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


# -- damaged databases through the CLI (the fuzz harness: forked, guarded, time-boxed) --------
@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Path:
    """The fuzz harness's playground, with HOME and the data dir inside it."""
    return request.getfixturevalue("root")


def _damaged(sandbox: Path, kind: str) -> Path:
    """A database path of ``kind``: garbage bytes, a truncated SQLite file, a folder."""
    path = sandbox / "damaged" / f"{kind}.db"
    path.parent.mkdir(exist_ok=True)
    if kind == "garbage" and not path.exists():
        path.write_bytes(bytes(range(256)) * 32)
    elif kind == "truncated" and not path.exists():
        # a real store cut after its first page: the header promises pages that are not there
        import sqlite3

        whole = sandbox / "damaged" / "whole.db"
        with sqlite3.connect(whole) as conn:
            conn.execute("CREATE TABLE agentarts_schema_version (id INTEGER, version INTEGER)")
            conn.execute("CREATE TABLE filler (x)")
            conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,)] * 200)
        path.write_bytes(whole.read_bytes()[:1500])
    elif kind == "folder":
        path.mkdir(exist_ok=True)
    return path


@pytest.mark.parametrize("kind", ["garbage", "truncated", "folder"])
@pytest.mark.parametrize(
    "args",
    [["runs", "show", "t-1"], ["run", REF, "--input", '{"tank_id": "T-2"}']],
    ids=["runs-show", "run"],
)
def test_damaged_database_is_one_line_exit_2(
    sandbox: Path, monkeypatch, kind: str, args: list[str]
):
    path = _damaged(sandbox, kind)
    before = path.read_bytes() if path.is_file() else None
    monkeypatch.setenv("AGENTARTS_DATABASE_URL", f"sqlite:///{path}")
    out = invoke(args, sandbox)
    assert not problems(args, out), problems(args, out)
    assert out["exit_code"] == 2, (out["exit_code"], out["stderr"][-300:])
    assert out["stderr"].startswith("error:") and out["stderr"].count("\n") == 1, out["stderr"]
    assert str(path) in out["stderr"]
    assert (path.read_bytes() if path.is_file() else None) == before  # left as it was


def test_emptied_schema_version_table_is_repaired(sandbox: Path, monkeypatch) -> None:
    import sqlite3

    path = sandbox / "damaged" / "emptied.db"
    path.parent.mkdir(exist_ok=True)
    monkeypatch.setenv("AGENTARTS_DATABASE_URL", f"sqlite:///{path}")
    made = ["run", REF, "--input", '{"tank_id": "T-2"}', "--thread", "t-kept"]
    assert invoke(made, sandbox)["exit_code"] == 0
    with sqlite3.connect(path) as conn:
        (version,) = conn.execute("SELECT version FROM agentarts_schema_version").fetchone()
        conn.execute("DELETE FROM agentarts_schema_version")
    out = invoke(["runs", "list", "--json"], sandbox)
    assert out["exit_code"] == 0 and not problems([], out), out
    assert "t-kept" in out["stdout"]
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT version FROM agentarts_schema_version").fetchall()
    assert rows == [(version,)]
