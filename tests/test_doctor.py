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
