"""Signing what a person approved, and keeping secrets out of what is printed.

Approval requests, grants, decisions and actuation records are signed with HMAC-SHA256 under a
per-project secret that lives outside the database (``AGENTARTS_SECRET``, or a key file created
with mode 0600 on first use beside the SQLite file, ``runs.db.key``, or in the data dir).
Someone who can write the database but not read that file cannot forge or edit a signed row:
``agentarts runs verify`` and every resume check the signatures (docs/actuation.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from agentarts.errors import ConfigError

__all__ = ["Signer", "canonical_json", "mask_url", "project_secret"]

_SECRET_CACHE: dict[str, bytes] = {}


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, ints and floats alike (10 == 10.0)."""

    def norm(v: Any) -> Any:
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, int | float):
            return float(v)
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        return str(v)

    return json.dumps(norm(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _secret_path(database_url: str) -> Path:
    """Where the secret of the database at ``database_url`` lives: beside a SQLite file
    (``runs.db`` -> ``runs.db.key``), else ``<data dir>/secret.key``."""
    if database_url.startswith("sqlite") and "///" in database_url:
        db = database_url.split("///", 1)[1]
        if db and db != ":memory:":
            return Path(db).with_name(Path(db).name + ".key")
    from agentarts.config import load_settings

    return Path(load_settings().data_dir) / "secret.key"


def project_secret(database_url: str) -> bytes:
    """The signing secret for a database: ``AGENTARTS_SECRET`` or a key file outside it."""
    import time

    env = os.environ.get("AGENTARTS_SECRET")
    if env:
        if len(env) < 16:
            raise ConfigError("AGENTARTS_SECRET must be at least 16 characters")
        return env.encode()
    path = _secret_path(database_url)
    key = str(path)
    if key in _SECRET_CACHE:
        return _SECRET_CACHE[key]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once agree on one secret (the loser reads it)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    for _ in range(100):  # the creator may still be writing it
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the signing secret {path}: {exc.strerror}") from exc
        if text:
            break
        time.sleep(0.01)
    else:
        raise ConfigError(f"the signing secret {path} is empty")
    _SECRET_CACHE[key] = text.encode()
    return _SECRET_CACHE[key]


class Signer:
    """HMAC-SHA256 signatures under one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def for_database(cls, database_url: str) -> Signer:
        return cls(project_secret(database_url))

    def sign(self, kind: str, fields: dict[str, Any]) -> str:
        """Signature (hex) of ``kind`` and ``fields``."""
        message = f"{kind}\0{canonical_json(fields)}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def ok(self, kind: str, fields: dict[str, Any], signature: str | None) -> bool:
        """Whether ``signature`` signs ``fields`` (constant-time compare)."""
        return bool(signature) and hmac.compare_digest(self.sign(kind, fields), str(signature))


_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@")


def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))
