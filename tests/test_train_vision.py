"""Dense vision pre-training: pixel layout parity with the processor, scene labels, training, freezing."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from unireward.data import shapes as sw
from unireward.tiny import TinySpec, build_tiny_model
from unireward.train.vision import (
    CELL_TARGETS,
    COLOURS,
    GLOBAL_TARGETS,
    IGNORE,
    PixelPacker,
    SceneHeads,
    VisionPretrainConfig,
    changing_cells,
    pretrain_vision,
    scene_targets,
)

SPEC = TinySpec(image_size=56, temporal_patch_size=4)  # 2x2 visual tokens; one patch holds a 4-frame clip


@pytest.fixture(scope="module")
def clip_model_dir(tmp_path_factory):
    return build_tiny_model("qwen2_vl", tmp_path_factory.mktemp("tps4"), SPEC)


def test_packer_matches_the_qwen_processors_exactly(clip_model_dir):
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(clip_model_dir)
    packer = PixelPacker(proc.image_processor, 56)
    image = sw.render_image(sw.ImageSpec((sw.Obj("red", "circle", 0.3, 0.4),)), 56)
    ours, grid = packer.pack([image])
    ref = proc.image_processor(images=[image], return_tensors="np")
    assert grid == tuple(ref["image_grid_thw"][0]) == (1, 4, 4)
    np.testing.assert_allclose(ours, ref["pixel_values"], atol=1e-5)
    clip = [image] * 3  # padded to the temporal patch (4) by repeating the last frame, as the processor does
    ours, grid = packer.pack(clip)
    ref = proc.video_processor(videos=[clip], return_tensors="np")
    assert grid == tuple(ref["video_grid_thw"][0])
    np.testing.assert_allclose(ours, ref["pixel_values_videos"], atol=1e-5)


def test_scene_labels_follow_the_spec():
    # Two objects in opposite quadrants of a 2x2 grid: each cell they cover holds their labels.
    spec = sw.ImageSpec((sw.Obj("red", "circle", 0.25, 0.25, 0.4), sw.Obj("blue", "square", 0.75, 0.75, 0.4)))
    cell, glob = scene_targets(spec, cells=2)
    red, blue = COLOURS.index("red") + 1, COLOURS.index("blue") + 1
    assert cell["colour"].tolist() == [red, 0, 0, blue]
    assert cell["shape"].tolist() == [1 + sw.SHAPES.index("circle"), 0, 0, 1 + sw.SHAPES.index("square")]
    above, below = (1 + sw.RELATIONS.index(r) for r in ("above", "below"))
    left, right = (1 + sw.RELATIONS.index(r) for r in ("left of", "right of"))
    assert cell["relation"][0] in (above, left) and cell["relation"][3] in (below, right)
    assert glob == {"blur": 0, "noise": 0, "artefacts": 0, "flicker": 0, "is_video": 0}
    # A thin overlap is left unlabelled rather than guessed.
    edge = sw.ImageSpec((sw.Obj("green", "square", 0.3, 0.375, 0.2),), blur=1.0)
    cell, glob = scene_targets(edge, cells=4)
    green = COLOURS.index("green") + 1
    assert cell["colour"][4] == IGNORE and cell["colour"][5] == green and glob["blur"] == 2


def test_clip_labels_carry_motion_change_and_flicker():
    track = sw.Track(
        sw.Obj("green", "triangle", 0.2, 0.5), "right", travel=0.55, change_at=0.5, change_colour="red"
    )
    cell, glob = scene_targets(sw.VideoSpec((track,), flicker=(0.5,), flicker_kind="bright"), cells=4)
    covered = cell["colour"] > 0
    assert covered.any()
    assert set(cell["motion"][covered]) == {2 + list(sw.DIRECTIONS).index("right")}
    assert set(cell["speed"][covered]) == {3}  # fast
    assert set(cell["end_colour"][covered]) == {COLOURS.index("red") + 1}
    assert glob["flicker"] == 2 and glob["is_video"] == 1


def test_pretraining_lowers_the_loss_and_changes_only_the_vision_tower(clip_model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(clip_model_dir)
    proc = AutoProcessor.from_pretrained(clip_model_dir)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = VisionPretrainConfig(
        minutes=60, max_steps=30, batch_size=8, num_frames=4, eval_every=10, eval_n=8, log=False
    )
    curve = pretrain_vision(model, proc.image_processor, 56, config)
    assert [p["step"] for p in curve] == [0, 10, 20, 30]
    assert curve[-1]["train_loss"] < curve[1]["train_loss"]
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("model.visual.") for k in changed)


def test_pretraining_rate_decays_over_the_last_share_of_its_steps(clip_model_dir, monkeypatch):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    rates = []
    step = torch.optim.AdamW.step
    monkeypatch.setattr(
        torch.optim.AdamW,
        "step",
        lambda self, *a, **k: (rates.append(self.param_groups[0]["lr"]), step(self)),
    )
    model = AutoModelForImageTextToText.from_pretrained(clip_model_dir)
    proc = AutoProcessor.from_pretrained(clip_model_dir)
    config = VisionPretrainConfig(
        minutes=None, max_steps=10, batch_size=4, num_frames=4, eval_every=100, eval_n=4, log=False,
        learning_rate=1e-3, lr_decay_share=0.5,
    )  # fmt: skip
    pretrain_vision(model, proc.image_processor, 56, config)
    # Steps 0-5 at the full rate; then 1e-3 * (0.1 + 0.9 * left / 0.5) for 4, 3, 2, 1 tenths left.
    expected = [1e-3] * 6 + [1e-3 * (0.1 + 0.9 * k / 5) for k in (4, 3, 2, 1)]
    assert rates == pytest.approx(expected)


def test_pretraining_takes_clips_of_several_temporal_patches(tiny_model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    # temporal patch 2: a 4-frame clip is 2 patches, twice an image's tokens
    path = tiny_model_dir("qwen2_vl")
    model = AutoModelForImageTextToText.from_pretrained(path)
    proc = AutoProcessor.from_pretrained(path)
    config = VisionPretrainConfig(minutes=60, max_steps=2, batch_size=4, num_frames=4, eval_every=2, eval_n=8)
    weighted = dataclasses.replace(config, log=False, changing_cell_weight=4.0)  # weighted loss trains
    curve = pretrain_vision(model, proc.image_processor, 56, weighted)
    assert [p["step"] for p in curve] == [0, 2] and 0 <= curve[-1]["motion"] <= 1
    with pytest.raises(ValueError, match="not a multiple of temporal_patch_size 2"):
        pretrain_vision(model, proc.image_processor, 56, dataclasses.replace(config, num_frames=5))


def test_each_temporal_patch_of_a_clip_is_labelled_with_its_own_looks():
    # Static, 8 frames, the colour changes at frame 2 (t = 2/7): inside the first half, before the second.
    track = sw.Track(
        sw.Obj("green", "square", 0.5, 0.5, 0.95), "right", 0.0, change_at=2 / 7, change_colour="red"
    )
    spec = sw.VideoSpec((track,))
    whole, _ = scene_targets(spec, cells=2)
    halves, glob = scene_targets(spec, cells=2, slots=2)
    green, red = COLOURS.index("green") + 1, COLOURS.index("red") + 1
    assert whole["colour"].tolist() == [green] * 4 and whole["end_colour"].tolist() == [red] * 4
    assert halves["colour"].tolist() == [green] * 4 + [red] * 4
    assert halves["end_colour"].tolist() == [red] * 8
    assert glob["is_video"] == 1
    with pytest.raises(ValueError, match="3 equal temporal patches"):
        scene_targets(spec, cells=2, slots=3)


def test_a_late_object_counts_as_there_from_the_start_in_a_later_patch():
    early = sw.Track(sw.Obj("red", "square", 0.25, 0.5, 0.5), "right", 0.0)
    late = sw.Track(sw.Obj("blue", "square", 0.75, 0.5, 0.5), "right", 0.0, appear=2 / 7)  # frame 2 of 8
    cells, _ = scene_targets(sw.VideoSpec((early, late)), cells=2, slots=2)
    blue = COLOURS.index("blue") + 1
    first, second = cells["appear"][:4], cells["appear"][4:]
    assert set(first[cells["colour"][:4] == blue]) == {2}  # second quarter of the clip
    assert set(second[cells["colour"][4:] == blue]) == {1}  # already there when the second half begins


def test_frozen_vision_tower_is_saved_unchanged(clip_model_dir, tmp_path):
    from tests.test_train_sft import config, examples
    from unireward.media import FramePolicy
    from unireward.train import train_reward_model

    out = train_reward_model(
        config(
            str(clip_model_dir),
            tmp_path / "rm",
            max_steps=3,
            freeze_vision=True,
            frame_policy=FramePolicy(num_frames=4, max_pixels=None),
        ),
        examples(),
    )
    before, after = load_file(clip_model_dir / "model.safetensors"), load_file(out / "model.safetensors")
    vision = [k for k in after if ".visual." in k or k.startswith("visual.")]
    assert vision and all(torch.equal(before[k], after[k]) for k in vision)
    assert any(not torch.equal(before[k], after[k]) for k in after if k not in vision)
    assert json.loads((out / "unireward.json").read_text())["freeze_vision"] is True


def test_unfrozen_last_vision_block_trains_at_its_own_rate(tmp_path):
    from transformers import TrainerCallback

    from tests.test_train_sft import config, examples
    from unireward.media import FramePolicy
    from unireward.train import train_reward_model

    model_dir = build_tiny_model("qwen2_vl", tmp_path / "base", dataclasses.replace(SPEC, vision_layers=2))
    rates = []

    class Rates(TrainerCallback):
        def on_step_end(self, args, state, control, optimizer=None, **kwargs):
            rates.append([(g["lr"], len(g["params"])) for g in optimizer.param_groups])

    out = train_reward_model(
        config(
            str(model_dir),
            tmp_path / "rm",
            max_steps=3,
            learning_rate=1e-2,
            lr_scheduler_type="constant",
            freeze_vision=True,
            vision_unfrozen_blocks=1,
            vision_lr_scale=0.1,
            frame_policy=FramePolicy(num_frames=4, max_pixels=None),
        ),
        examples(),
        callbacks=[Rates()],
    )
    before, after = load_file(model_dir / "model.safetensors"), load_file(out / "model.safetensors")
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    vision = {k for k in after if ".visual." in k or k.startswith("visual.")}
    assert not any(".blocks.0." in k or "patch_embed" in k for k in changed)  # the first block stays
    assert any(".blocks.1." in k for k in changed) and any(".merger." in k for k in changed)
    assert changed - vision  # the language model trains too
    # one vision group beside each language-model group, at a tenth of its rate, on every step
    assert len(rates) == 3 and all(len(r) == len(rates[0]) for r in rates)
    assert sorted({round(lr, 12) for lr, n in rates[-1] if n}) == [1e-3, 1e-2]
    meta = json.loads((out / "unireward.json").read_text())
    assert meta["vision_unfrozen_blocks"] == 1 and meta["vision_lr_scale"] == 0.1


def test_unfrozen_blocks_need_a_frozen_tower_that_has_them(clip_model_dir, tmp_path):
    from tests.test_train_sft import config
    from unireward.train.sft import vision_head

    with pytest.raises(ValueError, match="set freeze_vision=True"):
        config(str(clip_model_dir), tmp_path, vision_unfrozen_blocks=1)
    with pytest.raises(ValueError, match="vision_lr_scale must be positive"):
        config(str(clip_model_dir), tmp_path, vision_lr_scale=0)
    with pytest.raises(ValueError, match="LoRA trains its adapters only"):
        config(str(clip_model_dir), tmp_path, lora=True, freeze_vision=True, vision_unfrozen_blocks=1)
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(clip_model_dir)
    assert vision_head(model, 0) == []
    with pytest.raises(ValueError, match="has only 1 blocks"):
        vision_head(model, 2)


def test_relation_is_only_labelled_in_two_object_scenes():
    one = sw.ImageSpec((sw.Obj("red", "circle", 0.5, 0.5, 0.9),))
    cell, _ = scene_targets(one, cells=2)
    covered = cell["colour"] > 0
    assert covered.any() and set(cell["relation"][covered]) == {IGNORE}
    assert set(cell["relation"][~covered]) <= {0, IGNORE}


def test_random_palette_draws_in_its_colours_and_ignores_colour_labels(clip_model_dir):
    from transformers import AutoProcessor

    from unireward.train.vision import make_batch, random_palette

    spec = sw.ImageSpec((sw.Obj("red", "square", 0.5, 0.5, 0.9),))
    palette = random_palette(np.random.default_rng(3))
    image = np.asarray(sw.render_image(spec, 56, palette))
    assert tuple(image[28, 28]) == palette["red"] != sw.COLOURS["red"]
    background = np.asarray(sw.BACKGROUND)
    assert all(np.linalg.norm(np.asarray(rgb) - background) >= 90 for rgb in palette.values())
    proc = AutoProcessor.from_pretrained(clip_model_dir)
    packer = PixelPacker(proc.image_processor, 56)
    _, _, cell, _ = make_batch(packer, [spec, spec], 2, 4, 56, palettes=[palette, None])
    recoloured, plain = cell["colour"][:4], cell["colour"][4:]  # 4 visual tokens per image
    assert len(cell["colour"]) == 8
    assert (plain > 0).all() and (recoloured == IGNORE).all()
    assert torch.equal(cell["shape"][:4], cell["shape"][4:])  # the shape is still taught
    _, _, cell, _ = make_batch(packer, [spec, spec], 2, 4, 56, [palette, None], plain_ignored=("shape",))
    assert (cell["shape"][:4] > 0).all() and (cell["shape"][4:] == IGNORE).all()
    assert (cell["colour"][4:] > 0).all()  # the world's own palette still teaches colour


def test_random_palette_reaches_the_named_colours_range_and_keeps_off_the_background():
    from unireward.train.vision import random_palette

    rng = np.random.default_rng(0)
    colours = np.array([rgb for _ in range(300) for rgb in random_palette(rng).values()])
    assert colours.max() >= 240  # yellow's 240 and blue's 230 are inside the drawn range
    assert np.linalg.norm(colours - np.asarray(sw.BACKGROUND), axis=1).min() >= 90


def test_held_out_mask_marks_only_held_out_pairs():
    from unireward.train.vision import COLOURS, held_out_mask

    pairs = [(c, s) for c in COLOURS for s in sw.SHAPES]
    colour = torch.tensor([[COLOURS.index(c) + 1 for c, _ in pairs] + [0]])
    shape = torch.tensor([[sw.SHAPES.index(s) + 1 for _, s in pairs] + [0]])
    mask = held_out_mask(colour, shape)[0].tolist()
    assert [p for p, m in zip(pairs, mask) if m] == sorted(sw.HELD_OUT, key=pairs.index)
    assert not mask[-1]


def test_changing_cells_weigh_more_in_the_end_look_losses_only():
    """A weighted mean over labelled cells: weight w on cells whose look changes, 1 elsewhere; 1 is the
    plain mean, and the other targets never change."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    heads, n = SceneHeads(16), 6
    tokens = torch.randn(n, 16)
    cell_t = {k: torch.zeros(n, dtype=torch.long) for k in CELL_TARGETS}
    cell_t["colour"][:] = torch.tensor([1, 1, 2, 0, IGNORE, 3])
    cell_t["end_colour"][:] = torch.tensor([1, 4, 2, 0, IGNORE, 3])  # cell 1 changes colour
    cell_t["shape"][:] = torch.tensor([1, 1, 2, 0, IGNORE, IGNORE])
    cell_t["end_shape"][:] = torch.tensor([1, 1, 3, 0, IGNORE, IGNORE])  # cell 2 changes shape
    assert changing_cells(cell_t).tolist() == [False, True, True, False, False, False]
    glob_t = {k: torch.zeros(2, dtype=torch.long) for k in GLOBAL_TARGETS}
    plain, _ = heads.losses_and_hits(tokens, [3, 3], cell_t, glob_t)
    weighted, _ = heads.losses_and_hits(tokens, [3, 3], cell_t, glob_t, changing_weight=5.0)
    for k in ("end_colour", "end_shape"):
        each = F.cross_entropy(heads.cell[k](tokens), cell_t[k], ignore_index=IGNORE, reduction="none")
        labelled = cell_t[k] != IGNORE
        w = torch.tensor([1.0, 5.0, 5.0, 1.0, 1.0, 1.0])[labelled]
        assert torch.allclose(weighted[k], (each[labelled] * w).sum() / w.sum())
        assert torch.allclose(plain[k], each[labelled].mean())
        assert not torch.allclose(weighted[k], plain[k])
    for k in set(weighted) - {"end_colour", "end_shape"}:
        assert torch.equal(weighted[k], plain[k])
