"""Reward-model SFT on tiny models: loss masking, training, LoRA merge, resume and input errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import random_image, random_video
from unireward.media import FramePolicy
from unireward.protocols import get_protocol
from unireward.tasks import PairItem, PointItem
from unireward.train import RewardSFTCollator, RewardSFTConfig, sft_examples, train_reward_model
from unireward.train.sft import decode_source, encode_source

POLICY = FramePolicy(num_frames=2, max_pixels=None)


@pytest.fixture(autouse=True)
def one_thread():
    """Two shared cores: OpenMP spinning on both makes tiny-model steps ~50× slower under contention."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def examples(protocol: str = "v1") -> list[tuple]:
    """One pair and one point example of each of the four tasks, with valid targets."""
    p = get_protocol(protocol)
    return [
        (
            PairItem("image_gen", "a red circle", random_image(1), random_image(2), id="ig"),
            p.pair_target("image_gen", "A"),
        ),
        (
            PairItem("image_und", "What colour is it?", "Red.", "Blue.", media=random_image(3), id="iu"),
            p.pair_target("image_und", "B"),
        ),
        (
            PairItem("video_gen", "a triangle moving left", random_video(4, 4), random_video(5, 4), id="vg"),
            p.pair_target("video_gen", "tie"),
        ),
        (
            PairItem("video_und", "Which way?", "Left.", "Right.", media=random_video(6, 4), id="vu"),
            p.pair_target("video_und", "A"),
        ),
        (PointItem("image_gen", "a red circle", random_image(7), id="pig"), p.point_target("image_gen", 4)),
        (
            PointItem("image_und", "What colour?", "Red.", media=random_image(8), id="piu"),
            p.point_target("image_und", 90),
        ),
        (PointItem("video_gen", "a triangle", random_video(9, 4), id="pvg"), p.point_target("video_gen", 7)),
        (
            PointItem("video_und", "Which way?", "Left.", media=random_video(10, 4), id="pvu"),
            p.point_target("video_und", 5),
        ),
    ]


def config(model: str, out, **kw) -> RewardSFTConfig:
    base = dict(
        learning_rate=1e-3,
        per_device_batch_size=2,
        logging_steps=5,
        save_steps=1000,
        warmup_ratio=0.0,
        frame_policy=POLICY,
    )
    return RewardSFTConfig(model=model, output_dir=str(out), **{**base, **kw})


# -- collator --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["qwen2_vl", "llava_onevision"])
def test_collator_masks_everything_but_the_answer(tiny_model_dir, arch):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir(arch))
    tok = processor.tokenizer
    chosen = [examples()[0], examples()[7]]  # an image pair and a video point: different lengths, so padding
    rows = list(sft_examples(chosen, "v1"))
    collator = RewardSFTCollator(processor, POLICY)
    batch = collator(rows)

    assert "pixel_values" in batch and "pixel_values_videos" in batch
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    assert ids.shape == mask.shape == labels.shape
    assert mask[0].sum() != mask[1].sum()
    for b, (_, target) in enumerate(chosen):
        n = int(mask[b].sum())
        assert mask[b, :n].all() and not mask[b, n:].any()  # right-padded
        assert (labels[b, n:] == -100).all() and (ids[b, n:] == tok.pad_token_id).all()
        # Exactly the answer and the end-of-turn token carry loss, at the end of the sequence.
        expected = tok(target + "<|im_end|>", add_special_tokens=False)["input_ids"]
        k = len(expected)
        assert labels[b, n - k : n].tolist() == expected == ids[b, n - k : n].tolist()
        assert (labels[b, : n - k] == -100).all()
        assert tok.decode(labels[b, n - k : n]) == target + "<|im_end|>"
        # The unmasked prefix is the judge's prompt: the processor's encoding of the generation prompt.
        messages = json.loads(rows[b]["prompt"])
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        media = row_media(rows[b], collator.frame_policy)
        alone = processor(text=[prompt], return_tensors="pt", **media)["input_ids"][0]
        assert ids[b, : n - k].tolist() == alone.tolist()
    if "mm_token_type_ids" in batch:
        tt = batch["mm_token_type_ids"]
        assert tt.shape == ids.shape and (tt[labels != -100] == 0).all() and tt.sum() > 0


def row_media(row: dict, policy: FramePolicy) -> dict:
    from unireward.media import load_media

    loaded: dict = {}
    for e in row["media"]:
        loaded.setdefault(f"{e['kind']}s", []).append(load_media(e["kind"], decode_source(e), policy))
    return loaded


def test_sources_round_trip(tmp_path):
    img = random_image(1, 8)
    path = tmp_path / "a.png"
    img.save(path)
    arr = np.stack([np.asarray(random_image(k, 8)) for k in range(3)])
    for kind, src in [
        ("image", img),
        ("image", str(path)),
        ("image", path.read_bytes()),
        ("video", arr),
        ("video", [str(path), img]),
        ("image", np.asarray(img)),
    ]:
        entry = encode_source(kind, src)
        assert sum(x is not None and x != [] for x in (entry["path"], entry["data"], entry["frames"])) == 1
        back = decode_source(entry)
        if kind == "image":
            from unireward.media import load_image

            assert np.array_equal(np.asarray(load_image(back)), np.asarray(img))
        else:
            assert len(back) == (3 if isinstance(src, np.ndarray) else 2)


def test_media_load_at_collate_time_and_name_the_example(tiny_model_dir, tmp_path):
    from transformers import AutoProcessor

    from unireward.media import MediaError

    missing = str(tmp_path / "missing.png")
    item = PointItem("image_gen", "a red circle", missing, id="broken")
    ds = sft_examples([(item, "Final Score: 3")], "v1")  # only the path is stored: nothing is read yet
    assert ds[0]["media"][0]["path"] == missing
    collator = RewardSFTCollator(AutoProcessor.from_pretrained(tiny_model_dir("qwen2_vl")), POLICY)
    with pytest.raises(MediaError, match="broken"):
        collator(list(ds))


# -- training ---------------------------------------------------------------------------------------------


def test_training_lowers_loss_and_the_judge_reloads(tiny_model_dir, tmp_path):
    from unireward.judge import load_judge

    out = train_reward_model(
        config(tiny_model_dir("qwen2_vl"), tmp_path / "rm", protocol="v1-qwen", max_steps=30),
        examples("v1-qwen"),
    )
    history = json.loads((out / "log_history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    assert len(losses) >= 4
    assert losses[-1] < losses[0] - 0.5, losses
    meta = json.loads((out / "unireward.json").read_text())
    assert (
        meta["protocol"] == "v1-qwen" and meta["steps"] == 30 and meta["trained_by"] == "unireward.train.sft"
    )
    assert meta["frame_policy"] == POLICY.to_dict()
    assert (out / "train_log.jsonl").read_text().count("\n") == len(history)

    judge = load_judge(out, max_new_tokens=8)
    assert judge.protocol.name == "v1-qwen"  # picked up from unireward.json (the default is "v1")
    items = examples("v1-qwen")
    verdicts = judge.rank([it for it, _ in items[:4]])
    scores = judge.score([it for it, _ in items[4:]])
    assert all(v.ok and v.winner in ("A", "B", "tie") for v in verdicts)
    assert all(s.ok and s.scale[0] <= s.value <= s.scale[1] for s in scores)


def test_lora_saves_a_merged_loadable_model(tiny_model_dir, tmp_path):
    from transformers import AutoModelForImageTextToText

    from unireward.judge import load_judge

    base_dir = tiny_model_dir("qwen2_vl")
    out = train_reward_model(config(base_dir, tmp_path / "lora", lora=True, max_steps=3), examples()[:4])
    assert not any("lora" in k for k in load_file(out / "model.safetensors"))
    base = AutoModelForImageTextToText.from_pretrained(base_dir).state_dict()
    merged = AutoModelForImageTextToText.from_pretrained(out).state_dict()
    assert set(merged) == set(base)
    changed = {k for k in base if not torch.equal(base[k], merged[k])}
    # Only the language model's attention projections change (the vision tower is left alone).
    assert changed and all(re.search(r"language_model\..*self_attn\.[qkvo]_proj", k) for k in changed), (
        changed
    )
    assert any(k.endswith("q_proj.weight") for k in changed)
    verdicts = load_judge(out).rank([examples()[0][0]])
    assert verdicts[0].ok


def test_resume_continues_from_the_checkpoint(tiny_model_dir, tmp_path):
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        def __init__(self):
            self.seen = []

        def on_step_end(self, args, state, control, **kwargs):
            self.seen.append(state.global_step)

    model, out, data = tiny_model_dir("qwen2_vl"), tmp_path / "run", examples()[:4]
    first = Steps()
    train_reward_model(config(model, out, max_steps=4, save_steps=2), data, callbacks=[first])
    assert first.seen == [1, 2, 3, 4]
    assert (out / "checkpoint-2").is_dir() and (out / "checkpoint-4").is_dir()

    second = Steps()
    cfg = config(model, out, max_steps=6, save_steps=2, resume_from_checkpoint=str(out / "checkpoint-4"))
    train_reward_model(cfg, data, callbacks=[second])
    assert second.seen == [5, 6]
    assert json.loads((out / "unireward.json").read_text())["steps"] == 6


def test_eval_set_is_evaluated(tiny_model_dir, tmp_path):
    data = examples()
    out = train_reward_model(
        config(tiny_model_dir("qwen2_vl"), tmp_path / "ev", max_steps=2, eval_steps=2), data[:2], data[2:4]
    )
    history = json.loads((out / "log_history.json").read_text())
    assert any("eval_loss" in h and np.isfinite(h["eval_loss"]) for h in history)


# -- errors -----------------------------------------------------------------------------------------------


def test_empty_training_set_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no training examples"):
        sft_examples([], "v1")
    with pytest.raises(ValueError, match="no training examples"):
        train_reward_model(config("/nonexistent-model", tmp_path / "x", max_steps=1), [])


@pytest.mark.parametrize(
    "example",
    [
        (
            PairItem("image_und", "Q?", "a", "b", media=random_image(1), id="bad-pair"),
            "I like the first one.",
        ),
        (
            PairItem("image_und", "Q?", "a", "b", media=random_image(1), id="bad-pair"),
            "Both images are equally good.",
        ),
        (PointItem("video_und", "Q?", "a", media=random_video(1, 2), id="bad-point"), "Final Score: 9"),
    ],
)
def test_target_that_does_not_parse_back_is_an_error(tmp_path, example):
    good = examples()[:2]
    with pytest.raises(ValueError, match=r"example 2 \(id 'bad-(pair|point)'\).*does not parse back"):
        sft_examples([*good, example], "v1")
    # Validation happens before the model is loaded (the path does not exist).
    with pytest.raises(ValueError, match="does not parse back"):
        train_reward_model(config("/nonexistent-model", tmp_path / "x", max_steps=1), [*good, example])


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown protocol"):
        config("m", tmp_path, protocol="v9")
    with pytest.raises(ValueError, match="per_device_batch_size"):
        config("m", tmp_path, per_device_batch_size=0)


def text_row(i: int, chars: int, media: int = 0) -> dict:
    """A row whose `row_length` is `chars` + MEDIA_CHARS per media entry (prompt and answer split it)."""
    return {
        "id": str(i),
        "prompt": "p" * (chars // 2),
        "completion": "c" * (chars - chars // 2),
        "media": [{"kind": "image"}] * media,
    }


def test_length_grouped_regroups_each_window_into_sorted_batches_in_a_seeded_order():
    from unireward.train.sft import MEDIA_CHARS, length_grouped, row_length

    rng = np.random.default_rng(0)
    rows = [text_row(i, int(rng.integers(10, 500)), int(rng.integers(0, 3))) for i in range(48)]
    assert row_length(text_row(0, 101, 2)) == 101 + 2 * MEDIA_CHARS
    out = list(length_grouped(rows, batch_size=4, window=3, seed=7))
    assert list(length_grouped(rows, batch_size=4, window=3, seed=7)) == out
    assert [r["id"] for r in length_grouped(rows, 4, 3, seed=8)] != [r["id"] for r in out]
    for w in range(0, 48, 12):
        window, regrouped = rows[w : w + 12], out[w : w + 12]
        assert sorted(r["id"] for r in regrouped) == sorted(r["id"] for r in window)  # same rows, no mixing
        ordered = sorted(row_length(r) for r in window)
        batches = [sorted(row_length(r) for r in regrouped[b : b + 4]) for b in range(0, 12, 4)]
        assert sorted(batches) == [ordered[0:4], ordered[4:8], ordered[8:12]]  # whole sorted slices

    def padded(rs):
        return sum(4 * max(row_length(r) for r in rs[b : b + 4]) for b in range(0, len(rs), 4))

    assert padded(out) < 0.9 * padded(rows)  # 0.85 here; batches as drawn: 1.0
    assert list(length_grouped(rows, 4, 1)) == rows  # window 1: the stream's order


def test_length_grouped_keeps_whole_batches_before_a_short_last_window_and_checks_sizes():
    from unireward.train.sft import length_grouped, row_length

    rows = [text_row(i, 100 - i) for i in range(10)]  # two windows of 2 x 3 rows would need 12
    out = list(length_grouped(rows, batch_size=3, window=2, seed=0))
    assert len(out) == 10 and {r["id"] for r in out[:6]} == {str(i) for i in range(6)}
    assert [row_length(r) for r in out[6:]] == sorted(row_length(r) for r in rows[6:])
    for bad in ({"batch_size": 0, "window": 2}, {"batch_size": 2, "window": 0}):
        with pytest.raises(ValueError, match="must be >= 1"):
            list(length_grouped(rows, **bad))
