"""Reward-benchmark metrics: pure functions over labels, verdicts and score differences.

Conventions shared by every function here:

- Human labels are outcomes "A", "B" or "tie" (`unireward.tasks.Outcome`), A being the first candidate of
  the pair as stored in the benchmark.
- Model verdicts are outcomes or None. None means the model gave no usable answer (a parse failure); it is
  always counted as wrong *and* counted in a `failures` field, never dropped.
- Score differences are `score(A) - score(B)` (floats, or None for a failure). Pointwise scorers are
  benchmarked on pair data through these differences (`score_differences`). With a tie threshold ε ≥ 0 the
  model's decision is "tie" when |d| ≤ ε, else "A" when d > 0 and "B" when d < 0 (`decide`).
- Empty inputs, mismatched lengths, unknown labels and NaN differences raise ValueError.

Which benchmark uses which metric:

- GenAI-Bench "tau" = `accuracy_with_ties`; "diff" = `accuracy_without_ties`.
- VideoGen-RewardBench: `tie_calibrated_accuracy` (with ties, Deutsch et al. 2023, arXiv 2305.14324) and
  `accuracy_without_ties_from_diffs` (without ties, at ε = 0 by default).
- VL-RewardBench: `group_accuracy` (per group, overall = micro, macro) with parse failures counted.
- MJ-Bench: `tie_threshold_accuracy` at a fixed ε.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from unireward.tasks import OUTCOMES, Outcome

_SWAP: dict[Outcome, Outcome] = {"A": "B", "B": "A", "tie": "tie"}


# ----------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class AccuracyResult:
    """accuracy = correct / n. `failures` counts None verdicts among the n (each also counted wrong);
    `excluded` counts items left out by the metric's rule (human ties for accuracy without ties)."""

    accuracy: float
    n: int
    correct: int
    failures: int
    excluded: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TieCounts:
    """The pair counts of Deutsch et al. (2023), comparing the human label with the model decision.

    C: both non-tie and agree. D: both non-tie and disagree. T_h: human tie only. T_m: model tie only.
    T_hm: both tie. Failures (no score) are in none of these; they are counted by the result that holds them.
    """

    C: int = 0
    D: int = 0
    T_h: int = 0
    T_m: int = 0
    T_hm: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class CalibratedResult:
    """Accuracy from score differences at a tie threshold `epsilon`, with the counts it came from.

    n = C + D + T_h + T_m + T_hm + failures over the counted items; `excluded` counts items the metric
    leaves out (human ties, for accuracy without ties)."""

    accuracy: float
    epsilon: float
    n: int
    counts: TieCounts
    failures: int
    excluded: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GroupResult:
    """Accuracy per group, overall (micro: pooled over all items) and macro (unweighted mean of groups)."""

    per_group: dict[Hashable, AccuracyResult]
    overall: AccuracyResult
    macro: float

    @property
    def failures(self) -> int:
        return self.overall.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_group": {str(g): r.to_dict() for g, r in self.per_group.items()},
            "overall": self.overall.to_dict(),
            "macro": self.macro,
            "failures": self.failures,
        }


@dataclass(frozen=True)
class ConsistencyResult:
    """consistency = consistent / n; `failures` counts items with a None verdict in either order."""

    consistency: float
    n: int
    consistent: int
    failures: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FailureStats:
    """rate = failures / n, where a failure is a None verdict or score."""

    rate: float
    n: int
    failures: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OrderPlan:
    """A recorded order randomisation: `swapped[i]` is True when item i was presented as (B, A)."""

    seed: int
    swapped: list[bool] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -------------------------------------------------------------------------------------------- validation
def _nonempty(values: Sequence[Any], name: str) -> list[Any]:
    values = list(values)
    if not values:
        raise ValueError(f"{name} is empty: a metric over no items is undefined")
    return values


def _same_length(**seqs: list[Any]) -> None:
    lengths = {name: len(s) for name, s in seqs.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"mismatched lengths: {lengths}")


def _labels(labels: Sequence[Any], name: str = "labels") -> list[Outcome]:
    labels = _nonempty(labels, name)
    for i, x in enumerate(labels):
        if not isinstance(x, str) or x not in OUTCOMES:
            raise ValueError(f"{name}[{i}] = {x!r} is not one of {OUTCOMES}")
    return labels


def _preds(preds: Sequence[Any], name: str = "preds") -> list[Outcome | None]:
    preds = _nonempty(preds, name)
    for i, x in enumerate(preds):
        if x is not None and (not isinstance(x, str) or x not in OUTCOMES):
            raise ValueError(f"{name}[{i}] = {x!r} is not one of {OUTCOMES} or None (a failure)")
    return preds


def _diffs(diffs: Sequence[Any], name: str = "diffs") -> list[float | None]:
    out: list[float | None] = []
    for i, x in enumerate(_nonempty(diffs, name)):
        if x is None:
            out.append(None)
            continue
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
            raise ValueError(f"{name}[{i}] = {x!r} is not a real number or None (a failure)")
        x = float(x)
        if math.isnan(x):
            raise ValueError(f"{name}[{i}] is NaN; pass None for an item the model failed to score")
        out.append(x)
    return out


def _epsilon(epsilon: float) -> float:
    epsilon = float(epsilon)
    if math.isnan(epsilon) or epsilon < 0:
        raise ValueError(f"tie threshold epsilon must be >= 0, got {epsilon}")
    return epsilon


# ------------------------------------------------------------------------------------- verdict accuracy
def accuracy_with_ties(labels: Sequence[Outcome], preds: Sequence[Outcome | None]) -> AccuracyResult:
    """Accuracy counting ties (GenAI-Bench "tau"): the model must say "tie" on human ties.

    Rule: correct when pred == label; accuracy = correct / n over all n items; None verdicts are wrong and
    counted in `failures`.
    """
    labels, preds = _labels(labels), _preds(preds)
    _same_length(labels=labels, preds=preds)
    correct = sum(p == h for h, p in zip(labels, preds, strict=True))
    failures = sum(p is None for p in preds)
    return AccuracyResult(correct / len(labels), len(labels), correct, failures)


def accuracy_without_ties(labels: Sequence[Outcome], preds: Sequence[Outcome | None]) -> AccuracyResult:
    """Accuracy on human-non-tied pairs only (GenAI-Bench "diff").

    Rule: keep the items whose label is "A" or "B" (`excluded` = the number of human ties dropped); correct
    when pred == label, so a model "tie" or None on a kept item is wrong; accuracy = correct / kept.
    Equals C / (C + D + T_m + failures) in Deutsch et al.'s counts. Raises ValueError when every label is a
    tie (nothing to score).
    """
    labels, preds = _labels(labels), _preds(preds)
    _same_length(labels=labels, preds=preds)
    kept = [(h, p) for h, p in zip(labels, preds, strict=True) if h != "tie"]
    if not kept:
        raise ValueError("accuracy without ties is undefined: every human label is a tie")
    correct = sum(p == h for h, p in kept)
    failures = sum(p is None for _, p in kept)
    return AccuracyResult(correct / len(kept), len(kept), correct, failures, excluded=len(labels) - len(kept))


def group_accuracy(
    labels: Sequence[Outcome], preds: Sequence[Outcome | None], groups: Sequence[Hashable]
) -> GroupResult:
    """Accuracy per group, overall and macro (VL-RewardBench: general / hallucination / reasoning).

    Rule: each group's accuracy is `accuracy_with_ties` over its items; overall (micro) = total correct /
    total n; macro = unweighted mean of the group accuracies. None verdicts are wrong and counted in each
    group's and the overall `failures`. Groups appear in order of first occurrence.
    """
    labels, preds = _labels(labels), _preds(preds)
    groups = _nonempty(groups, "groups")
    _same_length(labels=labels, preds=preds, groups=groups)
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    per_group = {
        g: accuracy_with_ties([labels[i] for i in idx], [preds[i] for i in idx]) for g, idx in members.items()
    }
    overall = accuracy_with_ties(labels, preds)
    macro = sum(r.accuracy for r in per_group.values()) / len(per_group)
    return GroupResult(per_group, overall, macro)


def parse_failure_rate(preds: Sequence[Any]) -> FailureStats:
    """Parse failures: failures = number of None entries (verdicts or scores); rate = failures / n."""
    preds = _nonempty(preds, "preds")
    failures = sum(p is None for p in preds)
    return FailureStats(failures / len(preds), len(preds), failures)


# --------------------------------------------------------------------------------- score differences
def score_differences(
    scores_a: Sequence[float | None], scores_b: Sequence[float | None]
) -> list[float | None]:
    """d = score(A) - score(B) per item, so a pointwise scorer can be benchmarked on pairs; None when
    either score is missing (a failure)."""
    a, b = _diffs(scores_a, "scores_a"), _diffs(scores_b, "scores_b")
    _same_length(scores_a=a, scores_b=b)
    return [None if x is None or y is None else x - y for x, y in zip(a, b, strict=True)]


def decide(diff: float | None, epsilon: float = 0.0) -> Outcome | None:
    """The model decision from a difference d: "tie" if |d| ≤ ε, "A" if d > ε, "B" if d < -ε; None stays
    None (a failure)."""
    if diff is None:
        return None
    d, epsilon = _diffs([diff])[0], _epsilon(epsilon)
    if abs(d) <= epsilon:
        return "tie"
    return "A" if d > 0 else "B"


def decisions_from_diffs(diffs: Sequence[float | None], epsilon: float = 0.0) -> list[Outcome | None]:
    """`decide` applied to every difference."""
    return [decide(d, epsilon) for d in _diffs(diffs)]


def _counts(labels: list[Outcome], decisions: list[Outcome | None]) -> TieCounts:
    c = dict.fromkeys(("C", "D", "T_h", "T_m", "T_hm"), 0)
    for h, m in zip(labels, decisions, strict=True):
        if m is None:
            continue
        if h == "tie":
            c["T_hm" if m == "tie" else "T_h"] += 1
        elif m == "tie":
            c["T_m"] += 1
        else:
            c["C" if m == h else "D"] += 1
    return TieCounts(**c)


def tie_threshold_accuracy(
    labels: Sequence[Outcome], diffs: Sequence[float | None], epsilon: float
) -> CalibratedResult:
    """Accuracy with ties at a fixed tie threshold ε (MJ-Bench style; also the score at any chosen ε).

    Rule: decisions by `decide(d, ε)`; accuracy = (C + T_hm) / (C + D + T_h + T_m + T_hm + failures), a None
    difference being wrong and counted in `failures`.
    """
    labels, diffs, epsilon = _labels(labels), _diffs(diffs), _epsilon(epsilon)
    _same_length(labels=labels, diffs=diffs)
    counts = _counts(labels, [decide(d, epsilon) for d in diffs])
    failures = sum(d is None for d in diffs)
    return CalibratedResult((counts.C + counts.T_hm) / len(labels), epsilon, len(labels), counts, failures)


def tie_calibrated_accuracy(labels: Sequence[Outcome], diffs: Sequence[float | None]) -> CalibratedResult:
    """Accuracy with ties by tie calibration (Deutsch et al. 2023, arXiv 2305.14324; VideoGen-RewardBench).

    Rule: ε* = argmax over ε of (C + T_hm) / (C + D + T_h + T_m + T_hm + failures), with the model deciding
    "tie" when |d| ≤ ε. Only ε in {0} ∪ {distinct |d|} need be tried (any other ε ties the same items as the
    largest candidate below it); among equally good thresholds the smallest is returned. The denominator is
    n for every ε, so only the numerator is compared, in integers. Cost O(n log n): sort |d| once and sweep.
    The returned ε is fitted on these very items, so it is optimistic; report it with the accuracy.
    """
    labels, diffs = _labels(labels), _diffs(diffs)
    _same_length(labels=labels, diffs=diffs)
    ok = [i for i, d in enumerate(diffs) if d is not None]
    d = np.array([diffs[i] for i in ok], dtype=float)
    human = np.array([{"A": 1, "B": -1, "tie": 0}[labels[i]] for i in ok], dtype=int)
    a = np.abs(d)
    order = np.argsort(a, kind="stable")
    a_sorted = a[order]
    # Item status when NOT tied by the model: correct (C) if a non-tie label agrees with sign(d). When tied:
    # correct (T_hm) iff the label is a tie. cum_*[k] = count among the k smallest |d| (the tied ones).
    correct_untied = (human != 0) & (np.sign(d) == human)
    human_tie = human == 0
    cum_c = np.concatenate([[0], np.cumsum(correct_untied[order])])
    cum_t = np.concatenate([[0], np.cumsum(human_tie[order])])
    candidates = np.unique(np.concatenate([[0.0], a_sorted]))
    k = np.searchsorted(a_sorted, candidates, side="right")  # items with |d| <= ε
    numerators = (cum_c[-1] - cum_c[k]) + cum_t[k]
    best = int(np.argmax(numerators))  # first maximum = smallest ε
    return tie_threshold_accuracy(labels, diffs, float(candidates[best]))


def accuracy_without_ties_from_diffs(
    labels: Sequence[Outcome], diffs: Sequence[float | None], epsilon: float = 0.0
) -> CalibratedResult:
    """Accuracy without ties from score differences (VideoGen-RewardBench "w/o ties").

    Rule: keep items whose human label is "A" or "B" (so T_h and T_hm vanish; `excluded` counts the dropped
    human ties); accuracy = C / (C + D + T_m + failures) with decisions `decide(d, ε)`. The default ε = 0
    makes the model tie only where the difference is exactly 0 (equal scores cannot name a winner), so no
    threshold is fitted for this metric; pass the calibrated ε to score at that threshold instead.
    """
    labels, diffs, epsilon = _labels(labels), _diffs(diffs), _epsilon(epsilon)
    _same_length(labels=labels, diffs=diffs)
    kept = [i for i, h in enumerate(labels) if h != "tie"]
    if not kept:
        raise ValueError("accuracy without ties is undefined: every human label is a tie")
    kl = [labels[i] for i in kept]
    kd = [diffs[i] for i in kept]
    counts = _counts(kl, [decide(x, epsilon) for x in kd])
    failures = sum(x is None for x in kd)
    return CalibratedResult(
        counts.C / len(kept), epsilon, len(kept), counts, failures, excluded=len(labels) - len(kept)
    )


# ------------------------------------------------------------------------------------- order handling
def swap_outcome(outcome: Outcome | None) -> Outcome | None:
    """The same verdict seen from the other presentation order: A ↔ B, tie → tie, None → None."""
    if outcome is None:
        return None
    if outcome not in _SWAP:
        raise ValueError(f"{outcome!r} is not one of {OUTCOMES} or None")
    return _SWAP[outcome]


def position_consistency(
    preds_ab: Sequence[Outcome | None], preds_ba: Sequence[Outcome | None]
) -> ConsistencyResult:
    """How often a verdict survives swapping the candidates (a measure of position bias).

    `preds_ab[i]` is the verdict with the pair shown as (A, B); `preds_ba[i]` the verdict with it shown as
    (B, A), in that presentation's own terms ("A" = the first shown = the original B). Rule: consistent when
    preds_ab[i] == swap_outcome(preds_ba[i]) (ties map to ties); a None in either order is inconsistent and
    counted in `failures`; consistency = consistent / n.
    """
    ab, ba = _preds(preds_ab, "preds_ab"), _preds(preds_ba, "preds_ba")
    _same_length(preds_ab=ab, preds_ba=ba)
    pairs = list(zip(ab, ba, strict=True))
    failures = sum(x is None or y is None for x, y in pairs)
    consistent = sum(x is not None and y is not None and x == _SWAP[y] for x, y in pairs)
    return ConsistencyResult(consistent / len(ab), len(ab), consistent, failures)


def randomize_order(n: int, seed: int) -> list[bool]:
    """Which of n items to present swapped, as (B, A): True = swapped.

    Rule: exactly n // 2 items are swapped, chosen by a shuffle from `numpy.random.default_rng(seed)`, so the
    plan is balanced and deterministic per seed. Record the seed and the returned list with the results
    (`OrderPlan`), and map verdicts back with `unswap`.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer (None would not be reproducible), got {seed!r}")
    swapped = np.zeros(int(n), dtype=bool)
    swapped[: int(n) // 2] = True
    np.random.default_rng(int(seed)).shuffle(swapped)
    return [bool(x) for x in swapped]


def unswap(preds: Sequence[Outcome | None], swapped: Sequence[bool]) -> list[Outcome | None]:
    """Map verdicts given in presented order back to the stored (A, B) order: swapped items get A ↔ B,
    ties and None are unchanged. Applying it twice returns the input."""
    preds, swapped = _preds(preds), _nonempty(swapped, "swapped")
    _same_length(preds=preds, swapped=swapped)
    return [swap_outcome(p) if s else p for p, s in zip(preds, swapped, strict=True)]
