"""SFT step time of the default model's recipe: batches as drawn against batches regrouped by length.

The shapes recipe's stream mixes short text-only drills with long video pairs, and a
batch is padded to its longest row. `--length-groups G` (`unireward.train.sft.length_grouped`) regroups
each window of G batches by length: the same rows, less padding. This times what that changes: the
forward, backward and AdamW step of the shipped model's architecture (vision tower frozen, as in the
recipe's SFT) over the same pre-collated batches, per torch thread count. Drawing and collating the rows
(about 0.03 s a batch) is left out: it is the same for both.

    python benchmarks/sft_step_time.py      # writes benchmarks/results/sft_step_time.json
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time
from pathlib import Path

import torch
from _results import rerun_command, write_result

from unireward.media import FramePolicy
from unireward.train.sft import RewardSFTCollator, length_grouped
from unireward.train.shapes import DrillPlan, ShapesTrainingConfig, shapes_sft_stream

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "unireward" / "assets" / "default_model"
# The shipped recipe's rows: 21a's describe style and drills (scripts/train_default_model.py flags).
RECIPE = {
    "balanced_checks": True,
    "describe": "colours+videos-ends-checked-changes",
    "drills": DrillPlan(lookup=3, change=2),
}
BATCH_SIZE = ShapesTrainingConfig.batch_size  # the recipe's SFT batch
NUM_FRAMES = ShapesTrainingConfig.num_frames


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--batches", type=int, default=24, help=f"batches of {BATCH_SIZE} rows timed per setting"
    )
    parser.add_argument("--groups", default="1,8,24", help="window sizes to time; 1 is as drawn")
    parser.add_argument("--threads", default="1,2", help="torch thread counts to time")
    parser.add_argument("--out", type=Path, default=RESULTS / "sft_step_time.json")
    args = parser.parse_args(argv)
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(DEFAULT_MODEL)
    processor = AutoProcessor.from_pretrained(DEFAULT_MODEL)
    model.model.visual.requires_grad_(False)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    collator = RewardSFTCollator(processor, FramePolicy(num_frames=NUM_FRAMES))
    rows = list(itertools.islice(iter(shapes_sft_stream(seed=0, **RECIPE)), BATCH_SIZE * args.batches))

    batches, real_share = {}, {}
    for g in (int(x) for x in args.groups.split(",")):
        grouped = list(length_grouped(rows, BATCH_SIZE, g))
        batches[g] = [collator(grouped[i : i + BATCH_SIZE]) for i in range(0, len(grouped), BATCH_SIZE)]
        mask = [b["attention_mask"] for b in batches[g]]
        real_share[g] = sum(int(m.sum()) for m in mask) / sum(m.numel() for m in mask)

    def train_pass(g: int) -> None:
        for batch in batches[g]:
            model(**batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad()

    def seconds_per_step(threads: int, g: int) -> float:
        torch.set_num_threads(threads)
        train_pass(g)  # warms the allocator and kernels up
        start = time.perf_counter()
        train_pass(g)
        return (time.perf_counter() - start) / len(batches[g])

    runs = [
        {
            "threads": t,
            "length_groups": g,
            "real_token_share": round(real_share[g], 3),
            "seconds_per_step": round(seconds_per_step(t, g), 4),
        }
        for t in (int(x) for x in args.threads.split(","))
        for g in batches
    ]
    print(f"{'threads':>7} {'groups':>6} {'real tokens':>11} {'s / step':>9} {'speed-up':>8}")
    for run in runs:
        base = next(r for r in runs if r["threads"] == run["threads"] and r["length_groups"] == 1)
        run["speedup"] = round(base["seconds_per_step"] / run["seconds_per_step"], 2)
        print(
            f"{run['threads']:>7} {run['length_groups']:>6} {run['real_token_share']:>11.0%} "
            f"{run['seconds_per_step']:>9.3f} {run['speedup']:>7.2f}x"
        )
    result = {
        "benchmark": "sft_step_time",
        "command": rerun_command(__file__, argv),
        "model": str(DEFAULT_MODEL.relative_to(DEFAULT_MODEL.parents[2])),
        "batch_size": BATCH_SIZE,
        "batches": args.batches,
        "runs": runs,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
    write_result(args.out, result)
    return result


if __name__ == "__main__":
    main()
