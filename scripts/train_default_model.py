"""Train the default reward model that ships inside the package, from scratch, on the shapes world.

    python scripts/train_default_model.py                    # ~2 CPU-hours budget, writes the assets
    python scripts/train_default_model.py --minutes 10 --out /tmp/rm   # a short trial
    python scripts/train_default_model.py --vision-steps 3000 --steps 9800 --out /tmp/rm  # fixed steps

The recipe is `unireward.train.shapes.train_on_shapes` (explained shapes examples, a tiny Qwen2-VL whose
vision tower is first pre-trained on dense scene labels, then TRL SFT with the tower frozen, all under one
wall-clock budget, held-out evaluation along the way). This script runs it for all four tasks and
writes the final model, its `unireward.json` (protocol; decision "reason" with swap for pairs, "generate"
for points), the learning curve (JSONL and PNG) and a model card to --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "unireward" / "assets" / "default_model"


def main(argv: list[str] | None = None) -> None:
    from unireward.data.shapes import DESCRIBE_STYLES, NAME_STYLES, NAME_SUFFIXES, VIDEO_STYLES
    from unireward.tasks import Task
    from unireward.train.shapes import ShapesTrainingConfig

    d = ShapesTrainingConfig(work_dir="")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "default-model")
    parser.add_argument(
        "--n",
        type=int,
        default=d.records_per_task_mode,
        help="train on a fixed set of N records per task and mode (default: fresh draws every step)",
    )
    parser.add_argument("--minutes", type=float, default=d.minutes, help="wall-clock training budget")
    parser.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="a step budget instead of the clock: exactly N SFT steps (with --vision-steps), the learning-"
        "rate decay and --name-noise-until following the steps; --minutes and --vision-minutes are then "
        "ignored, so a slower machine takes longer rather than training a different judge",
    )
    parser.add_argument(
        "--vision-steps",
        type=int,
        metavar="N",
        help="with --steps: exactly N stage-1 steps (0 skips stage 1)",
    )
    parser.add_argument(
        "--init-model",
        type=Path,
        metavar="DIR",
        help="skip stage 1 and start SFT from this model's frozen tower, e.g. another run's WORK/base: "
        "arms compared on one shared tower differ only in their SFT (with --steps, give --vision-steps 0)",
    )
    parser.add_argument(
        "--init-tower",
        type=Path,
        metavar="DIR",
        help="skip stage 1 and start SFT from this model's vision tower only, frozen, under a fresh language "
        "model: a trained judge's stage 1 reused without its SFT (e.g. 21a's weights; README)",
    )
    parser.add_argument("--eval-every", type=int, default=d.eval_every)
    parser.add_argument(
        "--eval-n", type=int, default=d.eval_n, help="held-out pairs and points per task per eval"
    )
    parser.add_argument(
        "--vision-minutes",
        type=float,
        default=d.vision_minutes,
        help="dense vision pre-training before the protocol SFT (part of --minutes)",
    )
    parser.add_argument(
        "--shape-in-world-palette",
        action="store_true",
        help="stage 1 also teaches shape on media in the world's own colours (default: random palette only)",
    )
    parser.add_argument(
        "--changing-cell-weight",
        type=float,
        default=d.vision_changing_cell_weight,
        help="stage 1 weighs the cells whose object changes within their frames this much more in the "
        "end-look losses (default %(default)s: as every cell; few cells change, and their end look is read "
        "worst)",
    )
    parser.add_argument(
        "--vision-lr-decay-share",
        type=float,
        default=d.vision_lr_decay_share,
        help="stage 1's rate falls linearly to a tenth over this last share of its budget (default "
        "%(default)s: constant, as the shipped model's stage 1)",
    )
    parser.add_argument(
        "--lm-layers", type=int, default=d.spec.num_layers, help="language-model layers (default %(default)s)"
    )
    parser.add_argument(
        "--lm-width",
        type=int,
        default=d.spec.hidden_size,
        help="language-model width (default %(default)s; 32 per attention head, MLP twice as wide)",
    )
    parser.add_argument(
        "--vision-layers",
        type=int,
        default=d.spec.vision_layers,
        help="vision-tower blocks (default %(default)s); with --init-tower, the depth of that tower",
    )
    parser.add_argument(
        "--temporal-patch",
        type=int,
        choices=(4, 8),
        default=d.spec.temporal_patch_size,
        help="frames per temporal patch of the vision tower (default %(default)s: one patch holds a whole "
        "8-frame clip; 4: the first and second half are separate tokens, twice the visual tokens per clip, "
        "and stage 1 labels each half with its own start and end look)",
    )
    parser.add_argument(
        "--balanced-checks",
        action="store_true",
        help="train on image-generation candidates with half the caption's objects missing or wrong (the "
        "world's own mix has a third, so writing 'present' without looking is right 2 times in 3)",
    )
    parser.add_argument(
        "--und-ties",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="draw this share of understanding training pairs with answers the oracle scores equal, the "
        "verdict then naming Answer 1 by a written rule (understanding has no tie verdict; without such "
        "pairs a judge that writes two equal scores has no verdict to copy). Default 0: none",
    )
    parser.add_argument(
        "--describe",
        choices=DESCRIBE_STYLES,
        default="",
        help="shows: image-task targets first say what each image shows ('Image shows: red cross, blue "
        "circle.'), then check the caption or answer against that text; lookup: also, before each caption "
        "object's check, the image's objects of its shape ('yellow square (object): sees red square so 0'); "
        "lookup-checks: as lookup, and image-generation point answers write those checks too; colours: as "
        "lookup-checks, with the shape's colours beside the asked one ('colours red, asked yellow: 0'); "
        "colours-sides: as colours, and relation checks and relation questions give each object's side "
        "('red cross left, blue circle right'); colours-sides-inline: as colours-sides, but a relation "
        "question's sides follow the object names in what the image shows",
    )
    parser.add_argument(
        "--describe-videos",
        nargs="?",
        const="becomes",
        default="",
        choices=tuple(VIDEO_STYLES),
        help="video-task targets first say what each video shows ('red square moving left quickly, becomes "
        "blue'); video generation then checks the caption against it ('colour red, asked green: 0') before "
        "the five ratings, video understanding says it before the correct answer. 'ends': every object "
        "states its last look, changed or not ('..., ends blue square'), so a change is two written words "
        "that differ; 'ends-checked': as ends, and change questions write the asked attribute's start and "
        "end side by side before the answer ('Change: colour green, ends cyan: yes.'); "
        "'ends-checked-order': as ends-checked, and order questions write when each object appears "
        "in the question's order ('Order: red square start, blue circle later: red square.'); "
        "'ends-checked-order-described': the same in the description's order, ', then' before a later "
        "one ('Order: blue circle start, then red square later: blue circle.'); 'ends-checked-changes': "
        "as ends-checked, and video generation writes the subject's start and end look side by side "
        "before its ratings ('change colour red, ends blue: yes, shape square, ends square: no') "
        "(default without a value: becomes)",
    )
    parser.add_argument(
        "--names",
        choices=NAME_STYLES,
        default="colour-first",
        help="with --describe shows or colours, how descriptions name objects: colour-first ('Image shows: "
        "red cross, blue circle.'); shape-first ('cross red, circle blue'), so no shape word follows a "
        "colour word (research log, session 23); two-lists ('shapes cross, circle; colours red, blue'), so "
        "no word of an object's name follows the other (session 24; video objects stay colour first). "
        "Written colour first, a held-out pair's shape follows a colour the training text never puts "
        "before it",
    )
    parser.add_argument(
        "--shape-first",
        action="store_const",
        const="shape-first",
        dest="names",
        help="the same as --names shape-first",
    )
    parser.add_argument(
        "--lookup-drills",
        type=int,
        default=0,
        help="with --describe lookup, lookup-checks or colours: N text-only rows after every 8 task rows "
        "that give the images' descriptions as text and train only the lookups and checks (cheap; default "
        "%(default)s)",
    )
    parser.add_argument(
        "--drill-warmup",
        metavar="DRILLS:CYCLES",
        default="",
        help="a drill-heavy first phase: DRILLS lookup drills after each of the first CYCLES cycles of 8 "
        "task rows, then --lookup-drills (e.g. 24:1000, about 4,000 steps at batch 8)",
    )
    parser.add_argument(
        "--drills-over-all-pairs",
        action="store_true",
        help="draw the lookup drills' scenes over every colour×shape pair: the held-out pairs' names then "
        "appear in training text (never in training images or videos), as a real VLM's language model has "
        "read every combination (the model card says so)",
    )
    parser.add_argument(
        "--name-drills",
        type=int,
        default=0,
        help="N text-only rows after every 8 task rows that name a scene's objects ('purple square, red "
        "circle'), drawn over every colour×shape pair, so no colour word predicts a shape word (default "
        "%(default)s; held-out names appear in training text, never in media)",
    )
    parser.add_argument(
        "--comparison-drills",
        type=int,
        default=0,
        help="N text-only rows after every 8 task rows that check an understanding answer against the "
        "correct one, given as text ('claim one, truth two: wrong'): the comparison step alone (default "
        "%(default)s)",
    )
    parser.add_argument(
        "--comparison-tail",
        metavar="DRILLS:FROM_CYCLE",
        default="",
        help="a comparison-heavy tail: DRILLS comparison drills after each cycle of 8 task rows from cycle "
        "FROM_CYCLE on, instead of --comparison-drills (e.g. 4:3000, about the last third of a 105-minute "
        "run with 7 drills per cycle; research log session 12)",
    )
    parser.add_argument(
        "--change-drills",
        type=int,
        default=0,
        help="N text-only rows after every 8 task rows that copy a described object's start and end look "
        "and say whether they differ ('colour red, ends blue: yes'), half of them changing: video "
        "generation's change line alone (default %(default)s; needs --describe-videos "
        "ends-checked-changes; research log session 19)",
    )
    parser.add_argument(
        "--palette-shape-drills",
        type=int,
        default=0,
        help="N rows after every 8 task rows that name the shapes of an image drawn in a random palette, "
        "so the language model reads shape where colour carries no information (default %(default)s; "
        "research log session 22)",
    )
    parser.add_argument(
        "--relation-drills",
        type=int,
        default=0,
        help="N rows after every 8 task rows that ask where one object of an image is relative to another, "
        "with no answer to judge, and train what the image shows and the correct answer, so the direction "
        "comes from the image, not from a judged answer's claim (default %(default)s; session 34)",
    )
    parser.add_argument(
        "--name-noise",
        type=float,
        default=d.name_noise,
        metavar="SHARE",
        help="the share of image descriptions ('Image shows: red cross, blue circle.') in which the model "
        "reads one object's colour word replaced by a colour naming no object there, with no loss on that "
        "word nor on what follows the description up to the next one: the colour word then says nothing "
        "about the shape after it, so the train split's colour-shape pairs are not learnt as a text prior "
        "(default %(default)s; held-out pairs' names then occur in the inputs, never in media; research log "
        "session 25)",
    )
    parser.add_argument(
        "--name-noise-tasks",
        default=",".join(d.name_noise_tasks),
        metavar="TASKS",
        help="comma-separated tasks whose rows --name-noise rewrites, e.g. image_gen (default: all; only "
        "image descriptions are ever noised, so the video tasks' rows stay as written either way)",
    )
    parser.add_argument(
        "--name-noise-until",
        type=float,
        default=d.name_noise_until,
        metavar="SHARE",
        help="stop the name noise once this share of the budget is spent (default %(default)s: to the end), "
        "e.g. 0.6 to train the late comparison steps on clean rows (research log session 27)",
    )
    parser.add_argument(
        "--description-slips",
        type=float,
        default=d.description_slips,
        metavar="SHARE",
        help="the share of image-generation rows whose answer follows a misread description: one object "
        "of one image named with another colour or shape (no loss on that word), then the lookups, checks, "
        "score and verdict the oracle gives for what was written, so the steps after a description learn "
        "to read it (default %(default)s; needs --describe; research log session 31)",
    )
    parser.add_argument(
        "--held-out-slips",
        type=float,
        default=d.held_out_slips,
        metavar="SHARE",
        help="the share of those slips (and of the --image-und-slips and --video-und-slips) that misread "
        "the object as its shape's held-out colour, so the lookup learns to report a held-out name it has "
        "written (default %(default)s; needs one kind of slips; research log session 32)",
    )
    parser.add_argument(
        "--image-und-slips",
        type=float,
        default=d.image_und_slips,
        metavar="SHARE",
        help="the share of image-understanding rows whose answer follows a misread description of the "
        "image (no loss on the misread word), then the correct answer, checks, scores and verdict the "
        "oracle gives for what was written (default %(default)s; needs --describe; session 33)",
    )
    parser.add_argument(
        "--video-und-slips",
        type=float,
        default=d.video_und_slips,
        metavar="SHARE",
        help="the same for video-understanding rows: one look of one object misread (its first look, or "
        "the end look of one that changes), the question and answers renamed where they name it "
        "(default %(default)s; needs --describe-videos; research log session 38)",
    )
    parser.add_argument(
        "--image-und-wrong-points",
        type=float,
        default=d.image_und_wrong_points,
        metavar="SHARE",
        help="the share of image-understanding point rows whose answer, when its main claim is right, is "
        "redrawn with a wrong one: the world's answers are right half the time, so a judge unsure of the "
        "image learns to copy the answer's claim into its correct answer (default %(default)s; session 34)",
    )
    parser.add_argument("--lr", type=float, default=d.learning_rate)
    parser.add_argument(
        "--lr-decay-share",
        type=float,
        default=d.lr_decay_share,
        help="the SFT learning rate falls linearly to a tenth over this last share of the budget "
        "(default %(default)s); the comparison steps are learnt late, in that tail (research log session 10)",
    )
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument(
        "--length-groups",
        type=int,
        default=d.length_groups,
        metavar="G",
        help="read the training stream G batches at a time and regroup those rows by length, so a batch of "
        "video pairs is not padded as long as a text drill is: the same rows, about a third less padding, "
        "about 1.5x the SFT steps per minute at G=8 (default %(default)s: batches as drawn)",
    )
    parser.add_argument("--threads", type=int, default=d.threads)
    parser.add_argument(
        "--store-dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="the weights written to --out: bfloat16 halves the file, so a wider judge still ships in a few "
        "MB (training runs in float32 either way, and the judge loads them back as float32 on CPU)",
    )
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument(
        "--unfreeze-vision",
        action="store_true",
        help="let SFT update the vision tower too (default: frozen after its pre-training)",
    )
    parser.add_argument(
        "--unfreeze-vision-blocks",
        type=int,
        default=0,
        metavar="N",
        help="keep the tower frozen but let SFT train its last N blocks and merger (default %(default)s)",
    )
    parser.add_argument(
        "--vision-lr-scale",
        type=float,
        default=1.0,
        help="the SFT rate of whatever of the tower trains, as a share of --lr (default %(default)s), "
        "e.g. 0.1 to adjust the stage-1 tower gently",
    )
    args = parser.parse_args(argv)
    from unireward.train.shapes import DrillPlan, lm_spec, train_on_shapes

    try:
        spec = replace(lm_spec(args.lm_layers, args.lm_width), temporal_patch_size=args.temporal_patch)
    except ValueError as err:
        parser.error(f"--lm-layers / --lm-width: {err}")
    if args.vision_layers < 1:
        parser.error(f"--vision-layers must be at least 1, got {args.vision_layers}")
    spec = replace(spec, vision_layers=args.vision_layers)
    warmup_drills, warmup_cycles = two_numbers(parser, "--drill-warmup", "DRILLS:CYCLES", args.drill_warmup)
    tail_drills, tail_from = two_numbers(
        parser, "--comparison-tail", "DRILLS:FROM_CYCLE", args.comparison_tail
    )

    if args.length_groups < 1 or (args.length_groups > 1 and args.n):
        parser.error(
            f"--length-groups is a number of batches >= 1 (1: as drawn) and regroups fresh draws only, "
            f"got {args.length_groups}" + (f" with --n {args.n}" if args.n else "")
        )
    if not 0 <= args.und_ties < 1:
        parser.error(f"--und-ties is a share of understanding pairs in [0, 1), got {args.und_ties}")
    if args.unfreeze_vision and args.unfreeze_vision_blocks:
        parser.error("--unfreeze-vision trains the whole tower; --unfreeze-vision-blocks is for a frozen one")
    if args.unfreeze_vision_blocks < 0 or not args.vision_lr_scale > 0:
        parser.error("--unfreeze-vision-blocks must be >= 0 and --vision-lr-scale positive")
    if not 0 <= args.name_noise <= 1:
        parser.error(f"--name-noise is a share of image descriptions in [0, 1], got {args.name_noise}")
    try:
        noise_tasks = tuple(Task.parse(t).value for t in args.name_noise_tasks.split(","))
    except ValueError as err:
        parser.error(f"--name-noise-tasks: {err}")
    for flag, share, rows in (
        ("--description-slips", args.description_slips, "image-generation"),
        ("--image-und-slips", args.image_und_slips, "image-understanding"),
    ):
        if not 0 <= share <= 1 or (share and not args.describe):
            parser.error(
                f"{flag} is a share of {rows} rows in [0, 1] and needs --describe, "
                f"got {share} with --describe {args.describe!r}"
            )
    if not 0 <= args.video_und_slips <= 1 or (args.video_und_slips and not args.describe_videos):
        parser.error(
            "--video-und-slips is a share of video-understanding rows in [0, 1] and needs --describe-videos, "
            f"got {args.video_und_slips} with --describe-videos {args.describe_videos!r}"
        )
    if not 0 <= args.image_und_wrong_points <= 1 or (args.image_und_wrong_points and args.n):
        parser.error(
            "--image-und-wrong-points is a share of image-understanding point rows in [0, 1] and redraws "
            f"fresh draws only, got {args.image_und_wrong_points}" + (f" with --n {args.n}" if args.n else "")
        )
    slips = args.description_slips or args.image_und_slips or args.video_und_slips
    if not 0 <= args.held_out_slips <= 1 or (args.held_out_slips and not slips):
        parser.error(
            "--held-out-slips is a share of the description slips in [0, 1] and needs --description-slips, "
            f"--image-und-slips or --video-und-slips, got {args.held_out_slips} with --description-slips "
            f"{args.description_slips}, --image-und-slips {args.image_und_slips} and --video-und-slips "
            f"{args.video_und_slips}"
        )
    if not 0 <= args.name_noise_until <= 1:
        parser.error(f"--name-noise-until is a share of the budget in [0, 1], got {args.name_noise_until}")
    step_budget = args.steps is not None or args.vision_steps is not None
    if step_budget and (args.steps is None or args.vision_steps is None):
        parser.error(
            "--steps and --vision-steps go together (a step budget for both stages; 0 stage-1 steps "
            "skips stage 1)"
        )
    if step_budget and (args.steps <= 0 or args.vision_steps < 0):
        parser.error(f"--steps must be > 0 and --vision-steps >= 0, got {args.steps} and {args.vision_steps}")
    if args.init_model and args.init_tower:
        parser.error("give --init-model (a whole model) or --init-tower (its vision tower only), not both")
    for flag, init in (("--init-model", args.init_model), ("--init-tower", args.init_tower)):
        if init and step_budget and args.vision_steps:
            parser.error(f"{flag} replaces stage 1: give --vision-steps 0, not {args.vision_steps}")
        if init and not (init / "config.json").is_file():
            parser.error(f"{flag} {init} is not a saved model (no config.json there)")
    for flag, share in (
        ("--lr-decay-share", args.lr_decay_share),
        ("--vision-lr-decay-share", args.vision_lr_decay_share),
    ):
        if not 0 <= share <= 1:
            parser.error(f"{flag} is a share of the budget in [0, 1], got {share}")
    for kept in ("model", "base"):
        if overlapping(args.out, args.work / kept):
            parser.error(
                f"--out {args.out} overlaps {args.work / kept}, which this run trains into and --out "
                "replaces when training ends; pick an --out outside it (e.g. WORK/out)"
            )
    config = ShapesTrainingConfig(
        work_dir=str(args.work),
        records_per_task_mode=args.n,
        minutes=args.minutes,
        **(
            {"step_budget": True, "max_steps": args.steps, "vision_max_steps": args.vision_steps}
            if step_budget
            else {}
        ),
        eval_every=args.eval_every,
        eval_n=args.eval_n,
        learning_rate=args.lr,
        lr_decay_share=args.lr_decay_share,
        vision_minutes=args.vision_minutes,
        init_model=str(args.init_model) if args.init_model else None,
        init_tower=str(args.init_tower) if args.init_tower else None,
        batch_size=args.batch_size,
        length_groups=args.length_groups,
        threads=args.threads,
        seed=args.seed,
        freeze_vision=not args.unfreeze_vision,
        vision_unfrozen_blocks=args.unfreeze_vision_blocks,
        vision_lr_scale=args.vision_lr_scale,
        vision_shape_from_random_palette_only=not args.shape_in_world_palette,
        vision_changing_cell_weight=args.changing_cell_weight,
        vision_lr_decay_share=args.vision_lr_decay_share,
        spec=spec,
        balanced_checks=args.balanced_checks,
        und_tie_rate=args.und_ties,
        name_noise=args.name_noise,
        name_noise_tasks=noise_tasks,
        name_noise_until=args.name_noise_until,
        description_slips=args.description_slips,
        held_out_slips=args.held_out_slips,
        image_und_slips=args.image_und_slips,
        image_und_wrong_points=args.image_und_wrong_points,
        video_und_slips=args.video_und_slips,
        describe=args.describe
        + (VIDEO_STYLES[args.describe_videos].suffix if args.describe_videos else "")
        + NAME_SUFFIXES[args.names],
        drills=DrillPlan(
            lookup=args.lookup_drills,
            warmup_lookup=warmup_drills,
            warmup_cycles=warmup_cycles,
            split="any" if args.drills_over_all_pairs else "train",
            naming=args.name_drills,
            comparison=args.comparison_drills,
            tail_comparison=tail_drills,
            tail_from_cycle=tail_from,
            change=args.change_drills,
            palette_shapes=args.palette_shape_drills,
            relations=args.relation_drills,
        ),
    )
    result = train_on_shapes(config)
    write_assets(result, args)


def overlapping(a: Path, b: Path) -> bool:
    """Whether one path is the other or lies inside it (write_assets deletes --out before copying)."""
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def two_numbers(parser, flag: str, form: str, value: str) -> tuple[int, int]:
    """Parse an 'A:B' option of two whole numbers; (0, 0) when it is not given."""
    if not value:
        return 0, 0
    try:
        a, b = (int(x) for x in value.split(":"))
    except ValueError:
        parser.error(f"{flag} takes {form}, two whole numbers, got {value!r}")
    return a, b


def store_weights_as(model_dir: Path, dtype: str) -> None:
    """Round `model_dir`'s floating-point weights to `dtype` in place and record it in its config, so
    loaders that follow the config (vLLM, `dtype="auto"`) read them as stored."""
    import torch
    from safetensors.torch import load_file, save_file

    path = model_dir / "model.safetensors"
    weights = load_file(path)
    target = getattr(torch, dtype)
    save_file(
        {k: v.to(target) if v.is_floating_point() else v for k, v in weights.items()},
        path,
        metadata={"format": "pt"},
    )
    config = json.loads((model_dir / "config.json").read_text())
    for section in (config, config.get("text_config", {}), config.get("vision_config", {})):
        if "dtype" in section or "torch_dtype" in section:
            section["dtype" if "dtype" in section else "torch_dtype"] = dtype
    (model_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def write_assets(result, args) -> None:
    """Copy the model to --out with its metadata, learning curve (JSONL + PNG) and model card."""
    from safetensors.torch import load_file

    from unireward.train.shapes import PROTOCOL

    trained, minutes, curve = result.model_dir, result.minutes, result.curve
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for f in trained.iterdir():
        if f.is_file() and not f.name.startswith(("training_args", "train_log", "log_history")):
            shutil.copy2(f, out / f.name)
    store_dtype = getattr(args, "store_dtype", "float32")
    if store_dtype != "float32":
        store_weights_as(out, store_dtype)
    meta = json.loads((trained / "unireward.json").read_text())
    lm = json.loads((trained / "config.json").read_text())["text_config"]
    stage1 = meta.get("vision_pretraining") or {}
    vision_minutes = stage1.get("minutes", 0)
    parent = init_judge(meta.get("init_model"))
    # Another run's stage-1 tower, whole model (--init-model) or tower only (--init-tower).
    tower_source = meta.get("init_model") or meta.get("init_tower")
    tower_only = meta.get("init_tower") is not None
    if parent:
        meta["init_judge"] = parent
    meta.update(
        {
            "protocol": PROTOCOL,
            "training_minutes": round(minutes, 1),
            "command": " ".join(["python", "scripts/train_default_model.py", *sys.argv[1:]]),
            "records_per_task_mode": args.n,
            "stored_dtype": store_dtype,
            "base_model": "unireward.tiny qwen2_vl (default_spec's tower, language model "
            f"{lm['num_hidden_layers']} layers x {lm['hidden_size']}) after "
            + (
                f"the training of the judge {meta['init_model']} (another run, continued here)"
                if parent
                else f"the vision pre-training of {tower_source} (another run"
                + ("; its tower only, under a fresh language model)" if tower_only else ")")
                if tower_source
                else f"{vision_minutes:.0f} minutes of unireward.train.vision pre-training"
            ),
        }
    )
    (out / "unireward.json").write_text(json.dumps(meta, indent=2) + "\n")
    last = curve[-1] if curve else {}
    offset = None
    if parent:  # the curve from the judge's first step: the parent's, then this run's after its end
        parent_curve = Path(meta["init_model"]) / "learning_curve.jsonl"
        before = (
            [json.loads(line) for line in parent_curve.read_text().splitlines()]
            if parent_curve.is_file()
            else []
        )
        # the parent's curve ends where its own chain of runs ended, which is more than its own minutes
        # when it continued another judge itself
        offset = max([p["minutes"] for p in before] + [parent["training_minutes"] or 0])
        curve = [*before, *({**p, "minutes": round(p["minutes"] + offset, 2)} for p in curve)]
    (out / "learning_curve.jsonl").write_text("".join(json.dumps(p) + "\n" for p in curve))
    plot_curve(curve, out / "learning_curve.png", continued_at=offset)
    vision = stage1.get("final") or {}
    keys = ("colour", "shape", "count_same", "relation", "motion", "speed", "appear", "blur")
    reused = (
        " (this stage was reused from an earlier run in the same work directory with the same spec and"
        " vision recipe; its minutes count in the total)"
        if stage1.get("reused")
        else ""
    )
    tower = "vision tower frozen" if meta.get("vision_frozen", True) else "vision tower trained too"
    blocks = meta.get("vision_unfrozen_blocks", 0)
    if blocks:
        tower = f"vision tower frozen except its last {blocks} block{'s' if blocks > 1 else ''} and merger"
    if meta.get("vision_lr_scale", 1) != 1 and (blocks or not meta.get("vision_frozen", True)):
        tower += f", at {meta['vision_lr_scale']:g} of the learning rate"
    vision_line = ", ".join(f"{k} {vision[k]:.2f}" for k in keys if k in vision) or "n/a"
    stage1_item = (
        f"no vision pre-training in this run: it continues the trained judge `{meta['init_model']}` "
        f"(tower and language model), itself made by `{parent['command']}` "
        f"({parent['training_minutes']} minutes; its own card gives both of its stages)"
        if parent
        else f"no vision pre-training in this run: the frozen tower is that of `{tower_source}`, whose "
        "stage 1 (dense vision pre-training, `unireward.train.vision`) ran in another run"
        + ("; the language model starts fresh" if tower_only else "")
        if tower_source
        else f"""{vision_minutes:.0f} minutes of dense vision pre-training (`unireward.train.vision`): the vision tower
     alone learns what covers each cell of the image (colour, shape, count, relation, motion, speed,
     change, appearance) and per image blur / noise / artefacts / flicker. Held-out cell accuracy at the
     end: {vision_line}{reused}"""
    )
    data = data_description(meta, args)
    fixed = meta.get("budget", {})
    budget = (
        f" (a step budget: {fixed['vision_steps']:,} stage-1 and {fixed['sft_steps']:,} SFT steps)"
        if "sft_steps" in fixed
        else ""
    )
    threads = "one CPU thread" if meta.get("threads", 1) == 1 else f"{meta['threads']} CPU threads"
    n_params = sum(v.numel() for v in load_file(out / "model.safetensors").values())
    stored = (
        f", stored in {store_dtype} (the judge loads them as float32 on CPU)"
        if store_dtype != "float32"
        else ""
    )
    tps = json.loads((trained / "config.json").read_text())["vision_config"]["temporal_patch_size"]
    clip_tokens = (
        "temporal patch 8, so one visual patch holds a whole 8-frame clip (16 visual tokens per clip)"
        if tps == 8
        else f"temporal patch {tps}, so an 8-frame clip is {8 // tps} visual patches in time "
        f"({16 * 8 // tps} visual tokens per clip)"
    )
    rows = "\n".join(
        f"| {t} | {_pct(last.get(f'{t}/pair_without_ties'))} | {_pct(last.get(f'{t}/pair_with_ties'))} | "
        f"{_num(last.get(f'{t}/point_spearman'))} |"
        for t in ("image_gen", "image_und", "video_gen", "video_und")
    )
    (out / "README.md").write_text(f"""# unireward default model (shapes world)

A tiny Qwen2-VL-architecture reward model trained from scratch on unireward's synthetic shapes world, so
that `load_judge()` and `make demo` work with no downloads. It judges shapes-world images, videos and
answers only: it is a demonstration and test model, not a general reward model.

- protocol `{PROTOCOL}`; it writes its reasoning, then the verdict or score. `load_judge()` ranks pairs by
  decision `reason` with `swap` (the verdict's probabilities after the written reasoning, averaged over
  both orders) and scores points by `generate` (the written integer)
- architecture: Qwen2-VL, {n_params / 1e6:.1f} M parameters{stored}; 112 px images, 16 visual tokens per
  image; {clip_tokens}
- training: `{meta["command"]}`, {minutes:.1f} minutes of wall-clock on {threads}{budget}, in two
  stages:
  1. {stage1_item}
  2. protocol SFT with TRL ({tower}): {meta.get("steps")} steps of batch {args.batch_size},
     {data}. Every row is of the train split, with the oracle's reasoning before each verdict or score;
     learning rate {args.lr} (falling to a tenth over the last {100 * args.lr_decay_share:g}% of the budget)
- accuracy on the held-out test split at the last in-training evaluation ({args.eval_n} pairs and
  points per task, so about ±0.12; `benchmarks/shapes_accuracy.py` measures it on more items and writes
  `benchmarks/results/shapes_accuracy.json`):

| task | pair accuracy without ties | with ties | point Spearman |
|---|---|---|---|
{rows}

![learning curve](learning_curve.png)
""")


def init_judge(init_model: str | None) -> dict | None:
    """What the card says of an `--init-model` that is itself a trained judge (its `unireward.json` names
    a command): that command and its minutes, so a continued run's card says how to make its start. None
    for a stage-1 base or no init model."""
    meta_path = Path(init_model) / "unireward.json" if init_model else None
    if meta_path is None or not meta_path.is_file():
        return None
    parent = json.loads(meta_path.read_text())
    if "command" not in parent:
        return None
    return {
        k: parent.get(k)
        for k in (
            "command",
            "training_minutes",
            "steps",
            "description_slips",
            "held_out_slips",
            "image_und_slips",
            "image_und_wrong_points",
            "video_und_slips",
        )
    }


def data_description(meta: dict, args) -> str:
    """The model card's "Data" line: what the training rows were, from the run's unireward.json."""
    from unireward.data.shapes import (
        POINT_CHECK_STYLES,
        SIDE_STYLES,
        check_describe,
        names_style,
        video_lines,
    )

    drills = sum(
        meta.get(k, 0) for k in ("lookup_drills", "name_drills", "comparison_drills", "change_drills")
    )
    palette = meta.get("palette_shape_drills", 0)
    image_drills = palette + meta.get("relation_drills", 0)  # drill rows with an image, not text only
    if args.n:
        data = f"{args.n} fixed records per task and mode"
    else:
        rows = f"{meta.get('steps', 0) * args.batch_size:,} rows,"
        if drills and not meta.get("drill_warmup") and not meta.get("comparison_tail"):
            rows = f"{rows} of which {drills} in {8 + drills + image_drills} text-only drills;"
        data = f"fresh draws ({rows} none repeated)"
    if meta.get("length_groups", 1) > 1:
        data += f" in batches regrouped by length within windows of {meta['length_groups']} batches"
    if meta.get("balanced_checks"):
        data += " (image-generation candidates from the balanced mix: half the objects missing or wrong)"
    if meta.get("und_tie_rate"):
        data += (
            f"; {meta['und_tie_rate']:.0%} of understanding pairs score equal, their verdict naming Answer 1"
        )
    if meta.get("describe"):
        style = check_describe(meta["describe"])
        if style:
            data += "; image-task targets first say what each image shows"
        if style.startswith("lookup"):
            data += ", and each caption object's check what the image shows of its shape"
        if style.startswith("colours"):
            data += ", and each caption object's check the colours of the image's objects of its shape "
            data += "beside the asked colour"
        if style in SIDE_STYLES:
            asked = " and relation questions" if style == "colours-sides" else ""
            data += f"; relation checks{asked} first give each of the two objects' side "
            data += "('red cross left, blue circle right')"
        if style == "colours-sides-inline":
            data += ", and relation questions write it after each object's name in what the image shows"
        if style in POINT_CHECK_STYLES:
            data += " (point answers too)"
        names = names_style(meta["describe"])
        if names == "shape-first":
            data += " (each object named shape first: 'cross red')"
        elif names == "two-lists":
            data += " (image objects as two lists, shapes then colours: "
            data += "'shapes cross, circle; colours red, blue')"
        if (lines := video_lines(meta["describe"])).describes:
            data += "; video-task targets first say what each video shows"
            if lines.ends:
                data += " (each object's last look too, changed or not)"
            data += ", and video-generation ones check the caption's colour, shape, direction and speed "
            data += "against it before rating"
            if lines.gen_change_line:
                data += ", then the subject's start and end colour and shape side by side"
            if lines.change_line:
                data += "; change questions write the start and end side by side before the answer"
            if lines.order_line:
                data += ", order questions when each object appears"
                if lines.order_line == "described":
                    data += " in the description's order"
        if meta.get("drill_warmup"):
            w = meta["drill_warmup"]
            data += f"; {w['lookup_drills']} text-only lookup drills after each of the first {w['cycles']:,} "
            data += f"cycles of 8 task rows, then {meta.get('lookup_drills', 0)} after every cycle"
        elif meta.get("lookup_drills"):
            data += f"; {meta['lookup_drills']} text-only lookup drills after every 8 task rows"
    if meta.get("name_drills"):
        data += f"; {meta['name_drills']} text-only naming drills after every 8 task rows"
    if meta.get("comparison_drills"):
        data += f"; {meta['comparison_drills']} text-only understanding-check drills after every 8 task rows"
    if meta.get("comparison_tail"):
        t = meta["comparison_tail"]
        data += f"; {t['comparison_drills']} understanding-check drills per cycle from cycle "
        data += f"{t['from_cycle']:,} on"
    if meta.get("change_drills"):
        data += f"; {meta['change_drills']} text-only change-line drills after every 8 task rows (half "
        data += "the described objects change; drawn over every colour×shape pair, so held-out pairs' names "
        data += "appear in their text)"
    if palette:
        data += f"; {palette} shape-naming drills after every 8 task rows, on an image drawn in a random "
        data += "palette (shapes only, no colour words)"
    if meta.get("relation_drills"):
        data += f"; {meta['relation_drills']} relation drills after every 8 task rows: an image and a "
        data += "relation question with no answer to judge, trained on what the image shows and the correct answer"
    if meta.get("name_noise"):
        rows = meta.get("name_noise_tasks", [])
        within = "" if {"image_gen", "image_und"} <= set(rows) else f" of {', '.join(rows)} rows"
        data += f"; in {meta['name_noise']:.0%} of the image descriptions{within} the model read one "
        data += "object's colour word replaced by a colour naming no object there, with no loss on it nor on "
        data += "what follows that description (so held-out pairs' names occur in its inputs, never in media)"
        if meta.get("name_noise_until", 1) < 1:
            data += f", for the first {meta['name_noise_until']:.0%} of the budget"
    slips = (
        (
            "description_slips",
            "image-generation rows follow a misread description",
            "one object of one image named with another colour or shape (no loss on that word; held-out "
            "pairs' names can occur there and in the lookups after it, never in media), then the lookups, "
            "checks, score and verdict",
        ),
        (
            "image_und_slips",
            "image-understanding rows follow a misread image",
            "one object named with another colour or shape in the description (no loss on that word), "
            "then the correct answer, checks, scores and verdict",
        ),
        (
            "video_und_slips",
            "video-understanding rows follow a misread video",
            "one look of one object named with another colour or shape in the description (no loss on "
            "that word), the question and answers renamed where they name it, then the correct answer, "
            "checks, scores and verdict",
        ),
    )
    for key, rows, reasoning in slips:
        if meta.get(key):
            data += f"; {meta[key]:.0%} of the {rows}"
            if meta.get("held_out_slips"):
                data += f" ({meta['held_out_slips']:.0%} of them with the shape's held-out colour)"
            data += f": {reasoning} the oracle gives for what was written"
    if meta.get("image_und_wrong_points"):
        data += (
            f"; in {meta['image_und_wrong_points']:.0%} of the image-understanding point rows a right "
            "answer was redrawn with a wrong main claim (the world's answers are right half the time), so "
            "the correct answer cannot be copied from the answer"
        )
    if (meta.get("drill_split") == "any" and drills) or meta.get("name_drills"):
        data += (
            "; the drills' scenes are drawn over every colour×shape pair, so the held-out pairs' names "
            "appear in training text (never in training images or videos)"
        )
    return data


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def plot_curve(curve: list[dict], path: Path, continued_at: float | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for task in ("image_gen", "image_und", "video_gen", "video_und"):
        pts = [(p["minutes"], p.get(f"{task}/pair_without_ties")) for p in curve]
        pts = [(m, v) for m, v in pts if v is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=f"{task} pair accuracy")
    ax.axhline(0.95, color="grey", linestyle="--", linewidth=1, label="target 0.95")
    if continued_at:
        ax.axvline(continued_at, color="black", linestyle=":", linewidth=1, label="continued here")
    ax.set_xlabel("training minutes (CPU)")
    ax.set_ylabel("held-out pair accuracy (no ties)")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
