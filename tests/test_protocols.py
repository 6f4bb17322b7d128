"""Protocols: prompts, exact targets, and tolerant-but-strict parsing of realistic (and broken) answers."""

from __future__ import annotations

import pytest

from unireward.protocols import (
    DEFAULT_PROTOCOL,
    PROTOCOL_NAMES,
    PointChoices,
    Protocol,
    format_ok,
    get_protocol,
)
from unireward.protocols.parsing import format_number
from unireward.tasks import PairItem, PointItem, Task

TASKS = list(Task)
GEN = [Task.IMAGE_GEN, Task.VIDEO_GEN]
UND = [Task.IMAGE_UND, Task.VIDEO_UND]

VIDEO_DIMS = {
    "visual quality": 3,
    "temporal consistency": 4,
    "dynamic degree": 2,
    "text-to-video alignment": 3,
    "factual consistency": 4,
}
VIDEO_DIMS_TEXT = "\n".join(f"{k}: {v}" for k, v in VIDEO_DIMS.items())
V2_PAIR = (
    "Alignment Score:\nImage 1: 0.7\nImage 2: 0.3\nCoherence Score:\nImage 1: 0.4\nImage 2: 0.6\n"
    "Style Score:\nImage 1: 0.5\nImage 2: 0.5"
)

# --- pair parsing -------------------------------------------------------------------------------------------

# (protocol, task, answer, expected winner, failure message fragment when the winner is None)
PAIR_CASES = [
    ("v1", "image_gen", "Image 1 is better than Image 2.", "A", None),
    ("v1", "image_gen", "Image 2 is better than Image 1.", "B", None),
    ("v1", "image_gen", "Image 2 is better.", "B", None),
    ("v1", "image_gen", "  image 1   IS better  ", "A", None),
    ("v1", "image_gen", "Both images are equally good.", "tie", None),
    ("v1", "image_gen", "**Image 2 is better than Image 1.**", "B", None),
    ("v1", "image_gen", "### Verdict\n**Image 1 is better**", "A", None),
    ("v1", "image_gen", "Image 1 is better in colour.\nOverall, Image 2 is better than Image 1.", "B", None),
    (
        "v1",
        "image_gen",
        "Image 1 is better than Image 2 in style.\n\nBoth images are equally good.",
        "tie",
        None,
    ),
    ("v1", "image_gen", "Image 1 is better. Image 2 is better.", None, "contradictory"),
    (
        "v1",
        "image_gen",
        "Image 1 is better than Image 2, yet both images are equally good.",
        None,
        "contradictory",
    ),
    ("v1", "image_gen", "Image 1 is better than Image 1.", None, "itself"),
    ("v1", "image_gen", "", None, "empty"),
    ("v1", "image_gen", "The cat in the first picture is cute.", None, "no 'Image N is better'"),
    ("v1", "image_gen", "Video 1 is better than Video 2.", None, "no 'Image N is better'"),
    ("v1-qwen", "image_gen", "Image 1 is better than Image 2.", "A", None),
    ("v1-qwen", "image_gen", "Image 2 is better.", "B", None),
    ("v1", "video_gen", "Video 1 is better", "A", None),
    ("v1", "video_gen", "Video 2 is better than Video 1.", "B", None),
    ("v1", "video_gen", "Both videos are equally good.", "tie", None),
    ("v1", "image_und", "Overall Judgment: Answer 2 is better.", "B", None),
    (
        "v1",
        "image_und",
        "1. Accuracy: Answer 2 is better at naming the objects.\n2. Helpfulness: Answer 1 explains more.\n\n"
        "Overall Judgment: Answer 1 is better.",
        "A",
        None,
    ),
    ("v1", "image_und", "Answer 1 is better", "A", None),
    ("v1", "image_und", "Both answers are equally good.", None, "no tie"),
    (
        "v1",
        "image_und",
        "Answer 1 is better in detail.\nOverall Judgment: Both answers are equally good.",
        None,
        "no tie",
    ),
    ("v1", "video_und", "Overall Judgment: Answer 1 is better than Answer 2.", "A", None),
    ("v1", "video_und", "Overall Judgment: **Answer 2 is better than Answer 1**.", "B", None),
    ("v2", "image_gen", V2_PAIR, "A", None),
    ("v2", "image_gen", "**Alignment Score:**\n- Image 1: 0.3\n- Image 2: 0.7", "B", None),
    (
        "v2",
        "image_gen",
        "Alignment Score: Image 1: 0.5, Image 2: 0.5\nStyle Score: Image 1: 0.5, Image 2: 0.5",
        "tie",
        None,
    ),
    ("v2", "image_gen", "Alignment Score:\nImage 1: 0.6", None, "no complete"),
    ("v2", "image_gen", "Alignment Score:\nImage 1: 1.5\nImage 2: -0.5", None, "outside"),
    ("v2", "image_gen", "Image 1 is better than Image 2.", None, "no complete"),
    ("v2", "video_gen", "Alignment Score:\nVideo 1: 0.2\nVideo 2: 0.8", "B", None),
    ("v2", "image_und", "Overall Judgment: Answer 1 is better.", "A", None),
    (
        "think",
        "image_gen",
        "<think>Image 1 is better in colour.</think>\n<answer>Image 2 is better</answer>",
        "B",
        None,
    ),
    (
        "think",
        "image_gen",
        "<think>a</think><answer>Image 1 is better</answer> <answer>Image 2 is better</answer>",
        "B",
        None,
    ),
    (
        "think",
        "video_gen",
        "<think>totals 21 vs 18</think><answer> **Video 1 is better** </answer>",
        "A",
        None,
    ),
    ("think", "image_und", "<think>…</think><answer>Answer 2 is better</answer>", "B", None),
    ("think", "image_gen", "<think>hm</think><answer>Both images are equally good</answer>", None, "no tie"),
    ("think", "image_gen", "<think>Image 1 is better.</think>", None, "no <answer>"),
    ("think", "image_gen", "<think>x</think><answer>Image 1 is better", None, "no <answer>"),
    ("think", "image_gen", "<answer>the first</answer>", None, "no 'Image N is better'"),
]


@pytest.mark.parametrize(("name", "task", "text", "winner", "message"), PAIR_CASES)
def test_parse_pair(name: str, task: str, text: str, winner: str | None, message: str | None) -> None:
    parsed = get_protocol(name).parse_pair(Task(task), text)
    assert parsed.winner == winner
    if winner is None:
        assert parsed.failure is not None and parsed.failure.kind == "parse"
        assert message in parsed.failure.message
        assert "answer: " in parsed.failure.message  # quotes the raw text
    else:
        assert parsed.failure is None


def test_v2_pair_scores_are_floats_per_dimension() -> None:
    parsed = get_protocol("v2").parse_pair(Task.IMAGE_GEN, V2_PAIR)
    assert parsed.scores == {"Alignment": (0.7, 0.3), "Coherence": (0.4, 0.6), "Style": (0.5, 0.5)}
    assert all(isinstance(v, float) for pair in parsed.scores.values() for v in pair)


# --- point parsing ------------------------------------------------------------------------------------------

# (protocol, options, task, answer, expected value, expected dimensions or None, failure fragment)
POINT_CASES = [
    ("v1", {}, "image_gen", "Final Score: 4", 4.0, None, None),
    (
        "v1",
        {},
        "image_gen",
        "cat (object): 1\nred (attribute): 0\n- sits (action): 1\nFinal Score: 3",
        3.0,
        {"elements_generated": 2.0, "elements_total": 3.0},
        None,
    ),
    ("v1", {}, "image_gen", "### Final Score: 4", 4.0, None, None),
    (
        "v1",
        {},
        "image_gen",
        "cat (object): 1\nAlignment Score (1-5): 1\nFinal Score: 2",  # a `(1-5)` score is not an element
        2.0,
        {"elements_generated": 1.0, "elements_total": 1.0},
        None,
    ),
    ("v1", {}, "image_gen", "Final Score: **4**", 4.0, None, None),
    ("v1", {}, "image_gen", "final score:3.5", 3.5, None, None),
    ("v1", {}, "image_gen", "Final Score: 4/5", 4.0, None, None),
    (
        "v1",
        {},
        "image_gen",
        "Final Score: 2\nOn reflection the cat is there.\nFinal Score: 4",
        4.0,
        None,
        None,
    ),
    ("v1", {}, "image_gen", "Final Score: 7", None, None, "outside the scale 1–5"),
    ("v1", {}, "image_gen", "Final Score: 0", None, None, "outside"),
    (
        "v1",
        {},
        "image_gen",
        "cat (object): 1\nI cannot decide.",
        None,
        {"elements_generated": 1.0, "elements_total": 1.0},
        "no 'Final Score:'",
    ),
    ("v1", {}, "image_gen", "Final Score: 4\nFinal Score: ", None, None, "has no number"),
    ("v1", {}, "image_gen", "", None, None, "empty"),
    ("v1", {}, "image_gen", "a nice picture, 4 stars", None, None, "no 'Final Score:'"),
    ("v1", {"image_gen_point_scale": (1, 10)}, "image_gen", "Final Score: 7", 7.0, None, None),
    ("v1", {}, "video_gen", "Final Score: 10", 10.0, None, None),
    ("v1", {}, "video_gen", "Final Score: 9\nFinal Score: 10", 10.0, None, None),
    ("v1", {}, "video_gen", f"{VIDEO_DIMS_TEXT}\nFinal Score: 8", 8.0, VIDEO_DIMS, None),
    (
        "v1",
        {},
        "video_gen",
        "**Visual Quality**: 2.5\nText to video alignment: 3\nFinal Score: 6",
        6.0,
        {"visual quality": 2.5, "text-to-video alignment": 3.0},
        None,
    ),
    ("v1", {}, "video_gen", VIDEO_DIMS_TEXT, None, VIDEO_DIMS, "no 'Final Score:'"),
    ("v1", {}, "video_gen", "visual quality: 5\nFinal Score: 7", None, {"visual quality": 5.0}, "outside"),
    ("v1", {}, "video_gen", "Final Score: 11", None, None, "outside the scale 1–10"),
    ("v1", {}, "image_und", "The answer is accurate.\nFinal Score: 85", 85.0, None, None),
    ("v1", {}, "image_und", "Final Score: 100", 100.0, None, None),
    ("v1", {}, "image_und", "Final Score: 150", None, None, "outside the scale 0–100"),
    ("v1", {}, "video_und", "Final Score: 5", 5.0, None, None),
    ("v1", {}, "video_und", "Final Score: 6", None, None, "outside"),
    (
        "v2",
        {},
        "image_gen",
        "Alignment Score (1-5): 4.5\nCoherence Score (1-5): 3\nStyle Score (1-5): 3.9",
        3.8,
        {"Alignment": 4.5, "Coherence": 3.0, "Style": 3.9},
        None,
    ),
    (
        "v2",
        {},
        "image_gen",
        "cat: 1\ndog: 0\n**Alignment Score (1-5):** 2\n**Coherence Score (1-5):** 3\n"
        "**Style Score (1-5):** 4",
        3.0,
        {"Alignment": 2.0, "Coherence": 3.0, "Style": 4.0},
        None,
    ),
    (
        "v2",
        {},
        "image_gen",
        "Alignment Score (1-5): 4\nCoherence Score (1-5): 3",
        None,
        {"Alignment": 4.0, "Coherence": 3.0},
        "missing Style",
    ),
    (
        "v2",
        {},
        "image_gen",
        "Alignment Score (1-5): 6\nCoherence Score (1-5): 3\nStyle Score (1-5): 3",
        None,
        {"Alignment": 6.0, "Coherence": 3.0, "Style": 3.0},
        "outside",
    ),
    (
        "v2",
        {},
        "video_gen",
        "Alignment Score (1-5): 4\nPhysics Score (1-5): 2\nStyle Score (1-5): 3",
        3.0,
        {"Alignment": 4.0, "Physics": 2.0, "Style": 3.0},
        None,
    ),
    (
        "v2",
        {},
        "video_gen",
        "Alignment Score (1-5): 4\nCoherence Score (1-5): 2\nStyle Score (1-5): 3",
        None,
        {"Alignment": 4.0, "Style": 3.0},
        "missing Physics",
    ),
    ("v2", {}, "image_und", "Final Score: 70", 70.0, None, None),
    ("think", {}, "video_und", "Final Score: 3", 3.0, None, None),
]


@pytest.mark.parametrize(("name", "options", "task", "text", "value", "dims", "message"), POINT_CASES)
def test_parse_point(
    name: str,
    options: dict,
    task: str,
    text: str,
    value: float | None,
    dims: dict | None,
    message: str | None,
) -> None:
    parsed = get_protocol(name, **options).parse_point(Task(task), text)
    if value is not None:
        assert parsed.value == pytest.approx(value)
        assert isinstance(parsed.value, float) and parsed.failure is None
    else:
        assert parsed.value is None
        assert parsed.failure is not None and parsed.failure.kind == "parse"
        assert message in parsed.failure.message
    if dims is not None:
        assert parsed.dimensions == pytest.approx(dims)
        assert all(isinstance(v, float) for v in parsed.dimensions.values())


def test_ten_is_not_one() -> None:
    """The public scripts compared scores as strings; "10" must read as 10.0 and rank above 9."""
    v1 = get_protocol("v1")
    ten = v1.parse_point(Task.VIDEO_GEN, "Final Score: 10").value
    nine = v1.parse_point(Task.VIDEO_GEN, "Final Score: 9").value
    assert ten == 10.0 and ten > nine


# --- targets and round trips ------------------------------------------------------------------------------


def _pair_details(name: str, task: Task, winner: str) -> dict:
    if name == "v2" and task.is_generation:
        split = {"A": (0.75, 0.25), "B": (0.4, 0.6), "tie": (0.5, 0.5)}[winner]
        return {"scores": {"Alignment": split, "Coherence": (0.5, 0.5), "Style": split}}
    return {}


def _pair_winners(name: str, task: Task) -> list[str]:
    return ["A", "B", "tie"] if task.is_generation and name != "think" else ["A", "B"]


@pytest.mark.parametrize("name", PROTOCOL_NAMES)
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("explanation", [None, "Image 1 is better in colour, but the text is wrong."])
def test_pair_round_trip(name: str, task: Task, explanation: str | None) -> None:
    protocol = get_protocol(name)
    for winner in _pair_winners(name, task):
        details = _pair_details(name, task, winner)
        target = protocol.pair_target(task, winner, explanation=explanation, **details)
        parsed = protocol.parse_pair(task, target)
        assert parsed.failure is None, target
        assert parsed.winner == winner, target
        if "scores" in details:
            assert parsed.scores == details["scores"]
        if explanation:
            opening = "<think>\n" if name == "think" else ""
            assert target.startswith(f"{opening}{explanation}\n"), target


def _point_cases(name: str, task: Task) -> list[tuple[float, dict, dict]]:
    """(score, details, expected parsed dimensions) on the scale's ends and in between."""
    if name == "v2" and task.is_generation:
        second = "Physics" if task.is_video else "Coherence"
        dims = {"Alignment": 4.5, second: 2.0, "Style": 3.25}
        return [(3.25, {"dimensions": dims}, dims), (1.0, {"dimensions": dict.fromkeys(dims, 1)}, {})]
    lo, hi = get_protocol(name).scale(task)
    cases: list[tuple[float, dict, dict]] = [(lo, {}, {}), (hi, {}, {}), ((lo + hi) / 2 + 0.25, {}, {})]
    if task == Task.IMAGE_GEN:
        elements = [("cat", "object", 1), ("red", "attribute", 0), ("on a mat", "relation", 1)]
        cases.append((4, {"elements": elements}, {"elements_generated": 2.0, "elements_total": 3.0}))
    if task == Task.VIDEO_GEN:
        cases.append((7, {"dimensions": VIDEO_DIMS}, VIDEO_DIMS))
    return cases


@pytest.mark.parametrize("name", PROTOCOL_NAMES)
@pytest.mark.parametrize("task", TASKS)
def test_point_round_trip(name: str, task: Task) -> None:
    protocol = get_protocol(name)
    for score, details, dims in _point_cases(name, task):
        target = protocol.point_target(task, score, explanation="Looks fine.", **details)
        parsed = protocol.parse_point(task, target)
        assert parsed.failure is None, target
        assert parsed.value == pytest.approx(score), target
        if dims:
            assert parsed.dimensions == pytest.approx(dims)
        assert target.startswith("Looks fine.\n")


def test_exact_v1_targets() -> None:
    v1, qwen = get_protocol("v1"), get_protocol("v1-qwen")
    assert v1.pair_target(Task.IMAGE_GEN, "B") == "Image 2 is better than Image 1."
    assert qwen.pair_target(Task.IMAGE_GEN, "A") == "Image 1 is better."
    assert qwen.pair_target(Task.VIDEO_GEN, "tie") == "Both videos are equally good."
    assert v1.pair_target(Task.IMAGE_UND, "A") == "Overall Judgment: Answer 1 is better."
    assert qwen.pair_target(Task.VIDEO_UND, "B") == "Overall Judgment: Answer 2 is better than Answer 1."
    assert (
        v1.pair_target(Task.IMAGE_GEN, "tie", explanation="Both fit.")
        == "Both fit.\nBoth images are equally good."
    )
    elements = [("cat", "object", 1), ("red", "attribute", 0)]
    assert (
        v1.point_target(Task.IMAGE_GEN, 3, elements=elements)
        == "cat (object): 1\nred (attribute): 0\nFinal Score: 3"
    )
    assert v1.point_target(Task.VIDEO_GEN, 7.0, dimensions=VIDEO_DIMS) == f"{VIDEO_DIMS_TEXT}\nFinal Score: 7"
    assert v1.point_target(Task.VIDEO_UND, 3.5) == "Final Score: 3.5"


def test_exact_v2_and_think_targets() -> None:
    scores = {"Alignment": (0.7, 0.3), "Coherence": (0.4, 0.6), "Style": (0.5, 0.5)}
    assert get_protocol("v2").pair_target(Task.IMAGE_GEN, "A", scores=scores) == V2_PAIR
    dims = {"Alignment": 4, "Physics": 2.5, "Style": 3}
    assert get_protocol("v2").point_target(Task.VIDEO_GEN, 3.1666666666666665, dimensions=dims) == (
        "Alignment Score (1-5): 4\nPhysics Score (1-5): 2.5\nStyle Score (1-5): 3"
    )
    think = get_protocol("think")
    assert think.pair_target(Task.VIDEO_GEN, "B") == "<think></think>\n<answer>Video 2 is better</answer>"
    assert think.pair_target(Task.IMAGE_UND, "A", explanation="1: 8, 2: 5") == (
        "<think>\n1: 8, 2: 5\n</think>\n<answer>Answer 1 is better</answer>"
    )


@pytest.mark.parametrize(
    ("name", "task", "winner", "details"),
    [
        ("v1", Task.IMAGE_UND, "tie", {}),
        ("v1-qwen", Task.VIDEO_UND, "tie", {}),
        ("v2", Task.IMAGE_UND, "tie", {}),
        ("think", Task.IMAGE_GEN, "tie", {}),
        ("v1", Task.IMAGE_GEN, "C", {}),
        ("v2", Task.IMAGE_GEN, "A", {}),  # 2.0 pair targets need scores
        (
            "v2",
            Task.IMAGE_GEN,
            "B",
            {"scores": {"Alignment": (0.7, 0.3), "Coherence": (0.5, 0.5), "Style": (0.5, 0.5)}},
        ),  # scores say A
        (
            "v2",
            Task.IMAGE_GEN,
            "A",
            {"scores": {"Alignment": (0.7, 0.7), "Coherence": (0.5, 0.5), "Style": (0.5, 0.5)}},
        ),  # shares must sum to 1
    ],
)
def test_pair_target_rejects(name: str, task: Task, winner: str, details: dict) -> None:
    with pytest.raises(ValueError):
        get_protocol(name).pair_target(task, winner, **details)


@pytest.mark.parametrize(
    ("name", "task", "score", "details"),
    [
        ("v1", Task.IMAGE_GEN, 6, {}),
        ("v1", Task.VIDEO_GEN, 0, {}),
        ("v1", Task.IMAGE_GEN, 3, {"elements": [("cat", "object", 2)]}),
        ("v1", Task.VIDEO_GEN, 5, {"dimensions": {"visual quality": 5}}),
        ("v1", Task.VIDEO_GEN, 5, {"dimensions": {"sharpness": 3}}),
        ("v2", Task.IMAGE_GEN, 3, {}),
        ("v2", Task.IMAGE_GEN, 4, {"dimensions": {"Alignment": 3, "Coherence": 3, "Style": 3}}),  # mean is 3
        (
            "v2",
            Task.VIDEO_GEN,
            3,
            {"dimensions": {"Alignment": 3, "Coherence": 3, "Style": 3}},
        ),  # needs Physics
    ],
)
def test_point_target_rejects(name: str, task: Task, score: float, details: dict) -> None:
    with pytest.raises(ValueError):
        get_protocol(name).point_target(task, score, **details)


@pytest.mark.parametrize(
    ("value", "text"), [(10.0, "10"), (4, "4"), (3.5, "3.5"), (2 / 3, "0.67"), (0.1, "0.1")]
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


# --- conversations ----------------------------------------------------------------------------------------


class Frames(list):
    """A stand-in video source (a list of frames); identity shows the source is passed on as is."""


def _content_types(conversation) -> list[str]:
    (message,) = conversation.messages
    assert message["role"] == "user"
    return [part["type"] for part in message["content"]]


def _text(conversation) -> str:
    return conversation.messages[0]["content"][-1]["text"]


@pytest.mark.parametrize("name", PROTOCOL_NAMES)
def test_generation_pair_conversation(name: str) -> None:
    protocol = get_protocol(name)
    img_a, img_b = object(), object()
    conv = protocol.pair_conversation(PairItem(Task.IMAGE_GEN, "a red cat on a mat", img_a, img_b))
    assert _content_types(conv) == ["image", "image", "text"]
    assert [kind for kind, _ in conv.media] == ["image", "image"]
    assert conv.media[0][1] is img_a and conv.media[1][1] is img_b
    assert "a red cat on a mat" in _text(conv)

    vid_a, vid_b = Frames([1, 2]), Frames([3, 4])
    conv = protocol.pair_conversation(PairItem(Task.VIDEO_GEN, "a dog runs", vid_a, vid_b))
    assert _content_types(conv) == ["video", "video", "text"]
    assert conv.media[0] == ("video", vid_a) and conv.media[0][1] is vid_a and conv.media[1][1] is vid_b


@pytest.mark.parametrize("name", PROTOCOL_NAMES)
@pytest.mark.parametrize("task", UND)
def test_understanding_pair_conversation(name: str, task: Task) -> None:
    media = Frames([0]) if task.is_video else object()
    conv = get_protocol(name).pair_conversation(
        PairItem(task, "How many cats?", "Two cats.", "Three cats.", media)
    )
    kind = "video" if task.is_video else "image"
    assert _content_types(conv) == [kind, "text"]
    assert conv.media == [(kind, media)] and conv.media[0][1] is media
    text = _text(conv)
    assert text.index("How many cats?") < text.index("Two cats.") < text.index("Three cats.")


@pytest.mark.parametrize("name", PROTOCOL_NAMES)
@pytest.mark.parametrize("task", TASKS)
def test_point_conversation(name: str, task: Task) -> None:
    source = Frames([0]) if task.is_video else object()
    kind = "video" if task.is_video else "image"
    if task.is_generation:
        item = PointItem(task, "a red cat", source)
    else:
        item = PointItem(task, "What colour is the cat?", "Red.", media=source)
    conv = get_protocol(name).point_conversation(item)
    assert _content_types(conv) == [kind, "text"]
    assert conv.media[0][1] is source
    assert item.prompt in _text(conv)


@pytest.mark.parametrize("task", TASKS)
def test_prompts_state_the_exact_answer_format(task: Task) -> None:
    """A model can only emit the protocol's strings if the instruction shows them."""
    item = PairItem(task, "c", "a", "b") if task.is_generation else PairItem(task, "q", "a", "b", media="m")
    point = PointItem(task, "c", "a") if task.is_generation else PointItem(task, "q", "a", media="m")
    for name in ("v1", "v1-qwen"):
        protocol = get_protocol(name)
        text = _text(protocol.pair_conversation(item))
        assert all(choice in text for choice in protocol.pair_choices(task).values())
        assert "Final Score: N" in _text(protocol.point_conversation(point))
    think_text = _text(get_protocol("think").pair_conversation(item))
    assert f"<answer>{task.media_word} 2 is better</answer>" in think_text
    if task.is_generation:
        assert "Alignment Score:" in _text(get_protocol("v2").pair_conversation(item))
        assert "Style Score (1-5)" in _text(get_protocol("v2").point_conversation(point))


# --- logit choices, scales, format reward, lookup -----------------------------------------------------------


def test_pair_choices() -> None:
    assert get_protocol("v1").pair_choices(Task.IMAGE_GEN) == {
        "A": "Image 1 is better than Image 2.",
        "B": "Image 2 is better than Image 1.",
        "tie": "Both images are equally good.",
    }
    assert get_protocol("v1-qwen").pair_choices(Task.VIDEO_GEN)["A"] == "Video 1 is better."
    assert set(get_protocol("v1").pair_choices(Task.VIDEO_UND)) == {"A", "B"}
    for name in ("v1", "v1-qwen"):
        protocol = get_protocol(name)
        for task in TASKS:
            for outcome, text in protocol.pair_choices(task).items():
                assert protocol.parse_pair(task, text).winner == outcome


@pytest.mark.parametrize("name", ["v2", "think"])
def test_no_logit_choices_outside_v1(name: str) -> None:
    with pytest.raises(ValueError, match="decision='generate'"):
        get_protocol(name).pair_choices(Task.IMAGE_GEN)
    with pytest.raises(ValueError, match="decision='generate'"):
        get_protocol(name).point_choices(Task.IMAGE_GEN)


def test_point_choices_cover_the_scale() -> None:
    v1 = get_protocol("v1")
    assert v1.point_choices(Task.IMAGE_GEN) == PointChoices(
        "Final Score: ", {1.0: "1", 2.0: "2", 3.0: "3", 4.0: "4", 5.0: "5"}
    )
    und = v1.point_choices(Task.IMAGE_UND)
    assert list(und.values) == [float(v) for v in range(101)] and und.values[100.0] == "100"
    for task in TASKS:
        choices = v1.point_choices(task)
        for value, text in choices.values.items():
            assert v1.parse_point(task, choices.prefix + text).value == value


def test_scales() -> None:
    v1, v2 = get_protocol("v1"), get_protocol("v2")
    assert [v1.scale(t) for t in TASKS] == [(1, 5), (0, 100), (1, 10), (1, 5)]
    assert get_protocol("v1", image_gen_point_scale=(1, 10)).scale(Task.IMAGE_GEN) == (1, 10)
    assert [v2.scale(t) for t in TASKS] == [(1, 5), (0, 100), (1, 5), (1, 5)]
    assert get_protocol("think").scale(Task.VIDEO_GEN) == (1, 10)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<think>Image 1 scores 8, Image 2 scores 6.</think>\n<answer>Image 1 is better</answer>", True),
        ("  <think></think><answer>Image 2 is better</answer>\n", True),
        ("<answer>Image 1 is better</answer>", False),
        ("<answer>Image 1 is better</answer><think>x</think>", False),
        ("<think>x</think><answer>Image 1 is better</answer> Hope this helps!", False),
        ("<think>x</think><answer> </answer>", False),
        ("<think>x<think>y</think></think><answer>Image 1 is better</answer>", False),
        ("<think>x</think><answer>A</answer><answer>B</answer>", False),
        ("", False),
    ],
)
def test_format_ok(text: str, ok: bool) -> None:
    assert format_ok(text) is ok


def test_get_protocol() -> None:
    assert DEFAULT_PROTOCOL == "v1"
    assert set(PROTOCOL_NAMES) == {"v1", "v1-qwen", "v2", "think"}
    for name in PROTOCOL_NAMES:
        protocol = get_protocol(name)
        assert isinstance(protocol, Protocol) and protocol.name == name
    with pytest.raises(ValueError, match="unknown protocol 'v3'; choose one of: v1, v1-qwen, v2, think"):
        get_protocol("v3")
