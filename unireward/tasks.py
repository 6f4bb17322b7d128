"""Tasks, modes and the typed records that flow through unireward.

A *pair item* asks "which of two candidates is better?"; a *point item* asks "how good is this one?".
For generation tasks the candidates are media (images or videos) judged against a caption; for
understanding tasks the candidates are answer texts judged against a question about shared media.

Media fields hold anything `unireward.media` can load: a path, a PIL image, raw bytes, a list of frames
(for video). Loading happens in the judge, so one broken item fails alone.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Literal


class Task(str, enum.Enum):
    IMAGE_GEN = "image_gen"
    IMAGE_UND = "image_und"
    VIDEO_GEN = "video_gen"
    VIDEO_UND = "video_und"

    @property
    def is_video(self) -> bool:
        return self in (Task.VIDEO_GEN, Task.VIDEO_UND)

    @property
    def is_generation(self) -> bool:
        """Generation tasks judge media candidates; understanding tasks judge answer texts."""
        return self in (Task.IMAGE_GEN, Task.VIDEO_GEN)

    @property
    def media_word(self) -> str:
        """The word the protocol uses for a candidate: Image, Video or Answer."""
        if self.is_generation:
            return "Video" if self.is_video else "Image"
        return "Answer"

    @classmethod
    def parse(cls, value: Task | str) -> Task:
        if isinstance(value, Task):
            return value
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown task {value!r}; choose one of: {choices}") from None


class Mode(str, enum.Enum):
    PAIR = "pair"
    POINT = "point"


Outcome = Literal["A", "B", "tie"]
OUTCOMES: tuple[Outcome, ...] = ("A", "B", "tie")


@dataclass
class PairItem:
    """Which of `a` and `b` is better for `prompt`?

    Generation tasks: `prompt` is the caption, `a`/`b` are images or videos, `media` is unused.
    Understanding tasks: `prompt` is the question, `media` the image or video asked about, `a`/`b` answers.
    """

    task: Task
    prompt: str
    a: Any
    b: Any
    media: Any = None
    id: str | None = None

    def __post_init__(self) -> None:
        self.task = Task.parse(self.task)
        _check_item(self.task, self.prompt, self.media, (self.a, self.b))

    def swapped(self) -> PairItem:
        return PairItem(self.task, self.prompt, self.b, self.a, self.media, self.id)


@dataclass
class PointItem:
    """How good is `candidate` for `prompt`? Fields as in PairItem."""

    task: Task
    prompt: str
    candidate: Any
    media: Any = None
    id: str | None = None

    def __post_init__(self) -> None:
        self.task = Task.parse(self.task)
        _check_item(self.task, self.prompt, self.media, (self.candidate,))


def _check_item(task: Task, prompt: str, media: Any, candidates: tuple) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{task.value}: the prompt (caption or question) must be a non-empty string")
    if task.is_generation:
        if media is not None:
            raise ValueError(f"{task.value}: candidates are the media; leave `media` empty")
        for c in candidates:
            if c is None:
                raise ValueError(f"{task.value}: a candidate image/video is missing")
    else:
        if media is None:
            raise ValueError(f"{task.value}: `media` (the image/video the question is about) is required")
        for c in candidates:
            if not isinstance(c, str):
                raise ValueError(f"{task.value}: candidates are answer texts, got {type(c).__name__}")


@dataclass
class Failure:
    """Why an item got no verdict or score. `kind` is "media", "parse", "nan" or "error"."""

    kind: str
    message: str


@dataclass
class Verdict:
    """The judge's answer to a PairItem.

    `winner` is None exactly when `failure` is set. `probs` (A / B / tie, summing to 1) is present for
    logit decisions and for swapped generate decisions (vote shares); `scores` holds per-dimension pair
    scores of the 2.0 protocol ({"Alignment": (0.6, 0.4), ...}).
    """

    winner: Outcome | None
    probs: dict[str, float] | None = None
    raw_text: str | None = None
    protocol: str = ""
    decision: str = ""
    frame_policy: dict | None = None
    failure: Failure | None = None
    scores: dict[str, tuple[float, float]] | None = None
    swap_consistent: bool | None = None
    id: str | None = None
    samples: int | None = None  # answers drawn for this verdict, where it averages sampled answers
    failed_samples: int | None = None  # of those, answers that could not be parsed (generate)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Score:
    """The judge's answer to a PointItem: `value` on the protocol's scale, plus any dimensions."""

    value: float | None
    scale: tuple[float, float] | None = None
    dimensions: dict[str, float] = field(default_factory=dict)
    probs: dict[str, float] | None = None
    raw_text: str | None = None
    protocol: str = ""
    decision: str = ""
    frame_policy: dict | None = None
    failure: Failure | None = None
    id: str | None = None
    samples: int | None = None  # answers drawn for this score, where it averages sampled answers
    failed_samples: int | None = None  # of those, answers that could not be parsed (generate)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict:
        return asdict(self)
