"""The `unireward` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from unireward.tasks import PairItem, PointItem, Task

app = typer.Typer(
    help="Unified multimodal reward modelling: rank and score images, videos and answers.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)

_MODEL = typer.Option(
    None, "--model", "-m", help="Checkpoint directory or hub id. Default: the shipped model."
)
_PROTOCOL = typer.Option(None, help="v1 | v1-qwen | v2 | think. Default: recorded with the model, else v1.")
_DECISION = typer.Option(
    None,
    help="logits (verdict probabilities, one pass) | generate (greedy + parse) | reason (greedy, then the "
    "verdict or score by logits after the written reasoning). "
    "Default: the model's recorded choice, else logits.",
)
_BATCH = typer.Option(8, "--batch-size", help="Items per model call.")
_FRAMES = typer.Option(8, "--num-frames", help="Frames sampled uniformly from each video.")
_DEVICE = typer.Option("auto", help="cpu | cuda | auto.")
_BACKEND = typer.Option(
    "hf", help="hf (transformers in process) | openai (a vLLM / SGLang server, see --base-url)."
)
_BASE_URL = typer.Option(
    None, "--base-url", help="openai backend: server URL, e.g. http://127.0.0.1:8000/v1; repeat to shard."
)
_DTYPE = typer.Option("auto", help="auto | float32 | bfloat16 | float16.")
_SAMPLES = typer.Option(
    1,
    "--samples",
    min=1,
    help="Answers sampled per item and averaged (vote shares, mean scores, or with reason the averaged "
    "verdict probabilities); 1 is greedy. Costs that many times the generation; no effect on logits.",
)
_TEMPERATURE = typer.Option(1.0, "--temperature", help="Sampling temperature for --samples > 1.")

_RANK_HELP = """
Which of two candidates is better? One pair from options, or many from a JSONL file.

**Examples**

- image generation: `unireward rank --task image_gen --prompt "a red circle" --a a.png --b b.png`

- image understanding: `unireward rank --task image_und --media photo.jpg --prompt "What colour is the car?" --a "Red." --b "Blue."`

- video generation: `unireward rank --task video_gen --prompt "a cat jumping" --a v1.mp4 --b frames_dir/`

- video understanding: `unireward rank --task video_und --media clip.mp4 --prompt "What happens first?" --a "..." --b "..."`

- batch: `unireward rank --input pairs.jsonl --output verdicts.jsonl --swap`

JSONL lines: `{"task": "image_gen", "prompt": "...", "a": "a.png", "b": "b.png", "id": "x1"}`
(understanding tasks add `"media"` and put answers in `a`/`b`). Relative media paths are read relative to
the JSONL file. Bad lines and broken media fail alone and are written with their error.
"""

_SCORE_HELP = """
How good is one candidate? One item from options, or many from a JSONL file.

**Examples**

- image generation: `unireward score --task image_gen --prompt "a red circle" --candidate a.png`

- image understanding: `unireward score --task image_und --media photo.jpg --prompt "What colour is the car?" --candidate "Red."`

- video generation: `unireward score --task video_gen --prompt "a cat jumping" --candidate v1.mp4`

- video understanding: `unireward score --task video_und --media clip.mp4 --prompt "What happens first?" --candidate "..."`

- batch: `unireward score --input items.jsonl --output scores.jsonl`

JSONL lines: `{"task": "image_gen", "prompt": "...", "candidate": "a.png", "id": "x1"}`.
"""


def _check_sampling(samples: int, temperature: float) -> None:
    """A bad --samples / --temperature pair is the user's to fix before any model loads."""
    from unireward.judge.core import JudgeConfig

    try:
        JudgeConfig(samples=samples, temperature=temperature)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--samples / --temperature") from None


def _load(
    model, protocol, decision, swap, batch_size, num_frames, device, dtype, backend="hf", base_url=None,
    samples=1, temperature=1.0,
):  # fmt: skip
    from unireward.judge import load_judge
    from unireward.media import FramePolicy

    _check_sampling(samples, temperature)
    kwargs = {"device": device, "dtype": dtype} if backend == "hf" else {"base_url": base_url}
    return load_judge(
        model,
        backend=backend,
        protocol=protocol,
        decision=decision,
        swap=swap,
        batch_size=batch_size,
        frame_policy=FramePolicy(num_frames=num_frames),
        samples=samples,
        temperature=temperature,
        **kwargs,
    )


def _resolve(value: Any, base: Path) -> Any:
    """Media paths in a JSONL file are relative to the file."""
    if isinstance(value, list):
        return [_resolve(v, base) for v in value]
    if isinstance(value, str) and not Path(value).is_absolute() and "://" not in value:
        candidate = base / value
        if candidate.exists():
            return str(candidate)
    return value


def _read_items(path: Path, kind: str) -> tuple[list[PairItem | PointItem], list[int], list[dict]]:
    """Parse a JSONL file into items (with their line numbers); lines that are not valid items become
    error rows, so one bad line never stops a batch."""
    items, lines, errors = [], [], []
    base = path.parent
    with path.open() as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                task = Task.parse(row["task"])
                media = _resolve(row.get("media"), base) if not task.is_generation else row.get("media")

                def cand(key: str, task=task, row=row):
                    return _resolve(row[key], base) if task.is_generation else row[key]

                if kind == "pair":
                    item = PairItem(task, row["prompt"], cand("a"), cand("b"), media, row.get("id"))
                else:
                    item = PointItem(task, row["prompt"], cand("candidate"), media, row.get("id"))
                items.append(item)
                lines.append(n)
            except (ValueError, KeyError, TypeError) as e:
                msg = f"missing field {e}" if isinstance(e, KeyError) else str(e)
                errors.append({"line": n, "id": None, "failure": {"kind": "input", "message": msg}})
    return items, lines, errors


def _write(rows: list[dict], output: Path | None) -> None:
    out = output.open("w") if output else sys.stdout
    try:
        for row in rows:
            out.write(json.dumps(row, default=str) + "\n")
    finally:
        if output:
            out.close()


def _run(kind: str, items, lines, errors, judge, swap, output: Path | None) -> None:
    results = (
        judge.rank(items, swap=swap, progress=True) if kind == "pair" else judge.score(items, progress=True)
    )
    rows = errors + [{"line": n, **r.to_dict()} for n, r in zip(lines, results)]
    rows.sort(key=lambda r: r["line"] or 0)
    _write(rows, output)
    failed = sum(1 for r in rows if r.get("failure"))
    typer.echo(f"{len(rows)} items, {failed} failed" + (f" -> {output}" if output else ""), err=True)


@app.command(help=_RANK_HELP)
def rank(
    task: str = typer.Option(None, help="image_gen | image_und | video_gen | video_und."),
    prompt: str = typer.Option(None, help="Caption (generation) or question (understanding)."),
    a: str = typer.Option(None, help="Candidate 1: media path (generation) or answer text (understanding)."),
    b: str = typer.Option(None, help="Candidate 2."),
    media: str = typer.Option(None, help="Understanding tasks: the image or video asked about."),
    input: Path = typer.Option(None, "--input", "-i", help="JSONL file of pairs."),
    output: Path = typer.Option(None, "--output", "-o", help="JSONL file for verdicts (default: stdout)."),
    swap: bool = typer.Option(
        None,
        "--swap/--no-swap",
        help="Also judge (b, a) and combine: controls position bias. Default: as the model records "
        "(unireward.json; the shipped model swaps) unless --decision is given, else off.",
    ),
    model: str = _MODEL,
    protocol: str = _PROTOCOL,
    decision: str = _DECISION,
    batch_size: int = _BATCH,
    num_frames: int = _FRAMES,
    device: str = _DEVICE,
    dtype: str = _DTYPE,
    backend: str = _BACKEND,
    base_url: list[str] = _BASE_URL,
    samples: int = _SAMPLES,
    temperature: float = _TEMPERATURE,
) -> None:
    if input is not None:
        items, lines, errors = _read_items(input, "pair")
    else:
        if None in (task, prompt, a, b):
            raise typer.BadParameter("give --task, --prompt, --a and --b (or --input FILE.jsonl)")
        items, lines, errors = [PairItem(task, prompt, a, b, media)], [None], []
    judge = _load(
        model, protocol, decision, swap, batch_size, num_frames, device, dtype, backend, base_url, samples,
        temperature,
    )  # fmt: skip
    _run("pair", items, lines, errors, judge, swap, output)


@app.command(help=_SCORE_HELP)
def score(
    task: str = typer.Option(None, help="image_gen | image_und | video_gen | video_und."),
    prompt: str = typer.Option(None, help="Caption (generation) or question (understanding)."),
    candidate: str = typer.Option(None, help="Media path (generation) or answer text (understanding)."),
    media: str = typer.Option(None, help="Understanding tasks: the image or video asked about."),
    input: Path = typer.Option(None, "--input", "-i", help="JSONL file of items."),
    output: Path = typer.Option(None, "--output", "-o", help="JSONL file for scores (default: stdout)."),
    model: str = _MODEL,
    protocol: str = _PROTOCOL,
    decision: str = _DECISION,
    batch_size: int = _BATCH,
    num_frames: int = _FRAMES,
    device: str = _DEVICE,
    dtype: str = _DTYPE,
    backend: str = _BACKEND,
    base_url: list[str] = _BASE_URL,
    samples: int = _SAMPLES,
    temperature: float = _TEMPERATURE,
) -> None:
    if input is not None:
        items, lines, errors = _read_items(input, "point")
    else:
        if None in (task, prompt, candidate):
            raise typer.BadParameter("give --task, --prompt and --candidate (or --input FILE.jsonl)")
        items, lines, errors = [PointItem(task, prompt, candidate, media)], [None], []
    judge = _load(
        model, protocol, decision, False, batch_size, num_frames, device, dtype, backend, base_url, samples,
        temperature,
    )  # fmt: skip
    _run("point", items, lines, errors, judge, False, output)


@app.command("build-tiny")
def build_tiny(
    architecture: str = typer.Argument(..., help="qwen2_vl | qwen2_5_vl | llava_onevision."),
    path: Path = typer.Argument(..., help="Directory to write the model and processor to."),
) -> None:
    """Build a tiny randomly initialised model of a real architecture (offline), for tests and experiments."""
    from unireward.tiny import build_tiny_model

    typer.echo(build_tiny_model(architecture, path))


_TRAIN_HELP = """
Fine-tune a vision-language model into a generative unified reward model (TRL SFTTrainer, loss on the
answer only) on a mix of record datasets.

**Examples**

- shapes world, from scratch on a tiny model:
  `unireward data shapes data/shapes --n 500` then
  `unireward build-tiny qwen2_vl base/` then
  `unireward train --mix mix.json --model base/ --output-dir rm/ --max-steps 2000 --lr 1e-3`

- a real base model with LoRA: `unireward train --mix mix.json --model Qwen/Qwen2.5-VL-3B-Instruct --lora --output-dir rm/`

- several GPUs: `accelerate launch --config_file configs/accelerate/deepspeed_zero2.yaml -m unireward.cli train ...`

mix.json: `{"seed": 0, "sources": [{"path": "data/shapes", "sample": "random:25000", "tasks": ["image_gen"]}]}`
(sample: all | random:N | first:N | last:N | P%). Targets are rendered by the protocol from each record's
label or score, and every target is parsed back before training starts.
"""


@app.command(help=_TRAIN_HELP)
def train(
    mix: Path = typer.Option(..., help="Mix config JSON (sources of record datasets and how many of each)."),
    model: str = typer.Option(..., "--model", "-m", help="Base checkpoint (path or hub id)."),
    output_dir: Path = typer.Option(
        ..., "--output-dir", "-o", help="Where checkpoints and the final model go."
    ),
    protocol: str = typer.Option("v1", help="Protocol the model will speak: v1 | v1-qwen | v2 | think."),
    lr: float = typer.Option(1e-5, "--lr", help="Learning rate."),
    epochs: float = typer.Option(1.0, help="Epochs (ignored when --max-steps is set)."),
    max_steps: int = typer.Option(-1, help="Stop after this many optimizer steps."),
    batch_size: int = typer.Option(1, help="Per-device batch size."),
    grad_accum: int = typer.Option(1, help="Gradient accumulation steps."),
    lora: bool = typer.Option(False, help="Train LoRA adapters on the language model (merged on save)."),
    num_frames: int = typer.Option(
        8, help="Frames per video in training (the protocol trains with up to 32)."
    ),
    save_steps: int = typer.Option(500, help="Checkpoint every N steps."),
    resume: bool = typer.Option(False, help="Resume from the last checkpoint in --output-dir."),
    seed: int = typer.Option(42),
) -> None:
    from unireward.data.mix import MixConfig, build_mix
    from unireward.data.records import Record, record_example
    from unireward.media import FramePolicy
    from unireward.protocols import get_protocol
    from unireward.train.sft import RewardSFTConfig, train_reward_model

    mixed = build_mix(MixConfig.from_file(mix), base_dir=mix.parent)
    proto = get_protocol(protocol)
    examples = []
    for row in mixed:
        root = row.pop("root")
        examples.append(record_example(Record.from_row(row), root, proto))
    typer.echo(f"{len(examples)} training examples from {mix}", err=True)
    config = RewardSFTConfig(
        model=model,
        output_dir=str(output_dir),
        protocol=protocol,
        learning_rate=lr,
        num_epochs=epochs,
        max_steps=max_steps,
        per_device_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        lora=lora,
        frame_policy=FramePolicy(num_frames=num_frames),
        save_steps=save_steps,
        resume_from_checkpoint=True if resume else None,
        seed=seed,
    )
    typer.echo(train_reward_model(config, examples))


data_app = typer.Typer(help="Create and inspect record datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("shapes")
def data_shapes(
    out: Path = typer.Argument(..., help="Directory for records.parquet and media/."),
    n: int = typer.Option(200, help="Examples per task and mode."),
    split: str = typer.Option("train", help="train | test (test holds out some colour-shape pairs)."),
    seed: int = typer.Option(0),
    image_size: int = typer.Option(64),
    num_frames: int = typer.Option(8),
    explain: bool = typer.Option(False, help="Put the oracle's reasoning before each verdict/score target."),
) -> None:
    """Draw shapes-world examples of all four tasks in both modes, with exact labels, as a record dataset."""
    from unireward.data.records import export_shapes

    typer.echo(
        export_shapes(
            out, n, seed=seed, split=split, image_size=image_size, num_frames=num_frames, explain=explain
        )
    )


_BENCH_HELP = """
Benchmark a reward model on a reward benchmark, or compare two runs.

**Examples**

- shapes world (no data needed): `unireward bench --suite shapes --model rm/ --n 50 --plot`

- GenAI-Bench images: `unireward bench --suite genai-bench-image --data ~/data/GenAI-Bench --model CodeGoat24/UnifiedReward-qwen-7b --protocol v1-qwen --swap`

- compare two runs: `unireward bench --compare runs/a/summary.json runs/b/summary.json` (with both runs'
  predictions.jsonl beside them, each B - A gets a 95% paired-bootstrap interval over the shared items)

A run writes to --out (default `bench-runs/<suite>/<model>-<decision>`): `predictions.jsonl` (one line per
item: verdict, probabilities, raw text, failure, presentation order, label), `run.json` (the settings),
`summary.json` (provenance, counts, failure rates, every metric with its rule in words) and, with --plot,
`accuracy_by_category.png` and `calibration.png`. Rerunning with the same --out resumes: judged items are
skipped, a line cut off mid-write is redone, and different settings are refused.

**Suites.** --data is a local directory of JSON / JSONL / Parquet / CSV files with their media, a single
file, or a `datasets.save_to_disk` copy; media paths are relative to the data files. Parse failures always
count as wrong and are reported.

- `vl-rewardbench`: fields `id, query, response[2], human_ranking[2]` (0 = better), `image` or `image_path`.
  Groups general / hallucination / reasoning from a `category` column, else `query_source`, the image folder,
  the file name or the id prefix. Metrics: accuracy per group, overall (pooled) and macro (mean of groups).

- `genai-bench-image` / `genai-bench-video`: `prompt, left_image, right_image, vote_type` (video:
  `left_video, right_video` as local files; a URL is looked up by its file name). leftvote = A, rightvote = B,
  tievote and bothbad_vote = tie. Metrics: tau (all pairs, a tie must be called a tie) and diff (human ties
  excluded). Video: 8 frames per clip.

- `videogen-rewardbench`: `prompt, path_A, path_B` and labels `Overall, VQ, MQ, TA` in A / B / same.
  Metrics per dimension from d = P(A) - P(B): accuracy with ties by tie calibration (eps reported) and
  without ties. 8 frames per clip.

- `mj-bench`: `caption, image_0, image_1, label_0` (1 = image_0 better, 0 = image_1 better, 0.5 = tie).
  Metrics: accuracy with ties at --tie-epsilon on d = P(A) - P(B), without ties, per category.

- `shapes`: the shapes world's test split (ShapesWorld(--seed)), --n pairs and --n points per task.
  Metrics per task: pair accuracy without ties, with ties (tie-calibrated), Spearman of point scores with the
  oracle. The same numbers as `benchmarks/shapes_accuracy.py`.
"""


def _run_slug(model: str | None) -> str:
    import re

    return re.sub(r"[^\w.-]+", "_", str(model).rstrip("/").split("/")[-1]) if model else "default"


@app.command(help=_BENCH_HELP)
def bench(
    suite: str = typer.Option(
        None,
        "--suite",
        "-s",
        help="vl-rewardbench | genai-bench-image | genai-bench-video | videogen-rewardbench | mj-bench | shapes.",
    ),
    data: Path = typer.Option(
        None, "--data", help="Local copy of the benchmark: directory, file or save_to_disk copy."
    ),
    out: Path = typer.Option(
        None, "--out", help="Run directory (default: bench-runs/<suite>/<model>-<decision>)."
    ),
    compare: tuple[Path, Path] = typer.Option(
        None, "--compare", help="Two summary.json files (or run directories) to put side by side."
    ),
    replicates: int = typer.Option(
        1000,
        "--replicates",
        help="--compare: draws of the paired bootstrap behind the B - A intervals (0: no intervals).",
    ),
    limit: int = typer.Option(
        None, "--limit", help="Judge only the first N items (a later run without it resumes)."
    ),
    swap: bool = typer.Option(
        None,
        "--swap/--no-swap",
        help="Also judge each pair as (b, a) and combine: controls position bias. Default: as the model "
        "records (unireward.json; the shipped model swaps) unless --decision is given, else off.",
    ),
    randomize_order: bool = typer.Option(
        False, "--randomize-order", help="Present a seeded half of the pairs as (B, A); recorded per item."
    ),
    seed: int = typer.Option(0, help="Seed of --randomize-order and of the shapes world."),
    n: int = typer.Option(50, "--n", help="shapes: pairs and points per task."),
    split: str = typer.Option(
        None, help="Split to read when the data holds several (default: test, else the only one)."
    ),
    tie_epsilon: float = typer.Option(0.0, "--tie-epsilon", help="mj-bench: tie threshold on |P(A) - P(B)|."),
    plot: bool = typer.Option(False, "--plot", help="Write accuracy_by_category.png and calibration.png."),
    model: str = _MODEL,
    protocol: str = _PROTOCOL,
    decision: str = _DECISION,
    batch_size: int = _BATCH,
    num_frames: int = typer.Option(None, "--num-frames", help="Frames per video (default: the suite's, 8)."),
    device: str = _DEVICE,
    dtype: str = _DTYPE,
    samples: int = _SAMPLES,
    temperature: float = _TEMPERATURE,
) -> None:
    import dataclasses

    from unireward.bench.loaders import load_suite
    from unireward.bench.runner import BenchConfig, compare_runs, run_bench
    from unireward.judge import load_judge
    from unireward.media import FramePolicy

    if compare:
        typer.echo(compare_runs(*compare, replicates=replicates))
        return
    if not suite:
        raise typer.BadParameter("give --suite NAME (or --compare A.json B.json)")
    if suite == "shapes" and data is not None:
        raise typer.BadParameter("the shapes suite is generated (--n, --seed); it reads no --data")
    kwargs: dict[str, Any] = {"n_per_task": n, "seed": seed} if suite == "shapes" else {"split": split}
    if suite == "mj-bench":
        kwargs["tie_epsilon"] = tie_epsilon
    try:
        bench_suite = load_suite(suite, data, **kwargs)
    except (ValueError, FileNotFoundError) as e:
        raise typer.BadParameter(str(e), param_hint="--suite / --data") from None
    _check_sampling(samples, temperature)
    policy = bench_suite.frame_policy or FramePolicy()
    if num_frames:
        policy = dataclasses.replace(policy, num_frames=num_frames)
    judge = load_judge(
        model,
        protocol=protocol,
        decision=decision,
        batch_size=batch_size,
        frame_policy=policy,
        device=device,
        dtype=dtype,
        samples=samples,
        temperature=temperature,
    )
    out = out or Path("bench-runs") / suite / f"{_run_slug(model)}-{decision}"
    config = BenchConfig(
        decision=decision, swap=swap, limit=limit, randomize_order=randomize_order, seed=seed, plot=plot
    )
    run_bench(judge, bench_suite, out, config)
    typer.echo(f"-> {out / 'summary.json'}", err=True)


_PAIRS_HELP = """
Build DPO preference pairs: judge each prompt's candidates with a reward model, keep (chosen, rejected).

**Examples**

- candidates on disk: `unireward pairs --candidates manifest.jsonl -o runs/pairs --model CodeGoat24/UnifiedReward-qwen-7b --protocol v1-qwen`

- a folder per prompt: `unireward pairs --candidates cands/ --task image_gen -o runs/pairs`

- sample answers with a VLM first: `unireward pairs --prompts questions.jsonl --generator vlm --generator-model PATH -o runs/pairs`

- SDXL-Turbo images first: `unireward pairs --prompts captions.txt --task image_gen --generator text_to_image --generator-model stabilityai/sdxl-turbo -o runs/pairs`

- strategy: `--strategy swiss --option max_pairs=2`; the paper's policies: `--option tie_policy=score_break --option failure_policy=drop_prompt`

- shards: `--shard 0/8` ... `--shard 7/8`, then `unireward pairs -o runs/pairs --export-only`

- dry run, simulated judge on shapes candidates: `unireward pairs --shapes image_gen:100 --judge oracle -o runs/demo`

Manifest lines: `{"id": "p1", "task": "image_gen", "prompt": "...", "candidates": ["a.png", "b.png"]}`
(understanding tasks add `"media"` and list answer texts). Started again with the same options, a killed
run resumes where it stopped. Datasets land in `OUTPUT/export`.
"""


def _key_values(pairs: list[str], what: str) -> dict:
    """key=value options; values are read as JSON where they parse (numbers, booleans), else as text."""
    out: dict = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {item!r}", param_hint=what)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@app.command(help=_PAIRS_HELP)
def pairs(
    output_dir: Path = typer.Option(
        ..., "--output-dir", "-o", help="Run directory (records, run.json, export/)."
    ),
    candidates: str = typer.Option(None, help="JSONL manifest or folder per prompt."),
    task: str = typer.Option(
        None, help="Task for folders / text prompt files: image_gen | image_und | video_gen | video_und."
    ),
    strategy: str = typer.Option("paper", help="paper | best_worst | swiss | round_robin."),
    option: list[str] = typer.Option([], "--option", help="Strategy option key=value (repeatable)."),
    judge: str = typer.Option("model", help="model | oracle (simulated from the manifest's oracle scores)."),
    oracle_noise: list[str] = typer.Option([], "--oracle-noise", help="SimulatedNoise field key=value."),
    shapes: str = typer.Option(
        None, help="TASK:N: write N shapes-world prompts (10 candidates) and use them."
    ),
    prompts: str = typer.Option(None, help="Prompts to sample candidates for (JSONL or .txt of captions)."),
    generator: str = typer.Option(None, help="vlm | text_to_image | text_to_video."),
    generator_model: str = typer.Option(None, help="The model or pipeline to sample from."),
    num_candidates: int = typer.Option(10, help="Candidates sampled per prompt."),
    temperature: float = typer.Option(0.7, help="VLM sampling temperature."),
    steps: int = typer.Option(None, "--steps", help="Diffusion steps (default 1 image, 4 video)."),
    guidance: float = typer.Option(None, "--guidance", help="Guidance scale (default 0 image, 7.5 video)."),
    shard: str = typer.Option("0/1", help="i/n: this process takes prompts i, i+n, ..."),
    prompts_per_batch: int = typer.Option(8, help="Prompts judged together (one judge call per round)."),
    export_only: bool = typer.Option(False, help="Only merge finished shards into OUTPUT/export."),
    ray: bool = typer.Option(False, help="Run on Ray (a local instance, or --ray-address)."),
    ray_address: str = typer.Option(None, help="Ray cluster address."),
    ray_workers: int = typer.Option(1, help="Ray actors, one judge each."),
    ray_gpus: float = typer.Option(0.0, help="GPUs per Ray actor."),
    swap: bool = typer.Option(
        None,
        "--swap/--no-swap",
        help="Judge each pair in both orders (2 calls per pair). Default: as the model records unless "
        "--decision is given, else off.",
    ),
    model: str = _MODEL,
    protocol: str = _PROTOCOL,
    decision: str = _DECISION,
    batch_size: int = _BATCH,
    num_frames: int = _FRAMES,
    device: str = _DEVICE,
    dtype: str = _DTYPE,
) -> None:
    from unireward.pairs import PairsConfig, export_run, run_pairs, write_shapes_candidates

    if export_only:
        exports = export_run(output_dir)
        typer.echo(
            ", ".join(f"{k}: {v['rows']} pairs" for k, v in exports.items()) + f" -> {output_dir}/export",
            err=True,
        )
        return
    if shapes:
        shapes_task, _, count = shapes.partition(":")
        if candidates or not count.isdigit():
            raise typer.BadParameter("use --shapes TASK:N alone (e.g. image_gen:100)", param_hint="--shapes")
        candidates = str(write_shapes_candidates(output_dir / "shapes-candidates", shapes_task, int(count)))
    try:
        config = PairsConfig(
            str(output_dir),
            candidates=candidates,
            task=task,
            strategy=strategy,
            strategy_options=_key_values(option, "--option"),
            judge=judge,
            oracle_noise=_key_values(oracle_noise, "--oracle-noise"),
            model=model,
            protocol=protocol,
            decision=decision,
            swap=swap,
            batch_size=batch_size,
            num_frames=num_frames,
            device=device,
            dtype=dtype,
            prompts=prompts,
            generator=generator,
            generator_model=generator_model,
            num_candidates=num_candidates,
            temperature=temperature,
            num_inference_steps=steps,
            guidance_scale=guidance,
            shard=shard,
            prompts_per_batch=prompts_per_batch,
            ray=ray,
            ray_address=ray_address,
            ray_workers=ray_workers,
            ray_gpus_per_worker=ray_gpus,
        )
    except (ValueError, TypeError) as e:
        raise typer.BadParameter(str(e)) from None
    s = run_pairs(config)
    where = (
        f"{output_dir}/export"
        if s.exports is not None
        else f"{s.records} (export with --export-only when all shards are done)"
    )
    typer.echo(
        f"{s.prompts} prompts, {s.pairs} pairs, {s.calls / max(1, s.prompts):.1f} calls/prompt, {s.ties} ties, "
        f"{s.failures} failures, dropped {s.dropped} -> {where}",
        err=True,
    )
    from unireward.pairs.report import write_report

    typer.echo(f"report -> {write_report(output_dir, max_prompts=200)}", err=True)


def _register_serve() -> None:
    """`unireward serve` lives with the server code (FastAPI is imported only when it runs)."""
    from unireward.serve.cli import SERVE_HELP, serve

    app.command("serve", help=SERVE_HELP)(serve)


_register_serve()


if __name__ == "__main__":
    app()
