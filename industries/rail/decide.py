"""From model outputs to flags: two scores joined, one threshold per criticality class.

Two models score every crop: the crop classifier gives class probabilities over ``normal``, the
trained fault modes and ``anomaly`` (the synthetic-anomaly target: "not this slot's usual
look"), and the per-slot PCA normal model (``rail_slot_normal``) a residual score. Each score
becomes a *normal-tail rank*: r = -log10 of the share of validation normal crops scoring at
least as high (1 = one normal crop in 10 scores this high, 3 = one in 1,000), read from a table
of validation normal-score quantiles (:class:`Joined`, kept in the slot model's card). The two
ranks are summed (a Fisher-style combination: on normal crops the two scores barely agree, rank
correlation 0.16, so their false alarms are different crops, while a smooth bend is somewhat
unusual to both). A crop is flagged for a person when the sum reaches the threshold of the
crop's component class: the worst criticality any fault of that component has in the catalogue.
Safety-critical components get the lowest thresholds (recall first, false alarms second).

The suspected mode is the classifier's most likely fault mode the catalogue allows; ``anomaly``
is reported as ``unknown_anomaly``, and so is a crop the classifier's rank alone would not flag
(the slot model's residual tipped it): it carries its component's worst criticality and a person
names it. Without a joined table (a project that retrained only the classifier) the classifier
decides alone: its fault score 1 - P(normal) against its card's per-class thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agentarts.industries.rail.catalogue import CRITICALITIES, Catalogue

__all__ = [
    "ANOMALY",
    "MAX_SENSITIVITY",
    "Decisions",
    "Joined",
    "Thresholds",
    "check_sensitivity",
    "choose_joined",
    "choose_thresholds",
    "decide",
    "logit",
    "lowered",
    "tail_table",
]

ANOMALY = "anomaly"  # the synthetic-anomaly class of the crop model


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


#: the most a deployment may lower the validated line (decades): at 2 the joined decision
#: flags several times more crops than a person can confirm in a train's slot
MAX_SENSITIVITY = 2.0


def check_sensitivity(value: object, where: str = "sensitivity") -> float:
    """``value`` as a sensitivity in decades, or ValueError saying what is allowed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number of decades, got {value!r}")
    if not 0.0 <= float(value) <= MAX_SENSITIVITY:
        raise ValueError(
            f"{where} must be from 0 to {MAX_SENSITIVITY:g} decades, got {value!r} (0 is the "
            "line validated for critical recall; it can be lowered, never raised)"
        )
    return float(value)


def lowered(threshold: np.ndarray, sensitivity: float) -> np.ndarray:
    """Thresholds on 1 - P(normal) with their odds lowered by ``sensitivity`` decades."""
    if sensitivity == 0.0:
        return threshold
    return 1.0 / (1.0 + np.exp(-(logit(threshold) - sensitivity * np.log(10.0))))


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


def tail_table(normal: np.ndarray, step: float = 0.05) -> dict[str, list[float]]:
    """Quantiles of validation normal scores on a grid of tail ranks 0, step, ... up to
    log10(n): ``score[k]`` is the score that a share 10 ** -rank[k] of the normals reach."""
    v = np.sort(np.asarray(normal, np.float64)[np.isfinite(normal)])
    ranks = np.arange(0.0, np.log10(len(v)) + 1e-9, step)
    ge = np.maximum(np.ceil(len(v) * 10.0**-ranks).astype(int), 1)
    scores = np.maximum.accumulate(v[len(v) - ge] + np.arange(len(ranks)) * 1e-9)
    return {"rank": [round(float(r), 4) for r in ranks], "score": [float(x) for x in scores]}


def _rank(score: np.ndarray, table: dict[str, list[float]]) -> np.ndarray:
    """The tail rank of each score (0 at or below the median region). Beyond the rarest
    validation normal the rank grows linearly with the score at the slope of the last decade
    (an exponential tail), so an extreme score keeps counting."""
    r, s = np.asarray(table["rank"]), np.asarray(table["score"], np.float64)
    s = np.maximum.accumulate(s + np.arange(len(s)) * 1e-9)  # strictly increasing for interp
    x = np.nan_to_num(np.asarray(score, np.float64), nan=-np.inf)
    out = np.interp(x, s, r, left=0.0, right=r[-1])
    if len(r) < 2:
        return out
    back = max(len(r) - 1 - round(1.0 / max(r[1] - r[0], 1e-9)), 0)
    slope = (r[-1] - r[back]) / max(s[-1] - s[back], 1e-6)
    beyond = x > s[-1]
    out[beyond] = r[-1] + (x[beyond] - s[-1]) * slope
    return out


@dataclass(frozen=True)
class Joined:
    """The joined decision: tail tables of both scores and one threshold per class on the sum
    of the ranks; ``classifier`` is the classifier card's own threshold table it was fitted
    with (a retrained classifier no longer matches, and the classifier then decides alone)."""

    classifier_tail: dict[str, list[float]]  # on logit(1 - P(normal))
    slot_tail: dict[str, list[float]]  # on the slot model's standardised score
    threshold: dict[str, float]  # criticality class -> threshold on the rank sum
    classifier: dict[str, float]

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any]) -> Joined:
        table = (metrics.get("decision") or {}).get("joined")
        try:
            return cls(
                {k: list(table["classifier_tail"][k]) for k in ("rank", "score")},
                {k: list(table["slot_tail"][k]) for k in ("rank", "score")},
                {c: float(table["threshold"][c]) for c in CRITICALITIES},
                {c: float(table["classifier"][c]) for c in CRITICALITIES},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"slot model card has no usable joined decision: {exc}") from exc

    def card_table(self) -> dict[str, Any]:
        """The card's ``[metrics] decision`` entry ``from_metrics`` reads back."""
        return {
            "joined": {
                "threshold": self.threshold,
                "classifier": self.classifier,
                "classifier_tail": self.classifier_tail,
                "slot_tail": self.slot_tail,
            }
        }

    def matches(self, thresholds: Thresholds) -> bool:
        return all(
            abs(self.classifier[c] - thresholds.classifier[c]) < 1e-5 for c in self.classifier
        )

    def ranks(self, probs: np.ndarray, slot_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _rank(logit(1 - probs[:, 0]), self.classifier_tail), _rank(
            slot_score, self.slot_tail
        )

    def of(self, components: list[str], catalogue: Catalogue) -> np.ndarray:
        worst = {c: catalogue.worst(c) for c in set(components)}
        return np.array([self.threshold[worst[c]] for c in components], np.float64)


@dataclass
class Decisions:
    flagged: np.ndarray  # bool per crop
    fault_score: np.ndarray  # 1 - P(normal), the classifier's
    anomaly: np.ndarray  # P(anomaly): the part of the fault score no trained mode explains
    mode: list[str]  # suspected mode per crop ("normal" when not flagged)
    criticality: list[str]  # of the suspected fault type ("" when not flagged)
    #: the decision score over the crop's threshold (joined: rank sum / its class threshold;
    #: classifier alone: fault score / threshold): 1.58 = 58 % above the line; >= 1 is flagged
    score_over_threshold: np.ndarray
    seen_only: np.ndarray  # what the classifier's trained-mode probabilities alone would flag
    classifier_only: np.ndarray  # what the classifier alone flags (its card's thresholds)
    slot_score: np.ndarray | None = None  # the slot model's score (joined decision only)
    rank_sum: np.ndarray | None = None  # the joined decision's score (joined decision only)
    #: distance past the line in use, in decades (joined: rank sum minus threshold; the
    #: classifier alone: decades of odds); >= 0 is flagged
    margin: np.ndarray | None = None


def decide(
    probs: np.ndarray,
    components: list[str],
    classes: tuple[str, ...],
    thresholds: Thresholds,
    catalogue: Catalogue,
    slot_score: np.ndarray | None = None,
    joined: Joined | None = None,
    sensitivity: float = 0.0,
) -> Decisions:
    """Flags, modes and criticalities; joined when ``joined`` and ``slot_score`` are given.

    ``sensitivity`` (decades, 0 to ``MAX_SENSITIVITY``) lowers every threshold of the decision,
    never raises it: the joined rank-sum thresholds by that many decades of normal-tail share,
    the classifier's own (when it decides alone) by that many decades of odds. 0 is the line
    chosen on validation data; ``classifier_only`` and ``seen_only`` stay at the card's."""
    check_sensitivity(sensitivity)
    worst = {c: catalogue.worst(c) for c in set(components)}
    t = thresholds.of(components, catalogue)
    fault = 1.0 - probs[:, 0]
    k_an = classes.index(ANOMALY) if ANOMALY in classes else None
    an = probs[:, k_an] if k_an is not None else np.zeros(len(probs), np.float32)
    classifier_only = fault >= t
    seen_only = (fault - an) >= t
    t_line = lowered(t, sensitivity)
    flagged, ratio, by_classifier, total = (
        fault >= t_line,
        fault / np.maximum(t_line, 1e-6),
        None,
        None,
    )
    margin = (logit(fault) - logit(t_line)) / np.log(10.0)
    if joined is not None and slot_score is not None:
        r1, r2 = joined.ranks(probs, slot_score)
        tj = joined.of(components, catalogue) - sensitivity
        total = r1 + r2
        flagged, ratio, by_classifier = total >= tj, total / np.maximum(tj, 1e-6), r1 >= tj
        margin = total - tj
    modes, crits = [], []
    for i, comp in enumerate(components):
        if not flagged[i]:
            modes.append("normal")
            crits.append("")
            continue
        if by_classifier is not None and not by_classifier[i]:
            modes.append("unknown_anomaly")  # the slot model's residual tipped it
            crits.append(worst[comp])
            continue
        allowed = {*catalogue.modes_of(comp), ANOMALY}
        order = np.argsort(-probs[i, 1:]) + 1
        mode = next((classes[k] for k in order if classes[k] in allowed), ANOMALY)
        if mode == ANOMALY:
            mode = "unknown_anomaly"
        ft = catalogue.get(comp, mode)
        modes.append(mode)
        crits.append(ft.criticality if ft is not None else worst[comp])
    return Decisions(
        flagged,
        fault,
        an,
        modes,
        crits,
        ratio,
        seen_only,
        classifier_only,
        slot_score,
        total,
        margin,
    )


def class_limits(
    score: np.ndarray,
    components: list[str],
    faults: list[str],
    catalogue: Catalogue,
    critical_margin: float,
    other_recall: float,
    fa_floor: float,
    critical_fa_cap: float = 1.0,
) -> dict[str, float]:
    """Per component class, on validation crops, a limit on ``score`` (higher = more
    suspicious): it keeps ``other_recall`` of the class's faults but, outside the critical
    class, never flags more than ``fa_floor`` of its normal crops; then every critical fault is
    flagged ``critical_margin`` inside the line, and (only if ``critical_fa_cap`` < 1) the
    critical class never flags more than that share of its normal crops. A class without
    validation faults gets None."""
    worst = np.array([catalogue.worst(c) for c in components])
    crit_of = np.array(
        [
            (catalogue.get(c, f).criticality if f != "normal" and catalogue.get(c, f) else "")
            for c, f in zip(components, faults, strict=True)
        ]
    )
    is_fault = np.array([f != "normal" for f in faults])
    out: dict[str, float] = {}
    for c in CRITICALITIES:
        here = worst == c
        normal = here & ~is_fault
        faults_here = here & is_fault
        if not faults_here.any():
            continue
        lim = float(np.quantile(score[faults_here], 1 - other_recall))
        if c != "critical" and normal.any():  # false alarms second
            lim = max(lim, float(np.quantile(score[normal], 1 - fa_floor)))
        critical = faults_here & (crit_of == "critical")
        if critical.any():
            lim = min(lim, float(score[critical].min()) - critical_margin)
        if critical_fa_cap < 1.0 and c == "critical" and normal.any():
            lim = max(lim, float(np.quantile(score[normal], 1 - critical_fa_cap)))
        out[c] = lim
    return out


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
    """The classifier's own thresholds on 1 - P(normal) (``class_limits`` on its logit;
    ``critical_margin`` in nats); a class without validation faults gets 0.5."""
    lim = class_limits(
        logit(1 - probs[:, 0]),
        components,
        faults,
        catalogue,
        critical_margin,
        other_recall,
        fa_floor,
        critical_fa_cap,
    )
    return Thresholds(
        {c: float(1 / (1 + np.exp(-lim[c]))) if c in lim else 0.5 for c in CRITICALITIES}
    )


def choose_joined(
    probs: np.ndarray,
    slot_score: np.ndarray,
    components: list[str],
    faults: list[str],
    catalogue: Catalogue,
    classifier: Thresholds,
    critical_margin: float,
    other_recall: float,
    fa_floor: float,
    critical_fa_cap: float = 1.0,
) -> Joined:
    """The joined decision on validation crops: tail tables from their normal crops, then the
    same per-class policy as the classifier's on the rank sum (``critical_margin`` in decades
    of normal-tail share). A class without validation faults gets the critical class's limit."""
    normal = np.array([f == "normal" for f in faults])
    partial = Joined(
        tail_table(logit(1 - probs[normal, 0])),
        tail_table(slot_score[normal]),
        dict.fromkeys(CRITICALITIES, 0.0),
        dict(classifier.classifier),
    )
    r1, r2 = partial.ranks(probs, slot_score)
    lim = class_limits(
        r1 + r2,
        components,
        faults,
        catalogue,
        critical_margin,
        other_recall,
        fa_floor,
        critical_fa_cap,
    )
    fallback = lim.get("critical", 2.0)
    return Joined(
        partial.classifier_tail,
        partial.slot_tail,
        {c: round(lim.get(c, fallback), 4) for c in CRITICALITIES},
        partial.classifier,
    )
