"""The UnifiedReward 2.0 protocol: per-dimension scores instead of a bare verdict.

Pair (image_gen, video_gen): a block per dimension, each candidate's share in [0, 1], the two summing to 1:

    Alignment Score:
    Image 1: 0.6
    Image 2: 0.4

likewise `Coherence Score:` and `Style Score:` (`Video 1/2` for video). The winner is the candidate with the
larger sum over dimensions ("tie" when equal within 1e-6).

Point (image_gen, video_gen): `Alignment Score (1-5): x`, `Coherence Score (1-5): y`, `Style Score (1-5): z`;
for video `Physics Score (1-5)` replaces Coherence. The value is the mean of the three. The v1.5 "ACS"
image answer is the same format, so this parser reads it too.

2.0 has no understanding-task formats: image_und and video_und are delegated to v1 (prompts, targets,
parsing and scales), so one protocol object covers all four tasks.
"""

from __future__ import annotations

import re
from typing import Any

from unireward.protocols.base import Conversation, ParsedPair, ParsedPoint, Protocol
from unireward.protocols.parsing import (
    NUMBER,
    ParseError,
    check_scale,
    failure,
    format_number,
    labeled_numbers,
    strip_markdown,
)
from unireward.protocols.v1 import V1Protocol, make_conversation, pair_media, point_media, with_explanation
from unireward.tasks import Outcome, PairItem, PointItem, Task

PAIR_DIMENSIONS: tuple[str, ...] = ("Alignment", "Coherence", "Style")
PAIR_SCORE_SCALE: tuple[float, float] = (0.0, 1.0)
POINT_SCALE: tuple[float, float] = (1.0, 5.0)
TIE_TOLERANCE = 1e-6

_DIMENSION_HINTS = {
    "Alignment": "how faithfully it shows the caption",
    "Coherence": "consistent structure, no distortions or artifacts",
    "Physics": "motion and interactions that obey physics",
    "Style": "aesthetic appeal",
}
_BLOCK_HEADER = re.compile(
    r"\b(?P<dim>alignment|coherence|physics|style)\s+score\s*(?:\([^()\n]*\))?\s*[:：]", re.I
)


def point_dimensions(task: Task) -> tuple[str, ...]:
    return ("Alignment", "Physics", "Style") if task.is_video else ("Alignment", "Coherence", "Style")


class V2Protocol(Protocol):
    """2.0 pair-score and point-score formats for generation tasks; understanding tasks go to `understanding`
    (a V1Protocol, by default the long-verdict one)."""

    name = "v2"

    def __init__(self, understanding: V1Protocol | None = None):
        self.understanding = understanding or V1Protocol()

    # --- prompts -------------------------------------------------------------------------------------------

    def pair_conversation(self, item: PairItem) -> Conversation:
        if not item.task.is_generation:
            return self.understanding.pair_conversation(item)
        word = item.task.media_word
        frames = " (shown as frames, Video 1 first)" if item.task.is_video else ""
        dims = "; ".join(f"{d} ({_DIMENSION_HINTS[d]})" for d in PAIR_DIMENSIONS)
        text = (
            f"{word} 1 and {word} 2{frames} were generated from the caption below. Compare them on each "
            f"dimension: {dims}. For each dimension give each {word.lower()} a share in [0, 1], the two "
            f"shares summing to 1, in this format:\n{PAIR_DIMENSIONS[0]} Score:\n{word} 1: x\n{word} 2: y\n"
            f"and likewise for {' and '.join(PAIR_DIMENSIONS[1:])}.\nCaption: {item.prompt}"
        )
        return make_conversation(pair_media(item), text)

    def point_conversation(self, item: PointItem) -> Conversation:
        if not item.task.is_generation:
            return self.understanding.point_conversation(item)
        dims = point_dimensions(item.task)
        thing = "video (shown as frames)" if item.task.is_video else "image"
        hints = "; ".join(f"{d} ({_DIMENSION_HINTS[d]})" for d in dims)
        lines = "\n".join(f"{d} Score (1-5): {v}" for d, v in zip(dims, "xyz", strict=True))
        text = (
            f"Rate the {thing} generated from the caption below on each dimension: {hints}. Give each a "
            f"score from 1 to 5 (decimals allowed) in this format:\n{lines}\nCaption: {item.prompt}"
        )
        return make_conversation(point_media(item), text)

    # --- targets -------------------------------------------------------------------------------------------

    def pair_target(self, task: Task, winner: Outcome, **details: Any) -> str:
        """Needs `scores={"Alignment": (x, y), "Coherence": ..., "Style": ...}`, each pair in [0, 1]
        summing to 1, whose sums agree with `winner`."""
        task = Task.parse(task)
        if not task.is_generation:
            return self.understanding.pair_target(task, winner, **details)
        scores = details.get("scores")
        if not scores or set(scores) != set(PAIR_DIMENSIONS):
            raise ValueError(f"v2 pair targets need scores={{dimension: (x, y)}} for {PAIR_DIMENSIONS}")
        for dim, (x, y) in scores.items():
            if not (0 <= x <= 1 and 0 <= y <= 1 and abs(x + y - 1) <= TIE_TOLERANCE):
                raise ValueError(f"{dim} scores {(x, y)} must lie in [0, 1] and sum to 1")
        implied = _winner({d: scores[d] for d in PAIR_DIMENSIONS})
        if implied != winner:
            raise ValueError(f"scores imply winner {implied!r}, not {winner!r}")
        word = task.media_word
        blocks = [
            f"{d} Score:\n{word} 1: {format_number(scores[d][0])}\n{word} 2: {format_number(scores[d][1])}"
            for d in PAIR_DIMENSIONS
        ]
        return with_explanation("\n".join(blocks), details)

    def point_target(self, task: Task, score: float, **details: Any) -> str:
        """Needs `dimensions={name: 1..5}` for the task's three dimensions; `score` must be their mean."""
        task = Task.parse(task)
        if not task.is_generation:
            return self.understanding.point_target(task, score, **details)
        names = point_dimensions(task)
        dims = details.get("dimensions")
        if not dims or set(dims) != set(names):
            raise ValueError(f"v2 {task.value} point targets need dimensions={{name: 1..5}} for {names}")
        for name in names:
            if not POINT_SCALE[0] <= dims[name] <= POINT_SCALE[1]:
                raise ValueError(f"{name} = {dims[name]} is outside 1–5")
        mean = sum(dims[n] for n in names) / len(names)
        if abs(mean - score) > TIE_TOLERANCE:
            raise ValueError(f"score {score} is not the mean of the dimensions ({mean})")
        lines = [f"{n} Score (1-5): {format_number(dims[n])}" for n in names]
        return with_explanation("\n".join(lines), details)

    # --- parsing -------------------------------------------------------------------------------------------

    def parse_pair(self, task: Task, text: str) -> ParsedPair:
        """Complete `<Dimension> Score:` blocks (both candidates' numbers); per dimension the last wins."""
        task = Task.parse(task)
        if not task.is_generation:
            return self.understanding.parse_pair(task, text)
        try:
            scores = _pair_blocks(text, task.media_word)
            return ParsedPair(winner=_winner(scores), scores=scores)
        except ParseError as err:
            return ParsedPair(winner=None, failure=failure(err, text))

    def parse_point(self, task: Task, text: str) -> ParsedPoint:
        """All three `<Dimension> Score (1-5): x` lines are required; value = their mean."""
        task = Task.parse(task)
        if not task.is_generation:
            return self.understanding.parse_point(task, text)
        names = point_dimensions(task)
        labels = {n: rf"{n}\s+score\s*(?:\(\s*1\s*-\s*5\s*\))?" for n in names}
        dims = labeled_numbers(text, labels)
        try:
            if not text.strip():
                raise ParseError("empty answer")
            missing = [n for n in names if n not in dims]
            if missing:
                raise ParseError(f"missing {', '.join(f'{n} Score (1-5)' for n in missing)}")
            for name in names:
                check_scale(dims[name], POINT_SCALE, f"{name} Score")
            return ParsedPoint(value=sum(dims[n] for n in names) / len(names), dimensions=dims)
        except ParseError as err:
            return ParsedPoint(value=None, dimensions=dims, failure=failure(err, text))

    def scale(self, task: Task) -> tuple[float, float]:
        task = Task.parse(task)
        return POINT_SCALE if task.is_generation else self.understanding.scale(task)


def _pair_blocks(text: str, word: str) -> dict[str, tuple[float, float]]:
    clean = strip_markdown(text)
    headers = list(_BLOCK_HEADER.finditer(clean))
    scores: dict[str, tuple[float, float]] = {}
    for i, header in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(clean)
        block = clean[header.end() : end]
        first = re.search(rf"\b{word}\s*1\s*[:：]\s*({NUMBER})", block, re.I)
        second = re.search(rf"\b{word}\s*2\s*[:：]\s*({NUMBER})", block, re.I)
        if first and second:
            dim = header.group("dim").capitalize()
            pair = (float(first.group(1)), float(second.group(1)))
            for value in pair:
                check_scale(value, PAIR_SCORE_SCALE, f"{dim} score")
            scores.pop(dim, None)  # keep the order of the last occurrence
            scores[dim] = pair
    if not scores:
        raise ParseError(f"no complete '<Dimension> Score:' block with {word} 1 and {word} 2 scores")
    return scores


def _winner(scores: dict[str, tuple[float, float]]) -> Outcome:
    total_a = sum(a for a, _ in scores.values())
    total_b = sum(b for _, b in scores.values())
    if abs(total_a - total_b) <= TIE_TOLERANCE:
        return "tie"
    return "A" if total_a > total_b else "B"
