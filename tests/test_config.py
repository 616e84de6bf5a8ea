"""Settings resolution: env over agentarts.toml over defaults."""

from __future__ import annotations

import pytest

from agentarts.config import load_settings
from agentarts.errors import ConfigError


def test_project_file_found_from_subdirectory(tmp_path):
    (tmp_path / "agentarts.toml").write_text(
        '[agent]\nref = "pkg.graph:agent"\n[runtime]\ndevices = "910B4x2"\n'
        'model_repositories = ["models"]\n'
    )
    sub = tmp_path / "src" / "pkg"
    sub.mkdir(parents=True)
    settings = load_settings(sub, env={})
    assert settings.project_root == tmp_path.resolve()
    assert settings.agent_ref == "pkg.graph:agent"
    assert settings.devices == "910B4x2"
    assert settings.model_repositories == (tmp_path.resolve() / "models",)
    assert settings.data_dir == tmp_path.resolve() / ".agentarts"
    db = tmp_path.resolve() / ".agentarts" / "agentarts.db"
    assert settings.database_url == f"sqlite:///{db}"


def test_environment_wins(tmp_path):
    (tmp_path / "agentarts.toml").write_text('[storage]\ndatabase_url = "sqlite:///a.db"\n')
    settings = load_settings(
        tmp_path,
        env={
            "AGENTARTS_DATABASE_URL": "postgresql://u@h/db",
            "AGENTARTS_OFFLINE": "1",
        },
    )
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.offline is True
    assert not settings.is_sqlite


@pytest.mark.parametrize("text", ["[storage\n", "storage = 3\n", '[storage]\ndatabase_url = "x"\n'])
def test_bad_project_file(tmp_path, text):
    (tmp_path / "agentarts.toml").write_text(text)
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={})


def test_default_data_dir_replaces_the_home_folder_outside_projects(tmp_path):
    """Code shipped beside its files (the examples) keeps its data there, not in $HOME."""
    env = {"HOME": str(tmp_path / "home")}
    mine = tmp_path / "examples" / ".agentarts"
    outside = load_settings(tmp_path, env=env, default_data_dir=mine)
    assert outside.data_dir == mine.resolve()
    assert outside.database_url == f"sqlite:///{mine.resolve() / 'agentarts.db'}"
    assert load_settings(tmp_path, env=env).data_dir == tmp_path / "home/.local/share/agentarts"
    # a project and the environment still win over the caller's default
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "agentarts.toml").write_text("[project]\n")
    inside = load_settings(tmp_path / "proj", env=env, default_data_dir=mine)
    assert inside.data_dir == (tmp_path / "proj" / ".agentarts").resolve()
    env["AGENTARTS_DATA_DIR"] = str(tmp_path / "env")
    assert load_settings(tmp_path, env=env, default_data_dir=mine).data_dir == tmp_path / "env"
