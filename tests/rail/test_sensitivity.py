"""`[rail] sensitivity`: a railway lowers the validated thresholds (more findings for a person),
never raises them."""

from __future__ import annotations

import numpy as np
import pytest

from agentarts.errors import ConfigError
from agentarts.industries.rail.catalogue import COMPONENTS, load_catalogue
from agentarts.industries.rail.decide import (
    MAX_SENSITIVITY,
    Thresholds,
    check_sensitivity,
    decide,
    lowered,
)
from agentarts.industries.rail.generator import make_train
from agentarts.industries.rail.triage import project_sensitivity, triage

CLASSES = ("normal", "missing", "anomaly")


@pytest.mark.parametrize("bad", [-0.1, MAX_SENSITIVITY + 0.01, True, "1", None])
def test_only_a_number_of_decades_from_0_to_the_cap_is_taken(bad):
    with pytest.raises(ValueError, match="sensitivity"):
        check_sensitivity(bad)


def test_the_classifier_alone_moves_its_odds_by_the_decades():
    cat = load_catalogue()
    comp = next(
        c.name for c in COMPONENTS if cat.worst(c.name) == "critical" and cat.get(c.name, "missing")
    )
    thresholds = Thresholds({"critical": 0.5, "major": 0.5, "minor": 0.5})
    # odds 1 at the line; one decade lower is odds 0.1 (P(fault) = 1/11)
    assert lowered(np.array([0.5]), 1.0)[0] == pytest.approx(1 / 11)
    fault = np.array([0.6, 0.2, 0.05])  # above, between the two lines, below both
    probs = np.stack([1 - fault, fault, np.zeros(3)], axis=1)
    at_line = decide(probs, [comp] * 3, CLASSES, thresholds, cat)
    lower = decide(probs, [comp] * 3, CLASSES, thresholds, cat, sensitivity=1.0)
    assert at_line.flagged.tolist() == [True, False, False]
    assert lower.flagged.tolist() == [True, True, False]
    # what the classifier alone flags at its card's thresholds is reported unchanged
    assert (lower.classifier_only == at_line.classifier_only).all()


def test_a_train_at_a_lowered_line_flags_a_superset_and_margins_agree(runtime):
    train = make_train(43, cars=2, fault_rate=0.05, kind="freight")
    at_line = triage(train, runtime, sensitivity=0.0)
    lower = triage(train, runtime, sensitivity=1.5)
    assert at_line.joined and lower.joined and lower.sensitivity == 1.5
    assert (lower.flags >= at_line.flags).all() and lower.flags.sum() > at_line.flags.sum()
    # margins are measured from the line in use, so the plot's offset 0 is what was flagged
    assert ((lower.margin >= 0) == lower.flags).all()
    assert lower.margin == pytest.approx(at_line.margin + 1.5, abs=1e-9)
    assert lower.summary()["sensitivity"] == 1.5
    assert all(f["score_over_threshold"] >= 1 for f in lower.findings)


def test_the_project_setting_is_read_and_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "agentarts.toml"
    toml.write_text('[project]\nname = "depot"\nindustry = "rail"\n')
    assert project_sensitivity() == 0.0
    toml.write_text('[project]\nname = "depot"\nindustry = "rail"\n[rail]\nsensitivity = 0.25\n')
    assert project_sensitivity() == 0.25
    toml.write_text('[project]\nname = "depot"\nindustry = "rail"\n[rail]\nsensitivity = -1\n')
    with pytest.raises(ConfigError, match=r"\[rail\] sensitivity must be from 0"):
        project_sensitivity()
