"""Industry packs are discovered through the `agentarts.industries` entry-point group."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agentarts import plugins
from tests.conftest import REPO

EXAMPLE_SRC = REPO / "examples" / "custom_pack" / "src"


def _register(site: Path, dist: str, entries: dict[str, str]) -> None:
    info = site / f"{dist}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entries.items())
    (info / "entry_points.txt").write_text(f"[agentarts.industries]\n{lines}\n")


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A directory on sys.path holding fake installed distributions."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.syspath_prepend(str(EXAMPLE_SRC))
    yield folder
    sys.modules.pop("acme_cement_pack", None)
    sys.modules.pop("acme_cement_pack.demo", None)


def test_example_pack_is_discovered(site):
    _register(site, "acme_cement_pack", {"cement": "acme_cement_pack:PACK"})
    found = plugins.discover_packs()
    assert "cement" in found.packs
    assert found.packs["cement"].template_dir().joinpath("copier.yml").is_file()


def test_broken_packs_are_reported_not_fatal(site):
    _register(site, "acme_cement_pack", {"cement": "acme_cement_pack:PACK"})
    _register(
        site,
        "broken_pack",
        {
            "ghost": "no_such_module_xyz:PACK",
            "wrong": "json:dumps",
            "misnamed": "acme_cement_pack:PACK",
        },
    )
    found = plugins.discover_packs()
    assert "cement" in found.packs
    assert "ModuleNotFoundError" in found.broken["ghost"]
    assert "not an agentarts IndustryPack" in found.broken["wrong"]
    assert "names pack 'cement'" in found.broken["misnamed"]


def test_demo_list_and_run(site, runner, cli):
    _register(site, "acme_cement_pack", {"cement": "acme_cement_pack:PACK"})
    listed = runner.invoke(cli, ["demo", "--list", "--json"])
    assert listed.exit_code == 0
    names = [p["name"] for p in json.loads(listed.stdout)["packs"]]
    assert {"cement", "steel"} <= set(names) and names == sorted(names)
    ran = runner.invoke(cli, ["demo", "cement", "--json", "--hours", "24"])
    assert ran.exit_code == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["hours"] == 24
    assert 3.0 < summary["mean_gj_per_t"] < 3.6


def test_new_from_a_third_party_template(site, runner, cli, tmp_path):
    _register(site, "acme_cement_pack", {"cement": "acme_cement_pack:PACK"})
    helped = runner.invoke(cli, ["new", "--help"])
    assert "Installed industries: blank, cement" in helped.stdout
    result = runner.invoke(cli, ["new", "kiln", "-i", "cement", "-o", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    assert 'industry = "cement"' in (tmp_path / "kiln" / "agentarts.toml").read_text()


def test_demo_without_packs(runner, cli, monkeypatch):
    monkeypatch.setattr(plugins, "discover_packs", lambda: plugins.Discovery({}, {}))
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 2
    assert "no industry pack" in result.stderr


def test_demo_of_an_unknown_or_demo_less_pack_names_the_demos(runner, cli):
    for industry, said in [("bakery", "unknown industry 'bakery'"), ("blank", "has no demo")]:
        result = runner.invoke(cli, ["demo", industry])
        assert result.exit_code == 2
        assert said in result.stderr
        assert "(demos: rail, steel, weather)" in result.stderr
        assert "blank" not in result.stderr.split("demos:")[1]


def test_load_ref_errors():
    from agentarts.errors import ConfigError

    assert plugins.load_ref("json:dumps") is json.dumps
    for bad in ["json", "nope_module_xyz:x", "json:nope"]:
        with pytest.raises(ConfigError):
            plugins.load_ref(bad)


def test_third_party_next_steps_name_only_what_the_project_has(site, runner, cli, tmp_path):
    """The cement template has no dev extra and no tests: `new` must not tell users to
    `pip install -e '.[dev]'` and run `pytest` there."""
    _register(site, "acme_cement_pack", {"cement": "acme_cement_pack:PACK"})
    result = runner.invoke(cli, ["new", "kiln", "-i", "cement", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    steps = result.stdout.split("Next:", 1)[1].split()
    assert "'.[dev]'" not in steps and "pytest" not in steps
    assert "pip install -e ." in result.stdout
    info = runner.invoke(cli, ["new", "kiln2", "-i", "cement", "-o", str(tmp_path), "--json"])
    assert json.loads(info.stdout)["next_steps"] == [f"cd {tmp_path / 'kiln2'}", "pip install -e ."]
