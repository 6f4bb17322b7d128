"""Selection strategies: which of a prompt's candidates become (chosen, rejected) DPO pairs.

A strategy only decides which comparisons and scores to ask for and what to conclude from the answers; it
never touches a model. It is written as a generator of rounds: each round yields `(pairs, points)` — the
candidate index pairs to rank and the candidate indices to score — and receives `(verdicts, scores)` back.
That lets `select_many` run one round for many prompts in one judge call (full batches on a GPU), and makes
the cost exact: every item sent to the judge is counted in `Selection.calls` (a swapped ranking counts 2).

Strategies (`STRATEGIES`):
- `paper`: the UnifiedReward pipeline, exactly: 5 disjoint pairs ranked, the 10 paired candidates scored,
  chosen = best-scored winner, rejected = worst-scored loser, dropped when score(chosen) <= score(rejected).
  15 calls per 10-candidate prompt, at most one pair. Ties and failures follow explicit policies.
- `best_worst`: pointwise only (VideoDPO style): highest vs lowest score, kept above a minimum margin.
  n calls, at most one pair.
- `swiss`: Swiss rounds of pairwise comparisons (round 1 disjoint pairs, later rounds pair candidates of
  similar strength without rematches), aggregated with a Bradley–Terry fit; emits the top-k vs bottom-k
  candidates whose fitted win probability clears `min_confidence`. rounds * floor(n/2) calls (15 for 10
  candidates with 3 rounds), up to `max_pairs` pairs.
- `round_robin`: every pair once, the same Bradley–Terry aggregation; n(n-1)/2 calls (45 for 10) — the
  expensive reference.

No strategy ever turns a tie or a failure into "candidate 1 wins": a tie is a tie (half a win in a
Bradley–Terry fit), a failure is counted and contributes nothing. Scores are compared as floats.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

from unireward.tasks import PairItem, PointItem, Score, Task, Verdict

Round = tuple[list[tuple[int, int]], list[int]]  # (pairs to rank, candidates to score)
Answers = tuple[list[Verdict], list[Score]]
Steps = Generator[Round, Answers, "Decision"]

TIE_POLICIES = ("drop_pair", "score_break")
FAILURE_POLICIES = ("drop_pair", "drop_prompt")


class JudgeLike(Protocol):
    """What a strategy needs from a judge: `unireward.judge.Judge` or a simulated one."""

    def rank(self, items: Sequence[PairItem], *, swap: bool | None = None) -> list[Verdict]: ...

    def score(self, items: Sequence[PointItem]) -> list[Score]: ...


@dataclass
class PromptCandidates:
    """One prompt and its candidates: media sources (generation) or answer texts (understanding).

    `media` is the shared image/video of understanding tasks. `meta` travels untouched into the run's
    records (e.g. the shapes world's oracle scores, a dataset's own ids).
    """

    id: str
    task: Task
    prompt: str
    candidates: list[Any]
    media: Any = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.task = Task.parse(self.task)


@dataclass
class ChosenPair:
    """One emitted preference pair, by candidate index. `confidence` is the Bradley–Terry win probability
    (pairwise strategies) and None otherwise."""

    chosen: int
    rejected: int
    chosen_score: float | None = None
    rejected_score: float | None = None
    confidence: float | None = None


@dataclass
class Decision:
    """What a strategy concludes from the answers: pairs, or an empty list and the reason."""

    pairs: list[ChosenPair]
    dropped: str | None = None
    strengths: list[float] | None = None


@dataclass
class Comparison:
    a: int
    b: int
    verdict: Verdict


@dataclass
class Selection:
    """Everything one prompt's selection did: the pairs, the cost and the evidence behind them."""

    strategy: str
    pairs: list[ChosenPair]
    calls: int
    comparisons: list[Comparison]
    scores: dict[int, Score]
    dropped: str | None = None
    strengths: list[float] | None = None

    @property
    def ties(self) -> int:
        return sum(1 for c in self.comparisons if c.verdict.winner == "tie")

    @property
    def failures(self) -> int:
        return sum(1 for c in self.comparisons if not c.verdict.ok) + sum(
            1 for s in self.scores.values() if not s.ok
        )

    def to_dict(self) -> dict:
        """JSON-ready, deterministic (no timings): the run's per-prompt record is built from this."""
        return {
            "strategy": self.strategy,
            "calls": self.calls,
            "pairs": [asdict(p) for p in self.pairs],
            "dropped": self.dropped,
            "ties": self.ties,
            "failures": self.failures,
            "strengths": self.strengths,
            "verdicts": [{"a": c.a, "b": c.b, **c.verdict.to_dict()} for c in self.comparisons],
            "scores": [{"candidate": i, **self.scores[i].to_dict()} for i in sorted(self.scores)],
        }


# ------------------------------------------------------------------------------------------ strategies


class Strategy:
    """A selection strategy: `steps(n)` is the generator of rounds described in the module docstring."""

    name: ClassVar[str] = ""

    def steps(self, n: int) -> Steps:
        raise NotImplementedError

    def options(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]


def _value(scores: dict[int, Score], i: int) -> float | None:
    s = scores.get(i)
    return float(s.value) if s is not None and s.ok and s.value is not None else None


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


@dataclass
class Paper(Strategy):
    """The paper's pair ranking + point sifting (see PROTOCOL.md, "Preference-pair construction").

    Pairs are consecutive candidates (0, 1), (2, 3), ...; candidates are independent samples, so any
    fixed pairing is as good as a random one and keeps runs reproducible. An odd last candidate is left out.

    tie_policy: "drop_pair" (default; a tied pair yields no winner and no loser) or "score_break" (the
    tied pair's point scores decide; equal or missing scores still drop it).
    failure_policy: "drop_pair" (default; a failed verdict yields no winner/loser, a candidate whose score
    failed cannot be chosen or rejected) or "drop_prompt" (any failure drops the prompt).
    Among equally scored winners (losers) the lowest index is taken, so the outcome is deterministic.
    """

    name: ClassVar[str] = "paper"
    tie_policy: str = "drop_pair"
    failure_policy: str = "drop_pair"

    def __post_init__(self) -> None:
        _check("tie_policy", self.tie_policy, TIE_POLICIES)
        _check("failure_policy", self.failure_policy, FAILURE_POLICIES)

    def steps(self, n: int) -> Steps:
        if n < 2:
            return Decision([], "too_few_candidates")
        pairs = [(2 * k, 2 * k + 1) for k in range(n // 2)]
        verdicts, score_list = yield pairs, [i for p in pairs for i in p]
        scores = dict(zip([i for p in pairs for i in p], score_list))
        if self.failure_policy == "drop_prompt":
            if any(not v.ok for v in verdicts):
                return Decision([], "verdict_failure")
            if any(not s.ok for s in scores.values()):
                return Decision([], "score_failure")
        winners, losers = [], []
        for (a, b), v in zip(pairs, verdicts):
            if not v.ok:
                continue
            if v.winner == "tie":
                if self.tie_policy == "drop_pair":
                    continue
                sa, sb = _value(scores, a), _value(scores, b)
                if sa is None or sb is None or sa == sb:
                    continue
                w, lose = (a, b) if sa > sb else (b, a)
            else:
                w, lose = (a, b) if v.winner == "A" else (b, a)
            winners.append(w)
            losers.append(lose)
        scored_w = [i for i in winners if _value(scores, i) is not None]
        scored_l = [i for i in losers if _value(scores, i) is not None]
        if not scored_w or not scored_l:
            return Decision([], "no_decisive_pair")
        chosen = max(scored_w, key=lambda i: (_value(scores, i), -i))
        rejected = min(scored_l, key=lambda i: (_value(scores, i), i))
        sc, sr = _value(scores, chosen), _value(scores, rejected)
        if sc <= sr:
            return Decision([], "chosen_not_better")
        return Decision([ChosenPair(chosen, rejected, sc, sr)])


@dataclass
class BestWorst(Strategy):
    """Pointwise only: score every candidate, pair the highest with the lowest (VideoDPO style).

    min_margin: the least (chosen - rejected) difference kept, as a fraction of the score scale's range
    (Score.scale; absolute when a score carries no scale). The difference must also be > 0.
    Failed scores exclude their candidate ("drop_pair") or drop the prompt ("drop_prompt").
    """

    name: ClassVar[str] = "best_worst"
    min_margin: float = 0.1
    failure_policy: str = "drop_pair"

    def __post_init__(self) -> None:
        _check("failure_policy", self.failure_policy, FAILURE_POLICIES)
        if self.min_margin < 0:
            raise ValueError("min_margin must be >= 0")

    def steps(self, n: int) -> Steps:
        if n < 2:
            return Decision([], "too_few_candidates")
        _, score_list = yield [], list(range(n))
        scores = dict(enumerate(score_list))
        if self.failure_policy == "drop_prompt" and any(not s.ok for s in score_list):
            return Decision([], "score_failure")
        ok = [i for i in range(n) if _value(scores, i) is not None]
        if len(ok) < 2:
            return Decision([], "too_few_scores")
        chosen = max(ok, key=lambda i: (_value(scores, i), -i))
        rejected = min(ok, key=lambda i: (_value(scores, i), i))
        sc, sr = _value(scores, chosen), _value(scores, rejected)
        scale = scores[chosen].scale
        width = (scale[1] - scale[0]) if scale else 1.0
        if sc <= sr or (sc - sr) / width < self.min_margin:
            return Decision([], "below_margin")
        return Decision([ChosenPair(chosen, rejected, sc, sr)])


@dataclass
class Swiss(Strategy):
    """Swiss rounds + Bradley–Terry: spend the budget on comparisons between candidates of similar
    strength, where a verdict is most informative, then pair the strongest with the weakest.

    rounds: rounds of floor(n/2) comparisons each (3 rounds of 5 = 15 calls for 10 candidates, the
    paper's budget). max_pairs: pairs emitted at most (top-1 vs bottom-1, top-2 vs bottom-2, ...; no
    candidate is used twice). min_confidence: least fitted P(chosen beats rejected) to emit a pair.
    prior: precision of the Gaussian prior on strengths (keeps undefeated candidates finite).
    A tie is half a win for each side; failed verdicts are left out ("drop_pair") or drop the prompt.

    Defaults put quality first: one pair per prompt, at the paper's 15 calls, more often truly better than
    the paper's (benchmarks/pairs_quality.py); `max_pairs=2` trades a little of that for ~20% more pairs.
    """

    name: ClassVar[str] = "swiss"
    rounds: int = 3
    max_pairs: int = 1
    min_confidence: float = 0.8
    prior: float = 1.0
    failure_policy: str = "drop_pair"

    def __post_init__(self) -> None:
        _check("failure_policy", self.failure_policy, FAILURE_POLICIES)
        if self.rounds < 1 or self.max_pairs < 1:
            raise ValueError("rounds and max_pairs must be >= 1")
        if not 0.5 <= self.min_confidence < 1:
            raise ValueError("min_confidence must be in [0.5, 1)")

    def schedule(
        self, n: int, round_index: int, strengths: list[float], played: set
    ) -> list[tuple[int, int]]:
        if round_index == 0:
            return [(2 * k, 2 * k + 1) for k in range(n // 2)]
        return _swiss_pairing(n, strengths, played)

    def num_rounds(self) -> int:
        return self.rounds

    def steps(self, n: int) -> Steps:
        if n < 2:
            return Decision([], "too_few_candidates")
        wins = [[0.0] * n for _ in range(n)]
        played: set[frozenset] = set()
        strengths = [0.0] * n
        for r in range(self.num_rounds()):
            pairs = self.schedule(n, r, strengths, played)
            if not pairs:
                break
            verdicts, _ = yield pairs, []
            for (a, b), v in zip(pairs, verdicts):
                played.add(frozenset((a, b)))
                if not v.ok:
                    if self.failure_policy == "drop_prompt":
                        return Decision([], "verdict_failure")
                    continue
                wa = {"A": 1.0, "B": 0.0, "tie": 0.5}[v.winner]
                wins[a][b] += wa
                wins[b][a] += 1.0 - wa
            strengths = bradley_terry(wins, self.prior)
        return _emit(strengths, self.max_pairs, self.min_confidence)


@dataclass
class RoundRobin(Swiss):
    """Every pair once (n(n-1)/2 calls), aggregated like `swiss`: the costly reference."""

    name: ClassVar[str] = "round_robin"
    rounds: int = 1

    def schedule(
        self, n: int, round_index: int, strengths: list[float], played: set
    ) -> list[tuple[int, int]]:
        return [(a, b) for a in range(n) for b in range(a + 1, n)]

    def num_rounds(self) -> int:
        return 1


STRATEGIES: dict[str, type[Strategy]] = {s.name: s for s in (Paper, BestWorst, Swiss, RoundRobin)}


def get_strategy(strategy: str | Strategy, **options: Any) -> Strategy:
    """A strategy by name with its options (`get_strategy("swiss", rounds=4)`), or one passed through."""
    if isinstance(strategy, Strategy):
        if options:
            raise ValueError("options are given to the strategy's constructor, not with an instance")
        return strategy
    try:
        cls = STRATEGIES[strategy]
    except KeyError:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}") from None
    return cls(**options)


def _swiss_pairing(n: int, strengths: list[float], played: set) -> list[tuple[int, int]]:
    """Adjacent candidates in strength order, avoiding rematches where an unplayed partner exists."""
    order = sorted(range(n), key=lambda i: (-strengths[i], i))
    free = list(order)
    pairs = []
    while len(free) >= 2:
        a = free.pop(0)
        k = next((k for k, b in enumerate(free) if frozenset((a, b)) not in played), 0)
        b = free.pop(k)
        pairs.append((min(a, b), max(a, b)))
    return pairs


def bradley_terry(wins: list[list[float]], prior: float = 1.0, iterations: int = 50) -> list[float]:
    """MAP Bradley–Terry strengths from a win matrix (wins[i][j]: times i beat j; ties as 0.5 each) with a
    N(0, 1/prior) prior, by Newton's method (the objective is strictly concave)."""
    import numpy as np

    w = np.asarray(wins, dtype=float)
    n = w.shape[0]
    games = w + w.T
    theta = np.zeros(n)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
        grad = (w - games * p).sum(axis=1) - prior * theta
        weight = games * p * (1 - p)
        hess = np.diag(weight.sum(axis=1) + prior) - weight
        step = np.linalg.solve(hess, grad)
        theta = theta + step
        if float(np.abs(step).max()) < 1e-10:
            break
    return [float(t) for t in theta]


def win_probability(strengths: list[float], i: int, j: int) -> float:
    return 1.0 / (1.0 + math.exp(-(strengths[i] - strengths[j])))


def _emit(strengths: list[float], max_pairs: int, min_confidence: float) -> Decision:
    order = sorted(range(len(strengths)), key=lambda i: (-strengths[i], i))
    pairs = []
    for k in range(max_pairs):
        if k >= len(order) - 1 - k:
            break
        c, r = order[k], order[-1 - k]
        p = win_probability(strengths, c, r)
        if p < min_confidence:
            break
        pairs.append(ChosenPair(c, r, confidence=round(p, 12)))
    rounded = [round(s, 12) for s in strengths]
    return Decision(pairs, None if pairs else "low_confidence", rounded)


# ------------------------------------------------------------------------------------------ drivers


def select(
    strategy: Strategy, judge: JudgeLike, prompt: PromptCandidates, *, swap: bool | None = None
) -> Selection:
    """Run a strategy on one prompt."""
    return select_many(strategy, judge, [prompt], swap=swap)[0]


def judge_swap(judge: JudgeLike, swap: bool | None) -> bool:
    """The swap a run uses: `swap` when given, else the judge's own setting (a model may record it)."""
    return bool(getattr(getattr(judge, "config", None), "swap", False)) if swap is None else swap


def select_many(
    strategy: Strategy, judge: JudgeLike, prompts: Sequence[PromptCandidates], *, swap: bool | None = None
) -> list[Selection]:
    """Run a strategy on many prompts in lockstep: each round is one `rank` and one `score` call for all of
    them. Item ids are "<prompt id>#<i>-<j>" (pairs) and "<prompt id>#<i>" (scores), so every verdict can
    be traced back. swap: None uses the judge's own setting."""
    swap = judge_swap(judge, swap)
    gens = [strategy.steps(len(p.candidates)) for p in prompts]
    state: list[dict] = [{"comparisons": [], "scores": {}, "calls": 0} for _ in prompts]
    results: list[Selection | None] = [None] * len(prompts)
    pending: dict[int, Round] = {}

    def advance(k: int, answers: Answers | None) -> None:
        try:
            pending[k] = next(gens[k]) if answers is None else gens[k].send(answers)
        except StopIteration as stop:
            pending.pop(k, None)
            d: Decision = stop.value
            st = state[k]
            results[k] = Selection(
                strategy.name, d.pairs, st["calls"], st["comparisons"], st["scores"], d.dropped, d.strengths
            )

    for k in range(len(prompts)):
        advance(k, None)
    while pending:
        pair_items: list[PairItem] = []
        point_items: list[PointItem] = []
        spans: dict[int, tuple[int, int, int, int]] = {}
        for k, (pairs, points) in sorted(pending.items()):
            p = prompts[k]
            p0, q0 = len(pair_items), len(point_items)
            for a, b in pairs:
                pair_items.append(
                    PairItem(p.task, p.prompt, p.candidates[a], p.candidates[b], p.media, f"{p.id}#{a}-{b}")
                )
            for i in points:
                point_items.append(PointItem(p.task, p.prompt, p.candidates[i], p.media, f"{p.id}#{i}"))
            spans[k] = (p0, len(pair_items), q0, len(point_items))
        verdicts = judge.rank(pair_items, swap=swap) if pair_items else []
        scores = judge.score(point_items) if point_items else []
        for k in sorted(spans):
            p0, p1, q0, q1 = spans[k]
            pairs, points = pending[k]
            st = state[k]
            st["calls"] += (p1 - p0) * (2 if swap else 1) + (q1 - q0)
            st["comparisons"] += [Comparison(a, b, v) for (a, b), v in zip(pairs, verdicts[p0:p1])]
            st["scores"].update(zip(points, scores[q0:q1]))
            advance(k, (verdicts[p0:p1], scores[q0:q1]))
    return results  # type: ignore[return-value]
