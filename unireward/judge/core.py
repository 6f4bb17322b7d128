"""The Judge: "which is better?" and "how good is this?" for lists of items, batched.

    judge = load_judge("CodeGoat24/UnifiedReward-qwen-7b", protocol="v1-qwen")
    verdicts = judge.rank([PairItem("image_gen", "a red circle", "a.png", "b.png")])
    scores = judge.score([PointItem("image_gen", "a red circle", "a.png")])

Two ways to decide, chosen by `decision`:
- "generate": greedy decoding, then the protocol parses the answer (how the released checkpoints were
  evaluated). An unparsable answer is a counted failure with its raw text.
- "logits": one forward pass per item over the prompt plus the tokens that tell the verdicts apart; gives a
  probability for every verdict (and for scores, the expected value over the score tokens). No parse
  failures and continuous scores, but the model's reasoning before the verdict is skipped.
- "reason": greedy decoding, then the answer's last line (the verdict or `Final Score: N`) is replaced by
  the logit decision given everything the model wrote before it. The model still reasons first, but its
  verdict can only be one the protocol allows (no "Answer 1 is better than Answer 1"), and scores are
  expected values rather than integers. One more forward pass per item than "generate".

`samples` > 1 is test-time agreement for the two decisions that generate: each item gets that many answers
sampled at `temperature` instead of one greedy answer, and the judgement is their average ("reason":
verdict probabilities or expected scores; "generate": vote shares or the mean written score). It costs
`samples` times the generation and can only change items whose answers vary with the sampling.

Each item's media are loaded and validated before any model call; a broken item fails alone.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from unireward.judge.backend import Backend, Prepared
from unireward.media import FramePolicy, MediaError, content_hash, load_media
from unireward.protocols import DEFAULT_PROTOCOL, get_protocol
from unireward.protocols.base import Conversation, Protocol
from unireward.tasks import OUTCOMES, Failure, PairItem, PointItem, Score, Verdict

DECISIONS = ("logits", "generate", "reason")
_SWAP = {"A": "B", "B": "A", "tie": "tie"}


@dataclass
class JudgeConfig:
    """How a judge asks and decides. Recorded with every result."""

    protocol: str = DEFAULT_PROTOCOL
    decision: str = "logits"
    # How `score` decides, where it should differ from `decision` (None: as `decision`). A reasoning judge
    # can rank best by "reason" with `swap` yet score best by "generate" (its integer scores rank points
    # better than their expected values; research log, session 20).
    point_decision: str | None = None
    swap: bool = False
    batch_size: int = 8
    max_new_tokens: int = 512
    frame_policy: FramePolicy = field(default_factory=FramePolicy)
    # Answers sampled per item where the decision generates (1: one greedy answer), at `temperature`; the
    # k-th sample of every batch is drawn with random seed `seed + k`, so a run repeats exactly.
    samples: int = 1
    temperature: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {self.decision!r}")
        if self.point_decision not in (None, *DECISIONS):
            raise ValueError(
                f"point_decision must be one of {DECISIONS} or None, got {self.point_decision!r}"
            )
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if self.samples > 1 and not self.temperature > 0:
            raise ValueError(
                f"sampling {self.samples} answers per item needs a temperature above 0, got "
                f"{self.temperature}; use samples=1 for greedy decoding"
            )


class Judge:
    def __init__(self, backend: Backend, config: JudgeConfig | None = None) -> None:
        self.backend = backend
        self.config = config or JudgeConfig()
        self.protocol: Protocol = get_protocol(self.config.protocol)
        multiple = max(getattr(backend, "frame_multiple", 1), self.config.frame_policy.multiple_of)
        self.frame_policy = dataclasses.replace(self.config.frame_policy, multiple_of=multiple)

    # -- public API ----------------------------------------------------------------------------------------

    def rank(
        self,
        items: Sequence[PairItem],
        *,
        decision: str | None = None,
        swap: bool | None = None,
        progress: bool = False,
    ) -> list[Verdict]:
        """A Verdict per pair, in input order. With `swap`, each pair is also judged as (b, a) and the two
        are combined: probabilities averaged (logits) or votes counted (generate); `swap_consistent`
        records whether both orders agreed, and a generate disagreement is reported as a tie."""
        decision = self._decision(decision)
        swap = self.config.swap if swap is None else swap
        items = list(items)
        first = self._rank_once(items, decision, progress)
        if not swap:
            return first
        second = self._rank_once([it.swapped() for it in items], decision, progress)
        return [_combine_swapped(a, b, decision) for a, b in zip(first, second)]

    def score(
        self, items: Sequence[PointItem], *, decision: str | None = None, progress: bool = False
    ) -> list[Score]:
        """A Score per item, in input order, on the protocol's scale for the item's task; `decision`
        defaults to the config's `point_decision`, else its `decision`."""
        decision = self._decision(decision or self.config.point_decision)
        items = list(items)
        convs = [self.protocol.point_conversation(it) for it in items]
        prepared, failures = self._prepare(convs, items)
        results: list[Score | None] = [None] * len(items)
        for i, f in failures.items():
            results[i] = self._score_result(items[i], decision, failure=f)
        order = _bucket([i for i in range(len(items)) if i in prepared], prepared)
        for chunk in self._chunks(order, progress, "score"):
            batch = [prepared[i] for i in chunk]
            answers = self._answers(batch, decision)
            if decision == "generate":
                for i, texts in zip(chunk, answers):
                    parsed = [self.protocol.parse_point(items[i].task, t) for t in texts]
                    results[i] = self._score_result(items[i], decision, **_written_scores(parsed, texts))
            else:
                choices = [self.protocol.point_choices(items[i].task) for i in chunk]
                endings = [[c.prefix + v for v in c.values.values()] for c in choices]
                chunk_probs = self._choice_probs(batch, [items[i] for i in chunk], answers, endings)
                for i, c, probs, texts in zip(chunk, choices, chunk_probs, answers):
                    values = list(c.values)
                    value = sum(p * v for p, v in zip(probs, values))
                    results[i] = self._score_result(
                        items[i],
                        decision,
                        value=value,
                        probs={_fmt(v): p for v, p in zip(values, probs)},
                        raw_text=_joined(texts) if decision == "reason" else None,
                        **_sampled(texts, 0),
                    )
        return results  # type: ignore[return-value]

    def describe(self) -> dict:
        return {
            **self.backend.describe(),
            "protocol": self.protocol.name,
            "decision": self.config.decision,
            "point_decision": self.config.point_decision or self.config.decision,
            "swap": self.config.swap,
            **(
                {
                    "samples": self.config.samples,
                    "temperature": self.config.temperature,
                    "seed": self.config.seed,
                }
                if self.config.samples > 1
                else {}
            ),
            "frame_policy": self.frame_policy.to_dict(),
        }

    # -- internals -------------------------------------------------------------------------------------------

    def _decision(self, decision: str | None) -> str:
        decision = decision or self.config.decision
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
        return decision

    def _rank_once(self, items: list[PairItem], decision: str, progress: bool) -> list[Verdict]:
        convs = [self.protocol.pair_conversation(it) for it in items]
        prepared, failures = self._prepare(convs, items)
        results: list[Verdict | None] = [None] * len(items)
        for i, f in failures.items():
            results[i] = self._verdict(items[i], decision, failure=f)
        order = _bucket([i for i in range(len(items)) if i in prepared], prepared)
        for chunk in self._chunks(order, progress, "rank"):
            batch = [prepared[i] for i in chunk]
            answers = self._answers(batch, decision)
            if decision == "generate":
                for i, texts in zip(chunk, answers):
                    parsed = [self.protocol.parse_pair(items[i].task, t) for t in texts]
                    results[i] = self._verdict(items[i], decision, **_votes(parsed, texts))
            else:
                choices = [self.protocol.pair_choices(items[i].task) for i in chunk]
                endings = [list(c.values()) for c in choices]
                chunk_probs = self._choice_probs(batch, [items[i] for i in chunk], answers, endings)
                for i, c, chosen, texts in zip(chunk, choices, chunk_probs, answers):
                    probs = dict(zip(c.keys(), chosen))
                    probs = {o: probs.get(o, 0.0) for o in OUTCOMES}
                    winner = max(c.keys(), key=lambda o: probs[o])
                    raw = _joined(texts) if decision == "reason" else None
                    results[i] = self._verdict(
                        items[i], decision, winner=winner, probs=probs, raw_text=raw, **_sampled(texts, 0)
                    )
        return results  # type: ignore[return-value]

    def _answers(self, batch: list[Prepared], decision: str) -> list[list[str]]:
        """Each conversation's generated answers: none for "logits", else one greedy answer, or `samples`
        answers drawn at the temperature (sample k of the batch seeded with `seed + k`)."""
        if decision == "logits":
            return [[""] for _ in batch]
        cfg = self.config
        if cfg.samples == 1:
            return [[t] for t in self.backend.generate(batch, cfg.max_new_tokens)]
        draws = [
            self.backend.generate(batch, cfg.max_new_tokens, temperature=cfg.temperature, seed=cfg.seed + k)
            for k in range(cfg.samples)
        ]
        return [list(texts) for texts in zip(*draws)]

    def _choice_probs(
        self, batch: list[Prepared], items: list, answers: list[list[str]], endings: list[list[str]]
    ) -> list[list[float]]:
        """Per conversation, the probabilities of its protocol endings (verdicts or scores) after the
        reasoning of each of its answers, averaged over the answers: one scoring pass per answer."""
        per_answer = []
        for k in range(len(answers[0])):
            conts = [[reasoning(texts[k]) + e for e in ends] for texts, ends in zip(answers, endings)]
            logps = self.backend.continuation_logprobs(batch, conts)
            per_answer.append([_normalise(lp, item) for item, lp in zip(items, logps)])
        return [_mean([probs[n] for probs in per_answer]) for n in range(len(batch))]

    def _prepare(
        self, convs: list[Conversation], items: list
    ) -> tuple[dict[int, Prepared], dict[int, Failure]]:
        """Load every item's media once (a candidate shared by several items is decoded once)."""
        cache: dict[Any, Any] = {}
        prepared: dict[int, Prepared] = {}
        failures: dict[int, Failure] = {}
        for i, (conv, item) in enumerate(zip(convs, items)):
            try:
                images, videos = [], []
                for kind, src in conv.media:
                    key = (kind, _cache_key(src))
                    if key not in cache:
                        cache[key] = load_media(kind, src, self.frame_policy, name=item.id or f"item {i}")
                    (videos if kind == "video" else images).append(cache[key])
                prepared[i] = Prepared(conv.messages, images, videos)
            except MediaError as e:
                failures[i] = Failure("media", str(e))
        return prepared, failures

    def _chunks(self, order: list[int], progress: bool, what: str):
        size = self.config.batch_size
        chunks = [order[k : k + size] for k in range(0, len(order), size)]
        bar = tqdm(total=len(order), desc=what, unit="item", disable=not progress)
        for chunk in chunks:
            yield chunk
            bar.update(len(chunk))
        bar.close()

    def _verdict(self, item: PairItem, decision: str, **kw: Any) -> Verdict:
        if kw.get("failure") is not None:
            kw["winner"] = None
        return Verdict(
            winner=kw.pop("winner", None),
            protocol=self.protocol.name,
            decision=decision,
            frame_policy=self.frame_policy.to_dict() if item.task.is_video else None,
            id=item.id,
            **kw,
        )

    def _score_result(self, item: PointItem, decision: str, **kw: Any) -> Score:
        if kw.get("failure") is not None:
            kw["value"] = None
        return Score(
            value=kw.pop("value", None),
            scale=tuple(self.protocol.scale(item.task)),
            protocol=self.protocol.name,
            decision=decision,
            frame_policy=self.frame_policy.to_dict() if item.task.is_video else None,
            id=item.id,
            **kw,
        )


def reasoning(answer: str) -> str:
    """What a generated answer says before its last line, newline included ("" for a one-line answer):
    the context in which the "reason" decision scores the protocol's verdicts or scores. Every protocol
    target puts the verdict or `Final Score: N` on the last line."""
    head, newline, _ = answer.rpartition("\n")
    return head + newline


def _joined(texts: list[str]) -> str:
    """One answer as it is; several as `[sample k]` blocks, so every sampled answer is kept."""
    if len(texts) == 1:
        return texts[0]
    return "\n".join(f"[sample {k + 1}]\n{t}" for k, t in enumerate(texts))


def _sampled(texts: list[str], failed: int) -> dict:
    """The record of a sampled judgement: how many answers were drawn and how many could not be parsed."""
    return {} if len(texts) == 1 else {"samples": len(texts), "failed_samples": failed}


def _parsed_answers(parsed: list, texts: list[str]) -> tuple[list, dict]:
    """The answers that parsed, and what the result records whatever they say: every answer's text, and
    for sampled answers how many were drawn and how many did not parse."""
    good = [p for p in parsed if p.failure is None]
    return good, {"raw_text": _joined(texts), **_sampled(texts, len(parsed) - len(good))}


def _mean(rows: list[list[float]]) -> list[float]:
    return [sum(col) / len(rows) for col in zip(*rows)]


def _votes(parsed: list, texts: list[str]) -> dict:
    """A generate verdict from one or more parsed answers: the most voted outcome (a tie between outcomes
    is reported as "tie"), vote shares as probs; a failure only when no answer parsed."""
    good, kw = _parsed_answers(parsed, texts)
    if not good:
        return kw | {"failure": parsed[0].failure}
    if len(parsed) == 1:
        return kw | {"winner": good[0].winner, "scores": good[0].scores}
    votes = {o: sum(p.winner == o for p in good) for o in OUTCOMES}
    top = max(votes.values())
    leaders = [o for o in OUTCOMES if votes[o] == top]
    scores = None
    if all(p.scores for p in good):
        keys = set.intersection(*(set(p.scores) for p in good))
        scores = {
            k: tuple(sum(p.scores[k][j] for p in good) / len(good) for j in (0, 1)) for k in sorted(keys)
        }
    return kw | {
        "winner": leaders[0] if len(leaders) == 1 else "tie",
        "probs": {o: v / len(good) for o, v in votes.items()},
        "scores": scores or None,
    }


def _written_scores(parsed: list, texts: list[str]) -> dict:
    """A generate score from one or more parsed answers: the mean written value (and dimensions), with the
    share of each written value as probs; a failure only when no answer parsed."""
    good, kw = _parsed_answers(parsed, texts)
    if not good:
        return kw | {"failure": parsed[0].failure, "dimensions": parsed[0].dimensions}
    if len(parsed) == 1:
        return kw | {"value": good[0].value, "dimensions": good[0].dimensions}
    keys = set.intersection(*(set(p.dimensions) for p in good))
    written = [_fmt(p.value) for p in good]
    return kw | {
        "value": sum(p.value for p in good) / len(good),
        "dimensions": {k: sum(p.dimensions[k] for p in good) / len(good) for k in sorted(keys)},
        "probs": {v: written.count(v) / len(good) for v in sorted(set(written), key=float)},
    }


def _normalise(logprobs: list[float], item: Any) -> list[float]:
    """Softmax over the candidates' log-probabilities; NaN means a broken model, which must not pass."""
    if any(math.isnan(x) for x in logprobs):
        raise FloatingPointError(
            f"the model returned NaN log-probabilities for item {item.id or item.prompt!r}"
        )
    top = max(logprobs)
    weights = [math.exp(x - top) for x in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def _combine_swapped(first: Verdict, second: Verdict, decision: str) -> Verdict:
    """Merge the (a, b) and (b, a) judgements of one pair, mapping the second back to (a, b) terms."""
    raw = None
    if first.raw_text is not None or second.raw_text is not None:
        raw = f"[a, b]\n{first.raw_text}\n[b, a]\n{second.raw_text}"
    sampled = {}
    if first.samples is not None and second.samples is not None:
        sampled = {
            "samples": first.samples + second.samples,
            "failed_samples": first.failed_samples + second.failed_samples,
        }
    if not first.ok or not second.ok:
        failure = first.failure or second.failure
        return dataclasses.replace(first, winner=None, probs=None, raw_text=raw, failure=failure, **sampled)
    back = _SWAP[second.winner]
    consistent = first.winner == back
    if decision in ("logits", "reason") or sampled:
        probs = {o: (first.probs[o] + second.probs[_SWAP[o]]) / 2 for o in OUTCOMES}
        allowed = [o for o in OUTCOMES if o != "tie" or first.probs["tie"] > 0 or second.probs["tie"] > 0]
        winner = max(allowed, key=lambda o: probs[o])
        if decision == "generate" and sum(probs[o] == probs[winner] for o in allowed) > 1:
            winner = "tie"  # sampled votes level across both orders
    else:
        votes = {o: (first.winner == o) + (back == o) for o in OUTCOMES}
        probs = {o: v / 2 for o, v in votes.items()}
        winner = first.winner if consistent else "tie"
    scores = first.scores
    if first.scores and second.scores:
        scores = {
            k: ((v[0] + second.scores[k][1]) / 2, (v[1] + second.scores[k][0]) / 2)
            for k, v in first.scores.items()
            if k in second.scores
        }
    return dataclasses.replace(
        first, winner=winner, probs=probs, raw_text=raw, scores=scores, swap_consistent=consistent, **sampled
    )


def _bucket(indices: list[int], prepared: dict[int, Prepared]) -> list[int]:
    """Sort by size so each batch holds similar lengths (less padding); results are put back in order."""
    return sorted(indices, key=lambda i: prepared[i].cost(), reverse=True)


def _cache_key(src: Any) -> Any:
    if isinstance(src, (str, bytes)) or hasattr(src, "__fspath__"):
        return ("src", str(src) if not isinstance(src, bytes) else content_hash(src))
    return ("obj", id(src))


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)
