"""Which files a tool may read or write when the caller is not the machine's own user.

A tool that takes a path from its input (a historian CSV, a NetCDF forecast, an outbox
folder, a pass folder) opens what it is told. From the command line that is fine: the person
running ``agentarts run`` can read those files anyway. Served over HTTP (``agentarts serve``),
the input comes from a remote operator, and the same tool would read any file the server's
account can read (``{"source": "/etc/passwd"}`` answered with the file's columns). So a
served agent carries a :class:`PathPolicy` and every path a tool takes goes through
:func:`data_path`, which resolves it (``~``, ``..``, symlinks: the real file, as the kernel
would open it) and refuses anything outside the allowed roots:

- the project folder (where ``agentarts.toml`` is),
- the data dir (``[storage] data_dir`` / ``AGENTARTS_DATA_DIR``),
- the folders listed in ``[paths] allowed_roots`` of ``agentarts.toml`` (relative to the
  project) or ``AGENTARTS_ALLOWED_ROOTS`` (``os.pathsep``-separated).

A refusal is a :class:`PathNotAllowedError` (HTTP 403, CLI exit 2) naming the path and the
roots. Without a policy (the CLI, a script, a notebook) paths pass unchanged.

Limit: the check and the open are two steps. Someone who can already write inside an allowed
root could swap a folder for a symlink between them; the policy keeps remote callers to the
roots, it does not defend the roots against the machine's own users.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentarts.errors import PathNotAllowedError

if TYPE_CHECKING:
    from agentarts.config import Settings

__all__ = ["PathNotAllowedError", "PathPolicy", "data_path"]


@dataclass(frozen=True)
class PathPolicy:
    """The folders tools may use, resolved; relative paths are taken from ``base``."""

    roots: tuple[Path, ...]
    base: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> PathPolicy:
        """The project folder, the data dir and the configured extra roots."""
        found = [settings.project_root, settings.data_dir, *settings.allowed_roots]
        roots: list[Path] = []
        for root in found:
            if root is None:
                continue
            real = Path(os.path.realpath(Path(root).expanduser()))
            if real not in roots:
                roots.append(real)
        base = settings.project_root or settings.data_dir
        return cls(tuple(roots), Path(os.path.realpath(base)))

    def resolve(self, value: str | os.PathLike[str], what: str = "path") -> Path:
        """The real path ``value`` names, or PathNotAllowedError if it is outside the roots."""
        raw = os.fspath(value)
        if "\0" in raw:
            raise PathNotAllowedError(f"{what} {raw!r}: contains a NUL byte")
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = self.base / path
        real = Path(os.path.realpath(path))  # symlinks followed, '..' applied after them
        if any(real == root or real.is_relative_to(root) for root in self.roots):
            return real
        shown = ", ".join(str(r) for r in self.roots) or "none"
        via = "" if str(real) == raw else f" (resolves to {real})"
        raise PathNotAllowedError(
            f"{what} {raw!r}{via} is outside the folders this server's tools may use: {shown}",
            hint="add a folder to [paths] allowed_roots in agentarts.toml to allow it",
        )


def data_path(value: str | os.PathLike[str], what: str = "path") -> Path:
    """The path a tool should open for ``value``: checked against the run's
    :class:`PathPolicy` when it has one (a served agent), else ``value`` unchanged."""
    from agentarts.tools.context import current_run

    run = current_run()
    policy = run.paths if run is not None else None
    if policy is None:
        return Path(value).expanduser()
    return policy.resolve(value, what)
