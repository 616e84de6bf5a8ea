"""`agentarts upgrade` re-applies a newer template and keeps the user's edits."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from agentarts import plugins


def _git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def project(runner, cli, tmp_path) -> Path:
    result = runner.invoke(cli, ["new", "acme", "-o", str(tmp_path), "--no-input"])
    assert result.exit_code == 0, result.stderr
    return tmp_path / "acme"


@pytest.fixture
def newer_template(tmp_path, monkeypatch) -> Path:
    """A copy of the blank template, one version newer, with a changed README section."""
    bundled = plugins.BLANK.template_dir()
    copy = tmp_path / "blank-next"
    shutil.copytree(bundled, copy, ignore=shutil.ignore_patterns("__pycache__"))
    major, minor, patch = (copy / "VERSION").read_text().strip().split(".")
    (copy / "VERSION").write_text(f"{major}.{int(minor) + 1}.{patch}\n")
    readme = copy / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\n## Deploying\n\nTemplate change: deploy notes.\n")
    monkeypatch.setattr(
        plugins,
        "BLANK",
        plugins.IndustryPack(name="blank", title="Blank", description="d", template=str(copy)),
    )
    return copy


def test_upgrade_keeps_user_edit_and_applies_template_change(runner, cli, project, newer_template):
    tools = project / "src" / "acme" / "tools.py"
    tools.write_text(tools.read_text().replace('"P-102"', '"P-201"'))
    _git(project, "commit", "-qam", "rename pump")
    result = runner.invoke(cli, ["upgrade", str(project), "--json"])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["upgraded"] is True and info["conflicts"] == []
    assert info["new_version"] == (newer_template / "VERSION").read_text().strip()
    assert '"P-201"' in tools.read_text() and '"P-102"' not in tools.read_text()
    assert "Template change: deploy notes." in (project / "README.md").read_text()
    answers = (project / ".copier-answers.yml").read_text()
    assert f"_commit: v{info['new_version']}" in answers
    assert "_src_path: .agentarts-template.bundle" in answers
    # a second upgrade is a no-op once committed
    _git(project, "commit", "-qam", "upgrade")
    again = runner.invoke(cli, ["upgrade", str(project), "--json"])
    assert json.loads(again.stdout)["upgraded"] is False


def test_upgrade_up_to_date(runner, cli, project):
    result = runner.invoke(cli, ["upgrade", str(project)])
    assert result.exit_code == 0
    assert "up to date" in result.stdout


def test_upgrade_refuses_dirty_project(runner, cli, project, newer_template):
    (project / "README.md").write_text("uncommitted")
    result = runner.invoke(cli, ["upgrade", str(project)])
    assert result.exit_code == 2
    assert "uncommitted changes" in result.stderr
    assert (project / "README.md").read_text() == "uncommitted"


def test_upgrade_refuses_non_project(runner, cli, tmp_path):
    result = runner.invoke(cli, ["upgrade", str(tmp_path)])
    assert result.exit_code == 2
    assert "was not made by agentarts new" in result.stderr


def test_failed_upgrade_restores_project(runner, cli, project, newer_template, monkeypatch):
    import copier

    before = _git(project, "rev-parse", "HEAD")

    def half_then_fail(dst, **kwargs):
        (Path(dst) / "README.md").write_text("half written")
        raise RuntimeError("interrupted")

    monkeypatch.setattr(copier, "run_update", half_then_fail)
    result = runner.invoke(cli, ["upgrade", str(project)])
    assert result.exit_code == 1
    assert "project left unchanged" in result.stderr
    assert _git(project, "status", "--porcelain") == ""
    assert _git(project, "rev-parse", "HEAD") == before


@pytest.mark.parametrize("kind", ["long-path", "device", "not-utf8-answers", "answers-folder"])
def test_upgrade_of_odd_paths_is_one_line(runner, cli, tmp_path, kind):
    target = {
        "long-path": tmp_path / ("n" * 300),
        "device": Path("/dev/null"),
        "not-utf8-answers": tmp_path / "p",
        "answers-folder": tmp_path / "q",
    }[kind]
    if kind == "not-utf8-answers":
        target.mkdir()
        (target / ".copier-answers.yml").write_bytes(b"\xff\xfe_commit: v1\n")
    elif kind == "answers-folder":
        (target / ".copier-answers.yml").mkdir(parents=True)
    result = runner.invoke(cli, ["upgrade", str(target)])
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1
