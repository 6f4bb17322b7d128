"""Selection strategies on scripted verdicts and scores: the paper's procedure step by step, the drop rule,
ties and failures, and the cost of every strategy."""

from __future__ import annotations

import pytest

from unireward.pairs import (
    BestWorst,
    Paper,
    PromptCandidates,
    SimulatedJudge,
    SimulatedNoise,
    Swiss,
    bradley_terry,
    get_strategy,
    select,
    select_many,
    shapes_prompts,
)
from unireward.pairs.strategies import win_probability
from unireward.tasks import Failure, Score, Verdict

PAPER_PAIRS = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
FAIL = Failure("parse", "scripted failure")


class ScriptedJudge:
    """Answers from scripts keyed by candidate indices; records every call it receives.

    winners: {(a, b): "A" | "B" | "tie" | None (failure)}; unlisted pairs follow `order` (a hidden true
    ranking, best first). scores: {i: value | None (failure)}."""

    def __init__(self, winners=None, scores=None, order=None, scale=(1.0, 10.0)):
        self.winners, self.scores, self.order, self.scale = winners or {}, scores or {}, order, scale
        self.rank_calls: list[list[tuple[int, int]]] = []
        self.score_calls: list[list[int]] = []
        self.swaps: list[bool | None] = []

    @staticmethod
    def _indices(item_id):
        return item_id.rsplit("#", 1)[1]

    def rank(self, items, *, swap=None):
        self.swaps.append(swap)
        pairs = [tuple(int(x) for x in self._indices(it.id).split("-")) for it in items]
        self.rank_calls.append(pairs)
        out = []
        for a, b in pairs:
            if (a, b) in self.winners:
                w = self.winners[a, b]
            else:
                w = "A" if self.order.index(a) < self.order.index(b) else "B"
            out.append(Verdict(w, failure=FAIL) if w is None else Verdict(w))
        return out

    def score(self, items):
        idx = [int(self._indices(it.id)) for it in items]
        self.score_calls.append(idx)
        return [
            Score(None, self.scale, failure=FAIL)
            if self.scores.get(i) is None
            else Score(self.scores[i], self.scale)
            for i in idx
        ]


def prompt(n=10, pid="p"):
    return PromptCandidates(
        pid, "image_und", "What colour?", [f"answer {i}" for i in range(n)], media="img.png"
    )


# Winners 0, 3, 4, 7, 8; losers 1, 2, 5, 6, 9.
WINNERS = {(0, 1): "A", (2, 3): "B", (4, 5): "A", (6, 7): "B", (8, 9): "A"}
SCORES = {0: 6.0, 1: 5.0, 2: 10.0, 3: 9.0, 4: 7.0, 5: 3.0, 6: 4.0, 7: 8.0, 8: 2.0, 9: 1.0}


def test_paper_procedure_step_by_step():
    judge = ScriptedJudge(WINNERS, SCORES)
    sel = select(Paper(), judge, prompt())
    # 1. five disjoint pairs ranked, in one call; 2. the ten paired candidates scored, in one call.
    assert judge.rank_calls == [PAPER_PAIRS]
    assert judge.score_calls == [list(range(10))]
    assert sel.calls == 15 and sel.strategy == "paper"
    # chosen = best-scored WINNER (3: 9.0; candidate 2 has 10.0 but lost its pair), and scores are floats:
    # 9.0 beats 8.0 and 10.0 is not "smaller than 9" as a string comparison would have it.
    # rejected = worst-scored LOSER (9: 1.0; candidate 8 scored 2.0 but won its pair).
    assert [(p.chosen, p.rejected, p.chosen_score, p.rejected_score) for p in sel.pairs] == [(3, 9, 9.0, 1.0)]
    assert sel.dropped is None and sel.ties == 0 and sel.failures == 0
    assert [(c.a, c.b, c.verdict.winner) for c in sel.comparisons] == [
        (0, 1, "A"),
        (2, 3, "B"),
        (4, 5, "A"),
        (6, 7, "B"),
        (8, 9, "A"),
    ]
    assert sorted(sel.scores) == list(range(10))


def test_paper_string_comparison_bug_not_repeated():
    scores = dict(SCORES) | {3: 9.0, 7: 10.0}  # "9" > "10" as strings; 10.0 > 9.0 as numbers
    sel = select(Paper(), ScriptedJudge(WINNERS, scores), prompt())
    assert sel.pairs[0].chosen == 7


@pytest.mark.parametrize("chosen_score", [1.0, 0.5])
def test_paper_drops_when_chosen_not_better(chosen_score):
    # every winner scores at most the worst loser: equal (1.0 == 1.0) or worse -> the prompt is dropped
    scores = {i: (chosen_score if i in (0, 3, 4, 7, 8) else 1.0 + i) for i in range(10)}
    scores[9] = 1.0
    sel = select(Paper(), ScriptedJudge(WINNERS, scores), prompt())
    assert sel.pairs == [] and sel.dropped == "chosen_not_better" and sel.calls == 15


def test_paper_tie_policies():
    winners = dict(WINNERS) | {(2, 3): "tie"}  # the pair holding the two best-scored candidates ties
    sel = select(Paper(tie_policy="drop_pair"), ScriptedJudge(winners, SCORES), prompt())
    assert sel.ties == 1
    assert (sel.pairs[0].chosen, sel.pairs[0].rejected) == (7, 9)  # 2 and 3 are neither winner nor loser
    sel = select(Paper(tie_policy="score_break"), ScriptedJudge(winners, SCORES), prompt())
    assert (sel.pairs[0].chosen, sel.pairs[0].rejected) == (2, 9)  # 10.0 beat 9.0 in the tied pair
    # equal scores cannot break a tie: the pair still yields nothing
    scores = dict(SCORES) | {2: 9.0}
    sel = select(Paper(tie_policy="score_break"), ScriptedJudge(winners, scores), prompt())
    assert (sel.pairs[0].chosen, sel.pairs[0].rejected) == (7, 9)


def test_paper_all_ties_never_means_candidate_one_wins():
    winners = {p: "tie" for p in PAPER_PAIRS}
    sel = select(Paper(), ScriptedJudge(winners, SCORES), prompt())
    assert sel.pairs == [] and sel.dropped == "no_decisive_pair" and sel.ties == 5


def test_paper_failure_policies():
    winners = dict(WINNERS) | {(2, 3): None}  # unparsable verdict on the pair holding the best winner
    sel = select(Paper(failure_policy="drop_pair"), ScriptedJudge(winners, SCORES), prompt())
    assert sel.failures == 1 and (sel.pairs[0].chosen, sel.pairs[0].rejected) == (7, 9)
    sel = select(Paper(failure_policy="drop_prompt"), ScriptedJudge(winners, SCORES), prompt())
    assert sel.pairs == [] and sel.dropped == "verdict_failure"

    scores = dict(SCORES) | {3: None}  # the best winner's score failed: it cannot be chosen
    sel = select(Paper(), ScriptedJudge(WINNERS, scores), prompt())
    assert sel.failures == 1 and (sel.pairs[0].chosen, sel.pairs[0].rejected) == (7, 9)
    sel = select(Paper(failure_policy="drop_prompt"), ScriptedJudge(WINNERS, scores), prompt())
    assert sel.pairs == [] and sel.dropped == "score_failure"


def test_paper_edge_sizes_and_swap_cost():
    judge = ScriptedJudge(order=[4, 3, 2, 1, 0], scores={i: float(10 - i) for i in range(5)})
    sel = select(Paper(), judge, prompt(5))
    assert judge.rank_calls == [[(0, 1), (2, 3)]] and judge.score_calls == [[0, 1, 2, 3]]
    assert sel.calls == 6
    judge = ScriptedJudge()
    sel = select(Paper(), judge, prompt(1))
    assert sel.calls == 0 and sel.dropped == "too_few_candidates" and judge.rank_calls == []
    judge = ScriptedJudge(WINNERS, SCORES)
    assert select(Paper(), judge, prompt(), swap=True).calls == 5 * 2 + 10
    assert judge.swaps == [True]


def test_paper_rejects_unknown_policies():
    with pytest.raises(ValueError, match="tie_policy"):
        Paper(tie_policy="first_wins")
    with pytest.raises(ValueError, match="unknown strategy"):
        get_strategy("best_of_n")


def test_best_worst_margin_and_failures():
    judge = ScriptedJudge(scores=SCORES)
    sel = select(BestWorst(min_margin=0.5), judge, prompt())
    assert judge.rank_calls == [] and judge.score_calls == [list(range(10))] and sel.calls == 10
    assert (sel.pairs[0].chosen, sel.pairs[0].rejected) == (2, 9)  # 10.0 vs 1.0: (10-1)/(10-1) = 1.0
    close = {i: 5.0 + 0.1 * i for i in range(10)}  # spread 0.9 on a 1-10 scale = 0.1 of the range
    assert select(BestWorst(min_margin=0.2), ScriptedJudge(scores=close), prompt()).dropped == "below_margin"
    assert select(BestWorst(min_margin=0.05), ScriptedJudge(scores=close), prompt()).pairs
    same = {i: 3.0 for i in range(10)}
    assert select(BestWorst(min_margin=0.0), ScriptedJudge(scores=same), prompt()).dropped == "below_margin"
    failed = dict(SCORES) | {2: None}
    assert select(BestWorst(), ScriptedJudge(scores=failed), prompt()).pairs[0].chosen == 3
    assert select(
        BestWorst(failure_policy="drop_prompt"), ScriptedJudge(scores=failed), prompt()
    ).dropped == ("score_failure")


def test_swiss_rounds_cost_and_finds_the_extremes():
    order = [6, 2, 9, 0, 4, 7, 1, 8, 3, 5]  # a consistent judge: 6 is best, 5 is worst
    judge = ScriptedJudge(order=order)
    sel = select(Swiss(rounds=3, max_pairs=2, min_confidence=0.6), judge, prompt())
    assert len(judge.rank_calls) == 3 and judge.score_calls == []
    assert sel.calls == 15 and len(sel.comparisons) == 15
    played = [frozenset(p) for r in judge.rank_calls for p in r]
    assert len(set(played)) == 15  # no rematch
    for r in judge.rank_calls:
        assert sorted(i for p in r for i in p) == list(range(10))  # every candidate plays once a round
    assert (sel.pairs[0].chosen, sel.pairs[0].rejected) == (6, 5)
    used = [i for p in sel.pairs for i in (p.chosen, p.rejected)]
    assert len(sel.pairs) == 2 and len(set(used)) == 4  # no candidate in two pairs
    assert sel.pairs[0].confidence >= sel.pairs[1].confidence >= 0.6
    assert all(sel.strengths[p.chosen] > sel.strengths[p.rejected] for p in sel.pairs)


def test_swiss_ties_failures_and_confidence():
    ties = {(a, b): "tie" for a in range(10) for b in range(a + 1, 10)}
    sel = select(Swiss(), ScriptedJudge(ties), prompt())
    assert sel.pairs == [] and sel.dropped == "low_confidence" and sel.ties == 15
    assert all(abs(s) < 1e-9 for s in sel.strengths)  # ties are half wins: nobody is stronger
    fails = {(a, b): None for a in range(10) for b in range(a + 1, 10)}
    sel = select(Swiss(), ScriptedJudge(fails), prompt())
    assert sel.pairs == [] and sel.failures == 15
    assert (
        select(Swiss(failure_policy="drop_prompt"), ScriptedJudge(fails), prompt()).dropped
        == "verdict_failure"
    )


def test_round_robin_cost():
    judge = ScriptedJudge(order=list(range(10)))
    sel = select(get_strategy("round_robin"), judge, prompt())
    assert sel.calls == 45 and len(judge.rank_calls) == 1
    assert (sel.pairs[0].chosen, sel.pairs[0].rejected) == (0, 9)


def test_bradley_terry():
    wins = [[0, 2, 2], [0, 0, 1], [0, 1, 0]]
    s = bradley_terry(wins)
    assert s[0] > s[1] == pytest.approx(s[2]) and abs(sum(s)) < 1e-9  # the prior centres strengths
    assert win_probability(s, 0, 1) > 0.5 > win_probability(s, 1, 0)
    assert bradley_terry([[0, 3], [0, 0]], prior=0.1)[0] > bradley_terry([[0, 3], [0, 0]], prior=1.0)[0]


def test_select_many_batches_rounds_and_matches_one_by_one():
    prompts = [prompt(10, f"p{k}") for k in range(4)] + [prompt(6, "short")]
    judge = ScriptedJudge(order=[3, 1, 4, 0, 5, 9, 2, 6, 8, 7][::-1], scores={i: float(i) for i in range(10)})
    for strategy in (Paper(), Swiss(), BestWorst()):
        judge.rank_calls, judge.score_calls = [], []
        many = select_many(strategy, judge, prompts)
        rounds = 3 if isinstance(strategy, Swiss) else 1
        assert len(judge.rank_calls) == (0 if isinstance(strategy, BestWorst) else rounds)
        one = [select(strategy, judge, p) for p in prompts]
        assert [s.to_dict() for s in many] == [s.to_dict() for s in one]


def test_simulated_judge_is_order_and_batch_independent():
    prompts = shapes_prompts("image_gen", 6, seed=3, render=False)
    judge = SimulatedJudge.from_prompts(prompts, noise=SimulatedNoise(failure_rate=0.2))
    together = [s.to_dict() for s in select_many(Paper(), judge, prompts)]
    fresh = SimulatedJudge.from_prompts(prompts, noise=SimulatedNoise(failure_rate=0.2))
    apart = [select(Paper(), fresh, p).to_dict() for p in reversed(prompts)][::-1]
    assert together == apart
    assert any(s["failures"] for s in together)
