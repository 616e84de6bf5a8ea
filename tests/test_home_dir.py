"""Nothing AgentArts does writes into the home directory (onnxruntime's telemetry cache)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_python


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_onnxruntime_writes_nothing_into_home(tmp_path: Path) -> None:
    """``import agentarts`` opts out of onnxruntime's telemetry before onnxruntime loads."""
    home = tmp_path / "home"
    home.mkdir()
    code = (
        "import os; os.environ.pop('ORT_DISABLE_TELEMETRY', None)\n"
        "import agentarts, onnxruntime\n"
        "assert os.environ['ORT_DISABLE_TELEMETRY'] == '1'\n"
    )
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    done = run_python(code, env=env)
    assert done.returncode == 0, done.stderr
    assert _files(home) == []


def test_explicit_telemetry_setting_is_respected() -> None:
    done = run_python(
        "import os; import agentarts; print(os.environ['ORT_DISABLE_TELEMETRY'])",
        env={"ORT_DISABLE_TELEMETRY": "0"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_plots_write_no_matplotlib_cache_into_home(tmp_path: Path) -> None:
    """The packs' plots get pyplot from agentarts._plotting: matplotlib's font cache goes
    outside the home directory unless MPLCONFIGDIR is set."""
    home = tmp_path / "home"
    home.mkdir()
    png = tmp_path / "plot.png"
    code = (
        "import os; os.environ.pop('MPLCONFIGDIR', None)\n"
        "from agentarts._plotting import pyplot\n"
        "plt = pyplot()\n"
        "fig, ax = plt.subplots(); ax.plot([1, 2]); ax.set_title('HMT (C)')\n"
        f"fig.savefig({str(png)!r})\n"
        "assert not os.environ['MPLCONFIGDIR'].startswith(os.path.expanduser('~'))\n"
    )
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    done = run_python(code, env=env)
    assert done.returncode == 0, done.stderr
    assert png.stat().st_size > 1_000
    assert _files(home) == []


def test_packs_plot_through_the_helper() -> None:
    """No pack imports pyplot on its own (it would bring the cache back into ~)."""
    import re

    root = Path(__file__).resolve().parents[1] / "industries"
    offenders = [
        str(p)
        for p in root.rglob("*.py")
        if re.search(r"import matplotlib\.pyplot|matplotlib\.use\(", p.read_text())
    ]
    assert offenders == []
