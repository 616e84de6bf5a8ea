"""Rail-pack fixtures: small generated passes written the way a trackside site delivers them."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentarts.industries.rail.generator import make_train, save_train


def write_pass(folder: Path, seed: int = 11, cars: int = 2, fault_rate: float = 0.05) -> Path:
    save_train(make_train(seed, cars=cars, fault_rate=fault_rate, kind="freight"), folder)
    return folder


@pytest.fixture
def pass_folder(tmp_path) -> Path:
    return write_pass(tmp_path / "pass")


@pytest.fixture(scope="session")
def runtime():
    from agentarts.industries.rail import PACK
    from agentarts.runtime import LocalRuntime

    rt = LocalRuntime([PACK.model_repository_dir()], include_packs=False)
    yield rt
    rt.close()
