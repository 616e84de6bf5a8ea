"""Writing a file so that a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from agentarts.errors import UsageError

__all__ = ["atomic_write_text", "check_output_file"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename.

    On any failure the target is left as it was and no temporary file stays behind.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name[:100]}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_output_file(path: Path, flag: str) -> None:
    """Refuse, before any long work starts, an output path that cannot take a new file: a
    folder, a link, a device, a missing or read-only folder, a name over 255 bytes."""
    import stat

    path = Path(path)
    if len(path.name.encode()) > 255:
        raise UsageError(f"{flag} {path}: file name longer than 255 bytes")
    if path.is_symlink():
        raise UsageError(f"{flag} {path} is a symbolic link: give the file itself")
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name")
    if path.exists() and not stat.S_ISREG(os.stat(path).st_mode):
        raise UsageError(f"{flag} {path} is not a regular file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{flag} {path}: folder {parent} is not writable")
