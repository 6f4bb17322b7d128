"""Shared parsing helpers: tolerant of decoration, strict about meaning.

Reward models decorate their answers (markdown, repeated verdicts, `4/5`, several `Final Score:` lines).
These helpers read through the decoration but never guess: no verdict, a contradiction, a missing number or
an out-of-scale score raises ParseError, which a protocol turns into a counted Failure("parse", ...) that
quotes an excerpt of the raw text. Numbers are always floats (the public scripts compared "9" > "10").
"""

from __future__ import annotations

import math
import re

from unireward.tasks import Failure, Outcome

NUMBER = r"[-+]?\d+(?:\.\d+)?"


class ParseError(ValueError):
    """An answer that does not follow the protocol; the message says what is wrong."""


def strip_markdown(text: str) -> str:
    """Drop emphasis (`**`, `*`, `__`), backticks and heading marks, which carry no meaning here."""
    text = re.sub(r"[*`]|__", "", text)
    return re.sub(r"(?m)^[ \t]*#+[ \t]*", "", text)


def excerpt(text: str, limit: int = 80) -> str:
    """A short, single-line quote of an answer's end (where verdicts and scores live)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else "…" + flat[-(limit - 1) :]


def failure(error: Exception, text: str) -> Failure:
    """The counted parse failure for `text`, quoting it so the raw answer can be traced."""
    return Failure("parse", f"{error}; answer: {excerpt(text)!r}")


def format_number(value: float) -> str:
    """Render a score: `4` when integral, else at most 2 decimals (`3.5`, `0.67`)."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot render non-finite score {value}")
    if value == round(value):
        return str(int(round(value)))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def check_scale(value: float, scale: tuple[float, float], what: str) -> float:
    """Return `value` if it lies on `scale`, else raise ParseError naming the scale."""
    lo, hi = scale
    if not lo <= value <= hi:
        scale_text = f"{format_number(lo)}–{format_number(hi)}"
        raise ParseError(f"{what} {format_number(value)} is outside the scale {scale_text}")
    return value


_FINAL_SCORE = re.compile(rf"final\s+score\s*(?:\([^()\n]*\))?\s*[:：]\s*(?P<num>{NUMBER})?", re.I)


def final_score(text: str) -> float:
    """The number after the LAST `Final Score:`; `4/5` reads as 4 (the scale check comes separately)."""
    matches = list(_FINAL_SCORE.finditer(strip_markdown(text)))
    if not matches:
        raise ParseError("no 'Final Score:' found")
    num = matches[-1].group("num")
    if num is None:
        raise ParseError("the last 'Final Score:' has no number")
    return float(num)


def labeled_numbers(text: str, labels: dict[str, str]) -> dict[str, float]:
    """For each `{key: label regex}`, the number of the last `<label>: <number>`; absent labels left out."""
    clean = strip_markdown(text)
    found: dict[str, float] = {}
    for key, label in labels.items():
        matches = re.findall(rf"(?<![\w-]){label}\s*[:：]\s*({NUMBER})", clean, re.I)
        if matches:
            found[key] = float(matches[-1])
    return found


def _verdict_re(word: str) -> re.Pattern[str]:
    w = re.escape(word)
    return re.compile(
        rf"\b{w}\s*(?P<first>[12])\s+is\s+(?:the\s+)?better(?:\s+than\s+(?:the\s+)?{w}\s*(?P<second>[12]))?"
        rf"|\bboth\s+{w}s\s+are\s+equally\s+good",
        re.I,
    )


def _outcome(match: re.Match[str]) -> str:
    first, second = match.group("first"), match.group("second")
    if first is None:
        return "tie"
    if second == first:
        return "self-comparison"
    return "A" if first == "1" else "B"


def verdict(text: str, word: str, *, ties: bool) -> Outcome:
    """The outcome of the last verdict sentence about `word` ("Image", "Video" or "Answer").

    Accepts long (`Image 1 is better than Image 2.`) and short (`Image 1 is better.`) forms and the tie
    sentence (`Both images are equally good.`). Models often discuss both candidates before deciding, so
    only the last verdict counts; if the line holding it also holds a different verdict the answer is
    contradictory and raises. A tie where `ties` is False raises too: it is not a legal answer there.
    """
    clean = strip_markdown(text)
    matches = list(_verdict_re(word).finditer(clean))
    if not matches:
        raise ParseError(f"no '{word} N is better' verdict found")
    last = matches[-1]
    line_start = clean.rfind("\n", 0, last.start()) + 1
    line_end = clean.find("\n", last.end())
    line_end = len(clean) if line_end < 0 else line_end
    on_line = {_outcome(m) for m in matches if line_start <= m.start() < line_end}
    line = excerpt(clean[line_start:line_end])
    if len(on_line) > 1:
        raise ParseError(f"contradictory verdicts in the final verdict line {line!r}")
    outcome = _outcome(last)
    if outcome == "self-comparison":
        raise ParseError(f"verdict compares a candidate with itself: {line!r}")
    if outcome == "tie" and not ties:
        raise ParseError(f"tie verdict {line!r}, but this task has no tie")
    return outcome  # type: ignore[return-value]
