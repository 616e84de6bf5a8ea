"""CLI cold start and `agentarts new` end to end (issue: foundation).

Targets: `agentarts --help` <= 0.15 s; `import agentarts` <= 0.1 s; `agentarts new` <= 1.5 s.
Baselines of the same run: `python -c pass` and a minimal two-command Typer app.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from bench._common import console_script, table, time_command

TYPER_APP = """
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "x"):
    print(name)
@app.command()
def bye():
    pass
app()
"""


def run(runs: int = 15) -> dict[str, float]:
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal_typer.py"
        minimal.write_text(TYPER_APP)
        agentarts = console_script("agentarts")
        pass_s = time_command([py, "-c", "pass"], runs)
        typer_s = time_command([py, str(minimal), "--help"], runs)
        help_s = time_command([agentarts, "--help"], runs)
        import_s = time_command([py, "-c", "import agentarts"], runs)
        target = Path(tmp) / "out"

        def clean() -> None:
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()

        new_s = time_command(
            [agentarts, "new", "acme-agent", "--no-input", "-o", str(target)],
            max(5, runs // 3),
            before=clean,
        )
    table(
        "CLI start-up (median wall time)",
        [
            ("python -c pass", f"{pass_s:.3f} s", "baseline"),
            ("minimal Typer app --help", f"{typer_s:.3f} s", f"{typer_s / pass_s:.1f}x python"),
            (
                "agentarts --help",
                f"{help_s:.3f} s",
                f"{help_s / typer_s:.2f}x minimal Typer; target <= 0.15 s: "
                f"{'met' if help_s <= 0.15 else 'MISSED'}",
            ),
            (
                "python -c 'import agentarts'",
                f"{import_s:.3f} s",
                f"{import_s / pass_s:.1f}x python; target <= 0.1 s: "
                f"{'met' if import_s <= 0.1 else 'MISSED'}",
            ),
            (
                "agentarts new (end to end)",
                f"{new_s:.3f} s",
                f"target <= 1.5 s: {'met' if new_s <= 1.5 else 'MISSED'}",
            ),
        ],
    )
    return {
        "python_pass_s": pass_s,
        "typer_minimal_s": typer_s,
        "help_s": help_s,
        "import_s": import_s,
        "new_s": new_s,
    }


if __name__ == "__main__":
    run()
