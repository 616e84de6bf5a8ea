"""From model outputs to flags: one threshold per criticality class.

The crop model gives class probabilities over ``normal``, the trained fault modes and
``anomaly`` (the synthetic-anomaly target: "not this slot's usual look"). A crop is flagged for
a person when its fault score, 1 - P(normal), reaches the threshold of the crop's component
class: the worst criticality any fault of that component has in the catalogue. Safety-critical
components therefore get the lowest thresholds (recall first, false alarms second). The
suspected mode is the most likely fault mode the catalogue allows for that component; when
``anomaly`` is the most likely, the crop is reported as ``unknown_anomaly`` with the
component's worst criticality (a person decides).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agentarts.industries.rail.catalogue import CRITICALITIES, Catalogue

__all__ = ["ANOMALY", "Decisions", "Thresholds", "choose_thresholds", "decide", "logit"]

ANOMALY = "anomaly"  # the synthetic-anomaly class of the crop model


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class Thresholds:
    classifier: dict[str, float]  # criticality class -> threshold on 1 - P(normal)

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any]) -> Thresholds:
        table = metrics.get("decision") or {}
        try:
            return cls({c: float(table["classifier"][c]) for c in CRITICALITIES})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"model card has no usable [metrics.decision] table: {exc}") from exc

    def of(self, components: list[str], catalogue: Catalogue) -> np.ndarray:
        """The threshold of each crop's component class."""
        worst = {c: catalogue.worst(c) for c in set(components)}
        return np.array([self.classifier[worst[c]] for c in components], np.float64)


@dataclass
class Decisions:
    flagged: np.ndarray  # bool per crop
    fault_score: np.ndarray  # 1 - P(normal)
    anomaly: np.ndarray  # P(anomaly): the part of the fault score no trained mode explains
    mode: list[str]  # suspected mode per crop ("normal" when not flagged)
    criticality: list[str]  # of the suspected fault type ("" when not flagged)
    #: fault score / the crop's threshold: 1.58 = 58 % above the line; >= 1 is flagged
    score_over_threshold: np.ndarray
    seen_only: np.ndarray  # what the trained-mode probabilities alone would flag


def decide(
    probs: np.ndarray,
    components: list[str],
    classes: tuple[str, ...],
    thresholds: Thresholds,
    catalogue: Catalogue,
) -> Decisions:
    worst = {c: catalogue.worst(c) for c in set(components)}
    t = thresholds.of(components, catalogue)
    fault = 1.0 - probs[:, 0]
    k_an = classes.index(ANOMALY) if ANOMALY in classes else None
    an = probs[:, k_an] if k_an is not None else np.zeros(len(probs), np.float32)
    flagged = fault >= t
    seen_only = (fault - an) >= t
    modes, crits = [], []
    for i, comp in enumerate(components):
        if not flagged[i]:
            modes.append("normal")
            crits.append("")
            continue
        allowed = {*catalogue.modes_of(comp), ANOMALY}
        order = np.argsort(-probs[i, 1:]) + 1
        mode = next((classes[k] for k in order if classes[k] in allowed), ANOMALY)
        if mode == ANOMALY:
            mode = "unknown_anomaly"
        ft = catalogue.get(comp, mode)
        modes.append(mode)
        crits.append(ft.criticality if ft is not None else worst[comp])
    ratio = fault / np.maximum(t, 1e-6)
    return Decisions(flagged, fault, an, modes, crits, ratio, seen_only)


def choose_thresholds(
    probs: np.ndarray,
    components: list[str],
    faults: list[str],
    catalogue: Catalogue,
    critical_margin: float,
    other_recall: float,
    fa_floor: float,
    critical_fa_cap: float = 1.0,
) -> Thresholds:
    """Per component class, on validation crops: the threshold keeps ``other_recall`` of the
    class's faults but, outside the critical class, never flags more than ``fa_floor`` of its
    normal crops; then every critical fault is flagged ``critical_margin`` nats inside the
    line, and (only if ``critical_fa_cap`` < 1) the critical class never flags more than that
    share of its normal crops."""
    worst = np.array([catalogue.worst(c) for c in components])
    crit_of = np.array(
        [
            (catalogue.get(c, f).criticality if f != "normal" and catalogue.get(c, f) else "")
            for c, f in zip(components, faults, strict=True)
        ]
    )
    is_fault = np.array([f != "normal" for f in faults])
    score = logit(1 - probs[:, 0])
    out = {}
    for c in CRITICALITIES:
        here = worst == c
        normal = here & ~is_fault
        faults_here = here & is_fault
        if not faults_here.any():
            out[c] = 0.5
            continue
        lim = float(np.quantile(score[faults_here], 1 - other_recall))
        if c != "critical" and normal.any():  # false alarms second
            lim = max(lim, float(np.quantile(score[normal], 1 - fa_floor)))
        critical = faults_here & (crit_of == "critical")
        if critical.any():
            lim = min(lim, float(score[critical].min()) - critical_margin)
        if critical_fa_cap < 1.0 and c == "critical" and normal.any():
            lim = max(lim, float(np.quantile(score[normal], 1 - critical_fa_cap)))
        out[c] = float(1 / (1 + np.exp(-lim)))
    return Thresholds(out)
