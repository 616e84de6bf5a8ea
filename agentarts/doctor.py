"""Installation checks behind ``agentarts doctor``."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Literal

from agentarts._version import __version__

__all__ = ["Check", "Report", "run_checks"]

Status = Literal["ok", "warn", "fail", "info"]

REQUIRED = (
    "langgraph",
    "langgraph-checkpoint-sqlite",
    "pydantic",
    "sqlmodel",
    "typer",
    "rich",
    "onnxruntime",
    "onnx",
    "numpy",
    "httpx",
    "copier",
    "fastapi",
    "uvicorn",
)


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def add(self, name: str, status: Status, detail: str, fix: str | None = None) -> None:
        self.checks.append(Check(name, status, detail, fix))

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "agentarts": __version__, "checks": [asdict(c) for c in self.checks]}


def _writable(folder: Path) -> str | None:
    """None when a file can be created in ``folder`` (made if missing), else the reason."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def run_checks() -> Report:
    """Run every check; a ``fail`` makes ``agentarts doctor`` exit 1."""
    report = Report()
    py = sys.version_info
    report.add(
        "python",
        "ok" if py >= (3, 11) else "fail",
        f"{py.major}.{py.minor}.{py.micro}",
        None if py >= (3, 11) else "use Python 3.11 or newer",
    )
    report.add("agentarts", "ok", __version__)
    for dist in REQUIRED:
        try:
            report.add(dist, "ok", metadata.version(dist))
        except metadata.PackageNotFoundError:
            report.add(dist, "fail", "not installed", f"pip install --upgrade agentarts  # {dist}")
    _check_providers(report)
    git = shutil.which("git")
    report.add(
        "git",
        "ok" if git else "warn",
        git or "not found",
        None if git else "install git: `agentarts new` and `upgrade` need it",
    )
    _check_storage(report)
    _check_packs(report)
    return report


def _check_providers(report: Report) -> None:
    try:
        import onnxruntime
    except ImportError as exc:
        report.add("onnxruntime providers", "fail", str(exc), "pip install onnxruntime")
        return
    providers = onnxruntime.get_available_providers()
    report.add("onnxruntime providers", "ok", ", ".join(providers))
    has_cann = "CANNExecutionProvider" in providers
    report.add(
        "ascend (CANN)",
        "ok" if has_cann else "info",
        "CANNExecutionProvider available"
        if has_cann
        else "not present: models run on the CPU, Ascend devices are simulated",
    )


def _check_storage(report: Report) -> None:
    from agentarts.config import load_settings
    from agentarts.errors import ConfigError

    try:
        settings = load_settings()
    except ConfigError as exc:
        report.add("settings", "fail", str(exc), "fix agentarts.toml or AGENTARTS_* variables")
        return
    root = settings.project_root
    report.add("project", "info", str(root) if root else "none (not inside an agentarts project)")
    why = _writable(settings.data_dir)
    report.add(
        "data dir",
        "ok" if why is None else "fail",
        f"{settings.data_dir}" + ("" if why is None else f": {why}"),
        None if why is None else "set AGENTARTS_DATA_DIR to a writable directory",
    )
    db_file = settings.sqlite_path()
    if db_file is not None:
        why = _writable(db_file.parent) or _sqlite_problem(db_file)
        report.add(
            "database",
            "ok" if why is None else "fail",
            f"{settings.database_url}" + ("" if why is None else f": {why}"),
            None
            if why is None
            else "move the file aside, or set AGENTARTS_DATABASE_URL to a writable location",
        )
    elif settings.database_url.startswith("postgres"):
        try:
            metadata.version("langgraph-checkpoint-postgres")
            report.add("database", "ok", settings.database_url.split("@")[-1])
        except metadata.PackageNotFoundError:
            report.add(
                "database",
                "fail",
                "postgres configured but its driver is missing",
                "pip install 'agentarts[postgres]'",
            )
    else:
        report.add("database", "warn", f"unsupported URL scheme: {settings.database_url}")
    chat = settings.chat
    report.add(
        "chat model",
        "info",
        f"{chat.model} at {chat.base_url}" if chat.configured else "none configured (optional)",
    )


def _sqlite_problem(path: Path) -> str | None:
    """None if ``path`` is missing (made on first use) or an AgentArts SQLite database; else
    what is wrong with it. Opens it read-only: the doctor changes nothing."""
    import sqlite3

    if not path.exists():
        return None
    if not path.is_file():
        return "not a file"
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        ) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            # an emptied version table is fine: the store repairs it on its next open
            if names and "agentarts_schema_version" not in names:
                return "a SQLite database, but not an AgentArts run store"
    except sqlite3.DatabaseError as exc:
        return f"not a usable SQLite database ({exc})"
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _check_packs(report: Report) -> None:
    from agentarts.plugins import discover_packs

    found = discover_packs()
    names = ", ".join(found.packs) or "none"
    report.add("industry packs", "ok", f"blank (core), {names}")
    for name, why in found.broken.items():
        report.add(f"pack {name}", "warn", why, "reinstall or remove the pack's distribution")
