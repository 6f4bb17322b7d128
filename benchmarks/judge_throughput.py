"""Judge throughput: one-pair-at-a-time generation (how the public scripts judge) against batched logits.

Fairness: both sides judge the same shapes-world image-generation pairs with the same model. Random
weights would not produce verdicts, so unless --model is given, a tiny Qwen2-VL is first taught the
verdict format with unireward's own SFT trainer; greedy generation then stops at the end of its verdict,
where a trained model stops, and the verdict agreement between the two sides is reported next to the
speed. (a) is capped at the longest verdict's token count + 2 as a guard, not as the stopping rule.

    python benchmarks/judge_throughput.py            # writes benchmarks/results/judge_throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from unireward.data.shapes import ShapesWorld
from unireward.judge import load_judge
from unireward.protocols import get_protocol
from unireward.tasks import Task
from unireward.tiny import TinySpec, build_tiny_model

RESULTS = Path(__file__).resolve().parent / "results"


def format_taught_model(workdir: Path, steps: int, seed: int) -> Path:
    """A tiny Qwen2-VL taught to answer in the v1 verdict format (labels from the shapes oracle)."""
    from unireward.train.sft import RewardSFTConfig, train_reward_model

    base = build_tiny_model("qwen2_vl", workdir / "base", TinySpec(seed=seed))
    world = ShapesWorld(seed=seed)
    protocol = get_protocol("v1")
    examples = []
    for _ in range(64):
        ex = world.pair_example(Task.IMAGE_GEN)
        examples.append((ex.item, protocol.pair_target(Task.IMAGE_GEN, ex.label)))
    config = RewardSFTConfig(
        model=str(base),
        output_dir=str(workdir / "taught"),
        protocol="v1",
        learning_rate=3e-3,
        max_steps=steps,
        per_device_batch_size=8,
        logging_steps=max(1, steps // 5),
        save_steps=10_000,
        lr_scheduler_type="constant",
        warmup_ratio=0.0,
        seed=seed,
    )
    return train_reward_model(config, examples)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="judge with this checkpoint instead of a format-taught tiny model")
    parser.add_argument("--pairs", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-steps", type=int, default=60)
    # One thread: a tiny model gains nothing from more, and spinning torch threads slow down badly when
    # another process shares the cores, which would distort the comparison.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model = args.model or str(format_taught_model(Path(tmp), args.train_steps, args.seed))
        prep_s = time.perf_counter() - t0
        judge = load_judge(model, batch_size=args.batch_size)
        world = ShapesWorld(seed=args.seed + 1)
        items = [world.pair_example(Task.IMAGE_GEN, split="test").item for _ in range(args.pairs)]
        tok = judge.backend.tokenizer
        longest = max(
            len(tok(t, add_special_tokens=False)["input_ids"])
            for t in judge.protocol.pair_choices(Task.IMAGE_GEN).values()
        )
        judge.config.max_new_tokens = longest + 2

        # Warm-up on separate pairs with the timed shapes (one item; a full batch): first calls on new
        # tensor shapes pay one-off costs that neither side should be charged for.
        warm = [world.pair_example(Task.IMAGE_GEN, split="test").item for _ in range(args.batch_size)]
        for it in warm[:4]:
            judge.rank([it], decision="generate")
        judge.rank(warm, decision="logits")

        t0 = time.perf_counter()
        one_by_one = [judge.rank([it], decision="generate")[0] for it in items]
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        batched = judge.rank(items, decision="logits")
        logit_s = time.perf_counter() - t0

    parsed = [g for g in one_by_one if g.ok]
    agree = sum(g.winner == b.winner for g, b in zip(one_by_one, batched) if g.ok)
    result = {
        "benchmark": "judge_throughput",
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch threads {args.threads}, CPU",
        "model": args.model or "tiny qwen2_vl (TinySpec defaults), format-taught by SFT",
        "format_teaching_steps": None if args.model else args.train_steps,
        "model_prep_seconds": round(prep_s, 1),
        "pairs": args.pairs,
        "batch_size": args.batch_size,
        "generate_one_at_a_time_items_per_s": round(len(items) / gen_s, 2),
        "logits_batched_items_per_s": round(len(items) / logit_s, 2),
        "speedup": round(gen_s / logit_s, 2),
        "target_speedup": 10.0,
        "generate_parse_failures": len(items) - len(parsed),
        "verdict_agreement_on_parsed": round(agree / max(1, len(parsed)), 3),
        "mean_generated_answer_chars": round(sum(len(g.raw_text or "") for g in one_by_one) / len(items), 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "judge_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:{width}s}  {v}")
    return result


if __name__ == "__main__":
    main()
