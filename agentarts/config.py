"""Settings: environment variables ``AGENTARTS_*`` over ``agentarts.toml`` over defaults.

The file is looked up from the working directory upwards, so every command run inside a
generated project picks up that project's settings. Only the standard library is imported
here: reading settings must never slow the CLI down.

| setting | environment | agentarts.toml | default |
|---|---|---|---|
| data dir | AGENTARTS_DATA_DIR | [storage] data_dir | <project>/.agentarts, else the caller's default_data_dir, else ~/.local/share/agentarts |
| database URL | AGENTARTS_DATABASE_URL | [storage] database_url | sqlite:///<data dir>/agentarts.db |
| agent | AGENTARTS_AGENT | [agent] ref | none |
| devices | AGENTARTS_DEVICES | [runtime] devices | 910B2x1 |
| model repositories | AGENTARTS_MODEL_REPOSITORIES (os.pathsep) | [runtime] model_repositories | packs' models |
| tool path roots (served) | AGENTARTS_ALLOWED_ROOTS (os.pathsep) | [paths] allowed_roots | project folder and data dir only |
| runtime URL | AGENTARTS_RUNTIME_URL | [runtime] url | none (in-process runtime) |
| runtime API key | AGENTARTS_API_KEY (runtime serve's key; sent by ModelTools to the URL) | | none |
| signing secret | AGENTARTS_SECRET (16+ characters) | | a key file beside the SQLite database, else <data dir>/secret.key |
| agent server | | [serve] four_eyes, session_hours, idle_minutes | off, 12, 30 (flags of `agentarts serve` win) |
| chat endpoint | AGENTARTS_CHAT_BASE_URL, _MODEL, _API_KEY | [chat] base_url, model, api_key_env | none |
| offline switch | AGENTARTS_OFFLINE=1 forbids real chat-model calls | | off |
| operating envelope (guard) | | [envelope.<field>] min, max, max_step | none |

Where data goes when no project is found: the command line (``agentarts run`` outside a project)
uses the per-user XDG folder, so runs started anywhere can be listed from anywhere. Code that
ships beside its own files (the repository's ``examples/``, a user's script) passes
``default_data_dir`` and keeps its database next to itself: running the examples from a checkout
never writes into the home directory. ``AGENTARTS_DATA_DIR`` and ``agentarts.toml`` still win.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentarts.errors import ConfigError

__all__ = ["PROJECT_FILE", "Settings", "find_project_root", "load_settings"]

PROJECT_FILE = "agentarts.toml"


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest directory at or above ``start`` holding an ``agentarts.toml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def _default_data_home(env: dict[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME")
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return (Path(base) if base else home / ".local" / "share") / "agentarts"


@dataclass(frozen=True)
class ChatSettings:
    """An OpenAI-compatible chat endpoint; unset means no chat model is used."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`load_settings`."""

    project_root: Path | None
    data_dir: Path
    database_url: str
    agent_ref: str | None = None
    devices: str = "910B2x1"
    model_repositories: tuple[Path, ...] = ()
    #: folders a served agent's tools may open besides the project and the data dir
    allowed_roots: tuple[Path, ...] = ()
    runtime_url: str | None = None
    chat: ChatSettings = ChatSettings()
    offline: bool = False
    project: dict[str, Any] = field(default_factory=dict)
    envelope: dict[str, Any] = field(default_factory=dict)
    #: the whole agentarts.toml, for packs' own sections (e.g. [steel.tags])
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        """The database file for a ``sqlite:///`` URL, else None."""
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        return Path(self.database_url[len(prefix) :])


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc


def _section(doc: dict[str, Any], name: str, path: Path | None) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return value


def load_settings(
    start: Path | None = None,
    env: dict[str, str] | None = None,
    *,
    default_data_dir: Path | None = None,
) -> Settings:
    """Resolve settings for the project at or above ``start`` (default: the working dir).

    ``default_data_dir`` replaces the per-user folder when neither the environment, an
    ``agentarts.toml`` nor a project says where data goes (see the module docstring).
    """
    env = dict(os.environ if env is None else env)
    root = find_project_root(start)
    path = root / PROJECT_FILE if root else None
    doc = _read_toml(path) if path else {}
    storage = _section(doc, "storage", path)
    agent = _section(doc, "agent", path)
    runtime = _section(doc, "runtime", path)
    chat = _section(doc, "chat", path)
    paths = _section(doc, "paths", path)

    def rel(value: str) -> Path:
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() or root is None else root / candidate

    if env.get("AGENTARTS_DATA_DIR"):
        data_dir = Path(env["AGENTARTS_DATA_DIR"]).expanduser()
    elif storage.get("data_dir"):
        data_dir = rel(str(storage["data_dir"]))
    elif root is not None:
        data_dir = root / ".agentarts"
    elif default_data_dir is not None:
        data_dir = Path(default_data_dir).expanduser()
    else:
        data_dir = _default_data_home(env)
    data_dir = data_dir.resolve()

    database_url = env.get("AGENTARTS_DATABASE_URL") or storage.get("database_url")
    if not database_url:
        database_url = f"sqlite:///{data_dir / 'agentarts.db'}"
    if not isinstance(database_url, str) or "://" not in database_url:
        raise ConfigError(f"database URL {database_url!r} is not a URL like sqlite:///path")

    repos_env = env.get("AGENTARTS_MODEL_REPOSITORIES")
    repos_raw = repos_env.split(os.pathsep) if repos_env else runtime.get("model_repositories", [])
    if not isinstance(repos_raw, list | tuple):
        raise ConfigError(f"{path}: [runtime] model_repositories must be a list of paths")
    roots_env = env.get("AGENTARTS_ALLOWED_ROOTS")
    roots_raw = roots_env.split(os.pathsep) if roots_env else paths.get("allowed_roots", [])
    if not isinstance(roots_raw, list | tuple):
        raise ConfigError(f"{path}: [paths] allowed_roots must be a list of folders")
    api_key_env = str(chat.get("api_key_env", "AGENTARTS_CHAT_API_KEY"))
    return Settings(
        project_root=root,
        data_dir=data_dir,
        database_url=database_url,
        agent_ref=env.get("AGENTARTS_AGENT") or agent.get("ref"),
        devices=env.get("AGENTARTS_DEVICES") or str(runtime.get("devices", "910B2x1")),
        model_repositories=tuple(rel(str(p)) for p in repos_raw if str(p)),
        allowed_roots=tuple(rel(str(p)).resolve() for p in roots_raw if str(p)),
        runtime_url=env.get("AGENTARTS_RUNTIME_URL") or runtime.get("url"),
        chat=ChatSettings(
            base_url=env.get("AGENTARTS_CHAT_BASE_URL") or chat.get("base_url"),
            model=env.get("AGENTARTS_CHAT_MODEL") or chat.get("model"),
            api_key=env.get(api_key_env),
        ),
        offline=env.get("AGENTARTS_OFFLINE", "").lower() in {"1", "true", "yes"},
        project=_section(doc, "project", path),
        envelope=_section(doc, "envelope", path),
        doc=doc,
    )
