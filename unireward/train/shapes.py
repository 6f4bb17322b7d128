"""Train a tiny reward model from scratch on the shapes world, with a held-out learning curve.

The recipe behind the shipped default model (`scripts/train_default_model.py`) and the joint-versus-
single-task experiment (`benchmarks/joint_vs_single.py`):

1. Training examples of the chosen tasks in both modes, each target preceded by the oracle's reasoning
   (`unireward.data.shapes.explanation`). A one-token verdict teaches a from-scratch model too little
   (../shared/DESIGN.md); the reasoning gives dense supervision and makes the verdict a simple function
   of text the model has just written. By default every step sees fresh draws (`shapes_sft_stream`):
   epochs over a fixed record set overfit (docs/research/default-model.md); `records_per_task_mode`
   trains on a fixed exported set instead.
2. `build_tiny_model("qwen2_vl", ...)` with `default_spec()`, then `pretrain_vision`: the vision tower alone
   learns dense scene labels (what covers each cell: colour, shape, count, relation, motion, change,
   appearance; blur/noise/artefacts/flicker per image) from fresh renders for `vision_minutes`. A later
   run in the same work directory with the same spec and vision recipe reuses that stage (its minutes
   still count against the budget), so SFT changes can be tried without paying for stage 1 again.
3. `train_reward_model` (TRL SFTTrainer, answer-only loss; the vision tower frozen by default) under a
   wall-clock budget, evaluating the in-training model every `eval_every` steps on the held-out test
   split with `shapes_report`, the code behind `unireward bench --suite shapes`.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from unireward.tasks import Task
from unireward.tiny import TinySpec

PROTOCOL = (
    "v1-qwen"  # short verdicts: a tiny model cannot contradict itself ("Image 2 is better than Image 2")
)


def default_spec() -> TinySpec:
    """~1 M parameters (about 4 MB in float32): 112 px images give 16 visual tokens each."""
    return TinySpec(
        hidden_size=128,
        num_layers=4,
        num_heads=4,
        num_kv_heads=2,
        intermediate_size=256,
        vision_hidden_size=128,
        vision_layers=3,
        vision_heads=4,
        vocab_size=1024,
        image_size=112,
        temporal_patch_size=8,  # one patch holds a whole 8-frame clip: the vision tower sees the motion
        seed=0,
    )


def lm_spec(num_layers: int, hidden_size: int) -> TinySpec:
    """`default_spec()` with a language model of another depth and width (32 per head, 2 KV heads, MLP
    twice as wide); the vision tower stays as it is."""
    from dataclasses import replace

    if num_layers < 1 or hidden_size % 64:  # whole heads of 32, in a number the 2 KV heads divide
        raise ValueError(
            f"the language model needs at least 1 layer and a width that is a multiple of 64, got "
            f"{num_layers} layers, width {hidden_size}"
        )
    return replace(
        default_spec(),
        num_layers=num_layers,
        hidden_size=hidden_size,
        num_heads=hidden_size // 32,
        num_kv_heads=2,
        intermediate_size=2 * hidden_size,
    )


@dataclass(frozen=True)
class DrillPlan:
    """Drill rows added after every cycle of the 8 task-mode rows (text only but for the palette shape
    rows), each kind from its own research finding (docs/research/default-model.md). They come from the
    drills' own worlds, so adding drills leaves the task rows unchanged."""

    # Lookup exercises (shapes.lookup_drill); need a lookup describe style.
    lookup: int = 0
    # A drill-heavy first phase: `warmup_lookup` lookup drills per cycle for the first `warmup_cycles`
    # cycles, then `lookup`. The colour comparison after a lookup is learnt only at a high drill dose
    # (session 8), which would cost the image rows the whole run if kept throughout.
    warmup_lookup: int = 0
    warmup_cycles: int = 0
    # "any": the lookup and comparison drills' scenes are drawn over every colour×shape pair, so held-out
    # pairs appear in training text (never in training media); "train" keeps them inside the train split.
    split: str = "train"
    # Naming rows (shapes.name_drill, always over every pair): they take away the colour->shape prior the
    # train split's text teaches (session 10).
    naming: int = 0
    # Understanding-check rows (shapes.comparison_drill: claim beside truth, right or wrong), image and
    # video understanding in turn, from `split`.
    comparison: int = 0
    # A comparison-heavy tail: `tail_comparison` comparison drills per cycle from cycle `tail_from_cycle`
    # on (0: no tail). Both comparison steps came back when a finished run got more of them (session 12).
    tail_comparison: int = 0
    tail_from_cycle: int = 0
    # Video-generation change-line rows (shapes.change_drill: a described start and end look, then
    # whether they differ, half of them changing): judges wrote `no` after two different words (session 18).
    change: int = 0
    # Shape-naming rows on an image drawn in a random palette (shapes.palette_shape_drill): the language
    # model reads shape where colour tells it nothing, as stage 1 teaches the tower (research log, session
    # 22: held-out objects are named with a shape their colour has in the train split).
    palette_shapes: int = 0
    # Image rows that ask an image-understanding relation question with no answer to judge
    # (shapes.relation_drill): the judge copies a relation's direction from the answer (session 34).
    relations: int = 0

    def __bool__(self) -> bool:
        return bool(
            self.lookup
            or self.warmup_lookup
            or self.naming
            or self.comparison
            or self.tail_comparison
            or self.change
            or self.palette_shapes
            or self.relations
        )

    def lookups_after(self, cycle: int) -> int:
        return self.warmup_lookup if cycle < self.warmup_cycles else self.lookup

    def comparisons_after(self, cycle: int) -> int:
        return (
            self.tail_comparison
            if self.tail_from_cycle and cycle >= self.tail_from_cycle
            else self.comparison
        )

    def check(self, describe: str) -> None:
        """Lookup drills need a lookup describe style; a warm-up needs both numbers; drills come from the
        train split or from every pair ("any"), never from the test split."""
        counts = (
            self.lookup,
            self.warmup_lookup,
            self.warmup_cycles,
            self.naming,
            self.comparison,
            self.change,
            self.palette_shapes,
            self.relations,
        )
        if min(*counts, self.tail_comparison, self.tail_from_cycle) < 0:
            raise ValueError("drill counts, warmup_cycles and tail_from_cycle must be >= 0")
        if self.split not in ("train", "any"):
            raise ValueError(
                f"the drills' split must be 'train' or 'any' (every colour×shape pair), got {self.split!r}"
            )
        from unireward.data.shapes import lookup_style, video_lines

        if (self.lookup or self.warmup_lookup) and not lookup_style(describe):
            raise ValueError(
                f"lookup drills exercise the lookup checks; set describe='lookup', not {describe!r}"
            )
        if self.change and not video_lines(describe).gen_change_line:
            raise ValueError(
                "change drills exercise video generation's change line; use a describe style whose videos "
                f"write it (e.g. 'colours+videos-ends-checked-changes'), not {describe!r}"
            )
        if bool(self.warmup_lookup) != bool(self.warmup_cycles):
            raise ValueError("a drill warm-up needs both warmup_lookup and warmup_cycles (or neither)")
        if bool(self.tail_comparison) != bool(self.tail_from_cycle):
            raise ValueError("a comparison tail needs both tail_comparison and tail_from_cycle (or neither)")

    def card_fields(self) -> dict:
        """The plan as the model's unireward.json records it (the keys the model card reads)."""
        fields = {
            "lookup_drills": self.lookup,
            "drill_split": self.split,
            "name_drills": self.naming,
            "comparison_drills": self.comparison,
            "change_drills": self.change,
            "palette_shape_drills": self.palette_shapes,
            "relation_drills": self.relations,
        }
        if self.warmup_cycles:
            fields["drill_warmup"] = {"lookup_drills": self.warmup_lookup, "cycles": self.warmup_cycles}
        if self.tail_from_cycle:
            fields["comparison_tail"] = {
                "comparison_drills": self.tail_comparison,
                "from_cycle": self.tail_from_cycle,
            }
        return fields


@dataclass
class ShapesTrainingConfig:
    work_dir: str
    tasks: tuple[str, ...] = tuple(t.value for t in Task)
    records_per_task_mode: int | None = None  # None: fresh draws every step; n: a fixed set of n records
    minutes: float = 100.0
    max_steps: int = 100_000
    # False: the budget is the clock (`minutes`, stage 1 included; `vision_minutes` for stage 1). True: stage
    # 1 runs exactly `vision_max_steps` steps and SFT exactly `max_steps`, whatever the clock, and the
    # learning-rate decay and name-noise schedule follow SFT steps: a slower machine then takes longer
    # instead of training a different judge (research log, session 26).
    step_budget: bool = False
    eval_every: int = 1000
    eval_n: int = 16
    eval_tasks: tuple[str, ...] = tuple(t.value for t in Task)
    learning_rate: float = 1e-3
    # The SFT learning rate falls linearly to a tenth over this last share of the budget (the clock's, or
    # SFT steps' with `step_budget`).
    lr_decay_share: float = 0.25
    batch_size: int = 8
    vision_minutes: float = 25.0  # dense vision pre-training before the protocol SFT; 0 skips it
    vision_learning_rate: float = 2e-3
    vision_max_steps: int = 100_000
    # Stage 1 teaches shape only on random-palette media (see VisionPretrainConfig); False also teaches it
    # in the world's palette, as the shipped attempt-4 model was made.
    vision_shape_from_random_palette_only: bool = True
    # Stage 1's weight of cells whose look changes within their frames in the end-look losses
    # (VisionPretrainConfig.changing_cell_weight); 1 weighs them as every cell.
    vision_changing_cell_weight: float = 1.0
    # Share of stage 1's budget over which its rate falls to a tenth (VisionPretrainConfig.lr_decay_share).
    vision_lr_decay_share: float = 0.0
    freeze_vision: bool = True
    # With the tower frozen, its last n blocks (and merger) still train in SFT, at the SFT rate times
    # `vision_lr_scale` (RewardSFTConfig); 0 keeps the whole tower as stage 1 left it.
    vision_unfrozen_blocks: int = 0
    vision_lr_scale: float = 1.0
    # Draw image-generation training candidates with half the caption's objects missing or wrong instead of
    # the world's third (ShapesWorld(balanced_checks=True)); evaluation always uses the world's own mix.
    balanced_checks: bool = False
    # Share of understanding training pairs drawn with equal oracle scores, labelled by the written rule
    # shapes.UND_TIE_BREAK (ShapesWorld(und_tie_rate)); 0 draws none, as the world does.
    und_tie_rate: float = 0.0
    # "shows": targets of the image tasks first say what each image shows (shapes.describe_image), then
    # check; "lookup": each object check also first says what the image shows of its shape (shapes.sees);
    # "lookup-checks": point answers write those checks too; "colours": as lookup-checks, with the
    # shape's colours beside the asked colour in each object check. A "+videos" suffix also describes videos
    # (shapes.describe_video) and checks video-generation captions beside it (shapes.DESCRIBE_STYLES);
    # "+videos-ends" does so stating every object's last look (`ends red square`).
    describe: str = ""
    # Share of image descriptions in which the model reads one object's colour word replaced by a colour
    # naming no object there, with no loss on it nor on what follows up to the next description
    # (shapes.name_noise): the colour word then says nothing of the shape after it, so the train split's
    # colour->shape pairing is not learnt as a text prior. 0: the answers as written. `name_noise_tasks`:
    # the tasks whose rows it rewrites (video descriptions are never noised, so only the image tasks'
    # rows change).
    name_noise: float = 0.0
    name_noise_tasks: tuple[str, ...] = tuple(t.value for t in Task)
    # The noise stops once this share of the budget is spent (on the clock of the learning-rate decay):
    # rows are noised while the naming is learnt and clean late, when the comparison steps are. 1: to the end.
    name_noise_until: float = 1.0
    # Share of image-generation rows whose target follows a misread description: one object of one image
    # named with another colour or shape, no loss on that word, and the lookups, checks, score and verdict
    # the oracle gives for what was written (shapes.slip_description), so the steps after a description
    # learn to read it rather than the image (research log, session 31). 0: every target as drawn.
    description_slips: float = 0.0
    # Share of those slips that misread the object as its shape's held-out colour (slip_description's
    # `held_out`): the lookup that fails at test time is the one for a held-out name it has just written.
    # The same share applies to the image-understanding slips.
    held_out_slips: float = 0.0
    # Share of image-understanding rows whose target follows a misread description of the image: the
    # correct answer, the answers' checks, scores and verdict follow what was written
    # (shapes.slip_image_und; session 33). Drawn from their own stream: 0 leaves every other row as it was.
    image_und_slips: float = 0.0
    # The same for video-understanding rows: one look of one track misread, the question and answers
    # renamed to it where they name that object (shapes.slip_video_und; session 38). Its own stream.
    video_und_slips: float = 0.0
    # Share of image-understanding point rows whose answer is redrawn with a wrong main claim when it was
    # right (shapes.wrong_point_answer): with answers right half the time, a judge unsure of the image
    # copies the answer's claim into its correct answer (session 34). Its own stream, as the slips.
    image_und_wrong_points: float = 0.0
    # Text-only drill rows after every cycle of the task rows (DrillPlan); none by default.
    drills: DrillPlan = field(default_factory=DrillPlan)
    init_model: str | None = None  # start from this model (e.g. a shared vision-pretrained base) instead
    # Or start from this model's vision tower only, under a fresh language model of `spec`
    # (with_language_model): a trained judge's stage 1 reused without its SFT (research log, session 37).
    init_tower: str | None = None
    # SFT batches from windows of this many batches regrouped by length (shapes_sft_stream): the same rows
    # with about a third less padding, so more steps fit the clock (research log, session 29). 1: as drawn.
    length_groups: int = 1
    threads: int = 1
    num_frames: int = 8
    seed: int = 0
    spec: TinySpec = field(default_factory=default_spec)


@dataclass
class ShapesTrainingResult:
    model_dir: Path
    curve: list[dict]
    minutes: float
    steps: int


def headline(metrics: dict) -> dict:
    """The few numbers a learning curve shows: per task, pair accuracy and point Spearman."""
    out = {}
    for key, entry in metrics.items():
        name = key.partition("/")[2]
        if name in ("pair_without_ties", "pair_with_ties", "point_spearman") and isinstance(entry, dict):
            out[key] = entry.get("value")
    return out


def budget_lr_factor(spent: float, budget: float, decay_share: float) -> float:
    """1 until the last `decay_share` of a budget (minutes or steps), then linearly down to 0.1 at its end."""
    left = max(0.0, budget - spent) / max(budget, 1e-9)
    if decay_share <= 0 or left >= decay_share:
        return 1.0
    return 0.1 + 0.9 * left / decay_share


def evaluate(model, processor, config: ShapesTrainingConfig, n: int | None = None) -> dict:
    """Held-out shapes metrics of an in-memory model (generate decision: it reasons before answering)."""
    import torch

    from unireward.bench.runner import shapes_report
    from unireward.judge import Judge, JudgeConfig
    from unireward.judge.hf import HFBackend
    from unireward.media import FramePolicy

    judge = Judge(
        HFBackend.from_model(model, processor),
        JudgeConfig(
            protocol=PROTOCOL,
            decision="generate",
            batch_size=16,
            max_new_tokens=320,  # image-generation pairs with lookups reach ~230 tokens
            frame_policy=FramePolicy(num_frames=config.num_frames),
        ),
    )
    was_training = model.training
    model.eval()
    with torch.no_grad():
        metrics = shapes_report(judge, n or config.eval_n, seed=config.seed + 1, tasks=config.eval_tasks)
    model.train(was_training)
    return metrics


def shapes_sft_stream(
    tasks=tuple(t.value for t in Task),
    *,
    seed: int = 0,
    split: str = "train",
    protocol: str = PROTOCOL,
    image_size: int = 64,
    num_frames: int = 8,
    balanced_checks: bool = False,
    describe: str = "",
    drills: DrillPlan = DrillPlan(),
    und_tie_rate: float = 0.0,
    length_groups: int = 1,
    batch_size: int = 8,
    description_slips: float = 0.0,
    held_out_slips: float = 0.0,
    image_und_slips: float = 0.0,
    image_und_wrong_points: float = 0.0,
    video_und_slips: float = 0.0,
):
    """An endless `datasets.IterableDataset` of fresh shapes-world training rows (`sft_row` format),
    cycling over the tasks in both modes, pairs then points; the same rows for the same arguments.
    The `drills` plan's text-only rows (`drill_row`) follow each cycle: lookup, then naming, then
    comparison drills, drawn from their own stream so the task rows stay the same. `length_groups=G > 1`
    regroups each window of G batches of `batch_size` rows by length (`sft.length_grouped`): the same rows,
    less padding. `description_slips` is the share of image-generation rows whose target follows a misread
    description (`shapes.slip_description`); each row's `unlearnt` column holds the character spans of its
    completion to take no loss on (JSON; empty for most rows); `held_out_slips` is the share of those
    slips that name a held-out pair; `image_und_slips` the share of image-understanding rows whose target
    follows a misread image (`shapes.slip_image_und`), with the same held-out share;
    `image_und_wrong_points` the share of image-understanding point rows whose answer is made wrong
    (`shapes.wrong_point_answer`), before any slip; `video_und_slips` as `image_und_slips`, for video
    understanding (`shapes.slip_video_und`)."""
    from datasets import IterableDataset

    from unireward.train.sft import sft_features

    kwargs = {
        "tasks": ",".join(Task.parse(t).value for t in tasks),  # a string: datasets shards list kwargs
        "seed": seed,
        "split": split,
        "protocol": protocol,
        "image_size": image_size,
        "num_frames": num_frames,
        "balanced_checks": balanced_checks,
        "describe": describe,
        "drills": asdict(drills),  # plain values: datasets hashes gen_kwargs to cache the stream
        "und_tie_rate": und_tie_rate,
        "length_groups": length_groups,
        "batch_size": batch_size,
        "description_slips": description_slips,
        "held_out_slips": held_out_slips,
        "image_und_slips": image_und_slips,
        "image_und_wrong_points": image_und_wrong_points,
        "video_und_slips": video_und_slips,
    }
    features = sft_features(unlearnt=True)
    return IterableDataset.from_generator(_grouped_rows, features=features, gen_kwargs=kwargs)


def _grouped_rows(length_groups: int, batch_size: int, **kwargs):
    """`_stream_rows`, regrouped by length; `length_groups=1` is the stream as drawn."""
    from unireward.train.sft import length_grouped

    rows = ({"unlearnt": "", **row} for row in _stream_rows(**kwargs))
    yield from length_grouped(rows, batch_size, length_groups, seed=kwargs["seed"])


def _stream_rows(
    tasks: str,
    seed: int,
    split: str,
    protocol: str,
    image_size: int,
    num_frames: int,
    balanced_checks: bool,
    describe: str,
    drills: dict,
    und_tie_rate: float,
    description_slips: float,
    held_out_slips: float,
    image_und_slips: float = 0.0,
    image_und_wrong_points: float = 0.0,
    video_und_slips: float = 0.0,
):
    import numpy as np

    from unireward.data.records import shapes_labels, target_text
    from unireward.data.shapes import (
        ShapesWorld,
        change_drill,
        comparison_drill,
        lookup_drill,
        lookup_style,
        misread_span,
        name_drill,
        names_style,
        palette_shape_drill,
        relation_drill,
        render_image,
        slip_description,
        slip_image_und,
        slip_video_und,
        wrong_point_answer,
    )
    from unireward.protocols import get_protocol
    from unireward.train.sft import encode_source, sft_row
    from unireward.train.vision import random_palette

    world = ShapesWorld(
        seed, image_size, num_frames, balanced_checks=balanced_checks, und_tie_rate=und_tie_rate
    )
    proto = get_protocol(protocol)
    kinds = [(Task.parse(t), mode) for t in tasks.split(",") for mode in ("pair", "point")]
    plan = DrillPlan(**drills)
    plan.check(describe)
    understanding = itertools.cycle((Task.IMAGE_UND, Task.VIDEO_UND))
    lookup = lookup_style(describe)
    names = names_style(describe)
    drill_world = ShapesWorld(
        seed + DRILL_SEED_OFFSET, image_size, num_frames, balanced_checks=balanced_checks
    )
    change_rng = np.random.default_rng(seed + CHANGE_DRILL_SEED_OFFSET)  # its own stream, as drill_world
    palette_world = ShapesWorld(seed + PALETTE_DRILL_SEED_OFFSET, image_size, num_frames)
    palette_rng = np.random.default_rng(seed + PALETTE_DRILL_SEED_OFFSET)
    relation_world = ShapesWorld(seed + RELATION_DRILL_SEED_OFFSET, image_size, num_frames)
    # per task: the share of rows that slip, their own random stream, and how a row slips
    slips = {
        Task.IMAGE_GEN: (description_slips, np.random.default_rng(seed + SLIP_SEED_OFFSET), slip_description),
        Task.IMAGE_UND: (image_und_slips, np.random.default_rng(seed + UND_SLIP_SEED_OFFSET), slip_image_und),
        Task.VIDEO_UND: (
            video_und_slips,
            np.random.default_rng(seed + VIDEO_UND_SLIP_SEED_OFFSET),
            slip_video_und,
        ),
    }

    wrong_rng = np.random.default_rng(seed + WRONG_POINT_SEED_OFFSET)

    def target_of(task, mode, ex) -> str:
        return target_text(proto, task, mode, *shapes_labels(task, ex, explain=True, describe=describe))

    for i in itertools.count():
        task, mode = kinds[i % len(kinds)]
        ex = world.pair_example(task, split) if mode == "pair" else world.point_example(task, split)
        if image_und_wrong_points and (task, mode) == (Task.IMAGE_UND, "point"):
            if wrong_rng.random() < image_und_wrong_points:
                ex = wrong_point_answer(ex, wrong_rng) or ex
        target = target_of(task, mode, ex)
        slipped = None
        share, rng, slip = slips.get(task, (0.0, None, None))
        if share and rng.random() < share:
            held_out = bool(held_out_slips) and rng.random() < held_out_slips
            slipped = slip(ex, rng, held_out=held_out)
        if slipped is None:
            yield sft_row(i, (ex.item, target), proto)
        else:
            misread = target_of(task, mode, slipped)
            row = sft_row(i, (slipped.item, misread), proto)  # a video slip may rename the question
            yield {**row, "unlearnt": json.dumps([misread_span(target, misread)])}
        if (i + 1) % len(kinds) == 0:
            cycle = i // len(kinds)
            for k in range(plan.lookups_after(cycle)):
                drill = lookup_drill(drill_world.pair_example(Task.IMAGE_GEN, plan.split), lookup, names)
                yield drill_row(f"drill-{i}-{k}", *drill)
            for k in range(plan.naming):
                scene = drill_world.point_example(Task.IMAGE_GEN, "any").spec["candidate"]
                yield drill_row(f"name-{i}-{k}", *name_drill(scene, names))
            for k in range(plan.comparisons_after(cycle)):
                ex = drill_world.point_example(next(understanding), plan.split)
                yield drill_row(f"compare-{i}-{k}", *comparison_drill(ex, describe))
            for k in range(plan.change):
                yield drill_row(f"change-{i}-{k}", *change_drill(change_rng, num_frames, names))
            for k in range(plan.palette_shapes):
                scene = palette_world.point_example(Task.IMAGE_GEN, "any").spec["candidate"]
                image = render_image(scene, image_size, random_palette(palette_rng))
                yield drill_row(
                    f"palette-{i}-{k}", *palette_shape_drill(scene), encode_source("image", image)
                )
            for k in range(plan.relations):
                ex = relation_world.point_example(Task.IMAGE_UND, plan.split)
                while ex.spec["prompt"].question.kind != "relation":
                    ex = relation_world.point_example(Task.IMAGE_UND, plan.split)
                question = ex.spec["prompt"]
                yield drill_row(
                    f"relation-{i}-{k}",
                    *relation_drill(question, names),
                    encode_source("image", ex.item.media),
                )


DRILL_SEED_OFFSET = 1_000_003  # the drills' own world, so adding drills leaves the task rows unchanged
CHANGE_DRILL_SEED_OFFSET = 2_000_003  # the change drills' own stream: adding them leaves the other drills
PALETTE_DRILL_SEED_OFFSET = 3_000_017  # the palette shape drills' own world and palettes, likewise
SLIP_SEED_OFFSET = 4_000_037  # which image-generation rows follow a misread description, and the misreadings
UND_SLIP_SEED_OFFSET = 5_000_011  # the same for image-understanding rows, so adding them leaves the others
WRONG_POINT_SEED_OFFSET = 6_000_029  # which image-understanding point answers are made wrong, and how
RELATION_DRILL_SEED_OFFSET = 7_000_003  # the relation drills' own world
VIDEO_UND_SLIP_SEED_OFFSET = 8_000_009  # the video-understanding slips' own stream


def drill_row(row_id: str, prompt: str, completion: str, image: dict | None = None) -> dict:
    """A drill's training row in the `sft_row` format: text only, or one image (`encode_source`) first."""
    content = [{"type": "image"}] if image else []
    messages = [{"role": "user", "content": [*content, {"type": "text", "text": prompt}]}]
    return {
        "id": row_id,
        "task": Task.IMAGE_GEN.value,
        "mode": "drill",
        "prompt": json.dumps(messages),
        "completion": completion,
        "media": [image] if image else [],
    }


STAGE1_FILE = "stage1.json"


# Spec fields stage 1 never touches: the depth and shape of the language model. A stage-1 tower can serve a
# language model that differs only in these (its merger writes `hidden_size`-wide tokens, so that one stays).
LM_ONLY_FIELDS = ("num_layers", "num_heads", "num_kv_heads", "intermediate_size")


def _stage1_key(spec: TinySpec, vision_config) -> dict:
    """What `base/stage1.json` records, as it reads back from JSON: the whole spec (the language model it was
    saved with included) and the vision recipe."""
    from dataclasses import asdict

    key = {"spec": asdict(spec), "vision_pretraining": {**asdict(vision_config), "log": None}}
    return json.loads(json.dumps(key))


def _tower_key(key: dict) -> dict:
    """A stage-1 key without the language-model fields: equal keys mean the same tower and recipe."""
    return {**key, "spec": {k: v for k, v in key["spec"].items() if k not in LM_ONLY_FIELDS}}


def reusable_stage1(base: Path, vision_curve_path: Path, spec: TinySpec, vision_config) -> list[dict]:
    """The curve of a finished stage 1 in `base` made with this recipe and this tower, else [].

    Stage 1 is a quarter of the budget and depends only on the vision side of the spec and the vision
    recipe, so SFT experiments (a rerun after an interrupted SFT, a deeper language model) can start from
    it instead of paying for it again.
    """
    marker = base / STAGE1_FILE
    if not (marker.exists() and vision_curve_path.exists()):
        return []
    wanted = _stage1_key(spec, vision_config)
    # A field the marker lacks was added to the recipe after the marker was written, with a default that
    # keeps the old behaviour: that default is what this stage 1 ran with.
    defaults = _stage1_key(TinySpec(), type(vision_config)())
    recorded = json.loads(marker.read_text())
    recorded = {part: {**defaults[part], **recorded.get(part, {})} for part in defaults}
    if _tower_key(recorded) != _tower_key(wanted):
        return []
    return [json.loads(line) for line in vision_curve_path.read_text().splitlines() if line.strip()]


_MERGER_OUT = "model.visual.merger.mlp.2."  # the merger's projection into the language model's width


def with_language_model(base: Path, spec: TinySpec, out: Path) -> Path:
    """`base`'s vision tower (and merger) under a fresh language model of `spec`, saved to `out`.

    Used when a reused stage 1 was trained beside a language model of another depth, and by
    `init_tower`: the tower is what stage 1 made; the language model is initialised as `build_tiny_model`
    would for `spec`. For a wider language model the merger's output projection keeps its trained rows
    and the extra rows stay as initialised, so the language model sees the trained visual features plus a
    few random ones of the same merger input (research log, session 41).
    """
    from transformers import AutoModelForImageTextToText

    from unireward.tiny import build_tiny_model

    build_tiny_model("qwen2_vl", out, spec)
    fresh = AutoModelForImageTextToText.from_pretrained(out)
    trained = AutoModelForImageTextToText.from_pretrained(base)
    tower = {k: v for k, v in trained.state_dict().items() if k.startswith("model.visual.")}
    if not tower:
        raise ValueError(f"{base} has no model.visual.* weights to reuse")
    own = fresh.state_dict()
    for name in [k for k in tower if k.startswith(_MERGER_OUT)]:
        trained_rows = tower[name].shape[0]
        if own[name].shape[0] < trained_rows:
            raise ValueError(
                f"the tower in {base} writes {trained_rows}-wide visual features; give a language model "
                f"at least that wide (spec hidden_size {spec.hidden_size})"
            )
        widened = own[name].clone()  # as wide as the language model; equal widths copy every row
        widened[:trained_rows] = tower[name]
        tower[name] = widened
    missing, unexpected = fresh.load_state_dict(tower, strict=False)
    missing = [k for k in missing if k.startswith("model.visual.")]
    if unexpected or missing:
        depth = trained.config.vision_config.depth
        raise ValueError(
            f"the tower in {base} ({depth} vision layers) does not fit spec {spec} (vision_layers "
            f"{spec.vision_layers}; --vision-layers in train_default_model.py): {(unexpected or missing)[:3]}"
        )
    fresh.save_pretrained(out)
    return out


class RowNameNoise:
    """`RewardSFTCollator`'s `input_noise` for the recipe: `shapes.name_noise` at `rate` on the rows of
    `tasks`, the others as written; drawn from its own stream, so the rows are the same with and without
    it. `rate` may be changed while training runs (a callback turns the noise off late in the budget); the
    collator must then run in the trainer's process (`dataloader_num_workers=0`, the recipe's setting),
    since a worker would hold its own copy."""

    def __init__(self, rate: float, tasks, seed: int):
        import numpy as np

        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"name noise is a probability in [0, 1], got {rate}")
        self.rate = rate
        self.tasks = {Task.parse(t).value for t in tasks}
        self._rng = np.random.default_rng(np.random.SeedSequence([seed, 2028]))

    def __call__(self, row: dict) -> tuple[str, list[tuple[int, int]]]:
        from unireward.data.shapes import name_noise

        if row["task"] not in self.tasks:
            return row["completion"], []
        return name_noise(row["completion"], rng=self._rng, rate=self.rate)


def train_on_shapes(config: ShapesTrainingConfig) -> ShapesTrainingResult:
    import torch
    from transformers import AutoProcessor, TrainerCallback

    from unireward.data.records import Record, export_shapes, load_records, record_example
    from unireward.data.shapes import check_describe, names_style
    from unireward.media import FramePolicy
    from unireward.protocols import get_protocol
    from unireward.tiny import build_tiny_model
    from unireward.train.sft import RewardSFTConfig, train_reward_model

    check_describe(config.describe)  # a typo fails here, not after stage 1
    if not 0.0 <= config.name_noise <= 1.0:
        raise ValueError(f"name_noise is a share of image descriptions in [0, 1], got {config.name_noise}")
    if config.name_noise and names_style(config.describe) != "colour-first":
        raise ValueError(
            "name_noise replaces the colour word before a shape word, so it needs colour-first names; "
            f"describe={config.describe!r} names objects another way"
        )
    if not 0.0 <= config.name_noise_until <= 1.0:
        raise ValueError(
            f"name_noise_until is a share of the budget in [0, 1], got {config.name_noise_until}"
        )
    noised_tasks = {Task.parse(t).value for t in config.name_noise_tasks}
    if config.name_noise and not noised_tasks:
        raise ValueError("name_noise_tasks is empty: name the tasks whose rows to noise, or set name_noise=0")
    config.drills.check(config.describe)  # before stage 1, not after it
    if config.drills and config.records_per_task_mode is not None:
        raise ValueError("drills need fresh draws (records_per_task_mode=None)")
    if config.length_groups < 1:
        raise ValueError(f"length_groups must be >= 1 batches (1: as drawn), got {config.length_groups}")
    if config.length_groups > 1 and config.records_per_task_mode is not None:
        raise ValueError("length_groups regroups the fresh-draw stream (records_per_task_mode=None)")
    if config.und_tie_rate and config.records_per_task_mode is not None:
        raise ValueError("und_tie_rate needs fresh draws (records_per_task_mode=None)")
    # the image slips need image descriptions; the video slips, checked below, video descriptions
    for name, rows in (("description_slips", "image-generation"), ("image_und_slips", "image-understanding")):
        share = getattr(config, name)
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} is a share of {rows} rows in [0, 1], got {share}")
        if share and (not check_describe(config.describe) or config.records_per_task_mode is not None):
            raise ValueError(
                f"{name} needs targets that describe images (describe='colours', ...) and fresh draws "
                f"(records_per_task_mode=None); got describe={config.describe!r}"
            )
    if not 0.0 <= config.image_und_wrong_points <= 1.0 or (
        config.image_und_wrong_points and config.records_per_task_mode is not None
    ):
        raise ValueError(
            "image_und_wrong_points is a share of image-understanding point rows in [0, 1] and needs fresh "
            f"draws (records_per_task_mode=None), got {config.image_und_wrong_points} with "
            f"records_per_task_mode={config.records_per_task_mode}"
        )
    if not 0.0 <= config.video_und_slips <= 1.0 or (
        config.video_und_slips
        and ("+videos" not in config.describe or config.records_per_task_mode is not None)
    ):
        raise ValueError(
            "video_und_slips is a share of video-understanding rows in [0, 1] and needs targets that "
            f"describe videos (describe='colours+videos-ends-checked-changes', ...) and fresh draws; got "
            f"{config.video_und_slips} with describe={config.describe!r}"
        )
    slips = config.description_slips or config.image_und_slips or config.video_und_slips
    if not 0.0 <= config.held_out_slips <= 1.0 or (config.held_out_slips and not slips):
        raise ValueError(
            "held_out_slips is a share of the description slips in [0, 1] and needs description_slips, "
            f"image_und_slips or video_und_slips > 0, got {config.held_out_slips} with description_slips="
            f"{config.description_slips}, image_und_slips={config.image_und_slips} and video_und_slips="
            f"{config.video_und_slips}"
        )
    if config.step_budget and (config.max_steps <= 0 or config.vision_max_steps < 0):
        raise ValueError(
            f"a step budget needs max_steps > 0 and vision_max_steps >= 0 (0 skips stage 1), got "
            f"{config.max_steps} and {config.vision_max_steps}"
        )
    # Stage 1 runs unless an initial model replaces it; with a step budget when it has steps (the clock
    # then limits neither stage), else when it has minutes.
    if config.init_model and config.init_tower:
        raise ValueError("give init_model (a whole model) or init_tower (its vision tower only), not both")
    stage1 = not (config.init_model or config.init_tower) and (
        config.vision_max_steps > 0 if config.step_budget else config.vision_minutes > 0
    )
    torch.set_num_threads(config.threads)
    work = Path(config.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    if config.records_per_task_mode is None:
        examples = shapes_sft_stream(
            config.tasks,
            seed=config.seed,
            num_frames=config.num_frames,
            balanced_checks=config.balanced_checks,
            describe=config.describe,
            drills=config.drills,
            und_tie_rate=config.und_tie_rate,
            length_groups=config.length_groups,
            batch_size=config.batch_size,
            description_slips=config.description_slips,
            held_out_slips=config.held_out_slips,
            image_und_slips=config.image_und_slips,
            image_und_wrong_points=config.image_und_wrong_points,
            video_und_slips=config.video_und_slips,
        )
    else:
        data = work / "data"
        if not (data / "records.parquet").exists():
            export_shapes(
                data,
                config.records_per_task_mode,
                seed=config.seed,
                split="train",
                tasks=config.tasks,
                explain=True,
                num_frames=config.num_frames,
                balanced_checks=config.balanced_checks,
                describe=config.describe,
            )
        protocol = get_protocol(PROTOCOL)
        examples = [record_example(Record.from_row(r), data, protocol) for r in load_records(data)]
    start = time.perf_counter()  # the curve's clock includes vision pre-training
    vision_curve: list[dict] = []
    reused = False
    if config.init_model:
        base = Path(config.init_model)
    elif config.init_tower:
        base = with_language_model(Path(config.init_tower), config.spec, work / "base-lm")
    elif stage1:
        from transformers import AutoModelForImageTextToText

        from unireward.train.vision import VisionPretrainConfig, pretrain_vision

        vision_config = VisionPretrainConfig(
            minutes=None if config.step_budget else config.vision_minutes,
            max_steps=config.vision_max_steps,
            learning_rate=config.vision_learning_rate,
            shape_from_random_palette_only=config.vision_shape_from_random_palette_only,
            changing_cell_weight=config.vision_changing_cell_weight,
            lr_decay_share=config.vision_lr_decay_share,
            num_frames=config.num_frames,
            seed=config.seed,
        )
        base, vision_path = work / "base", work / "vision_curve.jsonl"
        vision_curve = reusable_stage1(base, vision_path, config.spec, vision_config)
        reused = bool(vision_curve)
        if reused:
            # Stage 1 already ran with this exact recipe: its minutes still count against the budget.
            start -= 60 * vision_curve[-1]["minutes"]
            print(f"reusing the stage-1 model in {base} ({vision_curve[-1]['minutes']:.1f} min)", flush=True)
            made_with = json.loads((base / STAGE1_FILE).read_text())["spec"]
            if any(made_with.get(k) != getattr(config.spec, k) for k in LM_ONLY_FIELDS):
                base = with_language_model(base, config.spec, work / "base-lm")
        else:
            build_tiny_model("qwen2_vl", base, config.spec)
            model = AutoModelForImageTextToText.from_pretrained(base)
            vision_path.unlink(missing_ok=True)
            processor = AutoProcessor.from_pretrained(base)
            size = config.spec.image_size
            vision_curve = pretrain_vision(
                model, processor.image_processor, size, vision_config, curve_path=vision_path
            )
            model.save_pretrained(base)
            del model
            (base / STAGE1_FILE).write_text(json.dumps(_stage1_key(config.spec, vision_config), indent=2))
    else:
        base = build_tiny_model("qwen2_vl", work / "base", config.spec)
    processor = AutoProcessor.from_pretrained(base)
    curve_path = work / "curve.jsonl"
    curve_path.unlink(missing_ok=True)
    curve: list[dict] = []

    noise = RowNameNoise(config.name_noise, noised_tasks, config.seed) if config.name_noise else None

    def spent_and_budget(step: int) -> tuple[float, float]:
        """How much of the budget is spent: SFT steps of `max_steps`, or minutes of `minutes`."""
        if config.step_budget:
            return step, config.max_steps
        return (time.perf_counter() - start) / 60, config.minutes

    class EvalAndBudget(TrainerCallback):
        """Held-out accuracy against training time; stops training when the budget is spent; decays the
        learning rate over the budget's last `lr_decay_share` (set before each optimiser step, after the
        constant schedule, so logged learning rates show the constant base); ends the name noise at
        `name_noise_until` (the collator reads its rate; the batch or two the data loader holds ahead were
        drawn before)."""

        def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
            spent, budget = spent_and_budget(state.global_step)
            if optimizer is not None:
                factor = budget_lr_factor(spent, budget, config.lr_decay_share)
                for group in optimizer.param_groups:  # each from its own rate (a vision group's is lower)
                    group["lr"] = group["initial_lr"] * factor
            if noise is not None and spent >= config.name_noise_until * budget:
                noise.rate = 0.0

        def on_step_end(self, args, state, control, model=None, **kwargs):
            minutes = (time.perf_counter() - start) / 60
            spent, budget = spent_and_budget(state.global_step)
            out_of_time = spent >= budget
            if state.global_step % config.eval_every == 0 or out_of_time:
                point = {
                    "step": state.global_step,
                    "minutes": round(minutes, 2),
                    **headline(evaluate(model, processor, config)),
                }
                curve.append(point)
                with curve_path.open("a") as fh:
                    fh.write(json.dumps(point) + "\n")
                print(json.dumps(point), flush=True)
            if out_of_time:
                control.should_training_stop = True

    frozen = config.freeze_vision and (stage1 or bool(config.init_model or config.init_tower))
    sft = RewardSFTConfig(
        model=str(base),
        output_dir=str(work / "model"),
        protocol=PROTOCOL,
        learning_rate=config.learning_rate,
        max_steps=config.max_steps,
        per_device_batch_size=config.batch_size,
        lr_scheduler_type="constant_with_warmup",
        warmup_ratio=0.0,
        logging_steps=50,
        save_steps=2000,
        save_total_limit=1,
        frame_policy=FramePolicy(num_frames=config.num_frames),
        freeze_vision=frozen,
        vision_unfrozen_blocks=config.vision_unfrozen_blocks if frozen else 0,
        vision_lr_scale=config.vision_lr_scale,
        seed=config.seed,
    )
    model_dir = Path(train_reward_model(sft, examples, callbacks=[EvalAndBudget()], input_noise=noise))
    meta = json.loads((model_dir / "unireward.json").read_text())
    # Rank by the verdict's probabilities after the written reasoning, in both orders; score by the written
    # integer (session 20: +2.2 points of pair accuracy, while expected-value scores ranked points worse).
    meta |= {"decision": "reason", "swap": True, "point_decision": "generate"}
    meta["vision_pretraining"] = {
        "minutes": vision_curve[-1]["minutes"] if vision_curve else 0,
        "final": vision_curve[-1] if vision_curve else None,
        "reused": reused,
    }
    if config.init_model:
        meta["init_model"] = config.init_model
    if config.init_tower:
        meta["init_tower"] = config.init_tower
    meta["vision_frozen"] = sft.freeze_vision
    meta["balanced_checks"] = config.balanced_checks
    meta["und_tie_rate"] = config.und_tie_rate
    meta["length_groups"] = config.length_groups
    meta["description_slips"] = config.description_slips
    meta["held_out_slips"] = config.held_out_slips
    meta["image_und_slips"] = config.image_und_slips
    meta["image_und_wrong_points"] = config.image_und_wrong_points
    meta["video_und_slips"] = config.video_und_slips
    meta["threads"] = config.threads
    meta["describe"] = config.describe
    meta["name_noise"] = config.name_noise
    if config.name_noise:
        meta["name_noise_tasks"] = sorted(noised_tasks)
        meta["name_noise_until"] = config.name_noise_until
    meta["budget"] = (
        {"vision_steps": config.vision_max_steps if stage1 else 0, "sft_steps": config.max_steps}
        if config.step_budget
        else {"minutes": config.minutes, "vision_minutes": config.vision_minutes if stage1 else 0}
    )
    meta |= config.drills.card_fields()
    (model_dir / "unireward.json").write_text(json.dumps(meta, indent=2) + "\n")
    return ShapesTrainingResult(
        model_dir, curve, (time.perf_counter() - start) / 60, int(meta.get("steps", 0))
    )
