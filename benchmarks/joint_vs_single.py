"""Joint versus single-task training in the shapes world (the paper's Table: each of the four tasks alone,
two pairs of tasks, and all four, with equal budgets, every model evaluated on every task).

    python benchmarks/joint_vs_single.py --steps 1500          # -> benchmarks/results/joint_vs_single.json

Each model is trained by `unireward.train.shapes.train_on_shapes` (the default model's recipe) for the
same number of optimizer steps and batch size, from the same initialisation, on fresh draws of its tasks
every step (or, with --n, on the same number of fixed records per task and mode); only the set of tasks
differs. Reported as measured, whichever way it comes out.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = ("image_gen", "image_und", "video_gen", "video_und")
SUBSETS = {
    "image_gen": ("image_gen",),
    "image_und": ("image_und",),
    "video_gen": ("video_gen",),
    "video_und": ("video_und",),
    "generation (image+video)": ("image_gen", "video_gen"),
    "understanding (image+video)": ("image_und", "video_und"),
    "all four": TASKS,
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps per model (equal budgets)")
    parser.add_argument(
        "--n", type=int, default=None, help="fixed training records per task and mode (default: fresh draws)"
    )
    parser.add_argument("--eval-n", type=int, default=32, help="held-out pairs and points per task")
    parser.add_argument("--subsets", default=",".join(SUBSETS), help="comma-separated names from SUBSETS")
    parser.add_argument("--work", type=Path, default=Path(".cache/joint-vs-single"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--init-model",
        type=Path,
        help="shared starting model for every row, e.g. the default recipe's vision-pretrained base "
        "(.cache/default-model/base); without it each row builds and pre-trains its own",
    )
    parser.add_argument("--vision-minutes", type=float, default=0.0, help="per row, when no --init-model")
    parser.add_argument("--out", type=Path, default=RESULTS / "joint_vs_single.json")
    args = parser.parse_args(argv)

    from transformers import AutoModelForImageTextToText, AutoProcessor

    from unireward.train.shapes import ShapesTrainingConfig, evaluate, headline, train_on_shapes

    rows = []
    for name in args.subsets.split(","):
        tasks = SUBSETS[name]
        start = time.perf_counter()
        config = ShapesTrainingConfig(
            work_dir=str(
                args.work / name.replace(" ", "_").replace("(", "").replace(")", "").replace("+", "-")
            ),
            tasks=tasks,
            records_per_task_mode=args.n,
            minutes=1e9,
            max_steps=args.steps,
            eval_every=10**9,
            eval_n=args.eval_n,
            eval_tasks=TASKS,
            threads=args.threads,
            init_model=str(args.init_model) if args.init_model else None,
            vision_minutes=args.vision_minutes,
        )
        result = train_on_shapes(config)
        model = AutoModelForImageTextToText.from_pretrained(result.model_dir)
        metrics = headline(evaluate(model, AutoProcessor.from_pretrained(result.model_dir), config))
        rows.append(
            {
                "trained_on": name,
                "tasks": list(tasks),
                "steps": result.steps,
                "minutes": round((time.perf_counter() - start) / 60, 1),
                "metrics": metrics,
            }
        )
        print(json.dumps(rows[-1]), flush=True)

    result = {
        "benchmark": "joint_vs_single",
        "machine": f"{platform.machine()} CPU, torch threads {args.threads}",
        "steps_per_model": args.steps,
        "records_per_task_mode": args.n,
        "init_model": str(args.init_model) if args.init_model else None,
        "eval_pairs_and_points_per_task": args.eval_n,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\npair accuracy without ties (point Spearman) on the held-out test split, {args.steps} steps each"
    )
    print(f"{'trained on':30s}" + "".join(f"{t:>20s}" for t in TASKS))
    for row in rows:
        cells = []
        for t in TASKS:
            acc, rho = row["metrics"].get(f"{t}/pair_without_ties"), row["metrics"].get(f"{t}/point_spearman")
            cells.append(
                f"{'n/a' if acc is None else f'{acc:.2f}'} ({'n/a' if rho is None else f'{rho:.2f}'})"
            )
        print(f"{row['trained_on']:30s}" + "".join(f"{c:>20s}" for c in cells))
    return result


if __name__ == "__main__":
    main()
