"""The UnifiedReward-Think protocol: reasoning in `<think>…</think>`, then the verdict in `<answer>`.

Pair target: `<think>…</think>\n<answer>Image 1 is better</answer>` (`Video N` / `Answer N` likewise).
There is no tie verdict, for any task. Only the pair format is Think's own: point mode (prompts, targets,
parsing, scales) is delegated to v1. No logit decisions: the verdict comes after free reasoning, so only
decision="generate" makes sense.

`format_ok` checks the `<think>…</think><answer>…</answer>` shape, the format reward of GRPO training.
"""

from __future__ import annotations

import re
from typing import Any

from unireward.protocols.base import Conversation, ParsedPair, ParsedPoint, Protocol
from unireward.protocols.parsing import ParseError, failure, verdict
from unireward.protocols.v1 import V1Protocol, make_conversation, media_kind, pair_media
from unireward.tasks import Outcome, PairItem, PointItem, Task

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_NO_TAGS = r"(?:(?!</?think>|</?answer>).)"
_SHAPE = re.compile(rf"\s*<think>{_NO_TAGS}*</think>\s*<answer>(?P<answer>{_NO_TAGS}*)</answer>\s*", re.S)


def format_ok(text: str) -> bool:
    """True for one `<think>…</think>` followed by one non-empty `<answer>…</answer>` and nothing else."""
    match = _SHAPE.fullmatch(text)
    return bool(match and match.group("answer").strip())


def answer_sentence(task: Task, winner: Outcome) -> str:
    """The exact Think verdict, e.g. `Image 1 is better` (no period, no tie)."""
    if winner not in ("A", "B"):
        raise ValueError(f"the think protocol has no {winner!r} verdict; choose 'A' or 'B'")
    return f"{task.media_word} {'1' if winner == 'A' else '2'} is better"


class ThinkProtocol(Protocol):
    """Chain-of-thought pairwise judging; point mode goes to `point` (a V1Protocol by default)."""

    name = "think"

    def __init__(self, point: V1Protocol | None = None):
        self.point = point or V1Protocol()

    def pair_conversation(self, item: PairItem) -> Conversation:
        task = item.task
        word = task.media_word
        if task.is_generation:
            shown = " (shown as frames, Video 1 first)" if task.is_video else ""
            quality = "motion quality" if task.is_video else "visual quality"
            intro = f"{word} 1 and {word} 2{shown} were generated from the caption below."
            dims = f"alignment with the caption, {quality} and realism"
            body = f"Caption: {item.prompt}"
        else:
            thing = media_kind(task)
            intro = f"Two answers to a question about the {thing} follow."
            dims = f"accuracy about the {thing} (nothing invented), completeness and helpfulness"
            body = f"Question: {item.prompt}\nAnswer 1: {item.a}\nAnswer 2: {item.b}"
        text = (
            f"{intro} Decide which is better. Reason inside <think></think>: score each {word.lower()} "
            f"from 1 to 10 on {dims}, then add up each total. Then give the verdict inside "
            f"<answer></answer>, exactly <answer>{word} 1 is better</answer> or "
            f"<answer>{word} 2 is better</answer>; a tie is not allowed.\n{body}"
        )
        return make_conversation(pair_media(item), text)

    def point_conversation(self, item: PointItem) -> Conversation:
        return self.point.point_conversation(item)

    def pair_target(self, task: Task, winner: Outcome, **details: Any) -> str:
        """`explanation=` becomes the `<think>` content (empty think block without it)."""
        task = Task.parse(task)
        explanation = (details.get("explanation") or "").strip()
        think = f"<think>\n{explanation}\n</think>" if explanation else "<think></think>"
        return f"{think}\n<answer>{answer_sentence(task, winner)}</answer>"

    def point_target(self, task: Task, score: float, **details: Any) -> str:
        return self.point.point_target(task, score, **details)

    def parse_pair(self, task: Task, text: str) -> ParsedPair:
        """The verdict in the last `<answer>…</answer>`; a missing answer or a tie is a failure."""
        task = Task.parse(task)
        try:
            answers = _ANSWER.findall(text)
            if not answers:
                raise ParseError("no <answer>…</answer>")
            return ParsedPair(winner=verdict(answers[-1], task.media_word, ties=False))
        except ParseError as err:
            return ParsedPair(winner=None, failure=failure(err, text))

    def parse_point(self, task: Task, text: str) -> ParsedPoint:
        return self.point.parse_point(task, text)

    def scale(self, task: Task) -> tuple[float, float]:
        return self.point.scale(task)
