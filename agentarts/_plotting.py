"""matplotlib for the packs' plots: headless, and with no cache in the home directory.

matplotlib keeps a font cache in ``~/.cache/matplotlib`` (``MPLCONFIGDIR``) and builds it on
first import. AgentArts writes nothing into the home directory unless asked, so unless the user
set ``MPLCONFIGDIR`` the cache goes to a per-user folder in the system temp dir, kept between
runs so the ~1 s font scan happens once per boot rather than once per plot.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["pyplot", "save"]


def _private_cache_dir() -> str:
    uid = getattr(os, "getuid", lambda: 0)()
    path = Path(tempfile.gettempdir()) / f"agentarts-matplotlib-{uid}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
        # a folder another user made (or a symlink) in a shared temp dir is not ours to use
        if path.is_symlink() or info.st_uid != uid or info.st_mode & 0o077:
            raise PermissionError(str(path))
        return str(path)
    except OSError:
        return tempfile.mkdtemp(prefix="agentarts-matplotlib-")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed), its cache outside ``~``."""
    if "matplotlib" not in sys.modules and not os.environ.get("MPLCONFIGDIR"):
        os.environ["MPLCONFIGDIR"] = _private_cache_dir()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path, dpi: int) -> None:
    """Write ``fig`` to ``path`` as PNG and close it (pyplot keeps every open figure alive)."""
    plt = pyplot()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
