"""The v1 protocol of UnifiedReward (LLaVA-OneVision and Qwen2.5-VL checkpoints).

Answer formats (those of the released checkpoints; the instruction wording is ours). Pair targets:
- image_gen: `Image 1 is better than Image 2.` / `Image 2 is better than Image 1.` /
  `Both images are equally good.`; v1-qwen uses the short forms `Image 1 is better.` / `Image 2 is better.`
- video_gen: the same with `Video` (`Both videos are equally good.`).
- image_und: `Overall Judgment: Answer 1 is better.` (or 2); no tie.
- video_und: `Overall Judgment: Answer 1 is better than Answer 2.` (or 2 over 1); no tie.
Point targets (the last line is always `Final Score: N`):
- image_gen: `element (type): 0|1` lines, then N in 1–5 (1–10 with `image_gen_point_scale=(1, 10)`).
- video_gen: `visual quality: 3` … `factual consistency: 4` (each 1–4), then N in 1–10.
- image_und: N in 0–100. video_und: N in 1–5.

image_und has two public forms, LLaVA-Critic's `Answer 1 is better` and the DPO-construction prompt's
`Overall Judgment: Answer X is better.`; targets use the latter (it is also what the inference prompt
asks for), parsing accepts both. v1-qwen changes only the generation-task verdicts.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from unireward.protocols.base import Conversation, MediaKind, ParsedPair, ParsedPoint, PointChoices, Protocol
from unireward.protocols.parsing import (
    ParseError,
    check_scale,
    failure,
    final_score,
    format_number,
    labeled_numbers,
    strip_markdown,
    verdict,
)
from unireward.tasks import Outcome, PairItem, PointItem, Task

VerdictForm = Literal["long", "short"]

VIDEO_DIMENSIONS: tuple[str, ...] = (
    "visual quality",
    "temporal consistency",
    "dynamic degree",
    "text-to-video alignment",
    "factual consistency",
)
VIDEO_DIMENSION_SCALE: tuple[float, float] = (1.0, 4.0)
_VIDEO_DIMENSION_LABELS = {
    "visual quality": r"visual\s+quality",
    "temporal consistency": r"temporal\s+consistency",
    "dynamic degree": r"dynamic\s+degree",
    "text-to-video alignment": r"text[\s-]*to[\s-]*video\s+alignment",
    "factual consistency": r"factual\s+consistency",
}
_ELEMENT_LINE = re.compile(
    r"^\s*(?:[-•]\s*|\d+[.)]\s*)?(?P<name>[^:\n]+?)\s*\((?P<type>[^()\n]+)\)\s*[:：]\s*(?P<value>[01])(?:\.0+)?\s*$",
    re.M,
)


def media_kind(task: Task) -> MediaKind:
    return "video" if task.is_video else "image"


def make_conversation(media: list[tuple[MediaKind, Any]], text: str) -> Conversation:
    """One user turn: a placeholder per media source, in order, then the text."""
    content: list[dict] = [{"type": kind} for kind, _ in media]
    content.append({"type": "text", "text": text})
    return Conversation(messages=[{"role": "user", "content": content}], media=list(media))


def pair_media(item: PairItem) -> list[tuple[MediaKind, Any]]:
    """Generation: candidate 1 then candidate 2. Understanding: the shared image or video."""
    kind = media_kind(item.task)
    return [(kind, item.a), (kind, item.b)] if item.task.is_generation else [(kind, item.media)]


def point_media(item: PointItem) -> list[tuple[MediaKind, Any]]:
    kind = media_kind(item.task)
    return [(kind, item.candidate if item.task.is_generation else item.media)]


def with_explanation(answer: str, details: dict[str, Any]) -> str:
    """Put an optional `explanation=` before the structured answer."""
    explanation = (details.get("explanation") or "").strip()
    return f"{explanation}\n{answer}" if explanation else answer


def verdict_sentence(task: Task, winner: Outcome, form: VerdictForm = "long") -> str:
    """The exact v1 verdict for `winner` (the one place these strings are written)."""
    word = task.media_word
    if winner == "tie":
        if not task.is_generation:
            raise ValueError(f"{task.value} has no tie verdict; choose 'A' or 'B'")
        return f"Both {word.lower()}s are equally good."
    if winner not in ("A", "B"):
        raise ValueError(f"winner must be 'A', 'B' or 'tie', got {winner!r}")
    first, second = ("1", "2") if winner == "A" else ("2", "1")
    if task == Task.IMAGE_UND:
        return f"Overall Judgment: Answer {first} is better."
    if task == Task.VIDEO_UND:
        return f"Overall Judgment: Answer {first} is better than Answer {second}."
    if form == "short":
        return f"{word} {first} is better."
    return f"{word} {first} is better than {word} {second}."


def _quoted_choices(task: Task, form: VerdictForm) -> str:
    outcomes: tuple[Outcome, ...] = ("A", "B", "tie") if task.is_generation else ("A", "B")
    return " / ".join(f'"{verdict_sentence(task, o, form)}"' for o in outcomes)


class V1Protocol(Protocol):
    """v1 formats. `verdicts="short"` is the Qwen family (`Image 1 is better.`); parsing accepts both forms.

    `image_gen_point_scale=(1, 10)` selects the DPO-sifting variant of the image_gen point score.
    """

    def __init__(self, verdicts: VerdictForm = "long", image_gen_point_scale: tuple[int, int] = (1, 5)):
        if verdicts not in ("long", "short"):
            raise ValueError(f"verdicts must be 'long' or 'short', got {verdicts!r}")
        lo, hi = image_gen_point_scale
        if not (int(lo) == lo and int(hi) == hi and lo < hi):
            raise ValueError(f"image_gen_point_scale must be integers lo < hi, got {image_gen_point_scale}")
        self.verdicts: VerdictForm = verdicts
        self.image_gen_point_scale = (float(lo), float(hi))
        self.name = "v1" if verdicts == "long" else "v1-qwen"

    # --- prompts -------------------------------------------------------------------------------------------

    def pair_conversation(self, item: PairItem) -> Conversation:
        task = item.task
        choices = _quoted_choices(task, self.verdicts)
        if task == Task.IMAGE_GEN:
            text = (
                "Image 1 and Image 2 were generated from the caption below. Decide which is better: judge "
                "how faithfully each shows the caption (objects, attributes, counts, relations) and its "
                f"overall image quality (detail, no artifacts, aesthetics).\nCaption: {item.prompt}\n"
                f"End your answer with exactly one of: {choices}"
            )
        elif task == Task.VIDEO_GEN:
            text = (
                "Video 1 and Video 2 (shown as frames, Video 1 first) were generated from the caption below. "
                "Decide which is better: judge how faithfully each shows the caption and its overall video "
                f"quality (clear frames, smooth and consistent motion).\nCaption: {item.prompt}\n"
                f"End your answer with exactly one of: {choices}"
            )
        else:
            thing = media_kind(task)
            text = (
                f"Two answers to a question about the {thing} follow. Decide which is better: accurate about "
                f"the {thing} (objects, attributes, relationships; nothing invented), complete, helpful and "
                f"safe.\nQuestion: {item.prompt}\nAnswer 1: {item.a}\nAnswer 2: {item.b}\n"
                f"A tie is not allowed. End your answer with exactly one of: {choices}"
            )
        return make_conversation(pair_media(item), text)

    def point_conversation(self, item: PointItem) -> Conversation:
        task = item.task
        lo, hi = (format_number(x) for x in self.scale(task))
        if task == Task.IMAGE_GEN:
            text = (
                "Rate how well the image matches the caption below. First list the key elements of the "
                "caption (objects, attributes, actions, relations), one per line as `element (type): 1` if "
                "the image shows it or `element (type): 0` if not. Then rate the whole image, matching and "
                f"quality, as `Final Score: N` with N an integer from {lo} to {hi}.\nCaption: {item.prompt}"
            )
        elif task == Task.VIDEO_GEN:
            dims = ", ".join(VIDEO_DIMENSIONS)
            text = (
                "Rate the video (shown as frames) generated from the caption below on five dimensions, "
                f"one per line as `name: N` with N from 1 (bad) to 4 (perfect, like a real video): {dims}. "
                f"Then give the overall rating as `Final Score: N` with N from {lo} to {hi}.\n"
                f"Caption: {item.prompt}"
            )
        else:
            thing = media_kind(task)
            text = (
                f"Rate the answer to a question about the {thing}: accurate about the {thing} (nothing "
                "invented), complete, helpful and safe. End your answer with `Final Score: N` with N an "
                f"integer from {lo} to {hi}.\nQuestion: {item.prompt}\nAnswer: {item.candidate}"
            )
        return make_conversation(point_media(item), text)

    # --- targets -------------------------------------------------------------------------------------------

    def pair_target(self, task: Task, winner: Outcome, **details: Any) -> str:
        """Verdict sentence, after `explanation=` if given. Understanding tasks refuse "tie"."""
        return with_explanation(verdict_sentence(Task.parse(task), winner, self.verdicts), details)

    def point_target(self, task: Task, score: float, **details: Any) -> str:
        """`Final Score: N`, preceded by image_gen `elements=[(name, type, 0|1), ...]` or video_gen
        `dimensions={name: 1..4}` lines and by `explanation=` if given."""
        task = Task.parse(task)
        lo, hi = self.scale(task)
        if not lo <= score <= hi:
            raise ValueError(f"{task.value} score {score} is outside the scale {lo:g}–{hi:g}")
        lines: list[str] = []
        if task == Task.IMAGE_GEN and details.get("elements"):
            for name, kind, value in details["elements"]:
                if value not in (0, 1) or not str(name).strip() or not str(kind).strip():
                    raise ValueError(f"an element needs a name, a type and 0 or 1, got {(name, kind, value)}")
                lines.append(f"{name} ({kind}): {int(value)}")
        if task == Task.VIDEO_GEN and details.get("dimensions"):
            dims = details["dimensions"]
            unknown = set(dims) - set(VIDEO_DIMENSIONS)
            if unknown:
                raise ValueError(f"unknown video dimensions {sorted(unknown)}; known: {VIDEO_DIMENSIONS}")
            for name in VIDEO_DIMENSIONS:
                if name in dims:
                    if not VIDEO_DIMENSION_SCALE[0] <= dims[name] <= VIDEO_DIMENSION_SCALE[1]:
                        raise ValueError(f"video dimension {name!r} = {dims[name]} is outside 1–4")
                    lines.append(f"{name}: {format_number(dims[name])}")
        lines.append(f"Final Score: {format_number(score)}")
        return with_explanation("\n".join(lines), details)

    # --- parsing -------------------------------------------------------------------------------------------

    def parse_pair(self, task: Task, text: str) -> ParsedPair:
        task = Task.parse(task)
        try:
            if not text.strip():
                raise ParseError("empty answer")
            return ParsedPair(winner=verdict(text, task.media_word, ties=task.is_generation))
        except ParseError as err:
            return ParsedPair(winner=None, failure=failure(err, text))

    def parse_point(self, task: Task, text: str) -> ParsedPoint:
        """Value from the last `Final Score:`. Also returns what the answer lists before it: video_gen
        dimensions by name, image_gen `elements_generated` / `elements_total`; these are kept on failure."""
        task = Task.parse(task)
        dimensions: dict[str, float] = {}
        try:
            if not text.strip():
                raise ParseError("empty answer")
            if task == Task.VIDEO_GEN:
                dimensions = labeled_numbers(text, _VIDEO_DIMENSION_LABELS)
                for name, value in dimensions.items():
                    check_scale(value, VIDEO_DIMENSION_SCALE, f"video dimension {name!r}")
            elif task == Task.IMAGE_GEN:
                values = [
                    float(m.group("value"))
                    for m in _ELEMENT_LINE.finditer(strip_markdown(text))
                    if not re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", m.group("type"))  # not `Score (1-5): 1`
                ]
                if values:
                    dimensions = {"elements_generated": sum(values), "elements_total": float(len(values))}
            value = check_scale(final_score(text), self.scale(task), "Final Score")
            return ParsedPoint(value=value, dimensions=dimensions)
        except ParseError as err:
            return ParsedPoint(value=None, dimensions=dimensions, failure=failure(err, text))

    def scale(self, task: Task) -> tuple[float, float]:
        task = Task.parse(task)
        if task == Task.IMAGE_GEN:
            return self.image_gen_point_scale
        return {Task.IMAGE_UND: (0.0, 100.0), Task.VIDEO_GEN: (1.0, 10.0), Task.VIDEO_UND: (1.0, 5.0)}[task]

    # --- logit decisions -----------------------------------------------------------------------------------

    def pair_choices(self, task: Task) -> dict[Outcome, str]:
        """The verdict the model would emit first, per outcome (exactly the target text)."""
        task = Task.parse(task)
        outcomes: tuple[Outcome, ...] = ("A", "B", "tie") if task.is_generation else ("A", "B")
        return {o: verdict_sentence(task, o, self.verdicts) for o in outcomes}

    def point_choices(self, task: Task) -> PointChoices:
        """`Final Score: ` forced right after the prompt, then one continuation per integer on the scale.

        The trained v1 answer lists elements (image_gen) or dimensions (video_gen) before the final score;
        the logit decision skips that reasoning and reads the score distribution directly. Multi-digit
        values ("10", "100") span several tokens for most tokenizers; the judge scores whole continuations.
        """
        lo, hi = self.scale(task)
        values = {float(v): str(v) for v in range(int(lo), int(hi) + 1)}
        return PointChoices(prefix="Final Score: ", values=values)
