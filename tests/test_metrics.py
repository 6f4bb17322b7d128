"""Reward-benchmark metrics on hand-made cases with known answers, and tie calibration against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unireward.bench.metrics import (
    OrderPlan,
    TieCounts,
    accuracy_with_ties,
    accuracy_without_ties,
    accuracy_without_ties_from_diffs,
    decide,
    decisions_from_diffs,
    group_accuracy,
    parse_failure_rate,
    position_consistency,
    randomize_order,
    score_differences,
    tie_calibrated_accuracy,
    tie_threshold_accuracy,
    unswap,
)


# ---------------------------------------------------------------------------------- accuracy with ties
def test_accuracy_with_ties_known_answer():
    labels = ["A", "B", "tie", "A", "tie"]
    preds = ["A", "A", "tie", None, "B"]
    r = accuracy_with_ties(labels, preds)
    assert (r.correct, r.n, r.failures, r.excluded) == (2, 5, 1, 0)
    assert r.accuracy == pytest.approx(0.4)
    assert r.to_dict() == {"accuracy": 0.4, "n": 5, "correct": 2, "failures": 1, "excluded": 0}


def test_accuracy_with_ties_all_tie_and_no_tie_and_single():
    assert accuracy_with_ties(["tie"] * 3, ["tie", "A", "tie"]).accuracy == pytest.approx(2 / 3)
    assert accuracy_with_ties(["A", "B"], ["A", "B"]).accuracy == 1.0
    assert accuracy_with_ties(["A"], ["tie"]).accuracy == 0.0
    single = accuracy_with_ties(["B"], [None])
    assert (single.accuracy, single.n, single.failures) == (0.0, 1, 1)


def test_none_predictions_are_wrong_and_counted():
    r = accuracy_with_ties(["tie", "A", "B"], [None, None, "B"])
    assert (r.correct, r.failures) == (1, 2)
    assert parse_failure_rate([None, None, "B"]).to_dict() == {"rate": 2 / 3, "n": 3, "failures": 2}
    assert parse_failure_rate(["A"]).failures == 0


# ------------------------------------------------------------------------------- accuracy without ties
def test_accuracy_without_ties_drops_human_ties_and_counts_model_ties_wrong():
    labels = ["A", "B", "tie", "A", "tie", "B"]
    preds = ["A", "tie", "A", None, "tie", "B"]
    r = accuracy_without_ties(labels, preds)
    assert (r.n, r.correct, r.failures, r.excluded) == (4, 2, 1, 2)
    assert r.accuracy == 0.5


def test_accuracy_without_ties_no_tie_single_and_all_tie():
    assert accuracy_without_ties(["A", "B", "A"], ["A", "A", "A"]).accuracy == pytest.approx(2 / 3)
    assert accuracy_without_ties(["A"], ["A"]).accuracy == 1.0
    with pytest.raises(ValueError, match="every human label is a tie"):
        accuracy_without_ties(["tie", "tie"], ["tie", "tie"])


# ------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call",
    [
        lambda: accuracy_with_ties([], []),
        lambda: accuracy_without_ties([], []),
        lambda: tie_calibrated_accuracy([], []),
        lambda: accuracy_without_ties_from_diffs([], []),
        lambda: group_accuracy([], [], []),
        lambda: position_consistency([], []),
        lambda: parse_failure_rate([]),
        lambda: unswap([], []),
    ],
)
def test_empty_input_is_an_error(call):
    with pytest.raises(ValueError, match="empty"):
        call()


def test_mismatched_lengths_unknown_labels_nan():
    with pytest.raises(ValueError, match="mismatched lengths"):
        accuracy_with_ties(["A", "B"], ["A"])
    with pytest.raises(ValueError, match="mismatched lengths"):
        tie_calibrated_accuracy(["A", "B"], [1.0])
    with pytest.raises(ValueError, match="mismatched lengths"):
        group_accuracy(["A", "B"], ["A", "B"], ["g"])
    with pytest.raises(ValueError, match="not one of"):
        accuracy_with_ties(["A", "left"], ["A", "B"])
    with pytest.raises(ValueError, match="not one of"):
        accuracy_with_ties(["A", "B"], ["A", "b"])
    with pytest.raises(ValueError, match="NaN"):
        tie_calibrated_accuracy(["A", "B"], [1.0, float("nan")])
    with pytest.raises(ValueError, match="real number"):
        tie_calibrated_accuracy(["A"], ["0.5"])
    with pytest.raises(ValueError, match="epsilon"):
        tie_threshold_accuracy(["A"], [1.0], -0.1)


# ---------------------------------------------------------------------------------- score differences
def test_decide_and_score_differences():
    assert [decide(d, 0.5) for d in (0.6, -0.6, 0.5, -0.5, 0.0)] == ["A", "B", "tie", "tie", "tie"]
    assert decide(0.0) == "tie" and decide(1e-9) == "A" and decide(None) is None
    assert decisions_from_diffs([2.0, None, -1.0], 1.0) == ["A", None, "tie"]
    assert score_differences([3, 1.5, None], [1, 2.5, 4]) == [2.0, -1.0, None]


def test_tie_threshold_accuracy_counts():
    labels = ["A", "B", "tie", "A", "tie", "B", "A"]
    diffs = [2.0, 0.5, 0.2, -3.0, 4.0, -1.0, None]
    r = tie_threshold_accuracy(labels, diffs, 1.0)
    # decisions: A, tie, tie, B, A, tie, None
    assert r.counts == TieCounts(C=1, D=1, T_h=1, T_m=2, T_hm=1)
    assert (r.n, r.failures, r.epsilon) == (7, 1, 1.0)
    assert r.accuracy == pytest.approx(2 / 7)
    assert r.to_dict()["counts"] == {"C": 1, "D": 1, "T_h": 1, "T_m": 2, "T_hm": 1}


def test_tie_calibration_known_answer():
    labels = ["tie", "tie", "A", "B"]
    diffs = [0.1, -0.2, 1.0, -0.3]
    r = tie_calibrated_accuracy(labels, diffs)
    # ε = 0.2 ties both human ties and keeps both decided pairs right: 4/4; ε = 0 gives 2/4.
    assert (r.accuracy, r.epsilon) == (1.0, 0.2)
    assert r.counts == TieCounts(C=2, T_hm=2)


def test_tie_calibration_all_tie_no_tie_single_and_failures():
    all_tie = tie_calibrated_accuracy(["tie"] * 3, [0.5, -2.0, 1.0])
    assert (all_tie.accuracy, all_tie.epsilon) == (1.0, 2.0)
    no_tie = tie_calibrated_accuracy(["A", "B", "A"], [1.0, -2.0, 0.5])
    assert (no_tie.accuracy, no_tie.epsilon) == (1.0, 0.0)
    single = tie_calibrated_accuracy(["A"], [-1.0])
    assert (single.accuracy, single.epsilon, single.counts) == (0.0, 0.0, TieCounts(D=1))
    with_fail = tie_calibrated_accuracy(["tie", "A", "B"], [None, 1.0, -1.0])
    assert (with_fail.accuracy, with_fail.failures, with_fail.n) == (2 / 3, 1, 3)


def _brute_force(labels, diffs):
    """Every candidate ε, scored directly from the definition."""
    best = None
    for eps in sorted({0.0} | {abs(d) for d in diffs if d is not None}):
        right = 0
        for h, d in zip(labels, diffs, strict=True):
            if d is None:
                continue
            m = "tie" if abs(d) <= eps else ("A" if d > 0 else "B")
            right += m == h
        acc = right / len(labels)
        if best is None or acc > best[0]:
            best = (acc, eps)
    return best


@pytest.mark.parametrize("seed", range(8))
def test_tie_calibration_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    labels = list(rng.choice(["A", "B", "tie"], size=n, p=[0.35, 0.35, 0.3]))
    labels = [str(x) for x in labels]
    # integer-valued differences give many exact ties in |d| (and exact zeros); shift them towards the labels
    shift = np.array([{"A": 1, "B": -1, "tie": 0}[h] for h in labels])
    diffs = [float(x) for x in rng.integers(-4, 5, size=n) + shift * rng.integers(0, 3, size=n)]
    if seed % 2:
        diffs = [d / 4 for d in diffs]
        diffs[int(rng.integers(n))] = None
    r = tie_calibrated_accuracy(labels, diffs)
    acc, eps = _brute_force(labels, diffs)
    assert r.accuracy == pytest.approx(acc)
    assert r.epsilon == eps  # smallest maximising ε
    again = tie_threshold_accuracy(labels, diffs, r.epsilon)
    assert again.accuracy == pytest.approx(r.accuracy) and again.counts == r.counts
    c = r.counts
    assert c.C + c.D + c.T_h + c.T_m + c.T_hm + r.failures == n
    assert r.accuracy == pytest.approx((c.C + c.T_hm) / n)


# --------------------------------------------------------------------------- without ties from diffs
def test_accuracy_without_ties_from_diffs():
    labels = ["A", "B", "tie", "A", "B", "tie"]
    diffs = [1.0, 0.0, 0.0, -2.0, -0.5, 3.0]
    r = accuracy_without_ties_from_diffs(labels, diffs)
    # kept: A/1.0 → C, B/0.0 → T_m (exact zero is a model tie at ε=0), A/-2 → D, B/-0.5 → C
    assert (r.n, r.excluded, r.epsilon) == (4, 2, 0.0)
    assert r.counts == TieCounts(C=2, D=1, T_m=1)
    assert r.accuracy == 0.5
    at_eps = accuracy_without_ties_from_diffs(labels, diffs, epsilon=0.5)
    assert at_eps.counts == TieCounts(C=1, D=1, T_m=2)
    with pytest.raises(ValueError, match="every human label is a tie"):
        accuracy_without_ties_from_diffs(["tie"], [0.0])
    assert accuracy_without_ties_from_diffs(["A"], [None]).to_dict()["failures"] == 1


# ---------------------------------------------------------------------------------------------- groups
def test_group_macro_differs_from_micro_on_unbalanced_groups():
    labels = ["A"] * 10
    groups = ["general"] * 8 + ["reasoning"] * 2
    preds = ["A"] * 8 + ["B", None]
    r = group_accuracy(labels, preds, groups)
    assert list(r.per_group) == ["general", "reasoning"]
    assert r.per_group["general"].accuracy == 1.0
    assert (r.per_group["reasoning"].accuracy, r.per_group["reasoning"].failures) == (0.0, 1)
    assert r.overall.accuracy == pytest.approx(0.8)
    assert r.macro == pytest.approx(0.5)
    assert r.failures == 1
    d = r.to_dict()
    assert d["macro"] == pytest.approx(0.5) and d["per_group"]["general"]["n"] == 8


def test_group_single_group_macro_equals_micro():
    r = group_accuracy(["A", "B", "A"], ["A", "A", "A"], ["g", "g", "g"])
    assert r.macro == r.overall.accuracy == pytest.approx(2 / 3)


# ------------------------------------------------------------------------------------ order handling
def test_position_consistency():
    ab = ["A", "B", "tie", "A", None, "A", "tie"]
    ba = ["B", "A", "tie", "A", "B", None, "A"]
    r = position_consistency(ab, ba)
    # consistent: 0, 1, 2; item 3 keeps the first slot (position bias); 4, 5 failures; 6 tie vs decided
    assert (r.consistent, r.n, r.failures) == (3, 7, 2)
    assert r.consistency == pytest.approx(3 / 7)
    assert position_consistency(["tie"], ["tie"]).consistency == 1.0


def test_randomize_order_deterministic_and_balanced():
    a = randomize_order(1000, seed=7)
    assert a == randomize_order(1000, seed=7)
    assert a != randomize_order(1000, seed=8)
    assert sum(a) == 500
    assert sum(randomize_order(11, seed=0)) == 5
    assert randomize_order(0, seed=0) == []
    # not just the first half: swaps are spread over the items
    assert 200 < sum(a[:500]) < 300
    assert OrderPlan(7, a).to_dict()["swapped"] == a
    with pytest.raises(ValueError, match="seed"):
        randomize_order(3, seed=None)


def test_unswap_round_trip():
    truth = ["A", "B", "tie", "A", None, "B"]
    swapped = randomize_order(len(truth), seed=3)
    presented = unswap(truth, swapped)  # what a position-faithful judge would say in presented order
    flip = {"A": "B", "B": "A"}
    assert presented == [flip.get(t, t) if s else t for t, s in zip(truth, swapped, strict=True)]
    assert any(swapped) and not all(swapped)
    assert unswap(presented, swapped) == truth
    assert unswap(["A", "tie"], [True, True]) == ["B", "tie"]
    with pytest.raises(ValueError, match="mismatched lengths"):
        unswap(["A"], [True, False])


def test_results_are_finite():
    r = tie_calibrated_accuracy(["A", "B"], [math.inf, -math.inf])
    assert (r.accuracy, r.epsilon) == (1.0, 0.0)
