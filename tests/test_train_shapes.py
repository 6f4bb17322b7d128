"""The shapes training recipe end to end at toy size: data, model, budgeted training, held-out curve."""

from __future__ import annotations

import collections
import dataclasses
import json
import re

import pytest
import torch

from unireward.judge import load_judge
from unireward.tiny import TinySpec
from unireward.train.shapes import PROTOCOL, ShapesTrainingConfig, train_on_shapes


def toy_config(work_dir, tasks: tuple[str, ...], **kw) -> ShapesTrainingConfig:
    """Two records per task and mode, a 56 px model, evaluation on the training tasks, no vision stage."""
    base = dict(
        records_per_task_mode=2,
        eval_n=1,
        eval_tasks=tasks,
        batch_size=2,
        spec=TinySpec(image_size=56),
        vision_minutes=0.0,
    )
    return ShapesTrainingConfig(work_dir=str(work_dir), tasks=tasks, **{**base, **kw})


def row_kinds(rows) -> list[str]:
    """Each stream row's kind: its mode for task rows, its id's prefix for drills ("change", "palette")."""
    return [r["id"].split("-")[0] if r["mode"] == "drill" else r["mode"] for r in rows]


def test_train_on_shapes_writes_a_curve_and_a_loadable_reasoning_model(tmp_path):
    config = toy_config(
        tmp_path,
        ("image_gen", "video_und"),
        max_steps=4,
        eval_every=2,
        eval_tasks=("image_gen",),
        num_frames=4,
    )
    result = train_on_shapes(config)
    assert result.steps == 4
    assert [p["step"] for p in result.curve] == [2, 4]
    assert set(result.curve[0]) >= {
        "step",
        "minutes",
        "image_gen/pair_without_ties",
        "image_gen/point_spearman",
    }
    assert not any(k.startswith("video") for k in result.curve[0])  # evaluated on eval_tasks only
    lines = (tmp_path / "curve.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [2, 4]
    judge = load_judge(result.model_dir)
    assert judge.protocol.name == PROTOCOL and judge.config.decision == "reason" and judge.config.swap
    assert judge.config.point_decision == "generate"  # it reasons before answering, in both modes


def test_fresh_stream_trains_and_matches_the_exported_records(tmp_path):
    import itertools

    from unireward.data.records import Record, export_shapes, load_records, record_example
    from unireward.protocols import get_protocol
    from unireward.train.shapes import shapes_sft_stream

    rows = list(itertools.islice(iter(shapes_sft_stream(("image_gen", "video_und"), seed=4)), 8))
    assert [(r["task"], r["mode"]) for r in rows[:4]] == [
        ("image_gen", "pair"),
        ("image_gen", "point"),
        ("video_und", "pair"),
        ("video_und", "point"),
    ]
    again = list(itertools.islice(iter(shapes_sft_stream(("image_gen", "video_und"), seed=4)), 8))
    assert [r["completion"] for r in rows] == [r["completion"] for r in again]
    # The k-th stream row of a (task, mode) is the k-th exported record of it: the same targets.
    directory = export_shapes(tmp_path / "x", 2, seed=4, tasks=("image_gen", "video_und"), explain=True)
    protocol = get_protocol(PROTOCOL)
    exported = {}
    for row in load_records(directory):
        rec = Record.from_row(row)
        exported.setdefault((rec.task, rec.mode), []).append(record_example(rec, directory, protocol)[1])
    streamed = {}
    for r in rows:
        streamed.setdefault((r["task"], r["mode"]), []).append(r["completion"])
    assert streamed == exported

    result = train_on_shapes(
        toy_config(tmp_path / "run", ("image_gen",), records_per_task_mode=None, max_steps=3)
    )
    assert result.steps == 3 and not (tmp_path / "run" / "data").exists()
    meta = json.loads((result.model_dir / "unireward.json").read_text())
    assert meta["train_examples"] == "stream"
    assert meta["balanced_checks"] is False and meta["describe"] == ""


def test_balanced_checks_and_descriptions_reach_the_stream_and_the_exported_records(tmp_path):
    import itertools

    from unireward.data.records import Record, export_shapes, load_records, record_example
    from unireward.protocols import get_protocol
    from unireward.train.shapes import shapes_sft_stream

    def streamed(**kw):
        rows = itertools.islice(iter(shapes_sft_stream(("image_gen",), seed=4, **kw)), 40)
        return [r["completion"] for r in rows if r["mode"] == "point"]

    balanced = streamed(balanced_checks=True)
    assert balanced != streamed()
    zeros = sum(line.endswith("(object): 0") for c in balanced for line in c.splitlines())
    objects = sum(line.endswith(("(object): 0", "(object): 1")) for c in balanced for line in c.splitlines())
    assert objects > 20 and zeros / objects > 0.3
    directory = export_shapes(
        tmp_path / "b", 2, seed=4, tasks=("image_gen",), modes=("point",), explain=True, balanced_checks=True
    )
    protocol = get_protocol(PROTOCOL)
    exported = [record_example(Record.from_row(r), directory, protocol)[1] for r in load_records(directory)]
    assert exported == balanced[:2]
    described = streamed(balanced_checks=True, describe="shows")
    assert all(c.startswith("Image shows: ") for c in described)
    assert [c.partition("\n")[2] for c in described] == balanced  # the same draws, described first
    looked_up = streamed(balanced_checks=True, describe="lookup")
    assert all(": sees " in c.splitlines()[1] for c in looked_up)
    assert [c.replace(": sees", "") for c in looked_up] != described
    drop_lookups = ["\n".join(ln for ln in c.splitlines() if ": sees " not in ln) for c in looked_up]
    assert drop_lookups == described  # the same draws, each caption object looked up before the quality
    directory = export_shapes(
        tmp_path / "d",
        2,
        seed=4,
        tasks=("image_gen",),
        modes=("point",),
        explain=True,
        balanced_checks=True,
        describe="shows",
    )
    exported = [record_example(Record.from_row(r), directory, protocol)[1] for r in load_records(directory)]
    assert exported == described[:2]


def test_learning_rate_follows_the_clock():
    from unireward.train.shapes import budget_lr_factor

    assert budget_lr_factor(0, 100, 0.25) == 1.0
    assert budget_lr_factor(75, 100, 0.25) == 1.0  # decay starts with the last quarter
    assert budget_lr_factor(87.5, 100, 0.25) == pytest.approx(0.55)
    assert budget_lr_factor(100, 100, 0.25) == budget_lr_factor(130, 100, 0.25) == pytest.approx(0.1)
    assert budget_lr_factor(99, 100, 0.0) == 1.0  # no decay asked


def test_budget_stops_training(tmp_path):
    config = toy_config(tmp_path, ("image_und",), minutes=0.0, max_steps=50, eval_every=1000)
    result = train_on_shapes(config)
    assert result.steps == 1 and len(result.curve) == 1  # stopped after the first step, evaluated once


def test_default_model_assets_have_a_model_card_and_a_curve(tmp_path):
    import argparse

    config = toy_config(tmp_path / "work", ("image_gen",), max_steps=2, eval_every=1)
    result = train_on_shapes(config)
    module = train_script()
    out = tmp_path / "assets"
    args = argparse.Namespace(out=out, n=2, lr=1e-3, lr_decay_share=0.5, batch_size=2, eval_n=1)
    module.write_assets(result, args)
    card = (out / "README.md").read_text()
    assert "| image_gen |" in card and "![learning curve](learning_curve.png)" in card
    assert "falling to a tenth over the last 50% of the budget" in card
    assert (out / "learning_curve.png").stat().st_size > 1000
    assert len((out / "learning_curve.jsonl").read_text().splitlines()) == 2
    meta = json.loads((out / "unireward.json").read_text())
    assert meta["protocol"] == PROTOCOL
    assert (meta["decision"], meta["swap"], meta["point_decision"]) == ("reason", True, "generate")
    loaded = load_judge(out).config
    assert (loaded.protocol, loaded.decision, loaded.swap, loaded.point_decision) == (
        PROTOCOL,
        "reason",
        True,
        "generate",
    )
    # Stored in bfloat16: half the file, the config says so, and the judge loads them back as float32.
    halved = tmp_path / "assets-bf16"
    module.write_assets(
        result, argparse.Namespace(**{**vars(args), "out": halved, "store_dtype": "bfloat16"})
    )
    from safetensors.torch import load_file

    full, half = (load_file(d / "model.safetensors") for d in (out, halved))
    assert all(half[k].dtype == torch.bfloat16 and torch.equal(half[k], full[k].bfloat16()) for k in full)
    assert (halved / "model.safetensors").stat().st_size < 0.6 * (out / "model.safetensors").stat().st_size
    assert json.loads((halved / "config.json").read_text())["text_config"]["dtype"] == "bfloat16"
    assert json.loads((halved / "unireward.json").read_text())["stored_dtype"] == "bfloat16"
    assert "stored in bfloat16" in (halved / "README.md").read_text() and "stored in" not in card
    reloaded = load_judge(halved, dtype="float32").backend.model
    assert next(reloaded.parameters()).dtype == torch.float32
    fresh = argparse.Namespace(n=None, batch_size=8)
    warm = {
        "describe": "lookup-checks",
        "lookup_drills": 3,
        "drill_warmup": {"lookup_drills": 24, "cycles": 1000},
    }
    line = module.data_description({**warm, "steps": 10}, fresh)
    assert line.startswith("fresh draws (80 rows, none") and "(point answers too)" in line
    assert "24 text-only lookup drills after each of the first 1,000 cycles of 8 task rows, then 3" in line
    plain = module.data_description({"describe": "lookup", "lookup_drills": 3}, fresh)
    assert "3 text-only lookup drills after every 8 task rows" in plain and "point answers" not in plain
    assert plain.startswith("fresh draws (0 rows, of which 3 in 11 text-only drills; none repeated)")
    videos = module.data_description({"describe": "lookup-checks+videos"}, fresh)
    assert "(point answers too)" in videos and "what each video shows" in videos
    assert "last look" not in videos
    ends = module.data_description({"describe": "colours+videos-ends"}, fresh)
    assert "what each video shows (each object's last look too, changed or not)" in ends
    assert "side by side" not in ends
    checked = module.data_description({"describe": "colours+videos-ends-checked"}, fresh)
    assert "last look too" in checked and "change questions write the start and end side by side" in checked
    assert "order questions" not in checked and "start and end colour and shape" not in checked
    changes = module.data_description({"describe": "colours+videos-ends-checked-changes"}, fresh)
    assert "before rating, then the subject's start and end colour and shape side by side" in changes
    assert "change questions write the start and end side by side" in changes
    ordered = module.data_description({"describe": "colours+videos-ends-checked-order"}, fresh)
    assert "side by side before the answer, order questions when each object appears" in ordered
    assert "in the description's order" not in ordered
    described = module.data_description({"describe": "colours+videos-ends-checked-order-described"}, fresh)
    assert "order questions when each object appears in the description's order" in described
    named = module.data_description({"describe": "colours", "lookup_drills": 3, "name_drills": 2}, fresh)
    assert named.startswith("fresh draws (0 rows, of which 5 in 13 text-only drills;")
    assert "2 text-only naming drills" in named and "names appear in training text (never in" in named
    assert "training text" not in plain
    no_drills = module.data_description({"describe": "colours", "drill_split": "any"}, fresh)
    assert "training text" not in no_drills  # no drills, so nothing was drawn over every pair
    compared = module.data_description({"describe": "colours", "comparison_drills": 2}, fresh)
    assert "of which 2 in 10 text-only drills" in compared and "2 text-only understanding-check" in compared
    tail = {"comparison_drills": 4, "from_cycle": 3000}
    tailed = module.data_description(
        {"describe": "colours", "comparison_drills": 2, "comparison_tail": tail}, fresh
    )
    assert "of which" not in tailed and "4 understanding-check drills per cycle from cycle 3,000 on" in tailed
    changes_drilled = module.data_description(
        {"describe": "colours+videos-ends-checked-changes", "change_drills": 2}, fresh
    )
    assert "of which 2 in 10 text-only drills" in changes_drilled
    assert "2 text-only change-line drills after every 8 task rows (half" in changes_drilled
    assert "drawn over every colour×shape pair, so held-out pairs' names appear in their text)" in (
        changes_drilled
    )
    assert "the drills' scenes" not in changes_drilled  # the other drills keep the train split
    tied = module.data_description({"describe": "colours", "und_tie_rate": 0.1}, fresh)
    assert "; 10% of understanding pairs score equal, their verdict naming Answer 1" in tied
    everywhere = {"image_gen", "image_und", "video_gen", "video_und"}
    noised = module.data_description(
        {"describe": "colours", "name_noise": 0.2, "name_noise_tasks": everywhere}, fresh
    )
    assert "; in 20% of the image descriptions the model read one object's colour word replaced" in noised
    only_gen = module.data_description(
        {"describe": "colours", "name_noise": 0.1, "name_noise_tasks": ["image_gen"]}, fresh
    )
    assert "; in 10% of the image descriptions of image_gen rows the model read" in only_gen
    assert "score equal" not in module.data_description({"describe": "colours", "und_tie_rate": 0.0}, fresh)
    only_videos = module.data_description({"describe": "+videos"}, fresh)
    assert "each video shows" in only_videos and "each image shows" not in only_videos
    slips = module.data_description({"describe": "colours", "description_slips": 0.3}, fresh)
    assert "; 30% of the image-generation rows follow a misread description" in slips
    assert "misread" not in module.data_description({"describe": "colours", "description_slips": 0.0}, fresh)
    assert "held-out colour" not in slips
    held = module.data_description(
        {"describe": "colours", "description_slips": 0.3, "held_out_slips": 0.5}, fresh
    )
    assert "misread description (50% of them with the shape's held-out colour): one object" in held
    und = module.data_description(
        {"describe": "colours", "description_slips": 0.3, "held_out_slips": 1.0, "image_und_slips": 0.2},
        fresh,
    )
    assert "; 20% of the image-understanding rows follow a misread image (100% of them with" in und
    assert "image-understanding rows follow" not in held
    video = module.data_description({"describe": "colours+videos-ends", "video_und_slips": 0.3}, fresh)
    assert "; 30% of the video-understanding rows follow a misread video: one look of one object" in video
    assert "video-understanding rows follow" not in und
    wrong = module.data_description({"describe": "colours", "image_und_wrong_points": 0.5}, fresh)
    assert "; in 50% of the image-understanding point rows a right answer was redrawn with a wrong" in wrong
    assert "point rows a right answer" not in und
    relations = module.data_description(
        {"describe": "colours", "relation_drills": 2, "lookup_drills": 3}, fresh
    )
    assert "; 2 relation drills after every 8 task rows: an image and a relation question" in relations
    assert "of which 3 in 13 text-only drills" in relations  # the cycle counts the relation drills too
    inline = module.data_description({"describe": "colours-sides-inline"}, fresh)
    assert "relation questions write it after each object's name in what the image shows" in inline
    assert "(point answers too)" in inline and "relation questions first give" not in inline
    assert "object's name" not in module.data_description({"describe": "colours-sides"}, fresh)
    # a run that continues a trained judge says how that judge was made; a stage-1 base is not a judge
    assert module.init_judge(str(out))["command"] == meta["command"]
    assert (
        module.init_judge(str(result.model_dir.parent / "base")) is None and module.init_judge(None) is None
    )
    continued = train_on_shapes(
        toy_config(tmp_path / "more", ("image_gen",), max_steps=1, eval_every=1, init_model=str(out))
    )
    module.write_assets(continued, argparse.Namespace(**{**vars(args), "out": tmp_path / "more-assets"}))
    more_card = (tmp_path / "more-assets" / "README.md").read_text()
    assert f"it continues the trained judge `{out}` (tower and language model), itself made by" in more_card
    assert f"`{meta['command']}`" in more_card
    joined = [
        json.loads(x) for x in (tmp_path / "more-assets" / "learning_curve.jsonl").read_text().splitlines()
    ]
    assert len(joined) == 3 and joined[2]["minutes"] >= meta["training_minutes"]  # the parent's two, then one
    # a continuation of a continuation: its points come after the whole chain's, not after its parent's
    # own minutes alone
    again = train_on_shapes(
        toy_config(
            tmp_path / "again",
            ("image_gen",),
            max_steps=1,
            eval_every=1,
            init_model=str(tmp_path / "more-assets"),
        )
    )
    module.write_assets(again, argparse.Namespace(**{**vars(args), "out": tmp_path / "again-assets"}))
    chain = [
        json.loads(x) for x in (tmp_path / "again-assets" / "learning_curve.jsonl").read_text().splitlines()
    ]
    assert len(chain) == 4 and chain[:3] == joined and chain[3]["minutes"] > joined[2]["minutes"]


def test_stage1_is_reused_only_for_the_same_recipe(tmp_path):
    """A second run in the same work directory skips vision pre-training when spec and recipe match, and
    counts its minutes; any change to the recipe trains stage 1 again."""
    spec = TinySpec(image_size=56, temporal_patch_size=4)
    stage1 = dict(vision_minutes=0.02, vision_max_steps=1, max_steps=1, num_frames=4, spec=spec)
    config = toy_config(tmp_path, ("image_gen",), **stage1)
    first = train_on_shapes(config)
    done = json.loads((first.model_dir / "unireward.json").read_text())["vision_pretraining"]
    assert not done["reused"] and (tmp_path / "base" / "stage1.json").exists()
    weights = (tmp_path / "base" / "model.safetensors").read_bytes()

    again = train_on_shapes(config)
    meta = json.loads((again.model_dir / "unireward.json").read_text())
    assert meta["vision_pretraining"]["reused"] and meta["vision_pretraining"]["final"] == done["final"]
    assert (tmp_path / "base" / "model.safetensors").read_bytes() == weights
    assert not (tmp_path / "base-lm").exists()  # same language model: the stage-1 model is used as it is
    assert again.minutes >= done["minutes"]  # the reused stage's minutes are on the clock

    key = json.loads((tmp_path / "base" / "stage1.json").read_text())["vision_pretraining"]
    assert key["shape_from_random_palette_only"] is True
    changed = toy_config(
        tmp_path,
        ("image_gen",),
        **stage1,
        vision_learning_rate=1e-4,
        vision_shape_from_random_palette_only=False,
    )
    meta = json.loads((train_on_shapes(changed).model_dir / "unireward.json").read_text())
    assert not meta["vision_pretraining"]["reused"]
    assert (tmp_path / "base" / "model.safetensors").read_bytes() != weights
    key = json.loads((tmp_path / "base" / "stage1.json").read_text())["vision_pretraining"]
    assert key["shape_from_random_palette_only"] is False


def test_stage1_marker_from_before_a_recipe_field_means_its_default(tmp_path):
    """A stage 1 recorded before a recipe field existed ran with that field's default: it is reused at the
    default and trained again at another value."""
    spec = TinySpec(image_size=56, temporal_patch_size=4)
    stage1 = dict(vision_minutes=0.02, vision_max_steps=1, max_steps=1, num_frames=4, spec=spec)
    train_on_shapes(toy_config(tmp_path, ("image_gen",), **stage1))
    marker = tmp_path / "base" / "stage1.json"
    old = json.loads(marker.read_text())
    assert old["vision_pretraining"].pop("changing_cell_weight") == 1.0
    marker.write_text(json.dumps(old))

    again = train_on_shapes(toy_config(tmp_path, ("image_gen",), **stage1))
    assert json.loads((again.model_dir / "unireward.json").read_text())["vision_pretraining"]["reused"]
    weighted = toy_config(tmp_path, ("image_gen",), **stage1, vision_changing_cell_weight=4.0)
    meta = json.loads((train_on_shapes(weighted).model_dir / "unireward.json").read_text())
    assert not meta["vision_pretraining"]["reused"]
    assert json.loads(marker.read_text())["vision_pretraining"]["changing_cell_weight"] == 4.0


def test_stage1_tower_serves_a_deeper_language_model(tmp_path):
    """Stage 1 is reused for a language model of another depth: the SFT model has the new depth and
    exactly the stage-1 tower (frozen), with its minutes on the clock; another width trains stage 1 again."""
    from safetensors.torch import load_file

    spec = TinySpec(image_size=56, temporal_patch_size=4)
    stage1 = dict(vision_minutes=0.02, vision_max_steps=1, max_steps=1, num_frames=4)
    first = train_on_shapes(toy_config(tmp_path, ("image_gen",), spec=spec, **stage1))
    deeper = dataclasses.replace(spec, num_layers=3, intermediate_size=96)
    again = train_on_shapes(toy_config(tmp_path, ("image_gen",), spec=deeper, **stage1))
    meta = json.loads((again.model_dir / "unireward.json").read_text())["vision_pretraining"]
    assert meta["reused"] and again.minutes >= meta["minutes"]

    tower = load_file(tmp_path / "base" / "model.safetensors")
    trained = load_file(again.model_dir / "model.safetensors")
    visual = [k for k in tower if k.startswith("visual.")]  # the saved (checkpoint) key layout
    assert visual and all(torch.equal(tower[k], trained[k]) for k in visual)
    assert any(".layers.2." in k for k in trained) and not any(".layers.2." in k for k in tower)
    assert trained["model.layers.0.mlp.up_proj.weight"].shape[0] == 96
    assert first.model_dir == again.model_dir and (tmp_path / "base-lm").exists()

    wider = dataclasses.replace(spec, hidden_size=96)
    meta = json.loads(
        (
            train_on_shapes(toy_config(tmp_path, ("image_gen",), spec=wider, **stage1)).model_dir
            / "unireward.json"
        ).read_text()
    )
    assert not meta["vision_pretraining"]["reused"]


def test_a_trained_tower_serves_a_wider_language_model(tmp_path):
    """`with_language_model` to a wider language model: the tower is kept whole, and the merger's
    projection into the language model keeps its trained rows, the extra rows as a fresh model has them."""
    from safetensors.torch import load_file

    from unireward.tiny import build_tiny_model
    from unireward.train.shapes import with_language_model

    spec = TinySpec(image_size=56)
    build_tiny_model("qwen2_vl", tmp_path / "judge", spec)
    wider = dataclasses.replace(spec, hidden_size=96, num_heads=6, seed=1)
    with_language_model(tmp_path / "judge", wider, tmp_path / "wide")
    build_tiny_model("qwen2_vl", tmp_path / "fresh", wider)  # what the extra rows start as
    judge, wide, fresh = (load_file(tmp_path / d / "model.safetensors") for d in ("judge", "wide", "fresh"))
    out = [k for k in judge if k.startswith("visual.merger.mlp.2.")]
    assert sorted(out) == ["visual.merger.mlp.2.bias", "visual.merger.mlp.2.weight"]
    for k in out:
        assert judge[k].shape[0] == 64 and wide[k].shape[0] == 96
        assert torch.equal(wide[k][:64], judge[k]) and torch.equal(wide[k][64:], fresh[k][64:])
    assert all(torch.equal(judge[k], wide[k]) for k in judge if k.startswith("visual.") and k not in out)
    assert wide["model.embed_tokens.weight"].shape[1] == 96
    with pytest.raises(ValueError, match="writes 96-wide visual features; give a language model at least"):
        with_language_model(tmp_path / "wide", spec, tmp_path / "narrow")


def test_a_tower_of_another_depth_is_refused_with_the_flag_to_give(tmp_path):
    from unireward.tiny import build_tiny_model
    from unireward.train.shapes import with_language_model

    spec = TinySpec(image_size=56, vision_layers=2)
    build_tiny_model("qwen2_vl", tmp_path / "deep", spec)
    for layers in (1, 3):  # a shallower spec leaves blocks over; a deeper one would keep random blocks
        with pytest.raises(ValueError, match=f"2 vision layers.*vision_layers {layers}; --vision-layers"):
            with_language_model(
                tmp_path / "deep", dataclasses.replace(spec, vision_layers=layers), tmp_path / "x"
            )
    with_language_model(tmp_path / "deep", dataclasses.replace(spec, seed=1), tmp_path / "same")


def test_lm_spec_keeps_the_default_tower():
    from unireward.train.shapes import default_spec, lm_spec

    assert lm_spec(4, 128) == default_spec()
    spec = lm_spec(6, 192)
    assert (spec.num_layers, spec.hidden_size, spec.num_heads, spec.intermediate_size) == (6, 192, 6, 384)
    assert spec.vision_hidden_size == default_spec().vision_hidden_size
    with pytest.raises(ValueError, match="multiple of 64"):
        lm_spec(4, 160)  # 5 heads cannot share 2 KV heads
    with pytest.raises(ValueError, match="at least 1 layer"):
        lm_spec(0, 128)


def test_lookup_drills_are_text_rows_between_unchanged_task_rows_and_train(tmp_path):
    import itertools

    from transformers import AutoProcessor

    from unireward.data.shapes import ShapesWorld, lookup_drill
    from unireward.train.sft import RewardSFTCollator
    from unireward.train.shapes import DrillPlan, shapes_sft_stream

    def rows(**kw):
        return list(itertools.islice(iter(shapes_sft_stream(("image_gen",), seed=4, **kw)), 12))

    drilled, plain = rows(describe="lookup", drills=DrillPlan(lookup=1)), rows(describe="lookup")
    assert [r["mode"] for r in drilled[:6]] == ["pair", "point", "drill", "pair", "point", "drill"]
    tasks_only = [r for r in drilled if r["mode"] != "drill"]
    assert [r["completion"] for r in tasks_only] == [r["completion"] for r in plain[: len(tasks_only)]]
    drill = drilled[2]
    assert (
        drill["media"] == [] and ": sees " in drill["completion"] and "(relation)" not in drill["completion"]
    )
    prompt, answer = lookup_drill(ShapesWorld(11).pair_example("image_gen"))
    assert "Caption: " in prompt and answer.count("Image ") == 2
    with pytest.raises(ValueError, match="describe='lookup'"):
        rows(describe="shows", drills=DrillPlan(lookup=1))

    model_dir = train_on_shapes(
        toy_config(tmp_path / "run", ("image_gen",), records_per_task_mode=None, max_steps=2)
    ).model_dir
    collate = RewardSFTCollator(AutoProcessor.from_pretrained(model_dir))
    batch = collate([drilled[0], drill])  # an image pair and a text-only drill in one batch
    assert batch["pixel_values"].shape[0] > 0 and batch["labels"].shape[0] == 2
    tail = collate.render(json.loads(drill["prompt"]), drill["completion"])[1]
    answer_ids, _ = collate.completion_tokens(tail)
    assert (batch["labels"][1] != -100).sum() == len(answer_ids)  # loss on the drill's answer only
    result = train_on_shapes(
        toy_config(
            tmp_path / "drills",
            ("image_gen",),
            records_per_task_mode=None,
            max_steps=3,
            describe="lookup",
            drills=DrillPlan(lookup=2),
        )
    )
    assert result.steps == 3
    assert json.loads((result.model_dir / "unireward.json").read_text())["lookup_drills"] == 2
    with pytest.raises(ValueError, match="drills need fresh"):
        train_on_shapes(
            toy_config(tmp_path / "bad", ("image_gen",), describe="lookup", drills=DrillPlan(lookup=1))
        )


def test_drill_warmup_puts_more_drills_in_the_first_cycles_and_is_validated():
    import itertools

    from unireward.train.shapes import DrillPlan, shapes_sft_stream

    def modes(n, **kw):
        stream = shapes_sft_stream(("image_gen",), seed=4, describe="lookup-checks", **kw)
        return list(itertools.islice(iter(stream), n))

    warm = modes(16, drills=DrillPlan(lookup=1, warmup_lookup=3, warmup_cycles=2))
    cycle = ["pair", "point"]
    assert [r["mode"] for r in warm] == (cycle + ["drill"] * 3) * 2 + (cycle + ["drill"]) * 2
    plain = modes(8)
    assert [r["completion"] for r in warm if r["mode"] != "drill"] == [r["completion"] for r in plain]
    assert "sees" in warm[1]["completion"].splitlines()[1]  # lookup-checks: the point answer checks too
    for describe, plan, message in [
        ("lookup", DrillPlan(lookup=1, warmup_lookup=8), "both"),
        ("lookup", DrillPlan(warmup_cycles=5), "both"),
        ("shows", DrillPlan(warmup_lookup=8, warmup_cycles=10), "describe='lookup'"),
        ("lookup", DrillPlan(lookup=-1), ">= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            plan.check(describe)
    DrillPlan(lookup=3, warmup_lookup=24, warmup_cycles=1000).check("lookup-checks")  # a valid warm-up
    assert not DrillPlan() and DrillPlan(comparison=1)  # "any drills?" reads the counts


def test_comparison_tail_adds_comparison_drills_from_its_cycle_and_is_validated():
    import itertools

    from unireward.train.shapes import DrillPlan, shapes_sft_stream

    def rows(n, **kw):
        stream = shapes_sft_stream(("image_gen",), seed=4, describe="colours", **kw)
        return list(itertools.islice(iter(stream), n))

    tailed = rows(16, drills=DrillPlan(comparison=1, tail_comparison=3, tail_from_cycle=2))
    kinds = row_kinds(tailed)
    cycle = ["pair", "point"]
    assert kinds == (cycle + ["compare"]) * 2 + (cycle + ["compare"] * 3) * 2
    plain = rows(6)
    assert [r["completion"] for r in tailed if r["mode"] != "drill"][:4] == [r["completion"] for r in plain][
        :4
    ]
    for plan, message in [
        (DrillPlan(tail_comparison=4), "both"),
        (DrillPlan(tail_from_cycle=10), "both"),
        (DrillPlan(tail_comparison=-1, tail_from_cycle=3), ">= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            plan.check("colours")
    assert DrillPlan(tail_comparison=2, tail_from_cycle=5)  # a tail alone is a drill plan
    assert DrillPlan(comparison=2, tail_comparison=4, tail_from_cycle=7).card_fields()["comparison_tail"] == {
        "comparison_drills": 4,
        "from_cycle": 7,
    }


def test_drills_over_all_pairs_name_held_out_pairs_in_text_only():
    """Drills from split "any" and naming drills put the held-out pairs' names in training text; the
    default drills and every media row keep the train split's rule (no held-out pair anywhere)."""
    import itertools

    from unireward.data.shapes import HELD_OUT, NAME_DRILL_PROMPT
    from unireward.train.shapes import DrillPlan, shapes_sft_stream

    def rows(**kw):
        stream = shapes_sft_stream(
            ("image_gen",), seed=4, describe="colours", drills=DrillPlan(lookup=1, **kw)
        )
        return list(itertools.islice(iter(stream), 300))

    def held_out(text):
        return any(f"{c} {s}" in text for c, s in HELD_OUT)

    default, open_rows = rows(), rows(split="any", naming=2)
    assert not any(held_out(r["prompt"] + r["completion"]) for r in default)
    media_rows = [r for r in open_rows if r["media"]]
    assert not any(held_out(r["prompt"] + r["completion"]) for r in media_rows)
    same_rows = [r["completion"] for r in default if r["media"]][: len(media_rows)]
    assert len(media_rows) == 120 and [r["completion"] for r in media_rows] == same_rows
    assert [r["mode"] for r in open_rows[:5]] == ["pair", "point", "drill", "drill", "drill"]
    names = [r for r in open_rows if r["id"].startswith("name-")]
    lookups = [r for r in open_rows if r["id"].startswith("drill-")]
    assert len(names) == 120 and len(lookups) == 60
    assert all(NAME_DRILL_PROMPT in r["prompt"] and r["media"] == [] for r in names)
    # every object is one of 24 colour×shape pairs, 4 held out: about a sixth of the named objects
    objects = [o for r in names for o in r["completion"].split(", ") if o != "nothing"]
    share = sum(tuple(o.split()) in HELD_OUT for o in objects) / len(objects)
    assert 0.08 < share < 0.3, share
    assert sum(held_out(r["completion"]) for r in lookups) >= 10
    with pytest.raises(ValueError, match="'train' or 'any'"):
        DrillPlan(lookup=1, split="test").check("colours")
    with pytest.raises(ValueError, match=">= 0"):
        DrillPlan(lookup=1, split="any", naming=-1).check("colours")
    DrillPlan(split="any", naming=2).check("")  # naming drills need no lookup style
    with pytest.raises(ValueError, match=">= 0"):
        DrillPlan(comparison=-1).check("")


def test_comparison_drills_give_the_understanding_check_of_a_text_answer():
    import itertools

    from unireward.data.shapes import ShapesWorld, answer_checks, comparison_drill
    from unireward.train.shapes import DrillPlan, shapes_sft_stream

    stream = shapes_sft_stream(("image_gen",), seed=4, drills=DrillPlan(comparison=2))
    rows = list(itertools.islice(iter(stream), 40))
    assert [r["mode"] for r in rows[:4]] == ["pair", "point", "drill", "drill"]
    compares = [r for r in rows if r["id"].startswith("compare-")]
    assert len(compares) == 20 and all(r["media"] == [] for r in compares)
    prompts = [json.loads(r["prompt"])[0]["content"][0]["text"] for r in compares]
    assert sum(p.startswith("Image shows: ") for p in prompts) == sum(
        p.startswith("Video shows: ") for p in prompts
    )
    verdicts = [r["completion"].split(": ")[1].split(",")[0] for r in compares]  # the main claim's
    assert set(verdicts) == {"right", "wrong"}  # both outcomes are drilled
    ex = ShapesWorld(9).point_example("image_und")
    prompt, answer = comparison_drill(ex)
    assert answer == answer_checks(ex.spec["prompt"], ex.spec["candidate"])
    assert "Correct answer: " in prompt and "\nAnswer: " in prompt and prompt.endswith("Check the answer.")


def test_change_drills_copy_the_asked_objects_looks_and_say_yes_exactly_when_they_differ():
    """The drill's yes/no is the comparison of the two words it writes, drawn so both outcomes are common
    (video generation's task rows rarely change); the task rows stay as without drills."""
    import itertools

    import numpy as np

    from unireward.data.shapes import change_drill
    from unireward.train.shapes import DrillPlan, shapes_sft_stream

    describe = "colours+videos-ends-checked-changes"

    def rows(n, **kw):
        return list(
            itertools.islice(iter(shapes_sft_stream(("video_gen",), seed=4, describe=describe, **kw)), n)
        )

    drilled = rows(30, drills=DrillPlan(change=1))
    assert row_kinds(drilled[:6]) == ["pair", "point", "change"] * 2
    plain = rows(20)
    assert [r["completion"] for r in drilled if r["mode"] != "drill"] == [r["completion"] for r in plain]
    assert all(r["media"] == [] for r in drilled if r["mode"] == "drill")

    rng, outcomes = np.random.default_rng(3), collections.Counter()
    check = re.compile(r"colour (\w+), ends (\w+): (yes|no), shape (\w+), ends (\w+): (yes|no)")
    for _ in range(300):
        prompt, answer = change_drill(rng)
        c0, c1, c_said, s0, s1, s_said = check.fullmatch(answer).groups()
        assert c_said == ("yes" if c0 != c1 else "no") and s_said == ("yes" if s0 != s1 else "no")
        assert prompt.endswith(f"\nDoes the {c0} {s0} change?")
        assert re.search(rf"(: |; |then ){c0} {s0} moving \w+ \w+, ends {c1} {s1}", prompt), prompt
        outcomes[c_said] += 1
        outcomes[s_said] += 1
    assert 0.4 < outcomes["yes"] / 600 < 0.6, outcomes
    assert change_drill(np.random.default_rng(3)) == change_drill(np.random.default_rng(3))

    with pytest.raises(ValueError, match="ends-checked-changes"):
        DrillPlan(change=1).check("colours+videos-ends-checked")
    with pytest.raises(ValueError, match=">= 0"):
        DrillPlan(change=-1).check(describe)
    assert DrillPlan(change=2) and DrillPlan(change=2).card_fields()["change_drills"] == 2


@pytest.mark.parametrize("names", ["shape-first", "two-lists"])
def test_named_stream_differs_from_the_plain_one_only_in_its_names(names):
    """Task rows and every drill that describes (lookup, naming, change) name objects shape first, or
    image objects as two lists; read back colour first, the stream is the plain one row for row."""
    import itertools

    from unireward.data.shapes import NAME_SUFFIXES, colour_first
    from unireward.train.shapes import DrillPlan, shapes_sft_stream

    describe = "colours+videos-ends-checked-changes"
    plan = DrillPlan(lookup=1, naming=1, change=1)

    def rows(style):
        stream = shapes_sft_stream(("image_gen", "video_gen"), seed=4, describe=style, drills=plan)
        return list(itertools.islice(iter(stream), 14))

    first, plain = rows(describe + NAME_SUFFIXES[names]), rows(describe)
    assert row_kinds(first) == row_kinds(plain) and {"drill", "name", "change"} <= set(row_kinds(first))
    for kind, a, b in zip(row_kinds(first), first, plain, strict=True):
        # two lists leave video descriptions, and so the video rows and change drills, as they were
        changed = names == "shape-first" or kind in ("drill", "name") or "Image" in a["completion"]
        assert ((a["prompt"], a["completion"]) != (b["prompt"], b["completion"])) == changed
        assert colour_first(a["completion"]) == b["completion"]
        assert colour_first(a["prompt"]) == b["prompt"]


def test_palette_shape_drills_name_the_shapes_of_a_randomly_coloured_image(tiny_model_dir):
    """Each drill row carries one image whose colours are not the world's and names its shapes left to
    right; the task rows stay as without drills, and the collator batches drill and task rows together."""
    import io
    import itertools

    import numpy as np
    from PIL import Image
    from transformers import AutoProcessor

    from unireward.data import shapes as sw
    from unireward.media import FramePolicy
    from unireward.train.sft import RewardSFTCollator, decode_source
    from unireward.train.shapes import DrillPlan, shapes_sft_stream

    def rows(n, **kw):
        return list(itertools.islice(iter(shapes_sft_stream(("image_gen",), seed=2, **kw)), n))

    drilled = rows(24, drills=DrillPlan(palette_shapes=2))
    assert row_kinds(drilled[:8]) == ["pair", "point", "palette", "palette"] * 2
    plain = rows(12)
    assert [r["completion"] for r in drilled if r["mode"] != "drill"] == [r["completion"] for r in plain]
    drills = [r for r in drilled if r["mode"] == "drill"]
    world = {tuple(rgb) for rgb in sw.COLOURS.values()}
    for r in drills:
        assert len(r["media"]) == 1 and r["media"][0]["kind"] == "image"
        assert json.loads(r["prompt"])[0]["content"][0] == {"type": "image"}
        assert set(r["completion"].split(", ")) <= set(sw.SHAPES)
        pixels = np.asarray(Image.open(io.BytesIO(decode_source(r["media"][0]))).convert("RGB"))
        colours = {tuple(int(v) for v in px) for px in pixels.reshape(-1, 3)} - {tuple(sw.BACKGROUND)}
        assert colours and not colours & world  # drawn in a random palette, never the world's colours
    assert len({r["completion"] for r in drills}) > 2  # fresh scenes, not one repeated

    processor = AutoProcessor.from_pretrained(tiny_model_dir("qwen2_vl"))
    batch = RewardSFTCollator(processor, FramePolicy(num_frames=4))([drills[0], plain[0]])
    assert batch["input_ids"].shape[0] == 2 and batch["pixel_values"].shape[0] > 0
    answer = processor.tokenizer.decode(batch["input_ids"][0][batch["labels"][0] != -100])
    assert answer.startswith(drills[0]["completion"])


def test_relation_drills_ask_a_relation_of_a_world_image_and_leave_the_task_rows_as_they_were():
    """Each relation drill carries one image and its relation question, no answer to judge; its completion
    is what the image shows and the oracle's correct answer; the task rows and the other drills stay."""
    import itertools

    from unireward.data import shapes as sw
    from unireward.train.shapes import DrillPlan, shapes_sft_stream

    def rows(n, **kw):
        stream = shapes_sft_stream(("image_und",), seed=3, describe="colours", **kw)
        return list(itertools.islice(iter(stream), n))

    drilled = rows(20, drills=DrillPlan(relations=3))
    assert row_kinds(drilled[:5]) == ["pair", "point", "relation", "relation", "relation"]
    plain = rows(8)
    assert [r for r in drilled if r["mode"] != "drill"] == plain
    drills = [r for r in drilled if r["mode"] == "drill"]
    for r in drills:
        assert len(r["media"]) == 1 and r["media"][0]["kind"] == "image"
        question = json.loads(r["prompt"])[0]["content"][1]["text"]
        assert re.fullmatch(r"Where is the \w+ \w+ relative to the \w+ \w+\?", question)
        shows, answer = r["completion"].split("\n")
        assert shows.startswith("Image shows: ") and answer.startswith("Correct answer: The ")
        assert re.search(r" is (left of|right of|above|below) the ", answer)
    assert len({r["completion"] for r in drills}) == len(drills)  # fresh scenes
    # the direction is the oracle's: the subject's place against the other object's
    world = sw.ShapesWorld(5)
    checked = 0
    while checked < 20:
        ex = world.point_example("image_und")
        prompt = ex.spec["prompt"]
        if prompt.question.kind != "relation":
            with pytest.raises(ValueError, match="needs a relation question"):
                sw.relation_drill(prompt)
            continue
        q = prompt.question
        subject, other = (sw._find(prompt.media, *combo)[0] for combo in ((q.colour, q.shape), q.other))
        text, completion = sw.relation_drill(prompt)
        assert text == prompt.question.text
        assert f" is {sw.relation_of(subject, other)} the {' '.join(prompt.question.other)}." in completion
        checked += 1


# -- name noise ------------------------------------------------------------------------------------------


def test_name_noise_replaces_one_colour_word_per_image_description_and_unlearns_what_follows():
    import numpy as np

    from unireward.data.shapes import COLOURS, name_noise

    text = (
        "Image 1: shows purple circle, red square; cyan cross (object): colours red, asked cyan: 0.\n"
        "Image 2: shows blue cross; extra green circle absent.\nVideo shows: red cross moving left."
    )
    assert name_noise(text, np.random.default_rng(0), 0.0) == (text, [])
    for seed in range(20):
        noisy, spans = name_noise(text, np.random.default_rng(seed), 1.0)
        (w1, follow1), (w2, follow2) = spans[0:2], spans[2:4]
        first, second = noisy[slice(*w1)], noisy[slice(*w2)]
        assert first in set(COLOURS) - {"purple", "red"} and second in set(COLOURS) - {"blue"}
        old = "purple" if noisy.startswith("Image 1: shows " + first + " circle") else "red"
        # nothing else changed: caption elements, claims and the video phrase stay as written
        assert noisy[: w1[0]] + old + noisy[w1[1] : w2[0]] + "blue" + noisy[w2[1] :] == text
        # no loss from the end of a noised description to the next one (or the end of the text)
        assert noisy[slice(*follow1)].startswith("; cyan cross (object)")
        assert noisy[slice(*follow1)].endswith("Image 2: ") and follow2[1] == len(noisy)
    share = np.mean([len(name_noise(text, np.random.default_rng(s), 0.3)[1]) / 4 for s in range(400)])
    assert abs(share - 0.3) < 0.05
    # every colour names an object of the description: the replacement is another colour
    crowded = "shows red circle, green square, blue cross, yellow circle, purple cross, cyan square."
    for seed in range(20):
        noisy, spans = name_noise(crowded, np.random.default_rng(seed), 1.0)
        (a, b), follow = spans
        assert noisy[a:b] in COLOURS and noisy[a:b] != re.match(r"\w+", crowded[a:])[0]
        assert noisy[slice(*follow)] == "."
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        name_noise(text, np.random.default_rng(0), 1.5)


def test_collator_with_name_noise_reads_other_colours_and_learns_only_true_tokens():
    import itertools

    import numpy as np
    from transformers import AutoProcessor

    from unireward.data.shapes import COLOURS, name_noise
    from unireward.judge import DEFAULT_MODEL_DIR
    from unireward.media import FramePolicy
    from unireward.train.sft import RewardSFTCollator
    from unireward.train.shapes import shapes_sft_stream

    tasks = ("image_gen", "image_und")
    rows = list(itertools.islice(iter(shapes_sft_stream(tasks, seed=3, describe="colours")), 6))
    processor = AutoProcessor.from_pretrained(DEFAULT_MODEL_DIR)
    tok, policy = processor.tokenizer, FramePolicy(num_frames=4)
    clean = RewardSFTCollator(processor, policy)
    plain = clean(rows)

    def noise(rng, rate):
        return lambda row: name_noise(row["completion"], rng, rate)

    off = RewardSFTCollator(processor, policy, noise(np.random.default_rng(0), 0.0))
    assert all(torch.equal(plain[k], v) for k, v in off(rows).items())
    noisy = RewardSFTCollator(processor, policy, noise(np.random.default_rng(1), 1.0))
    batch = noisy(rows)
    replay = np.random.default_rng(1)  # the same draws, in the collator's order
    for b, row in enumerate(rows):
        text, spans = name_noise(row["completion"], replay, 1.0)
        assert spans  # every row describes an image
        tail = clean.render(json.loads(row["prompt"]), text)[1]
        at = tail.index(text)
        enc = tok(tail, add_special_tokens=False, return_offsets_mapping=True)
        cut = enc["input_ids"].index(clean.end_token_id) + 1
        expected = [
            t
            for t, (s0, s1) in zip(enc["input_ids"][:cut], enc["offset_mapping"][:cut])
            if not any(s0 < b1 + at and a1 + at < s1 for a1, b1 in spans)
        ]
        learnt = batch["labels"][b][batch["labels"][b] != -100].tolist()
        assert learnt == expected
        # every learnt token is the true answer's, in its order (the replaced words are never targets)
        true_tokens = plain["labels"][b][plain["labels"][b] != -100].tolist()
        truth = iter(true_tokens)
        assert all(any(t == u for u in truth) for t in learnt) and len(learnt) < len(true_tokens)
        # the model reads the replacement colour where the true one stood
        n = int(batch["attention_mask"][b].sum())
        assert tok.decode(batch["input_ids"][b][:n]).endswith(tail.split("<|im_end|>")[0] + "<|im_end|>")
        (a, z), _ = spans[0:2]
        assert text[a:z] in COLOURS and text[a:z] != re.match(r"\w+", row["completion"][a:])[0]


def test_name_noise_trains_and_is_recorded_and_needs_colour_first_names_and_a_share(tmp_path):
    out = train_on_shapes(
        toy_config(tmp_path / "run", ("image_gen",), describe="colours", name_noise=0.5, max_steps=2)
    ).model_dir
    meta = json.loads((out / "unireward.json").read_text())
    assert meta["name_noise"] == 0.5 and meta["name_noise_tasks"] == [
        "image_gen",
        "image_und",
        "video_gen",
        "video_und",
    ]
    with pytest.raises(ValueError, match="colour-first"):
        train_on_shapes(
            toy_config(tmp_path / "a", ("image_gen",), describe="colours+shape-first", name_noise=0.2)
        )
    with pytest.raises(ValueError, match="name_noise"):
        train_on_shapes(toy_config(tmp_path / "b", ("image_gen",), describe="colours", name_noise=-0.1))
    with pytest.raises(ValueError, match="name_noise_tasks is empty"):
        train_on_shapes(
            toy_config(
                tmp_path / "c", ("image_gen",), describe="colours", name_noise=0.2, name_noise_tasks=()
            )
        )


def test_recipe_name_noise_rewrites_only_the_rows_of_its_tasks_from_its_own_stream():
    import itertools

    import numpy as np

    from unireward.data.shapes import name_noise
    from unireward.train.shapes import RowNameNoise, shapes_sft_stream

    rows = list(
        itertools.islice(iter(shapes_sft_stream(("image_gen", "image_und"), seed=3, describe="colours")), 8)
    )
    assert {r["task"] for r in rows} == {"image_gen", "image_und"}
    noise = RowNameNoise(1.0, ("image_gen",), seed=5)
    replay = np.random.default_rng(np.random.SeedSequence([5, 2028]))
    for row in rows:
        text, spans = noise(row)
        if row["task"] == "image_und":
            assert (text, spans) == (row["completion"], [])
        else:
            assert spans and text != row["completion"]
            assert (text, spans) == name_noise(row["completion"], replay, 1.0)
    assert RowNameNoise(1.0, ("image_gen",), seed=5)(rows[0]) == RowNameNoise(1.0, ("image_gen",), seed=5)(
        rows[0]
    )
    with pytest.raises(ValueError, match="unknown task 'image'"):
        RowNameNoise(0.2, ("image",), seed=0)
    with pytest.raises(ValueError, match="probability"):
        RowNameNoise(1.5, ("image_gen",), seed=0)
    noise.rate = 0.0  # what the schedule does late in the budget: rows pass as written
    assert all(noise(row) == (row["completion"], []) for row in rows)


def test_name_noise_stops_at_its_share_of_a_step_budget(tmp_path, monkeypatch):
    """With name_noise_until=0.5 of 6 SFT steps the collator noises the first batches and none of the last
    (the data loader may draw a batch ahead, so the switch is checked on the first and last batches)."""
    from unireward.train import shapes

    rates = []
    call = shapes.RowNameNoise.__call__
    monkeypatch.setattr(
        shapes.RowNameNoise, "__call__", lambda self, row: rates.append(self.rate) or call(self, row)
    )
    cfg = dict(describe="colours", name_noise=1.0, name_noise_until=0.5, step_budget=True, max_steps=6)
    out = train_on_shapes(toy_config(tmp_path, ("image_gen",), vision_max_steps=0, **cfg)).model_dir
    per_batch = rates[::2]  # batch size 2: two rows per collation
    assert per_batch[:2] == [1.0, 1.0] and per_batch[-2:] == [0.0, 0.0]
    assert sorted(per_batch, reverse=True) == per_batch  # once off, it stays off
    assert json.loads((out / "unireward.json").read_text())["name_noise_until"] == 0.5
    with pytest.raises(ValueError, match="name_noise_until"):
        train_on_shapes(toy_config(tmp_path / "b", ("image_gen",), describe="colours", name_noise_until=1.2))


def test_step_budget_runs_exact_steps_whatever_the_clock(tmp_path):
    """minutes=0 would stop a clock budget after one step; a step budget runs both stages to their steps,
    records them, the model card says so, and a second run (fresh draws, as the recipe) in another
    directory trains the same weights: what the step budget is for."""
    import argparse

    import torch
    from safetensors.torch import load_file

    spec = TinySpec(image_size=56, temporal_patch_size=4)
    config = toy_config(
        tmp_path / "work",
        ("image_gen",),
        step_budget=True,
        minutes=0.0,
        vision_minutes=0.0,
        vision_max_steps=2,
        max_steps=3,
        eval_every=1000,
        num_frames=4,
        spec=spec,
        records_per_task_mode=None,
    )
    result = train_on_shapes(config)
    again = train_on_shapes(dataclasses.replace(config, work_dir=str(tmp_path / "again")))
    weights, weights_again = (load_file(r.model_dir / "model.safetensors") for r in (result, again))
    assert weights.keys() == weights_again.keys()
    assert all(torch.equal(weights[k], weights_again[k]) for k in weights)
    assert result.steps == 3 and [p["step"] for p in result.curve] == [3]  # evaluated at the end only
    meta = json.loads((result.model_dir / "unireward.json").read_text())
    assert meta["budget"] == {"vision_steps": 2, "sft_steps": 3}
    assert meta["vision_pretraining"]["final"]["step"] == 2
    args = argparse.Namespace(
        out=tmp_path / "assets", n=2, lr=1e-3, lr_decay_share=0.25, batch_size=2, eval_n=1
    )
    train_script().write_assets(result, args)
    assert "(a step budget: 2 stage-1 and 3 SFT steps)" in (tmp_path / "assets" / "README.md").read_text()
    # From an initial model (a shared stage-1 tower) stage 1 runs no step, and the tower stays frozen.
    shared = dataclasses.replace(
        config, work_dir=str(tmp_path / "shared"), init_model=str(tmp_path / "work" / "base")
    )
    shared_result = train_on_shapes(shared)
    meta = json.loads((shared_result.model_dir / "unireward.json").read_text())
    assert meta["budget"] == {"vision_steps": 0, "sft_steps": 3} and meta["vision_frozen"] is True
    assert meta["init_model"] == str(tmp_path / "work" / "base")
    train_script().write_assets(
        shared_result, argparse.Namespace(**{**vars(args), "out": tmp_path / "shared-assets"})
    )
    card = (tmp_path / "shared-assets" / "README.md").read_text()
    assert f"the frozen tower is that of `{tmp_path / 'work' / 'base'}`" in card
    assert "minutes of dense vision pre-training" not in card
    assert json.loads((tmp_path / "shared-assets" / "unireward.json").read_text())["base_model"].endswith(
        f"after the vision pre-training of {tmp_path / 'work' / 'base'} (another run)"
    )
    # From a trained judge's tower only: its tower, frozen, under a fresh language model.
    towered = train_on_shapes(
        dataclasses.replace(config, work_dir=str(tmp_path / "towered"), init_tower=str(result.model_dir))
    )
    judge, new = (load_file(r.model_dir / "model.safetensors") for r in (result, towered))
    assert all(torch.equal(judge[k], new[k]) for k in judge if k.startswith("model.visual."))
    fresh = load_file(tmp_path / "towered" / "base-lm" / "model.safetensors")
    lm = [k for k in judge if k.startswith("model.layers.")]
    assert lm and any(not torch.equal(judge[k], fresh[k]) for k in lm)  # the judge's SFT is not carried
    assert json.loads((towered.model_dir / "unireward.json").read_text())["init_tower"] == str(
        result.model_dir
    )
    train_script().write_assets(
        towered, argparse.Namespace(**{**vars(args), "out": tmp_path / "towered-assets"})
    )
    card = (tmp_path / "towered-assets" / "README.md").read_text()
    assert (
        f"the frozen tower is that of `{result.model_dir}`" in card
        and "the language model starts fresh" in card
    )
    with pytest.raises(ValueError, match="not both"):
        train_on_shapes(dataclasses.replace(shared, init_tower=str(result.model_dir)))
    with pytest.raises(ValueError, match="step budget needs max_steps > 0"):
        train_on_shapes(toy_config(tmp_path / "b", ("image_gen",), step_budget=True, max_steps=0))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "100"], "--steps and --vision-steps go together"),
        (["--vision-steps", "10"], "--steps and --vision-steps go together"),
        (["--steps", "0", "--vision-steps", "10"], "--steps must be > 0"),
        (["--name-noise-until", "1.5"], "--name-noise-until is a share"),
        (["--init-model", ".", "--steps", "5", "--vision-steps", "3"], "give --vision-steps 0, not 3"),
        (["--init-model", "no/such/model"], "is not a saved model (no config.json there)"),
        (["--init-tower", ".", "--steps", "5", "--vision-steps", "3"], "give --vision-steps 0, not 3"),
        (["--init-tower", "no/such/model"], "--init-tower no/such/model is not a saved model"),
        (["--init-model", "a", "--init-tower", "b"], "not both"),
        (["--work", "w", "--out", "w/model"], "overlaps w/model, which this run trains into"),
        (["--work", "w", "--out", "w"], "overlaps w/model"),
        (["--work", "w", "--out", "w/base/copy"], "overlaps w/base"),
        (["--length-groups", "0"], "--length-groups is a number of batches >= 1"),
        (["--length-groups", "8", "--n", "100"], "regroups fresh draws only, got 8 with --n 100"),
        (["--description-slips", "0.2"], "needs --describe, got 0.2 with --describe ''"),
        (["--description-slips", "2", "--describe", "colours"], "--description-slips is a share"),
        (
            ["--held-out-slips", "0.5"],
            "needs --description-slips, --image-und-slips or --video-und-slips, got 0.5",
        ),
        (["--video-und-slips", "0.3"], "needs --describe-videos, got 0.3 with --describe-videos ''"),
        (["--video-und-slips", "2", "--describe-videos", "ends"], "--video-und-slips is a share"),
        (["--image-und-slips", "0.2"], "needs --describe, got 0.2 with --describe ''"),
        (["--image-und-slips", "-1", "--describe", "colours"], "--image-und-slips is a share"),
        (["--image-und-wrong-points", "1.5"], "--image-und-wrong-points is a share"),
        (["--image-und-wrong-points", "0.5", "--n", "100"], "fresh draws only, got 0.5 with --n 100"),
        (
            ["--held-out-slips", "1.5", "--description-slips", "0.3", "--describe", "colours"],
            "--held-out-slips is a share",
        ),
    ],
)
def test_training_script_rejects_bad_budget_flags(argv, message, capsys):
    with pytest.raises(SystemExit):
        train_script().main(argv)
    assert message in capsys.readouterr().err


def test_out_may_sit_beside_the_trained_model_in_work_but_not_over_it(tmp_path):
    overlapping = train_script().overlapping
    work = tmp_path / "w"
    assert not overlapping(work / "out", work / "model")
    assert not overlapping(tmp_path / "assets", work / "model")
    assert overlapping(work / "model", work / "model") and overlapping(tmp_path, work / "model")


def train_script():
    """scripts/train_default_model.py as a module."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "train_default_model.py"
    spec = importlib.util.spec_from_file_location("train_default_model", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_length_groups_regroup_the_same_stream_rows_with_less_padding_and_are_recorded(tmp_path):
    import argparse
    import itertools

    from unireward.train.sft import row_length
    from unireward.train.shapes import shapes_sft_stream

    tasks = ("image_gen", "video_gen", "video_und")
    plain = list(itertools.islice(iter(shapes_sft_stream(tasks, seed=4)), 48))
    grouped = list(
        itertools.islice(iter(shapes_sft_stream(tasks, seed=4, length_groups=4, batch_size=4)), 48)
    )
    for w in range(0, 48, 16):  # each window of 4 batches holds the same rows, regrouped
        assert sorted(r["id"] for r in grouped[w : w + 16]) == sorted(r["id"] for r in plain[w : w + 16])
    assert [r["id"] for r in grouped] != [r["id"] for r in plain]

    def padded(rows):
        return sum(4 * max(row_length(r) for r in rows[b : b + 4]) for b in range(0, len(rows), 4))

    assert padded(grouped) < 0.85 * padded(plain)

    result = train_on_shapes(
        toy_config(tmp_path / "run", ("image_gen",), records_per_task_mode=None, max_steps=2, length_groups=2)
    )
    assert result.steps == 2
    meta = json.loads((result.model_dir / "unireward.json").read_text())
    assert meta["length_groups"] == 2 and meta["threads"] == 1
    meta["threads"] = 2  # as a run with threads=2 records it
    (result.model_dir / "unireward.json").write_text(json.dumps(meta))
    args = argparse.Namespace(
        out=tmp_path / "assets", n=None, lr=1e-3, lr_decay_share=0.25, batch_size=2, eval_n=1
    )
    train_script().write_assets(result, args)
    card = (tmp_path / "assets" / "README.md").read_text()
    assert "in batches regrouped by length within windows of 2 batches" in card
    assert "minutes of wall-clock on 2 CPU threads" in card
    with pytest.raises(ValueError, match="length_groups must be >= 1"):
        train_on_shapes(toy_config(tmp_path / "a", ("image_gen",), length_groups=0))
    with pytest.raises(ValueError, match="regroups the fresh-draw stream"):
        train_on_shapes(toy_config(tmp_path / "b", ("image_gen",), length_groups=4))


def test_video_und_slips_change_only_video_understanding_rows_and_are_recorded(tmp_path):
    import itertools

    from unireward.data.shapes import COLOURS
    from unireward.train.shapes import shapes_sft_stream

    describe = "colours+videos-ends-checked-changes"

    def rows(**slips):
        stream = shapes_sft_stream(("video_und", "image_und"), seed=5, describe=describe, **slips)
        return list(itertools.islice(iter(stream), 24))

    clean, slipped = rows(), rows(video_und_slips=1.0, held_out_slips=1.0)
    assert [r for r in slipped if r["task"] != "video_und"] == [r for r in clean if r["task"] != "video_und"]
    moved = [(r, w) for r, w in zip(slipped, clean, strict=True) if r["unlearnt"]]
    assert len(moved) >= 6 and all(r["task"] == "video_und" for r, _ in moved)
    renamed = 0
    for row, was in moved:
        ((a, b),) = json.loads(row["unlearnt"])
        assert row["completion"][:a] == was["completion"][:a] and row["completion"] != was["completion"]
        word = row["completion"][a:b]
        assert word in COLOURS  # held-out slips misread a colour
        assert row["media"] == was["media"]  # the true video
        renamed += row["prompt"] != was["prompt"]
        if row["prompt"] != was["prompt"]:
            assert word in row["prompt"] and word not in was["prompt"]  # the question names what was misread
    assert renamed >= 2
    model_dir = train_on_shapes(
        toy_config(
            tmp_path / "run",
            ("video_und",),
            describe=describe,
            video_und_slips=0.5,
            max_steps=2,
            records_per_task_mode=None,
        )
    ).model_dir
    assert json.loads((model_dir / "unireward.json").read_text())["video_und_slips"] == 0.5


def test_description_slips_misread_one_word_of_image_generation_rows_and_the_collator_unlearns_it(tmp_path):
    import itertools

    from transformers import AutoProcessor

    from unireward.data.shapes import COLOURS, HELD_OUT, SHAPES
    from unireward.judge import DEFAULT_MODEL_DIR
    from unireward.media import FramePolicy
    from unireward.train.sft import RewardSFTCollator
    from unireward.train.shapes import DrillPlan, shapes_sft_stream

    tasks = ("image_und", "image_gen")  # a cycle ends on an image-generation row, then its drill

    def rows(**slips):
        stream = shapes_sft_stream(tasks, seed=4, describe="colours", drills=DrillPlan(lookup=1), **slips)
        return list(itertools.islice(iter(stream), 16))

    clean, none, every = rows(), rows(description_slips=0.0), rows(description_slips=1.0)
    assert none == clean and all(r["unlearnt"] == "" for r in none)
    # held-out slips: the misread word is always the held-out colour of the object's shape
    held = [r for r in rows(description_slips=1.0, held_out_slips=1.0) if r["unlearnt"]]
    assert held and [r["id"] for r in held] == [r["id"] for r in every if r["unlearnt"]]
    for row in held:
        ((a, b),) = json.loads(row["unlearnt"])
        shape = re.match(r"\w+", row["completion"][b:].lstrip()).group()
        assert (row["completion"][a:b], shape) in HELD_OUT
    # image-understanding slips: their own stream, so the image-generation slips stay as they were
    und, both = rows(image_und_slips=1.0), rows(description_slips=1.0, image_und_slips=1.0)
    assert [r for r in und if r["task"] != "image_und"] == [r for r in clean if r["task"] != "image_und"]
    assert [r for r in both if r["task"] != "image_und"] == [r for r in every if r["task"] != "image_und"]
    assert [r for r in both if r["task"] == "image_und"] == [r for r in und if r["task"] == "image_und"]
    und_slipped = [(r, w) for r, w in zip(und, clean, strict=True) if r["unlearnt"]]
    assert und_slipped and all(r["task"] == "image_und" for r, _ in und_slipped)
    for row, was in und_slipped:
        ((a, b),) = json.loads(row["unlearnt"])
        assert row["completion"][:a] == was["completion"][:a] and row["completion"] != was["completion"]
        assert row["completion"][a:b] in COLOURS or row["completion"][a:b] in SHAPES
    assert {r["mode"] for r in every} == {"pair", "point", "drill"}
    for was, row in zip(clean, every, strict=True):
        assert (was["id"], was["prompt"], was["media"]) == (row["id"], row["prompt"], row["media"])
        if row["task"] != "image_gen" or row["mode"] == "drill":
            assert row == was  # the other tasks' rows and the drills, and their order, are untouched
            continue
        ((a, b),) = json.loads(row["unlearnt"])
        assert row["completion"][:a] == was["completion"][:a] and row["completion"] != was["completion"]
        assert row["completion"][a:b] in COLOURS or row["completion"][a:b] in SHAPES
    # wrong point answers: their own stream; only image-understanding point rows change, and each
    # changed one scores its answer as the oracle scores a wrong claim (at best a hedge, 50)
    wrong = rows(image_und_wrong_points=1.0)
    changed = [(r, w) for r, w in zip(wrong, clean, strict=True) if r != w]
    assert changed and all((r["task"], r["mode"]) == ("image_und", "point") for r, _ in changed)
    for row, was in changed:
        assert row["media"] == was["media"] and row["prompt"] != was["prompt"]  # the answer is in the prompt
        assert int(re.search(r"Final Score: (\d+)", row["completion"]).group(1)) <= 50
    assert [r for r in rows(image_und_wrong_points=1.0, image_und_slips=1.0) if r["task"] != "image_und"] == [
        r for r in clean if r["task"] != "image_und"
    ]
    processor = AutoProcessor.from_pretrained(DEFAULT_MODEL_DIR)
    collate = RewardSFTCollator(processor, FramePolicy(num_frames=4))
    slipped = [r for r in every if r["unlearnt"]][:2]
    batch, plain = collate(slipped), collate([{**r, "unlearnt": ""} for r in slipped])
    for k, row in enumerate(slipped):
        ((a, b),) = json.loads(row["unlearnt"])
        unlearnt = (batch["labels"][k] == -100) & (plain["labels"][k] != -100)
        assert unlearnt.sum() >= 1  # the misread word's tokens, and nothing else
        assert processor.tokenizer.decode(batch["input_ids"][k][unlearnt]).strip() == row["completion"][a:b]
    meta_dir = train_on_shapes(
        toy_config(
            tmp_path / "run",
            ("image_gen",),
            describe="colours",
            description_slips=0.5,
            image_und_wrong_points=0.25,
            max_steps=2,
            records_per_task_mode=None,
        )
    ).model_dir
    recorded = json.loads((meta_dir / "unireward.json").read_text())
    assert (recorded["description_slips"], recorded["image_und_wrong_points"]) == (0.5, 0.25)
    with pytest.raises(ValueError, match="held_out_slips is a share of the description slips"):
        train_on_shapes(toy_config(tmp_path / "h", ("image_gen",), describe="colours", held_out_slips=0.5))
    with pytest.raises(ValueError, match="image_und_wrong_points is a share"):
        train_on_shapes(toy_config(tmp_path / "w", ("image_und",), image_und_wrong_points=0.5))
    with pytest.raises(ValueError, match="video_und_slips is a share"):
        train_on_shapes(toy_config(tmp_path / "vs", ("video_und",), describe="colours", video_und_slips=0.5))
    with pytest.raises(ValueError, match="image_und_slips is a share"):
        train_on_shapes(toy_config(tmp_path / "u", ("image_und",), describe="colours", image_und_slips=2.0))
    with pytest.raises(ValueError, match="image_und_slips needs targets that describe images"):
        train_on_shapes(toy_config(tmp_path / "v", ("image_und",), image_und_slips=0.5))
    with pytest.raises(ValueError, match="description_slips"):
        train_on_shapes(toy_config(tmp_path / "a", ("image_gen",), describe="colours", description_slips=1.5))
    with pytest.raises(ValueError, match="describe"):
        train_on_shapes(
            toy_config(tmp_path / "b", ("image_gen",), description_slips=0.2, records_per_task_mode=None)
        )
