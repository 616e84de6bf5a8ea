"""End to end: build the wheel, install it in a fresh venv, generate a project, run its tests.

Offline: the new venv sees the dependencies installed for the interpreter running the tests
(a ``.pth`` file naming its site-packages, which works whether that interpreter is a system
Python or itself a venv) and pip runs with ``--no-index``, so nothing is fetched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{cmd}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _see_parent_packages(py: Path) -> None:
    """Let the venv at ``py`` import what this interpreter has installed (not its editable
    agentarts: .pth lines add folders, they do not run the folders' own .pth hooks)."""
    import sysconfig

    parent = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "_agentarts_test_parent.pth").write_text("\n".join(sorted(parent)) + "\n")


def test_wheel_install_new_project_and_its_tests(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_NO_INDEX"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    dist = tmp_path / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            "-q",
        ],
        tmp_path,
        env,
    )
    wheel = next(dist.glob("agentarts-*.whl"))
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    py = venv / "bin" / "python"
    _see_parent_packages(py)
    _run([str(py), "-m", "pip", "install", "-q", "--no-build-isolation", str(wheel)], tmp_path, env)
    where = _run([str(py), "-c", "import agentarts; print(agentarts.__file__)"], tmp_path, env)
    assert where.strip().startswith(str(venv)), where
    cli = venv / "bin" / "agentarts"
    _run([str(cli), "new", "acme-agent", "--no-input"], tmp_path, env)
    project = tmp_path / "acme-agent"
    _run(
        [str(py), "-m", "pip", "install", "-q", "--no-build-isolation", "-e", str(project)],
        tmp_path,
        env,
    )
    tested = _run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    assert "passed" in tested and "failed" not in tested

    # the generated agent runs from the CLI, stops at its gate, and an approval finishes it
    env.pop("AGENTARTS_DATA_DIR", None)  # the project's own .agentarts/ holds its runs
    import json

    ran = json.loads(
        _run([str(cli), "run", "--input", "{}", "--thread", "T", "--json"], project, env)
    )
    assert ran["status"] == "waiting_approval"
    _run([str(cli), "runs", "approve", "T", "--by", "tester"], project, env)
    shown = json.loads(_run([str(cli), "runs", "show", "T", "--json"], project, env))
    assert shown["status"] == "completed"
    assert [a["decision"] for a in shown["approvals"]] == ["approved"]
    assert (project / ".agentarts" / "agentarts.db").is_file()

    # the main job: the steel demo runs from the wheel (its models ship inside it)
    demo = json.loads(
        _run(
            [str(cli), "demo", "steel", "--hours", "10", "--auto-approve", "--json"], tmp_path, env
        )
    )
    assert demo["agent"]["fuel_rate_kg_thm"] > 0 and demo["model_latency_910b2_us"] > 0

    # the steel template: a project whose own tests pass against the installed pack
    _run([str(cli), "new", "bf-agent", "--industry", "steel", "--no-input"], tmp_path, env)
    steel = tmp_path / "bf-agent"
    _run(
        [str(py), "-m", "pip", "install", "-q", "--no-build-isolation", "-e", str(steel)],
        tmp_path,
        env,
    )
    tested = _run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider"], steel, env)
    assert "passed" in tested and "failed" not in tested
