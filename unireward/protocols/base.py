"""What every protocol family provides: prompts in, parsed verdicts and scores out.

A protocol is the contract a reward model was trained on. It owns the answer formats, verdict strings and
score scales (one place per fact); the judge, trainer, CLI and benchmarks read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from unireward.tasks import Failure, Outcome, PairItem, PointItem, Task

MediaKind = Literal["image", "video"]


@dataclass
class Conversation:
    """A chat ready for a processor's chat template, with its media not yet loaded.

    `messages` follow the Hugging Face multimodal chat format: content parts {"type": "text", "text": ...},
    {"type": "image"} and {"type": "video"}. `media` lists (kind, source) in the order the placeholders
    appear, so the judge can load and validate each source and fail only the item that is broken.
    """

    messages: list[dict]
    media: list[tuple[MediaKind, Any]] = field(default_factory=list)


@dataclass
class ParsedPair:
    winner: Outcome | None
    scores: dict[str, tuple[float, float]] | None = None
    failure: Failure | None = None


@dataclass
class ParsedPoint:
    value: float | None
    dimensions: dict[str, float] = field(default_factory=dict)
    failure: Failure | None = None


@dataclass(frozen=True)
class PointChoices:
    """For logit decisions on pointwise items: the text forced after the prompt (e.g. "Final Score: ")
    and, for each score on the scale, the text of that score (e.g. {1.0: "1", ..., 5.0: "5"})."""

    prefix: str
    values: dict[float, str]


class Protocol:
    """Interface; see unireward.protocols.v1 / v2 / think."""

    name: str = ""

    def pair_conversation(self, item: PairItem) -> Conversation:
        raise NotImplementedError

    def point_conversation(self, item: PointItem) -> Conversation:
        raise NotImplementedError

    def pair_target(self, task: Task, winner: Outcome, **details: Any) -> str:
        """The answer text a model should produce for this verdict (training targets)."""
        raise NotImplementedError

    def point_target(self, task: Task, score: float, **details: Any) -> str:
        raise NotImplementedError

    def parse_pair(self, task: Task, text: str) -> ParsedPair:
        raise NotImplementedError

    def parse_point(self, task: Task, text: str) -> ParsedPoint:
        raise NotImplementedError

    def scale(self, task: Task) -> tuple[float, float]:
        """(lowest, highest) pointwise score."""
        raise NotImplementedError

    def pair_choices(self, task: Task) -> dict[Outcome, str]:
        """Verdict continuations for logit decisions. Raise ValueError if the protocol has none."""
        raise ValueError(f"protocol {self.name!r} has no logit decision for pairs; use decision='generate'")

    def point_choices(self, task: Task) -> PointChoices:
        raise ValueError(f"protocol {self.name!r} has no logit decision for scores; use decision='generate'")
