"""The shapes world: a seeded procedural world with exact ground truth for all four reward tasks.

Why it exists: a tiny reward model must learn from scratch on a CPU, and benchmarks and DPO need an oracle
that is right by construction. Every prompt and candidate is a small frozen *spec*; media are rendered
from the spec and the oracle scores the spec, so a label can never disagree with what was drawn.
Solid saturated colours on a plain light background, large shapes and a tiny vocabulary keep it learnable.

Tasks and oracles (scales as in the v1 protocol):
- image_gen (1–5): caption "a red circle above a blue square" or "two green triangles"; the score is
  1 + 4·(fraction of caption elements generated), rounded, minus a quality penalty (0/1/2 for no, mild or
  strong blur/noise/artefacts), clipped to 1–5. Elements are [(name, type, 0|1)] for the target text.
- image_und (0–100): a question about the image; an answer is right (100), hedged between a right and a
  wrong value (50) or wrong (15); a false extra claim ("There is also a ...") costs 40, floor 0.
- video_gen (1–10): caption "a green triangle moving left [slowly|quickly]"; five VideoFeedback dimensions
  1–4 and final = 10 − 2·(4−alignment) − (4−visual) − (4−temporal) − (4−factual) − ⌊(4−dynamic)/2⌋,
  clipped to 1–10 (alignment counts double; dynamic degree only penalises a static clip).
- video_und (1–5): motion direction/speed, order of appearance, change of colour or shape; graded answers
  (see `_video_und_score`).

Held-out rule (documented in `HELD_OUT`): four colour×shape combinations, one per shape and colour, are
reserved for the test split. In the train split none of them appears anywhere — not in a caption or
question, not in any rendered object (prompt media or candidate, before or after a mid-clip change), not in
an answer's extra claim. In the test split every prompt (caption, or question + shared media) contains at
least one of them. So no test prompt can equal a train prompt, for any seed, and `combos(spec)` checks it.
Streams are seeded from (seed, split, task, kind), so each split is deterministic on its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from unireward.protocols.v1 import VIDEO_DIMENSIONS  # the protocol owns the dimension names
from unireward.tasks import Mode, Outcome, PairItem, PointItem, Task

Split = Literal["train", "test", "any"]
# "any" draws over every colour×shape pair with no held-out rule; only for text-only drills (the names of
# held-out pairs then appear in training text, never in training media).
SPLITS: tuple[str, ...] = ("train", "test", "any")

BACKGROUND = (235, 235, 235)
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 20, 20),
    "green": (20, 160, 40),
    "blue": (30, 60, 230),
    "yellow": (240, 200, 0),
    "purple": (140, 40, 180),
    "cyan": (0, 190, 210),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "cross": "crosses"}
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
COUNT_WORDS = {0: "no", 1: "one", 2: "two", 3: "three"}
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
# Travel over the whole clip as a fraction of the image side (independent of the frame count).
SPEEDS: dict[str, float] = {"slow": 0.25, "fast": 0.55}
ADVERBS = {"slow": "slowly", "fast": "quickly"}
# Test-only colour×shape combinations: a Latin pattern, so every colour and shape is still seen in train.
HELD_OUT: frozenset[tuple[str, str]] = frozenset(
    {("yellow", "circle"), ("purple", "square"), ("cyan", "triangle"), ("red", "cross")}
)
IMAGE_QUESTIONS: tuple[str, ...] = ("colour", "count", "relation", "shape")
VIDEO_QUESTIONS: tuple[str, ...] = ("direction", "order", "change")
TIE_RATE = 0.12  # share of generation pairs drawn as true ties (equal oracle scores)
# Understanding has no tie verdict: a training pair whose answers score equal (ShapesWorld(und_tie_rate))
# is labelled by this written rule, so a judge that writes two equal scores still has a verdict to copy.
UND_TIE_BREAK: Outcome = "A"
_EPS = 1e-9


def scale(task: Task | str) -> tuple[float, float]:
    """(lowest, highest) oracle point score of `task`: the v1 protocol's scale, read from the protocol."""
    from unireward.protocols import get_protocol

    return get_protocol("v1").scale(Task.parse(task))


# ---------------------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Obj:
    """A solid shape. Coordinates and size are fractions of the image side, so any resolution works."""

    colour: str
    shape: str
    x: float  # centre, 0 = left edge
    y: float  # centre, 0 = top edge
    size: float = 0.3  # diameter

    @property
    def combo(self) -> tuple[str, str]:
        return (self.colour, self.shape)


@dataclass(frozen=True)
class ImageSpec:
    """A scene plus quality degradations, each with a severity in [0, 1] (0.5 mild, 1 strong)."""

    objects: tuple[Obj, ...]
    blur: float = 0.0
    noise: float = 0.0
    artefacts: float = 0.0
    seed: int = 0  # for the noise and artefact pixels


@dataclass(frozen=True)
class Track:
    """One object moving in a straight line. Times are fractions of the clip (0 first frame, 1 last)."""

    obj: Obj  # colour, shape and position at t = 0
    direction: str = "right"
    travel: float = 0.0  # distance covered over the clip; 0 = static
    appear: float = 0.0  # invisible before this time
    change_at: float | None = None  # from this time on, change_colour / change_shape apply
    change_colour: str | None = None
    change_shape: str | None = None

    def at(self, t: float) -> Obj | None:
        if t + _EPS < self.appear:
            return None
        dx, dy = DIRECTIONS[self.direction]
        colour, shape = self.obj.colour, self.obj.shape
        if self.change_at is not None and t + _EPS >= self.change_at:
            colour, shape = self.change_colour or colour, self.change_shape or shape
        d = self.travel * t
        return Obj(colour, shape, self.obj.x + dx * d, self.obj.y + dy * d, self.obj.size)

    @property
    def speed(self) -> str | None:
        """ "slow" / "fast", or None when static."""
        if self.travel <= _EPS:
            return None
        return "slow" if self.travel < (SPEEDS["slow"] + SPEEDS["fast"]) / 2 else "fast"


@dataclass(frozen=True)
class VideoSpec:
    """Tracks plus defects: flicker at some times ("drop" = background-only frame, "bright" = brightness
    jump) and per-frame blur / noise severities."""

    tracks: tuple[Track, ...]
    flicker: tuple[float, ...] = ()
    flicker_kind: str = "drop"
    blur: float = 0.0
    noise: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class Caption:
    """image_gen prompt: `kind` "relation" (a <relation> b) or "count" (`count` objects like a)."""

    kind: str
    a: tuple[str, str]
    relation: str | None = None
    b: tuple[str, str] | None = None
    count: int = 1

    @property
    def text(self) -> str:
        if self.kind == "relation":
            return f"a {' '.join(self.a)} {self.relation} a {' '.join(self.b)}"
        colour, shape = self.a
        return f"{COUNT_WORDS[self.count]} {colour} {shape if self.count == 1 else PLURALS[shape]}"


@dataclass(frozen=True)
class VideoCaption:
    """video_gen prompt; `speed` None means the caption says nothing about speed."""

    colour: str
    shape: str
    direction: str
    speed: str | None = None

    @property
    def text(self) -> str:
        tail = f" {ADVERBS[self.speed]}" if self.speed else ""
        return f"a {self.colour} {self.shape} moving {self.direction}{tail}"


@dataclass(frozen=True)
class Question:
    """An understanding question. `colour`/`shape` name the subject (either may be None where the question
    identifies it by the other), `other` the second object, `attr` the attribute asked to change."""

    kind: str
    colour: str | None = None
    shape: str | None = None
    other: tuple[str, str] | None = None
    attr: str | None = None

    @property
    def text(self) -> str:
        k, c, s = self.kind, self.colour, self.shape
        if k == "colour":
            return f"What colour is the {s}?"
        if k == "count":
            return f"How many {PLURALS[s]} are there?"
        if k == "relation":
            return f"Where is the {c} {s} relative to the {' '.join(self.other)}?"
        if k == "shape":
            return f"What shape is the {c} object?"
        if k == "direction":
            return f"Which direction does the {c} {s} move?"
        if k == "order":
            return f"Which appears first, the {c} {s} or the {' '.join(self.other)}?"
        if k == "change":
            if self.attr == "colour":
                return f"Does the {s} change colour?"
            return f"Does the {c} object change shape?"
        raise ValueError(f"unknown question kind {k!r}")


@dataclass(frozen=True)
class UndPrompt:
    """Understanding prompt: the shared media (ImageSpec or VideoSpec) and the question about it."""

    media: ImageSpec | VideoSpec
    question: Question

    @property
    def text(self) -> str:
        return self.question.text


@dataclass(frozen=True)
class Answer:
    """A candidate answer. `main` is the core claim (a colour, count, relation, shape, direction or "none",
    "a"/"b"/"same" for order, "yes"/"no" for change); `hedge` an alternative offered with it ("red or
    blue"); `detail` a secondary claim (speed, or the colour/shape after a change); `extra` an added claim
    that a (colour, shape) object is present."""

    main: Any
    hedge: Any = None
    detail: str | None = None
    extra: tuple[str, str] | None = None


PromptSpec = Caption | VideoCaption | UndPrompt
CandidateSpec = ImageSpec | VideoSpec | Answer


def combos(spec: Any) -> set[tuple[str, str]]:
    """Every colour×shape combination a spec names or draws (the held-out rule is checked on this)."""
    if isinstance(spec, Obj):
        return {spec.combo}
    if isinstance(spec, ImageSpec):
        return {o.combo for o in spec.objects}
    if isinstance(spec, Track):
        return {spec.obj.combo, spec.at(1.0).combo}
    if isinstance(spec, VideoSpec):
        return set().union(*(combos(t) for t in spec.tracks))
    if isinstance(spec, Caption):
        return {spec.a} | ({spec.b} if spec.b else set())
    if isinstance(spec, VideoCaption):
        return {(spec.colour, spec.shape)}
    if isinstance(spec, Question):
        out = {spec.other} if spec.other else set()
        return out | ({(spec.colour, spec.shape)} if spec.colour and spec.shape else set())
    if isinstance(spec, UndPrompt):
        return combos(spec.media) | combos(spec.question)
    if isinstance(spec, Answer):
        return {spec.extra} if spec.extra else set()
    raise TypeError(f"not a shapes-world spec: {type(spec).__name__}")


# ------------------------------------------------------------------------------------------ rendering


def _draw_obj(
    draw: ImageDraw.ImageDraw, o: Obj, size: int, fill: Any = None, palette: dict | None = None
) -> None:
    cx, cy, r = o.x * size, o.y * size, o.size * size / 2
    fill = (palette or COLOURS)[o.colour] if fill is None else fill
    if o.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif o.shape == "square":
        h = r * 0.85  # a slightly smaller box so the square's area is close to the circle's
        draw.rectangle([cx - h, cy - h, cx + h, cy + h], fill=fill)
    elif o.shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + 0.75 * r), (cx + r, cy + 0.75 * r)], fill=fill)
    elif o.shape == "cross":
        w = 0.35 * r
        draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=fill)
        draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=fill)
    else:
        raise ValueError(f"unknown shape {o.shape!r}; choose one of {SHAPES}")


def _degrade(img: Image.Image, blur: float, noise: float, artefacts: float, seed: int) -> Image.Image:
    size = img.width
    if blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(radius=blur * size / 20))
    if noise <= 0 and artefacts <= 0:
        return img
    rng = np.random.default_rng(seed)
    arr = np.asarray(img, dtype=np.float32).copy()
    if artefacts > 0:
        # Corrupted blocks: a coarse random-colour mosaic, which cannot be mistaken for a solid shape.
        side = max(4, size // 7)
        for _ in range(max(1, round(artefacts * 5))):
            x0, y0 = (int(v) for v in rng.integers(0, size - side, 2))
            cells = rng.integers(0, 256, (side // 2 + 1, side // 2 + 1, 3))
            arr[y0 : y0 + side, x0 : x0 + side] = np.repeat(np.repeat(cells, 2, 0), 2, 1)[:side, :side]
    if noise > 0:
        arr += rng.normal(0.0, noise * 50.0, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def render_image(spec: ImageSpec, size: int = 64, palette: dict | None = None) -> Image.Image:
    """Draw the scene (objects in order, later on top) and apply blur, then artefacts, then noise.
    `palette` (colour name -> RGB) replaces `COLOURS`: vision pre-training draws shapes in random colours."""
    img = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(img)
    for o in spec.objects:
        _draw_obj(draw, o, size, palette=palette)
    return _degrade(img, spec.blur, spec.noise, spec.artefacts, spec.seed)


def owner_map(objects: tuple[Obj | None, ...], size: int = 64) -> np.ndarray:
    """(size, size) uint8 map: 1 + the index of the object drawn on top at each pixel, 0 for background.
    Dense ground truth for vision pre-training (what is where, drawn exactly as `render_image` draws)."""
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    for i, o in enumerate(objects):
        if o is not None:
            _draw_obj(draw, o, size, fill=i + 1)
    return np.asarray(img)


def frame_times(num_frames: int) -> list[float]:
    return [k / (num_frames - 1) for k in range(num_frames)] if num_frames > 1 else [0.0]


def render_video(
    spec: VideoSpec, num_frames: int = 8, size: int = 64, palette: dict | None = None
) -> list[Image.Image]:
    """Render `num_frames` frames evenly spaced over the clip; flicker times map to the nearest frame."""
    flick = {round(f * (num_frames - 1)) for f in spec.flicker}
    frames = []
    for k, t in enumerate(frame_times(num_frames)):
        objs = tuple(o for tr in spec.tracks if (o := tr.at(t)) is not None)
        if k in flick and spec.flicker_kind == "drop":
            objs = ()
        img = render_image(ImageSpec(objs, spec.blur, spec.noise, 0.0, spec.seed + k), size, palette)
        if k in flick and spec.flicker_kind == "bright":
            img = ImageEnhance.Brightness(img).enhance(0.4)
        frames.append(img)
    return frames


def render_media(
    spec: ImageSpec | VideoSpec, image_size: int = 64, num_frames: int = 8, palette: dict | None = None
) -> Any:
    """A PIL image for an ImageSpec, a list of PIL frames for a VideoSpec."""
    if isinstance(spec, VideoSpec):
        return render_video(spec, num_frames, image_size, palette)
    return render_image(spec, image_size, palette)


# ------------------------------------------------------------------------------------------- oracles


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5 + _EPS))


def quality_level(*severities: float) -> int:
    """0 clean, 1 mild (severity ~0.5), 2 strong (severity ~1)."""
    return min(2, _half_up(2 * max(severities, default=0.0)))


def relation_of(a: Obj, b: Obj) -> str:
    """Where a is relative to b, by the dominant axis of their displacement (y grows downwards)."""
    dx, dy = b.x - a.x, b.y - a.y
    if abs(dx) >= abs(dy):
        return "left of" if dx > 0 else "right of"
    return "above" if dy > 0 else "below"


def image_elements(cap: Caption, spec: ImageSpec) -> list[tuple[str, str, int]]:
    """The caption's key elements and whether the image generated each (EvalMuse-style targets)."""
    objs = spec.objects
    if cap.kind == "relation":
        has_a = [o for o in objs if o.combo == cap.a]
        has_b = [o for o in objs if o.combo == cap.b]
        rel = any(relation_of(a, b) == cap.relation for a in has_a for b in has_b if a is not b)
        return [
            (" ".join(cap.a), "object", int(bool(has_a))),
            (" ".join(cap.b), "object", int(bool(has_b))),
            (cap.relation, "relation", int(rel)),
        ]
    colour, shape = cap.a
    name = f"{colour} {shape if cap.count == 1 else PLURALS[shape]}"
    # The count is of the caption's shape ("two triangles"), so a right count in a wrong colour still counts.
    n_shape = sum(o.shape == shape for o in objs)
    has = any(o.combo == cap.a for o in objs)
    return [(name, "object", int(has)), (COUNT_WORDS[cap.count], "count", int(n_shape == cap.count))]


def _image_gen_score(cap: Caption, spec: ImageSpec) -> tuple[float, dict]:
    elements = image_elements(cap, spec)
    frac = sum(v for _, _, v in elements) / len(elements)
    penalty = quality_level(spec.blur, spec.noise, spec.artefacts)
    return float(min(5, max(1, _half_up(1 + 4 * frac) - penalty))), {"elements": elements}


def _changes(track: Track) -> tuple[bool, bool]:
    end = track.at(1.0)
    return end.colour != track.obj.colour, end.shape != track.obj.shape


def video_changes(spec: VideoSpec) -> bool:
    """Whether any object of a video looks different at the end than when it appears."""
    return any(any(_changes(t)) for t in spec.tracks)


def video_dimensions(cap: VideoCaption, spec: VideoSpec) -> dict[str, int]:
    """The five VideoFeedback dimensions (1–4) of a video for a caption; the subject is the first track."""
    if not spec.tracks:
        return dict(
            zip(VIDEO_DIMENSIONS, (4 - quality_level(spec.blur, spec.noise), 1, 1, 1, 1), strict=True)
        )
    subject = spec.tracks[0]
    colour_changed = any(_changes(t)[0] for t in spec.tracks)
    shape_changed = any(_changes(t)[1] for t in spec.tracks)
    flicker = 0 if not spec.flicker else (1 if len(spec.flicker) == 1 else 2)
    moving = subject.travel > _EPS
    elements = [
        subject.obj.colour == cap.colour,
        subject.obj.shape == cap.shape,
        moving and subject.direction == cap.direction,
    ]
    if cap.speed:
        elements.append(subject.speed == cap.speed)
    dropped = bool(spec.flicker) and spec.flicker_kind == "drop"
    values = (
        4 - quality_level(spec.blur, spec.noise),
        max(1, 4 - flicker - 2 * (colour_changed or shape_changed)),
        {None: 1, "slow": 3, "fast": 4}[subject.speed],
        1 + _half_up(3 * sum(elements) / len(elements)),
        max(1, 4 - dropped - 2 * colour_changed - 2 * shape_changed),
    )
    return dict(zip(VIDEO_DIMENSIONS, values, strict=True))


def video_final(dims: dict[str, int]) -> int:
    """Final 1–10 from the dimensions: alignment deficits count double, dynamic degree only when static."""
    vq, tc, dd, ta, fc = (dims[k] for k in VIDEO_DIMENSIONS)
    return min(10, max(1, 10 - 2 * (4 - ta) - (4 - vq) - (4 - tc) - (4 - fc) - (4 - dd) // 2))


def _video_gen_score(cap: VideoCaption, spec: VideoSpec) -> tuple[float, dict]:
    dims = video_dimensions(cap, spec)
    return float(video_final(dims)), {"dimensions": dims}


def _find(media: ImageSpec | VideoSpec, colour: str | None, shape: str | None) -> list:
    """Objects (images) or tracks (videos, by their first-frame look) matching the given attributes."""
    items = media.objects if isinstance(media, ImageSpec) else media.tracks
    look = (lambda o: o) if isinstance(media, ImageSpec) else (lambda t: t.obj)
    return [i for i in items if colour in (None, look(i).colour) and shape in (None, look(i).shape)]


def und_truth(prompt: UndPrompt) -> tuple[frozenset, str | None]:
    """(acceptable main answers, true detail) for a question about its media."""
    q, m = prompt.question, prompt.media
    if q.kind == "colour":
        return frozenset(o.colour for o in _find(m, None, q.shape)), None
    if q.kind == "count":
        return frozenset({len(_find(m, None, q.shape))}), None
    if q.kind == "shape":
        return frozenset(o.shape for o in _find(m, q.colour, None)), None
    if q.kind == "relation":
        a, b = _find(m, q.colour, q.shape), _find(m, *q.other)
        return frozenset({relation_of(a[0], b[0])} if a and b else ()), None
    if q.kind == "direction":
        tracks = _find(m, q.colour, q.shape)
        if not tracks:
            return frozenset(), None
        t = tracks[0]
        return frozenset({t.direction if t.speed else "none"}), t.speed
    if q.kind == "order":
        a, b = _find(m, q.colour, q.shape), _find(m, *q.other)
        if not (a and b):
            return frozenset(), None
        da = a[0].appear - b[0].appear
        return frozenset({"same" if abs(da) < _EPS else ("a" if da < 0 else "b")}), None
    if q.kind == "change":
        tracks = _find(m, q.colour, q.shape)
        if not tracks:
            return frozenset(), None
        t = tracks[0]
        changed = _changes(t)[0 if q.attr == "colour" else 1]
        return frozenset({"yes" if changed else "no"}), getattr(t.at(1.0), q.attr)
    raise ValueError(f"unknown question kind {q.kind!r}")


def _extra_ok(prompt: UndPrompt, answer: Answer) -> bool:
    return answer.extra is None or answer.extra in combos(prompt.media)


def _image_und_score(prompt: UndPrompt, answer: Answer) -> float:
    truth, _ = und_truth(prompt)
    if answer.hedge is None:
        base = 100 if answer.main in truth else 15
    else:
        base = 50 if (answer.main in truth or answer.hedge in truth) else 15
    return float(max(0, base - (0 if _extra_ok(prompt, answer) else 40)))


def _video_und_score(prompt: UndPrompt, answer: Answer) -> float:
    """Order: right 5, "same time" when not 2, wrong 1. Direction/change: right with a right detail (speed,
    colour/shape after) 5, right without detail 4, right with a wrong detail 3, wrong with a right detail 2,
    wrong 1. A false extra claim costs 2 (floor 1)."""
    truth, detail = und_truth(prompt)
    right = answer.main in truth
    if prompt.question.kind == "order":
        base = 5 if right else (2 if answer.main == "same" else 1)
    elif right:
        base = 4 if answer.detail is None else (5 if answer.detail == detail else 3)
    else:
        base = 2 if (answer.detail is not None and answer.detail == detail) else 1
    return float(max(1, base - (0 if _extra_ok(prompt, answer) else 2)))


def oracle(task: Task | str, prompt: PromptSpec, candidate: CandidateSpec) -> tuple[float, dict]:
    """(score on `scale(task)`, details for targets: {"elements": ...}, {"dimensions": ...} or {})."""
    task = Task.parse(task)
    if task == Task.IMAGE_GEN:
        return _image_gen_score(prompt, candidate)
    if task == Task.VIDEO_GEN:
        return _video_gen_score(prompt, candidate)
    if task == Task.IMAGE_UND:
        return _image_und_score(prompt, candidate), {}
    return _video_und_score(prompt, candidate), {}


def oracle_score(task: Task | str, prompt: PromptSpec, candidate: CandidateSpec) -> float:
    """The exact score of any candidate spec for any prompt spec the world draws."""
    return oracle(task, prompt, candidate)[0]


def outcome(score_a: float, score_b: float) -> Outcome:
    return "A" if score_a > score_b else ("B" if score_b > score_a else "tie")


# ----------------------------------------------------------------------------------------- answer text


def _count_phrase(n: int, shape: str) -> str:
    return f"{COUNT_WORDS.get(n, str(n))} {shape if n == 1 else PLURALS[shape]}"


def answer_text(question: Question, answer: Answer) -> str:
    """A short sentence stating the answer spec."""
    q, a = question, answer
    main, hedge = a.main, a.hedge
    if q.kind == "colour":
        text = f"The {q.shape} is {main}{f' or {hedge}' if hedge else ''}."
    elif q.kind == "count":
        if hedge is None:
            verb = "is" if main == 1 else "are"
            text = f"There {verb} {_count_phrase(main, q.shape)}."
        else:
            text = f"There are {COUNT_WORDS[main]} or {COUNT_WORDS[hedge]} {PLURALS[q.shape]}."
    elif q.kind == "relation":
        text = f"The {q.colour} {q.shape} is {main}{f' or {hedge}' if hedge else ''} the {' '.join(q.other)}."
    elif q.kind == "shape":
        text = f"The {q.colour} object is a {main}{f' or a {hedge}' if hedge else ''}."
    elif q.kind == "direction":
        subject = f"The {q.colour} {q.shape}"
        if main == "none":
            text = f"{subject} does not move."
        else:
            text = f"{subject} moves {main}{f' {ADVERBS[a.detail]}' if a.detail else ''}."
    elif q.kind == "order":
        names = {"a": f"{q.colour} {q.shape}", "b": " ".join(q.other)}
        text = "They appear at the same time." if main == "same" else f"The {names[main]} appears first."
    elif q.kind == "change":
        art = "" if q.attr == "colour" else "a "
        if main == "yes":
            into = "into a " if q.attr == "shape" else ""
            text = f"Yes, it changes {q.attr}." if a.detail is None else f"Yes, it turns {into}{a.detail}."
        else:
            text = "No, it does not." if a.detail is None else f"No, it stays {art}{a.detail}."
    else:
        raise ValueError(f"unknown question kind {q.kind!r}")
    if a.extra:
        text += f" There is also a {' '.join(a.extra)}."
    return text


# ------------------------------------------------------------------------------------------- sampling


class _Draw:
    """A seeded stream for one (seed, split, task, kind) plus the sampling helpers used by every task."""

    def __init__(
        self, rng: np.random.Generator, split: str, num_frames: int, balanced_checks: bool = False
    ) -> None:
        self.rng, self.split, self.num_frames, self.count = rng, split, num_frames, 0
        self.balanced_checks = balanced_checks

    def pick(self, seq: Any, weights: list[float] | None = None) -> Any:
        seq = list(seq)
        if weights is None:
            return seq[int(self.rng.integers(len(seq)))]
        p = np.asarray(weights, dtype=float)
        return seq[int(self.rng.choice(len(seq), p=p / p.sum()))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def seed(self) -> int:
        return int(self.rng.integers(2**31 - 1_000))

    def size(self) -> float:
        return self.uniform(0.26, 0.32)

    def colours(self, n: int) -> list[str]:
        return [str(c) for c in self.rng.permutation(list(COLOURS))[:n]]

    def prompt_ok(self, spec: Any) -> bool:
        if self.split == "any":
            return True
        held = bool(combos(spec) & HELD_OUT)
        return held if self.split == "test" else not held

    def candidate_ok(self, spec: Any) -> bool:
        return self.split in ("test", "any") or not combos(spec) & HELD_OUT

    def quality(self, kinds: tuple[str, ...] = ("blur", "noise", "artefacts")) -> dict[str, float]:
        if self.chance(0.6):
            return {}
        return {self.pick(kinds): self.pick((0.5, 1.0))}

    def pair_positions(self, relation: str, sa: float, sb: float) -> tuple[tuple[float, float], ...]:
        """Centres for a and b with a clearly `relation` b (main-axis gap ≥ 0.42, small perpendicular
        offset), so the relation is unambiguous in pixels too."""
        sep, off = self.uniform(0.42, 0.55), self.uniform(-0.08, 0.08)
        slack = 0.5 - 0.03 - 0.16 - sep / 2
        mid, perp = 0.5 + self.uniform(-slack, slack), self.uniform(0.27, 0.73)
        sign = -1 if relation in ("left of", "above") else 1
        a, b = (mid + sign * sep / 2, perp + off / 2), (mid - sign * sep / 2, perp - off / 2)
        if relation in ("above", "below"):
            a, b = a[::-1], b[::-1]
        return a, b

    def free_positions(self, sizes: list[float]) -> list[tuple[float, float]]:
        """Non-overlapping centres, all objects inside the frame (rejection sampling)."""
        while True:
            pts: list[tuple[float, float]] = []
            for s in sizes:
                for _ in range(100):
                    lo, hi = s / 2 + 0.03, 1 - s / 2 - 0.03
                    p = (self.uniform(lo, hi), self.uniform(lo, hi))
                    # zip stops at the points placed so far
                    if all(math.dist(p, q) >= (s + t) / 2 + 0.05 for q, t in zip(pts, sizes, strict=False)):
                        pts.append(p)
                        break
            if len(pts) == len(sizes):
                return pts

    def start(self, direction: str, travel: float, size: float) -> tuple[float, float]:
        """A start centre from which the whole path stays inside the frame."""
        lo, hi = size / 2 + 0.03, 1 - size / 2 - 0.03
        dx, dy = DIRECTIONS[direction]
        x = self.uniform(lo + travel * (dx < 0), hi - travel * (dx > 0))
        y = self.uniform(lo + travel * (dy < 0), hi - travel * (dy > 0))
        return x, y

    def time(self, lo_frame: int, hi_frame: int) -> float:
        """A time that falls exactly on a frame index in [lo_frame, hi_frame]."""
        return int(self.rng.integers(lo_frame, hi_frame + 1)) / (self.num_frames - 1)

    def track(self, colour: str, shape: str, **kw: Any) -> Track:
        direction, speed = self.pick(DIRECTIONS), self.pick(SPEEDS)
        size = self.size()
        x, y = self.start(direction, SPEEDS[speed], size)
        return Track(Obj(colour, shape, x, y, size), direction, SPEEDS[speed], **kw)


def _other(dr: _Draw, values: Any, *exclude: Any) -> Any:
    return dr.pick([v for v in values if v not in exclude])


# image_gen -------------------------------------------------------------------------------------------


def _image_gen_prompt(dr: _Draw) -> Caption:
    if dr.chance(0.5):
        ca, cb = dr.colours(2)
        return Caption("relation", (ca, dr.pick(SHAPES)), dr.pick(RELATIONS), (cb, dr.pick(SHAPES)))
    return Caption("count", (dr.pick(COLOURS), dr.pick(SHAPES)), count=dr.pick((1, 2, 3)))


# How image-generation candidates break their caption. The world's mix leaves a third of the object checks
# 0; the balanced mix (training only, `ShapesWorld(balanced_checks=True)`) leaves 47%, so a model that
# writes "present" without looking is at chance on the checks instead of right two times in three.
_RELATION_ERRORS = ("none", "colour", "shape", "relation", "missing", "both")
_COUNT_ERRORS = ("none", "colour", "shape", "count", "missing")
_ERROR_WEIGHTS = {
    False: ([0.32, 0.12, 0.12, 0.2, 0.12, 0.12], [0.35, 0.15, 0.15, 0.2, 0.15]),
    True: ([0.25, 0.15, 0.15, 0.1, 0.15, 0.2], [0.25, 0.2, 0.2, 0.1, 0.25]),
}


def _image_gen_candidate(dr: _Draw, cap: Caption) -> ImageSpec:
    relation_weights, count_weights = _ERROR_WEIGHTS[dr.balanced_checks]
    if cap.kind == "relation":
        err = dr.pick(_RELATION_ERRORS, relation_weights)
        looks, rel = [list(cap.a), list(cap.b)], cap.relation
        which = (
            [0, 1] if err == "both" else [dr.pick((0, 1))] if err in ("colour", "shape", "missing") else []
        )
        for i in which:
            if err == "colour" or (err == "both" and dr.chance(0.5)):
                looks[i][0] = _other(dr, COLOURS, cap.a[0], cap.b[0])
            elif err != "missing":
                looks[i][1] = _other(dr, SHAPES, looks[i][1])
        if err == "relation":
            rel = _other(dr, RELATIONS, rel)
        sizes = [dr.size(), dr.size()]
        pos = dr.pair_positions(rel, *sizes)
        objs = [Obj(c, s, *p, z) for (c, s), p, z in zip(looks, pos, sizes, strict=True)]
        if err == "missing":
            objs.pop(which[0])
    else:
        err = dr.pick(_COUNT_ERRORS, count_weights)
        (colour, shape), n = cap.a, cap.count
        if err == "colour":
            colour = _other(dr, COLOURS, colour)
        elif err == "shape":
            shape = _other(dr, SHAPES, shape)
        elif err == "count":
            n = _other(dr, (1, 2, 3), n)
        elif err == "missing":
            n = 0
        sizes = [dr.size() for _ in range(n)]
        objs = [
            Obj(colour, shape, x, y, s) for (x, y), s in zip(dr.free_positions(sizes), sizes, strict=True)
        ]
    return ImageSpec(tuple(objs), **dr.quality(), seed=dr.seed())


# image_und -------------------------------------------------------------------------------------------


def _image_und_prompt(dr: _Draw) -> UndPrompt | None:
    kind = dr.pick(IMAGE_QUESTIONS)
    if kind == "relation":
        ca, cb = dr.colours(2)
        sa, sb = dr.pick(SHAPES), dr.pick(SHAPES)
        sizes = [dr.size(), dr.size()]
        pa, pb = dr.pair_positions(dr.pick(RELATIONS), *sizes)
        objs = (Obj(ca, sa, *pa, sizes[0]), Obj(cb, sb, *pb, sizes[1]))
        return UndPrompt(ImageSpec(objs), Question("relation", ca, sa, other=(cb, sb)))
    if kind == "count":
        target, k = dr.pick(SHAPES), dr.pick((1, 2, 3))
        shapes = [target] * k + [_other(dr, SHAPES, target) for _ in range(dr.pick(range(4 - k)))]
    else:
        shapes = [dr.pick(SHAPES) for _ in range(dr.pick((1, 2, 3)))]
    shapes = [str(s) for s in dr.rng.permutation(shapes)]
    colours, sizes = dr.colours(len(shapes)), [dr.size() for _ in shapes]
    places = zip(colours, shapes, dr.free_positions(sizes), sizes, strict=True)
    objs = tuple(Obj(c, s, x, y, z) for c, s, (x, y), z in places)
    if kind == "count":
        q = Question("count", shape=target)
    elif kind == "shape":
        q = Question("shape", colour=dr.pick(colours))
    else:
        unique = [s for s in shapes if shapes.count(s) == 1]
        if not unique:
            return None  # no shape to ask the colour of without ambiguity: redraw
        q = Question("colour", shape=dr.pick(unique))
    return UndPrompt(ImageSpec(objs), q)


_ANSWER_VALUES = {
    "colour": tuple(COLOURS),
    "count": (1, 2, 3),
    "relation": RELATIONS,
    "shape": SHAPES,
    "direction": (*DIRECTIONS, "none"),
    "order": ("a", "b", "same"),
    "change": ("yes", "no"),
}


def _answer(dr: _Draw, prompt: UndPrompt) -> Answer:
    """A right, partly right or wrong answer: a right/wrong main claim, maybe a hedge (images), maybe a
    right/wrong detail (direction/change), maybe a true/false extra claim."""
    q = prompt.question
    truth, detail_truth = und_truth(prompt)
    values = _ANSWER_VALUES[q.kind]
    wrong = [v for v in values if v not in truth]
    main = dr.pick(sorted(truth, key=str)) if truth and (dr.chance(0.5) or not wrong) else dr.pick(wrong)
    hedge = detail = extra = None
    if isinstance(prompt.media, ImageSpec) and dr.chance(0.2):
        hedge = _other(dr, values, main)
    if q.kind in ("direction", "change") and main != "none" and dr.chance(0.6):
        options = (
            tuple(SPEEDS) if q.kind == "direction" else {"colour": tuple(COLOURS), "shape": SHAPES}[q.attr]
        )
        right = detail_truth in options and dr.chance(0.6)
        detail = detail_truth if right else _other(dr, options, detail_truth)
    if dr.chance(0.25):
        present = combos(prompt.media)
        named = {q.other} | {c for c in present if q.colour in (None, c[0]) and q.shape in (None, c[1])}
        true_claims = sorted(present - named)
        if true_claims and dr.chance(0.5):
            extra = dr.pick(true_claims)
        else:
            extra = dr.pick([(c, s) for c in COLOURS for s in SHAPES if (c, s) not in present])
    return Answer(main, hedge, detail, extra)


# video_gen -------------------------------------------------------------------------------------------


def _video_gen_prompt(dr: _Draw) -> VideoCaption:
    speed = dr.pick(SPEEDS) if dr.chance(0.5) else None
    return VideoCaption(dr.pick(COLOURS), dr.pick(SHAPES), dr.pick(DIRECTIONS), speed)


def _video_gen_candidate(dr: _Draw, cap: VideoCaption) -> VideoSpec:
    errors = ["none", "direction", "colour", "shape", "static"] + (["speed"] if cap.speed else [])
    err = dr.pick(errors, [0.35] + [0.65 / (len(errors) - 1)] * (len(errors) - 1))
    colour, shape, direction = cap.colour, cap.shape, cap.direction
    speed = cap.speed or dr.pick(SPEEDS)
    if err == "direction":
        direction = _other(dr, DIRECTIONS, direction)
    elif err == "colour":
        colour = _other(dr, COLOURS, colour)
    elif err == "shape":
        shape = _other(dr, SHAPES, shape)
    elif err == "speed":
        speed = _other(dr, SPEEDS, speed)
    travel = 0.0 if err == "static" else SPEEDS[speed]
    size = dr.size()
    track = Track(Obj(colour, shape, *dr.start(direction, travel, size), size), direction, travel)
    defect = dr.pick(("none", "blur", "noise", "drop", "bright", "change"), [0.5] + [0.1] * 5)
    extra: dict[str, Any] = {}
    last = dr.num_frames - 1
    if defect in ("blur", "noise"):
        extra[defect] = dr.pick((0.5, 1.0))
    elif defect in ("drop", "bright"):
        frames = dr.rng.choice(np.arange(1, last + 1), size=min(last, dr.pick((1, 3))), replace=False)
        extra.update(flicker=tuple(sorted(int(k) / last for k in frames)), flicker_kind=defect)
    elif defect == "change":
        at = dr.time(max(1, last // 3), max(1, (2 * last) // 3))
        if dr.chance(0.5):
            track = replace(track, change_at=at, change_colour=_other(dr, COLOURS, colour))
        else:
            track = replace(track, change_at=at, change_shape=_other(dr, SHAPES, shape))
    return VideoSpec((track,), seed=dr.seed(), **extra)


# video_und -------------------------------------------------------------------------------------------


def _apart(tracks: list[Track], num_frames: int) -> bool:
    """True when no two visible objects overlap in any frame."""
    for t in frame_times(num_frames):
        objs = [o for tr in tracks if (o := tr.at(t)) is not None]
        for i, a in enumerate(objs):
            for b in objs[i + 1 :]:
                if math.dist((a.x, a.y), (b.x, b.y)) < (a.size + b.size) / 2 + 0.02:
                    return False
    return True


def _video_und_prompt(dr: _Draw) -> UndPrompt | None:
    kind = dr.pick(VIDEO_QUESTIONS)
    n = 2 if kind == "order" else dr.pick((1, 2))
    colours = dr.colours(n)
    attr = dr.pick(("colour", "shape")) if kind == "change" else None
    if attr == "colour":  # asked by shape, so shapes must be unique
        shapes = [str(s) for s in dr.rng.permutation(SHAPES)[:n]]
    else:
        shapes = [dr.pick(SHAPES) for _ in range(n)]
    tracks = [dr.track(c, s) for c, s in zip(colours, shapes, strict=True)]
    last = dr.num_frames - 1
    if kind == "order" and dr.chance(0.8):
        tracks[1] = replace(tracks[1], appear=dr.time(2, max(2, last // 2)))
    if kind == "change" and dr.chance(0.5):
        t0, at = tracks[0], dr.time(max(1, last // 3), max(1, (2 * last) // 3))
        if attr == "colour":
            tracks[0] = replace(t0, change_at=at, change_colour=_other(dr, COLOURS, t0.obj.colour))
        else:
            tracks[0] = replace(t0, change_at=at, change_shape=_other(dr, SHAPES, t0.obj.shape))
    if not _apart(tracks, dr.num_frames):
        return None
    a = tracks[0].obj
    if kind == "change":
        q = Question(
            "change",
            colour=a.colour if attr == "shape" else None,
            shape=a.shape if attr == "colour" else None,
            attr=attr,
        )
    elif kind == "order":
        order = [t.obj.combo for t in tracks]
        first, second = order if dr.chance(0.5) else order[::-1]
        q = Question("order", *first, other=second)
    else:
        q = Question("direction", a.colour, a.shape)
    tracks = [tracks[i] for i in dr.rng.permutation(n)]  # the subject is not always the first track
    return UndPrompt(VideoSpec(tuple(tracks)), q)


# ----------------------------------------------------------------------------------------- the world


_PROMPTS = {
    Task.IMAGE_GEN: _image_gen_prompt,
    Task.IMAGE_UND: _image_und_prompt,
    Task.VIDEO_GEN: _video_gen_prompt,
    Task.VIDEO_UND: _video_und_prompt,
}
_CANDIDATES = {
    Task.IMAGE_GEN: _image_gen_candidate,
    Task.IMAGE_UND: _answer,
    Task.VIDEO_GEN: _video_gen_candidate,
    Task.VIDEO_UND: _answer,
}
_MAX_TRIES = 10_000


def sample_prompt(task: Task | str, dr: _Draw) -> PromptSpec:
    """A prompt spec that obeys the split's held-out rule."""
    task = Task.parse(task)
    for _ in range(_MAX_TRIES):
        p = _PROMPTS[task](dr)
        if p is not None and dr.prompt_ok(p):
            return p
    raise RuntimeError(f"could not draw a {task.value} prompt for split {dr.split!r}")


def sample_candidate(task: Task | str, dr: _Draw, prompt: PromptSpec) -> CandidateSpec:
    """A candidate spec with graded errors that obeys the split's held-out rule."""
    task = Task.parse(task)
    for _ in range(_MAX_TRIES):
        c = _CANDIDATES[task](dr, prompt)
        if dr.candidate_ok(c):
            return c
    raise RuntimeError(f"could not draw a {task.value} candidate for split {dr.split!r}")


@dataclass
class PairExample:
    item: PairItem
    label: Outcome
    scores: tuple[float, float]
    details_a: dict
    details_b: dict
    spec: dict = field(default_factory=dict)  # {"prompt": ..., "a": ..., "b": ...}


@dataclass
class PointExample:
    item: PointItem
    score: float
    details: dict
    spec: dict = field(default_factory=dict)  # {"prompt": ..., "candidate": ...}


class CandidateSet(NamedTuple):
    """n candidates for one prompt; `media` is the shared image/video of understanding tasks."""

    prompt: str
    media: Any
    candidates: list
    scores: list[float]
    details: list[dict]


_KINDS = ("pair", "point", "candidates")


class ShapesWorld:
    """Seeded access to the shapes world. Each (split, task, kind) is its own stream, seeded from
    (seed, split, task, kind), so draws of one task never shift another's and `examples` is reproducible.
    """

    def __init__(
        self,
        seed: int,
        image_size: int = 64,
        num_frames: int = 8,
        balanced_checks: bool = False,
        und_tie_rate: float = 0.0,
    ) -> None:
        """`balanced_checks` draws image-generation candidates from a mix with half the caption's objects
        missing or wrong; `und_tie_rate` draws that share of train-split understanding pairs with equal
        oracle scores, labelled `UND_TIE_BREAK` (both training-data options: other splits and the default
        world stay as they were)."""
        if seed < 0:
            raise ValueError("seed must be >= 0")
        if image_size < 16 or num_frames < 4:
            raise ValueError("need image_size >= 16 and num_frames >= 4 (order questions need 4 frames)")
        if not 0.0 <= und_tie_rate < 1.0:
            raise ValueError(f"und_tie_rate is a share of understanding pairs in [0, 1), got {und_tie_rate}")
        self.seed, self.image_size, self.num_frames = seed, image_size, num_frames
        self.balanced_checks, self.und_tie_rate = balanced_checks, und_tie_rate
        self._streams: dict[tuple, _Draw] = {}

    def _new_stream(self, split: str, task: Task, kind: str) -> _Draw:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
        key = [self.seed, SPLITS.index(split), list(Task).index(task), _KINDS.index(kind)]
        rng = np.random.default_rng(np.random.SeedSequence(key))
        return _Draw(rng, split, self.num_frames, self.balanced_checks)

    def _stream(self, split: str, task: Task, kind: str) -> _Draw:
        key = (split, task, kind)
        if key not in self._streams:
            self._streams[key] = self._new_stream(split, task, kind)
        return self._streams[key]

    def _render(self, task: Task, prompt: PromptSpec, cand: CandidateSpec) -> Any:
        if task.is_generation:
            return render_media(cand, self.image_size, self.num_frames)
        return answer_text(prompt.question, cand)

    def _shared_media(self, task: Task, prompt: PromptSpec) -> Any:
        return None if task.is_generation else render_media(prompt.media, self.image_size, self.num_frames)

    def _id(self, dr: _Draw, task: Task, kind: str) -> str:
        dr.count += 1
        return f"shapes-{self.seed}-{dr.split}-{task.value}-{kind}-{dr.count - 1}"

    def _pair(self, task: Task, dr: _Draw) -> PairExample:
        prompt = sample_prompt(task, dr)
        if task.is_generation:
            want_tie = dr.chance(TIE_RATE)
        else:  # no draw at rate 0, so the understanding streams are unchanged by default
            want_tie = self.und_tie_rate > 0 and dr.split == "train" and dr.chance(self.und_tie_rate)
        for attempt in range(_MAX_TRIES):
            if attempt % 200 == 0:  # a rare first score may have no equal: redraw it now and then
                x = sample_candidate(task, dr, prompt)
                sx, dx = oracle(task, prompt, x)
            y = sample_candidate(task, dr, prompt)
            sy, dy = oracle(task, prompt, y)
            if (sx == sy) == want_tie:
                break
        else:
            raise RuntimeError(f"could not draw a {task.value} pair")
        if dr.chance(0.5):
            (x, sx, dx), (y, sy, dy) = (y, sy, dy), (x, sx, dx)
        item = PairItem(
            task,
            prompt.text,
            self._render(task, prompt, x),
            self._render(task, prompt, y),
            self._shared_media(task, prompt),
            self._id(dr, task, "pair"),
        )
        label = outcome(sx, sy)
        if label == "tie" and not task.is_generation:
            label = UND_TIE_BREAK
        return PairExample(item, label, (sx, sy), dx, dy, {"prompt": prompt, "a": x, "b": y})

    def _point(self, task: Task, dr: _Draw) -> PointExample:
        prompt = sample_prompt(task, dr)
        c = sample_candidate(task, dr, prompt)
        score, details = oracle(task, prompt, c)
        item = PointItem(
            task,
            prompt.text,
            self._render(task, prompt, c),
            self._shared_media(task, prompt),
            self._id(dr, task, "point"),
        )
        return PointExample(item, score, details, {"prompt": prompt, "candidate": c})

    def pair_example(self, task: Task | str, split: Split = "train") -> PairExample:
        """The next pair of the (split, task) stream; the better side is A or B at random."""
        task = Task.parse(task)
        return self._pair(task, self._stream(split, task, "pair"))

    def point_example(self, task: Task | str, split: Split = "train") -> PointExample:
        task = Task.parse(task)
        return self._point(task, self._stream(split, task, "point"))

    def candidate_specs(
        self, task: Task | str, n: int = 10, split: Split = "train"
    ) -> tuple[PromptSpec, list[CandidateSpec]]:
        """One prompt spec and n candidate specs with a spread of quality (at least two distinct oracle
        scores when n >= 2), as the paper's pipeline samples 10 candidates per prompt."""
        task = Task.parse(task)
        dr = self._stream(split, task, "candidates")
        prompt = sample_prompt(task, dr)
        specs = [sample_candidate(task, dr, prompt) for _ in range(n)]
        for _ in range(_MAX_TRIES):
            if n < 2 or len({oracle_score(task, prompt, c) for c in specs}) > 1:
                return prompt, specs
            specs[-1] = sample_candidate(task, dr, prompt)
        raise RuntimeError(f"could not draw {n} {task.value} candidates with distinct scores")

    def candidates(self, task: Task | str, n: int = 10, split: Split = "train") -> CandidateSet:
        """`candidate_specs` rendered: the prompt text, shared media, candidates, oracle scores, details.
        Both methods advance the same stream; use `candidate_specs` when the specs are needed too."""
        task = Task.parse(task)
        prompt, specs = self.candidate_specs(task, n, split)
        scored = [oracle(task, prompt, c) for c in specs]
        return CandidateSet(
            prompt.text,
            self._shared_media(task, prompt),
            [self._render(task, prompt, c) for c in specs],
            [s for s, _ in scored],
            [d for _, d in scored],
        )

    def examples(
        self, task: Task | str, mode: Mode | str, n: int, split: Split = "train"
    ) -> list[PairExample] | list[PointExample]:
        """The first n examples of a fresh (seed, split, task, mode) stream: the same list every call, and
        the same as the first n `pair_example`/`point_example` calls of a new world with this seed."""
        task, mode = Task.parse(task), Mode(mode)
        dr = self._new_stream(split, task, mode.value)
        draw = self._pair if mode == Mode.PAIR else self._point
        return [draw(task, dr) for _ in range(n)]


# --------------------------------------------------------------------------------------- explanations

_QUALITY_WORDS = {0: "clean", 1: "slightly degraded", 2: "strongly degraded"}


def true_answer(prompt: UndPrompt) -> str:
    """The correct answer to an understanding question, as a sentence."""
    accepted, detail = und_truth(prompt)
    main = sorted(accepted, key=str)[0] if accepted else "none"
    return answer_text(prompt.question, Answer(main=main, detail=detail))


def claim_word(question: Question, value: Any) -> str:
    """A main claim or truth as the words an answer sentence uses for it ("left of", "two", "red circle")."""
    if value is None or value == "none":
        return "none"
    if question.kind == "count":
        return COUNT_WORDS.get(value, str(value))
    if question.kind == "order":
        names = {"a": f"{question.colour} {question.shape}", "b": " ".join(question.other)}
        return names.get(value, "same time")
    return str(value)


def _detail_word(value: str | None) -> str:
    return "none" if value is None else ADVERBS.get(value, value)


def answer_checks(prompt: UndPrompt, answer: Answer) -> str:
    """What the oracle checks in an understanding answer, in words: the main claim (right, wrong, hedged),
    the secondary detail (speed, or the colour/shape after a change) and an added object claim.

    Each check writes the answer's claim and the truth side by side before judging it
    (`claim left, truth down: wrong`): a small model that has already written the correct answer then only
    compares two nearby words, instead of matching a sentence against a sentence three lines up.
    """
    q = prompt.question
    truth, detail = und_truth(prompt)
    claimed = (answer.main,) if answer.hedge is None else (answer.main, answer.hedge)
    right = any(c in truth for c in claimed)
    # The truth as written: the accepted value the answer named when it named one, else the first.
    shown = next((c for c in claimed if c in truth), sorted(truth, key=str)[0] if truth else "none")
    said = " or ".join(claim_word(q, c) for c in claimed)
    head = "claim" if answer.hedge is None else "hedged"
    parts = [f"{head} {said}, truth {claim_word(q, shown)}: {'right' if right else 'wrong'}"]
    if answer.detail is not None and q.kind != "order":
        verdict = "right" if answer.detail == detail else "wrong"
        parts.append(f"detail {_detail_word(answer.detail)}, truth {_detail_word(detail)}: {verdict}")
    if answer.extra is not None:
        parts.append(f"extra {' '.join(answer.extra)} {'present' if _extra_ok(prompt, answer) else 'absent'}")
    return ", ".join(parts)


def left_to_right(objects) -> list[Obj]:
    """Objects in the order every description names them: left to right, then top to bottom."""
    return sorted(objects, key=lambda o: (o.x, o.y))


def object_name(colour: str, shape: str, names: str = "colour-first") -> str:
    """An object as descriptions name it: `red cross`, or with `names` "shape-first" `cross red`
    (NAME_STYLES; "two-lists" names video objects colour first, as `describe_video` writes them).

    Why shape first: a description written colour first names a held-out pair's shape right after its
    colour word, where the train split's text never has that shape, and that colour->shape prior
    overrules the vision tower (research log, sessions 10 and 23); named shape first, the shape word
    follows only a separator.
    """
    return f"{shape} {colour}" if names == "shape-first" else f"{colour} {shape}"


_SHAPE_THEN_COLOUR = re.compile(rf"\b({'|'.join(SHAPES)}) ({'|'.join(COLOURS)})\b")
_WORDS = r"[a-z]+(?:, [a-z]+)*"
_TWO_LISTS = re.compile(rf"\bshapes ({_WORDS}); colours ({_WORDS})")


def _lists_as_names(match: re.Match) -> str:
    shapes, colours = match[1].split(", "), match[2].split(", ")
    # lists of unequal length (a judge's slip) pair what they can; the rest is written alone
    named = [f"{c} {s}" for c, s in zip(colours, shapes)]
    longer = shapes if len(shapes) > len(colours) else colours
    return ", ".join(named + longer[len(named) :])


def colour_first(text: str) -> str:
    """`text` with every shape-first name (`cross red`) and every two-lists description (`shapes cross,
    circle; colours red, blue`) written as colour-first names (`red cross, blue circle`), so the
    descriptions of any NAME_STYLES judge compare with the colour-first ones the benchmarks parse."""
    return _SHAPE_THEN_COLOUR.sub(r"\2 \1", _TWO_LISTS.sub(_lists_as_names, text))


_SHAPE_WORDS = "|".join(sorted([*SHAPES, *PLURALS.values()], key=len, reverse=True))
_OBJECT_COLOUR = re.compile(rf"\b({'|'.join(COLOURS)})(?= (?:{_SHAPE_WORDS})\b)")
_SHOWS = re.compile(r"\bshows:? ([^.;]*)")  # a description: up to its full stop, or `;` in a pair line


def name_noise(text: str, rng: np.random.Generator, rate: float) -> tuple[str, list[tuple[int, int]]]:
    """`text` with, in each image description (`shows red cross, blue circle`) with probability `rate`,
    one object's colour word replaced by a colour that names no object there (any other colour when every
    one does); returns the new text and the character spans to take no loss on: the replaced word, and
    what follows its description up to the next one (or the end).

    Why: the train split never writes a held-out pair, so a judge learns that after `yellow` the next word
    is never `circle` and overrules what its tower reads (research log, sessions 10 and 23). Read after a
    colour word that says nothing about it, the shape has to come from the image. The word is an input
    only (`RewardSFTCollator(input_noise=...)`), and so are the lookups, checks and answer after the
    description, which copy its words and would otherwise teach the judge not to trust what it wrote.
    Only image descriptions: video phrases (`moving`, `static`) feed change and caption checks in the
    same line, and the names a judge copies from the prompt (caption elements, claims) are not read from
    the media. A colour that names no object keeps the word from pointing at another object.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"name noise is a probability in [0, 1], got {rate}")
    described = [d for d in _SHOWS.finditer(text) if not re.search(r"\b(moving|static)\b", d[1])]
    if not rate or not described:
        return text, []
    out, spans, last = "", [], 0
    for k, shows in enumerate(described):
        names = list(_OBJECT_COLOUR.finditer(shows[1]))
        if not names or rng.random() >= rate:
            continue
        name = names[int(rng.integers(len(names)))]
        unnamed = [c for c in COLOURS if c not in {m[1] for m in names}]
        others = unnamed or [c for c in COLOURS if c != name[1]]
        word = others[int(rng.integers(len(others)))]
        out += text[last : shows.start(1) + name.start()]
        spans.append((len(out), len(out) + len(word)))
        out += word
        last = shows.start(1) + name.end()
        following = described[k + 1].start() if k + 1 < len(described) else len(text)
        shift = len(out) - last
        spans.append((shows.end(1) + shift, following + shift))
    return out + text[last:], spans


def _misread_image(spec: ImageSpec, rng: np.random.Generator, held_out: bool) -> ImageSpec:
    """`spec` with one object (drawn by `rng`) misread: as its shape's held-out colour with `held_out`
    (unless it has that colour already), else as another colour or another shape, at even odds."""
    k = int(rng.integers(len(spec.objects)))
    obj = _misread_look(spec.objects[k], rng, held_out)
    return replace(spec, objects=(*spec.objects[:k], obj, *spec.objects[k + 1 :]))


def _misread_look(obj: Obj, rng: np.random.Generator, held_out: bool) -> Obj:
    """`obj` misread: as its shape's held-out colour with `held_out` (unless it has that colour already),
    else as another colour or another shape, at even odds."""
    if held_out and (partner := next(c for c, s in HELD_OUT if s == obj.shape)) != obj.colour:
        return replace(obj, colour=partner)
    if rng.random() < 0.5:
        others = [c for c in COLOURS if c != obj.colour]
        return replace(obj, colour=others[int(rng.integers(len(others)))])
    others = [c for c in SHAPES if c != obj.shape]
    return replace(obj, shape=others[int(rng.integers(len(others)))])


def slip_description(example: PairExample | PointExample, rng: np.random.Generator, held_out: bool = False):
    """An image-generation example as the oracle would judge it had the judge misread one object: one
    object of one image (drawn by `rng`) takes another colour or shape, and the checks, scores and label
    are the oracle's for that image. The media stay the true ones. None when no image has an object.
    `held_out`: the object is misread as its shape's held-out colour (`HELD_OUT`), a name the train
    split's media never show, so the lookup learns to report such a name when it is written (session 32).

    Why: in training targets the description is always right, so a judge can look a caption object up in
    the image as well as in what it wrote; at test time, where its description can be wrong, the shipped
    judge's lookups disagree with its own description in 41 of 332 (research log, session 31). A target
    whose reasoning follows a misread description, with no loss on the misread word (`misread_span`),
    teaches the steps after the description to read it.
    """
    sides = ("a", "b") if isinstance(example, PairExample) else ("candidate",)
    sides = [s for s in sides if example.spec[s].objects]
    if not sides:
        return None
    side = sides[int(rng.integers(len(sides)))]
    misread = _misread_image(example.spec[side], rng, held_out)
    score, details = oracle(Task.IMAGE_GEN, example.spec["prompt"], misread)
    specs = {**example.spec, side: misread}
    if isinstance(example, PointExample):
        return replace(example, score=score, details=details, spec=specs)
    scores = (score, example.scores[1]) if side == "a" else (example.scores[0], score)
    both = {"details_a": details} if side == "a" else {"details_b": details}
    return replace(example, label=outcome(*scores), scores=scores, spec=specs, **both)


def slip_image_und(example: PairExample | PointExample, rng: np.random.Generator, held_out: bool = False):
    """An image-understanding example as the oracle would judge it had the judge misread one object of the
    image (as `slip_description` misreads a generated image): the description, the correct answer, each
    answer's check, the scores and the verdict follow the misread image; the media stay the true ones.
    None when the misreading leaves the question without an answer among the ones answers give (the
    asked object gone, no circle to count) or a pair without a better answer (understanding has no tie).

    Why: 32t's correct answer departed from its own right description (`cyan circle, yellow circle` then
    `There is one circle`), and its description named held-out pairs by the train split's prior; a target
    whose answer follows a misread description teaches that step to read what was written (session 33).
    """
    prompt = example.spec["prompt"]
    seen = _misread_image(prompt.media, rng, held_out)
    misread = replace(prompt, media=seen)
    truth, _ = und_truth(misread)
    if not truth or not truth <= set(_ANSWER_VALUES[prompt.question.kind]):
        return None
    if isinstance(example, PointExample):
        score, details = oracle(Task.IMAGE_UND, misread, example.spec["candidate"])
        return replace(example, score=score, details=details, spec={**example.spec, "prompt": misread})
    (sa, da), (sb, db) = (oracle(Task.IMAGE_UND, misread, example.spec[s]) for s in ("a", "b"))
    if sa == sb:
        return None
    spec = {**example.spec, "prompt": misread}
    return replace(example, label=outcome(sa, sb), scores=(sa, sb), details_a=da, details_b=db, spec=spec)


def slip_video_und(example: PairExample | PointExample, rng: np.random.Generator, held_out: bool = False):
    """A video-understanding example as the oracle would judge it had the judge misread one look of one
    track: its first look (the end look staying as shown), or, for a track that changes, its end look (at
    even odds). The media stay the true ones. A question that names the misread object by its first look
    is asked about the misread name, and the answers are worded for it, so the question, the description
    and every check after it name the same object. None when the question then has no answer or names
    another object (or two), or a pair has no better answer.

    Why: 33i's video-understanding errors on held-out pairs are steps after a right description that
    turn a held-out name into another (`claim yellow circle, truth yellow circle: wrong`; `ends yellow
    circle` then `Change: shape square, ends square: no`; research log, session 38). The train split's
    videos never show those names; as `slip_image_und` does for images, a target whose steps follow a
    misread description (with `held_out`, a held-out name) teaches them to copy what was written.
    """
    prompt = example.spec["prompt"]
    tracks = prompt.media.tracks
    k = int(rng.integers(len(tracks)))
    track = tracks[k]
    if track.change_at is not None and rng.random() < 0.5:
        first, end = track.obj, _misread_look(track.at(1.0), rng, held_out)
    else:  # the first look only: the end look stays what the clip shows
        first, end = _misread_look(track.obj, rng, held_out), track.at(1.0)
    misread_track = _with_looks(track, first, end)
    media = replace(prompt.media, tracks=(*tracks[:k], misread_track, *tracks[k + 1 :]))
    named = _named_tracks(prompt.question, prompt.media)
    if named is None:
        return None
    question = _renamed(prompt.question, named, k, first)
    if _named_tracks(question, media) != named:
        return None  # the misread name fits another object, or two
    misread = UndPrompt(media, question)
    truth, _ = und_truth(misread)
    if not truth or not truth <= set(_ANSWER_VALUES[question.kind]):
        return None
    if isinstance(example, PointExample):
        score, details = oracle(Task.VIDEO_UND, misread, example.spec["candidate"])
        item = replace(
            example.item, prompt=question.text, candidate=answer_text(question, example.spec["candidate"])
        )
        return replace(
            example, item=item, score=score, details=details, spec={**example.spec, "prompt": misread}
        )
    (sa, da), (sb, db) = (oracle(Task.VIDEO_UND, misread, example.spec[s]) for s in ("a", "b"))
    if sa == sb:
        return None
    a, b = (answer_text(question, example.spec[s]) for s in ("a", "b"))
    item = replace(example.item, prompt=question.text, a=a, b=b)
    spec = {**example.spec, "prompt": misread}
    return replace(
        example, item=item, label=outcome(sa, sb), scores=(sa, sb), details_a=da, details_b=db, spec=spec
    )


def _with_looks(track: Track, first: Obj, end: Obj) -> Track:
    """`track` appearing as `first` and ending as `end`'s colour and shape (a change at mid-clip where it
    had none)."""
    colour = end.colour if end.colour != first.colour else None
    shape = end.shape if end.shape != first.shape else None
    change_at = track.change_at if track.change_at is not None else (0.5 if colour or shape else None)
    obj = replace(track.obj, colour=first.colour, shape=first.shape)
    return replace(track, obj=obj, change_at=change_at, change_colour=colour, change_shape=shape)


def _renamed(question: Question, named: tuple[int, ...], k: int, seen: Obj) -> Question:
    """`question` with the names it gives track `k` changed to `seen`'s; `named` is `_named_tracks`'s
    answer for it (subject, then the other object)."""

    def rename(colour: str | None, shape: str | None) -> tuple[str | None, str | None]:
        return (colour and seen.colour, shape and seen.shape)

    if named[0] == k:
        colour, shape = rename(question.colour, question.shape)
        question = replace(question, colour=colour, shape=shape)
    if named[1:] == (k,):
        question = replace(question, other=rename(*question.other))
    return question


def _named_tracks(question: Question, media: VideoSpec) -> tuple[int, ...] | None:
    """Which tracks (by index) the question's subject and other object name, or None where a name is
    missing or fits more than one track."""
    names = [(question.colour, question.shape)] + ([question.other] if question.other else [])
    found = [[i for i, t in enumerate(media.tracks) if t in _find(media, *name)] for name in names]
    return tuple(f[0] for f in found) if all(len(f) == 1 for f in found) else None


def wrong_point_answer(example: PointExample, rng: np.random.Generator) -> PointExample | None:
    """An image-understanding point example with the same image and question but an answer whose main claim
    is wrong: the answer redrawn (as the world draws answers) until its claim is not the truth, and the
    oracle's score for it. None when the answer's claim is wrong already, or no draw gives a wrong one.

    Why: the world's answers are right half the time, so a judge unsure of the image does better by
    copying the answer's claim into its correct answer than by guessing; 33i's point answers did so
    (relation questions: its correct answer right for 8 of 8 right answers, 2 of 10 wrong ones; session
    34). A larger share of wrong answers makes the claim a worse guess. A 2,000-step continuation with half
    of them made wrong did not stop the copy (34e): the judge cannot read the direction either."""
    prompt = example.spec["prompt"]
    truth, _ = und_truth(prompt)
    if example.spec["candidate"].main not in truth:
        return None
    draw = _Draw(rng, "train", 4)
    for _ in range(_WRONG_ANSWER_TRIES):
        answer = _answer(draw, prompt)
        if answer.main not in truth:
            score, details = oracle(Task.IMAGE_UND, prompt, answer)
            item = replace(example.item, candidate=answer_text(prompt.question, answer))
            return replace(
                example, item=item, score=score, details=details, spec={**example.spec, "candidate": answer}
            )
    return None


_WRONG_ANSWER_TRIES = 20  # a wrong claim is drawn half the time, when the question has one


def misread_span(true_text: str, misread_text: str) -> tuple[int, int]:
    """The character span, in `misread_text`, of the first word where it departs from `true_text`: the
    misread word of a `slip_description` target, which the judge reads but is not trained to write."""
    at = next((i for i, (a, b) in enumerate(zip(true_text, misread_text)) if a != b), None)
    if at is None:
        raise ValueError("the two texts do not differ before one of them ends")
    start = max(misread_text.rfind(c, 0, at) for c in " ,:;\n") + 1
    ends = [e for c in " ,:;.\n" if (e := misread_text.find(c, at)) != -1]
    return start, min(ends, default=len(misread_text))


def describe_image(spec: ImageSpec, names: str = "colour-first") -> str:
    """The objects an image shows, left to right (`red cross, blue circle`; `nothing` when empty); with
    `names` "shape-first", each named shape first (`object_name`); with "two-lists", the shapes and then
    the colours as two lists in the same order (`shapes cross, circle; colours red, blue`).

    Written before the element checks when training with `describe`: reading out what each visual token
    shows binds colour and shape for free (one token holds both), and the checks then compare text with
    text, instead of asking the language model to search the image for a colour-and-shape conjunction.
    Why two lists: a judge finds an object by the first word of its name and reads the second from the
    pairs it was trained on (research log, session 23); in two lists no shape word follows a colour word.
    """
    objects = left_to_right(spec.objects)
    if not objects:
        return "nothing"
    if names == "two-lists":
        return f"shapes {', '.join(o.shape for o in objects)}; colours {', '.join(o.colour for o in objects)}"
    return ", ".join(object_name(o.colour, o.shape, names) for o in objects)


def appearance_order(track: Track) -> tuple[float, float, float]:
    """The order in which descriptions name a video's objects: by appearance, then left to right."""
    return (track.appear, track.obj.x, track.obj.y)


def describe_video(spec: VideoSpec, ends: bool = False, names: str = "colour-first") -> str:
    """What a video shows, as `describe_image` for images: each object with its motion and any change,
    in order of appearance (`; then` before an object that appears later, `; ` between objects that
    appear together), then flicker (`red square moving left quickly, becomes blue; then green cross
    static; several frames drop`).

    With `ends`, every object states its last look whether or not it changed (`red square moving left
    quickly, ends blue square`): "does it change?" is then a comparison of two written words, where a
    `becomes` asks the model to notice the change before writing anything (research log, session 13).
    With `names` "shape-first", objects and last looks are named shape first (`object_name`); "two-lists"
    leaves video objects colour first (each phrase holds one object's motion and looks).
    """

    def phrase(t: Track) -> str:
        motion = f"moving {t.direction} {ADVERBS[t.speed]}" if t.speed else "static"
        end, (colour_changed, shape_changed) = t.at(1.0), _changes(t)
        name = object_name(t.obj.colour, t.obj.shape, names)
        if ends:
            return f"{name} {motion}, ends {object_name(end.colour, end.shape, names)}"
        change = [end.colour] * colour_changed + [end.shape] * shape_changed
        change = " ".join(reversed(change) if names == "shape-first" else change)
        return f"{name} {motion}" + (f", becomes {change}" if change else "")

    groups: dict[float, list[Track]] = {}
    for t in sorted(spec.tracks, key=appearance_order):
        groups.setdefault(round(t.appear, 6), []).append(t)
    text = "; then ".join("; ".join(phrase(t) for t in group) for group in groups.values()) or "nothing"
    if spec.flicker:
        one = len(spec.flicker) == 1
        verb = {"drop": ("drops", "drop"), "bright": ("flashes", "flash")}[spec.flicker_kind][0 if one else 1]
        text += f"; {'one frame' if one else 'several frames'} {verb}"
    return text


def video_alignment_checks(cap: VideoCaption, spec: VideoSpec) -> str:
    """The caption elements behind text-to-video alignment, each the video's value beside the caption's
    (`colour red, asked green: 0, ...`), in the side-by-side form the understanding checks learn well."""
    subject = spec.tracks[0] if spec.tracks else None
    said = {
        "colour": subject.obj.colour if subject else "none",
        "shape": subject.obj.shape if subject else "none",
        "direction": subject.direction if subject and subject.speed else "none",
        "speed": (subject.speed or "none") if subject else "none",
    }
    asked = {"colour": cap.colour, "shape": cap.shape, "direction": cap.direction, "speed": cap.speed}
    names = ("colour", "shape", "direction") + (("speed",) if cap.speed else ())
    return ", ".join(f"{n} {said[n]}, asked {asked[n]}: {int(said[n] == asked[n])}" for n in names)


def video_change_checks(spec: VideoSpec) -> str:
    """A generated video's subject at the start and at the end, colour and shape side by side, each with
    whether it changed (`colour red, ends blue: yes, shape square, ends square: no`); pair lines write it
    after `change`, point answers as a line `Change: ...` (the form of `change_line`).

    Why: judges described a change right (`..., ends blue square`) and still rated temporal and factual
    consistency 4, as if nothing changed (research log, session 17); the video understanding change line
    (`change_line`) has this form, and the ratings then follow from two words beside each other."""
    if not spec.tracks:
        return "none"
    track = spec.tracks[0]
    start, end = track.obj, track.at(1.0)
    checks = (
        f"{attr} {getattr(start, attr)}, ends {getattr(end, attr)}: {'yes' if changed else 'no'}"
        for attr, changed in zip(("colour", "shape"), _changes(track), strict=True)
    )
    return ", ".join(checks)


VIDEOS_SUFFIX = "+videos"  # e.g. "lookup-checks+videos": the video tasks' targets also describe the video


@dataclass(frozen=True)
class VideoStyle:
    """How video targets describe videos: the `describe` suffix that selects it and what it writes."""

    suffix: str
    ends: bool = False  # every object's last look, changed or not (`, ends blue square`)
    change_line: bool = False  # a change question's start and end side by side (`change_line`)
    # an order question's two appearance words (`order_line`): "" none, "asked" in the question's order,
    # "described" in the description's (`order_line(described=True)`)
    order_line: str = ""
    # video generation also writes the subject's start and end look side by side before its ratings
    # (`video_change_checks`), the two consistency ratings' inputs next to them
    gen_change_line: bool = False

    @property
    def describes(self) -> bool:
        """Whether targets describe videos at all (False only for NO_VIDEOS)."""
        return bool(self.suffix)


# "becomes" writes a change where there is one (`, becomes blue`); "ends" every object's last look;
# "ends-checked" also a change question's start and end words before the correct answer (`Change: colour
# green, ends cyan: yes.`, research log, session 14); "ends-checked-order" also an order question's two
# appearance words (`Order: red square start, blue circle later: red square.`), "-described" in the
# description's order (`order_line(described=True)`); "ends-checked-changes" is "ends-checked" whose video
# generation targets also write `video_change_checks` before the ratings (research log, session 17).
VIDEO_STYLES: dict[str, VideoStyle] = {
    "becomes": VideoStyle(VIDEOS_SUFFIX),
    "ends": VideoStyle("+videos-ends", ends=True),
    "ends-checked": VideoStyle("+videos-ends-checked", ends=True, change_line=True),
    "ends-checked-order": VideoStyle(
        "+videos-ends-checked-order", ends=True, change_line=True, order_line="asked"
    ),
    "ends-checked-order-described": VideoStyle(
        "+videos-ends-checked-order-described", ends=True, change_line=True, order_line="described"
    ),
    "ends-checked-changes": VideoStyle(
        "+videos-ends-checked-changes", ends=True, change_line=True, gen_change_line=True
    ),
}
NO_VIDEOS = VideoStyle("")  # targets that do not describe videos

# "shows": say what each image shows, then check; "lookup": also, before each caption object's check, what
# the image shows of its shape; "lookup-checks": as "lookup", and image-generation point answers write the
# same element checks as pair answers (lookups, relation and count) before their quality and score;
# "colours": as "lookup-checks", but each object check writes the colours of the image's objects of the
# caption's shape beside the asked colour (`colours red and blue, asked yellow: 0`), the side-by-side form
# the understanding and video checks learn (research log, session 9). "colours-sides": as "colours", and
# relation checks and relation questions give each of the two objects' side (`relation_sides`) on a line of
# its own; "colours-sides-inline": the same sides, but a relation question's sides follow each object's
# name in the `Image shows:` line (`sides_shows_line`).
DESCRIBE_STYLES = ("shows", "lookup", "lookup-checks", "colours", "colours-sides", "colours-sides-inline")
# The styles whose image-generation point answers write the pair answers' element checks too.
POINT_CHECK_STYLES = ("lookup-checks", "colours", "colours-sides", "colours-sides-inline")
# The styles whose relation checks and relation questions write each object's side.
SIDE_STYLES = ("colours-sides", "colours-sides-inline")


# How descriptions name objects (`object_name`, `describe_image`), chosen by a last suffix of `describe`
# (after any VIDEO_STYLES one), e.g. "colours+videos-ends-checked-changes+shape-first": colour first (no
# suffix), shape first (research log, session 23) or as two lists, shapes then colours (session 24).
NAME_SUFFIXES = {"colour-first": "", "shape-first": "+shape-first", "two-lists": "+two-lists"}
NAME_STYLES = tuple(NAME_SUFFIXES)


def names_style(describe: str) -> str:
    """How the descriptions of a `describe` style name objects: one of NAME_STYLES."""
    for names, suffix in NAME_SUFFIXES.items():
        if suffix and describe.endswith(suffix):
            return names
    return "colour-first"


def _split_describe(describe: str) -> tuple[str, str]:
    describe = describe.removesuffix(NAME_SUFFIXES[names_style(describe)])
    for name, style in VIDEO_STYLES.items():  # no suffix ends another, so the order does not matter
        if describe.endswith(style.suffix):
            return describe.removesuffix(style.suffix), name
    return describe, ""


def check_describe(describe: str) -> str:
    """`describe` as the explanations take it: "" (off) or one of DESCRIBE_STYLES, optionally followed by
    one of the VIDEO_STYLES suffixes; returns the image style alone."""
    style = _split_describe(describe)[0]
    if style not in ("", *DESCRIBE_STYLES):
        raise ValueError(
            f"describe must be '' or one of {DESCRIBE_STYLES}, each optionally followed by one of "
            f"{tuple(v.suffix for v in VIDEO_STYLES.values())} and then one of "
            f"{tuple(s for s in NAME_SUFFIXES.values() if s)}, got {describe!r}"
        )
    names = names_style(describe)
    if names != "colour-first" and style not in ("shows", "colours", *SIDE_STYLES):
        raise ValueError(
            f"{NAME_SUFFIXES[names]!r} needs the 'shows' or 'colours' image style (the 'lookup' ones write "
            f"colour-first lookups), got {describe!r}"
        )
    if names == "two-lists" and style == "colours-sides-inline":
        raise ValueError(
            f"'colours-sides-inline' writes sides after object names, not two lists; got {describe!r}"
        )
    return style


def video_style(describe: str) -> str:
    """How the targets of a `describe` style describe videos: "" (not at all) or a VIDEO_STYLES key."""
    check_describe(describe)
    return _split_describe(describe)[1]


def video_lines(describe: str) -> VideoStyle:
    """What the targets of a `describe` style write about videos (NO_VIDEOS where they do not)."""
    return VIDEO_STYLES.get(video_style(describe), NO_VIDEOS)


def change_line(prompt: UndPrompt) -> str:
    """A change question's asked attribute at the start and at the end of the clip, side by side, then
    whether they differ (`Change: colour green, ends cyan: yes.`): the form of the checks the judge does
    follow, where comparing two words a line apart was not learnt (research log, session 14)."""
    q = prompt.question
    accepted, end = und_truth(prompt)  # the oracle's yes/no and end look, so the line cannot disagree
    if not accepted:
        return "Change: none."
    (changed,) = accepted
    start = getattr(_find(prompt.media, q.colour, q.shape)[0].obj, q.attr)
    return f"Change: {q.attr} {start}, ends {end}: {changed}."


def order_line(prompt: UndPrompt, described: bool = False) -> str:
    """An order question's two objects, each with when it appears ("start" or "later"), side by side, then
    which comes first (`Order: red square start, blue circle later: red square.`): the change line's form
    for the other video question the judge answered near chance (research log, session 14). Order
    questions here have one object from the start and the other from the start or later.

    The objects come in the question's order, or with `described` in the description's (`describe_video`
    order, `, then` before a later one: `Order: blue circle start, then red square later: blue circle.`),
    so each word copies the separator just before that object in the judge's own description rather than
    looking the asked objects up across it (research log, session 15)."""
    q = prompt.question
    accepted, _ = und_truth(prompt)  # the oracle's answer, so the line cannot disagree with the truth
    if not accepted:
        return "Order: none."
    (first,) = accepted
    objects = [_find(prompt.media, q.colour, q.shape)[0], _find(prompt.media, *q.other)[0]]
    if described:
        objects.sort(key=appearance_order)
    words = [f"{t.obj.colour} {t.obj.shape} {'start' if t.appear < _EPS else 'later'}" for t in objects]
    sep = ", then " if described and objects[1].appear - objects[0].appear > _EPS else ", "
    return f"Order: {sep.join(words)}: {claim_word(q, first)}."


def caption_objects(cap: Caption) -> tuple[tuple[str, str], ...]:
    """The (colour, shape) objects a caption asks for, in the order its element checks name them."""
    return (cap.a, cap.b) if cap.kind == "relation" else (cap.a,)


def sees(spec: ImageSpec, shape: str) -> str:
    """The image's objects of one shape, left to right (`red square and yellow square`; `none`).

    The `lookup` style writes this before each caption object's check: finding the described objects of
    the caption's shape is a one-token key, and the check that follows compares two nearby colour words,
    where a bare check asks a small model to find a colour-and-shape bigram in a line of text.
    """
    return " and ".join(f"{o.colour} {o.shape}" for o in _of_shape(spec, shape)) or "none"


def _of_shape(spec: ImageSpec, shape: str) -> list[Obj]:
    """The image's objects of one shape, left to right (what `sees` and the `colours` checks list)."""
    return left_to_right(o for o in spec.objects if o.shape == shape)


def _element_checks(cap: Caption, spec: ImageSpec, elements: list, lookup: str, sides: bool = False) -> str:
    """The element checks of an image-generation candidate (`yellow square (object): 0, ...`); with a
    `lookup` style, object and count checks first say what the image shows of the caption's shape:
    "sees" (`yellow square (object): sees red square so 0`) or "colours", the colours of that shape's
    objects beside the asked one (`yellow square (object): colours red, asked yellow: 0`). With `sides`,
    a relation check of two objects the image shows first gives each one's side (`relation_sides`:
    `right of (relation): yellow square left, red triangle right: 0`)."""
    if not lookup:
        return ", ".join(f"{n} ({t}): {v}" for n, t, v in elements)
    objects = iter(caption_objects(cap))  # the object checks name them in this order
    parts = []
    for name, kind, value in elements:
        if kind == "object":
            colour, shape = next(objects)
            if lookup == "colours":
                found = " and ".join(o.colour for o in _of_shape(spec, shape)) or "none"
                parts.append(f"{name} ({kind}): colours {found}, asked {colour}: {value}")
            else:
                parts.append(f"{name} ({kind}): sees {sees(spec, shape)} so {value}")
        elif kind == "count":
            n_shape = sum(o.shape == cap.a[1] for o in spec.objects)
            count = COUNT_WORDS.get(n_shape, str(n_shape)) if n_shape else "none"
            parts.append(f"{name} ({kind}): sees {count} so {value}")
        elif kind == "relation" and sides and (found := _relation_pair(spec, cap)):
            (wa, wb) = relation_sides(*found)
            parts.append(f"{name} ({kind}): {' '.join(cap.a)} {wa}, {' '.join(cap.b)} {wb}: {value}")
        else:
            parts.append(f"{name} ({kind}): {value}")
    return ", ".join(parts)


_SIDES = {
    "left of": ("left", "right"),
    "right of": ("right", "left"),
    "above": ("top", "bottom"),
    "below": ("bottom", "top"),
}
SIDE_RELATIONS = {sides[0]: relation for relation, sides in _SIDES.items()}  # a's side -> the relation


def relation_sides(a: Obj, b: Obj) -> tuple[str, str]:
    """Each object's side on the axis the two lie apart on: (`left`, `right`) when a is left of b, (`top`,
    `bottom`) when a is above it (`relation_of`).

    Why: judges read relations worst of all their image checks (32t: about 0.8), and 32t answered `left
    of` for 6 of 15 held-out pairs whose subject is on the right (research log, session 33). The world's
    relation images put the two objects in opposite halves of the image on that axis, so each side word
    is a read of one object's place, and the relation is then a comparison of written words."""
    return _SIDES[relation_of(a, b)]


def _relation_pair(spec: ImageSpec, cap: Caption) -> tuple[Obj, Obj] | None:
    """The caption's two objects in the image, a pair in the caption's relation where there is one; None
    when either is missing."""
    has_a = [o for o in spec.objects if o.combo == cap.a]
    has_b = [o for o in spec.objects if o.combo == cap.b and o not in has_a]
    pairs = [(a, b) for a in has_a for b in has_b]
    return next((p for p in pairs if relation_of(*p) == cap.relation), pairs[0] if pairs else None)


def _asked_pair(prompt: UndPrompt) -> tuple[Obj, Obj] | None:
    """A relation question's subject and other object in its image, None when either is missing."""
    q = prompt.question
    a, b = _find(prompt.media, q.colour, q.shape), _find(prompt.media, *q.other)
    return (a[0], b[0]) if a and b else None


def sides_line(prompt: UndPrompt) -> str:
    """A relation question's two objects, each with its side (`relation_sides`), before the correct
    answer (`Sides: red circle right, cyan triangle left.`); `Sides: none.` when either is missing."""
    if not (pair := _asked_pair(prompt)):
        return "Sides: none."
    q, (wa, wb) = prompt.question, relation_sides(*pair)
    return f"Sides: {q.colour} {q.shape} {wa}, {' '.join(q.other)} {wb}."


def sides_shows_line(prompt: UndPrompt, names: str = "colour-first") -> str:
    """A relation question's `shows_line` with each asked object's side after its name (`Image shows: cyan
    triangle left, red circle right.`); the plain line when either object is missing.

    Why inline: the judge reads an object's place from the visual token it attends to while it names that
    object (a probe reads the relation from the subject's token in 98.7% of images), but a separate
    `Sides:` line must find each object again by name, and the judge then reads both alike and copies
    the judged answer's direction (research log, session 34). Measured in one full run (session 35): no
    better than the `Sides:` line on relation questions, and better on image generation."""
    if not (pair := _asked_pair(prompt)):
        return shows_line(prompt.media, names=names)
    side = dict(zip(map(id, pair), relation_sides(*pair), strict=True))
    named = [
        object_name(o.colour, o.shape, names) + (f" {side[id(o)]}" if id(o) in side else "")
        for o in left_to_right(prompt.media.objects)
    ]
    return f"Image shows: {', '.join(named)}."


def lookup_style(describe: str) -> str:
    """The element-check lookup of a describe style: "" (none), "sees" or "colours"."""
    style = check_describe(describe)
    return "colours" if style.startswith("colours") else "sees" if style.startswith("lookup") else ""


def lookup_drill(example: PairExample, lookup: str = "sees", names: str = "colour-first") -> tuple[str, str]:
    """A text-only exercise of the `lookup` checks of an image-generation pair: (prompt, answer).

    The prompt gives each image's description as text and the caption; the answer is the pair target's
    description and object/count checks, word for word, without the relation, quality and score (which
    the text does not decide). A drill costs a fraction of an image row, so many of them put gradient on
    the comparison step that image rows leave at chance (research log, sessions 7 and 8). `names` describes
    as `describe_image` does.
    """
    cap = example.spec["prompt"]
    images = (example.spec["a"], example.spec["b"])
    shown = " ".join(f"Image {k} shows {describe_image(c, names)}." for k, c in enumerate(images, 1))
    prompt = f"{shown}\nCaption: {cap.text}\nFor each image, what does it show of each caption object?"
    lines = []
    for k, (c, details) in enumerate(zip(images, (example.details_a, example.details_b)), 1):
        elements = [e for e in details["elements"] if e[1] != "relation"]
        checks = _element_checks(cap, c, elements, lookup)
        lines.append(f"Image {k}: shows {describe_image(c, names)}; {checks}.")
    return prompt, "\n".join(lines)


def shows_line(media: ImageSpec | VideoSpec, ends: bool = False, names: str = "colour-first") -> str:
    """The line a `describe` target writes before its checks: `Image shows: red cross, blue circle.` or
    `Video shows: ...` (`describe_image`, `describe_video`, with `ends` and `names` as they take them)."""
    if isinstance(media, VideoSpec):
        return f"Video shows: {describe_video(media, ends, names)}."
    return f"Image shows: {describe_image(media, names)}."


NAME_DRILL_PROMPT = "Name the objects of a scene, left to right."


def name_drill(spec: ImageSpec, names: str = "colour-first") -> tuple[str, str]:
    """A text-only naming exercise: (prompt, a scene's description as `describe_image` writes it).

    Drawn over every colour×shape pair (split "any"), these rows give each colour word every shape word
    after it, as the language model of a real VLM has read every combination; without them the train
    split's text never pairs a colour with its held-out shape, and that prior overrules the vision tower
    on held-out media (research log, session 10).
    """
    return NAME_DRILL_PROMPT, describe_image(spec, names)


PALETTE_SHAPE_PROMPT = "The colours of this image are random. Name the shape of each object, left to right."


def palette_shape_drill(spec: ImageSpec) -> tuple[str, str]:
    """A shape-naming exercise for an image of `spec` drawn in a random palette: (prompt, its objects'
    shapes left to right, in `describe_image`'s order). The colours carry no information, so the
    language model can only name a shape from what the vision tower reads of it (research log, session 22).
    """
    return PALETTE_SHAPE_PROMPT, ", ".join(o.shape for o in left_to_right(spec.objects)) or "nothing"


def relation_drill(prompt: UndPrompt, names: str = "colour-first") -> tuple[str, str]:
    """A relation question about an image, with no answer to judge: (the question, the first two lines of
    an image-understanding target: what the image shows, then the correct answer).

    Why: 33i reads a relation's axis but not its direction (research log, session 34), though a linear
    probe reads the direction from the subject's visual token in 99% of held-out images; its targets let
    it copy the direction from the answer it judges, which is right half the time. Here no answer is
    given, so the direction can only come from the image."""
    if prompt.question.kind != "relation":
        raise ValueError(f"a relation drill needs a relation question, got {prompt.question.kind!r}")
    return (
        prompt.question.text,
        f"{shows_line(prompt.media, names=names)}\nCorrect answer: {true_answer(prompt)}",
    )


def comparison_drill(example: PointExample, describe: str = "") -> tuple[str, str]:
    """A text-only exercise of the understanding checks: (prompt, the point target's `answer_checks`).

    The prompt gives what the media show (as the `describe` targets write it), the question, the correct
    answer and the candidate's answer as text; the answer is the check line, claim beside truth
    (`claim one, truth two: wrong`). The comparison is learnt late and can be missed altogether
    (research log, session 11); these rows put gradient on it alone, as the lookup drills do for the
    image-generation checks. `describe` picks how videos are described (`video_style`).
    """
    prompt = example.spec["prompt"]
    shows = shows_line(prompt.media, video_lines(describe).ends, names_style(describe))
    text = (
        f"{shows}\nQuestion: {prompt.question.text}\n"
        f"Correct answer: {true_answer(prompt)}\n"
        f"Answer: {answer_text(prompt.question, example.spec['candidate'])}\nCheck the answer."
    )
    return text, answer_checks(prompt, example.spec["candidate"])


CHANGE_DRILL_QUESTION = "Does the {colour} {shape} change?"


def change_drill(
    rng: np.random.Generator, num_frames: int = 8, names: str = "colour-first"
) -> tuple[str, str]:
    """A text-only exercise of the video-generation change line: (prompt, `video_change_checks`).

    The prompt is a description as the `ends` targets write it (`red square moving left quickly, ends
    blue square`) and asks about one object by its first look, as a pair line's caption checks name the
    subject just before its change line; the answer copies that object's start and end words and says
    whether they differ (`colour red, ends blue: yes, shape square, ends square: no`). Judges copied two
    different words and then wrote `no` in about half the cases (research log, session 18): generated
    videos rarely change, so the task rows teach `no`. Here colour and shape each change with probability
    1/2, over every colour×shape pair, so the yes/no can only come from comparing the two words.
    `names` describes as `describe_video` does (the question stays in caption order).
    """
    dr = _Draw(rng, "any", num_frames)
    colour, shape = dr.pick(COLOURS), dr.pick(SHAPES)
    new_colour = _other(dr, COLOURS, colour) if dr.chance(0.5) else None
    new_shape = _other(dr, SHAPES, shape) if dr.chance(0.5) else None
    change = {}
    if new_colour or new_shape:
        at = dr.time(1, num_frames - 1)
        change = dict(change_at=at, change_colour=new_colour, change_shape=new_shape)
    tracks = [dr.track(colour, shape, **change)]
    if dr.chance(0.5):  # a second, steady object of another look, there from the start or later
        other = _other(dr, [(c, s) for c in COLOURS for s in SHAPES], (colour, shape))
        tracks.append(dr.track(*other, appear=dr.pick((0.0, dr.time(1, 3)))))
    spec = VideoSpec(tuple(tracks))
    question = CHANGE_DRILL_QUESTION.format(colour=colour, shape=shape)
    return f"{shows_line(spec, True, names)}\n{question}", video_change_checks(spec)


def quality_word(spec: ImageSpec) -> str:
    """The image's quality as the explanations write it: clean, slightly degraded or strongly degraded."""
    return _QUALITY_WORDS[quality_level(spec.blur, spec.noise, spec.artefacts)]


def _candidate_summary(
    task: Task,
    k: int,
    candidate: Any,
    score: float,
    details: dict,
    prompt: Any,
    describe: str = "",
    videos: VideoStyle = NO_VIDEOS,
    names: str = "colour-first",
) -> str:
    """One candidate's line of a pair explanation; `describe` is the image style (no VIDEOS_SUFFIX), and
    with a `videos` style (`video_lines`) a video-generation line first says what the video shows and
    checks the caption beside it (`describe_video`, `video_alignment_checks`); `names` is how described
    objects are named (NAME_STYLES)."""
    word = task.media_word
    if task == Task.IMAGE_GEN:
        sides = describe in SIDE_STYLES
        elements = _element_checks(prompt, candidate, details["elements"], lookup_style(describe), sides)
        quality = quality_word(candidate)
        shows = f"shows {describe_image(candidate, names)}; " if describe else ""
        return f"{word} {k}: {shows}{elements}, quality: {quality}, score {score:g}."
    if task == Task.VIDEO_GEN:
        dims = ", ".join(f"{n} {v}" for n, v in details["dimensions"].items())
        shown = describe_video(candidate, videos.ends, names)
        looked = f"shows {shown}; {video_alignment_checks(prompt, candidate)}; " if videos.describes else ""
        if videos.gen_change_line:
            looked += f"change {video_change_checks(candidate)}; "
        return f"{word} {k}: {looked}{dims}, score {score:g}."
    return f"{word} {k}: {answer_checks(prompt, candidate)}, score: {score:g}."


def explanation(task: Task | str, example: PairExample | PointExample, describe: str = "") -> str:
    """Reasoning from the oracle, written before the verdict or score in training targets.

    A verdict is one token of supervision; a from-scratch model learns little from it. The explanation
    states what the oracle knows (the correct answer to a question, each candidate's element checks,
    quality and score), so every example teaches grounding densely and the final verdict or score becomes a
    simple function of text the model has just written. Empty where the protocol's answer already lists
    the reasoning (video generation point scores). With `describe` ("shows"), image tasks first say what
    each image shows (`describe_image`), so the checks and the correct answer follow from that text;
    "lookup" also writes, before each caption object's check, the image's objects of its shape (`sees`);
    "lookup-checks" also gives image-generation point answers the pair answers' element checks. Any style
    followed by a VIDEO_STYLES suffix also describes videos (`describe_video`): video generation then
    checks the caption's elements against that text before rating, video understanding says it before
    the answer ("ends-checked": and a change question's `change_line`; "ends-checked-order": and an order
    question's `order_line` too). A final NAME_SUFFIXES suffix picks how described objects are named.
    """
    task = Task.parse(task)
    videos = video_lines(describe)
    names = names_style(describe)
    describe = check_describe(describe)
    prompt = example.spec["prompt"]
    shows = ""
    relation = task == Task.IMAGE_UND and prompt.question.kind == "relation"
    if describe == "colours-sides-inline" and relation:
        shows = f"{sides_shows_line(prompt, names)}\n"
    elif (describe and task == Task.IMAGE_UND) or (videos.describes and task == Task.VIDEO_UND):
        shows = f"{shows_line(prompt.media, videos.ends, names)}\n"
    if describe == "colours-sides" and relation:
        shows += f"{sides_line(prompt)}\n"
    if videos.change_line and task == Task.VIDEO_UND and prompt.question.kind == "change":
        shows += f"{change_line(prompt)}\n"
    if videos.order_line and task == Task.VIDEO_UND and prompt.question.kind == "order":
        shows += f"{order_line(prompt, described=videos.order_line == 'described')}\n"
    if videos.describes and task == Task.VIDEO_GEN and isinstance(example, PointExample):
        c = example.spec["candidate"]
        changes = f"\nChange: {video_change_checks(c)}." if videos.gen_change_line else ""
        shown = shows_line(c, videos.ends, names)
        return f"{shown}\nCaption: {video_alignment_checks(prompt, c)}.{changes}"
    if isinstance(example, PointExample):
        if task == Task.IMAGE_GEN:
            c = example.spec["candidate"]
            quality = f"Quality: {quality_word(c)}."
            if describe == "lookup":
                looked = "".join(f"{' '.join(o)}: sees {sees(c, o[1])}.\n" for o in caption_objects(prompt))
                quality = looked + quality
            elif describe in POINT_CHECK_STYLES:
                elements, sides = example.details["elements"], describe in SIDE_STYLES
                checks = _element_checks(prompt, c, elements, lookup_style(describe), sides)
                quality = f"{checks}.\n{quality}"
            return f"{shows_line(c, names=names)}\n{quality}" if describe else quality
        if task.is_generation:
            return ""
        checks = answer_checks(prompt, example.spec["candidate"])
        return f"{shows}Correct answer: {true_answer(prompt)}\nAnswer: {checks}."
    parts = [] if task.is_generation else [f"{shows}Correct answer: {true_answer(prompt)}"]
    for k, side, score, details in (
        (1, "a", example.scores[0], example.details_a),
        (2, "b", example.scores[1], example.details_b),
    ):
        parts.append(
            _candidate_summary(task, k, example.spec[side], score, details, prompt, describe, videos, names)
        )
    return "\n".join(parts)
