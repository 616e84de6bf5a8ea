"""Who holds a run or a claim: ``host:pid:start`` identities, and whether one is still alive.

The process start time (from /proc, where there is one) makes an identity safe against pid
reuse: after a crash, a new process that happens to get the same pid is not taken for the
dead one.
"""

from __future__ import annotations

import os
import socket

__all__ = ["identity", "is_alive"]


def _start_ticks(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode(errors="replace")
    except OSError:
        return ""
    # the command name (field 2) may hold spaces and parentheses: split after the last ")"
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def identity() -> str:
    """This process as ``host:pid:start``."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def is_alive(holder: str) -> bool:
    """Whether the process ``holder`` names still runs. A process on another host is taken
    as alive: this host cannot see it (a person resolves such a claim)."""
    if not holder:
        return False
    parts = holder.rsplit(":", 2)
    if len(parts) == 3:
        host, pid, start = parts
    else:  # the older "host:pid" form
        (host, pid), start = holder.rsplit(":", 1), ""
    if host != socket.gethostname():
        return True
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or _start_ticks(int(pid)) == start
