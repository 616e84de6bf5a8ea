"""Weather-pack fixtures: short model runs at 32 x 32 (fast) and a forecast NetCDF."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from agentarts.industries.weather.fields import diagnose
from agentarts.industries.weather.ncio import write_forecast
from agentarts.industries.weather.qg import QGModel, QGParams


@pytest.fixture(scope="session")
def equilibrated() -> np.ndarray:
    """A 32 x 32 state after 120 model days from rest-plus-noise (about 1 s): baroclinic
    eddies of realistic amplitude, for tests that need a flow, not the truth model."""
    model = QGModel(QGParams().at(32))
    qh = model.run(model.random_state(3), 120)
    return model.psi(qh).astype(np.float32)


@pytest.fixture
def analysis_nc(tmp_path: Path, equilibrated: np.ndarray) -> Path:
    return write_forecast(
        tmp_path / "analysis.nc",
        equilibrated[np.newaxis],
        [diagnose(equilibrated)],
        datetime(2026, 1, 1, tzinfo=UTC),
        "test",
    )
