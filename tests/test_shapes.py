"""The shapes world: determinism, labels that agree with the oracle, scales, ties, balance, rendering and the
held-out split rule."""

from __future__ import annotations

import collections
import re

import numpy as np
import pytest
from PIL import Image

from unireward.data.shapes import (
    BACKGROUND,
    COLOURS,
    DIRECTIONS,
    HELD_OUT,
    SHAPES,
    SPEEDS,
    UND_TIE_BREAK,
    Answer,
    Caption,
    ImageSpec,
    Obj,
    PairExample,
    Question,
    ShapesWorld,
    Track,
    UndPrompt,
    VideoCaption,
    VideoSpec,
    answer_text,
    combos,
    oracle,
    oracle_score,
    outcome,
    render_image,
    render_video,
    scale,
)
from unireward.tasks import PairItem, PointItem, Task

TASKS = list(Task)
N_PAIRS = 200


def _key(x) -> object:
    """A comparable fingerprint of a candidate or shared media: text, image bytes or frame bytes."""
    if isinstance(x, Image.Image):
        return x.tobytes()
    if isinstance(x, list):
        return tuple(_key(f) for f in x)
    return x


def _pair_key(ex: PairExample) -> tuple:
    it = ex.item
    return (it.prompt, _key(it.a), _key(it.b), _key(it.media), ex.label, ex.scores)


@pytest.fixture(scope="module")
def pairs() -> dict[Task, list[PairExample]]:
    world = ShapesWorld(seed=7)
    return {task: [world.pair_example(task) for _ in range(N_PAIRS)] for task in TASKS}


# ---------------------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_pixels_and_texts_other_seed_differs(task):
    def draw(seed):
        w = ShapesWorld(seed)
        return [_pair_key(w.pair_example(task)) for _ in range(5)], _key(w.point_example(task).item.candidate)

    assert draw(3) == draw(3)
    assert draw(3) != draw(4)


def test_examples_are_reproducible_and_match_a_fresh_world():
    w = ShapesWorld(5)
    first = [_pair_key(e) for e in w.examples("video_und", "pair", 6)]
    w.pair_example("video_und")  # stateful draws must not shift `examples`
    assert [_pair_key(e) for e in w.examples("video_und", "pair", 6)] == first
    fresh = ShapesWorld(5)
    assert [_pair_key(fresh.pair_example("video_und")) for _ in range(6)] == first
    points = w.examples("image_gen", "point", 4, split="test")
    assert all(isinstance(p.item, PointItem) for p in points)
    assert [p.score for p in points] == [p.score for p in w.examples("image_gen", "point", 4, split="test")]


# ------------------------------------------------------------------------------------ labels and scales


@pytest.mark.parametrize("task", TASKS)
def test_pair_labels_and_scores_agree_with_the_oracle(pairs, task):
    lo, hi = scale(task)
    for ex in pairs[task]:
        prompt, a, b = ex.spec["prompt"], ex.spec["a"], ex.spec["b"]
        (sa, da), (sb, db) = oracle(task, prompt, a), oracle(task, prompt, b)
        assert ex.scores == (sa, sb)
        assert ex.label == outcome(sa, sb) == {1: "A", -1: "B", 0: "tie"}[int(np.sign(sa - sb))]
        assert (ex.details_a, ex.details_b) == (da, db)
        assert lo <= sa <= hi and lo <= sb <= hi and sa == int(sa)
        assert isinstance(ex.item, PairItem) and ex.item.prompt == prompt.text
        if not task.is_generation:
            assert ex.item.a == answer_text(prompt.question, a) and ex.item.b == answer_text(
                prompt.question, b
            )


def test_balanced_checks_make_half_the_object_checks_zero_with_oracle_labels():
    def object_checks(world):
        out = []
        for _ in range(600):
            ex = world.point_example("image_gen")
            assert ex.score == oracle_score("image_gen", ex.spec["prompt"], ex.spec["candidate"])
            out += [v for _, kind, v in ex.details["elements"] if kind == "object"]
        return np.mean(np.asarray(out) == 0)

    assert 0.28 < object_checks(ShapesWorld(3)) < 0.38  # the world's mix: "present" is right 2 times in 3
    assert 0.42 < object_checks(ShapesWorld(3, balanced_checks=True)) < 0.55
    balanced = ShapesWorld(3, balanced_checks=True)
    for ex in (balanced.pair_example("image_gen") for _ in range(50)):
        assert ex.scores == tuple(oracle_score("image_gen", ex.spec["prompt"], ex.spec[k]) for k in "ab")


def test_describe_says_what_each_image_shows_left_to_right_before_the_checks():
    from unireward.data.shapes import describe_image, explanation

    spec = ImageSpec((Obj("red", "cross", 0.7, 0.3), Obj("blue", "circle", 0.2, 0.8)))
    assert describe_image(spec) == "blue circle, red cross"
    assert describe_image(ImageSpec(())) == "nothing"
    world = ShapesWorld(6)
    pair = world.pair_example("image_gen")
    lines = explanation("image_gen", pair, describe="shows").splitlines()
    for line, side, plain in zip(lines, "ab", explanation("image_gen", pair).splitlines(), strict=True):
        head, _, rest = plain.partition(": ")
        assert line == f"{head}: shows {describe_image(pair.spec[side])}; {rest}"
    point = world.point_example("image_gen")
    assert explanation("image_gen", point, describe="shows") == (
        f"Image shows: {describe_image(point.spec['candidate'])}.\n{explanation('image_gen', point)}"
    )
    und = world.pair_example("image_und")
    media = und.spec["prompt"].media
    assert explanation("image_und", und, describe="shows") == (
        f"Image shows: {describe_image(media)}.\n{explanation('image_und', und)}"
    )
    video = world.pair_example("video_und")  # videos are not described
    assert explanation("video_und", video, describe="shows") == explanation("video_und", video)


def test_shape_first_names_every_described_object_shape_first_and_nothing_else():
    from unireward.data.shapes import (
        change_drill,
        check_describe,
        colour_first,
        describe_image,
        describe_video,
        explanation,
        lookup_drill,
        names_style,
    )

    spec = ImageSpec((Obj("red", "cross", 0.7, 0.3), Obj("blue", "circle", 0.2, 0.8)))
    assert describe_image(spec, names="shape-first") == "circle blue, cross red"
    red_square = Obj("red", "square", 0.5, 0.5)
    clip = VideoSpec((Track(red_square, change_at=0.5, change_colour="blue"),))
    assert describe_video(clip, names="shape-first") == "square red static, becomes blue"
    assert describe_video(clip, ends=True, names="shape-first") == "square red static, ends square blue"
    both = VideoSpec((Track(red_square, change_at=0.5, change_colour="blue", change_shape="cross"),))
    assert describe_video(both) == "red square static, becomes blue cross"
    assert describe_video(both, names="shape-first") == "square red static, becomes cross blue"

    style = "colours+videos-ends-checked-changes"
    assert names_style(style + "+shape-first") == "shape-first" and names_style(style) == "colour-first"
    assert check_describe(style + "+shape-first") == "colours"
    with pytest.raises(ValueError, match="lookup"):
        check_describe("lookup-checks+shape-first")
    # Only the descriptions change: read back colour first, every target is the colour-first one.
    world = ShapesWorld(4)
    for task in ("image_gen", "image_und", "video_gen", "video_und"):
        for ex in (world.pair_example(task), world.point_example(task)):
            first = explanation(task, ex, style + "+shape-first")
            assert colour_first(first) == explanation(task, ex, style)
            assert first != explanation(task, ex, style)
    drill = world.pair_example("image_gen")
    assert [colour_first(t) for t in lookup_drill(drill, "colours", "shape-first")] == list(
        lookup_drill(drill, "colours")
    )
    shown, answer = change_drill(np.random.default_rng(1), 8, names="shape-first")
    plain = change_drill(np.random.default_rng(1), 8)
    assert (colour_first(shown), answer) == plain and shown != plain[0]


def test_two_lists_write_image_objects_as_shapes_then_colours_and_leave_videos_colour_first():
    from unireward.data.shapes import (
        check_describe,
        colour_first,
        describe_image,
        describe_video,
        explanation,
        lookup_drill,
        name_drill,
        names_style,
    )

    spec = ImageSpec((Obj("red", "cross", 0.7, 0.3), Obj("blue", "circle", 0.2, 0.8)))
    assert describe_image(spec, "two-lists") == "shapes circle, cross; colours blue, red"
    assert describe_image(ImageSpec(()), "two-lists") == "nothing"
    assert name_drill(spec, "two-lists")[1] == "shapes circle, cross; colours blue, red"
    clip = VideoSpec((Track(Obj("red", "square", 0.5, 0.5), change_at=0.5, change_colour="blue"),))
    assert describe_video(clip, ends=True, names="two-lists") == describe_video(clip, ends=True)
    # read back: pairs by position; a judge's lists of unequal length keep the unpaired words
    assert colour_first("Image shows: shapes circle, cross; colours blue, red.") == (
        "Image shows: blue circle, red cross."
    )
    assert colour_first("shows shapes circle, cross, square; colours blue; quality") == (
        "shows blue circle, cross, square; quality"
    )

    style = "colours+videos-ends-checked-changes"
    assert (
        names_style(style + "+two-lists") == "two-lists" and check_describe(style + "+two-lists") == "colours"
    )
    with pytest.raises(ValueError, match="lookup"):
        check_describe("lookup+two-lists")
    with pytest.raises(ValueError, match="two-lists"):
        check_describe("colours+two-list")
    world = ShapesWorld(4)
    for task in ("image_gen", "image_und", "video_gen", "video_und"):
        for ex in (world.pair_example(task), world.point_example(task)):
            lists = explanation(task, ex, style + "+two-lists")
            assert colour_first(lists) == explanation(task, ex, style)
            assert (lists != explanation(task, ex, style)) == task.startswith("image")
    drill = world.pair_example("image_gen")
    assert [colour_first(t) for t in lookup_drill(drill, "colours", "two-lists")] == list(
        lookup_drill(drill, "colours")
    )


def _image_gen_pair(caption: Caption, a: ImageSpec, b: ImageSpec, scores: tuple[float, float]) -> PairExample:
    """A hand-made image-generation pair with the oracle's elements (A labelled better)."""
    from unireward.data.shapes import image_elements

    elements = ({"elements": image_elements(caption, image)} for image in (a, b))
    return PairExample(None, "A", scores, *elements, {"prompt": caption, "a": a, "b": b})


def test_lookup_writes_the_objects_of_each_caption_shape_before_the_check():
    from unireward.data.shapes import COUNT_WORDS, check_describe, explanation, sees

    objs = (Obj("red", "square", 0.7, 0.3), Obj("yellow", "square", 0.2, 0.8), Obj("red", "cross", 0.5, 0.5))
    assert sees(ImageSpec(objs), "square") == "yellow square and red square"  # left to right
    assert sees(ImageSpec(objs), "circle") == "none"
    with pytest.raises(ValueError, match="lookup"):
        check_describe("lookups")
    relation = Caption("relation", ("yellow", "square"), "left of", ("blue", "circle"))
    shows_both = ImageSpec((Obj("yellow", "square", 0.2, 0.5), Obj("blue", "circle", 0.8, 0.5)))
    wrong_colour = ImageSpec((Obj("red", "square", 0.2, 0.5),))
    pair = _image_gen_pair(relation, shows_both, wrong_colour, (5.0, 1.0))
    assert explanation("image_gen", pair, describe="lookup").splitlines() == [
        "Image 1: shows yellow square, blue circle; yellow square (object): sees yellow square so 1, "
        "blue circle (object): sees blue circle so 1, left of (relation): 1, quality: clean, score 5.",
        "Image 2: shows red square; yellow square (object): sees red square so 0, "
        "blue circle (object): sees none so 0, left of (relation): 0, quality: clean, score 1.",
    ]
    # Every written lookup agrees with the check after it: the check is a function of the lookup text.
    world = ShapesWorld(8, balanced_checks=True)
    seen = collections.Counter()
    for _ in range(150):
        ex = world.pair_example("image_gen")
        cap = ex.spec["prompt"]
        wanted = [cap.a, cap.b] if cap.kind == "relation" else [cap.a]
        for line in explanation("image_gen", ex, describe="lookup").splitlines():
            found = re.findall(r"\(object\): sees ([a-z ]+?) so ([01])", line)
            assert len(found) == len(wanted), line
            for (objects, value), (colour, shape) in zip(found, wanted):
                assert int(value) == (f"{colour} {shape}" in objects.split(" and ")), line
                seen[value] += 1
            for word, value in re.findall(r"\(count\): sees ([a-z]+) so ([01])", line):
                assert int(value) == (word == COUNT_WORDS[cap.count]), line
    assert seen["0"] > 30 and seen["1"] > 30
    point = world.point_example("image_gen")
    lines = explanation("image_gen", point, describe="lookup").splitlines()
    cap, c = point.spec["prompt"], point.spec["candidate"]
    objects = (cap.a, cap.b) if cap.kind == "relation" else (cap.a,)
    assert lines[1:-1] == [f"{' '.join(o)}: sees {sees(c, o[1])}." for o in objects]
    und = world.pair_example("image_und")  # only image-generation checks look up
    assert explanation("image_und", und, describe="lookup") == explanation("image_und", und, describe="shows")


@pytest.mark.parametrize("task", [t for t in TASKS if t != Task.IMAGE_GEN])
def test_balanced_checks_leave_the_other_tasks_alone(task):
    plain, balanced = ShapesWorld(4), ShapesWorld(4, balanced_checks=True)
    assert [_pair_key(plain.pair_example(task)) for _ in range(5)] == [
        _pair_key(balanced.pair_example(task)) for _ in range(5)
    ]


@pytest.mark.parametrize("task", [Task.IMAGE_UND, Task.VIDEO_UND])
def test_und_tie_rate_draws_equal_score_train_pairs_with_the_written_verdict(task):
    from unireward.data.records import shapes_labels, target_text
    from unireward.protocols import get_protocol

    plain, tied = ShapesWorld(6), ShapesWorld(6, und_tie_rate=0.25)
    drawn = [tied.pair_example(task) for _ in range(200)]
    equal = [ex for ex in drawn if ex.scores[0] == ex.scores[1]]
    assert 0.15 < len(equal) / len(drawn) < 0.35
    for ex in drawn:
        assert ex.scores == tuple(oracle_score(task, ex.spec["prompt"], ex.spec[k]) for k in "ab")
        assert ex.label == (UND_TIE_BREAK if ex in equal else outcome(*ex.scores)) != "tie"
    lab, score, details = shapes_labels(task, equal[0], explain=True)
    target = target_text(get_protocol("v1-qwen"), task, "pair", lab, score, details)
    assert target.endswith(
        "Overall Judgment: Answer 1 is better" + (" than Answer 2." if task == Task.VIDEO_UND else ".")
    )
    # held-out splits, generation tasks and the default world draw exactly as before
    for split, t in (("test", task), ("train", Task.IMAGE_GEN), ("train", Task.VIDEO_GEN)):
        fresh, default = ShapesWorld(6, und_tie_rate=0.25), ShapesWorld(6)
        assert [_pair_key(fresh.pair_example(t, split)) for _ in range(5)] == [
            _pair_key(default.pair_example(t, split)) for _ in range(5)
        ]
    assert all(ex.scores[0] != ex.scores[1] for ex in (plain.pair_example(task) for _ in range(100)))
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="und_tie_rate"):
            ShapesWorld(6, und_tie_rate=bad)


@pytest.mark.parametrize("task", TASKS)
def test_point_score_is_the_oracle_score_and_on_scale(task):
    w = ShapesWorld(11)
    lo, hi = scale(task)
    seen = set()
    for _ in range(40):
        ex = w.point_example(task)
        assert ex.score == oracle_score(task, ex.spec["prompt"], ex.spec["candidate"])
        assert lo <= ex.score <= hi
        seen.add(ex.score)
        if task == Task.IMAGE_GEN:
            assert all(
                v in (0, 1) and t in ("object", "relation", "count") for _, t, v in ex.details["elements"]
            )
        if task == Task.VIDEO_GEN:
            assert len(ex.details["dimensions"]) == 5 and all(
                1 <= v <= 4 for v in ex.details["dimensions"].values()
            )
    assert len(seen) >= 3, f"{task.value}: point scores do not spread: {seen}"


def test_scales():
    assert [scale(t) for t in TASKS] == [(1.0, 5.0), (0.0, 100.0), (1.0, 10.0), (1.0, 5.0)]


def test_ties_only_for_generation_and_a_minority(pairs):
    for task in TASKS:
        ties = sum(ex.label == "tie" for ex in pairs[task]) / N_PAIRS
        if task.is_generation:
            assert 0.04 <= ties <= 0.25, f"{task.value}: tie rate {ties:.2f}"
        else:
            assert ties == 0, f"{task.value}: understanding pairs must never tie"


def test_a_b_balance(pairs):
    for task in TASKS:
        decided = [ex.label for ex in pairs[task] if ex.label != "tie"]
        share_a = decided.count("A") / len(decided)
        assert 0.4 <= share_a <= 0.6, f"{task.value}: share of A {share_a:.2f}"


# --------------------------------------------------------------------------------------------- oracle


def test_image_gen_oracle_elements_and_quality_penalty():
    cap = Caption("relation", ("red", "circle"), "above", ("blue", "square"))
    top, bottom = Obj("red", "circle", 0.5, 0.25, 0.3), Obj("blue", "square", 0.5, 0.75, 0.3)
    perfect = ImageSpec((top, bottom))
    assert oracle("image_gen", cap, perfect) == (
        5.0,
        {"elements": [("red circle", "object", 1), ("blue square", "object", 1), ("above", "relation", 1)]},
    )
    swapped = ImageSpec((Obj("red", "circle", 0.5, 0.75, 0.3), Obj("blue", "square", 0.5, 0.25, 0.3)))
    assert oracle_score("image_gen", cap, swapped) == 4.0  # 1 + 4·2/3 rounds to 4
    assert oracle_score("image_gen", cap, ImageSpec((bottom,))) == 2.0  # one object, no relation
    assert oracle_score("image_gen", cap, ImageSpec((top, bottom), blur=1.0)) == 3.0  # strong: −2
    assert oracle_score("image_gen", cap, ImageSpec((top, bottom), noise=0.5)) == 4.0  # mild: −1
    two = Caption("count", ("green", "triangle"), count=2)
    tri = [Obj("green", "triangle", x, 0.5, 0.25) for x in (0.2, 0.5, 0.8)]
    assert oracle_score("image_gen", two, ImageSpec(tuple(tri[:2]))) == 5.0
    assert oracle_score("image_gen", two, ImageSpec(tuple(tri))) == 3.0  # wrong count


def test_video_gen_oracle_dimensions_and_final():
    cap = VideoCaption("green", "triangle", "left", "slow")
    obj = Obj("green", "triangle", 0.7, 0.5, 0.3)
    slow = Track(obj, "left", SPEEDS["slow"])
    assert oracle_score("video_gen", cap, VideoSpec((slow,))) == 10.0
    _, d = oracle("video_gen", cap, VideoSpec((Track(obj, "left", SPEEDS["fast"]),)))
    assert d["dimensions"]["text-to-video alignment"] == 3 and d["dimensions"]["dynamic degree"] == 4
    assert oracle_score("video_gen", cap, VideoSpec((Track(obj, "left", SPEEDS["fast"]),))) == 8.0
    static, _ = oracle("video_gen", cap, VideoSpec((Track(obj, "left", 0.0),)))
    changed, d = oracle(
        "video_gen", cap, VideoSpec((Track(obj, "left", 0.25, change_at=0.5, change_colour="red"),))
    )
    assert d["dimensions"]["temporal consistency"] == 2 and d["dimensions"]["factual consistency"] == 2
    flicker = oracle_score("video_gen", cap, VideoSpec((slow,), flicker=(0.5,), flicker_kind="drop"))
    assert 10 > flicker > changed and 10 > static


def test_understanding_oracles_grade_answers():
    scene = ImageSpec((Obj("red", "circle", 0.3, 0.5, 0.3), Obj("blue", "square", 0.7, 0.5, 0.3)))
    p = UndPrompt(scene, Question("colour", shape="circle"))
    assert oracle_score("image_und", p, Answer("red")) == 100
    assert oracle_score("image_und", p, Answer("red", extra=("blue", "square"))) == 100  # true extra claim
    assert oracle_score("image_und", p, Answer("red", extra=("green", "cross"))) == 60  # hallucination
    assert oracle_score("image_und", p, Answer("blue", hedge="red")) == 50
    assert oracle_score("image_und", p, Answer("blue")) == 15
    rel = UndPrompt(scene, Question("relation", "red", "circle", other=("blue", "square")))
    assert oracle_score("image_und", rel, Answer("left of")) == 100
    assert oracle_score("image_und", rel, Answer("right of")) == 15
    track = Track(Obj("red", "circle", 0.3, 0.5, 0.3), "right", SPEEDS["fast"])
    video = VideoSpec((track,))
    d = UndPrompt(video, Question("direction", "red", "circle"))
    assert [oracle_score("video_und", d, Answer("right", detail=s)) for s in ("fast", None, "slow")] == [
        5,
        4,
        3,
    ]
    assert oracle_score("video_und", d, Answer("left", detail="fast")) == 2
    assert oracle_score("video_und", d, Answer("none")) == 1
    assert answer_text(d.question, Answer("right", detail="fast")) == "The red circle moves right quickly."
    late = Track(Obj("blue", "square", 0.7, 0.2, 0.3), "down", SPEEDS["slow"], appear=3 / 7)
    order = UndPrompt(VideoSpec((late, track)), Question("order", "red", "circle", other=("blue", "square")))
    assert [oracle_score("video_und", order, Answer(m)) for m in ("a", "b", "same")] == [5, 1, 2]
    assert answer_text(order.question, Answer("b")) == "The blue square appears first."
    turns = Track(Obj("red", "circle", 0.3, 0.5, 0.3), "right", 0.25, change_at=4 / 7, change_colour="green")
    change = UndPrompt(VideoSpec((turns,)), Question("change", shape="circle", attr="colour"))
    answers = [
        Answer("yes", detail="green"),
        Answer("yes"),
        Answer("yes", detail="blue"),
        Answer("no", detail="red"),
    ]
    assert [oracle_score("video_und", change, a) for a in answers] == [5, 4, 3, 1]
    assert oracle_score("video_und", change, Answer("yes", extra=("cyan", "cross"))) == 2  # false extra claim
    assert [answer_text(change.question, a) for a in answers[:2]] == [
        "Yes, it turns green.",
        "Yes, it changes colour.",
    ]


# ------------------------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("shape", SHAPES)
def test_renderer_draws_the_requested_colour(shape):
    for name, rgb in COLOURS.items():
        img = render_image(ImageSpec((Obj(name, shape, 0.5, 0.5, 0.4),)), size=64)
        arr = np.asarray(img)
        assert tuple(arr[32, 32]) == rgb, (name, shape)
        assert tuple(arr[1, 1]) == BACKGROUND
        assert (arr == rgb).all(-1).sum() > 100  # a large solid shape, not a few pixels


def test_shapes_differ_in_pixels():
    masks = [
        (np.asarray(render_image(ImageSpec((Obj("red", s, 0.5, 0.5, 0.5),)))) != BACKGROUND).any(-1)
        for s in SHAPES
    ]
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            assert (masks[i] != masks[j]).sum() > 60, (SHAPES[i], SHAPES[j])


def test_degradations_change_pixels_more_when_stronger():
    base = ImageSpec((Obj("blue", "square", 0.5, 0.5, 0.4),), seed=3)
    clean = np.asarray(render_image(base), dtype=float)
    for kind in ("blur", "noise", "artefacts"):
        mild = np.asarray(render_image(ImageSpec(base.objects, seed=3, **{kind: 0.5})), dtype=float)
        strong = np.asarray(render_image(ImageSpec(base.objects, seed=3, **{kind: 1.0})), dtype=float)
        assert 0 < np.abs(mild - clean).mean() < np.abs(strong - clean).mean(), kind


def _centroid(frame: Image.Image) -> np.ndarray:
    ys, xs = np.nonzero((np.asarray(frame) != BACKGROUND).any(-1))
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_video_moves_in_the_requested_direction(direction):
    track = Track(Obj("green", "triangle", 0.5, 0.5, 0.25), direction, 0.4)
    frames = render_video(VideoSpec((track,)), num_frames=8, size=64)
    assert len(frames) == 8 and all(f.size == (64, 64) for f in frames)
    steps = np.diff([_centroid(f) for f in frames], axis=0)
    want = np.array({"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}[direction])
    assert (steps @ want > 1.0).all(), steps  # every frame steps the right way
    assert np.abs(steps @ want[::-1]).max() < 0.5  # and not sideways


def test_video_defects_render():
    track = Track(Obj("red", "circle", 0.3, 0.5, 0.3), "right", 0.0, change_at=0.5, change_colour="blue")
    frames = render_video(VideoSpec((track,), flicker=(2 / 7,), flicker_kind="drop"), num_frames=8)
    arrs = [np.asarray(f) for f in frames]
    assert (arrs[2] == BACKGROUND).all()  # dropped frame
    assert (arrs[0] == COLOURS["red"]).all(-1).any() and not (arrs[7] == COLOURS["red"]).all(-1).any()
    assert (arrs[7] == COLOURS["blue"]).all(-1).any()  # temporal inconsistency
    assert arrs[0].tobytes() == arrs[1].tobytes()  # static
    bright = render_video(VideoSpec((track,), flicker=(1 / 7,), flicker_kind="bright"), num_frames=8)
    assert np.asarray(bright[1]).mean() < 0.6 * np.asarray(bright[0]).mean()


# ----------------------------------------------------------------------------------------- held out


@pytest.mark.parametrize("task", TASKS)
def test_test_split_is_held_out_by_the_colour_shape_rule(task):
    w = ShapesWorld(2)
    train, test = w.examples(task, "pair", 60, "train"), w.examples(task, "pair", 60, "test")
    for ex in train:
        for spec in ex.spec.values():
            assert not combos(spec) & HELD_OUT, spec
    for ex in test:
        assert combos(ex.spec["prompt"]) & HELD_OUT, ex.spec["prompt"]
    train_items = {(e.item.prompt, _key(e.item.media)) for e in train}
    assert not train_items & {(e.item.prompt, _key(e.item.media)) for e in test}
    if task.is_generation:  # the captions themselves never repeat across splits
        assert not {e.item.prompt for e in train} & {e.item.prompt for e in test}
    test_cands = w.candidate_specs(task, 10, split="test")
    assert combos(test_cands[0]) & HELD_OUT
    # "any" (text-only drills) draws held-out and seen prompts alike; an unknown split is refused
    open_prompts = [bool(combos(e.spec["prompt"]) & HELD_OUT) for e in w.examples(task, "pair", 60, "any")]
    assert 0 < sum(open_prompts) < 60
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        w.pair_example(task, "dev")


# ---------------------------------------------------------------------------------------- candidates


@pytest.mark.parametrize("task", TASKS)
def test_candidates_for_one_prompt_have_a_spread(task):
    w = ShapesWorld(4)
    for _ in range(3):
        prompt, media, cands, scores, details = w.candidates(task, 10)
        assert len(cands) == len(scores) == len(details) == 10
        assert len(set(scores)) >= 2
        assert isinstance(prompt, str) and prompt
        if task.is_generation:
            assert media is None
            assert all(isinstance(c, list if task.is_video else Image.Image) for c in cands)
        else:
            assert media is not None and all(isinstance(c, str) for c in cands)
        PointItem(task, prompt, cands[0], media)  # the records validate
    for _ in range(15):  # with two candidates equal scores are common: the spread must be enforced
        assert len(set(w.candidates(task, 2).scores)) == 2


def test_true_answer_gets_the_top_oracle_score():
    from unireward.data.shapes import Answer, oracle_score, scale, und_truth

    world = ShapesWorld(seed=3)
    for task in (Task.IMAGE_UND, Task.VIDEO_UND):
        for _ in range(60):
            prompt = world.point_example(task).spec["prompt"]
            accepted, detail = und_truth(prompt)
            best = Answer(main=sorted(accepted, key=str)[0] if accepted else "none", detail=detail)
            assert oracle_score(task, prompt, best) == scale(task)[1], prompt


def test_answer_checks_put_the_claim_next_to_the_truth():
    """`claim X, truth Y: right|wrong`: X is quoted from the candidate's sentence, Y from the correct answer,
    and the judgement is right exactly when they agree (hedges: when one of the two claimed values does)."""
    import re

    from unireward.data.shapes import answer_checks, true_answer

    world = ShapesWorld(seed=5)
    seen = set()
    for task in (Task.IMAGE_UND, Task.VIDEO_UND):
        for _ in range(150):
            ex = world.point_example(task)
            prompt, answer = ex.spec["prompt"], ex.spec["candidate"]
            checks = answer_checks(prompt, answer)
            m = re.match(r"(claim|hedged) (.+?), truth (.+?): (right|wrong)", checks)
            assert m, checks
            head, said, truth, verdict = m.groups()
            claimed = said.split(" or ") if head == "hedged" else [said]
            assert (verdict == "right") == (truth in claimed), checks
            sentence, correct = answer_text(prompt.question, answer).lower(), true_answer(prompt).lower()
            if truth != "none":
                assert all(c in sentence for c in claimed if c != "none"), (checks, sentence)
                assert truth in correct or verdict == "right", (checks, correct)
            d = re.search(r"detail (\w+), truth (\w+): (right|wrong)", checks)
            if d:
                assert (d.group(3) == "right") == (d.group(1) == d.group(2)), checks
            seen.add((head, verdict, bool(d)))
    assert len(seen) >= 6  # hedged and plain, right and wrong, with and without details were drawn


def test_lookup_checks_give_point_answers_the_pair_answers_element_checks():
    from unireward.data.shapes import describe_image, explanation, quality_word

    world = ShapesWorld(5, balanced_checks=True)
    pair = world.pair_example("image_gen")
    assert explanation("image_gen", pair, describe="lookup-checks") == explanation(
        "image_gen", pair, describe="lookup"
    )
    values = collections.Counter()
    for _ in range(60):
        point = world.point_example("image_gen")
        c = point.spec["candidate"]
        lines = explanation("image_gen", point, describe="lookup-checks").splitlines()
        assert lines[0] == f"Image shows: {describe_image(c)}." and lines[2] == f"Quality: {quality_word(c)}."
        # The same candidate as image 1 of a pair would be checked in the same words.
        same = PairExample(
            None,
            "A",
            (point.score, 1.0),
            point.details,
            point.details,
            {"prompt": point.spec["prompt"], "a": c, "b": c},
        )
        pair_line = explanation("image_gen", same, describe="lookup").splitlines()[0]
        assert pair_line.startswith(f"Image 1: shows {describe_image(c)}; {lines[1][:-1]}, quality: ")
        checks = re.findall(r"\((?:object|relation|count)\): (?:sees [a-z ]+? so )?([01])", lines[1])
        assert [int(v) for v in checks] == [v for _, _, v in point.details["elements"]]
        values.update(checks)
    assert values["0"] > 10 and values["1"] > 10


def test_describe_videos_says_what_each_video_shows_and_checks_the_caption_beside_it():
    from unireward.data.shapes import check_describe, describe_video, explanation, video_alignment_checks

    square = Track(Obj("red", "square", 0.2, 0.5), "left", 0.3, change_at=0.5, change_colour="blue")
    late = Track(Obj("green", "cross", 0.7, 0.5), appear=0.4)
    together = Track(Obj("cyan", "circle", 0.9, 0.2), "up", 0.6, appear=0.4)
    video = VideoSpec((square, late, together), flicker=(0.3, 0.6), flicker_kind="drop")
    assert describe_video(video) == (
        f"red square moving left {'slowly' if square.speed == 'slow' else 'quickly'}, becomes blue; "
        "then green cross static; cyan circle moving up quickly; several frames drop"
    )
    assert describe_video(VideoSpec(())) == "nothing"
    cap = VideoCaption("red", "square", "right", "fast")
    assert video_alignment_checks(cap, VideoSpec((late,))) == (
        "colour green, asked red: 0, shape cross, asked square: 0, direction none, asked right: 0, "
        "speed none, asked fast: 0"
    )
    assert check_describe("lookup+videos") == "lookup" and check_describe("+videos") == ""
    with pytest.raises(ValueError, match="videos"):
        check_describe("videos")
    world = ShapesWorld(4)
    agree = collections.Counter()
    for _ in range(120):  # alignment 4 exactly when every written check is 1
        point = world.point_example("video_gen")
        text = explanation("video_gen", point, describe="+videos")
        values = [int(v) for v in re.findall(r", asked [a-z]+: ([01])", text)]
        assert text.startswith(f"Video shows: {describe_video(point.spec['candidate'])}.\nCaption: colour ")
        aligned = point.details["dimensions"]["text-to-video alignment"] == 4
        assert aligned == all(values)
        agree[aligned] += 1
    assert agree[True] > 20 and agree[False] > 20
    pair = world.pair_example("video_gen")
    lines = explanation("video_gen", pair, describe="shows+videos").splitlines()
    assert [line[:15] for line in lines] == ["Video 1: shows ", "Video 2: shows "]
    assert lines[0].endswith(f"score {pair.scores[0]:g}.") and "text-to-video alignment" in lines[0]
    und = world.pair_example("video_und")
    described = explanation("video_und", und, describe="+videos")
    assert described == f"Video shows: {describe_video(und.spec['prompt'].media)}.\n" + explanation(
        "video_und", und
    )
    image = world.pair_example("image_gen")  # image tasks follow the image style alone
    assert explanation("image_gen", image, describe="lookup+videos") == explanation(
        "image_gen", image, describe="lookup"
    )
    assert explanation("video_gen", pair, describe="lookup") == explanation("video_gen", pair)


def test_videos_ends_style_states_every_objects_last_look_so_a_change_is_two_differing_words():
    from unireward.data.shapes import (
        check_describe,
        comparison_drill,
        describe_video,
        explanation,
        und_truth,
        video_lines,
        video_style,
    )

    square = Track(Obj("red", "square", 0.2, 0.5), "left", 0.3, change_at=0.5, change_colour="blue")
    late = Track(Obj("green", "cross", 0.7, 0.5), appear=0.4)
    video = VideoSpec((square, late))
    speed = "slowly" if square.speed == "slow" else "quickly"
    assert describe_video(video, ends=True) == (
        f"red square moving left {speed}, ends blue square; then green cross static, ends green cross"
    )
    assert describe_video(video) == f"red square moving left {speed}, becomes blue; then green cross static"
    assert [video_style(d) for d in ("colours", "colours+videos", "colours+videos-ends", "+videos-ends")] == [
        "",
        "becomes",
        "ends",
        "ends",
    ]
    assert check_describe("colours+videos-ends") == "colours"
    flags = [
        (v.ends, v.change_line, v.order_line)
        for v in map(
            video_lines, ("colours", "colours+videos", "+videos-ends", "colours+videos-ends-checked-order")
        )
    ]
    assert flags == [(False, False, ""), (False, False, ""), (True, False, ""), (True, True, "asked")]
    with pytest.raises(ValueError, match="videos-ends"):
        video_style("colours+ends")
    # Change questions: the yes/no truth is exactly "start and end words differ" in the written description.
    world, seen = ShapesWorld(5), collections.Counter()
    while min(seen["yes"], seen["no"]) < 15:
        ex = world.point_example("video_und")
        q, media = ex.spec["prompt"].question, ex.spec["prompt"].media
        if q.kind != "change":
            continue
        text = explanation("video_und", ex, describe="colours+videos-ends")
        assert text.startswith(f"Video shows: {describe_video(media, ends=True)}.\nCorrect answer: ")
        start, end = (q.colour or "[a-z]+", q.shape or "[a-z]+"), "([a-z]+) ([a-z]+)"
        found = re.search(rf"({start[0]}) ({start[1]}) (?:static|moving [a-z]+ [a-z]+), ends {end}", text)
        k = 1 if q.attr == "colour" else 2
        changed = found.group(k) != found.group(k + 2)
        (truth,), _ = und_truth(ex.spec["prompt"])
        assert truth == ("yes" if changed else "no")
        seen[truth] += 1
        drill_prompt, _ = comparison_drill(ex, "colours+videos-ends")
        assert drill_prompt.startswith(f"Video shows: {describe_video(media, ends=True)}.\n")
    pair = world.pair_example("video_gen")
    assert ", ends " in explanation("video_gen", pair, describe="+videos-ends").splitlines()[0]
    assert ", ends " not in explanation("video_gen", pair, describe="+videos")
    assert explanation("video_gen", pair, describe="+videos-ends-checked") == explanation(
        "video_gen", pair, describe="+videos-ends"
    )


def _line_before_answer(example, style: str, base: str) -> tuple[str, str | None]:
    """A video-understanding explanation in `style`, and the one line it adds before `Correct answer:` to
    the explanation in `base` (None when the two are equal); fails when they differ in any other way."""
    from unireward.data.shapes import explanation

    text, plain = (explanation("video_und", example, describe=d) for d in (style, base))
    if text == plain:
        return text, None
    line = text.split("\nCorrect answer: ", 1)[0].splitlines()[-1]
    assert text == plain.replace("\nCorrect answer: ", f"\n{line}\nCorrect answer: ", 1)
    return text, line


def test_ends_checked_style_writes_a_change_questions_start_and_end_side_by_side_before_the_answer():
    from unireward.data.shapes import (
        change_line,
        check_describe,
        describe_video,
        und_truth,
        video_style,
    )

    assert video_style("colours+videos-ends-checked") == "ends-checked"
    assert check_describe("colours+videos-ends-checked") == "colours"
    world, seen = ShapesWorld(5), collections.Counter()
    while min(seen["yes"], seen["no"], seen["other"]) < 10:
        ex = world.pair_example("video_und") if len(seen) % 2 else world.point_example("video_und")
        prompt = ex.spec["prompt"]
        checked, line = _line_before_answer(ex, "colours+videos-ends-checked", "colours+videos-ends")
        if prompt.question.kind != "change":
            assert line is None and "Change:" not in checked
            seen["other"] += 1
            continue
        assert line == change_line(prompt)
        assert checked.startswith(f"Video shows: {describe_video(prompt.media, ends=True)}.\n{line}\n")
        truth = sorted(und_truth(prompt)[0])
        start, end, said = re.fullmatch(r"Change: [a-z]+ ([a-z]+), ends ([a-z]+): (yes|no)\.", line).groups()
        assert [said] == truth and (said == "yes") == (start != end)
        seen[said] += 1
    questions = (world.point_example("video_und").spec["prompt"].question for _ in range(200))
    question = next(q for q in questions if q.kind == "change")
    assert change_line(UndPrompt(media=VideoSpec(()), question=question)) == "Change: none."


def test_ends_checked_order_style_adds_an_order_questions_appearance_words_before_the_answer():
    from unireward.data.shapes import order_line, und_truth, video_style

    assert video_style("colours+videos-ends-checked-order") == "ends-checked-order"
    world, seen = ShapesWorld(6), collections.Counter()
    while min(seen["a"], seen["b"], seen["same"], seen["change"], seen["other"]) < 5:
        ex = world.pair_example("video_und") if len(seen) % 2 else world.point_example("video_und")
        prompt = ex.spec["prompt"]
        ordered, line = _line_before_answer(
            ex, "colours+videos-ends-checked-order", "colours+videos-ends-checked"
        )
        if prompt.question.kind != "order":
            assert line is None and "Order:" not in ordered
            seen["change" if prompt.question.kind == "change" else "other"] += 1
            continue
        assert line == order_line(prompt)
        q = prompt.question
        a, when_a, b, when_b, first = re.fullmatch(
            r"Order: ([a-z]+ [a-z]+) (start|later), ([a-z]+ [a-z]+) (start|later): ([a-z ]+)\.", line
        ).groups()
        assert (a, b) == (f"{q.colour} {q.shape}", " ".join(q.other))
        (truth,) = und_truth(prompt)[0]
        # the appearance words decide the answer: the one that starts comes first, both at the start tie
        expected = {("start", "later"): "a", ("later", "start"): "b", ("start", "start"): "same"}
        assert expected[(when_a, when_b)] == truth
        assert first == {"a": a, "b": b, "same": "same time"}[truth]
        seen[truth] += 1
    question = next(
        q
        for q in (world.point_example("video_und").spec["prompt"].question for _ in range(200))
        if q.kind == "order"
    )
    assert order_line(UndPrompt(media=VideoSpec(()), question=question)) == "Order: none."


def test_described_order_line_follows_the_description_and_agrees_with_the_asked_order_line():
    from unireward.data.shapes import order_line, shows_line, und_truth

    world, seen = ShapesWorld(8), collections.Counter()
    while min(seen["a"], seen["b"], seen["same"]) < 6:
        ex = world.point_example("video_und")
        prompt = ex.spec["prompt"]
        if prompt.question.kind != "order":
            continue
        described, line = _line_before_answer(
            ex, "colours+videos-ends-checked-order-described", "colours+videos-ends-checked"
        )
        assert line == order_line(prompt, described=True) and line in described
        first, when_first, sep, second, when_second, answer = re.fullmatch(
            r"Order: ([a-z]+ [a-z]+) (start|later)(, then |, )([a-z]+ [a-z]+) (start|later): ([a-z ]+)\.",
            line,
        ).groups()
        shows = shows_line(prompt.media, True)
        assert shows.index(f" {first} ") < shows.index(f" {second} ")  # the description's order
        assert (sep == ", then ") == (when_second == "later") and when_first == "start"
        asked = order_line(prompt)  # the same objects, words and answer in the question's order
        assert asked.endswith(f": {answer}.")
        assert sorted(re.findall(r"[a-z]+ [a-z]+ (?:start|later)", asked)) == sorted(
            [f"{first} {when_first}", f"{second} {when_second}"]
        )
        (truth,) = und_truth(prompt)[0]
        seen[truth] += 1


def test_ends_checked_changes_style_writes_video_generation_changes_beside_each_other_before_ratings():
    from unireward.data.shapes import explanation, video_change_checks, video_lines

    style, base = "colours+videos-ends-checked-changes", "colours+videos-ends-checked"
    assert video_lines(style).gen_change_line and not video_lines(base).gen_change_line
    pattern = r"colour ([a-z]+), ends ([a-z]+): (yes|no), shape ([a-z]+), ends ([a-z]+): (yes|no)"
    world, seen = ShapesWorld(9), collections.Counter()
    while min(seen["changed"], seen["steady"], seen["pair"]) < 8:
        ex = world.point_example("video_gen")
        video = ex.spec["candidate"]
        text, plain = (
            explanation("video_gen", ex, describe=style),
            explanation("video_gen", ex, describe=base),
        )
        line = f"Change: {video_change_checks(video)}."
        assert text == f"{plain}\n{line}"
        c0, c1, c_said, s0, s1, s_said = re.fullmatch(rf"Change: {pattern}\.", line).groups()
        assert (c_said == "yes") == (c0 != c1) and (s_said == "yes") == (s0 != s1)
        assert (c0, s0) == (video.tracks[0].obj.colour, video.tracks[0].obj.shape)
        # the line carries what the two consistency ratings take from the video's objects
        dims = ex.details["dimensions"]
        changed = "yes" in (c_said, s_said)
        factual = (
            4
            - 2 * (c_said == "yes")
            - 2 * (s_said == "yes")
            - (video.flicker_kind == "drop" and bool(video.flicker))
        )
        assert dims["factual consistency"] == max(1, factual)
        assert (dims["temporal consistency"] <= 2) == (changed or len(video.flicker) > 1)
        seen["changed" if changed else "steady"] += 1
        pair = world.pair_example("video_gen")
        lines = explanation("video_gen", pair, describe=style).splitlines()
        plain_lines = explanation("video_gen", pair, describe=base).splitlines()
        for line, plain_line, side in zip(lines, plain_lines, "ab", strict=True):
            checks = f"; change {video_change_checks(pair.spec[side])}; visual quality "
            assert checks in line and line.replace(checks, "; visual quality ") == plain_line
        seen["pair"] += 1
    assert video_change_checks(VideoSpec(())) == "none"
    und = world.pair_example("video_und")  # understanding targets are those of ends-checked
    assert explanation("video_und", und, describe=style) == explanation("video_und", und, describe=base)


def test_colours_style_writes_the_shapes_colours_beside_the_asked_colour():
    from unireward.data.shapes import explanation, lookup_drill, lookup_style

    relation = Caption("relation", ("yellow", "square"), "left of", ("blue", "circle"))
    two_squares = ImageSpec((Obj("red", "square", 0.2, 0.5), Obj("yellow", "square", 0.8, 0.5)))
    empty = ImageSpec(())
    pair = _image_gen_pair(relation, two_squares, empty, (2.0, 1.0))
    assert explanation("image_gen", pair, describe="colours").splitlines() == [
        "Image 1: shows red square, yellow square; yellow square (object): colours red and yellow, "
        "asked yellow: 1, blue circle (object): colours none, asked blue: 0, left of (relation): 0, "
        "quality: clean, score 2.",
        "Image 2: shows nothing; yellow square (object): colours none, asked yellow: 0, "
        "blue circle (object): colours none, asked blue: 0, left of (relation): 0, quality: clean, score 1.",
    ]
    assert [lookup_style(d) for d in ("", "shows", "lookup", "lookup-checks+videos", "colours")] == [
        "",
        "",
        "sees",
        "sees",
        "colours",
    ]
    world = ShapesWorld(9, balanced_checks=True)
    followed = collections.Counter()
    for _ in range(80):  # every 0/1 is membership of the asked colour in the listed ones
        ex = world.pair_example("image_gen")
        text = explanation("image_gen", ex, describe="colours") + "\n" + lookup_drill(ex, "colours")[1]
        for listed, asked, value in re.findall(r"colours ([a-z ]+?), asked ([a-z]+): ([01])", text):
            assert int(value) == (asked in listed.split(" and "))
            followed[value] += 1
        point = world.point_example("image_gen")
        lines = explanation("image_gen", point, describe="colours").splitlines()
        assert ", asked " in lines[1] and lines[2].startswith("Quality: ")
    assert followed["0"] > 30 and followed["1"] > 30


def colours_target(task: str, mode: str, example) -> str:
    """The training target of a shapes example in the `colours` describe style."""
    from unireward.data.records import shapes_labels, target_text
    from unireward.protocols import get_protocol
    from unireward.train.shapes import PROTOCOL

    return target_text(get_protocol(PROTOCOL), task, mode, *shapes_labels(task, example, True, "colours"))


def test_a_slipped_description_misreads_one_word_and_the_reasoning_after_it_follows_that_word():
    import dataclasses

    from unireward.data.shapes import COLOURS, SHAPES, misread_span, slip_description

    world, rng = ShapesWorld(3, balanced_checks=True), np.random.default_rng(0)
    kinds, label_changed, looked = collections.Counter(), 0, 0
    for i in range(120):
        mode = "pair" if i % 2 else "point"
        ex = world.pair_example("image_gen") if mode == "pair" else world.point_example("image_gen")
        slipped = slip_description(ex, rng)
        if slipped is None:
            continue
        assert slipped.item is ex.item  # the model still sees the true media
        sides = ("a", "b") if mode == "pair" else ("candidate",)
        moved = [(o, n) for s in sides for o, n in zip(ex.spec[s].objects, slipped.spec[s].objects) if o != n]
        assert len(moved) == 1
        (was, now), prompt = moved[0], ex.spec["prompt"]
        assert dataclasses.replace(now, colour=was.colour, shape=was.shape) == was
        kinds["colour" if now.colour != was.colour else "shape"] += 1
        if mode == "pair":  # scores and label are the oracle's for what was misread
            assert slipped.scores == tuple(oracle_score("image_gen", prompt, slipped.spec[s]) for s in sides)
            assert slipped.label == outcome(*slipped.scores)
            label_changed += slipped.label != ex.label
        else:
            assert slipped.score == oracle_score("image_gen", prompt, slipped.spec["candidate"])

        true_text, misread = colours_target("image_gen", mode, ex), colours_target("image_gen", mode, slipped)
        a, b = misread_span(true_text, misread)
        assert misread[:a] == true_text[:a] and misread[a:b] in {now.colour, now.shape} - {
            was.colour,
            was.shape,
        }
        assert misread[a:b] in COLOURS or misread[a:b] in SHAPES
        # the lookup after the misread word lists what was written, not what the image shows
        shape_line = re.findall(rf"{now.shape}\w* \(object\): colours ([a-z ]+?), asked", misread[b:])
        if shape_line and mode == "point":
            assert now.colour in shape_line[0].split(" and ")
            looked += 1
    assert kinds["colour"] > 20 and kinds["shape"] > 20 and label_changed > 5 and looked > 5
    empty = world.point_example("image_gen")
    empty = dataclasses.replace(empty, spec={**empty.spec, "candidate": ImageSpec(())})
    assert slip_description(empty, rng) is None
    with pytest.raises(ValueError, match="do not differ"):
        misread_span("Image shows: red cross.", "Image shows: red cross.")


def slipped_examples(task: str, slip, n: int, seen: collections.Counter):
    """(held_out, mode, example, slipped) for n train draws of `task`, without then with held-out slips;
    a slip that returns None is counted in seen["none"]."""
    world = ShapesWorld(6)
    for held_out, rng in ((False, np.random.default_rng(2)), (True, np.random.default_rng(3))):
        for i in range(n):
            mode = "pair" if i % 2 else "point"
            ex = world.pair_example(task) if mode == "pair" else world.point_example(task)
            slipped = slip(ex, rng, held_out=held_out)
            if slipped is None:
                seen["none"] += 1
            else:
                yield held_out, mode, ex, slipped


def test_a_slipped_understanding_image_moves_the_correct_answer_checks_and_verdict_with_the_misread_word():
    import dataclasses

    from unireward.data.shapes import HELD_OUT, misread_span, slip_image_und, true_answer

    seen = collections.Counter()
    for held_out, mode, ex, slipped in slipped_examples("image_und", slip_image_und, 160, seen):
        assert slipped.item is ex.item  # the model still sees the true image
        prompt, misread = ex.spec["prompt"], slipped.spec["prompt"]
        assert misread.question == prompt.question
        moved = [(o, n) for o, n in zip(prompt.media.objects, misread.media.objects) if o != n]
        ((was, now),) = moved
        assert dataclasses.replace(now, colour=was.colour, shape=was.shape) == was
        if held_out and (was.colour, was.shape) not in HELD_OUT:
            assert (now.colour, now.shape) in HELD_OUT and now.shape == was.shape
            seen["held_out"] += 1
        if mode == "pair":  # scores and a strict label, the oracle's for the misread image
            answers = (slipped.spec["a"], slipped.spec["b"])
            assert slipped.scores == tuple(oracle_score("image_und", misread, a) for a in answers)
            assert slipped.label == outcome(*slipped.scores) != "tie"
            seen["label_changed"] += slipped.label != ex.label
        else:
            assert slipped.score == oracle_score("image_und", misread, slipped.spec["candidate"])

        true_text = colours_target("image_und", mode, ex)
        misread_text = colours_target("image_und", mode, slipped)
        a, b = misread_span(true_text, misread_text)
        assert misread_text[a:b] in {now.colour, now.shape} - {was.colour, was.shape}
        assert misread_text[:a] == true_text[:a] and "Correct answer" not in misread_text[:a]
        # the correct answer is the misread image's
        assert f"Correct answer: {true_answer(misread)}" in misread_text
        seen["answer_changed"] += true_answer(misread) != true_answer(prompt)
    assert seen["held_out"] > 40 and seen["label_changed"] > 5 and seen["answer_changed"] > 10
    assert seen["none"] > 0  # e.g. the asked object misread away


def test_a_slipped_understanding_video_misreads_one_look_and_renames_the_question_that_names_it():
    from unireward.data.shapes import HELD_OUT, misread_span, slip_video_und, true_answer

    describe = "colours+videos-ends-checked-changes"

    def target(mode, example):
        from unireward.data.records import shapes_labels, target_text
        from unireward.protocols import get_protocol
        from unireward.train.shapes import PROTOCOL

        labels = shapes_labels("video_und", example, True, describe)
        return target_text(get_protocol(PROTOCOL), "video_und", mode, *labels)

    seen = collections.Counter()
    for held_out, mode, ex, slipped in slipped_examples("video_und", slip_video_und, 120, seen):
        assert slipped.item.media is ex.item.media  # the model still sees the true video
        prompt, misread = ex.spec["prompt"], slipped.spec["prompt"]
        moved = [(o, n) for o, n in zip(prompt.media.tracks, misread.media.tracks) if o != n]
        ((was, now),) = moved  # one track, one look of it
        first = (was.obj.colour, was.obj.shape) != (now.obj.colour, now.obj.shape)
        end_was, end_now = was.at(1.0), now.at(1.0)
        ends = (end_was.colour, end_was.shape) != (end_now.colour, end_now.shape)
        assert first != ends and (now.direction, now.travel, now.appear) == (
            was.direction,
            was.travel,
            was.appear,
        )
        look = now.obj if first else end_now
        if held_out and not first:
            assert (look.colour, look.shape) in HELD_OUT or (end_was.colour, end_was.shape) in HELD_OUT
        if held_out and first and (was.obj.colour, was.obj.shape) not in HELD_OUT:
            assert (look.colour, look.shape) in HELD_OUT and look.shape == was.obj.shape
            seen["held_out"] += 1
        # a question naming the misread object by its first look asks about the misread name
        q, q0 = misread.question, prompt.question
        if q != q0:
            assert first and slipped.item.prompt == q.text != ex.item.prompt
            assert (q.colour, q.shape) in {
                (q0.colour and now.obj.colour, q0.shape and now.obj.shape),
                (q0.colour, q0.shape),
            }
            seen["renamed"] += 1
        if mode == "pair":
            answers = (slipped.spec["a"], slipped.spec["b"])
            assert slipped.scores == tuple(oracle_score("video_und", misread, a) for a in answers)
            assert slipped.label == outcome(*slipped.scores) != "tie"
        else:
            assert slipped.score == oracle_score("video_und", misread, slipped.spec["candidate"])
        true_text, misread_text = target(mode, ex), target(mode, slipped)
        a, b = misread_span(true_text, misread_text)
        assert misread_text[a:b] in {look.colour, look.shape}
        assert misread_text[:a] == true_text[:a] and misread_text[:a].startswith("Video shows:")
        assert f"Correct answer: {true_answer(misread)}" in misread_text
        seen["answer_changed"] += true_answer(misread) != true_answer(prompt)
        seen["ends" if ends else "first"] += 1
    assert seen["held_out"] > 20 and seen["renamed"] > 20 and seen["answer_changed"] > 10
    assert seen["ends"] > 5 and seen["first"] > 50


def test_a_wrong_point_answer_keeps_image_and_question_and_its_claim_and_score_are_the_oracles():
    import dataclasses

    from unireward.data.shapes import answer_text, und_truth, wrong_point_answer

    world, rng, seen = ShapesWorld(9), np.random.default_rng(4), collections.Counter()
    for _ in range(120):
        ex = world.point_example("image_und")
        truth, _ = und_truth(ex.spec["prompt"])
        wrong = wrong_point_answer(ex, rng)
        if ex.spec["candidate"].main not in truth:
            assert wrong is None  # already wrong: nothing to redraw
            seen["already_wrong"] += 1
            continue
        assert wrong is not None and wrong.spec["candidate"].main not in truth
        assert wrong.spec["prompt"] is ex.spec["prompt"] and wrong.item.media is ex.item.media
        assert wrong.item.prompt == ex.item.prompt and wrong.item.id == ex.item.id
        assert wrong.item.candidate == answer_text(ex.spec["prompt"].question, wrong.spec["candidate"])
        assert wrong.score == oracle_score("image_und", ex.spec["prompt"], wrong.spec["candidate"])
        assert wrong.score <= 50  # the oracle agrees: at best a hedge that names the truth
        seen["made_wrong"] += 1
    assert seen["made_wrong"] > 40 and seen["already_wrong"] > 40
    # the same random stream gives the same answers
    ex = next(e for e in (world.point_example("image_und") for _ in range(50)) if wrong_point_answer(e, rng))
    again = [wrong_point_answer(ex, np.random.default_rng(7)) for _ in range(2)]
    assert again[0] == again[1] and dataclasses.is_dataclass(again[0])


def test_sides_give_each_related_objects_side_and_the_relation_follows_from_the_first_word():
    from unireward.data.shapes import SIDE_RELATIONS, Obj, explanation, relation_of, relation_sides

    left, right = Obj("red", "circle", 0.2, 0.5, 0.3), Obj("blue", "square", 0.8, 0.55, 0.3)
    top, bottom = Obj("red", "circle", 0.5, 0.2, 0.3), Obj("blue", "square", 0.45, 0.8, 0.3)
    assert relation_sides(left, right) == ("left", "right") and relation_sides(right, left) == (
        "right",
        "left",
    )
    assert relation_sides(top, bottom) == ("top", "bottom") and relation_sides(bottom, top) == (
        "bottom",
        "top",
    )
    world, seen = ShapesWorld(8, balanced_checks=True), collections.Counter()
    for _ in range(300):
        und = world.pair_example("image_und")
        q, media = und.spec["prompt"].question, und.spec["prompt"].media
        text = explanation("image_und", und, "colours-sides")
        assert ("\nSides: " in text) == (q.kind == "relation")
        assert "Sides" not in explanation("image_und", und, "colours")
        if q.kind == "relation":
            side = re.search(rf"Sides: {q.colour} {q.shape} (\w+), {' '.join(q.other)} (\w+)\.", text)
            a, b = media.objects  # a relation image holds the two asked objects, a first
            assert side and relation_of(a, b) == SIDE_RELATIONS[side[1]]
            assert f"is {SIDE_RELATIONS[side[1]]} the" in text.split("Correct answer: ")[1].splitlines()[0]
            seen["und"] += 1
        gen = world.pair_example("image_gen")
        cap = gen.spec["prompt"]
        text = explanation("image_gen", gen, "colours-sides")
        plain = explanation("image_gen", gen, "colours")
        if cap.kind != "relation":
            assert text == plain
            continue
        for k, side in ((1, "a"), (2, "b")):
            line = text.splitlines()[k - 1]
            found = re.search(
                rf"{cap.relation} \(relation\): (?:([a-z ]+?) (\w+), ([a-z ]+?) (\w+): )?([01])", line
            )
            shown = {o.combo for o in gen.spec[side].objects}
            assert bool(found[1]) == (cap.a in shown and cap.b in shown)
            if found[1]:  # both objects there: the check is 1 exactly when a's side gives the relation
                assert (found[1], found[3]) == (" ".join(cap.a), " ".join(cap.b))
                assert int(found[5]) == (SIDE_RELATIONS[found[2]] == cap.relation)
                seen["gen"] += 1
    assert seen["und"] > 30 and seen["gen"] > 30


def test_a_held_out_slip_names_the_held_out_colour_of_the_objects_shape_and_nothing_else():
    import dataclasses

    from unireward.data.shapes import HELD_OUT, slip_description

    rng, seen = np.random.default_rng(1), collections.Counter()
    world = ShapesWorld(5)
    for split in ("train", "test"):
        for _ in range(60):
            ex = world.pair_example("image_gen", split)
            slipped = slip_description(ex, rng, held_out=True)
            if slipped is None:
                continue
            moved = [
                (o, n) for s in "ab" for o, n in zip(ex.spec[s].objects, slipped.spec[s].objects) if o != n
            ]
            ((was, now),) = moved
            if (was.colour, was.shape) in HELD_OUT:  # already held out: an ordinary slip instead
                seen["fallback"] += 1
                continue
            assert (now.colour, now.shape) in HELD_OUT and now.shape == was.shape
            assert dataclasses.replace(now, colour=was.colour) == was
            seen[split] += 1
    assert seen["train"] > 40 and seen["test"] > 20 and seen["fallback"] > 0


def test_inline_sides_follow_each_asked_object_in_the_shows_line():
    from unireward.data.shapes import (
        SIDE_RELATIONS,
        check_describe,
        explanation,
        left_to_right,
        relation_of,
        relation_sides,
    )

    world, seen = ShapesWorld(9, balanced_checks=True), 0
    for _ in range(200):
        und = world.point_example("image_und")
        q, media = und.spec["prompt"].question, und.spec["prompt"].media
        text = explanation("image_und", und, "colours-sides-inline")
        plain = explanation("image_und", und, "colours")
        assert "Sides:" not in text
        if q.kind != "relation":
            assert text == plain
            continue
        a, b = media.objects  # a relation image holds the two asked objects, a first
        shows = text.splitlines()[0]
        found = re.fullmatch(r"Image shows: ([a-z]+ [a-z]+) (\w+), ([a-z]+ [a-z]+) (\w+)\.", shows)
        assert found, shows
        named = {found[1]: found[2], found[3]: found[4]}
        wa, wb = named[f"{q.colour} {q.shape}"], named[" ".join(q.other)]
        assert relation_of(a, b) == SIDE_RELATIONS[wa] and (wa, wb) == relation_sides(a, b)
        # left to right, as every description names objects
        assert found[1] == " ".join(left_to_right(media.objects)[0].combo)
        assert text.splitlines()[1:] == plain.splitlines()[1:]
        seen += 1
    assert seen > 20
    gen = world.pair_example("image_gen")
    inline, own_line = (explanation("image_gen", gen, d) for d in ("colours-sides-inline", "colours-sides"))
    assert inline == own_line
    with pytest.raises(ValueError, match="two-lists"):
        check_describe("colours-sides-inline+two-lists")
