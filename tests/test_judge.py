"""The judge through the real Hugging Face backend on tiny models of two architectures."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from tests.conftest import random_image, random_video
from unireward.judge import Judge, JudgeConfig, load_judge
from unireward.judge.backend import Prepared
from unireward.judge.hf import covering_paths, decisive_prefixes
from unireward.tasks import PairItem, PointItem, Task


def pair_items() -> list[PairItem]:
    return [
        PairItem("image_gen", "a red circle above a blue square", random_image(1), random_image(2), id="ig"),
        PairItem("image_und", "What colour is the circle?", "Red.", "Blue.", media=random_image(3), id="iu"),
        PairItem("video_gen", "a green triangle moving left", random_video(4), random_video(5), id="vg"),
        PairItem("video_und", "Which way does it move?", "Left.", "Right.", media=random_video(6), id="vu"),
    ]


def point_items() -> list[PointItem]:
    return [
        PointItem("image_gen", "a red circle", random_image(7), id="ig"),
        PointItem("image_und", "What colour is the circle?", "Red.", media=random_image(8), id="iu"),
        PointItem("video_gen", "a green triangle moving left", random_video(9), id="vg"),
        PointItem("video_und", "Which way does it move?", "Left.", media=random_video(10), id="vu"),
    ]


def test_rank_logits_every_task(tiny_judge):
    verdicts = tiny_judge.rank(pair_items(), decision="logits")
    assert [v.id for v in verdicts] == ["ig", "iu", "vg", "vu"]
    for v, item in zip(verdicts, pair_items()):
        assert v.ok and v.decision == "logits" and v.protocol == "v1"
        assert math.isclose(sum(v.probs.values()), 1.0, abs_tol=1e-6)
        assert v.winner == max(v.probs, key=v.probs.get)
        if not item.task.is_generation:  # understanding tasks have no tie verdict
            assert v.probs["tie"] == 0.0 and v.winner in ("A", "B")
        assert (v.frame_policy is not None) == item.task.is_video


def test_score_logits_every_task(tiny_judge):
    scores = tiny_judge.score(point_items(), decision="logits")
    for s, item in zip(scores, point_items()):
        lo, hi = tiny_judge.protocol.scale(item.task)
        assert s.ok and lo <= s.value <= hi and s.scale == (lo, hi)
        assert math.isclose(sum(s.probs.values()), 1.0, abs_tol=1e-6)
        assert len(s.probs) == int(hi - lo + 1)  # every integer on the scale
        assert math.isclose(s.value, sum(float(k) * p for k, p in s.probs.items()), rel_tol=1e-9)


def test_generate_keeps_raw_text_and_counts_failures(tiny_judge):
    """Random weights do not speak the protocol: every answer must be a parse failure, never a default."""
    for result in tiny_judge.rank(pair_items(), decision="generate") + tiny_judge.score(
        point_items(), decision="generate"
    ):
        assert result.raw_text is not None
        if result.failure is not None:
            assert result.failure.kind == "parse"
            assert getattr(result, "winner", None) is None and getattr(result, "value", None) is None


def test_generate_batch_equals_one_at_a_time(tiny_model_dir):
    judge = load_judge(tiny_model_dir("qwen2_vl"), max_new_tokens=6, batch_size=4)
    judge.backend.model.generation_config.suppress_tokens = [
        judge.backend.tokenizer.convert_tokens_to_ids("Ċ")
    ]
    batched = judge.rank(pair_items(), decision="generate")
    single = [judge.rank([it], decision="generate")[0] for it in pair_items()]
    assert [v.raw_text for v in batched] == [v.raw_text for v in single]
    assert any(v.raw_text for v in batched)  # the suppressed newline forces visible tokens


def reference_logprob(backend, prepared: Prepared, prefix: list[int]) -> float:
    """log P(prefix | prompt) from one plain forward pass over prompt + prefix, no padding or batching."""
    enc = backend._encode([prepared])
    ids = torch.cat([enc["input_ids"], torch.tensor([prefix[:-1]], dtype=torch.long)], dim=1)
    enc["input_ids"], enc["attention_mask"] = ids, torch.ones_like(ids)
    if "mm_token_type_ids" in enc:
        mm = torch.zeros_like(ids)
        mm[:, : enc["mm_token_type_ids"].shape[1]] = enc["mm_token_type_ids"]
        enc["mm_token_type_ids"] = mm
    with torch.no_grad():
        logp = torch.log_softmax(backend.model(**enc).logits[0].float(), -1)
    start = ids.shape[1] - len(prefix)
    return sum(float(logp[start + j, t]) for j, t in enumerate(prefix))


def test_logits_batched_equal_unbatched_reference(tiny_judge):
    """Left padding plus right-appended paths must not change any probability: compare the batched
    decision with a plain forward pass over prompt + decisive prefix, one item and one path at a time."""
    backend = tiny_judge.backend
    items = pair_items()
    verdicts = tiny_judge.rank(items, decision="logits")
    for item, verdict in zip(items, verdicts):
        conv = tiny_judge.protocol.pair_conversation(item)
        prepared, _ = tiny_judge._prepare([conv], [item])
        p = prepared[0]
        choices = tiny_judge.protocol.pair_choices(item.task)
        toks = [
            backend.tokenizer(c, add_special_tokens=False)["input_ids"] + [backend.end_token_id]
            for c in choices.values()
        ]
        ref = [reference_logprob(backend, p, prefix) for prefix in decisive_prefixes(toks)]
        total = math.log(sum(math.exp(x) for x in ref))
        expected = {o: math.exp(x - total) for o, x in zip(choices, ref)}
        for o, p_ref in expected.items():
            assert verdict.probs[o] == pytest.approx(p_ref, abs=1e-4), (item.task, o)


def test_swap_combines_both_orders(tiny_judge):
    items = pair_items()
    forward = tiny_judge.rank(items, decision="logits")
    backward = tiny_judge.rank([it.swapped() for it in items], decision="logits")
    combined = tiny_judge.rank(items, decision="logits", swap=True)
    flip = {"A": "B", "B": "A", "tie": "tie"}
    for f, b, c in zip(forward, backward, combined):
        for o in ("A", "B", "tie"):
            assert c.probs[o] == pytest.approx((f.probs[o] + b.probs[flip[o]]) / 2, abs=1e-5)
        assert c.swap_consistent == (f.winner == flip[b.winner])


def test_bad_media_fails_only_that_item(tiny_judge, tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    empty_video = tmp_path / "empty.mp4"
    empty_video.write_bytes(b"")
    items = pair_items()
    items.insert(1, PairItem("image_gen", "a red circle", str(corrupt), random_image(0), id="bad-image"))
    items.append(PairItem("video_gen", "a cat", str(empty_video), random_video(0), id="bad-video"))
    verdicts = tiny_judge.rank(items)
    bad = {v.id: v for v in verdicts if not v.ok}
    assert set(bad) == {"bad-image", "bad-video"}
    assert all(v.failure.kind == "media" and v.winner is None for v in bad.values())
    assert "corrupt.png" in bad["bad-image"].failure.message
    assert "empty.mp4" in bad["bad-video"].failure.message
    assert sum(v.ok for v in verdicts) == 4


def test_shared_media_is_loaded_once(tiny_judge, monkeypatch):
    import unireward.judge.core as core

    calls = []
    real = core.load_media

    def counting(kind, src, *a, **kw):
        calls.append(src)
        return real(kind, src, *a, **kw)

    monkeypatch.setattr(core, "load_media", counting)
    shared = random_image(11)
    items = [PairItem("image_gen", "a red circle", shared, random_image(12 + k)) for k in range(3)]
    tiny_judge.rank(items)
    assert sum(1 for s in calls if s is shared) == 1 and len(calls) == 4


def test_qwen_videos_get_an_even_frame_count(tiny_model_dir):
    judge = load_judge(tiny_model_dir("qwen2_vl"))
    assert judge.backend.frame_multiple == 2 and judge.frame_policy.multiple_of == 2
    from unireward.media import FramePolicy

    odd = load_judge(tiny_model_dir("qwen2_vl"), frame_policy=FramePolicy(num_frames=7))
    item = PairItem("video_gen", "a cat", random_video(1, frames=7), random_video(2, frames=7))
    prepared, _ = odd._prepare([odd.protocol.pair_conversation(item)], [item])
    assert [len(v) for v in prepared[0].videos] == [8, 8]
    assert odd.rank([item])[0].ok


class ScriptedBackend:
    """Answers from a script, for the judge logic around generation (parsing, swapping)."""

    name = "scripted"
    frame_multiple = 1

    def __init__(self, answers):
        self.answers = list(answers)

    def generate(self, batch, max_new_tokens):
        return [self.answers.pop(0) for _ in batch]

    def continuation_logprobs(self, batch, continuations):
        return [[float("nan")] * len(c) for c in continuations]

    def describe(self):
        return {"backend": self.name}


def _img_pair(k=0):
    return PairItem("image_gen", "a red circle", random_image(k), random_image(k + 1))


def test_generate_parses_scripted_answers():
    judge = Judge(
        ScriptedBackend(
            ["Image 2 is better than Image 1.", "I cannot tell.", "Both images are equally good."]
        ),
        JudgeConfig(decision="generate"),
    )
    v = judge.rank([_img_pair(0), _img_pair(2), _img_pair(4)])
    assert [x.winner for x in v] == ["B", None, "tie"]
    assert v[1].failure.kind == "parse" and v[1].raw_text == "I cannot tell."


def test_generate_swap_disagreement_is_a_tie_not_a_default():
    # first order says Image 1; the swapped order also says Image 1 (= b): position bias, no real preference
    judge = Judge(
        ScriptedBackend(["Image 1 is better than Image 2.", "Image 1 is better than Image 2."]),
        JudgeConfig(decision="generate", swap=True),
    )
    v = judge.rank([_img_pair()])[0]
    assert v.winner == "tie" and v.swap_consistent is False and v.probs == {"A": 0.5, "B": 0.5, "tie": 0.0}
    judge = Judge(
        ScriptedBackend(["Image 1 is better than Image 2.", "Image 2 is better than Image 1."]),
        JudgeConfig(decision="generate", swap=True),
    )
    v = judge.rank([_img_pair()])[0]
    assert v.winner == "A" and v.swap_consistent is True


def test_generate_swap_failure_in_either_order_fails():
    judge = Judge(
        ScriptedBackend(["Image 1 is better than Image 2.", "no idea"]), JudgeConfig(decision="generate")
    )
    v = judge.rank([_img_pair()], swap=True)[0]
    assert v.winner is None and v.failure.kind == "parse" and "no idea" in v.raw_text


def test_scores_parse_as_numbers_not_strings():
    judge = Judge(ScriptedBackend(["Final Score: 10", "Final Score: 9"]), JudgeConfig(decision="generate"))
    items = [PointItem("video_gen", "a cat", random_video(k)) for k in (1, 2)]
    s = judge.score(items)
    assert [x.value for x in s] == [10.0, 9.0] and s[0].value > s[1].value


def test_nan_logprobs_raise():
    judge = Judge(ScriptedBackend([]), JudgeConfig(decision="logits"))
    with pytest.raises(FloatingPointError, match="NaN"):
        judge.rank([_img_pair()])


def test_config_errors():
    with pytest.raises(ValueError, match="decision"):
        JudgeConfig(decision="vote")
    with pytest.raises(ValueError, match="batch_size"):
        JudgeConfig(batch_size=0)
    with pytest.raises(ValueError, match="backend"):
        load_judge("x", backend="tgi")
    with pytest.raises(ValueError, match="no logit decision"):
        Judge(ScriptedBackend([]), JudgeConfig(protocol="think")).rank([_img_pair()])


def test_items_validate():
    with pytest.raises(ValueError, match="media"):
        PairItem("image_und", "What?", "a", "b")
    with pytest.raises(ValueError, match="unknown task"):
        PairItem("audio_gen", "x", "a", "b")
    with pytest.raises(ValueError, match="prompt"):
        PointItem(Task.IMAGE_GEN, " ", random_image(0))


def test_decisive_prefixes_and_paths():
    verdicts = [[5, 1, 9, 2, 0], [5, 2, 9, 1, 0], [7, 8, 0]]  # Image 1 ..., Image 2 ..., Both ...
    pref = decisive_prefixes(verdicts)
    assert pref == [[5, 1], [5, 2], [7]]
    assert covering_paths([p[:-1] for p in pref]) == [[5]]  # one forward pass decides all three
    scores = [[3, 0], [3, 1, 0], [1, 0, 0, 0]]  # "3", "31", "100" each ended by 0
    pref = decisive_prefixes(scores)
    assert pref == [[3, 0], [3, 1], [1]]
    with pytest.raises(ValueError, match="distinct"):
        decisive_prefixes([[1, 0], [1, 0]])


def test_prepared_cost_orders_batches():
    small = Prepared([{"role": "user", "content": "hi"}])
    big = Prepared([{"role": "user", "content": [{"type": "image"}]}], images=[random_image(0, 128)])
    assert big.cost() > small.cost()


def test_qwen2_5_vl_judges_images_and_videos(tiny_model_dir):
    judge = load_judge(tiny_model_dir("qwen2_5_vl"))
    verdicts = judge.rank(pair_items())
    scores = judge.score(point_items())
    assert all(v.ok for v in verdicts) and all(s.ok for s in scores)
    assert type(judge.backend.model).__name__ == "Qwen2_5_VLForConditionalGeneration"


def test_model_records_how_it_should_be_asked(tiny_model_dir, tmp_path):
    import json
    import shutil

    path = tmp_path / "m"
    shutil.copytree(tiny_model_dir("qwen2_vl"), path)
    (path / "unireward.json").write_text(json.dumps({"protocol": "v1-qwen", "decision": "generate"}))
    judge = load_judge(path)
    assert judge.protocol.name == "v1-qwen" and judge.config.decision == "generate"
    assert load_judge(path, decision="logits").config.decision == "logits"  # explicit wins
    assert judge.config.swap is False and judge.config.point_decision is None
    recorded = {"protocol": "v1-qwen", "decision": "reason", "swap": True, "point_decision": "generate"}
    (path / "unireward.json").write_text(json.dumps(recorded))
    cfg = load_judge(path).config
    assert (cfg.decision, cfg.swap, cfg.point_decision) == ("reason", True, "generate")
    assert load_judge(path, swap=False).config.swap is False
    # an explicit decision replaces the recorded choice as a whole: both modes, no swap unless asked
    cfg = load_judge(path, decision="logits").config
    assert (cfg.decision, cfg.swap, cfg.point_decision) == ("logits", False, None)


def test_point_decision_decides_scores_and_is_validated(tiny_model_dir):
    judge = load_judge(tiny_model_dir("qwen2_vl"), decision="logits")
    judge.config.point_decision = "generate"
    scores = judge.score(point_items())
    assert {s.decision for s in scores} == {"generate"} and all(s.raw_text is not None for s in scores)
    assert {v.decision for v in judge.rank(pair_items())} == {"logits"}
    assert {s.decision for s in judge.score(point_items(), decision="logits")} == {"logits"}
    assert judge.describe()["point_decision"] == "generate"
    with pytest.raises(ValueError, match="point_decision must be one of"):
        JudgeConfig(point_decision="vote")


def test_in_memory_model_judges_like_the_loaded_one(tiny_model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from unireward.judge.hf import HFBackend

    path = tiny_model_dir("qwen2_vl")
    loaded = load_judge(path)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    wrapped = Judge(HFBackend.from_model(model, AutoProcessor.from_pretrained(path)), JudgeConfig())
    a, b = loaded.rank(pair_items()), wrapped.rank(pair_items())
    for x, y in zip(a, b):
        assert x.winner == y.winner and x.probs["A"] == pytest.approx(y.probs["A"], abs=1e-6)


def test_videos_become_frames_for_image_only_processors(tiny_model_dir):
    from unireward.judge.hf import videos_as_images

    a, b = random_video(1, frames=2), random_video(2, frames=2)
    img = random_image(3)
    conv = Prepared(
        [
            {
                "role": "user",
                "content": [
                    {"type": "video"},
                    {"type": "image"},
                    {"type": "video"},
                    {"type": "text", "text": "which?"},
                ],
            }
        ],
        images=[img],
        videos=[a, b],
    )
    flat = videos_as_images(conv)
    assert flat.videos == [] and flat.images == [a[0], a[1], img, b[0], b[1]]
    assert [p["type"] for p in flat.messages[0]["content"]] == ["image"] * 5 + ["text"]
    judge = load_judge(tiny_model_dir("qwen2_vl"))
    judge.backend.supports_video = False  # as for Idefics3 / SmolVLM-style processors
    verdicts = judge.rank(pair_items())
    assert all(v.ok for v in verdicts)


def test_openai_backend_needs_a_server_and_a_name():
    with pytest.raises(ValueError, match="base_url"):
        load_judge("served-model", backend="openai")
    with pytest.raises(ValueError, match="served model name"):
        load_judge(None, backend="openai", base_url="http://127.0.0.1:9/v1")


class RecordingBackend(ScriptedBackend):
    """Scripted answers; log-probabilities from a table keyed by how a continuation ends."""

    def __init__(self, answers, logprob_by_ending):
        super().__init__(answers)
        self.table = logprob_by_ending
        self.asked: list[list[str]] = []

    def continuation_logprobs(self, batch, continuations):
        self.asked.extend(continuations)
        return [
            [next(v for k, v in self.table.items() if c.endswith(k)) for c in conts]
            for conts in continuations
        ]


def test_reason_replaces_a_self_contradicting_verdict_by_a_legal_one():
    """The model wrote `Answer 1 ... than Answer 1` (a parse failure under "generate"); "reason" scores the
    two legal verdicts after the reasoning it wrote, so the item gets a verdict and probabilities."""
    answer = "Answer 1: wrong\nAnswer 2: right\nOverall Judgment: Answer 1 is better than Answer 1."
    item = PairItem("video_und", "Which way?", "Left.", "Right.", media=random_video(1))
    table = {
        "Answer 1 is better than Answer 2.": math.log(0.2),
        "Answer 2 is better than Answer 1.": math.log(0.8),
    }
    backend = RecordingBackend([answer], table)
    v = Judge(backend, JudgeConfig(decision="reason")).rank([item])[0]
    assert v.ok and v.winner == "B" and v.raw_text == answer
    assert v.probs["B"] == pytest.approx(0.8) and v.probs["A"] == pytest.approx(0.2)
    assert all(
        c.startswith("Answer 1: wrong\nAnswer 2: right\nOverall Judgment: Answer ") for c in backend.asked[0]
    )
    generated = Judge(ScriptedBackend([answer]), JudgeConfig(decision="generate")).rank([item])[0]
    assert generated.failure.kind == "parse"


def test_reason_scores_are_expected_values_after_the_reasoning():
    answer = "visual quality: 3\nFinal Score: 7"
    table = {f"Final Score: {n}": (math.log(0.5) if n in (6, 8) else -1e9) for n in range(10, 0, -1)}
    backend = RecordingBackend([answer], table)
    s = Judge(backend, JudgeConfig(decision="reason")).score(
        [PointItem("video_gen", "a cat", random_video(2))]
    )[0]
    assert s.value == pytest.approx(7.0) and s.raw_text == answer
    assert {c.partition("\n")[0] for c in backend.asked[0]} == {"visual quality: 3"}


def test_reason_follows_the_written_reasoning_on_a_real_model(tiny_judge, monkeypatch):
    """With a one-line answer "reason" is exactly "logits"; with reasoning before the verdict its
    probabilities are those of a plain forward pass over prompt + reasoning + verdict."""
    from unireward.judge.core import reasoning

    assert reasoning("a\nb\nImage 1 is better.") == "a\nb\n" and reasoning("Image 1 is better.") == ""
    backend = tiny_judge.backend
    item = pair_items()[0]
    monkeypatch.setattr(backend, "generate", lambda batch, n: ["Image 2 is better."] * len(batch))
    one_line = tiny_judge.rank([item], decision="reason")[0]
    logits = tiny_judge.rank([item], decision="logits")[0]
    assert one_line.probs == pytest.approx(logits.probs, abs=1e-6)

    written = "red circle: missing\nblue square: present\n"
    monkeypatch.setattr(backend, "generate", lambda batch, n: [written + "Image 1 is better."] * len(batch))
    v = tiny_judge.rank([item], decision="reason")[0]
    prepared, _ = tiny_judge._prepare([tiny_judge.protocol.pair_conversation(item)], [item])
    choices = tiny_judge.protocol.pair_choices(item.task)
    toks = [
        backend.tokenizer(written + c, add_special_tokens=False)["input_ids"] + [backend.end_token_id]
        for c in choices.values()
    ]
    # The tokens that tell the verdicts apart, after the written reasoning.
    ref = {
        o: reference_logprob(backend, prepared[0], pre) for o, pre in zip(choices, decisive_prefixes(toks))
    }
    # Compare log-odds: a random tiny model's verdict probabilities move little with the context.
    odds = {o: math.log(v.probs[o] / v.probs["A"]) for o in ref}
    for outcome, x in ref.items():
        assert odds[outcome] == pytest.approx(x - ref["A"], abs=1e-4), outcome
    without = {o: math.log(logits.probs[o] / logits.probs["A"]) for o in ref}
    assert max(abs(odds[o] - without[o]) for o in ref) > 1e-3  # the reasoning is in the context


class SamplingBackend(ScriptedBackend):
    """Answers scripted per draw: `draws[k]` holds the answers of the k-th sampled pass, one per item.
    Records the temperature and seed of every pass."""

    def __init__(self, draws, logprob_by_ending=None):
        super().__init__([])
        self.draws = [list(d) for d in draws]
        self.table = logprob_by_ending or {}
        self.calls: list[tuple[float, int | None]] = []

    def generate(self, batch, max_new_tokens, temperature=0.0, seed=None):
        self.calls.append((temperature, seed))
        return [self.draws[len(self.calls) - 1].pop(0) for _ in batch]

    def continuation_logprobs(self, batch, continuations):
        return [
            [self.table[c.rpartition("\n")[0]][c.rpartition("\n")[2]] for c in conts]
            for conts in continuations
        ]


def test_sampled_generate_votes_and_counts_unparsed_samples():
    item = _img_pair()
    a, b = "Image 1 is better than Image 2.", "Image 2 is better than Image 1."
    backend = SamplingBackend([[a], ["no verdict"], [a], [b]])
    config = JudgeConfig(decision="generate", samples=4, temperature=0.7, seed=10)
    v = Judge(backend, config).rank([item])[0]
    assert backend.calls == [(0.7, 10), (0.7, 11), (0.7, 12), (0.7, 13)]
    assert v.ok and v.winner == "A" and v.samples == 4 and v.failed_samples == 1
    assert v.probs == pytest.approx({"A": 2 / 3, "B": 1 / 3, "tie": 0.0})
    assert v.raw_text.split("\n") == [
        "[sample 1]",
        a,
        "[sample 2]",
        "no verdict",
        "[sample 3]",
        a,
        "[sample 4]",
        b,
    ]

    level = Judge(SamplingBackend([[a], [b]]), dataclasses.replace(config, samples=2)).rank([item])[0]
    assert level.winner == "tie" and level.probs["A"] == level.probs["B"] == 0.5

    none = Judge(SamplingBackend([["?"], ["??"]]), dataclasses.replace(config, samples=2)).rank([item])[0]
    assert none.winner is None and none.failure.kind == "parse" and none.failed_samples == 2
    assert "[sample 2]\n??" in none.raw_text


def test_sampled_generate_swap_averages_vote_shares_of_both_orders():
    a, b = "Image 1 is better than Image 2.", "Image 2 is better than Image 1."
    # (a, b) draws A, A, B; then (b, a) draws "Image 2" three times, which is A in (a, b) terms.
    backend = SamplingBackend([[a], [a], [b], [b], [b], [b]])
    v = Judge(backend, JudgeConfig(decision="generate", samples=3, swap=True)).rank([_img_pair()])[0]
    assert backend.calls == [(1.0, 0), (1.0, 1), (1.0, 2)] * 2
    assert v.winner == "A" and v.swap_consistent is True
    assert v.probs == pytest.approx({"A": 5 / 6, "B": 1 / 6, "tie": 0.0})
    assert v.samples == 6 and v.failed_samples == 0


def test_sampled_points_average_written_scores_or_expected_values():
    item = PointItem("video_und", "Which way?", "Left.", media=random_video(3))
    draws = [["Final Score: 4"], ["Final Score: 5"], ["Final Score: 4"], ["nothing"]]
    s = Judge(SamplingBackend(draws), JudgeConfig(decision="generate", samples=4)).score([item])[0]
    assert s.value == pytest.approx(13 / 3) and s.failed_samples == 1 and s.samples == 4
    assert s.probs == pytest.approx({"4": 2 / 3, "5": 1 / 3})

    # "reason": each sample's reasoning gives its own score distribution; the judge averages them.
    first = {f"Final Score: {n}": math.log(1.0 if n == 2 else 1e-12) for n in range(1, 6)}
    second = {f"Final Score: {n}": math.log(0.5 if n in (4, 5) else 1e-12) for n in range(1, 6)}
    backend = SamplingBackend(
        [["left, fast\nFinal Score: 2"], ["right, slow\nFinal Score: 5"]],
        {"left, fast": first, "right, slow": second},
    )
    r = Judge(backend, JudgeConfig(decision="reason", samples=2, temperature=0.5)).score([item])[0]
    assert r.value == pytest.approx((2 + 4.5) / 2, abs=1e-6)
    assert r.probs["2"] == pytest.approx(0.5) and r.probs["5"] == pytest.approx(0.25)
    assert r.raw_text.startswith("[sample 1]\nleft, fast") and r.samples == 2 and r.failed_samples == 0


def test_sampled_reason_verdict_averages_the_verdict_probabilities():
    item = PairItem("video_und", "Which way?", "Left.", "Right.", media=random_video(1))
    judge_config = JudgeConfig(decision="reason", samples=3)
    one, two = Judge(ScriptedBackend([]), judge_config).protocol.pair_choices(item.task).values()
    table = {
        "Answer 1: right": {one: math.log(0.9), two: math.log(0.1)},
        "Answer 1: wrong": {one: math.log(0.4), two: math.log(0.6)},
    }
    draws = [["Answer 1: right\nx"], ["Answer 1: wrong\nx"], ["Answer 1: wrong\nx"]]
    v = Judge(SamplingBackend(draws, table), judge_config).rank([item])[0]
    assert v.probs["A"] == pytest.approx((0.9 + 0.4 + 0.4) / 3) and v.winner == "A"
    assert v.samples == 3 and v.raw_text.count("[sample ") == 3


def test_sampling_needs_a_temperature_and_a_positive_count():
    with pytest.raises(ValueError, match="temperature above 0"):
        JudgeConfig(decision="reason", samples=3, temperature=0.0)
    with pytest.raises(ValueError, match="samples must be at least 1"):
        JudgeConfig(samples=0)
    # One sample stays greedy: a backend that only knows greedy decoding is called as before.
    v = Judge(ScriptedBackend(["Image 1 is better than Image 2."]), JudgeConfig(decision="generate"))
    assert v.rank([_img_pair()])[0].samples is None


def test_hf_sampling_is_seeded_and_leaves_the_global_generator_alone(tiny_model_dir):
    judge = load_judge(tiny_model_dir("qwen2_vl"), max_new_tokens=12)
    backend = judge.backend
    prepared, _ = judge._prepare(
        [judge.protocol.pair_conversation(it) for it in pair_items()[:2]], pair_items()[:2]
    )
    batch = [prepared[0], prepared[1]]
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = backend.generate(batch, 12, temperature=1.0, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    assert backend.generate(batch, 12, temperature=1.0, seed=5) == first
    others = [backend.generate(batch, 12, temperature=1.0, seed=s) for s in (6, 7, 8)]
    assert any(o != first for o in others)  # a random tiny model's next-token distribution is broad
    greedy = backend.generate(batch, 12)
    assert backend.generate(batch, 12) == greedy
