"""From model outputs to flags: per-criticality thresholds on both scores.

A crop is flagged for a person when the classifier's fault probability (1 - P(normal)) or the
anomaly score reaches the threshold of the crop's component class: the worst criticality any
fault of that component has in the catalogue. Safety-critical components therefore get the
lowest thresholds (recall first, false alarms second). The suspected mode is the classifier's
most likely fault mode; a crop flagged by the anomaly scorer alone is reported as
``unknown_anomaly`` with the component's worst criticality (a person decides).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agentarts.industries.rail.catalogue import CRITICALITIES, Catalogue

__all__ = ["Decisions", "Thresholds", "decide"]


@dataclass(frozen=True)
class Thresholds:
    classifier: dict[str, float]  # criticality class -> threshold on 1 - P(normal)
    anomaly: dict[str, float]  # criticality class -> threshold on the anomaly score

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any]) -> Thresholds:
        table = metrics.get("decision") or {}
        try:
            return cls(
                {c: float(table["classifier"][c]) for c in CRITICALITIES},
                {c: float(table["anomaly"][c]) for c in CRITICALITIES},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"model card has no usable [metrics.decision] table: {exc}") from exc


@dataclass
class Decisions:
    flagged: np.ndarray  # bool per crop
    fault_score: np.ndarray  # 1 - P(normal)
    anomaly: np.ndarray
    mode: list[str]  # suspected mode per crop ("normal" when not flagged)
    criticality: list[str]  # of the suspected fault type ("" when not flagged)
    confidence: np.ndarray  # max over both scores, relative to its threshold (>= 1 flagged)


def decide(
    probs: np.ndarray,
    anomaly: np.ndarray,
    components: list[str],
    classes: tuple[str, ...],
    thresholds: Thresholds,
    catalogue: Catalogue,
) -> Decisions:
    worst = {c: catalogue.worst(c) for c in set(components)}
    cls_t = np.array([thresholds.classifier[worst[c]] for c in components])
    an_t = np.array([thresholds.anomaly[worst[c]] for c in components])
    fault = 1.0 - probs[:, 0]
    an = anomaly.reshape(-1)
    by_cls, by_an = fault >= cls_t, an >= an_t
    flagged = by_cls | by_an
    modes, crits = [], []
    for i, comp in enumerate(components):
        if not flagged[i]:
            modes.append("normal")
            crits.append("")
            continue
        allowed = set(catalogue.modes_of(comp))
        order = np.argsort(-probs[i, 1:]) + 1
        mode = next((classes[k] for k in order if classes[k] in allowed), "unknown_anomaly")
        if not by_cls[i]:
            mode = "unknown_anomaly"
        ft = catalogue.get(comp, mode)
        modes.append(mode)
        crits.append(ft.criticality if ft is not None else worst[comp])
    confidence = np.maximum(fault / np.maximum(cls_t, 1e-6), an / np.maximum(an_t, 1e-6))
    return Decisions(flagged, fault, an, modes, crits, confidence)


def choose_thresholds(
    probs: np.ndarray,
    anomaly: np.ndarray,
    components: list[str],
    faults: list[str],
    catalogue: Catalogue,
    critical_margin: float,
    other_recall: float,
    anomaly_fa: float,
    critical_fa_cap: float = 1.0,
) -> Thresholds:
    """Per component class: anomaly threshold at the ``anomaly_fa`` quantile of normal crops;
    classifier threshold so every critical fault (not already flagged by the anomaly path) is
    flagged ``critical_margin`` nats inside the line, and ``other_recall`` of the others; in
    the major and minor classes never below the ``anomaly_fa`` quantile of normal crops, in the
    critical class never below the ``critical_fa_cap`` quantile (1.0: no cap)."""
    worst = np.array([catalogue.worst(c) for c in components])
    crit_of = np.array(
        [
            (catalogue.get(c, f).criticality if f != "normal" and catalogue.get(c, f) else "")
            for c, f in zip(components, faults, strict=True)
        ]
    )
    is_fault = np.array([f != "normal" for f in faults])
    logit = np.log(np.clip(1 - probs[:, 0], 1e-7, 1)) - np.log(np.clip(probs[:, 0], 1e-7, 1))
    an = anomaly.reshape(-1)
    cls_t, an_t = {}, {}
    for c in CRITICALITIES:
        here = worst == c
        normal = here & ~is_fault
        an_t[c] = float(np.quantile(an[normal], 1 - anomaly_fa)) if normal.any() else 0.5
        an_t[c] = min(max(an_t[c], 0.05), 0.999)
        faults_here = here & is_fault
        if not faults_here.any():
            cls_t[c] = 0.5
            continue
        lim = float(np.quantile(logit[faults_here], 1 - other_recall))
        if c != "critical" and normal.any():  # false alarms second: at most anomaly_fa here
            lim = max(lim, float(np.quantile(logit[normal], 1 - anomaly_fa)))
        # every critical fault the anomaly path does not already flag must pass this one
        critical = faults_here & (crit_of == "critical") & (an < an_t[c])
        if critical.any():
            lim = min(lim, float(logit[critical].min()) - critical_margin)
        if c == "critical" and normal.any():  # the cap that keeps the person's queue usable
            lim = max(lim, float(np.quantile(logit[normal], 1 - critical_fa_cap)))
        cls_t[c] = float(1 / (1 + np.exp(-lim)))
    return Thresholds(cls_t, an_t)
