"""`agentarts new`: generation, and refusal of bad input with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_new_blank_project(runner, cli, tmp_path):
    result = runner.invoke(cli, ["new", "Acme_Agent", "-o", str(tmp_path), "--no-input", "--json"])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    project = tmp_path / "acme-agent"
    assert info["path"] == str(project)
    assert info["package_name"] == "acme_agent"
    for rel in [
        "pyproject.toml",
        "agentarts.toml",
        "langgraph.json",
        "README.md",
        ".gitignore",
        "src/acme_agent/graph.py",
        "src/acme_agent/tools.py",
        "tests/test_agent.py",
        ".copier-answers.yml",
        ".agentarts-template.bundle",
    ]:
        assert (project / rel).is_file(), rel
    answers = (project / ".copier-answers.yml").read_text()
    assert "_commit: v" + info["template_version"] in answers
    assert "_src_path: .agentarts-template.bundle" in answers
    assert 'ref = "acme_agent.graph:agent"' in (project / "agentarts.toml").read_text()
    config = json.loads((project / "langgraph.json").read_text())
    assert config["graphs"] == {"acme_agent": "acme_agent.graph:graph"}
    assert config["dependencies"] == [".", "./src"]
    assert "from ." not in (project / "src/acme_agent/graph.py").read_text()
    ignored = (project / ".gitignore").read_text().split()
    assert ".agentarts/" in ignored and ".langgraph_api/" in ignored
    assert (project / ".git").is_dir()
    # nothing but the project was left in the output dir (no temp folders)
    assert [p.name for p in tmp_path.iterdir()] == ["acme-agent"]


def test_generated_graph_module_compiles(runner, cli, tmp_path):
    result = runner.invoke(cli, ["new", "pump-agent", "-o", str(tmp_path), "--no-input"])
    assert result.exit_code == 0, result.stderr
    sources = sorted((tmp_path / "pump-agent" / "src").rglob("*.py"))
    names = {str(p.relative_to(tmp_path / "pump-agent")) for p in sources}
    assert {"src/pump_agent/graph.py", "src/pump_agent/tools.py"} <= names
    for source in sources:
        compile(source.read_text(), str(source), "exec")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "../evil",
        "a/b",
        "a\\b",
        ".hidden",
        "1abc",
        "class",
        "agentarts",
        "json",
        "x--",
        "bad name!",
        "é-agent",
        "pydantic",
    ],
)
def test_bad_names_are_refused_with_nothing_written(runner, cli, tmp_path, name):
    result = runner.invoke(cli, ["new", name, "-o", str(tmp_path), "--no-input"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1
    assert _tree(tmp_path) == []


def test_unknown_industry_is_refused(runner, cli, tmp_path):
    result = runner.invoke(cli, ["new", "x", "--industry", "bakery", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown industry 'bakery'" in result.stderr
    assert _tree(tmp_path) == []


@pytest.mark.parametrize("industry", ["steel", "rail", "weather"])
def test_uninstalled_pack_says_so_in_one_line(runner, cli, tmp_path, industry, monkeypatch):
    from agentarts import plugins

    monkeypatch.setattr(plugins, "discover_packs", lambda: plugins.Discovery({}, {}))
    result = runner.invoke(cli, ["new", "x", "--industry", industry, "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert (
        result.stderr == f"error: the {industry!r} industry pack is not installed"
        " (installed: blank)\n"
    )
    assert _tree(tmp_path) == []


def test_existing_non_empty_target_is_refused(runner, cli, tmp_path):
    target = tmp_path / "acme"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = runner.invoke(cli, ["new", "acme", "-o", str(tmp_path), "--no-input"])
    assert result.exit_code == 2
    assert "not empty" in result.stderr
    assert _tree(tmp_path) == ["acme", "acme/notes.txt"]


def test_force_keeps_every_existing_file(runner, cli, tmp_path):
    target = tmp_path / "acme"
    (target / "src" / "acme").mkdir(parents=True)
    (target / "README.md").write_text("my readme")
    (target / "src" / "acme" / "tools.py").write_text("# my tools")
    result = runner.invoke(cli, ["new", "acme", "-o", str(tmp_path), "--force", "--json"])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert sorted(info["skipped"]) == ["README.md", "src/acme/tools.py"]
    assert (target / "README.md").read_text() == "my readme"
    assert (target / "src" / "acme" / "tools.py").read_text() == "# my tools"
    assert (target / "src" / "acme" / "graph.py").is_file()


def test_empty_existing_target_is_fine(runner, cli, tmp_path):
    (tmp_path / "acme").mkdir()
    result = runner.invoke(cli, ["new", "acme", "-o", str(tmp_path), "--no-input"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "acme" / "agentarts.toml").is_file()


def test_output_dir_that_is_a_file_is_refused(runner, cli, tmp_path):
    (tmp_path / "file").write_text("x")
    result = runner.invoke(cli, ["new", "acme", "-o", str(tmp_path / "file"), "--no-input"])
    assert result.exit_code == 2
    assert "not a directory" in result.stderr


def test_failed_render_leaves_nothing(runner, cli, tmp_path, monkeypatch):
    import copier

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(copier, "run_copy", boom)
    result = runner.invoke(cli, ["new", "acme", "-o", str(tmp_path), "--no-input"])
    assert result.exit_code == 1
    assert "disk full" in result.stderr
    assert _tree(tmp_path) == []


def test_new_help_lists_installed_industries(runner, cli):
    result = runner.invoke(cli, ["new", "--help"])
    assert result.exit_code == 0
    assert "Installed industries: blank" in result.stdout


def test_inside_existing_git_repo_no_nested_repo(runner, cli, tmp_path):
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    result = runner.invoke(cli, ["new", "acme", "-o", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["git_initialised"] is False
    assert not (tmp_path / "acme" / ".git").exists()


def test_next_steps_of_the_blank_template_exist_in_the_project(runner, cli, tmp_path):
    result = runner.invoke(cli, ["new", "acme", "-o", str(tmp_path), "--json"])
    steps = json.loads(result.stdout)["next_steps"]
    assert steps == [f"cd {tmp_path / 'acme'}", "pip install -e '.[dev]'", "pytest"]
    assert (
        "[project.optional-dependencies]\ndev = [" in (tmp_path / "acme/pyproject.toml").read_text()
    )
    assert list((tmp_path / "acme" / "tests").glob("test_*.py"))
    text = runner.invoke(cli, ["new", "acme2", "-o", str(tmp_path)]).stdout
    assert "pip install -e '.[dev]'\n  pytest" in text


def _one_error_line(result) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_a_300_character_name_is_refused(runner, cli, tmp_path):
    result = runner.invoke(cli, ["new", "a" * 300, "-o", str(tmp_path), "--no-input"])
    _one_error_line(result)
    assert "at most 64" in result.stderr
    assert _tree(tmp_path) == []


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("where", ["/proc", "/proc/nope/deeper"])
def test_output_dir_on_a_pseudo_file_system_is_one_line(runner, cli, where):
    result = runner.invoke(cli, ["new", "acme", "-o", where, "--no-input"])
    _one_error_line(result)
    assert "cannot create" in result.stderr


def test_output_dir_too_long_is_one_line(runner, cli, tmp_path):
    deep = tmp_path / ("d" * 250) / ("e" * 250) / ("f" * 300)
    result = runner.invoke(cli, ["new", "acme", "-o", str(deep), "--no-input"])
    _one_error_line(result)
    assert _tree(tmp_path) == []


def test_force_on_a_symlink_never_writes_into_its_target(runner, cli, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "keep.txt").write_text("mine")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "acme").symlink_to(real)
    for extra in ([], ["--force"]):
        result = runner.invoke(cli, ["new", "acme", "-o", str(tmp_path / "out"), *extra])
        _one_error_line(result)
        assert "symbolic link" in result.stderr
    assert _tree(real) == ["keep.txt"]
    assert _tree(tmp_path / "out") == ["acme"]


def test_force_keeps_links_inside_the_target_untouched(runner, cli, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "out" / "acme"
    target.mkdir(parents=True)
    (target / "notes.txt").write_text("mine")
    (target / "src").symlink_to(elsewhere)  # the template has src/acme/...
    (target / "README.md").symlink_to(tmp_path / "dangling")
    result = runner.invoke(cli, ["new", "acme", "-o", str(tmp_path / "out"), "--force", "--json"])
    assert result.exit_code == 0, result.stderr
    assert {"src", "README.md"} <= set(json.loads(result.stdout)["skipped"])
    assert _tree(elsewhere) == []
    assert (target / "README.md").is_symlink() and not (tmp_path / "dangling").exists()
    assert (target / "agentarts.toml").is_file()


@pytest.mark.parametrize("name", ["pydantic", "numpy", "typer", "Rich", "python-dateutil"])
def test_names_of_installed_packages_are_refused(runner, cli, tmp_path, name):
    result = runner.invoke(cli, ["new", name, "-o", str(tmp_path), "--no-input"])
    _one_error_line(result)
    assert "would shadow" in result.stderr
    assert _tree(tmp_path) == []


def test_own_editable_install_does_not_block_a_forced_rerun(tmp_path, monkeypatch):
    """`pip install -e .` of the project, then `new NAME --force` again: allowed."""
    from agentarts.projects import check_project_name

    site = tmp_path / "site"
    info = site / "zq_kiln-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zq-kiln\nVersion: 0.1.0\n")
    monkeypatch.syspath_prepend(str(site))
    out = tmp_path / "out"
    (info / "direct_url.json").write_text(json.dumps({"url": (out / "zq-kiln").as_uri()}))
    assert check_project_name("zq-kiln", out) == ("zq-kiln", "zq_kiln")
    from agentarts.errors import InvalidNameError

    with pytest.raises(InvalidNameError, match="installed distribution 'zq-kiln'"):
        check_project_name("zq-kiln", tmp_path / "elsewhere")


def test_failure_removes_the_output_folders_it_made(runner, cli, tmp_path, monkeypatch):
    import copier

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(copier, "run_copy", boom)
    result = runner.invoke(cli, ["new", "acme", "-o", str(tmp_path / "a" / "b"), "--no-input"])
    assert result.exit_code in (1, 2) and result.stderr.startswith("error:")
    assert _tree(tmp_path) == []


@pytest.mark.slow
def test_langgraph_json_graph_imports_the_way_langgraph_dev_loads_it(runner, cli, tmp_path):
    """`langgraph dev` puts the project and each local dependency on sys.path and imports the
    graph's module path; do the same in a fresh interpreter (no install, no server)."""
    from tests.conftest import run_python

    result = runner.invoke(cli, ["new", "lg-check", "-o", str(tmp_path), "--no-input"])
    assert result.exit_code == 0, result.stderr
    project = tmp_path / "lg-check"
    code = (
        "import importlib, json, sys, pathlib\n"
        "cfg = json.loads(pathlib.Path('langgraph.json').read_text())\n"
        "sys.path.append('.')\n"
        "sys.path += [d for d in cfg['dependencies'] if pathlib.Path(d).is_dir()]\n"
        "for name, spec in cfg['graphs'].items():\n"
        "    module, _, attr = spec.rpartition(':')\n"
        "    assert '/' not in module, spec\n"
        "    graph = getattr(importlib.import_module(module), attr)\n"
        "    print(name, type(graph).__name__, sorted(graph.get_graph().nodes))\n"
    )
    done = run_python(code, cwd=project, env={"AGENTARTS_DATA_DIR": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("lg_check CompiledStateGraph")
    assert "'approval'" in done.stdout and "'apply'" in done.stdout
